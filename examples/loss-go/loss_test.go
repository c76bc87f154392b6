package main

import (
	"testing"

	"github.com/clusterlab/clusterlab/losses/losstest"
)

// TestConformance runs the suite every clusterlab loss runs: schema,
// identity, option errors, the step on the go and onnx backends, and short
// fits that learn separated blobs, resume and repeat themselves.
func TestConformance(t *testing.T) {
	losstest.Conformance(t, Loss{}, losstest.ConformanceCase{MinAcc: 0.9})
}
