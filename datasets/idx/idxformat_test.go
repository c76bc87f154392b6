package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// encodeIDX writes an idx file: magic 0x0000<typ><len(dims)>, big-endian
// dims, then data as given.
func encodeIDX(typ byte, dims []int, data []byte) []byte {
	out := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		out = binary.BigEndian.AppendUint32(out, uint32(d))
	}
	return append(out, data...)
}

func seq(n int, mod int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7 + 3) % mod)
	}
	return b
}

func TestParseIDXValid(t *testing.T) {
	img := encodeIDX(0x08, []int{3, 4, 5}, seq(60, 256))
	a, err := parseIDX("img", img)
	if err != nil {
		t.Fatal(err)
	}
	if a.Magic != magicImages || fmt.Sprint(a.Dims) != "[3 4 5]" || !bytes.Equal(a.Data, seq(60, 256)) {
		t.Fatalf("parsed %+v", a)
	}
	im, err := decodeImages("img", a, false)
	if err != nil || im.N != 3 || im.H != 4 || im.W != 5 {
		t.Fatalf("decodeImages: %+v, %v", im, err)
	}
	// A wider element type: 2 x int32 is 8 data bytes.
	a, err = parseIDX("i32", encodeIDX(0x0C, []int{2}, make([]byte, 8)))
	if err != nil || a.Magic != 0x00000C01 || len(a.Data) != 8 {
		t.Fatalf("int32 file: %+v, %v", a, err)
	}
}

// TestParseIDXErrors checks that each kind of damage is reported with the
// file name and the byte offset where it was found.
func TestParseIDXErrors(t *testing.T) {
	good := encodeIDX(0x08, []int{2, 3, 3}, seq(18, 256)) // 16-byte header + 18 bytes
	cases := []struct {
		name   string
		data   []byte
		offset int64
		msg    string
	}{
		{"empty", nil, 0, "magic number"},
		{"short magic", []byte{0, 0}, 2, "magic number"},
		{"gzip bytes", []byte{0x1f, 0x8b, 8, 0, 0, 0}, 0, "bad magic number 0x1F8B0800"},
		{"unknown type", []byte{0, 0, 0x07, 1, 0, 0, 0, 0}, 2, "unknown element type 0x07"},
		{"no dims", []byte{0, 0, 0x08, 0}, 3, "0 dimensions"},
		{"truncated dims", good[:10], 10, "inside the header"},
		{"truncated data", good[:30], 30, "truncated"},
		{"header only", good[:16], 16, "truncated"},
		{"extra bytes", append(bytes.Clone(good), 1, 2, 3), 34, "3 extra bytes"},
		{"huge dims", encodeIDX(0x0E, []int{1 << 30, 1 << 30, 1 << 30}, nil), 8, "garbled header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseIDX("dir/some-file", c.data)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("want a *FormatError, got %v", err)
			}
			if fe.Offset != c.offset {
				t.Errorf("offset %d, want %d (%v)", fe.Offset, c.offset, err)
			}
			msg := err.Error()
			wantAt := fmt.Sprintf("at byte offset %d", c.offset)
			if !strings.Contains(msg, "dir/some-file") || !strings.Contains(msg, wantAt) || !strings.Contains(msg, c.msg) {
				t.Errorf("message %q should name the file, %q and %q", msg, wantAt, c.msg)
			}
		})
	}
}

func TestDecodeRejectsWrongKinds(t *testing.T) {
	labels, err := parseIDX("l", encodeIDX(0x08, []int{4}, seq(4, 10)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeImages("labels-as-images", labels, false); err == nil ||
		!strings.Contains(err.Error(), "labels-as-images") || !strings.Contains(err.Error(), "3 dimensions (magic 0x00000803)") {
		t.Errorf("labels file accepted as images: %v", err)
	}
	floats, err := parseIDX("f", encodeIDX(0x0D, []int{2, 2, 2}, make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeImages("float-images", floats, false); err == nil || !strings.Contains(err.Error(), "float32 data with 3 dimension(s)") {
		t.Errorf("float32 images accepted: %v", err)
	}
	images, err := parseIDX("i", encodeIDX(0x08, []int{1, 2, 2}, seq(4, 256)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeLabels("images-as-labels", images, true); err == nil || !strings.Contains(err.Error(), "1 dimension (magic 0x00000801)") {
		t.Errorf("images file accepted as labels: %v", err)
	}
	empty, err := parseIDX("e", encodeIDX(0x08, []int{0, 28, 28}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeImages("empty", empty, false); err == nil || !strings.Contains(err.Error(), "at least one image") {
		t.Errorf("empty images file accepted: %v", err)
	}
}

// FuzzParseIDX checks that the parser never panics, that a rejected input
// is reported at an offset inside it, and that an accepted input is exactly
// its header plus the announced data (re-encoding gives the same bytes).
func FuzzParseIDX(f *testing.F) {
	f.Add(encodeIDX(0x08, []int{2, 3, 3}, seq(18, 256)))
	f.Add(encodeIDX(0x08, []int{5}, seq(5, 10)))
	f.Add(encodeIDX(0x0B, []int{2, 2}, seq(8, 256)))
	f.Add(encodeIDX(0x0E, []int{1}, seq(8, 256)))
	f.Add(encodeIDX(0x08, []int{2, 3, 3}, seq(17, 256)))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseIDX("fuzz", data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FormatError: %v", err)
			}
			if fe.Offset < 0 || fe.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d-byte input: %v", fe.Offset, len(data), err)
			}
			return
		}
		size := idxTypes[a.Type].size
		n := size
		for _, d := range a.Dims {
			n *= d
		}
		if len(a.Data) != n {
			t.Fatalf("data has %d bytes, dims %v of size %d need %d", len(a.Data), a.Dims, size, n)
		}
		if re := encodeIDX(a.Type, a.Dims, a.Data); !bytes.Equal(re, data) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
