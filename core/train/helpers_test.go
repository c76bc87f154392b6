package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func openBackend(t testing.TB, spec string) compute.Backend {
	t.Helper()
	o, err := backend.Open(spec)
	if err != nil {
		t.Fatalf("open backend %s: %v", spec, err)
	}
	return o.Backend
}

// smallArch has pairwise distinct dimensions, so that a mixed-up axis
// cannot go unnoticed, and three layers to cover the middle blocks.
func smallArch() arch {
	return arch{D: 12, Heads: 3, Clusters: 5, Layers: 3, Hidden: 10, Bottle: 7}
}

// resolvedOptions resolves the trainer + test-loss schema with overrides.
func resolvedOptions(t testing.TB, gl GraphLoss, given core.Options) core.Options {
	t.Helper()
	schema, err := mergeSchemas(TrainerOptions(), gl.Describe().Options, gl.Describe().Name)
	if err != nil {
		t.Fatal(err)
	}
	o, err := core.ResolveOptions(schema, given)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func newTestStep(t testing.TB, a arch, gl GraphLoss, opts core.Options) (*stepBuilder, []StateVar) {
	t.Helper()
	p, err := prepare(gl, opts)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := p.step.State(a.Heads, a.Clusters)
	if err != nil {
		t.Fatal(err)
	}
	return newStepBuilder(a, p, sv), sv
}

// freshHost is the initial state of a run (teacher = student, zero moments).
func freshHost(specs []paramSpec, sv []StateVar, seed int64) *hostState {
	s := initParams(specs, seed)
	h := &hostState{Student: s, Teacher: clone2(s), M: zerosLike(specs), V: zerosLike(specs)}
	for _, v := range sv {
		h.Loss = append(h.Loss, append([]float32(nil), v.Init...))
	}
	return h
}

// perturb adds noise to the student so that teacher != student (a fresh
// run has them equal, which would hide a swapped input).
func perturb(h *hostState, seed uint64, scale float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, p := range h.Student {
		for j := range p {
			p[j] += float32(rng.NormFloat64() * scale)
		}
	}
}

func randomMatrix(seed uint64, rows, cols int) matrix {
	rng := rand.New(rand.NewPCG(seed, 2))
	m := matrix{Data: make([]float32, rows*cols), Rows: rows, Cols: cols}
	for i := range m.Data {
		m.Data[i] = float32(rng.NormFloat64())
	}
	return m
}

func gatherRows(m matrix, rows []int32) matrix {
	out := matrix{Data: make([]float32, 0, len(rows)*m.Cols), Rows: len(rows), Cols: m.Cols}
	for _, r := range rows {
		out.Data = append(out.Data, m.Data[int(r)*m.Cols:(int(r)+1)*m.Cols]...)
	}
	return out
}

// gradExec runs lossAndGrads alone. Inputs: student[P], teacher[P],
// state[S], x [R, D], teacher temperature (scalar). Outputs: perHead,
// newState[S], grads[P].
func gradExec(t testing.TB, be compute.Backend, sb *stepBuilder) *graph.Exec {
	t.Helper()
	P, S := sb.numParams(), sb.numState()
	e, err := graph.NewExec(be, func(in []*graph.Node) []*graph.Node {
		x := headsInput{x: in[2*P+S]}
		perHead, st, grads := sb.lossAndGrads(in[:P], in[P:2*P], in[2*P:2*P+S], x, x, in[2*P+S+1])
		out := append([]*graph.Node{perHead}, st...)
		return append(out, grads...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// callFlat calls e and returns every output as float32 slices (int32
// outputs are converted).
func callFlat(t testing.TB, e *graph.Exec, args ...any) [][]float32 {
	t.Helper()
	outs, err := e.Call(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float32, len(outs))
	for i, o := range outs {
		if o.DType() == floatDType {
			res[i] = tensors.MustCopyFlatData[float32](o)
		} else {
			for _, v := range tensors.MustCopyFlatData[int32](o) {
				res[i] = append(res[i], float32(v))
			}
		}
		o.MustFinalizeAll()
	}
	return res
}

// gradArgs builds the inputs of gradExec from a host state.
func gradArgs(sb *stepBuilder, h *hostState, x matrix, teacherTemp float32) []any {
	var args []any
	for _, group := range [][][]float32{h.Student, h.Teacher} {
		for i, s := range sb.specs {
			args = append(args, tensors.FromFlatDataAndDimensions(group[i], s.Shape...))
		}
	}
	for i, s := range sb.stateShapes {
		args = append(args, tensors.FromFlatDataAndDimensions(h.Loss[i], s...))
	}
	return append(args, tensors.FromFlatDataAndDimensions(x.Data, x.Rows, x.Cols), teacherTemp)
}

// maxRelDiff is the largest |got - want| relative to the largest |want|
// of the slice (so that tiny entries do not dominate); +Inf for a NaN.
func maxRelDiff(got, want []float32) float64 {
	var scale, worst float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	if scale == 0 {
		scale = 1
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = math.Max(worst, d/scale)
	}
	return worst
}
