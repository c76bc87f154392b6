package npy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestMapFloat32MatchesReadFloat32(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	want := make([]float32, 7*5)
	for i := range want {
		want[i] = float32(i)*0.25 - 3
	}
	if err := WriteFloat32(path, want, 7, 5); err != nil {
		t.Fatal(err)
	}
	got, shape, unmap, err := MapFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{7, 5}) || !slices.Equal(got, want) {
		t.Fatalf("mapped shape %v data %v, want [7 5] %v", shape, got, want)
	}
	if err := unmap(); err != nil {
		t.Fatal(err)
	}
	if err := unmap(); err != nil {
		t.Fatalf("second unmap: %v", err)
	}

	empty := filepath.Join(dir, "empty.npy")
	if err := WriteFloat32(empty, nil, 0, 3); err != nil {
		t.Fatal(err)
	}
	got, shape, unmap, err = MapFloat32(empty)
	if err != nil || len(got) != 0 || !slices.Equal(shape, []int{0, 3}) {
		t.Fatalf("empty array: %v %v %v", got, shape, err)
	}
	_ = unmap()
}

func TestMapFloat32Rejects(t *testing.T) {
	dir := t.TempDir()
	ints := filepath.Join(dir, "i.npy")
	if err := WriteInt32(ints, []int32{1, 2, 3}, 3); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := MapFloat32(ints); !errors.Is(err, ErrFormat) {
		t.Fatalf("int32 file: got %v, want ErrFormat", err)
	}
	short := filepath.Join(dir, "short.npy")
	if err := WriteFloat32(short, []float32{1, 2, 3, 4}, 4); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(short)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, b[:len(b)-2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := MapFloat32(short); !errors.Is(err, ErrFormat) {
		t.Fatalf("truncated file: got %v, want ErrFormat", err)
	}
	if _, _, _, err := MapFloat32(filepath.Join(dir, "missing.npy")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: got %v", err)
	}
}
