package main

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// Adam's hyper-parameters (TURTLE.md: betas 0.9 / 0.999, eps 1e-8, no
// weight decay), for both optimisers.
const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

// iterGraph builds the graph of one whole outer iteration (TURTLE.md,
// "One outer iteration"): the labelling tau of the batch, M inner Adam
// steps unrolled, the outer loss and its gradient, and the outer Adam
// step. Gradients are written out rather than left to automatic
// differentiation: every one is a softmax/cross-entropy/entropy chain
// rule of a few [B, C] operations, and writing them out makes each pass
// over a space's batch an explicit matrix product in the layout the
// backends multiply fastest (see zAt and gtZ).
//
// Inputs, in order (float dtype unless said otherwise):
//
//	theta      V_s [C, D_s], g_s [C], b_s [C] for each space s     (3S)
//	outer m    Adam first moments of theta, same order and shapes   (3S)
//	outer v    Adam second moments                                  (3S)
//	inner      A_s [C, D_s], c_s [C] for each space s               (2S)
//	           (cold start: this iteration's fresh init)
//	inner m, v warm start only: the inner Adam moments              (2S, 2S)
//	data       with hostGather, each space's batch [B, D_s]         (S)
//	           else each space's train matrix [N, D_s]              (S)
//	           and the batch's rows [B] int32                       (1)
//	scalars    [2+2M]: the outer step's lr/bc1 and sqrt(bc2), then
//	           the M inner steps' lr/bc1, then their sqrt(bc2)
//
// (bc1 = 1-beta1^t and bc2 = 1-beta2^t of Adam's step t, computed on the
// host in float64, where the step counts live.)
//
// Outputs: theta', outer m', outer v' (9S); with warm start inner',
// inner m', inner v' (6S); metrics [4] (L_outer, pred error, entropy
// sum, clusters used by the batch's argmax labelling); with
// transposedGrad, each space's batch transposed [D_s, B] (S, to
// discard); with debug, then the M inner losses [M] (each at the
// parameters before its step), tau [B, C], the per-space pred errors [S]
// and entropies [S], the gradients dV_s, dg_s, db_s (3S) and inner',
// inner m', inner v' (6S).
//
// Cost: per space, 2M+3 products with the batch [B, D_s] (the labelling,
// M+1 inner forward passes z A^T, M inner gradients and the outer one,
// each 2BCD_s flops) and O(BC) work besides. No order of the same
// arithmetic needs fewer: each inner step's forward pass needs the
// parameters its predecessor's gradient produced, and Adam's update is
// not linear, so z A_k^T cannot be had from earlier products. What can
// be chosen is the operands' layout (see transposedGrad).
type iterGraph struct {
	dims       []int // D_s of each space
	clusters   int   // C
	steps      int   // M
	gamma      float64
	warm       bool
	dtype      dtypes.DType
	hostGather bool
	// transposedGrad computes the gradient products from z^T, itself an
	// output (see build); for ONNX Runtime.
	transposedGrad bool
	debug          bool
}

func (ig *iterGraph) spaces() int { return len(ig.dims) }

// numState is the number of state tensors an iteration takes and returns.
func (ig *iterGraph) numState() int {
	if ig.warm {
		return 15 * ig.spaces()
	}
	return 9 * ig.spaces()
}

// numScalars is the length of the scalars input.
func (ig *iterGraph) numScalars() int { return 2 + 2*ig.steps }

// zAt is z [B, D] times a [C, D] transposed: [B, C]. Contracting both
// operands' last axis is the layout the go backend multiplies without a
// copy, and ONNX Runtime's Einsum runs it as one GEMM with B transposed.
func zAt(z, a *graph.Node) *graph.Node {
	return graph.DotGeneral(z, []int{1}, nil, a, []int{1}, nil)
}

// gtZ is gm [B, C] transposed times z [B, D]: [C, D]. The small gm is
// transposed explicitly so that the product is a plain matrix product
// ([C, B] x [B, D]) on every backend, never a transpose of z (but see
// transposedGrad for ONNX Runtime).
func gtZ(gm, z *graph.Node) *graph.Node {
	return graph.DotGeneral(graph.Transpose(gm, 0, 1), []int{1}, nil, z, []int{0}, nil)
}

