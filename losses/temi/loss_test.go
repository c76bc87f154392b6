package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Backends the loss must run on. The onnx one needs `go test -tags onnx`
// (the Makefile's test target builds with it).
var testBackends = []string{"go", "onnx"}

var (
	backendsMu sync.Mutex
	opened     = map[string]compute.Backend{}
)

// forEachBackend runs fn as a subtest on every backend, each opened once
// per test binary.
func forEachBackend(t *testing.T, fn func(t *testing.T, b compute.Backend)) {
	for _, name := range testBackends {
		t.Run(name, func(t *testing.T) {
			if name == "onnx" && !onnxTag {
				t.Skip("SKIPPING THE ONNX BACKEND: this test binary was built without the onnx tag; run `go test -tags onnx ./losses/temi` (as `make test` does) to check the loss on ONNX Runtime")
			}
			fn(t, openBackend(t, name))
		})
	}
}

// openBackend opens a backend once per test binary.
func openBackend(t testing.TB, name string) compute.Backend {
	t.Helper()
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b, ok := opened[name]; ok {
		return b
	}
	o, err := backend.Open(name)
	if err != nil {
		t.Fatalf("open backend %s: %v", name, err)
	}
	opened[name] = o.Backend
	return o.Backend
}

// stepOut is what one loss step returns, flattened.
type stepOut struct {
	perHead, prior, weight, grad []float32
	mean                         float32
}

// newStepExec compiles one TEMI step through the GraphLoss interface, plus
// the pair weight and d(mean loss)/d(student logits). Inputs: student and
// teacher [H, 2B, K], prior [H, K], student and teacher temperatures.
func newStepExec(t testing.TB, b compute.Backend, opts core.Options) *graph.Exec {
	t.Helper()
	exec, err := graph.NewExec(b, func(student, teacher, prior, st, tt *graph.Node) []*graph.Node {
		in := train.LossInputs{
			Options: opts, Student: student, Teacher: teacher,
			StudentTemp: st, TeacherTemp: tt, State: []*graph.Node{prior},
		}
		perHead, newState := Loss{}.Loss(in)
		weight := Loss{}.build(in).weight
		mean := graph.ReduceAllMean(perHead)
		grad := graph.Gradient(mean, student)[0]
		return []*graph.Node{perHead, mean, newState[0], weight, grad}
	})
	if err != nil {
		t.Fatalf("new exec: %v", err)
	}
	return exec
}

func runStep(t testing.TB, exec *graph.Exec, H, B, K int, student, teacher, prior []float32, st, tt float64) stepOut {
	t.Helper()
	outs, err := exec.Call(
		tensors.FromFlatDataAndDimensions(student, H, 2*B, K),
		tensors.FromFlatDataAndDimensions(teacher, H, 2*B, K),
		tensors.FromFlatDataAndDimensions(prior, H, K),
		tensors.FromScalar(float32(st)),
		tensors.FromScalar(float32(tt)),
	)
	if err != nil {
		t.Fatalf("run loss step: %v", err)
	}
	flat := make([][]float32, len(outs))
	for i, o := range outs {
		if flat[i], err = tensors.CopyFlatData[float32](o); err != nil {
			t.Fatalf("read output %d: %v", i, err)
		}
	}
	return stepOut{perHead: flat[0], mean: flat[1][0], prior: flat[2], weight: flat[3], grad: flat[4]}
}

func temiOptions(beta, momentum float64, positive bool) core.Options {
	return core.Options{OptBeta: beta, OptProbsMomentum: momentum, OptPositivePMI: positive}
}

