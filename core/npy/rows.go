package npy

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// RowWriter writes a 2-D "<f4" array block of rows by block of rows, so an
// array larger than memory (embeddings of a big data set) never has to be
// held whole. It writes a temporary file beside the destination; only
// Commit renames it into place, so a reader never sees a partial array.
type RowWriter struct {
	f          *os.File
	path       string
	rows, cols int
	header     int64
	written    int // rows written so far, in order
	buf        []byte
}

// CreateFloat32Rows starts writing a rows x cols float32 array to path.
func CreateFloat32Rows(path string, rows, cols int) (*RowWriter, error) {
	if rows < 0 || cols <= 0 {
		return nil, fmt.Errorf("npy: bad shape [%d, %d]", rows, cols)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	hdr := EncodeHeader("<f4", []int{rows, cols})
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &RowWriter{f: f, path: path, rows: rows, cols: cols, header: int64(len(hdr))}, nil
}

// Append writes the next len(vals)/cols rows.
func (w *RowWriter) Append(vals []float32) error {
	if len(vals)%w.cols != 0 {
		return fmt.Errorf("npy: %d values are not whole rows of %d", len(vals), w.cols)
	}
	n := len(vals) / w.cols
	if w.written+n > w.rows {
		return fmt.Errorf("npy: %d rows written to an array of %d", w.written+n, w.rows)
	}
	if cap(w.buf) < 4*len(vals) {
		w.buf = make([]byte, 4*len(vals))
	}
	b := w.buf[:4*len(vals)]
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	w.written += n
	return nil
}

// Commit checks every row was written, then makes the file durable and
// renames it into place.
func (w *RowWriter) Commit() error {
	if w.written != w.rows {
		w.Abort()
		return fmt.Errorf("npy: %s: %d of %d rows written", w.path, w.written, w.rows)
	}
	if err := commitTemp(w.f, w.path); err != nil {
		w.Abort()
		return err
	}
	return nil
}

// Abort discards the temporary file. Safe after Commit (then a no-op).
func (w *RowWriter) Abort() {
	w.f.Close()
	if _, err := os.Stat(w.f.Name()); err == nil {
		os.Remove(w.f.Name())
	}
}
