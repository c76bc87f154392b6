package main

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/clusterlab/clusterlab/core/train/trainbench"

	"github.com/clusterlab/clusterlab/losses/losstest"
)

var (
	benchBackend = flag.String("temi.backend", "onnx", "backend of BenchmarkTrainStep and BenchmarkTrainEpoch (onnx, go, xla:PLUGIN)")
	epochSteps   = flag.Int("temi.epoch_steps", 0, "steps of each epoch BenchmarkTrainEpoch times (0 = the whole epoch; fewer extrapolate it)")
)

// BenchmarkTrainStep times one TEMI train step with the real loss at the
// sizes of the performance target (trainbench.DefaultStepBenchConfig: D=784,
// H=16, K=10, B=256, two layers of 512, bottleneck 256), after its untimed
// warm-up. bench/temi_step_compare.sh runs it against the PyTorch
// reference bench/temi_step_torch.py:
//
//	go test -tags onnx -run '^$' -bench TrainStep -benchtime 20x ./losses/temi
//
// Besides ns/op it reports ms/step, cpu-ms/step (process CPU time, all
// threads), busy-threads (threads on a CPU at least 10% of the time) and
// runnable-threads (mean number of threads running or waiting for a CPU):
// how many threads ONNX Runtime really uses (see trainbench.StepTiming).
func BenchmarkTrainStep(b *testing.B) { losstest.BenchTrainStep(b, Loss{}, *benchBackend) }

// BenchmarkTrainEpoch times whole TEMI training epochs at TEMI's
// reference sizes (D = 384 and 768, H = 16, K = 100, B = 256 and 1024,
// N = 50,000, the trainer's default heads), pair drawing and row gathering
// included, one epoch per iteration. bench/temi_epoch_compare.sh runs it
// against the PyTorch reference bench/temi_epoch_torch.py:
//
//	go test -tags onnx -run '^$' -bench 'TrainEpoch/D768_B1024$' -benchtime 1x -temi.epoch_steps 8 ./losses/temi
//
// -temi.epoch_steps N times only the first N steps of each epoch and
// extrapolates the epoch (s/epoch); 0 runs it whole.
func BenchmarkTrainEpoch(b *testing.B) {
	losstest.BenchTrainEpoch(b, Loss{}, *benchBackend, *epochSteps)
}

// TestWriteStepModel writes the ONNX model of the TEMI training step at
// D = $TEMI_STEP_D and B = $TEMI_STEP_B (the other sizes of
// trainbench.DefaultEpochBenchConfig) to $TEMI_STEP_ONNX, for
// bench/ortprofile; without TEMI_STEP_ONNX it is skipped.
//
//	TEMI_STEP_ONNX=/tmp/step.onnx TEMI_STEP_D=384 TEMI_STEP_B=256 go test -tags onnx -run WriteStepModel ./losses/temi
func TestWriteStepModel(t *testing.T) {
	path := os.Getenv("TEMI_STEP_ONNX")
	if path == "" {
		t.Skip("TEMI_STEP_ONNX not set")
	}
	d, err1 := strconv.Atoi(os.Getenv("TEMI_STEP_D"))
	b, err2 := strconv.Atoi(os.Getenv("TEMI_STEP_B"))
	if err1 != nil || err2 != nil {
		t.Fatalf("set TEMI_STEP_D and TEMI_STEP_B to the embedding dimension and the batch (%v, %v)", err1, err2)
	}
	cfg := trainbench.DefaultEpochBenchConfig(d, b).StepConfig()
	if err := losstest.WriteStepONNX(Loss{}, cfg, path); err != nil {
		t.Fatal(err)
	}
}

// TestTrainStepBenchRuns keeps the benchmark's path working in ordinary
// test runs: a few steps of the real loss at small sizes on every backend.
func TestTrainStepBenchRuns(t *testing.T) { losstest.CheckTrainStepBench(t, Loss{}, nil) }