// TestGolden runs every TEMI case of the golden file on one state per
// case (the prior carries over from call to call) and checks every output
// against the authors' code in float64.
func TestGolden(t *testing.T) {
	cases := loadGolden(t, "TEMI")
	forEachBackend(t, func(t *testing.T, b compute.Backend) {
		execs := map[string]*graph.Exec{} // options are baked into the graph; temperatures are inputs
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				p := c.Params
				key := fmt.Sprint(p.Beta, p.ProbsMomentum)
				if execs[key] == nil {
					execs[key] = newStepExec(t, b, temiOptions(p.Beta, p.ProbsMomentum, false))
				}
				prior := toFloat32(flat2(t, "pk_initial", c.PkInitial, p.H, p.K))
				worst := 0.0
				for i, call := range c.Calls {
					name := fmt.Sprintf("call %d", i)
					out := runStep(t, execs[key], p.H, p.B, p.K,
						toFloat32(flat3(t, "student_logits", call.StudentLogits, p.H, 2*p.B, p.K)),
						toFloat32(flat3(t, "teacher_logits", call.TeacherLogits, p.H, 2*p.B, p.K)),
						prior, p.StudentTemp, p.TeacherTemp)
					// The weight output has one entry per row; rows b and B+b share w_b.
					wantWeight := append(append([]float64{}, call.Weight...), call.Weight...)
					for _, e := range []float64{
						compareFloats(t, name+" weight", out.weight, wantWeight, float32Tol),
						compareFloats(t, name+" head_losses", out.perHead, call.HeadLosses, float32Tol),
						compareFloats(t, name+" mean_loss", []float32{out.mean}, []float64{call.MeanLoss}, float32Tol),
						compareFloats(t, name+" pk_after", out.prior, flat2(t, "pk_after", call.PkAfter, p.H, p.K), float32Tol),
						compareFloats(t, name+" grad_student_logits", out.grad, flat3(t, "grad", call.GradStudentLogits, p.H, 2*p.B, p.K), float32Tol),
					} {
						worst = math.Max(worst, e)
					}
					prior = out.prior
				}
				t.Logf("largest absolute error over %d calls: %.2g", len(c.Calls), worst)
			})
		}
	})
}

// refOut is the float64 reference of one step.
type refOut struct {
	perHead, prior, weight, pmi []float64 // pmi [H, 2B] after clipping, in row order
	mean                        float64
}

// referenceTEMI is TEMI.md sections 6-7 written out directly in float64,
// (p*q)^beta included, independent of the graph code.
func referenceTEMI(student, teacher, prior []float64, H, B, K int, st, tt, beta, mu float64, positive bool) refOut {
	rows := 2 * B
	softmax := func(z []float64, temp float64) []float64 {
		out := make([]float64, len(z))
		for r := 0; r < len(z)/K; r++ {
			m := math.Inf(-1)
			for k := 0; k < K; k++ {
				m = math.Max(m, z[r*K+k]/temp)
			}
			s := 0.0
			for k := 0; k < K; k++ {
				out[r*K+k] = math.Exp(z[r*K+k]/temp - m)
				s += out[r*K+k]
			}
			for k := 0; k < K; k++ {
				out[r*K+k] /= s
			}
		}
		return out
	}
	ps, pt := softmax(student, st), softmax(teacher, tt)
	at := func(x []float64, h, r, k int) float64 { return x[(h*rows+r)*K+k] }
	o := refOut{perHead: make([]float64, H), prior: make([]float64, H*K), weight: make([]float64, rows), pmi: make([]float64, H*rows)}
	for h := 0; h < H; h++ {
		for k := 0; k < K; k++ {
			m := 0.0
			for r := 0; r < rows; r++ {
				m += at(pt, h, r, k)
			}
			o.prior[h*K+k] = mu*prior[h*K+k] + (1-mu)*m/float64(rows)
		}
	}
	for b := 0; b < B; b++ {
		w := 0.0
		for h := 0; h < H; h++ {
			for k := 0; k < K; k++ {
				w += at(pt, h, b, k) * at(pt, h, B+b, k)
			}
		}
		o.weight[b], o.weight[B+b] = w/float64(H), w/float64(H)
	}
	for h := 0; h < H; h++ {
		for r := 0; r < rows; r++ {
			partner := (r + B) % rows // student row r faces the teacher's other view
			s := 0.0
			for k := 0; k < K; k++ {
				s += math.Pow(at(ps, h, r, k)*at(pt, h, partner, k), beta) / o.prior[h*K+k]
			}
			pmi := math.Log(s)
			if positive {
				pmi = math.Max(pmi, 0)
			}
			o.pmi[h*rows+r] = pmi
			// 1/2 (mean_b over view-2 students + mean_b over view-1 students)
			o.perHead[h] -= o.weight[r] * pmi / float64(rows)
		}
		o.mean += o.perHead[h] / float64(H)
	}
	return o
}

