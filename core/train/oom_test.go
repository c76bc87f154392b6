package train

import (
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testbackends"
)

// TestBackendOutOfMemoryIsAnError runs a training step whose activations
// exceed a GPU's memory (8,192 rows x 2^24 hidden units: 512 GiB per
// layer, with 0.8 GiB of weights and optimizer state) on each backend of
// $CLUSTERLAB_TEST_BACKENDS, and checks that the backend's refusal comes
// back as an error that core.OutOfMemory recognises (what the loss plugin
// carries to the runner as out of memory), after which the same backend
// still trains a small head. It runs in the GPU session
// (bench/gpu_session.sh, part a); without a GPU it skips, and
// TestBackendOutOfMemoryNamesStage (runner) makes ONNX Runtime refuse an
// allocation under prlimit through the whole chain instead.
func TestBackendOutOfMemoryIsAnError(t *testing.T) {
	extra := testbackends.Extra()
	if len(extra) == 0 {
		t.Skipf("runs on the backends of $%s only (a GPU's xla: its memory is what runs out); TestBackendOutOfMemoryNamesStage in runner covers ONNX Runtime's refusal here", testbackends.Env)
	}
	gl := pmiLoss{}
	opts := resolvedOptions(t, gl, core.Options{})
	for _, name := range extra {
		t.Run(name, func(t *testing.T) {
			be := openBackend(t, name)
			sched := schedules{LR: []float64{0.01}, WD: []float64{0.1}, Momentum: []float64{0.9},
				TeacherTemp: []float64{0.07}, ItersPerEpoch: 1, FrozenIters: 0}
			step := func(a arch, rows int) error {
				sb, sv := newTestStep(t, a, gl, opts)
				r, err := newDeviceRun(be, sb, freshHost(sb.specs, sv, 41), randomMatrix(42, rows, a.D), false)
				if err != nil {
					return err
				}
				defer r.close()
				idx := make([]int32, rows)
				for i := range idx {
					idx[i] = int32(i)
				}
				_, err = r.step(idx, sched.stepScalars(0))
				return err
			}
			err := step(arch{D: 1, Heads: 1, Clusters: 10, Layers: 2, Hidden: 1 << 24, Bottle: 1}, 8192)
			t.Logf("%s: %v", name, err)
			if err == nil {
				t.Fatalf("a step with 512 GiB of activations ran on %s", name)
			}
			if !core.OutOfMemory(err) {
				t.Errorf("the error of a step too large for %s is not recognised as out of memory: %v", name, err)
			}
			if err := step(smallArch(), 64); err != nil {
				t.Errorf("a small step after the failed one on %s: %v", name, err)
			}
		})
	}
}
