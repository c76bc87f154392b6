package testbackends

import (
	"strings"
	"testing"
)

func TestExtra(t *testing.T) {
	for env, want := range map[string]string{"": "", "xla": "xla", " go, xla ,onnx,xla:/p.so,xla": "xla xla:/p.so"} {
		t.Setenv(Env, env)
		if got := strings.Join(Extra(), " "); got != want {
			t.Errorf("%s=%q: %q, want %q", Env, env, got, want)
		}
	}
}
