package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// The golden file (testdata/turtle_golden.json, written by
// testdata/make_golden.py with torch in float64; its "schema" states every
// convention) holds two outer iterations of three cases, the second in
// cold- and warm-start variants.
type golden struct {
	Dims          []int             `json:"dims"`
	N             int               `json:"N"`
	C             int               `json:"C"`
	B             int               `json:"B"`
	M             int               `json:"M"`
	Z             []json.RawMessage `json:"Z"`
	Perm          []int32           `json:"perm"`
	VInit         []json.RawMessage `json:"V_init"`
	GInit         []json.RawMessage `json:"g_init"`
	BInit         []json.RawMessage `json:"b_init"`
	InnerInit1    goldenInner       `json:"inner_init_iter1"`
	InnerInit2    goldenInner       `json:"inner_init_iter2_cold"`
	Cases         []goldenCase      `json:"cases"`
	TorchVersion  string            `json:"torch_version"`
	SchemaSummary json.RawMessage   `json:"schema"`
}

type goldenInner struct {
	A []json.RawMessage `json:"A"`
	C []json.RawMessage `json:"c"`
}

type goldenCase struct {
	Name      string     `json:"name"`
	Gamma     float64    `json:"gamma"`
	InnerLR   float64    `json:"inner_lr"`
	OuterLR   float64    `json:"outer_lr"`
	Iter1     goldenIter `json:"iter1"`
	Iter2Cold goldenIter `json:"iter2_cold"`
	Iter2Warm goldenIter `json:"iter2_warm"`
}

type goldenAdam struct {
	Step     int             `json:"step"`
	ExpAvg   json.RawMessage `json:"exp_avg"`
	ExpAvgSq json.RawMessage `json:"exp_avg_sq"`
}

type goldenIter struct {
	Batch             []int32                        `json:"batch"`
	TauBatch          json.RawMessage                `json:"tau_batch"`
	InnerLosses       []float64                      `json:"inner_losses"`
	InnerA            []json.RawMessage              `json:"inner_A"`
	InnerC            []json.RawMessage              `json:"inner_c"`
	InnerAdam         struct{ A, C []goldenAdam }    `json:"inner_adam"`
	OuterLoss         float64                        `json:"outer_loss"`
	PredError         float64                        `json:"pred_error"`
	PredErrorPerSpace []float64                      `json:"pred_error_per_space"`
	EntropySum        float64                        `json:"entropy_sum"`
	EntropyPerSpace   []float64                      `json:"entropy_per_space"`
	GradV             []json.RawMessage              `json:"grad_V"`
	GradG             []json.RawMessage              `json:"grad_g"`
	GradB             []json.RawMessage              `json:"grad_b"`
	VAfter            []json.RawMessage              `json:"V_after"`
	GAfter            []json.RawMessage              `json:"g_after"`
	BAfter            []json.RawMessage              `json:"b_after"`
	OuterAdam         struct{ V, G, B []goldenAdam } `json:"outer_adam"`
	TauAll            json.RawMessage                `json:"tau_all"`
	Assignment        []int32                        `json:"assignment"`
}

func readGolden(t *testing.T) *golden {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "turtle_golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("testdata/turtle_golden.json: %v", err)
	}
	if len(g.Cases) != 3 || len(g.Dims) < 2 || g.B*2 > g.N {
		t.Fatalf("golden file: %d cases, dims %v, B %d, N %d; want 3 cases of two or more spaces", len(g.Cases), g.Dims, g.B, g.N)
	}
	return &g
}

// flat flattens a JSON number or nested list of numbers, row-major.
func flat(t testing.TB, raw json.RawMessage) []float64 {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var out []float64
	var walk func(any)
	walk = func(x any) {
		switch y := x.(type) {
		case float64:
			out = append(out, y)
		case []any:
			for _, e := range y {
				walk(e)
			}
		default:
			t.Fatalf("golden file: unexpected %T", x)
		}
	}
	walk(v)
	return out
}

