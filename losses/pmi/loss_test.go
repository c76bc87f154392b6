package main

import (
	"math"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func pmiOptions(beta, momentum float64, positive bool, weight string) core.Options {
	return core.Options{lossgraph.OptBeta: beta, lossgraph.OptProbsMomentum: momentum, lossgraph.OptPositivePMI: positive, OptWeight: weight}
}

// goldenKinds maps the golden file's loss names to the weight option.
var goldenKinds = map[string]string{"PMI": WeightNone, "WMI": WeightHead}

func TestGoldenTolerance(t *testing.T) {
	for kind := range goldenKinds {
		losstest.CheckGoldenTolerance(t, kind)
	}
}

// TestGolden runs every PMI and WMI case of the golden file (the authors'
// losses/mi.py classes, one loss object per head) on both backends: the
// per-head losses, their mean, each head's prior after every call (it
// carries over from call to call) and the gradient.
func TestGolden(t *testing.T) {
	for kind, weight := range goldenKinds {
		t.Run(kind, func(t *testing.T) {
			losstest.RunGolden(t, kind, losstest.GoldenSpec{
				Loss: Loss{},
				Options: func(p losstest.Params) core.Options {
					return pmiOptions(p.Beta, p.ProbsMomentum, false, weight)
				},
			})
		})
	}
}

// referencePMI is PMI / WMI (docs/TEMI.md section 7 and the golden file's
// formulas) written out directly in float64, (p*q)^beta included,
// independent of the graph code. State[0] is the prior [H*K].
func referencePMI(beta, mu float64, positive bool, weight string) losstest.Reference {
	return func(pr losstest.Problem) losstest.Result {
		H, B, K := pr.H, pr.B, pr.K
		rows := 2 * B
		ps, pt := losstest.Softmax(pr.Student, K, pr.StudentTemp), losstest.Softmax(pr.Teacher, K, pr.TeacherTemp)
		at := func(x []float64, h, r, k int) float64 { return x[(h*rows+r)*K+k] }
		prior := make([]float64, H*K)
		for h := 0; h < H; h++ {
			for k := 0; k < K; k++ {
				m := 0.0
				for r := 0; r < rows; r++ {
					m += at(pt, h, r, k)
				}
				prior[h*K+k] = mu*pr.State[0][h*K+k] + (1-mu)*m/float64(rows)
			}
		}
		perHead := make([]float64, H)
		for h := 0; h < H; h++ {
			for r := 0; r < rows; r++ {
				partner := losstest.Partner(r, B) // student row r faces the teacher's other view
				s, w := 0.0, 1.0
				if weight == WeightHead {
					w = 0
				}
				for k := 0; k < K; k++ {
					s += math.Pow(at(ps, h, r, k)*at(pt, h, partner, k), beta) / prior[h*K+k]
					if weight == WeightHead {
						w += at(pt, h, r, k) * at(pt, h, partner, k)
					}
				}
				pmi := math.Log(s)
				if positive {
					pmi = math.Max(pmi, 0)
				}
				// 1/2 (mean_b over view-2 students + mean_b over view-1 students)
				perHead[h] -= w * pmi / float64(rows)
			}
		}
		return losstest.Result{PerHead: perHead, State: [][]float64{prior}}
	}
}

// TestReferenceMatchesGolden validates the float64 reference (used below
// where the golden file has no case) against the authors' code.
func TestReferenceMatchesGolden(t *testing.T) {
	for kind, weight := range goldenKinds {
		losstest.CheckReferenceAgainstGolden(t, kind, func(p losstest.Params) losstest.Reference {
			return referencePMI(p.Beta, p.ProbsMomentum, false, weight)
		})
	}
}

// TestVariants checks options the golden file does not cover against the
// float64 reference, value and gradient, on both backends.
func TestVariants(t *testing.T) {
	const H, B, K = 2, 8, 5
	pr := losstest.RandomProblem(1, H, B, K, [][]float64{losstest.UniformPrior(H, K)})
	def := referencePMI(0.6, 0.9, false, WeightNone)(pr).Mean()
	for _, v := range []struct {
		name     string
		beta, mu float64
		positive bool
		weight   string
	}{
		{name: "positive_pmi", beta: 0.6, mu: 0.9, positive: true, weight: WeightNone},
		{name: "beta_1", beta: 1, mu: 0.9, weight: WeightNone},
		{name: "probs_momentum_0", beta: 0.6, mu: 0, weight: WeightNone},
		{name: "wmi_positive_pmi_beta_1", beta: 1, mu: 0.5, positive: true, weight: WeightHead},
	} {
		t.Run(v.name, func(t *testing.T) {
			ref := referencePMI(v.beta, v.mu, v.positive, v.weight)
			// The option must change the loss, or the check proves nothing.
			if got := ref(pr).Mean(); math.Abs(got-def) < 100*losstest.Float32Tol.Abs {
				t.Fatalf("test data too easy: loss %g equals the default's %g", got, def)
			}
			losstest.CheckAgainstReference(t, Loss{}, pmiOptions(v.beta, v.mu, v.positive, v.weight), pr, ref)
		})
	}
}

// TestTinyProbabilities feeds logits so sharp (teacher temperature 0.05)
// that many products p*q underflow float32, where (p*q)^beta computed
// directly would give log(0) and NaN gradients. The log-space graph must
// stay finite and match the float64 reference, for PMI and WMI.
func TestTinyProbabilities(t *testing.T) {
	const beta, mu = 0.6, 0.9
	pr := losstest.SharpProblem(3, [][]float64{losstest.UniformPrior(2, 5)})
	products, rows := losstest.Underflows(pr)
	if products == 0 || rows == 0 {
		t.Fatalf("test data too easy: %d float32 products p*q underflow, %d rows with all of them", products, rows)
	}
	t.Logf("float32 products p*q that underflow: %d; rows where all do: %d", products, rows)
	for _, weight := range []string{WeightNone, WeightHead} {
		t.Run(weight, func(t *testing.T) {
			losstest.CheckAgainstReference(t, Loss{}, pmiOptions(beta, mu, false, weight), pr, referencePMI(beta, mu, false, weight))
		})
	}
}

// TestWMIWeight checks the WMI weight itself: per head, the teacher's
// probability that the two views of a pair share a cluster, equal for rows
// b and B+b, and different between heads (it is not TEMI's head average).
func TestWMIWeight(t *testing.T) {
	const H, B, K = 3, 4, 5
	pr := losstest.RandomProblem(7, H, B, K, [][]float64{losstest.UniformPrior(H, K)})
	pt := losstest.Softmax(pr.Teacher, K, pr.TeacherTemp)
	want := make([]float64, H*2*B)
	for h := 0; h < H; h++ {
		for r := 0; r < 2*B; r++ {
			for k := 0; k < K; k++ {
				want[h*2*B+r] += pt[(h*2*B+r)*K+k] * pt[(h*2*B+losstest.Partner(r, B))*K+k]
			}
		}
	}
	if math.Abs(want[0]-want[2*B]) < 1e-3 {
		t.Fatalf("test data too easy: heads 0 and 1 have the same weight %g", want[0])
	}
	weight := func(s train.Step, in train.LossInputs) []*graph.Node { return []*graph.Node{s.(step).build(in).weight} }
	losstest.ForEachBackend(t, func(t *testing.T, b compute.Backend) {
		out := losstest.NewStep(t, b, Loss{}, core.Options{OptWeight: WeightHead}, weight).Run(t, pr)
		losstest.CompareFloats(t, "weight", out.Extra[0], want, losstest.Float32Tol)
	})
}

// TestBadShapesAreErrors: a wrong input shape is an error from Exec, not a
// crash of the plugin.
func TestBadShapesAreErrors(t *testing.T) {
	step := losstest.NewStep(t, losstest.OpenBackend(t, "go"), Loss{}, core.Options{}, nil)
	for _, c := range []struct {
		rows, priorK int
		want         string
	}{
		{rows: 3, priorK: 5, want: "odd"},
		{rows: 4, priorK: 4, want: "prior"},
	} {
		_, err := step.Call(
			tensors.FromFlatDataAndDimensions(make([]float32, c.rows*5), 1, c.rows, 5),
			tensors.FromFlatDataAndDimensions(make([]float32, c.rows*5), 1, c.rows, 5),
			tensors.FromScalar(float32(0.1)), tensors.FromScalar(float32(0.1)),
			tensors.FromFlatDataAndDimensions(make([]float32, c.priorK), 1, c.priorK),
		)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rows %d, prior of %d clusters: error %v, want one about %q", c.rows, c.priorK, err, c.want)
		}
	}
}

// TestConformance runs the loss suite on PMI and WMI: schema, identity,
// option errors (beta > 0, probs_momentum < 1), state, the step on every
// backend, and short fits on every backend that learn blobs, resume and
// repeat themselves.
func TestConformance(t *testing.T) {
	for _, weight := range []string{WeightNone, WeightHead} {
		t.Run(weight, func(t *testing.T) {
			losstest.Conformance(t, Loss{}, losstest.ConformanceCase{
				Options: core.Options{OptWeight: weight},
				Bad: []plugintest.BadOption{
					{Options: core.Options{lossgraph.OptBeta: 0.0}, Key: lossgraph.OptBeta},
					{Options: core.Options{lossgraph.OptProbsMomentum: 1.0}, Key: lossgraph.OptProbsMomentum},
				},
				MinAcc: 0.95,
			})
		})
	}
}
