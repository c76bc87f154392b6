package npy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestStringsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "names.npy")
	want := []string{"cats/a.jpg", "", "dogs/ünïcödé 猫.png", "x"}
	if err := WriteStrings(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStrings(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("read %q, wrote %q", got, want)
	}
	if err := WriteStrings(path, []string{"a\x00b"}); err == nil {
		t.Error("a NUL inside a string was accepted")
	}
	// numpy reads it as the same strings, when Debian's numpy is here.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no %s to check with numpy", py)
	}
	out, err := exec.Command(py, "-c", "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.dtype.str); print('|'.join(a.tolist()))", path).CombinedOutput()
	if err != nil {
		t.Skipf("numpy not usable: %v: %s", err, out)
	}
	if string(out) != "<U18\ncats/a.jpg||dogs/ünïcödé 猫.png|x\n" {
		t.Errorf("numpy read %q", out)
	}
}
