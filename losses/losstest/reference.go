package losstest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/gomlx/compute"
)

// Problem is the input of one loss step, in float64 (values exactly
// representable in float32 where a backend is to run them).
type Problem struct {
	H, B, K                  int
	Student, Teacher         []float64 // logits [H, 2B, K], view 1 rows then view 2 rows
	StudentTemp, TeacherTemp float64
	// State holds each state variable, flattened (e.g. the prior [H*K]);
	// empty for a loss without state.
	State [][]float64
}

// Result is the output of a float64 reference step.
type Result struct {
	PerHead []float64
	State   [][]float64 // the new state, in Problem.State's layout
	// Weight is the pair weight of each row [2B] for a loss that has one
	// shared by all heads (TEMI); it is compared with the golden weight.
	Weight []float64
}

// Mean is the training loss: the mean over heads.
func (r Result) Mean() float64 {
	s := 0.0
	for _, v := range r.PerHead {
		s += v
	}
	return s / float64(len(r.PerHead))
}

// Reference is a loss written out directly in float64, independent of the
// graph code, to check the graph where the golden file has no case.
type Reference func(Problem) Result

// RefGrad is d(mean loss)/d(student logits) of ref at pr, by central
// differences.
func RefGrad(ref Reference, pr Problem) []float64 {
	const eps = 1e-6
	grad := make([]float64, len(pr.Student))
	x := append([]float64{}, pr.Student...)
	at := pr
	at.Student = x
	for i := range x {
		x[i] = pr.Student[i] + eps
		up := ref(at).Mean()
		x[i] = pr.Student[i] - eps
		down := ref(at).Mean()
		x[i] = pr.Student[i]
		grad[i] = (up - down) / (2 * eps)
	}
	return grad
}

// CheckReferenceAgainstGolden validates a float64 reference against every
// golden case of one loss: per-head losses and state to 1e-12, the pair
// weight where the case has one, and the central-difference gradient to
// 1e-8. ref builds the reference for a case's parameters. The state
// carries over from call to call, as in the golden file.
func CheckReferenceAgainstGolden(t *testing.T, loss string, ref func(Params) Reference) {
	t.Helper()
	tight := Tolerance{Abs: 1e-12, Rel: 1e-10}
	gradTol := Tolerance{Abs: 1e-8, Rel: 1e-5} // central differences
	for _, c := range LoadGolden(t, loss) {
		r := ref(c.Params)
		state := c.InitialState(t)
		for i, call := range c.Calls {
			name := fmt.Sprintf("%s call %d reference", c.Name, i)
			pr := c.Problem(t, i, state)
			got := r(pr)
			CompareFloat64(t, name+" head_losses", got.PerHead, call.HeadLosses, tight)
			CompareFloat64(t, name+" mean_loss", []float64{got.Mean()}, []float64{call.MeanLoss}, tight)
			want := c.StateAfter(t, i)
			if len(got.State) != len(want) {
				t.Fatalf("%s: %d state variables, the golden case has %d", name, len(got.State), len(want))
			}
			for j := range want {
				CompareFloat64(t, name+" pk_after", got.State[j], want[j], tight)
			}
			if call.Weight != nil {
				if len(got.Weight) != 2*c.Params.B {
					t.Fatalf("%s: reference weight has %d values, want one per row (%d)", name, len(got.Weight), 2*c.Params.B)
				}
				CompareFloat64(t, name+" weight", got.Weight[:c.Params.B], call.Weight, tight)
			}
			CompareFloat64(t, name+" grad", RefGrad(r, pr), c.Grad(t, i), gradTol)
			state = got.State
		}
	}
}

// CheckAgainstReference runs one step of loss with opts on every backend
// and compares the per-head losses, the new state and the gradient with
// the float64 reference, to Float32Tol. It fails on any non-finite output.
func CheckAgainstReference(t *testing.T, loss train.GraphLoss, opts core.Options, pr Problem, ref Reference) {
	t.Helper()
	want := ref(pr)
	wantGrad := RefGrad(ref, pr)
	ForEachBackend(t, func(t *testing.T, b compute.Backend) {
		out := NewStep(t, b, loss, opts, nil).Run(t, pr)
		CompareFloats(t, "head_losses", out.PerHead, want.PerHead, Float32Tol)
		CompareFloats(t, "mean_loss", []float32{out.Mean}, []float64{want.Mean()}, Float32Tol)
		if len(out.State) != len(want.State) {
			t.Fatalf("%d state outputs, the reference has %d", len(out.State), len(want.State))
		}
		for i := range want.State {
			CompareFloats(t, fmt.Sprintf("state %d", i), out.State[i], want.State[i], Float32Tol)
		}
		CompareFloats(t, "grad", out.Grad, wantGrad, Float32Tol)
	})
}

