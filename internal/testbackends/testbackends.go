// Package testbackends names the compute backends the backend-agreement
// tests run on beyond go and onnx: those of $CLUSTERLAB_TEST_BACKENDS,
// comma-separated (e.g. CLUSTERLAB_TEST_BACKENDS=xla with
// $CLUSTERLAB_XLA_PLUGIN naming a CUDA PJRT plugin, as the GPU session
// bench/gpu_session.sh runs them). Each is opened with backend.Open by
// its name, so "xla" opens $CLUSTERLAB_XLA_PLUGIN.
package testbackends

import (
	"os"
	"strings"
)

// Env lists further backends for the tests, comma-separated.
const Env = "CLUSTERLAB_TEST_BACKENDS"

// Extra are the backends of $CLUSTERLAB_TEST_BACKENDS beyond go and onnx,
// in order, each once.
func Extra() []string {
	var out []string
	for _, b := range strings.Split(os.Getenv(Env), ",") {
		b = strings.TrimSpace(b)
		if b == "" || b == "go" || b == "onnx" {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == b
		}
		if !dup {
			out = append(out, b)
		}
	}
	return out
}
