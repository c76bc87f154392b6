package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// arch is the shape of the H heads (TEMI.md section 3).
type arch struct {
	D, Heads, Clusters int
	Layers             int // linear layers before the last one (nlayers)
	Hidden, Bottle     int
}

// paramSpec describes one trainable tensor of all heads together.
type paramSpec struct {
	Name  string
	Shape []int
	// Decay is true for what torch regularises: weights, V, and g (stored
	// by torch's weight_norm as [K, 1]); biases are not decayed.
	Decay bool
	// Last marks the last layer (V and g), frozen during the first
	// freeze_last_layer epochs.
	Last bool
	// init: "trunc" (truncated normal, std 0.02), "zero", "one", "uniformV".
	Init string
}

func (s paramSpec) size() int {
	n := 1
	for _, d := range s.Shape {
		n *= d
	}
	return n
}

// params lists the parameters in the order of every graph input/output.
//
// Layouts (H heads batched, head h is slice h of the leading axis, except
// for the first weight): the first layer is one plain matrix W0 [D, H*out]
// whose columns h*out .. h*out+out-1 belong to head h, because on the onnx
// backend an einsum with a batch axis that does not lead both operands is
// broken (DESIGN.md); every later layer is [H, in, out] with bias [H, out];
// the last layer is V [H, K, bottleneck] and g [H, K].
func (a arch) params() []paramSpec {
	out0 := a.Hidden
	if a.Layers == 1 {
		out0 = a.Bottle
	}
	ps := []paramSpec{
		{Name: "w0", Shape: []int{a.D, a.Heads * out0}, Decay: true, Init: "trunc"},
		{Name: "b0", Shape: []int{a.Heads, out0}, Init: "zero"},
	}
	for l := 1; l < a.Layers; l++ {
		out := a.Hidden
		if l == a.Layers-1 {
			out = a.Bottle
		}
		ps = append(ps,
			paramSpec{Name: fmt.Sprintf("w%d", l), Shape: []int{a.Heads, a.Hidden, out}, Decay: true, Init: "trunc"},
			paramSpec{Name: fmt.Sprintf("b%d", l), Shape: []int{a.Heads, out}, Init: "zero"})
	}
	ps = append(ps,
		paramSpec{Name: "last_v", Shape: []int{a.Heads, a.Clusters, a.Bottle}, Decay: true, Last: true, Init: "uniformV"},
		paramSpec{Name: "last_g", Shape: []int{a.Heads, a.Clusters}, Decay: true, Last: true, Init: "one"})
	return ps
}

// initParams draws the initial student (the teacher is an exact copy),
// TEMI.md section 3: weights ~ torch trunc_normal_(std=0.02) (whose bounds
// a=-2, b=2 are absolute, i.e. +-100 std, as in the authors' DINOHead),
// biases 0, V ~ U(-1/sqrt(bottleneck), 1/sqrt(bottleneck)) (nn.Linear's
// default init), g = 1.
func initParams(specs []paramSpec, seed int64) [][]float32 {
	rng := rand.New(rand.NewPCG(uint64(seed), streamInit))
	out := make([][]float32, len(specs))
	for i, s := range specs {
		v := make([]float32, s.size())
		switch s.Init {
		case "trunc":
			truncNormal(rng, v, 0, 0.02, -2, 2)
		case "one":
			for j := range v {
				v[j] = 1
			}
		case "uniformV":
			bound := 1 / math.Sqrt(float64(s.Shape[len(s.Shape)-1]))
			for j := range v {
				v[j] = float32((2*rng.Float64() - 1) * bound)
			}
		case "zero":
		default:
			panic(fmt.Sprintf("train: unknown init %q", s.Init)) // programming error
		}
		out[i] = v
	}
	return out
}

// RNG streams derived from the run's seed: one for the initial weights,
// one per epoch for the pairs (so that a resumed run draws exactly what an
// uninterrupted one would, with no generator state to save).
const (
	streamInit  = 0x5eed_0001
	streamPairs = 0x5eed_1000
)

// truncNormal fills v like torch.nn.init.trunc_normal_(mean, std, a, b):
// inverse-CDF sampling of a normal restricted to [a, b].
func truncNormal(rng *rand.Rand, v []float32, mean, std, a, b float64) {
	cdf := func(x float64) float64 { return (1 + math.Erf(x/math.Sqrt2)) / 2 }
	l, u := cdf((a-mean)/std), cdf((b-mean)/std)
	for j := range v {
		p := 2*(l+(u-l)*rng.Float64()) - 1
		x := math.Erfinv(p)*std*math.Sqrt2 + mean
		v[j] = float32(min(max(x, a), b))
	}
}

