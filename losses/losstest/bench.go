package losstest

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/trainbench"
)

// BenchTrainStep times one train step of the real loss at the sizes of
// the performance target (trainbench.DefaultStepBenchConfig: D=784, H=16, K=10,
// B=256, two layers of 512, bottleneck 256), after its untimed warm-up, on
// backendSpec (onnx, go, xla:PLUGIN). Besides ns/op it reports ms/step,
// cpu-ms/step (process CPU time, all threads), busy-threads and
// runnable-threads (see trainbench.StepTiming).
func BenchTrainStep(b *testing.B, loss train.GraphLoss, backendSpec string) {
	skipUntaggedBench(b, loss, backendSpec, "TRAIN STEP", "TrainStep")
	s, err := trainbench.NewStepBench(b.Context(), loss, backendSpec, trainbench.DefaultStepBenchConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := s.StartClock()
	for b.Loop() {
		if err := s.Step(); err != nil {
			b.Fatal(err)
		}
	}
	t := c.Stop(b.N)
	b.Logf("%s: compile + first step %v; thread loads %.2f of %d threads; at most %d runnable at once; last loss %.4f",
		t.Backend, t.FirstStep, t.ThreadLoad, t.OSThreads, t.MaxRunnable, t.LastLoss)
	t.Report(b.ReportMetric)
}

// CheckTrainStepBench keeps the benchmark's path working in ordinary test
// runs: a few train steps (heads, loss, AdamW, teacher EMA, loss state) of
// the real loss at small sizes on every backend, through the trainer's
// step code. opts are loss options (nil for the defaults).
func CheckTrainStepBench(t *testing.T, loss train.GraphLoss, opts core.Options) {
	t.Helper()
	for _, name := range Backends {
		t.Run(name, func(t *testing.T) {
			SkipUntagged(t, name)
			cfg := trainbench.StepBenchConfig{D: 12, Heads: 3, Clusters: 5, Batch: 8, Layers: 2, Hidden: 10, Bottleneck: 7,
				Rows: 40, Warmup: 2, Steps: 3, Seed: 4, Options: opts}
			tm, err := trainbench.TimeSteps(t.Context(), loss, name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tm.Backend, name) || tm.Steps != 3 || tm.WallMS <= 0 {
				t.Errorf("timing %+v: want 3 steps on %s with a positive time", tm, name)
			}
			// Step fails on a non-finite loss; a zero one would mean the
			// loss never reached the step.
			if tm.LastLoss == 0 {
				t.Errorf("last loss %v; want the loss of the last step", tm.LastLoss)
			}
		})
	}
}

// EpochSizes are the sizes of BenchTrainEpoch's sub-benchmarks, named
// D<dim>_B<batch>: TEMI's reference sizes (DINOv2 ViT-S/14 and ViT-B/14
// embeddings, D = 384 and 768; batch 256 and the recipe's 1024).
var EpochSizes = []struct{ D, Batch int }{{384, 256}, {384, 1024}, {768, 256}, {768, 1024}}

// BenchTrainEpoch times training epochs of the real loss at each of
// EpochSizes (trainbench.DefaultEpochBenchConfig: N = 50,000 random
// embeddings, H = 16, K = 100, the trainer's default heads), one epoch per
// benchmark iteration, on backendSpec. Each epoch runs as Fit runs it: the
// epoch's pairs drawn on the host from a random k-NN table, the rows
// gathered in the step graph from the train matrix kept on the device.
// With steps > 0 only the first steps steps of each epoch run and the
// epoch time is extrapolated (see trainbench.EpochTiming). It reports
// s/epoch, cpu-s/epoch, ms/step, pairs-ms/epoch and the thread figures.
func BenchTrainEpoch(b *testing.B, loss train.GraphLoss, backendSpec string, steps int) {
	skipUntaggedBench(b, loss, backendSpec, "TRAIN EPOCH", "TrainEpoch")
	for _, sz := range EpochSizes {
		b.Run(fmt.Sprintf("D%d_B%d", sz.D, sz.Batch), func(b *testing.B) {
			e, err := trainbench.NewEpochBench(b.Context(), loss, backendSpec, trainbench.DefaultEpochBenchConfig(sz.D, sz.Batch))
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ResetTimer()
			t, err := e.Run(b.Context(), b.N, steps)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.Logf("%s: %d of %d steps per epoch timed, %d epoch(s); compile + first step %v; thread loads %.2f of %d threads; mean loss %.4f",
				t.Backend, t.Timed, t.StepsPerEpoch, t.Epochs, t.FirstStep, t.ThreadLoad, t.OSThreads, t.MeanLoss)
			t.Report(b.ReportMetric)
		})
	}
}

// skipUntaggedBench skips, loudly, a benchmark on the onnx backend in a
// test binary built without the onnx tag.
func skipUntaggedBench(b *testing.B, loss train.GraphLoss, backendSpec, what, bench string) {
	if !strings.HasPrefix(backendSpec, "onnx") || OnnxTag {
		return
	}
	name := loss.Describe().Name
	msg := fmt.Sprintf("!!! %s %s NOT BENCHMARKED: this test binary was built without `-tags onnx`; "+
		"run `go test -tags onnx -run '^$' -bench %s ./losses/%s` (or pass -%s.backend=go) !!!", strings.ToUpper(name), what, bench, name, name)
	fmt.Fprintln(os.Stderr, msg)
	b.Skip(msg)
}