// adam is one step of torch.optim.Adam (amsgrad off, no weight decay) on
// p with gradient grad: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= stepSize * m / (sqrt(v) / sqrtBC2 + eps), stepSize = lr / bc1.
func adam(p, m, v, grad, stepSize, sqrtBC2 *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
	g := p.Graph()
	dt := p.DType()
	c := func(x float64) *graph.Node { return graph.Scalar(g, dt, x) }
	m = graph.Add(graph.Mul(m, c(adamBeta1)), graph.Mul(grad, c(1-adamBeta1)))
	v = graph.Add(graph.Mul(v, c(adamBeta2)), graph.Mul(graph.Mul(grad, grad), c(1-adamBeta2)))
	denom := graph.Add(graph.Div(graph.Sqrt(v), sqrtBC2), c(adamEps))
	p = graph.Sub(p, graph.Mul(stepSize, graph.Div(m, denom)))
	return p, m, v
}

// softCE is CE(u, t) = mean over rows of -sum_c t_c log_softmax(u)_c,
// given ls = log_softmax(u).
func softCE(ls, t *graph.Node) *graph.Node {
	rows := ls.Shape().Dimensions[0]
	return graph.DivScalar(graph.Neg(graph.ReduceAllSum(graph.Mul(t, ls))), float64(rows))
}