// The heads are written with plain and batched MatMuls and explicit
// transposes only, and their backward pass is written by hand: ONNX
// Runtime executes every non-MatMul DotGeneral (what GoMLX's automatic
// gradient of a matmul produces, e.g. x^T . dY) as an Einsum, which
// measured 10-40x slower than the equivalent Transpose + MatMul. The
// automatic gradient is still used through the loss (cheap, elementwise),
// and the tests check this backward pass against it.

// headsCache keeps the forward values the backward pass needs.
type headsCache struct {
	x      *graph.Node   // [R, D]
	pre    []*graph.Node // pre-activation of every layer, [H, R, out]
	scaled []*graph.Node // pre/sqrt(2) of every GELU (all but the last layer)
	cdf    []*graph.Node // Phi(pre) = (1 + erf(pre/sqrt(2)))/2
	hidden []*graph.Node // input of layer l >= 1 (GELU output), [H, R, in]
	u      *graph.Node   // normalised bottleneck [H, R, Bn]
	norm   *graph.Node   // ||pre_last|| [H, R, 1]
	denom  *graph.Node   // max(norm, eps)
	vNorm  *graph.Node   // ||V_k|| [H, K]
	scale  *graph.Node   // g / ||V|| [H, K]
	w      *graph.Node   // effective last-layer weight [H, K, Bn]
}

const normEps = 1e-12 // F.normalize's eps

// bmm is a batched matmul over the leading head axis: [H, m, k] . [H, k, n].
// It lowers to ONNX MatMul (the batch axis leads both operands, DESIGN.md).
func bmm(a, b *graph.Node) *graph.Node {
	return graph.DotGeneral(a, []int{2}, []int{0}, b, []int{1}, []int{0})
}

// swapLast transposes the last two axes of a rank-3 tensor.
func swapLast(x *graph.Node) *graph.Node { return graph.TransposeAllAxes(x, 0, 2, 1) }

// forward runs the H heads on x [R, D] and returns the logits [H, R, K].
// p holds the parameters in arch.params order. Unlike forwardCached it
// keeps nothing for a backward pass, which lets ONNX Runtime fuse each
// GELU (see gelu).
func (a arch) forward(p []*graph.Node, x *graph.Node) *graph.Node {
	logits, _ := a.forwardWith(p, x, false)
	return logits
}

// gelu is the exact GELU, x * Phi(x) = x (1 + erf(x/sqrt(2))) / 2, written
// in the very order of ops that ONNX Runtime's GeluFusion replaces by one
// Gelu kernel (Div by sqrt(2), Erf, Add 1, Mul by x, Mul by 0.5): one pass
// over the [H, R, hidden] activations instead of five, about 2.5x faster
// (the forms with Mul by 1/sqrt(2) or Mul by 0.5 first are not fused).
// It only fuses when no intermediate value has another use, so it serves
// the teacher and the assignment; the student keeps Phi for its backward.
func gelu(x *graph.Node) *graph.Node {
	g := x.Graph()
	erf := graph.Erf(graph.Div(x, graph.Scalar(g, x.DType(), math.Sqrt2)))
	return graph.Mul(graph.Mul(x, graph.Add(erf, graph.Scalar(g, x.DType(), 1))), graph.Scalar(g, x.DType(), 0.5))
}

func (a arch) forwardCached(p []*graph.Node, x *graph.Node) (*graph.Node, *headsCache) {
	return a.forwardWith(p, x, true)
}

