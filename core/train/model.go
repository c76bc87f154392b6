package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
)

// arch is the shape of the H heads (docs/TEMI.md section 3).
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
	// DrawTransposed draws a 2-D weight in the transposed order and stores
	// it transposed, so that w0, now kept as [H*hidden, D] for speed, gets
	// the very values trainer version 2 drew for its [D, H*hidden] layout:
	// a layout change does not change a seed's run.
	DrawTransposed bool
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
// for the first weight): the first layer is one plain matrix W0 [H*out, D]
// (torch's nn.Linear layout) whose rows h*out .. h*out+out-1 belong to
// head h, because on the onnx backend an einsum with a batch axis that
// does not lead both operands is broken (docs/ARCHITECTURE.md section 5), and because W0 . x^T
// is then a product whose large operand MLAS streams untransposed (see
// "Layouts of the activations"); every later layer is [H, in, out] with
// bias [H, out]; the last layer is V [H, K, bottleneck] and g [H, K].
func (a arch) params() []paramSpec {
	out0 := a.out0()
	ps := []paramSpec{
		{Name: "w0", Shape: []int{a.Heads * out0, a.D}, Decay: true, Init: "trunc", DrawTransposed: true},
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
// docs/TEMI.md section 3: weights ~ torch trunc_normal_(std=0.02) (whose bounds
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
		if s.DrawTransposed && len(s.Shape) == 2 {
			rows, cols := s.Shape[0], s.Shape[1]
			t := make([]float32, len(v))
			for r := range rows {
				for c := range cols {
					t[r*cols+c] = v[c*rows+r]
				}
			}
			v = t
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

// Layouts of the activations. The first layer is computed feature-major,
// as W0 . x^T = [H*out0, R] (w0 is stored [H*out0, D]), whose reshape to
// [H, out0, R] is free: the heads lead without a transpose of the
// [R, H*out0] product and of its gradient (on onnx, two copies of a
// [2048, 8192] tensor in the forward passes and one in the backward,
// plus slower batched products on a permuted operand), and both large
// products stream an untransposed operand (MLAS runs A^T . B^T about 40%
// slower than A . B^T at these sizes). Hidden layers stay feature-major,
// [H, out, R]; the last one is computed as act^T . W = [H, R, Bn] (as fast
// as W^T . act = [H, Bn, R] in the profile, though both run about 30%
// slower than the same product on row-major activations) and everything
// after it is row-major, [H, R, ...], like the logits.
// Transposed operands of batched products are folded by ONNX Runtime into
// the kernel (FusedMatMul / Gemm trans flags).
//
// The student's GELU is computed on s = pre/sqrt(2), the variable of erf:
// the 1/sqrt(2) goes into the (small) input of the product that yields it
// (x for the first layer, the weight for later ones) and the bias, and
// the student stores h2 = s (1 + erf(s)) = sqrt(2) GELU(pre), whose factor
// goes into the next (small) weight. That saves two passes over the
// [H, hidden, R] activations per GELU against x * Phi(x) with Phi and its
// scaled argument materialised.

// headsInput is what the heads read: the embeddings x [R, D], or, where
// the host computes the first layer's product (hostLayer0 in device.go),
// that product z = W0 . (scale x)^T [H*out0, R], the scale being the
// layer's (see layer0). Exactly one of x and z is set.
type headsInput struct{ x, z *graph.Node }

func (in headsInput) graph() *graph.Graph {
	if in.z != nil {
		return in.z.Graph()
	}
	return in.x.Graph()
}

// rows is R, the number of embeddings the heads run on.
func (in headsInput) rows() int {
	if in.z != nil {
		return in.z.Shape().Dimensions[1]
	}
	return in.x.Shape().Dimensions[0]
}

// headsCache keeps the forward values the backward pass needs.
type headsCache struct {
	in     headsInput
	scaled []*graph.Node // s = pre/sqrt(2) of every GELU (all but the last layer), [H, out, R]
	cdf2   []*graph.Node // 1 + erf(s) = 2 Phi(pre)
	hidden []*graph.Node // h2 = s (1 + erf(s)) = sqrt(2) GELU(pre): input of layer l >= 1 (times sqrt(2)), [H, in, R]
	pre    *graph.Node   // bottleneck before the normalisation [H, R, Bn]
	norm   *graph.Node   // ||pre|| [H, R, 1]
	denom  *graph.Node   // max(norm, eps)
	vNorm  *graph.Node   // ||V_k|| [H, K]
	scale  *graph.Node   // g / ||V|| [H, K]
	w      *graph.Node   // effective last-layer weight [H, K, Bn]
}

const normEps = 1e-12 // F.normalize's eps

// bmm is a batched matmul over the leading head axis: [H, m, k] . [H, k, n].
// It lowers to ONNX MatMul (the batch axis leads both operands, docs/ARCHITECTURE.md section 5).
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
	logits, _ := a.forwardWith(p, headsInput{x: x}, false)
	return logits
}

// gelu is the exact GELU, x * Phi(x) = x (1 + erf(x/sqrt(2))) / 2, written
// in the very order of ops that ONNX Runtime's GeluFusion replaces by one
// Gelu kernel (Div by sqrt(2), Erf, Add 1, Mul by x, Mul by 0.5): one pass
// over the [H, hidden, R] activations instead of five, about 2.5x faster
// (the forms with Mul by 1/sqrt(2) or Mul by 0.5 first are not fused).
// It only fuses when no intermediate value has another use, so it serves
// the teacher and the assignment; the student keeps erf for its backward.
func gelu(x *graph.Node) *graph.Node {
	g := x.Graph()
	erf := graph.Erf(graph.Div(x, graph.Scalar(g, x.DType(), math.Sqrt2)))
	return graph.Mul(graph.Mul(x, graph.Add(erf, graph.Scalar(g, x.DType(), 1))), graph.Scalar(g, x.DType(), 0.5))
}

func (a arch) forwardCached(p []*graph.Node, in headsInput) (*graph.Node, *headsCache) {
	return a.forwardWith(p, in, true)
}

// layer0 is the first layer in the feature-major layout: W0 . x^T plus
// the bias as a column, reshaped to [H, out0, R]. scale multiplies the
// result (applied to x and the bias, the small operands). Given in.z, the
// product W0 . (scale x)^T computed on the host, only the bias is added.
func (a arch) layer0(w0, b0 *graph.Node, in headsInput, scale float64) *graph.Node {
	rows := in.rows()
	out0 := b0.Shape().Dimensions[1]
	bias := graph.Reshape(b0, a.Heads*out0, 1)
	if scale != 1 {
		bias = graph.MulScalar(bias, scale)
	}
	z := in.z
	if z == nil {
		x := in.x
		if scale != 1 {
			x = graph.MulScalar(x, scale)
		}
		z = graph.MatMul(w0, graph.TransposeAllAxes(x, 1, 0)) // [H*out0, R]
	}
	return graph.Reshape(graph.Add(z, bias), a.Heads, out0, rows)
}

// out0 is the width of each head's first layer: the hidden width, or the
// bottleneck when the first layer is the only one before the last.
func (a arch) out0() int {
	if a.Layers == 1 {
		return a.Bottle
	}
	return a.Hidden
}

// layer0Scale is the factor of the student's first layer: 1/sqrt(2) when a
// GELU follows it (see "The student's GELU" above), else 1.
func (a arch) layer0Scale() float64 {
	if a.Layers > 1 {
		return 1 / math.Sqrt2
	}
	return 1
}

// dense is a later layer: (wScale W)^T . in (W [H, in, out], in [H, in, R])
// plus bScale times the bias [H, out] as a column.
func dense(w, b, in *graph.Node, wScale, bScale float64) *graph.Node {
	b = graph.ExpandAxes(b, -1)
	if wScale != 1 {
		w = graph.MulScalar(w, wScale)
	}
	if bScale != 1 {
		b = graph.MulScalar(b, bScale)
	}
	return graph.Add(bmm(swapLast(w), in), b)
}

// denseRows is the last layer before the normalisation: act^T . (wScale
// W) (act [H, in, R], W [H, in, out]) plus bScale times the bias as a row:
// [H, R, out].
func denseRows(w, b, act *graph.Node, wScale, bScale float64) *graph.Node {
	b = graph.ExpandAxes(b, 1)
	if wScale != 1 {
		w = graph.MulScalar(w, wScale)
	}
	if bScale != 1 {
		b = graph.MulScalar(b, bScale)
	}
	return graph.Add(bmm(swapLast(act), w), b)
}

func (a arch) forwardWith(p []*graph.Node, in headsInput, keep bool) (*graph.Node, *headsCache) {
	g := in.graph()
	c := &headsCache{in: in}
	// layer l >= 1 on its input act [H, in, R]: feature-major but for the
	// last, row-major.
	layer := func(l int, act *graph.Node, wScale, bScale float64) *graph.Node {
		if l == a.Layers-1 {
			return denseRows(p[2*l], p[2*l+1], act, wScale, bScale)
		}
		return dense(p[2*l], p[2*l+1], act, wScale, bScale)
	}
	var pre *graph.Node
	if !keep {
		pre = a.layer0(p[0], p[1], in, 1)
		for l := 1; l < a.Layers; l++ {
			pre = layer(l, gelu(pre), 1, 1)
		}
	} else {
		// Student: every layer followed by a GELU yields s = pre/sqrt(2);
		// every layer after one reads h2 = sqrt(2) GELU(pre) (see above).
		outScale := func(l int) float64 {
			if l < a.Layers-1 {
				return 1 / math.Sqrt2
			}
			return 1
		}
		pre = a.layer0(p[0], p[1], in, a.layer0Scale()) // = outScale(0)
		for l := 1; l < a.Layers; l++ {
			s := pre
			cdf2 := graph.OnePlus(graph.Erf(s))
			h2 := graph.Mul(s, cdf2)
			c.scaled, c.cdf2, c.hidden = append(c.scaled, s), append(c.cdf2, cdf2), append(c.hidden, h2)
			pre = layer(l, h2, outScale(l)/math.Sqrt2, outScale(l))
		}
	}
	if a.Layers == 1 {
		pre = swapLast(pre) // [H, R, Bn]
	}
	// F.normalize(x, dim=-1): u = x / max(||x||, 1e-12). The division is
	// applied to the logits, u . w^T = (x . w^T) / max(..), [H, R, K],
	// rather than to x, [H, R, Bn] (K < Bn: a smaller pass, and the
	// backward pass needs no u either).
	c.pre = pre
	c.norm = graph.Sqrt(graph.ReduceAndKeep(graph.Square(pre), graph.ReduceSum, -1))
	c.denom = graph.Max(c.norm, graph.Scalar(g, pre.DType(), normEps))
	// Weight-normalised last layer, torch._weight_norm: v * (g / ||v||).
	i := 2 * a.Layers
	v, gain := p[i], p[i+1]
	c.vNorm = graph.Sqrt(graph.ReduceSum(graph.Square(v), -1)) // [H, K]
	c.scale = graph.Div(gain, c.vNorm)
	c.w = graph.Mul(v, graph.ExpandAxes(c.scale, -1))
	return graph.Div(bmm(pre, swapLast(c.w)), c.denom), c
}

// backward returns the gradient of every parameter (arch.params order)
// given the gradient dLogits [H, R, K] of the loss with respect to the
// logits of forwardCached. Where the heads read z (the host's first-layer
// product), the host forms dW0 too: the first "gradient" is then dz, the
// gradient of the first layer's output [H*out0, R], and dW0 = dz . x.
func (a arch) backward(p []*graph.Node, c *headsCache, dLogits *graph.Node) []*graph.Node {
	grads := make([]*graph.Node, len(p))
	last := len(p) - 2
	v := p[last]
	// logits = u . w^T with u = pre/denom: with ell = dLogits/denom,
	// dW = dLogits^T . u = ell^T . pre and du/denom = ell . w.
	ell := graph.Div(dLogits, c.denom) // [H, R, K]
	dW := bmm(swapLast(ell), c.pre)    // [H, K, Bn]
	duDenom := bmm(ell, c.w)           // [H, R, Bn]
	// w = v * g/||v||: dg = <dW, v>/||v||; dv = g/||v|| * (dW - v <dW, v>/||v||^2).
	dot := graph.ReduceSum(graph.Mul(dW, v), -1) // [H, K]
	grads[last+1] = graph.Div(dot, c.vNorm)
	proj := graph.ExpandAxes(graph.Div(dot, graph.Square(c.vNorm)), -1)
	grads[last] = graph.Mul(graph.ExpandAxes(c.scale, -1), graph.Sub(dW, graph.Mul(v, proj)))
	// u = pre / max(||pre||, eps): dPre = (du - u <du, u>)/denom
	// = du/denom - pre <du/denom, pre> / denom^2; the norm's gradient
	// vanishes below eps (clamp_min), where u = pre/eps.
	g := dLogits.Graph()
	active := graph.Where(graph.GreaterThan(c.norm, graph.Scalar(g, floatDType, normEps)),
		graph.Scalar(g, floatDType, 1), graph.Scalar(g, floatDType, 0))
	along := graph.ReduceAndKeep(graph.Mul(duDenom, c.pre), graph.ReduceSum, -1) // [H, R, 1]
	along = graph.Div(graph.Mul(along, active), graph.Square(c.denom))
	dPre := graph.Sub(duDenom, graph.Mul(c.pre, along)) // [H, R, Bn]
	if a.Layers == 1 {
		dPre = swapLast(dPre)
	}
	for l := a.Layers - 1; l >= 1; l-- {
		w := p[2*l]
		// The layer read h2 = sqrt(2) h: dW = h . dPre^T = (h2 . dPre^T) / sqrt(2)
		// (feature-major dPre [H, out, R]; the last layer's is row-major).
		var dW, dhHalf *graph.Node
		if l == a.Layers-1 {
			grads[2*l+1] = graph.ReduceSum(dPre, 1)
			dW = bmm(c.hidden[l-1], dPre)
			dhHalf = bmm(graph.MulScalar(w, 0.5), swapLast(dPre))
		} else {
			grads[2*l+1] = graph.ReduceSum(dPre, 2)
			dW = bmm(c.hidden[l-1], swapLast(dPre))
			dhHalf = bmm(graph.MulScalar(w, 0.5), dPre)
		}
		grads[2*l] = graph.MulScalar(dW, 1/math.Sqrt2)
		// GELU'(pre) = Phi(pre) + pre phi(pre) = (c2 + 2/sqrt(pi) s exp(-s^2)) / 2
		// with s = pre/sqrt(2) and c2 = 1 + erf(s); the 1/2 went into the
		// weight of dhHalf = W/2 . dPre (an overflowing exp gives the
		// right limit, 0).
		s := c.scaled[l-1]
		xPdf := graph.MulScalar(graph.Div(s, graph.Exp(graph.Square(s))), 2/math.Sqrt(math.Pi))
		dPre = graph.Mul(dhHalf, graph.Add(c.cdf2[l-1], xPdf))
	}
	grads[1] = graph.ReduceSum(dPre, 2)
	out0 := dPre.Shape().Dimensions[1]
	dz := graph.Reshape(dPre, a.Heads*out0, c.in.rows()) // [H*out0, R]
	if c.in.z != nil {
		grads[0] = dz
		return grads
	}
	// dW0 = dz . x [H*out0, D].
	grads[0] = graph.MatMul(dz, c.in.x)
	return grads
}

var floatDType = dtypes.Float32
