package trainbench

import (
	"flag"
	"fmt"
	"strings"
	"testing"
)

var benchEpochSteps = flag.Int("train.epoch_steps", 6, "steps of each epoch BenchmarkTrainEpoch times (0 = whole epochs)")

// BenchmarkTrainEpoch times epochs at TEMI's reference sizes
// (DefaultEpochBenchConfig) with the TEMI-like test loss; the real TEMI
// loss has the same benchmark in losses/temi, which
// bench/temi_epoch_compare.sh runs against PyTorch.
//
//	go test -tags onnx -run '^$' -bench 'TrainEpoch/D384_B256$' -benchtime 1x ./core/train/trainbench -train.epoch_steps=6
func BenchmarkTrainEpoch(b *testing.B) {
	if strings.HasPrefix(*benchBackend, "onnx") {
		skipWithoutONNX(b)
	}
	for _, sz := range []struct{ d, batch int }{{384, 256}, {384, 1024}, {768, 256}, {768, 1024}} {
		b.Run(fmt.Sprintf("D%d_B%d", sz.d, sz.batch), func(b *testing.B) {
			e, err := NewEpochBench(b.Context(), pmiLoss{}, *benchBackend, DefaultEpochBenchConfig(sz.d, sz.batch))
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ResetTimer()
			t, err := e.Run(b.Context(), b.N, *benchEpochSteps)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.Logf("%s: %d of %d steps timed; compile + first step %v; thread loads %.2f", t.Backend, t.Timed, t.StepsPerEpoch, t.FirstStep, t.ThreadLoad)
			t.Report(b.ReportMetric)
		})
	}
}

// TestEpochBench runs the epoch benchmark's path at small sizes: whole
// epochs and a timed prefix, with the extrapolation of the latter.
func TestEpochBench(t *testing.T) {
	cfg := memEpochConfig()
	e, err := NewEpochBench(t.Context(), pmiLoss{}, "go", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.StepsPerEpoch() != 20 {
		t.Fatalf("%d steps per epoch, want 20", e.StepsPerEpoch())
	}
	whole, err := e.Run(t.Context(), 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	part, err := e.Run(t.Context(), 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("whole: %+v\npart: %+v", whole, part)
	if whole.Steps != 40 || whole.Timed != 20 || part.Steps != 5 || part.Timed != 5 {
		t.Errorf("steps: whole %d (%d/epoch), part %d (%d/epoch); want 40 (20) and 5 (5)", whole.Steps, whole.Timed, part.Steps, part.Timed)
	}
	if whole.EpochWallS <= 0 || part.EpochWallS <= 0 || whole.MeanLoss == 0 {
		t.Errorf("epoch times %v, %v and loss %v: want positive times and a loss", whole.EpochWallS, part.EpochWallS, whole.MeanLoss)
	}
	// A whole epoch's figure is the measured time: 2 epochs, so about half the wall time of the run.
	if got, want := whole.EpochWallS, whole.WallMS*40/1000/2; got < 0.99*want || got > 1.01*want {
		t.Errorf("whole-epoch time %v s, want the measured %v s", got, want)
	}
	if e.epoch != 4 {
		t.Errorf("next epoch %d, want 4 (warm-up epoch 0, then 3 timed)", e.epoch)
	}
	if _, err := e.Run(t.Context(), 0, 0); err == nil {
		t.Error("0 epochs: no error")
	}
}