// Softmax returns softmax(z / temp) over the last axis of size k, in
// float64.
func Softmax(z []float64, k int, temp float64) []float64 {
	out := make([]float64, len(z))
	for r := 0; r < len(z)/k; r++ {
		m := math.Inf(-1)
		for j := 0; j < k; j++ {
			m = math.Max(m, z[r*k+j]/temp)
		}
		s := 0.0
		for j := 0; j < k; j++ {
			out[r*k+j] = math.Exp(z[r*k+j]/temp - m)
			s += out[r*k+j]
		}
		for j := 0; j < k; j++ {
			out[r*k+j] /= s
		}
	}
	return out
}

// Partner is the pair partner of row r among 2B rows: row b faces row
// B+b and back.
func Partner(r, b int) int { return (r + b) % (2 * b) }

// RandomLogits returns n normal logits times scale, each exactly
// representable in float32.
func RandomLogits(rng *rand.Rand, n int, scale float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(float32(rng.NormFloat64() * scale))
	}
	return out
}

// UniformPrior is the initial prior 1/K of every head, rounded to float32
// as the loss's State gives it.
func UniformPrior(h, k int) []float64 {
	p := make([]float64, h*k)
	for i := range p {
		p[i] = float64(float32(1 / float64(k)))
	}
	return p
}

// RandomProblem is a problem with normal logits of scale 0.5 (the golden
// file's), temperatures 0.1 and the given state.
func RandomProblem(seed uint64, h, b, k int, state [][]float64) Problem {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	return Problem{H: h, B: b, K: k,
		Student: RandomLogits(rng, h*2*b*k, 0.5), Teacher: RandomLogits(rng, h*2*b*k, 0.5),
		StudentTemp: 0.1, TeacherTemp: 0.1, State: state}
}

// SharpProblem is a problem whose probabilities underflow float32: teacher
// temperature 0.05, logits of scale 2, and, in the first half of the pairs
// of every head, a student view 1 sure of one cluster facing a teacher
// view 2 sure of another. A float32 implementation of the direct formulas
// (products of probabilities, their powers and logs) gives log(0) and NaN
// gradients there; see Underflows.
func SharpProblem(seed uint64, state [][]float64) Problem {
	const h, b, k = 2, 6, 5
	rng := rand.New(rand.NewPCG(seed, seed+1))
	pr := Problem{H: h, B: b, K: k,
		Student: RandomLogits(rng, h*2*b*k, 2), Teacher: RandomLogits(rng, h*2*b*k, 2),
		StudentTemp: 0.1, TeacherTemp: 0.05, State: state}
	for hh := 0; hh < h; hh++ {
		for bb := 0; bb < b/2; bb++ {
			pr.Student[(hh*2*b+bb)*k+bb%k] += 12
			pr.Teacher[(hh*2*b+b+bb)*k+(bb+1)%k] += 12
		}
	}
	return pr
}

// Underflows counts, for the crossed pairs of pr, the float32 products
// p_student[r,k] * p_teacher[partner(r),k] that are 0, and the rows where
// all K of them are: what breaks a direct float32 implementation. Tests
// use it to show that their data is hard enough.
func Underflows(pr Problem) (products, rows int) {
	ps, pt := Softmax32(ToFloat32(pr.Student), pr.K, pr.StudentTemp), Softmax32(ToFloat32(pr.Teacher), pr.K, pr.TeacherTemp)
	n := 2 * pr.B
	for h := 0; h < pr.H; h++ {
		for r := 0; r < n; r++ {
			zeros := 0
			for k := 0; k < pr.K; k++ {
				if ps[(h*n+r)*pr.K+k]*pt[(h*n+Partner(r, pr.B))*pr.K+k] == 0 {
					zeros++
				}
			}
			products += zeros
			if zeros == pr.K {
				rows++
			}
		}
	}
	return products, rows
}

// Softmax32 is a float32 softmax, as a float32 implementation of the
// direct formula would compute it.
func Softmax32(z []float32, k int, temp float64) []float32 {
	out := make([]float32, len(z))
	for r := 0; r < len(z)/k; r++ {
		m := float32(math.Inf(-1))
		for j := 0; j < k; j++ {
			m = max(m, z[r*k+j]/float32(temp))
		}
		var s float32
		for j := 0; j < k; j++ {
			out[r*k+j] = float32(math.Exp(float64(z[r*k+j]/float32(temp) - m)))
			s += out[r*k+j]
		}
		for j := 0; j < k; j++ {
			out[r*k+j] /= s
		}
	}
	return out
}
