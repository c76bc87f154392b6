package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/train"
)

var benchBackend = flag.String("temi.backend", "onnx", "backend of BenchmarkTrainStep (onnx, go, xla:PLUGIN)")

// BenchmarkTrainStep times one TEMI train step with the real loss at the
// sizes of the performance target (train.DefaultStepBenchConfig: D=784,
// H=16, K=10, B=256, two layers of 512, bottleneck 256), after its untimed
// warm-up. bench/temi_step_compare.sh runs it against the PyTorch
// reference bench/temi_step_torch.py:
//
//	go test -tags onnx -run '^$' -bench TrainStep -benchtime 20x ./losses/temi
//
// Besides ns/op it reports ms/step, cpu-ms/step (process CPU time, all
// threads), busy-threads (threads on a CPU at least 10% of the time) and
// runnable-threads (mean number of threads running or waiting for a CPU):
// how many threads ONNX Runtime really uses (see train.StepTiming).
func BenchmarkTrainStep(b *testing.B) {
	if strings.HasPrefix(*benchBackend, "onnx") && !onnxTag {
		msg := "!!! TEMI TRAIN STEP NOT BENCHMARKED: this test binary was built without `-tags onnx`; " +
			"run `go test -tags onnx -run '^$' -bench TrainStep ./losses/temi` (or pass -temi.backend=go) !!!"
		fmt.Fprintln(os.Stderr, msg)
		b.Skip(msg)
	}
	s, err := train.NewStepBench(b.Context(), Loss{}, *benchBackend, train.DefaultStepBenchConfig())
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

// TestTrainStepBenchRuns keeps the benchmark's path working in ordinary
// test runs: a few steps of the real loss at small sizes on every backend.
func TestTrainStepBenchRuns(t *testing.T) {
	for _, name := range testBackends {
		t.Run(name, func(t *testing.T) {
			if name == "onnx" && !onnxTag {
				t.Skip("SKIPPING THE ONNX BACKEND: built without the onnx tag; run `go test -tags onnx ./losses/temi`")
			}
			cfg := train.StepBenchConfig{D: 12, Heads: 3, Clusters: 5, Batch: 8, Layers: 2, Hidden: 10, Bottleneck: 7,
				Rows: 40, Warmup: 2, Steps: 3, Seed: 4}
			tm, err := train.TimeSteps(t.Context(), Loss{}, name, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tm.Backend, name) || tm.Steps != 3 || tm.WallMS <= 0 {
				t.Errorf("timing %+v: want 3 steps on %s with a positive time", tm, name)
			}
			// Step fails on a non-finite loss; a zero one would mean the
			// loss never reached the step.
			if tm.LastLoss == 0 {
				t.Errorf("last loss %v; want the TEMI loss of the last step", tm.LastLoss)
			}
		})
	}
}
