package main

import (
	"flag"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/losses/losstest"
)

var benchBackend = flag.String("pmi.backend", "onnx", "backend of BenchmarkTrainStep (onnx, go, xla:PLUGIN)")

// BenchmarkTrainStep times one PMI train step with the real loss at the
// sizes of the performance target (trainbench.DefaultStepBenchConfig), after
// its untimed warm-up:
//
//	go test -tags onnx -run '^$' -bench TrainStep -benchtime 20x ./losses/pmi
func BenchmarkTrainStep(b *testing.B) { losstest.BenchTrainStep(b, Loss{}, *benchBackend) }

// TestTrainStepBenchRuns keeps the benchmark's path working in ordinary
// test runs: a few train steps of the real loss at small sizes on every
// backend, PMI and WMI.
func TestTrainStepBenchRuns(t *testing.T) {
	for _, weight := range []string{WeightNone, WeightHead} {
		t.Run(weight, func(t *testing.T) { losstest.CheckTrainStepBench(t, Loss{}, core.Options{OptWeight: weight}) })
	}
}