// referenceGrad is d(mean loss)/d(student logits) of referenceTEMI by
// central differences.
func referenceGrad(student, teacher, prior []float64, H, B, K int, st, tt, beta, mu float64, positive bool) []float64 {
	const eps = 1e-6
	grad := make([]float64, len(student))
	x := append([]float64{}, student...)
	for i := range x {
		x[i] = student[i] + eps
		up := referenceTEMI(x, teacher, prior, H, B, K, st, tt, beta, mu, positive).mean
		x[i] = student[i] - eps
		down := referenceTEMI(x, teacher, prior, H, B, K, st, tt, beta, mu, positive).mean
		x[i] = student[i]
		grad[i] = (up - down) / (2 * eps)
	}
	return grad
}

// TestReferenceMatchesGolden validates the float64 reference (used below
// where the golden file has no case) against the authors' code.
func TestReferenceMatchesGolden(t *testing.T) {
	tight := tolerance{abs: 1e-12, rel: 1e-10}
	gradTol := tolerance{abs: 1e-8, rel: 1e-5} // central differences
	for _, c := range loadGolden(t, "TEMI") {
		p := c.Params
		prior := flat2(t, "pk_initial", c.PkInitial, p.H, p.K)
		for i, call := range c.Calls {
			s := flat3(t, "student", call.StudentLogits, p.H, 2*p.B, p.K)
			te := flat3(t, "teacher", call.TeacherLogits, p.H, 2*p.B, p.K)
			ref := referenceTEMI(s, te, prior, p.H, p.B, p.K, p.StudentTemp, p.TeacherTemp, p.Beta, p.ProbsMomentum, false)
			name := fmt.Sprintf("%s call %d reference", c.Name, i)
			compareFloat64(t, name+" head_losses", ref.perHead, call.HeadLosses, tight)
			compareFloat64(t, name+" pk_after", ref.prior, flat2(t, "pk_after", call.PkAfter, p.H, p.K), tight)
			compareFloat64(t, name+" weight", ref.weight[:p.B], call.Weight, tight)
			compareFloat64(t, name+" grad", referenceGrad(s, te, prior, p.H, p.B, p.K, p.StudentTemp, p.TeacherTemp, p.Beta, p.ProbsMomentum, false),
				flat3(t, "grad", call.GradStudentLogits, p.H, 2*p.B, p.K), gradTol)
			prior = ref.prior
		}
	}
}

func compareFloat64(t testing.TB, what string, got, want []float64, tol tolerance) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= tol.abs+tol.rel*math.Abs(want[i])) {
			t.Errorf("%s[%d] = %.12g, want %.12g (diff %.3g)", what, i, got[i], want[i], d)
			return
		}
	}
}

func randomLogits(rng *rand.Rand, n int, scale float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(float32(rng.NormFloat64() * scale)) // exactly representable in float32
	}
	return out
}

func uniformPrior(H, K int) []float64 {
	p := make([]float64, H*K)
	for i := range p {
		p[i] = float64(float32(1 / float64(K)))
	}
	return p
}

