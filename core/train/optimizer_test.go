package train

import (
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// TestHostOptimizerMatchesGraph runs the same steps with AdamW and the EMA
// in the step graph (the path of backends without shared buffers) and on
// the host (optimizer.go), across the unfreezing of the last layer, with
// decayed and undecayed parameters: the per-head losses and the whole
// state agree to 1e-6 relative after every step (in practice to the bit
// on both CPU backends, as both round every elementwise op in float32).
func TestHostOptimizerMatchesGraph(t *testing.T) {
	backends := []string{"go"}
	if onnxTagged {
		backends = append(backends, "onnx")
	}
	// The second is large enough for runOptimizer to split w0 (153,600
	// values, not a multiple of optChunk) over the goroutines.
	archs := []arch{smallArch(), {D: 150, Heads: 4, Clusters: 10, Layers: 3, Hidden: 256, Bottle: 32}}
	sched := schedules{LR: []float64{0.01, 0.02, 0.03, 0.02, 0.01}, WD: []float64{0.1, 0.1, 0.2, 0.2, 0.3},
		Momentum: []float64{0.9, 0.95, 0.99, 0.99, 0.995}, TeacherTemp: []float64{0.07, 0.05, 0.04}, ItersPerEpoch: 2, FrozenIters: 2}
	for _, spec := range backends {
		be := openBackend(t, spec)
		if !be.HasSharedBuffers() {
			t.Logf("%s has no shared buffers: the host optimizer is not used there", spec)
			continue
		}
		for ai, a := range archs {
			gl := pmiLoss{}
			sb, sv := newTestStep(t, a, gl, resolvedOptions(t, gl, core.Options{OptWeightDecay: 0.05}))
			h := freshHost(sb.specs, sv, 61)
			perturb(h, 62, 0.05)
			data := randomMatrix(63, 50, a.D)
			runs := map[bool]*deviceRun{}
			for _, graphOnly := range []bool{true, false} {
				// graphOnly is the path of a backend without shared
				// buffers (xla): rows gathered and the update made in the graph.
				// (The first layer's products stay in the graph on both
				// paths: host products round differently, see
				// TestHostLayer0MatchesGraph.)
				graphOptimizerOnly, graphGatherOnly, graphLayer0Only = graphOnly, graphOnly, true
				r, err := newDeviceRun(be, sb, h, data, false)
				graphOptimizerOnly, graphGatherOnly, graphLayer0Only = false, false, false
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(r.close)
				if r.sb.hostOptimizer == graphOnly {
					t.Fatalf("hostOptimizer %v with graphOptimizerOnly %v", r.sb.hostOptimizer, graphOnly)
				}
				runs[graphOnly] = r
			}
			rng := rand.New(rand.NewPCG(64, 64))
			var worst float64
			for it := range len(sched.LR) {
				rows := make([]int32, 16)
				for j := range rows {
					rows[j] = int32(rng.IntN(data.Rows))
				}
				lg, err := runs[true].step(rows, sched.stepScalars(it))
				if err != nil {
					t.Fatal(err)
				}
				lh, err := runs[false].step(rows, sched.stepScalars(it))
				if err != nil {
					t.Fatal(err)
				}
				if d := maxRelDiff(lh, lg); d > 1e-6 {
					t.Errorf("%s arch %d step %d: per-head losses host %v, graph %v", spec, ai, it+1, lh, lg)
				}
				hg, err := runs[true].toHost()
				if err != nil {
					t.Fatal(err)
				}
				hh, err := runs[false].toHost()
				if err != nil {
					t.Fatal(err)
				}
				for _, part := range []struct {
					name     string
					got, ref [][]float32
				}{{"student", hh.Student, hg.Student}, {"teacher", hh.Teacher, hg.Teacher}, {"adam_m", hh.M, hg.M}, {"adam_v", hh.V, hg.V}, {"loss state", hh.Loss, hg.Loss}} {
					for i := range part.ref {
						d := maxRelDiff(part.got[i], part.ref[i])
						worst = max(worst, d)
						if d > 1e-6 {
							t.Errorf("%s arch %d step %d: %s #%d differs between the host and graph optimizers by %.2g", spec, ai, it+1, part.name, i, d)
						}
					}
				}
				// The frozen last layer and its moments stay put on the host path too.
				if it < sched.FrozenIters {
					for i, s := range sb.specs {
						if s.Last && (maxRelDiff(hh.Student[i], h.Student[i]) != 0 || maxRelDiff(hh.M[i], h.M[i]) != 0 || maxRelDiff(hh.V[i], h.V[i]) != 0) {
							t.Errorf("%s arch %d step %d: frozen %s changed", spec, ai, it+1, s.Name)
						}
					}
				}
			}
			t.Logf("%s arch %d: largest relative difference of the state between the optimizers %.2g", spec, ai, worst)
		}
	}
}

// BenchmarkFusedAdamW times the host optimizer on a parameter of the
// MNIST recipe's w0 size, [8192, 784] (GOMAXPROCS goroutines).
func BenchmarkFusedAdamW(b *testing.B) {
	const n = 8192 * 784
	mk := func(scale float32) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(i%97+1) * scale
		}
		return s
	}
	sched := schedules{LR: []float64{1e-4}, WD: []float64{1e-4}, Momentum: []float64{0.99}, TeacherTemp: []float64{0.1}, ItersPerEpoch: 1}
	tk := optTask{p: mk(1e-3), g: mk(1e-6), m: mk(1e-7), v: mk(1e-12), t: mk(1e-3), c: coefFor(paramSpec{Decay: true}, sched.stepScalars(0))}
	b.SetBytes(n * 4 * 9) // reads p, g, m, v, t; writes p, m, v, t
	for b.Loop() {
		runOptimizer([]optTask{tk})
	}
}
