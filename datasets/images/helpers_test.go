package main

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// fixturesDir holds the decode package's image files, one per format and
// mode, written by scripts/make_image_fixtures.py.
const fixturesDir = "decode/testdata/img"

// TestMain removes the executables the end-to-end tests build.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }

// writePNG writes an h x w RGB PNG whose pixels depend on seed.
func writePNG(t testing.TB, path string, h, w, seed int) {
	t.Helper()
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(seed*31 + x*7), uint8(seed*17 + y*11), uint8(seed*5 + x*y), 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func mustSymlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symbolic links: %v", err)
	}
}

// wantFault checks that err is invalid input attributed to option key
// (exit status 2, the runner names the key) and mentions every part.
func wantFault(t testing.TB, what string, err error, key string, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	t.Logf("%s: %v", what, err)
	var oe *core.OptionError
	if !errors.As(err, &oe) || oe.Key != key {
		t.Errorf("%s: %v is not an option error naming %q", what, err, key)
	}
	wantInvalid(t, what, err, parts...)
}

// wantInvalid checks that err is invalid input and mentions every part.
func wantInvalid(t testing.TB, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("%s: %v is not invalid input (exit status 2)", what, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}
