package train

import (
	"github.com/clusterlab/clusterlab/internal/testbackends"

	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/gomlx/compute"
)

// skipWithoutONNX skips loudly: a build without the onnx tag has not
// checked the fast backend at all.
func skipWithoutONNX(t testing.TB) {
	t.Helper()
	if !onnxTagged {
		msg := "!!! ONNX BACKEND NOT TESTED: this test binary was built without `-tags onnx`; " +
			"run `go test -tags onnx ./core/train` to compare the onnx and go backends !!!"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
}

// TestBackendsAgree runs the training graph on the onnx and go backends
// from the same state and compares the per-head losses, the loss state and
// the gradients (to 1e-5 relative), then three full training steps across
// the unfreezing of the last layer, and the assignment graph.
func TestBackendsAgree(t *testing.T) {
	skipWithoutONNX(t)
	goBE := openBackend(t, "go")
	// onnx always; xla (a GPU) and others when $CLUSTERLAB_TEST_BACKENDS
	// names them.
	for _, other := range append([]string{"onnx"}, testbackends.Extra()...) {
		t.Run(other, func(t *testing.T) {
			otherBE := openBackend(t, other)
			archs := []arch{
				smallArch(),
				// Equal dimensions everywhere: on onnx, a mis-specified einsum
				// can silently return wrong numbers when two dimensions match.
				{D: 8, Heads: 2, Clusters: 8, Layers: 2, Hidden: 8, Bottle: 8},
			}
			for ai, a := range archs {
				gl := pmiLoss{}
				opts := resolvedOptions(t, gl, core.Options{OptWeightDecay: 0.05})
				sb, sv := newTestStep(t, a, gl, opts)
				h := freshHost(sb.specs, sv, 31)
				perturb(h, 32, 0.05)
				x := randomMatrix(33, 16, a.D)

				ref := callFlat(t, gradExec(t, goBE, sb), gradArgs(sb, h, x, 0.07)...)
				got := callFlat(t, gradExec(t, otherBE, sb), gradArgs(sb, h, x, 0.07)...)
				names := []string{"per-head losses"}
				for _, s := range sv {
					names = append(names, "state "+s.Name)
				}
				for _, s := range sb.specs {
					names = append(names, "gradient of "+s.Name)
				}
				for i := range ref {
					t.Logf("arch %d %s: %s vs go %.2g", ai, names[i], other, maxRelDiff(got[i], ref[i]))
					if d := maxRelDiff(got[i], ref[i]); d > 1e-5 {
						t.Errorf("arch %d: %s differ between %s and go by %.2g (relative)", ai, names[i], other, d)
					}
				}

				// Full steps: gather, AdamW, the frozen-layer mask, the EMA.
				sched := schedules{LR: []float64{0.01, 0.02, 0.03}, WD: []float64{0.1, 0.1, 0.2}, Momentum: []float64{0.9, 0.95, 0.99},
					TeacherTemp: []float64{0.07, 0.05}, ItersPerEpoch: 2, FrozenIters: 2}
				data := randomMatrix(34, 40, a.D)
				runs := map[string]*deviceRun{}
				for name, be := range map[string]compute.Backend{"go": goBE, other: otherBE} {
					r, err := newDeviceRun(be, sb, h, data, false)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(r.close)
					runs[name] = r
				}
				rng := rand.New(rand.NewPCG(35, 35))
				for it := range 3 {
					rows := make([]int32, 16)
					for j := range rows {
						rows[j] = int32(rng.IntN(data.Rows))
					}
					lg, err := runs["go"].step(rows, sched.stepScalars(it))
					if err != nil {
						t.Fatal(err)
					}
					lo, err := runs[other].step(rows, sched.stepScalars(it))
					if err != nil {
						t.Fatal(err)
					}
					if d := maxRelDiff(lo, lg); d > 1e-5 {
						t.Errorf("arch %d step %d: per-head losses %s %v, go %v", ai, it+1, other, lo, lg)
					}
					hg, _ := runs["go"].toHost()
					ho, _ := runs[other].toHost()
					for _, part := range []struct {
						name     string
						got, ref [][]float32
					}{{"student", ho.Student, hg.Student}, {"teacher", ho.Teacher, hg.Teacher}, {"adam_m", ho.M, hg.M}, {"adam_v", ho.V, hg.V}, {"loss state", ho.Loss, hg.Loss}} {
						for i := range part.ref {
							if d := maxRelDiff(part.got[i], part.ref[i]); d > 1e-5 {
								t.Errorf("arch %d step %d: %s #%d differs between %s and go by %.2g", ai, it+1, part.name, i, other, d)
							}
						}
					}
				}

				if ai == 0 {
					var res [2][2][]float32
					for bi, r := range []*deviceRun{runs["go"], runs[other]} {
						as, err := newAssigner(r.be, a, sb.specs, 16, a.Heads-1)
						if err != nil {
							t.Fatal(err)
						}
						var p []float32
						x := randomMatrix(36, 37, a.D)
						c, err := as.run(t.Context(), r.teacher(), x, 0.1, func(b []float32) error {
							p = append(p, b...)
							return nil
						})
						as.close()
						if err != nil {
							t.Fatal(err)
						}
						if len(p) != x.Rows*a.Clusters {
							t.Fatalf("%d probabilities of %d rows and %d clusters", len(p), x.Rows, a.Clusters)
						}
						for _, v := range c {
							res[bi][0] = append(res[bi][0], float32(v))
						}
						res[bi][1] = p
					}
					if d := maxRelDiff(res[1][1], res[0][1]); d > 1e-5 {
						t.Errorf("assignment probabilities differ between %s and go by %.2g", other, d)
					}
					diff := 0
					for i := range res[0][0] {
						if res[0][0][i] != res[1][0][i] {
							diff++
						}
					}
					if diff > 0 {
						t.Errorf("%d of %d assignments differ between %s and go", diff, len(res[0][0]), other)
					}
				}
			}
		})
	}
}
