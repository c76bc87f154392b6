package npy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The files in testdata were written by numpy 1.24 (np.save).
func TestReadNumpyFiles(t *testing.T) {
	want := []float32{1.5, -2.25, 3.0, 0.0, 1e-3, 65504.0}
	for _, name := range []string{"f4.npy", "f8.npy"} {
		got, shape, err := ReadFloat32(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 2 || shape[0] != 2 || shape[1] != 3 {
			t.Fatalf("%s: shape %v", name, shape)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: got %v want %v", name, got, want)
			}
		}
	}
	half, _, err := ReadFloat32("testdata/f2.npy")
	if err != nil {
		t.Fatal(err)
	}
	wantHalf := []float32{1.5, -2.25, 3.0, 0.0, 6.1035156e-05, 65504.0, 5.9604645e-08}
	for i := range wantHalf {
		if half[i] != wantHalf[i] {
			t.Fatalf("f2: got %v want %v", half, wantHalf)
		}
	}
	ints, _, err := ReadInt32("testdata/i8.npy")
	if err != nil || len(ints) != 4 || ints[1] != -1 || ints[3] != 1<<31-1 {
		t.Fatalf("i8: %v %v", ints, err)
	}
	u, _, err := ReadInt32("testdata/u1.npy")
	if err != nil || u[1] != 255 {
		t.Fatalf("u1: %v %v", u, err)
	}
	m, shape, err := ReadInt32("testdata/i4_2d.npy")
	if err != nil || shape[0] != 3 || shape[1] != 4 || m[11] != 11 {
		t.Fatalf("i4_2d: %v %v %v", m, shape, err)
	}
	v2, shape, err := ReadFloat32("testdata/v2.npy")
	if err != nil || len(shape) != 1 || v2[4] != 4 {
		t.Fatalf("v2: %v %v %v", v2, shape, err)
	}
	s, shape, err := ReadFloat32("testdata/scalar.npy")
	if err != nil || len(shape) != 0 || s[0] != 4.5 {
		t.Fatalf("scalar: %v %v %v", s, shape, err)
	}
	if _, _, err := ReadFloat32("testdata/fortran.npy"); !errors.Is(err, ErrFormat) {
		t.Fatalf("fortran order must be refused, got %v", err)
	}
	if _, _, err := ReadFloat32("testdata/i8.npy"); !errors.Is(err, ErrFormat) {
		t.Fatalf("int as float must be refused, got %v", err)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.npy")
	data := []float32{1, 2, 3, 4, 5, 6}
	if err := WriteFloat32(p, data, 3, 2); err != nil {
		t.Fatal(err)
	}
	got, shape, err := ReadFloat32(p)
	if err != nil || shape[0] != 3 || shape[1] != 2 || got[5] != 6 {
		t.Fatalf("%v %v %v", got, shape, err)
	}
	raw, _ := os.ReadFile(p)
	if (len(raw)-len(data)*4)%64 != 0 {
		t.Fatalf("header not padded to 64 bytes: total %d", len(raw))
	}
	// numpy's own header for the same array, byte for byte.
	ref, _ := os.ReadFile("testdata/f4.npy")
	if !bytes.Equal(EncodeHeader("<f4", []int{2, 3}), ref[:128]) {
		t.Fatalf("header differs from numpy's:\n%q\n%q", EncodeHeader("<f4", []int{2, 3}), ref[:128])
	}
	ip := filepath.Join(dir, "i.npy")
	if err := WriteInt32(ip, []int32{-5, 7}, 2); err != nil {
		t.Fatal(err)
	}
	iv, _, err := ReadInt32(ip)
	if err != nil || iv[0] != -5 || iv[1] != 7 {
		t.Fatalf("%v %v", iv, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestTruncatedAndGarbled(t *testing.T) {
	dir := t.TempDir()
	ref, _ := os.ReadFile("testdata/f4.npy")
	cases := map[string][]byte{
		"truncated": ref[:len(ref)-3],
		"extra":     append(append([]byte{}, ref...), 0),
		"nomagic":   append([]byte("XXNUMPY"), ref[7:]...),
		"empty":     {},
		"header":    ref[:20],
	}
	for name, b := range cases {
		p := filepath.Join(dir, name+".npy")
		os.WriteFile(p, b, 0o644)
		if _, _, err := ReadFloat32(p); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: want ErrFormat, got %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"f4.npy", "f2.npy", "i8.npy", "v2.npy", "scalar.npy"} {
		b, _ := os.ReadFile(filepath.Join("testdata", name))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, data, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if _, err := ToFloat32(h, data); err != nil {
			_, _ = ToInt64(h, data)
		}
	})
}
