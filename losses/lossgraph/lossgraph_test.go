package lossgraph

import (
	"math"
	"testing"

	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// run compiles fn on b, calls it on x [2, 4, 3] and returns its outputs
// flattened.
func run(t *testing.T, b compute.Backend, x []float32, fn func(x *graph.Node) []*graph.Node) [][]float64 {
	t.Helper()
	exec, err := graph.NewExec(b, func(x *graph.Node) []*graph.Node { return fn(x) })
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Call(tensors.FromFlatDataAndDimensions(x, 2, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	flat := make([][]float64, len(outs))
	for i, o := range outs {
		v, err := tensors.CopyFlatData[float32](o)
		if err != nil {
			t.Fatal(err)
		}
		flat[i] = losstest.ToFloat64(v)
	}
	return flat
}

// input is x[h, r, k] = h*100 + r*10 + 60*k: its exponentials overflow
// float32 (beyond e^88) and its softmax underflows (e^-120 for k = 0).
func input() []float32 {
	x := make([]float32, 2*4*3)
	for i := range x {
		h, r, k := i/12, i/3%4, i%3
		x[i] = float32(h*100 + r*10 + 60*k)
	}
	return x
}

// TestSwapViews: row r of the result is row (r+B) mod 2B, and no gradient
// flows back through the swap (it may only carry the teacher).
func TestSwapViews(t *testing.T) {
	x := input()
	losstest.ForEachBackend(t, func(t *testing.T, b compute.Backend) {
		out := run(t, b, x, func(x *graph.Node) []*graph.Node {
			s := SwapViews(x)
			return []*graph.Node{s, graph.Gradient(graph.ReduceAllSum(graph.Add(s, x)), x)[0]}
		})
		for i := range x {
			h, r, k := i/12, i/3%4, i%3
			if want := float64(x[(h*4+losstest.Partner(r, 2))*3+k]); out[0][i] != want {
				t.Fatalf("swapped[%d] = %v, want %v", i, out[0][i], want)
			}
			if out[1][i] != 1 { // from the Add alone
				t.Fatalf("gradient %v, want 1 everywhere (none through the swap)", out[1])
			}
		}
	})
}

// TestLogSumExpAndViewMeans checks the log-space pieces on values whose
// exponentials overflow or underflow float32, against float64, and that
// LogViewMeans passes the gradient (it uses Reshape, not Slice): the sum
// over k of exp(LogViewMeans) is 1 for each view, whatever x, so its
// gradient is 0, while the gradient of the first view's first cluster is
// not.
func TestLogSumExpAndViewMeans(t *testing.T) {
	x := input()
	lse := make([]float64, 8)
	means := make([]float64, 2*2*3)
	for row := 0; row < 8; row++ {
		m := math.Inf(-1)
		for k := 0; k < 3; k++ {
			m = math.Max(m, float64(x[row*3+k]))
		}
		s := 0.0
		for k := 0; k < 3; k++ {
			s += math.Exp(float64(x[row*3+k]) - m)
		}
		lse[row] = m + math.Log(s)
	}
	for h := 0; h < 2; h++ {
		for v := 0; v < 2; v++ {
			for k := 0; k < 3; k++ {
				// log mean_b softmax(x)[h, v*2+b, k], in float64
				terms := []float64{}
				for b := 0; b < 2; b++ {
					row := h*4 + v*2 + b
					terms = append(terms, float64(x[row*3+k])-lse[row])
				}
				m := math.Max(terms[0], terms[1])
				means[(h*2+v)*3+k] = m + math.Log((math.Exp(terms[0]-m)+math.Exp(terms[1]-m))/2)
			}
		}
	}
	losstest.ForEachBackend(t, func(t *testing.T, b compute.Backend) {
		out := run(t, b, x, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{LogSumExp(x, -1), LogViewMeans(graph.LogSoftmax(x, -1))}
		})
		// Gradients on milder logits, where float32 probabilities do not
		// underflow.
		mild := make([]float32, len(x))
		for i, v := range x {
			mild[i] = v / 60
		}
		grads := run(t, b, mild, func(x *graph.Node) []*graph.Node {
			lv := LogViewMeans(graph.LogSoftmax(x, -1))
			total := graph.ReduceAllSum(graph.Exp(lv))
			// The first view's mean probability of cluster 0 (a mask, not
			// a Slice: the onnx backend cannot differentiate Slice).
			mask := make([]float32, 2*2*3)
			mask[0] = 1
			first := graph.ReduceAllSum(graph.Mul(graph.Exp(lv), graph.Const(x.Graph(), tensors.FromFlatDataAndDimensions(mask, 2, 2, 3))))
			return []*graph.Node{graph.Gradient(total, x)[0], graph.Gradient(first, x)[0]}
		})
		tol := losstest.Tolerance{Abs: 1e-5, Rel: 1e-6}
		losstest.CompareFloat64(t, "LogSumExp", out[0], lse, tol)
		losstest.CompareFloat64(t, "LogViewMeans", out[1], means, tol)
		losstest.CompareFloat64(t, "gradient of a constant", grads[0], make([]float64, len(x)), losstest.Float32Tol)
		nonzero := 0
		for _, g := range grads[1] {
			if math.IsNaN(g) {
				t.Fatalf("NaN gradient %v", grads[1])
			}
			if math.Abs(g) > 1e-3 {
				nonzero++
			}
		}
		// Only rows 0 and 1 of head 0 (view 1) feed that mean.
		if nonzero == 0 {
			t.Errorf("no gradient through LogViewMeans: %v", grads[1])
		}
		for i := 6; i < len(x); i++ {
			if grads[1][i] != 0 {
				t.Errorf("gradient %v reaches row %d, outside the first view of head 0", grads[1], i/3)
				break
			}
		}
	})
}
