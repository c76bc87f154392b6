package trainbench

import (
	"fmt"
	"os"
	"testing"
)

// skipWithoutONNX skips loudly: a build without the onnx tag has not
// checked the fast backend at all.
func skipWithoutONNX(t testing.TB) {
	t.Helper()
	if !onnxTagged {
		msg := "!!! ONNX BACKEND NOT TESTED: this test binary was built without `-tags onnx`; " +
			"run `go test -tags onnx ./core/train/trainbench` to benchmark the onnx backend too !!!"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
}
