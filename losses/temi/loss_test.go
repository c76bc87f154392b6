package main

import (
	"math"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
	"github.com/gomlx/gomlx/core/graph"
)

func temiOptions(beta, momentum float64, positive bool) core.Options {
	return core.Options{lossgraph.OptBeta: beta, lossgraph.OptProbsMomentum: momentum, lossgraph.OptPositivePMI: positive}
}

// TestGoldenTolerance: the tolerance is loose enough for the reference's
// own float32 results and far tighter than the outputs' scale.
func TestGoldenTolerance(t *testing.T) { losstest.CheckGoldenTolerance(t, "TEMI") }

// TestGolden runs every TEMI case of the golden file on both backends, on
// one state per case (the prior carries over from call to call), and
// checks every output against the authors' code in float64: the per-head
// losses, their mean, the prior, the pair weight and the gradient.
func TestGolden(t *testing.T) {
	losstest.RunGolden(t, "TEMI", losstest.GoldenSpec{
		Loss:    Loss{},
		Options: func(p losstest.Params) core.Options { return temiOptions(p.Beta, p.ProbsMomentum, false) },
		Weight:  func(s train.Step, in train.LossInputs) *graph.Node { return s.(step).build(in).weight },
	})
}

// referenceTEMI is docs/TEMI.md sections 6-7 written out directly in float64,
// (p*q)^beta included, independent of the graph code. State[0] is the
// prior [H*K].
func referenceTEMI(beta, mu float64, positive bool) losstest.Reference {
	return func(pr losstest.Problem) losstest.Result {
		H, B, K := pr.H, pr.B, pr.K
		rows := 2 * B
		ps, pt := losstest.Softmax(pr.Student, K, pr.StudentTemp), losstest.Softmax(pr.Teacher, K, pr.TeacherTemp)
		at := func(x []float64, h, r, k int) float64 { return x[(h*rows+r)*K+k] }
		o := losstest.Result{PerHead: make([]float64, H), State: [][]float64{make([]float64, H*K)}, Weight: make([]float64, rows)}
		prior := o.State[0]
		for h := 0; h < H; h++ {
			for k := 0; k < K; k++ {
				m := 0.0
				for r := 0; r < rows; r++ {
					m += at(pt, h, r, k)
				}
				prior[h*K+k] = mu*pr.State[0][h*K+k] + (1-mu)*m/float64(rows)
			}
		}
		for b := 0; b < B; b++ {
			w := 0.0
			for h := 0; h < H; h++ {
				for k := 0; k < K; k++ {
					w += at(pt, h, b, k) * at(pt, h, B+b, k)
				}
			}
			o.Weight[b], o.Weight[B+b] = w/float64(H), w/float64(H)
		}
		for h := 0; h < H; h++ {
			for r := 0; r < rows; r++ {
				partner := losstest.Partner(r, B) // student row r faces the teacher's other view
				s := 0.0
				for k := 0; k < K; k++ {
					s += math.Pow(at(ps, h, r, k)*at(pt, h, partner, k), beta) / prior[h*K+k]
				}
				pmi := math.Log(s)
				if positive {
					pmi = math.Max(pmi, 0)
				}
				// 1/2 (mean_b over view-2 students + mean_b over view-1 students)
				o.PerHead[h] -= o.Weight[r] * pmi / float64(rows)
			}
		}
		return o
	}
}

// TestReferenceMatchesGolden validates the float64 reference (used below
// where the golden file has no case) against the authors' code, weight
// included.
func TestReferenceMatchesGolden(t *testing.T) {
	losstest.CheckReferenceAgainstGolden(t, "TEMI", func(p losstest.Params) losstest.Reference {
		return referenceTEMI(p.Beta, p.ProbsMomentum, false)
	})
}

// TestVariants checks options the golden file does not cover against the
// float64 reference, value and gradient: positive_pmi (max(pmi, 0) per
// pair, the authors' clip_min = 0), beta = 1 (the plain weighted PMI) and
// probs_momentum = 0 (the prior is the batch mean).
func TestVariants(t *testing.T) {
	const H, B, K = 2, 8, 5
	pr := losstest.RandomProblem(1, H, B, K, [][]float64{losstest.UniformPrior(H, K)})
	def := referenceTEMI(0.6, 0.9, false)(pr).Mean()
	for _, v := range []struct {
		name     string
		beta, mu float64
		positive bool
	}{
		{name: "positive_pmi", beta: 0.6, mu: 0.9, positive: true},
		{name: "beta_1", beta: 1, mu: 0.9},
		{name: "probs_momentum_0", beta: 0.6, mu: 0},
	} {
		t.Run(v.name, func(t *testing.T) {
			ref := referenceTEMI(v.beta, v.mu, v.positive)
			// The option must change the loss, or the check proves nothing.
			if got := ref(pr).Mean(); math.Abs(got-def) < 100*losstest.Float32Tol.Abs {
				t.Fatalf("test data too easy: loss %g equals the default's %g", got, def)
			}
			losstest.CheckAgainstReference(t, Loss{}, temiOptions(v.beta, v.mu, v.positive), pr, ref)
		})
	}
}

// TestTinyProbabilities feeds logits so sharp (teacher temperature 0.05)
// that many probabilities and most products p*q underflow float32, so
// that (p*q)^beta computed directly would give log(0) and NaN gradients.
// The log-space graph must stay finite and match the float64 reference.
func TestTinyProbabilities(t *testing.T) {
	const beta, mu = 0.6, 0.9
	pr := losstest.SharpProblem(3, [][]float64{losstest.UniformPrior(2, 5)})
	products, rows := losstest.Underflows(pr)
	if products == 0 || rows == 0 {
		t.Fatalf("test data too easy: %d float32 products p*q underflow, %d rows with all of them", products, rows)
	}
	t.Logf("float32 products p*q that underflow: %d; rows where all do: %d", products, rows)
	losstest.CheckAgainstReference(t, Loss{}, temiOptions(beta, mu, false), pr, referenceTEMI(beta, mu, false))
}

// TestConformance runs the loss suite: schema, identity, option errors
// (beta must be > 0 and probs_momentum < 1, which the schema cannot say),
// state, the step on every backend, and short fits on every backend that
// learn blobs, resume and repeat themselves.
func TestConformance(t *testing.T) {
	losstest.Conformance(t, Loss{}, losstest.ConformanceCase{
		Bad: []plugintest.BadOption{
			{Options: core.Options{lossgraph.OptBeta: 0.0}, Key: lossgraph.OptBeta},
			{Options: core.Options{lossgraph.OptProbsMomentum: 1.0}, Key: lossgraph.OptProbsMomentum},
		},
		MinAcc: 0.95,
	})
}