// build is the graph function (see iterGraph).
func (ig *iterGraph) build(in []*graph.Node) []*graph.Node {
	S, C, M := ig.spaces(), ig.clusters, ig.steps
	k := 0
	take := func(n int) []*graph.Node {
		if k+n > len(in) {
			panic(fmt.Errorf("turtle iteration graph: %d inputs, want more than %d", len(in), k+n))
		}
		out := in[k : k+n]
		k += n
		return out
	}
	theta, om, ov := take(3*S), take(3*S), take(3*S)
	inner := take(2 * S)
	g := inner[0].Graph()
	dt := ig.dtype
	var im, iv []*graph.Node
	if ig.warm {
		im, iv = take(2*S), take(2*S)
	} else {
		for _, p := range inner {
			im = append(im, graph.ZerosLike(p))
			iv = append(iv, graph.ZerosLike(p))
		}
	}
	z := make([]*graph.Node, S)
	if ig.hostGather {
		copy(z, take(S))
	} else {
		data := take(S)
		rows := graph.ExpandAxes(take(1)[0], -1)
		for s := range S {
			// The gradient never flows into the data, so Gather's
			// restrictions on differentiation do not matter.
			z[s] = graph.Gather(data[s], rows)
		}
	}
	sc := take(1)[0]
	if k != len(in) {
		panic(fmt.Errorf("turtle iteration graph: %d inputs, want %d", len(in), k))
	}
	if want := ig.numScalars(); sc.Rank() != 1 || sc.Shape().Dimensions[0] != want {
		panic(fmt.Errorf("turtle iteration graph: scalars of shape %s, want [%d]", sc.Shape(), want))
	}
	B := z[0].Shape().Dimensions[0]
	scalar := func(i int) *graph.Node { return graph.Reshape(graph.Slice(sc, graph.AxisElem(i))) }
	invB := 1 / float64(B)

	// The batch's gradient products (a [B, C] matrix transposed times
	// z [B, D]). ONNX Runtime's GEMM copies ("packs") its right operand
	// on every call, here all of z, which made each of these products
	// twice as slow as z A^T, whose right operand is tiny. With
	// transposedGrad, z is transposed once per iteration and each product
	// is computed as z^T [D, B] times the small matrix, then transposed
	// back ([D, C], tiny). ONNX Runtime would fuse the transpose back
	// into every product (MatmulTransposeFusion), undoing this, but not
	// when the transpose is a graph output, which its optimiser must
	// keep: so z^T is also an output, which the caller discards.
	zT := make([]*graph.Node, S)
	if ig.transposedGrad {
		for s := range S {
			zT[s] = graph.Transpose(z[s], 0, 1)
		}
	}
	gradZ := func(gm *graph.Node, s int) *graph.Node {
		if !ig.transposedGrad {
			return gtZ(gm, z[s])
		}
		return graph.Transpose(graph.DotGeneral(zT[s], []int{1}, nil, gm, []int{0}, nil), 0, 1)
	}

	// 1. The labelling tau of the batch and each space's p_s.
	p := make([]*graph.Node, S)
	norm := make([]*graph.Node, S) // ||V_s|| per row [C]
	var tau *graph.Node
	for s := range S {
		V, gain, bias := theta[3*s], theta[3*s+1], theta[3*s+2]
		norm[s] = graph.Sqrt(graph.ReduceSum(graph.Square(V), 1))
		W := graph.Mul(V, graph.ExpandAxes(graph.Div(gain, norm[s]), -1))
		p[s] = graph.Softmax(graph.Add(zAt(z[s], W), graph.ExpandAxes(bias, 0)), -1)
		if tau == nil {
			tau = p[s]
		} else {
			tau = graph.Add(tau, p[s])
		}
	}
	if S > 1 {
		tau = graph.DivScalar(tau, float64(S))
	}

	// 2. The inner fit: M Adam steps on sum_s CE(u_s, tau), tau constant.
	// The gradient of CE(u, t) with respect to u is (softmax(u) - t)/B
	// for targets whose rows sum to 1 (tau's do, up to rounding; torch's
	// autograd multiplies softmax(u) by each row's sum, a difference of
	// float32 rounding). The loss itself is only computed for the debug
	// outputs: Fit does not record it.
	var innerLosses []*graph.Node
	inner = append([]*graph.Node(nil), inner...)
	for step := range M {
		grads := make([]*graph.Node, 2*S)
		var loss *graph.Node
		for s := range S {
			A, c := inner[2*s], inner[2*s+1]
			u := graph.Add(zAt(z[s], A), graph.ExpandAxes(c, 0))
			shifted := graph.Sub(u, graph.StopGradient(graph.ReduceAndKeep(u, graph.ReduceMax, -1)))
			e := graph.Exp(shifted)
			sum := graph.ReduceAndKeep(e, graph.ReduceSum, -1)
			gm := graph.Sub(graph.Div(e, sum), tau) // B * dCE/du [B, C]
			grads[2*s] = graph.MulScalar(gradZ(gm, s), invB)
			grads[2*s+1] = graph.MulScalar(graph.ReduceSum(gm, 0), invB)
			if ig.debug {
				ce := softCE(graph.Sub(shifted, graph.Log(sum)), tau)
				if loss == nil {
					loss = ce
				} else {
					loss = graph.Add(loss, ce)
				}
			}
		}
		if ig.debug {
			innerLosses = append(innerLosses, loss)
		}
		stepSize, sqrtBC2 := scalar(2+step), scalar(2+M+step)
		for i := range inner {
			inner[i], im[i], iv[i] = adam(inner[i], im[i], iv[i], grads[i], stepSize, sqrtBC2)
		}
	}

	// 3. The outer loss with the fitted inner classifiers held constant,
	// and its gradient, which reaches theta through tau (the targets of
	// the cross-entropies) and through each p_s (the entropy term).
	var predErr, entSum *graph.Node
	predPer := make([]*graph.Node, S)
	entPer := make([]*graph.Node, S)
	var dTau *graph.Node // dL/dtau = -(1/B) sum_s log_softmax(u_s)
	for s := range S {
		A, c := inner[2*s], inner[2*s+1]
		ls := graph.LogSoftmax(graph.Add(zAt(z[s], A), graph.ExpandAxes(c, 0)), -1)
		predPer[s] = softCE(ls, tau)
		if dTau == nil {
			predErr, dTau = predPer[s], ls
		} else {
			predErr, dTau = graph.Add(predErr, predPer[s]), graph.Add(dTau, ls)
		}
	}
	dTau = graph.MulScalar(dTau, -invB)
	gamma := graph.Scalar(g, dt, ig.gamma)
	dTheta := make([]*graph.Node, 3*S)
	for s := range S {
		q := graph.ReduceMean(p[s], 0) // [C]
		logQ := graph.Log(q)
		entPer[s] = graph.Neg(graph.ReduceAllSum(graph.Mul(q, logQ)))
		if entSum == nil {
			entSum = entPer[s]
		} else {
			entSum = graph.Add(entSum, entPer[s])
		}
		// dL/dp_s = dL/dtau / S + (gamma/B) (log q_s + 1), then back
		// through the softmax and the weight norm.
		dq := graph.MulScalar(graph.Mul(gamma, graph.AddScalar(logQ, 1)), invB)
		dp := graph.Add(graph.DivScalar(dTau, float64(S)), graph.ExpandAxes(dq, 0))
		dl := graph.Mul(p[s], graph.Sub(dp, graph.ReduceAndKeep(graph.Mul(p[s], dp), graph.ReduceSum, -1)))
		V, gain := theta[3*s], theta[3*s+1]
		dW := gradZ(dl, s)                                              // [C, D]
		vHat := graph.Div(V, graph.ExpandAxes(norm[s], -1))             // V / ||V||
		dGain := graph.ReduceSum(graph.Mul(dW, vHat), 1)                // [C]
		dV := graph.Mul(graph.ExpandAxes(graph.Div(gain, norm[s]), -1), //
			graph.Sub(dW, graph.Mul(graph.ExpandAxes(dGain, -1), vHat)))
		dTheta[3*s], dTheta[3*s+1], dTheta[3*s+2] = dV, dGain, graph.ReduceSum(dl, 0)
	}
	loss := graph.Sub(predErr, graph.Mul(gamma, entSum))

	// 4. One Adam step on theta.
	newTheta := make([]*graph.Node, 3*S)
	newOM := make([]*graph.Node, 3*S)
	newOV := make([]*graph.Node, 3*S)
	for i := range theta {
		newTheta[i], newOM[i], newOV[i] = adam(theta[i], om[i], ov[i], dTheta[i], scalar(0), scalar(1))
	}

	// Clusters used by the batch's labelling (argmax of tau).
	used := graph.ReduceSum(graph.OneHot(graph.ArgMax(tau, -1), C, dt), 0)
	clustersUsed := graph.ReduceAllSum(graph.ConvertDType(graph.GreaterThan(used, graph.ZerosLike(used)), dt))

	metrics := graph.Concatenate([]*graph.Node{
		graph.Reshape(loss, 1), graph.Reshape(predErr, 1), graph.Reshape(entSum, 1), graph.Reshape(clustersUsed, 1),
	}, 0)

	out := make([]*graph.Node, 0, ig.numState()+1)
	out = append(out, newTheta...)
	out = append(out, newOM...)
	out = append(out, newOV...)
	if ig.warm {
		out = append(out, inner...)
		out = append(out, im...)
		out = append(out, iv...)
	}
	out = append(out, metrics)
	if ig.transposedGrad {
		out = append(out, zT...)
	}
	if ig.debug {
		out = append(out, graph.Stack(innerLosses, 0), tau, graph.Stack(predPer, 0), graph.Stack(entPer, 0))
		out = append(out, dTheta...)
		out = append(out, inner...)
		out = append(out, im...)
		out = append(out, iv...)
	}
	return out
}

