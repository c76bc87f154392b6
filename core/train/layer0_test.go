package train

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// TestHostLayer0MatchesGraph runs the same steps with the first layer's
// products in the step graph and on the host (layer0.go, oneDNN), at
// learning rate 0 so that the weights stay equal and AdamW's first moment
// m = 0.1 g after the first step, 0.19 g after two, is the gradient
// itself (w0's coming from the host's dW0 = dz . x): comparing updated
// weights instead would mostly compare AdamW's sign-like first steps on
// near-zero gradients. In fp32 the per-head losses and the moments agree
// to float rounding (the products sum in another order); in bf16 they
// differ by about what bfloat16 inputs give, far more than fp32 does,
// which shows the bf16 products ran. The step tests (step_test.go), which
// check updates against autodiff, run the host products too.
func TestHostLayer0MatchesGraph(t *testing.T) {
	if !hostProducts {
		t.Skip("LOUD SKIP: built without the dnnl build tag (make test sets it): no host products to test")
	}
	backends := []string{"go"}
	if onnxTagged {
		backends = append(backends, "onnx")
	}
	// One layer (no GELU: the student's scale is 1), two and three
	// layers, the last large enough for several oneDNN blocks.
	archs := []arch{{D: 20, Heads: 2, Clusters: 4, Layers: 1, Hidden: 8, Bottle: 6}, smallArch(),
		{D: 150, Heads: 4, Clusters: 10, Layers: 3, Hidden: 256, Bottle: 32}}
	sched := schedules{LR: []float64{0, 0, 0}, WD: []float64{0.1, 0.1, 0.1}, Momentum: []float64{0.9, 0.95, 0.99},
		TeacherTemp: []float64{0.07, 0.05}, ItersPerEpoch: 2}
	for _, spec := range backends {
		be := openBackend(t, spec)
		if !be.HasSharedBuffers() {
			t.Errorf("%s has no shared buffers: the host products are not used there", spec)
			continue
		}
		for ai, a := range archs {
			gl := pmiLoss{}
			runs := map[string]*deviceRun{}
			for _, mode := range []string{"graph", PrecisionFP32, PrecisionBF16} {
				opts := core.Options{OptWeightDecay: 0.05}
				if mode != "graph" {
					opts[OptPrecision] = mode
				}
				sb, sv := newTestStep(t, a, gl, resolvedOptions(t, gl, opts))
				h := freshHost(sb.specs, sv, 71)
				perturb(h, 72, 0.05)
				// (hostLayer0Always: these heads are far below the size
				// from which Fit runs fp32 products on the host.)
				graphLayer0Only, hostLayer0Always = mode == "graph", mode != "graph"
				r, err := newDeviceRun(be, sb, h, randomMatrix(73, 50, a.D), false)
				graphLayer0Only, hostLayer0Always = false, false
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(r.close)
				if r.sb.hostLayer0 != (mode != "graph") {
					t.Fatalf("%s: hostLayer0 %v", mode, r.sb.hostLayer0)
				}
				runs[mode] = r
			}
			rng := rand.New(rand.NewPCG(74, 74))
			var worst [2]float64 // fp32, bf16 against the graph
			for it := range len(sched.LR) {
				rows := make([]int32, 16)
				for j := range rows {
					rows[j] = int32(rng.IntN(50))
				}
				losses := map[string][]float32{}
				states := map[string]*hostState{}
				for mode, r := range runs {
					l, err := r.step(rows, sched.stepScalars(it))
					if err != nil {
						t.Fatal(err)
					}
					if states[mode], err = r.toHost(); err != nil {
						t.Fatal(err)
					}
					losses[mode] = l
				}
				for i, mode := range []string{PrecisionFP32, PrecisionBF16} {
					tol := map[string]float64{PrecisionFP32: 1e-5, PrecisionBF16: 3e-2}[mode]
					d := maxRelDiff(losses[mode], losses["graph"])
					worst[i] = max(worst[i], d)
					if d > tol {
						t.Errorf("%s arch %d step %d: per-head losses with %s host products %v, graph %v", spec, ai, it+1, mode, losses[mode], losses["graph"])
					}
					got, ref := states[mode], states["graph"]
					for j, s := range runs["graph"].sb.specs {
						for _, part := range []struct {
							name     string
							got, ref []float32
						}{{"gradient (adam_m)", got.M[j], ref.M[j]}, {"student", got.Student[j], ref.Student[j]}, {"teacher", got.Teacher[j], ref.Teacher[j]}} {
							d := maxRelDiff(part.got, part.ref)
							worst[i] = max(worst[i], d)
							if d > tol {
								t.Errorf("%s arch %d step %d: %s of %s differs by %.2g with %s host products", spec, ai, it+1, part.name, s.Name, d, mode)
							}
						}
					}
				}
			}
			t.Logf("%s arch %d: largest relative difference from the graph's losses and gradients: fp32 host products %.2g, bf16 %.2g", spec, ai, worst[0], worst[1])
			// bf16 rounds the inputs to 8 bits of mantissa: a difference far
			// above fp32's shows that the bf16 products ran.
			if worst[1] < 10*worst[0] || worst[1] < 1e-4 {
				t.Errorf("%s arch %d: bf16 differs from the graph by %.2g, fp32 by %.2g: bf16 products seemingly not used", spec, ai, worst[1], worst[0])
			}
		}
	}
}

// TestBF16NeedsHostProducts: precision bf16 on a step whose first layer
// stays in the graph (a backend without shared buffers) is an input error
// that says what to do.
func TestBF16NeedsHostProducts(t *testing.T) {
	if !hostProducts {
		t.Skip("built without the dnnl tag: bf16 is refused by its option (newConfig) before a step exists")
	}
	defer func(old bool) { graphGatherOnly = old }(graphGatherOnly)
	graphGatherOnly = true // the path of a GPU backend
	a := smallArch()
	gl := pmiLoss{}
	sb, sv := newTestStep(t, a, gl, resolvedOptions(t, gl, core.Options{OptPrecision: PrecisionBF16}))
	r, err := newDeviceRun(openBackend(t, "go"), sb, freshHost(sb.specs, sv, 1), randomMatrix(2, 20, a.D), false)
	if err == nil {
		r.close()
		t.Fatal("bf16 without host products: no error")
	}
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("error %v does not wrap core.ErrInvalidInput", err)
	}
	t.Log(err)
}