func toFloat64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// TestVariants checks options the golden file does not cover against the
// float64 reference, value and gradient: positive_pmi (max(pmi, 0) per
// pair, the authors' clip_min = 0), beta = 1 (the plain weighted PMI) and
// probs_momentum = 0 (the prior is the batch mean).
func TestVariants(t *testing.T) {
	const H, B, K = 2, 8, 5
	const st, tt = 0.1, 0.1
	rng := rand.New(rand.NewPCG(1, 2))
	s, te, prior := randomLogits(rng, H*2*B*K, 0.5), randomLogits(rng, H*2*B*K, 0.5), uniformPrior(H, K)
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
			want := referenceTEMI(s, te, prior, H, B, K, st, tt, v.beta, v.mu, v.positive)
			// The option must change the loss, or the check proves nothing.
			def := referenceTEMI(s, te, prior, H, B, K, st, tt, 0.6, 0.9, false)
			if math.Abs(want.mean-def.mean) < 100*float32Tol.abs {
				t.Fatalf("test data too easy: loss %g equals the default's %g", want.mean, def.mean)
			}
			wantGrad := referenceGrad(s, te, prior, H, B, K, st, tt, v.beta, v.mu, v.positive)
			forEachBackend(t, func(t *testing.T, b compute.Backend) {
				out := runStep(t, newStepExec(t, b, temiOptions(v.beta, v.mu, v.positive)), H, B, K, toFloat32(s), toFloat32(te), toFloat32(prior), st, tt)
				compareFloats(t, "head_losses", out.perHead, want.perHead, float32Tol)
				compareFloats(t, "pk_after", out.prior, want.prior, float32Tol)
				compareFloats(t, "grad", out.grad, wantGrad, float32Tol)
			})
		})
	}
}

// TestTinyProbabilities feeds logits so sharp (teacher temperature 0.05)
// that many probabilities and most products p*q underflow float32, so
// that (p*q)^beta computed directly would give log(0) and NaN gradients.
// The log-space graph must stay finite and match the float64 reference.
func TestTinyProbabilities(t *testing.T) {
	const H, B, K = 2, 6, 5
	const st, tt, beta, mu = 0.1, 0.05, 0.6, 0.9
	rng := rand.New(rand.NewPCG(3, 4))
	s, te, prior := randomLogits(rng, H*2*B*K, 2), randomLogits(rng, H*2*B*K, 2), uniformPrior(H, K)
	// In the first half of the pairs, the student's view 1 is sure of one
	// cluster and the teacher's view 2 of another.
	for h := 0; h < H; h++ {
		for b := 0; b < B/2; b++ {
			s[(h*2*B+b)*K+b%K] += 12
			te[(h*2*B+B+b)*K+(b+1)%K] += 12
		}
	}
	ref := referenceTEMI(s, te, prior, H, B, K, st, tt, beta, mu, false)
	for _, v := range ref.pmi {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			t.Fatalf("test data too hard for the float64 reference: pmi %v", ref.pmi)
		}
	}
	// A float32 (p*q)^beta breaks where a product underflows to 0: the
	// derivative of x^beta at 0 is infinite (NaN gradients), and a row
	// whose products all underflow has log(0) = -inf.
	ps32, pt32 := softmax32(toFloat32(s), K, st), softmax32(toFloat32(te), K, tt)
	zeroProducts, zeroRows := 0, 0
	for h := 0; h < H; h++ {
		for r := 0; r < 2*B; r++ {
			partner := (r + B) % (2 * B)
			zeros := 0
			for k := 0; k < K; k++ {
				if ps32[(h*2*B+r)*K+k]*pt32[(h*2*B+partner)*K+k] == 0 {
					zeros++
				}
			}
			zeroProducts += zeros
			if zeros == K {
				zeroRows++
			}
		}
	}
	if zeroProducts == 0 || zeroRows == 0 {
		t.Fatalf("test data too easy: %d float32 products p*q underflow, %d rows with all of them", zeroProducts, zeroRows)
	}
	t.Logf("float32 products p*q that underflow: %d of %d; rows where all do: %d of %d", zeroProducts, H*2*B*K, zeroRows, H*2*B)
	wantGrad := referenceGrad(s, te, prior, H, B, K, st, tt, beta, mu, false)
	forEachBackend(t, func(t *testing.T, b compute.Backend) {
		out := runStep(t, newStepExec(t, b, temiOptions(beta, mu, false)), H, B, K, toFloat32(s), toFloat32(te), toFloat32(prior), st, tt)
		for _, v := range append(append([]float32{out.mean}, out.perHead...), out.grad...) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("non-finite output: loss %v, grad %v", out.perHead, out.grad)
			}
		}
		compareFloats(t, "head_losses", out.perHead, ref.perHead, float32Tol)
		compareFloats(t, "pk_after", out.prior, ref.prior, float32Tol)
		compareFloats(t, "grad", out.grad, wantGrad, float32Tol)
	})
}