// assignGraph computes tau = (1/S) sum_s softmax(x_s W_s^T + b_s) of a
// chunk of rows: inputs theta (3S, as iterGraph) and each space's rows
// x_s [R, D_s]; output tau [R, C]. The argmax is taken on the host, from
// the very values written to probs_<split>.npy.
type assignGraph struct{ spaces int }

func (ag *assignGraph) build(in []*graph.Node) []*graph.Node {
	S := ag.spaces
	if len(in) != 4*S {
		panic(fmt.Errorf("turtle assignment graph: %d inputs, want %d", len(in), 4*S))
	}
	theta, x := in[:3*S], in[3*S:]
	var tau *graph.Node
	for s := range S {
		V, gain, bias := theta[3*s], theta[3*s+1], theta[3*s+2]
		norm := graph.Sqrt(graph.ReduceSum(graph.Square(V), 1))
		W := graph.Mul(V, graph.ExpandAxes(graph.Div(gain, norm), -1))
		p := graph.Softmax(graph.Add(zAt(x[s], W), graph.ExpandAxes(bias, 0)), -1)
		if tau == nil {
			tau = p
		} else {
			tau = graph.Add(tau, p)
		}
	}
	if S > 1 {
		tau = graph.DivScalar(tau, float64(S))
	}
	return []*graph.Node{tau}
}
