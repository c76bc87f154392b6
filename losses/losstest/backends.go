package losstest

import (
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testbackends"
	"github.com/gomlx/compute"
)

// Backends a loss must run on. The onnx one needs `go test -tags onnx`
// (the Makefile's test target builds with it); without the tag its
// subtests skip with a loud message. $CLUSTERLAB_TEST_BACKENDS adds
// others (xla on a GPU: internal/testbackends).
var Backends = append([]string{"go", "onnx"}, testbackends.Extra()...)

var (
	backendsMu sync.Mutex
	opened     = map[string]compute.Backend{}
)

// SkipUntagged skips t, loudly, when it needs the onnx backend and the
// test binary was built without the onnx tag.
func SkipUntagged(t testing.TB, backendName string) {
	t.Helper()
	if backendName == "onnx" && !OnnxTag {
		t.Skip("SKIPPING THE ONNX BACKEND: this test binary was built without the onnx tag; " +
			"run `go test -tags onnx ./losses/...` (as `make test` does) to check the loss on ONNX Runtime")
	}
}

// ForEachBackend runs fn as a subtest on every backend of Backends, each
// opened once per test binary.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b compute.Backend)) {
	t.Helper()
	for _, name := range Backends {
		t.Run(name, func(t *testing.T) {
			SkipUntagged(t, name)
			fn(t, OpenBackend(t, name))
		})
	}
}

// OpenBackend opens a backend once per test binary (opening onnx loads
// ONNX Runtime; the go one is cheap but shared all the same).
func OpenBackend(t testing.TB, name string) compute.Backend {
	t.Helper()
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b, ok := opened[name]; ok {
		return b
	}
	o, err := backend.Open(name)
	if err != nil {
		t.Fatalf("open backend %s: %v", name, err)
	}
	opened[name] = o.Backend
	return o.Backend
}