// softmax32 is a float32 softmax, as a float32 implementation of the
// direct formula would compute it.
func softmax32(z []float32, K int, temp float64) []float32 {
	out := make([]float32, len(z))
	for r := 0; r < len(z)/K; r++ {
		m := float32(math.Inf(-1))
		for k := 0; k < K; k++ {
			m = max(m, z[r*K+k]/float32(temp))
		}
		var s float32
		for k := 0; k < K; k++ {
			out[r*K+k] = float32(math.Exp(float64(z[r*K+k]/float32(temp) - m)))
			s += out[r*K+k]
		}
		for k := 0; k < K; k++ {
			out[r*K+k] /= s
		}
	}
	return out
}

func TestDescribe(t *testing.T) {
	d := Loss{}.Describe()
	if d.Kind != core.KindLoss || d.Name != "temi" || d.Version == "" || d.Summary == "" {
		t.Fatalf("bad description %+v", d)
	}
	opts, err := core.ResolveOptions(d.Options, nil)
	if err != nil {
		t.Fatalf("defaults do not resolve: %v", err)
	}
	if opts.Float(OptBeta) != 0.6 || opts.Float(OptProbsMomentum) != 0.9 || opts.Bool(OptPositivePMI) {
		t.Fatalf("defaults %v, want beta 0.6, probs_momentum 0.9, positive_pmi false", opts)
	}
}

func TestState(t *testing.T) {
	vars, err := Loss{}.State(core.Options{}, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) != 1 || vars[0].Name != StatePrior || fmt.Sprint(vars[0].Shape) != "[3 4]" || len(vars[0].Init) != 12 {
		t.Fatalf("state %+v, want one %q of shape [3 4]", vars, StatePrior)
	}
	for _, v := range vars[0].Init {
		if v != 0.25 {
			t.Fatalf("prior init %v, want 1/K", vars[0].Init)
		}
	}
	for _, bad := range []struct {
		opts           core.Options
		heads, K       int
		wantInMessages string
	}{
		{core.Options{OptBeta: 0.0}, 1, 4, "beta"},
		{core.Options{OptBeta: -1.0}, 1, 4, "beta"},
		{core.Options{OptProbsMomentum: 1.0}, 1, 4, "probs_momentum"},
		{core.Options{OptProbsMomentum: -0.1}, 1, 4, "probs_momentum"},
		{core.Options{OptPositivePMI: "maybe"}, 1, 4, "positive_pmi"},
		{core.Options{}, 0, 4, "heads"},
		{core.Options{}, 2, 1, "clusters"},
	} {
		if _, err := (Loss{}).State(bad.opts, bad.heads, bad.K); err == nil || !strings.Contains(err.Error(), bad.wantInMessages) {
			t.Errorf("State(%v, %d, %d) error %v, want one naming %q", bad.opts, bad.heads, bad.K, err, bad.wantInMessages)
		}
	}
}

// TestBadShapesAreErrors: a wrong input shape is an error from Exec, not a
// crash of the plugin.
func TestBadShapesAreErrors(t *testing.T) {
	exec := newStepExec(t, openBackend(t, "go"), core.Options{})
	_, err := exec.Call(
		tensors.FromFlatDataAndDimensions(make([]float32, 3*5), 1, 3, 5), // 3 rows: odd
		tensors.FromFlatDataAndDimensions(make([]float32, 3*5), 1, 3, 5),
		tensors.FromFlatDataAndDimensions(make([]float32, 5), 1, 5),
		tensors.FromScalar(float32(0.1)), tensors.FromScalar(float32(0.1)),
	)
	if err == nil || !strings.Contains(err.Error(), "odd") {
		t.Fatalf("error %v, want one about the odd number of rows", err)
	}
}
