package npy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// WriteNPZ writes what OpenNPZ reads back: float32 arrays by name and
// shape, and the JSON file; missing entries and other shapes are errors.
func TestNPZRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck.npz")
	arrays := []NPZArray{
		{Name: "teacher/w0", Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, -6}},
		{Name: "prior", Shape: []int{2}, Data: []float32{0.25, 0.75}},
	}
	if err := WriteNPZ(path, arrays, "meta.json", []byte(`{"epoch": 3}`)); err != nil {
		t.Fatal(err)
	}
	z, err := OpenNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	for _, a := range arrays {
		v, shape, err := z.Float32(a.Name, a.Shape)
		if err != nil || !slices.Equal(v, a.Data) || !slices.Equal(shape, a.Shape) {
			t.Errorf("%s: %v %v %v", a.Name, v, shape, err)
		}
	}
	var meta struct{ Epoch int }
	if err := z.JSON("meta.json", &meta); err != nil || meta.Epoch != 3 || !z.Has("meta.json") {
		t.Errorf("meta.json: %+v %v", meta, err)
	}
	if _, _, err := z.Float32("prior", []int{3}); err == nil || !strings.Contains(err.Error(), "has shape [2], want [3]") {
		t.Errorf("other shape: %v", err)
	}
	if _, _, err := z.Float32("student/w0", nil); !errors.Is(err, ErrNPZMissing) {
		t.Errorf("missing entry: %v", err)
	}
	if err := WriteNPZ(path, []NPZArray{{Name: "x", Shape: []int{4}, Data: []float32{1}}}, "", nil); err == nil {
		t.Error("an array of the wrong length was written")
	}
	if _, err := OpenNPZ(filepath.Join(t.TempDir(), "none.npz")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no file: %v", err)
	}
}
