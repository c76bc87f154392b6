package backend

import (
	"errors"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// TestOpenAndRun runs a small matmul on every backend available in this
// build and checks the numbers.
func TestOpenAndRun(t *testing.T) {
	specs := []string{"go", "auto"}
	if onnxCompiledIn {
		specs = append(specs, "onnx")
	}
	for _, spec := range specs {
		o, err := Open(spec)
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		t.Logf("%s -> %s %s", spec, o.Name, o.Why)
		exec, err := graph.NewExec(o.Backend, func(a, b *graph.Node) *graph.Node { return graph.MatMul(a, b) })
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Call1(tensors.FromValue([][]float32{{1, 2}, {3, 4}}), tensors.FromValue([][]float32{{1, 0}, {1, 1}}))
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		got, err := tensors.CopyFlatData[float32](out)
		if err != nil {
			t.Fatal(err)
		}
		want := []float32{3, 2, 7, 4}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: got %v want %v", spec, got, want)
			}
		}
	}
}

func TestOpenUnknown(t *testing.T) {
	if _, err := Open("tpu"); err == nil {
		t.Fatal("want error for unknown backend")
	}
	if _, err := Open("xla:relative.so"); err == nil {
		t.Fatal("want error for missing xla plugin")
	}
	if _, err := Open("xla:/no/such/plugin.so,tf32=false"); err == nil || !strings.Contains(err.Error(), "PJRT plugin /no/such/plugin.so not found") {
		t.Fatalf("xla with options: %v, want the plugin path without them", err)
	}
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "auto", "go"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q): %v", ok, err)
		}
	}
	for spec, want := range map[string]string{
		"cuda":                   `unknown backend "cuda"`,
		"onnx:tpu":               "want onnx, onnx:cpu or onnx:cuda",
		"xla:/no/such/plugin.so": "/no/such/plugin.so not found",
		// go-xla's options follow the plugin's path after a comma.
		"xla:/no/such/plugin.so,tf32=false": "PJRT plugin /no/such/plugin.so not found",
		"auto:x":                            "auto takes no setting",
	} {
		err := Check(spec)
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("Check(%q) = %v, want invalid input containing %q", spec, err, want)
		}
	}
}