// tensorOf makes a tensor of dtype dt from float64 values.
func tensorOf(dt dtypes.DType, x []float64, dims ...int) *tensors.Tensor {
	if dt == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), x...), dims...)
	}
	f := make([]float32, len(x))
	for i, v := range x {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

func values(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	v, err := toFloat64(x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// goldenRun runs the golden iterations of one case and mode on one
// backend and dtype through the real iteration graph and device state.
type goldenRun struct {
	t    *testing.T
	g    *golden
	c    goldenCase
	be   compute.Backend
	dt   dtypes.DType
	tol  float64
	warm bool
	run  *deviceRun
	cfg  config
	// worst is the largest relative difference seen, and where.
	worst     float64
	worstWhat string
}

func newGoldenRun(t *testing.T, g *golden, c goldenCase, be compute.Backend, dt dtypes.DType, tol float64, warm, transposedGrad bool) *goldenRun {
	C := g.C
	ig := &iterGraph{dims: g.Dims, clusters: C, steps: g.M, gamma: c.Gamma, warm: warm, dtype: dt, debug: true, transposedGrad: transposedGrad}
	// zeros are Adam moments for a group of [C, D_s] and [C] tensors
	// per space (perSpace of them).
	zeros := func(perSpace int) []*tensors.Tensor {
		var out []*tensors.Tensor
		for _, d := range g.Dims {
			out = append(out, tensorOf(dt, make([]float64, C*d), C, d))
			for range perSpace - 1 {
				out = append(out, tensorOf(dt, make([]float64, C), C))
			}
		}
		return out
	}
	var state []*tensors.Tensor
	for s, d := range g.Dims {
		state = append(state, tensorOf(dt, flat(t, g.VInit[s]), C, d), tensorOf(dt, flat(t, g.GInit[s]), C), tensorOf(dt, flat(t, g.BInit[s]), C))
	}
	state = append(append(state, zeros(3)...), zeros(3)...)
	if warm {
		state = append(state, innerTensors(t, g, g.InnerInit1, dt)...)
		state = append(append(state, zeros(2)...), zeros(2)...)
	}
	var data []*tensors.Tensor
	for s, d := range g.Dims {
		data = append(data, tensorOf(dt, flat(t, g.Z[s]), g.N, d))
	}
	run, err := newDeviceRun(be, ig, state, data, g.B, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.close)
	return &goldenRun{t: t, g: g, c: c, be: be, dt: dt, tol: tol, warm: warm, run: run,
		cfg: config{InnerSteps: g.M, InnerLR: c.InnerLR, OuterLR: c.OuterLR, Gamma: c.Gamma, WarmStart: warm}}
}

func innerTensors(t testing.TB, g *golden, in goldenInner, dt dtypes.DType) []*tensors.Tensor {
	var out []*tensors.Tensor
	for s, d := range g.Dims {
		out = append(out, tensorOf(dt, flat(t, in.A[s]), g.C, d), tensorOf(dt, flat(t, in.C[s]), g.C))
	}
	return out
}

func (r *goldenRun) check(what string, got, want []float64) {
	r.t.Helper()
	d := maxRelDiff(got, want)
	if d > r.worst {
		r.worst, r.worstWhat = d, what
	}
	if d > r.tol {
		r.t.Errorf("%s: differs from the golden value by %.3g relative to its largest value (tolerance %.0g)\n got %v\nwant %v", what, d, r.tol, got, want)
	}
}

// iterate runs golden iteration it (0-based, batch perm[it*B:(it+1)*B])
// with the given inner init (cold start) and checks every recorded value.
func (r *goldenRun) iterate(it int, init *goldenInner, want goldenIter) {
	t, g := r.t, r.g
	S, B, M := len(g.Dims), g.B, g.M
	rows := g.Perm[it*B : (it+1)*B]
	for i, row := range want.Batch {
		if rows[i] != row {
			t.Fatalf("golden batch of iteration %d is not perm[%d:%d]", it+1, it*B, (it+1)*B)
		}
	}
	var inner []*tensors.Tensor
	if !r.warm {
		inner = innerTensors(t, g, *init, r.dt)
	}
	sc := adamScalars(r.cfg, it)
	metrics, dbg, err := r.run.step(rows, inner, tensorOf(r.dt, sc, len(sc)))
	if err != nil {
		t.Fatal(err)
	}
	defer func(dbg []*tensors.Tensor) {
		for _, x := range dbg {
			_ = x.FinalizeAll()
		}
	}(dbg)
	if len(dbg) != 4+9*S {
		t.Fatalf("%d debug outputs, want %d", len(dbg), 4+9*S)
	}
	innerLosses := values(t, dbg[0])
	dbg = dbg[1:]
	tag := fmt.Sprintf("iteration %d", it+1)
	r.check(tag+" inner losses", innerLosses, want.InnerLosses)
	r.check(tag+" outer loss", metrics[0:1], []float64{want.OuterLoss})
	r.check(tag+" pred error", metrics[1:2], []float64{want.PredError})
	r.check(tag+" entropy", metrics[2:3], []float64{want.EntropySum})
	tau := flat(t, want.TauBatch)
	r.check(tag+" tau of the batch", values(t, dbg[0]), tau)
	if got, want := int(metrics[3]), clustersUsed(tau, g.C); got != want {
		t.Errorf("%s: the batch's labelling uses %d clusters, golden %d", tag, got, want)
	}
	r.check(tag+" pred error per space", values(t, dbg[1]), want.PredErrorPerSpace)
	r.check(tag+" entropy per space", values(t, dbg[2]), want.EntropyPerSpace)
	for s := range S {
		sp := fmt.Sprintf(" of space %d", s)
		r.check(tag+" gradient of V"+sp, values(t, dbg[3+3*s]), flat(t, want.GradV[s]))
		r.check(tag+" gradient of g"+sp, values(t, dbg[4+3*s]), flat(t, want.GradG[s]))
		r.check(tag+" gradient of b"+sp, values(t, dbg[5+3*s]), flat(t, want.GradB[s]))
		innerOut, innerM, innerV := dbg[3+3*S:3+5*S], dbg[3+5*S:3+7*S], dbg[3+7*S:3+9*S]
		r.check(tag+" inner A after the inner fit"+sp, values(t, innerOut[2*s]), flat(t, want.InnerA[s]))
		r.check(tag+" inner c after the inner fit"+sp, values(t, innerOut[2*s+1]), flat(t, want.InnerC[s]))
		r.check(tag+" inner Adam m of A"+sp, values(t, innerM[2*s]), flat(t, want.InnerAdam.A[s].ExpAvg))
		r.check(tag+" inner Adam v of A"+sp, values(t, innerV[2*s]), flat(t, want.InnerAdam.A[s].ExpAvgSq))
		r.check(tag+" inner Adam m of c"+sp, values(t, innerM[2*s+1]), flat(t, want.InnerAdam.C[s].ExpAvg))
		r.check(tag+" inner Adam v of c"+sp, values(t, innerV[2*s+1]), flat(t, want.InnerAdam.C[s].ExpAvgSq))
		// The step counts live on the host: check they are the golden's.
		innerStep := M
		if r.warm {
			innerStep = (it + 1) * M
		}
		if want.InnerAdam.A[s].Step != innerStep || want.OuterAdam.V[s].Step != it+1 {
			t.Errorf("%s: Adam steps inner %d outer %d here, golden %d and %d", tag, innerStep, it+1, want.InnerAdam.A[s].Step, want.OuterAdam.V[s].Step)
		}
		st := r.run.state
		for j, p := range []struct {
			name  string
			after json.RawMessage
			adam  goldenAdam
		}{{"V", want.VAfter[s], want.OuterAdam.V[s]}, {"g", want.GAfter[s], want.OuterAdam.G[s]}, {"b", want.BAfter[s], want.OuterAdam.B[s]}} {
			i := 3*s + j
			r.check(tag+" "+p.name+" after the outer step"+sp, values(t, st[i]), flat(t, p.after))
			r.check(tag+" outer Adam m of "+p.name+sp, values(t, st[3*S+i]), flat(t, p.adam.ExpAvg))
			r.check(tag+" outer Adam v of "+p.name+sp, values(t, st[6*S+i]), flat(t, p.adam.ExpAvgSq))
		}
	}
}

// assignAll checks tau on all N rows and its argmax after iteration 2.
func (r *goldenRun) assignAll(want goldenIter) {
	t, g := r.t, r.g
	as, err := newAssigner(r.be, len(g.Dims), g.C, g.N)
	if err != nil {
		t.Fatal(err)
	}
	defer as.close()
	var tau []float64
	var clusters []int32
	if r.dt == dtypes.Float64 {
		var xs []matrix[float64]
		for s, d := range g.Dims {
			xs = append(xs, matrix[float64]{Data: flat(t, g.Z[s]), Rows: g.N, Cols: d})
		}
		clusters, err = assignRows(t.Context(), as, r.run.theta(), xs, func(p []float64) error { tau = append(tau, p...); return nil })
	} else {
		var xs []matrix[float32]
		for s, d := range g.Dims {
			xs = append(xs, matrix[float32]{Data: toFloat32(flat(t, g.Z[s])), Rows: g.N, Cols: d})
		}
		clusters, err = assignRows(t.Context(), as, r.run.theta(), xs, func(p []float32) error {
			for _, v := range p {
				tau = append(tau, float64(v))
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	r.check("tau of all rows after iteration 2", tau, flat(t, want.TauAll))
	for i := range want.Assignment {
		if clusters[i] != want.Assignment[i] {
			t.Errorf("assignment of row %d: %d, golden %d", i, clusters[i], want.Assignment[i])
		}
	}
}

func clustersUsed(tau []float64, C int) int {
	used := map[int]bool{}
	for i := 0; i < len(tau); i += C {
		used[argmaxFirst(tau[i:i+C])] = true
	}
	return len(used)
}

// TestGolden runs the golden iterations of every case in cold and warm
// start on every backend: in float32, as Fit runs them, every value must
// be within 1e-5 of the golden one relative to the largest value of its
// array (float32's rounding through M+2 passes is about 1e-6 of that);
// in float64 within 1e-12, which checks the formulas themselves (the
// order of the float64 sums differs from torch's, nothing else should).
// Both gradient forms are checked on every backend, and the float32 run
// once more with the batch gathered in the graph.
func TestGolden(t *testing.T) {
	g := readGolden(t)
	forEachBackend(t, func(t *testing.T, _ string, be compute.Backend) {
		for _, prec := range []struct {
			name       string
			dt         dtypes.DType
			tol        float64
			graphRows  bool // the batch gathered in the graph (backends without shared buffers)
			transposed bool // the gradient products from the transposed batch (onnx)
		}{
			{"float32", dtypes.Float32, 1e-5, false, false},
			{"float64", dtypes.Float64, 1e-12, false, false},
			{"float32-transposed-grad", dtypes.Float32, 1e-5, false, true},
			{"float64-transposed-grad", dtypes.Float64, 1e-12, false, true},
			{"float32-graph-gather", dtypes.Float32, 1e-5, true, false},
		} {
			for _, c := range g.Cases {
				t.Run(fmt.Sprintf("%s/%s", prec.name, c.Name), func(t *testing.T) {
					graphGatherOnly = prec.graphRows
					defer func() { graphGatherOnly = false }()
					for _, warm := range []bool{false, true} {
						r := newGoldenRun(t, g, c, be, prec.dt, prec.tol, warm, prec.transposed)
						r.iterate(0, &g.InnerInit1, c.Iter1)
						if warm {
							r.iterate(1, nil, c.Iter2Warm)
							r.assignAll(c.Iter2Warm)
						} else {
							r.iterate(1, &g.InnerInit2, c.Iter2Cold)
							r.assignAll(c.Iter2Cold)
						}
						t.Logf("warm start %v: largest relative difference %.2g (%s)", warm, r.worst, r.worstWhat)
					}
				})
			}
		}
	})
}
