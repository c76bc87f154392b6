package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// binaryRecords builds a binary batch: per image the label bytes, then the
// image's planes.
func binaryRecords(labels [][]byte, images []byte) []byte {
	var out []byte
	for i := range len(images) / imageBytes {
		for _, l := range labels {
			out = append(out, l[i])
		}
		out = append(out, images[i*imageBytes:(i+1)*imageBytes]...)
	}
	return out
}

func TestReadBinary(t *testing.T) {
	img := planar(3, 5)
	ctx := context.Background()
	t.Run("cifar10", func(t *testing.T) {
		data := binaryRecords([][]byte{{9, 0, 4}}, img)
		b, err := readBinary(ctx, bytes.NewReader(data), int64(len(data)), 1)
		if err != nil {
			t.Fatal(err)
		}
		if b.n != 3 || !bytes.Equal(b.labels, []byte{9, 0, 4}) || b.coarse != nil {
			t.Fatalf("%d images, labels %v, coarse %v", b.n, b.labels, b.coarse)
		}
		// Pixel (y, x) of image i, channel c, is plane c at y*32+x.
		for _, p := range []struct{ i, y, x, c int }{{0, 0, 0, 0}, {1, 31, 0, 1}, {2, 7, 19, 2}, {2, 31, 31, 2}} {
			got := b.pixels[p.i*imageBytes+(p.y*side+p.x)*channels+p.c]
			want := img[p.i*imageBytes+p.c*planeBytes+p.y*side+p.x]
			if got != want {
				t.Errorf("image %d pixel (%d,%d) channel %d: %d, want %d", p.i, p.y, p.x, p.c, got, want)
			}
		}
	})
	t.Run("cifar100 coarse then fine", func(t *testing.T) {
		data := binaryRecords([][]byte{{1, 2, 3}, {40, 50, 60}}, img)
		b, err := readBinary(ctx, bytes.NewReader(data), int64(len(data)), 2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.coarse, []byte{1, 2, 3}) || !bytes.Equal(b.labels, []byte{40, 50, 60}) {
			t.Fatalf("coarse %v fine %v", b.coarse, b.labels)
		}
	})
	t.Run("errors", func(t *testing.T) {
		data := binaryRecords([][]byte{{1, 2, 3}}, img)
		var re *recordError
		_, err := readBinary(ctx, bytes.NewReader(nil), 0, 1)
		if !errors.As(err, &re) || re.offset != 0 || !strings.Contains(err.Error(), "the file is empty") {
			t.Errorf("empty: %v", err)
		}
		_, err = readBinary(ctx, bytes.NewReader(data[:len(data)-5]), int64(len(data)-5), 1)
		if !errors.As(err, &re) || re.offset != 2*3073 || !strings.Contains(err.Error(), "the last record is cut after 3068 bytes") {
			t.Errorf("cut record: %v", err)
		}
		// A CIFAR-10 file read as CIFAR-100: 3 records of 3073 bytes are
		// not whole 3074-byte records.
		_, err = readBinary(ctx, bytes.NewReader(data), int64(len(data)), 2)
		if !errors.As(err, &re) || re.offset != 2*3074 || !strings.Contains(err.Error(), "not a CIFAR-100 binary batch") {
			t.Errorf("wrong record size: %v", err)
		}
		// The stream ends before the size announced (a truncated archive).
		_, err = readBinary(ctx, bytes.NewReader(data[:4000]), int64(len(data)), 1)
		if !errors.As(err, &re) || re.offset != 3073 || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("short stream: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err = readBinary(cctx, bytes.NewReader(data), int64(len(data)), 1); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	})
}

func TestParseNames(t *testing.T) {
	names, err := parseNames([]byte("airplane\r\n automobile \nbird\n\n\n"))
	if err != nil || !slices.Equal(names, []string{"airplane", "automobile", "bird"}) {
		t.Errorf("got %q, %v", names, err)
	}
	if names, err := parseNames([]byte("a\nb")); err != nil || !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("no final newline: %q, %v", names, err)
	}
	var re *recordError
	if _, err := parseNames([]byte("a\n\nc\n")); !errors.As(err, &re) || re.offset != 2 || !strings.Contains(err.Error(), "line 2 is blank") {
		t.Errorf("blank line: %v", err)
	}
	if _, err := parseNames([]byte("\n \n")); err == nil || !strings.Contains(err.Error(), "holds no class names") {
		t.Errorf("no names: %v", err)
	}
}

// FuzzBinary feeds arbitrary bytes to the binary record parser and the
// names parser: errors or consistent results, never a panic.
func FuzzBinary(f *testing.F) {
	f.Add(binaryRecords([][]byte{{3}}, planar(1, 1)), false)
	f.Add(binaryRecords([][]byte{{3}, {77}}, planar(1, 2)), true)
	f.Add([]byte("airplane\nautomobile\n\n"), false)
	f.Add([]byte{1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, data []byte, c100 bool) {
		labelBytes := 1
		if c100 {
			labelBytes = 2
		}
		b, err := readBinary(context.Background(), bytes.NewReader(data), int64(len(data)), labelBytes)
		if err == nil {
			if b.n*(labelBytes+imageBytes) != len(data) || len(b.pixels) != b.n*imageBytes || len(b.labels) != b.n {
				t.Fatalf("%d bytes gave %d images, %d pixels, %d labels", len(data), b.n, len(b.pixels), len(b.labels))
			}
			// The first image's first pixel is its red, green and blue plane starts.
			if b.pixels[0] != data[labelBytes] || b.pixels[1] != data[labelBytes+planeBytes] || b.pixels[2] != data[labelBytes+2*planeBytes] {
				t.Fatalf("first pixel %v is not the plane starts", b.pixels[:3])
			}
			if b.labels[0] != data[labelBytes-1] {
				t.Fatalf("first label %d, record starts %v", b.labels[0], data[:labelBytes])
			}
		} else if re := (*recordError)(nil); !errors.As(err, &re) || re.offset < 0 || re.offset > int64(len(data)) {
			t.Fatalf("error %v is not a recordError inside the data", err)
		}
		if names, err := parseNames(data); err == nil {
			for _, n := range names {
				if n == "" || n != strings.TrimSpace(n) {
					t.Fatalf("bad name %q", n)
				}
			}
		}
	})
}
