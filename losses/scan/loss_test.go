package main

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestGoldenTolerance(t *testing.T) { losstest.CheckGoldenTolerance(t, "SCAN") }

// TestGolden runs every SCAN case of the golden file (the authors'
// losses/mi.py SCAN class, one loss object per head) on both backends: the
// per-head losses, their mean and the gradient; the cases have no prior,
// and the loss must declare no state.
func TestGolden(t *testing.T) {
	losstest.RunGolden(t, "SCAN", losstest.GoldenSpec{
		Loss:    Loss{},
		Options: func(p losstest.Params) core.Options { return core.Options{OptAlpha: p.Alpha} },
	})
}

// referenceSCAN is SCAN (the golden file's formula) written out directly
// in float64, independent of the graph code.
func referenceSCAN(alpha float64) losstest.Reference {
	return func(pr losstest.Problem) losstest.Result {
		H, B, K := pr.H, pr.B, pr.K
		rows := 2 * B
		ps, pt := losstest.Softmax(pr.Student, K, pr.StudentTemp), losstest.Softmax(pr.Teacher, K, pr.TeacherTemp)
		at := func(x []float64, h, r, k int) float64 { return x[(h*rows+r)*K+k] }
		perHead := make([]float64, H)
		for h := 0; h < H; h++ {
			for r := 0; r < rows; r++ {
				s := 0.0
				for k := 0; k < K; k++ {
					s += at(ps, h, r, k) * at(pt, h, losstest.Partner(r, B), k)
				}
				// 1/2 (mean_b over view-2 students + mean_b over view-1 students)
				perHead[h] -= math.Log(s) / float64(rows)
			}
			for v := 0; v < 2; v++ {
				for k := 0; k < K; k++ {
					pbar := 0.0
					for b := 0; b < B; b++ {
						pbar += at(ps, h, v*B+b, k) / float64(B)
					}
					if pbar > 0 { // 0 log 0 = 0
						perHead[h] += alpha / 2 * pbar * math.Log(pbar)
					}
				}
			}
		}
		return losstest.Result{PerHead: perHead}
	}
}

// TestReferenceMatchesGolden validates the float64 reference (used below
// where the golden file has no case) against the authors' code.
func TestReferenceMatchesGolden(t *testing.T) {
	losstest.CheckReferenceAgainstGolden(t, "SCAN", func(p losstest.Params) losstest.Reference { return referenceSCAN(p.Alpha) })
}

// TestVariants checks values of alpha the golden file does not cover
// (0: the consistency term alone; 1) against the float64 reference, value
// and gradient, on both backends.
func TestVariants(t *testing.T) {
	pr := losstest.RandomProblem(1, 2, 8, 5, nil)
	def := referenceSCAN(5)(pr).Mean()
	for _, alpha := range []float64{0, 1} {
		t.Run(fmt.Sprintf("alpha_%g", alpha), func(t *testing.T) {
			ref := referenceSCAN(alpha)
			if got := ref(pr).Mean(); math.Abs(got-def) < 100*losstest.Float32Tol.Abs {
				t.Fatalf("test data too easy: loss %g equals the default's %g", got, def)
			}
			losstest.CheckAgainstReference(t, Loss{}, core.Options{OptAlpha: alpha}, pr, ref)
		})
	}
}

// TestTinyProbabilities feeds logits so sharp that float32 probabilities
// underflow: products ps*pt of crossed pairs (teacher temperature 0.05),
// whose direct sum can be 0 (log 0), and the view-1 student so sure of
// cluster 0 that its mean probability of every other cluster is 0 in
// float32 (0 * log 0 = NaN in the entropy term). The log-space graph must
// stay finite and match the float64 reference.
func TestTinyProbabilities(t *testing.T) {
	pr := losstest.SharpProblem(3, nil)
	for h := 0; h < pr.H; h++ {
		for b := 0; b < pr.B; b++ {
			pr.Student[(h*2*pr.B+b)*pr.K] += 30
		}
	}
	products, rows := losstest.Underflows(pr)
	zeroMeans := 0
	ps := losstest.Softmax32(losstest.ToFloat32(pr.Student), pr.K, pr.StudentTemp)
	for h := 0; h < pr.H; h++ {
		for k := 0; k < pr.K; k++ {
			var pbar float32
			for b := 0; b < pr.B; b++ {
				pbar += ps[(h*2*pr.B+b)*pr.K+k]
			}
			if pbar == 0 {
				zeroMeans++
			}
		}
	}
	if products == 0 || rows == 0 || zeroMeans == 0 {
		t.Fatalf("test data too easy: %d float32 products underflow, %d rows with all of them, %d view means are 0", products, rows, zeroMeans)
	}
	t.Logf("float32 products ps*pt that underflow: %d, rows where all do: %d, view-1 mean probabilities that do: %d", products, rows, zeroMeans)
	losstest.CheckAgainstReference(t, Loss{}, core.Options{}, pr, referenceSCAN(5))
}

// TestBadShapesAreErrors: a wrong input shape or a state the loss does not
// have is an error from Exec, not a crash of the plugin.
func TestBadShapesAreErrors(t *testing.T) {
	step := losstest.NewStep(t, losstest.OpenBackend(t, "go"), Loss{}, core.Options{}, nil)
	logits := func(rows int) *tensors.Tensor {
		return tensors.FromFlatDataAndDimensions(make([]float32, rows*5), 1, rows, 5)
	}
	temp := func() *tensors.Tensor { return tensors.FromScalar(float32(0.1)) }
	for _, c := range []struct {
		args []any
		want string
	}{
		{[]any{logits(3), logits(3), temp(), temp()}, "odd"},
		{[]any{logits(4), logits(6), temp(), temp()}, "teacher"},
		{[]any{logits(4), logits(4), temp(), temp(), tensors.FromFlatDataAndDimensions(make([]float32, 5), 1, 5)}, "no state"},
	} {
		if _, err := step.Call(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one about %q", err, c.want)
		}
	}
}

// TestConformance runs the loss suite on SCAN, a loss without state:
// schema, identity, option errors, the step on every backend, and short
// fits on every backend that learn blobs, resume and repeat themselves.
func TestConformance(t *testing.T) {
	losstest.Conformance(t, Loss{}, losstest.ConformanceCase{MinAcc: 0.95})
}
