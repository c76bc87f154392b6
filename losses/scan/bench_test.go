package main

import (
	"flag"
	"testing"

	"github.com/clusterlab/clusterlab/losses/losstest"
)

var benchBackend = flag.String("scan.backend", "onnx", "backend of BenchmarkTrainStep (onnx, go, xla:PLUGIN)")

// BenchmarkTrainStep times one SCAN train step with the real loss at the
// sizes of the performance target (trainbench.DefaultStepBenchConfig), after
// its untimed warm-up:
//
//	go test -tags onnx -run '^$' -bench TrainStep -benchtime 20x ./losses/scan
func BenchmarkTrainStep(b *testing.B) { losstest.BenchTrainStep(b, Loss{}, *benchBackend) }

// TestTrainStepBenchRuns keeps the benchmark's path working in ordinary
// test runs: a few train steps of the real loss (which has no state) at
// small sizes on every backend.
func TestTrainStepBenchRuns(t *testing.T) { losstest.CheckTrainStepBench(t, Loss{}, nil) }
