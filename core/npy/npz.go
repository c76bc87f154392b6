package npy

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// NPZArray is one float32 array of a .npz archive.
type NPZArray struct {
	Name  string // the entry's name without ".npy" ("teacher/w0")
	Shape []int
	Data  []float32 // row-major, len = product of Shape
}

// WriteNPZ writes a NumPy .npz archive atomically (WriteAtomic): an
// uncompressed zip of the arrays as float32 .npy entries, then one file
// named jsonName holding jsonDoc (a checkpoint's meta.json; none when
// jsonName is empty). numpy.load(path)[name] reads an array back.
func WriteNPZ(path string, arrays []NPZArray, jsonName string, jsonDoc []byte) error {
	return WriteAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, a := range arrays {
			if err := checkShape(len(a.Data), a.Shape); err != nil {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
			if err := writeNPZEntry(zw, a.Name+".npy", a.Data, a.Shape); err != nil {
				return err
			}
		}
		if jsonName != "" {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: jsonName, Method: zip.Store})
			if err != nil {
				return err
			}
			if _, err := f.Write(jsonDoc); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

func writeNPZEntry(zw *zip.Writer, name string, data []float32, shape []int) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		return err
	}
	if _, err := f.Write(EncodeHeader("<f4", shape)); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, v := range data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			if _, err := f.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	return err
}

// NPZ is an open .npz archive.
type NPZ struct {
	path  string
	zr    *zip.ReadCloser
	files map[string]*zip.File
}

// OpenNPZ opens a .npz archive for reading; an error wraps
// os.ErrNotExist when there is no file.
func OpenNPZ(path string) (*NPZ, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	z := &NPZ{path: path, zr: zr, files: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		z.files[f.Name] = f
	}
	return z, nil
}

// Close closes the archive.
func (z *NPZ) Close() error { return z.zr.Close() }

// Has reports whether the archive has a file of that name ("meta.json",
// "teacher/w0.npy").
func (z *NPZ) Has(name string) bool { _, ok := z.files[name]; return ok }

// ErrNPZMissing is wrapped by the errors of reading an entry the archive
// does not have.
var ErrNPZMissing = errors.New("entry missing")

// JSON decodes the file name of the archive into v.
func (z *NPZ) JSON(name string, v any) error {
	f, ok := z.files[name]
	if !ok {
		return fmt.Errorf("%s has no %s: %w", z.path, name, ErrNPZMissing)
	}
	rc, err := f.Open()
	if err != nil {
		return fmt.Errorf("%s: %s: %w", z.path, name, err)
	}
	defer rc.Close()
	if err := json.NewDecoder(rc).Decode(v); err != nil {
		return fmt.Errorf("%s: %s: %w", z.path, name, err)
	}
	return nil
}

// Float32 reads the array name (without ".npy") as float32 values,
// checking its shape when shape is not nil; it returns the values and
// their shape.
func (z *NPZ) Float32(name string, shape []int) ([]float32, []int, error) {
	f, ok := z.files[name+".npy"]
	if !ok {
		return nil, nil, fmt.Errorf("%s lacks %s.npy: %w", z.path, name, ErrNPZMissing)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", z.path, name, err)
	}
	defer rc.Close()
	h, raw, err := Decode(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", z.path, name, err)
	}
	if shape != nil && !slices.Equal(h.Shape, shape) {
		return nil, nil, fmt.Errorf("%s: %s has shape %v, want %v", z.path, name, h.Shape, shape)
	}
	v, err := ToFloat32(h, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", z.path, name, err)
	}
	return v, h.Shape, nil
}