func (a arch) forwardWith(p []*graph.Node, x *graph.Node, keep bool) (*graph.Node, *headsCache) {
	g := x.Graph()
	rows := x.Shape().Dimensions[0]
	out0 := p[1].Shape().Dimensions[1]
	c := &headsCache{x: x}
	// First layer: one plain matmul plus the bias as a row vector [H*out],
	// which ONNX Runtime fuses into one Gemm that adds the bias as it
	// writes the product (rather than in an Add over [R, H*out] after
	// the transpose; the gain was within the noise of a shared machine),
	// then [R, H, out] -> [H, R, out].
	pre := graph.Add(graph.MatMul(x, p[0]), graph.Reshape(p[1], 1, a.Heads*out0))
	pre = graph.TransposeAllAxes(graph.Reshape(pre, rows, a.Heads, out0), 1, 0, 2)
	c.pre = append(c.pre, pre)
	i := 2
	for l := 1; l < a.Layers; l++ {
		if !keep {
			pre = graph.Add(bmm(gelu(pre), p[i]), graph.ExpandAxes(p[i+1], 1))
			i += 2
			continue
		}
		// Exact GELU, x * Phi(x), as torch nn.GELU().
		scaled := graph.MulScalar(pre, 1/math.Sqrt2)
		cdf := graph.MulScalar(graph.OnePlus(graph.Erf(scaled)), 0.5)
		h := graph.Mul(pre, cdf)
		pre = graph.Add(bmm(h, p[i]), graph.ExpandAxes(p[i+1], 1))
		c.scaled, c.cdf, c.hidden = append(c.scaled, scaled), append(c.cdf, cdf), append(c.hidden, h)
		c.pre = append(c.pre, pre)
		i += 2
	}
	// F.normalize(x, dim=-1): x / max(||x||, 1e-12).
	c.norm = graph.Sqrt(graph.ReduceAndKeep(graph.Square(pre), graph.ReduceSum, -1))
	c.denom = graph.Max(c.norm, graph.Scalar(g, pre.DType(), normEps))
	c.u = graph.Div(pre, c.denom)
	// Weight-normalised last layer, torch._weight_norm: v * (g / ||v||).
	v, gain := p[i], p[i+1]
	c.vNorm = graph.Sqrt(graph.ReduceSum(graph.Square(v), -1)) // [H, K]
	c.scale = graph.Div(gain, c.vNorm)
	c.w = graph.Mul(v, graph.ExpandAxes(c.scale, -1))
	return bmm(c.u, swapLast(c.w)), c
}

// backward returns the gradient of every parameter (arch.params order)
// given the gradient dLogits [H, R, K] of the loss with respect to the
// logits of forwardCached.
func (a arch) backward(p []*graph.Node, c *headsCache, dLogits *graph.Node) []*graph.Node {
	grads := make([]*graph.Node, len(p))
	last := len(p) - 2
	v := p[last]
	// logits = u . w^T
	dW := bmm(swapLast(dLogits), c.u) // [H, K, Bn]
	du := bmm(dLogits, c.w)           // [H, R, Bn]
	// w = v * g/||v||: dg = <dW, v>/||v||; dv = g/||v|| * (dW - v <dW, v>/||v||^2).
	dot := graph.ReduceSum(graph.Mul(dW, v), -1) // [H, K]
	grads[last+1] = graph.Div(dot, c.vNorm)
	proj := graph.ExpandAxes(graph.Div(dot, graph.Square(c.vNorm)), -1)
	grads[last] = graph.Mul(graph.ExpandAxes(c.scale, -1), graph.Sub(dW, graph.Mul(v, proj)))
	// u = pre / max(||pre||, eps): the norm's gradient vanishes below eps
	// (clamp_min), where u = pre/eps.
	g := dLogits.Graph()
	active := graph.Where(graph.GreaterThan(c.norm, graph.Scalar(g, floatDType, normEps)),
		graph.Scalar(g, floatDType, 1), graph.Scalar(g, floatDType, 0))
	along := graph.Mul(graph.ReduceAndKeep(graph.Mul(du, c.u), graph.ReduceSum, -1), active)
	dPre := graph.Div(graph.Sub(du, graph.Mul(c.u, along)), c.denom)
	for l := a.Layers - 1; l >= 1; l-- {
		w := p[2*l]
		grads[2*l+1] = graph.ReduceSum(dPre, 1)
		grads[2*l] = bmm(swapLast(c.hidden[l-1]), dPre)
		dh := bmm(dPre, swapLast(w))
		// GELU'(x) = Phi(x) + x phi(x), with x phi(x) = s / (sqrt(pi) exp(s^2))
		// for s = x/sqrt(2) (an overflowing exp gives the right limit, 0).
		s := c.scaled[l-1]
		xPdf := graph.MulScalar(graph.Div(s, graph.Exp(graph.Square(s))), 1/math.Sqrt(math.Pi))
		dPre = graph.Mul(dh, graph.Add(c.cdf[l-1], xPdf))
	}
	grads[1] = graph.ReduceSum(dPre, 1)
	rows := c.x.Shape().Dimensions[0]
	dz := graph.Reshape(graph.TransposeAllAxes(dPre, 1, 0, 2), rows, -1) // [R, H*out0]
	grads[0] = graph.MatMul(graph.TransposeAllAxes(c.x, 1, 0), dz)
	return grads
}

var floatDType = dtypes.Float32
