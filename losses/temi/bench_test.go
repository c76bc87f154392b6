package main

import (
	"flag"
	"testing"

	"github.com/clusterlab/clusterlab/losses/internal/losstest"
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
func BenchmarkTrainStep(b *testing.B) { losstest.BenchTrainStep(b, Loss{}, *benchBackend) }

// TestTrainStepBenchRuns keeps the benchmark's path working in ordinary
// test runs: a few steps of the real loss at small sizes on every backend.
func TestTrainStepBenchRuns(t *testing.T) { losstest.CheckTrainStepBench(t, Loss{}, nil) }
