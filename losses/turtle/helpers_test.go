package main

import (
	"math"
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/losses/losstest"
	"github.com/gomlx/compute"
)

// TestMain removes the plugin binary the wire test builds.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// computeBackend is a backend, as forEachBackend hands it.
type computeBackend = compute.Backend

// forEachBackend runs fn as a subtest on every backend a loss must run on
// (losstest.Backends; onnx needs `go test -tags onnx` and skips loudly
// without it), each opened once per test binary.
func forEachBackend(t *testing.T, fn func(t *testing.T, name string, be compute.Backend)) {
	for _, name := range losstest.Backends {
		t.Run(name, func(t *testing.T) {
			losstest.SkipUntagged(t, name)
			fn(t, name, losstest.OpenBackend(t, name))
		})
	}
}

// maxRelDiff is max |got - want| relative to max |want| (absolute when
// want is all zeros).
func maxRelDiff(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	scale, diff := 0.0, 0.0
	for i := range want {
		scale = math.Max(scale, math.Abs(want[i]))
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		diff = math.Max(diff, d)
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}
