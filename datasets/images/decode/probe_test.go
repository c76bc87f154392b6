package decode

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestJPEGEnd checks the end-of-image search: data after the EOI (a
// motion photo's video) is fine however long, and an EOI before the image
// data (an embedded thumbnail's) does not make a truncated file complete.
func TestJPEGEnd(t *testing.T) {
	jpg, err := os.ReadFile("testdata/img/jpeg_420.jpg")
	if err != nil {
		t.Fatal(err)
	}
	long := append(bytes.Clone(jpg), bytes.Repeat([]byte("video"), 40000)...)
	if _, err := ProbeBytes(long); err != nil {
		t.Errorf("JPEG followed by 200 KB of other data: %v", err)
	}
	// An APP1 segment holding FF D9 (as a thumbnail does), then the image
	// cut in its data.
	thumb := []byte{0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 0xFF, 0xD9, 0x00, 0x00}
	withThumb := append(append([]byte{0xFF, 0xD8}, thumb...), jpg[2:]...)
	if _, err := ProbeBytes(withThumb); err != nil {
		t.Fatalf("JPEG with an EOI in an APP1 segment: %v", err)
	}
	// Cut in the entropy-coded data, after the start of scan: Pillow opens
	// it and fails on load ("image file is truncated").
	sos := bytes.Index(withThumb, []byte{0xFF, 0xDA})
	if sos < 0 {
		t.Fatal("no start of scan in jpeg_420.jpg")
	}
	cut := withThumb[:sos+(len(withThumb)-sos)/2]
	if _, err := ProbeBytes(cut); err == nil || !strings.Contains(err.Error(), "no end-of-image marker") {
		t.Errorf("truncated JPEG with an EOI in an APP1 segment: %v", err)
	}
	// Cut in the tables before the scan: Pillow fails on open ("Truncated
	// File Read").
	if _, err := ProbeBytes(withThumb[:sos-10]); err == nil || !strings.Contains(err.Error(), "truncated JPEG: the file ends inside") {
		t.Errorf("JPEG cut before its scan: %v", err)
	}
	// Far from the end: the forward scan finds the EOI.
	far := append(bytes.Clone(jpg[:len(jpg)-2]), 0xFF, 0xD9)
	far = append(far, bytes.Repeat([]byte{0}, 100<<10)...)
	if _, err := ProbeBytes(far); err != nil {
		t.Errorf("JPEG with 100 KiB of zeros after its EOI: %v", err)
	}
}

// TestPNGTrailing: data after IEND is allowed (the chunks lead to IEND).
func TestPNGTrailing(t *testing.T) {
	png, err := os.ReadFile("testdata/img/png_rgb.png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ProbeBytes(append(bytes.Clone(png), "trailing"...)); err != nil {
		t.Errorf("PNG with data after IEND: %v", err)
	}
	img, err := Decode(append(bytes.Clone(png), "trailing"...))
	if err != nil || img.Width == 0 {
		t.Errorf("decode of a PNG with data after IEND: %v", err)
	}
}

// TestDecompressionBomb: images above Pillow's limit are refused from the
// header, before any memory is allocated for them.
func TestDecompressionBomb(t *testing.T) {
	// Pillow checks the size on open, before it finds that the pixels are
	// missing: "Image size (400000000 pixels) exceeds limit of 178956970
	// pixels, could be decompression bomb DOS attack."
	b := []byte("P5\n20000 20000\n255\n")
	_, err := ProbeBytes(b)
	if err == nil || !strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("a 20000x20000 PGM header: %v", err)
	}
	// Just above the limit a bomb; just below it only truncated.
	b = []byte("P5\n13378 13377\n255\n") // 178,957,506 > limit
	if _, err := ProbeBytes(b); err == nil || !strings.Contains(err.Error(), "decompression bomb") {
		t.Errorf("a 13378x13377 PGM header: %v", err)
	}
	b = []byte("P5\n13377 13377\n255\n") // 178,944,129 <= limit
	if _, err := ProbeBytes(b); err == nil || !strings.Contains(err.Error(), "truncated PNM") {
		t.Errorf("a 13377x13377 PGM header without pixels: %v", err)
	}
}
