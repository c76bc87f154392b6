package npy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRowWriterEqualsWriteFloat32(t *testing.T) {
	dir := t.TempDir()
	rows, cols := 7, 3
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i)*0.25 - 2
	}
	if err := WriteFloat32(filepath.Join(dir, "whole.npy"), vals, rows, cols); err != nil {
		t.Fatal(err)
	}
	w, err := CreateFloat32Rows(filepath.Join(dir, "rows.npy"), rows, cols)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rows.npy")); err == nil {
		t.Fatal("destination exists before Commit")
	}
	for _, blk := range [][2]int{{0, 2}, {2, 3}, {3, 7}} {
		if err := w.Append(vals[blk[0]*cols : blk[1]*cols]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(dir, "whole.npy"))
	b, _ := os.ReadFile(filepath.Join(dir, "rows.npy"))
	if string(a) != string(b) {
		t.Fatal("row-by-row file differs from WriteFloat32's")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestRowWriterRejectsShortAndLong(t *testing.T) {
	dir := t.TempDir()
	w, err := CreateFloat32Rows(filepath.Join(dir, "a.npy"), 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]float32{1, 2, 3}); err == nil {
		t.Error("partial row accepted")
	}
	if err := w.Append([]float32{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := w.Append([]float32{1, 2, 3, 4}); err == nil {
		t.Error("rows beyond the shape accepted")
	}
	if err := w.Commit(); err == nil {
		t.Error("Commit with 1 of 2 rows succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("files left after a failed Commit: %v", left)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left after a failed Commit: %v", left)
	}
}
