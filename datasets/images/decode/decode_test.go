package decode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
)

// fixture is one entry of testdata/index.json (written by scripts/make_image_fixtures.py).
type fixture struct {
	Format      string            `json:"format"`
	Mode        string            `json:"mode"`
	Size        [2]int            `json:"size"` // width, height
	Note        string            `json:"note"`
	Unsupported string            `json:"unsupported"`
	Cut         map[string]string `json:"cut"`
}

func fixtures(t *testing.T) ([]string, map[string]fixture) {
	t.Helper()
	b, err := os.ReadFile("testdata/index.json")
	if err != nil {
		t.Fatalf("%v (make them with /usr/bin/python3 scripts/make_image_fixtures.py)", err)
	}
	var idx map[string]fixture
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(idx))
	for n := range idx {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, idx
}

// pillowPixels reads the RGB array Pillow gave the fixture.
func pillowPixels(t *testing.T, name string) (h, w int, pix []byte) {
	t.Helper()
	hd, data, err := npy.ReadFile(filepath.Join("testdata/img", strings.TrimSuffix(name, filepath.Ext(name))+".npy"))
	if err != nil {
		t.Fatal(err)
	}
	if hd.DType != "|u1" || len(hd.Shape) != 3 || hd.Shape[2] != 3 {
		t.Fatalf("%s: reference %s %v, want uint8 [H, W, 3]", name, hd.DType, hd.Shape)
	}
	return hd.Shape[0], hd.Shape[1], data
}

// TestPillowPixels decodes every fixture and compares the pixels with
// Pillow's Image.open(f).convert("RGB"): equal, byte for byte, JPEG and
// WebP included.
func TestPillowPixels(t *testing.T) {
	names, idx := fixtures(t)
	formats := map[string]int{}
	for _, name := range names {
		fx := idx[name]
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/img", name))
			if err != nil {
				t.Fatal(err)
			}
			hdr, err := Probe(bytes.NewReader(data), int64(len(data)))
			if fx.Unsupported != "" {
				var e *Error
				if err == nil {
					img := make([]byte, hdr.Width*hdr.Height*3)
					err = DecodeInto(data, img, hdr.Width, hdr.Height)
				}
				if !errors.As(err, &e) || !e.Unsupported || !strings.Contains(err.Error(), fx.Unsupported) {
					t.Errorf("want an unsupported-format error naming %q, got %v", fx.Unsupported, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Probe (Pillow reads it as %s %s): %v", fx.Format, fx.Mode, err)
			}
			if hdr.Width != fx.Size[0] || hdr.Height != fx.Size[1] {
				t.Fatalf("Probe: %dx%d, Pillow %dx%d", hdr.Width, hdr.Height, fx.Size[0], fx.Size[1])
			}
			if !strings.EqualFold(string(hdr.Format), fx.Format) {
				t.Errorf("format %s, Pillow %s", hdr.Format, fx.Format)
			}
			h, w, want := pillowPixels(t, name)
			if h != hdr.Height || w != hdr.Width {
				t.Fatalf("reference of %dx%d for a %dx%d image", w, h, hdr.Width, hdr.Height)
			}
			got := make([]byte, w*h*3)
			if err := DecodeInto(data, got, w, h); err != nil {
				t.Fatalf("DecodeInto (Pillow mode %s): %v", fx.Mode, err)
			}
			if d := firstDiff(got, want, w); d != "" {
				t.Errorf("pixels differ from Pillow's (mode %s, %s): %s", fx.Mode, fx.Note, d)
			}
			img, err := Decode(data)
			if err != nil || !bytes.Equal(img.Pix, got) {
				t.Errorf("Decode and DecodeInto disagree (%v)", err)
			}
		})
		formats[fx.Format]++
	}
	for _, f := range []string{"JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "PPM"} {
		if formats[f] == 0 {
			t.Errorf("no %s fixture", f)
		}
	}
}

// firstDiff describes how two RGB images differ ("" when equal).
func firstDiff(got, want []byte, w int) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
	}
	n, worst, first := 0, 0, -1
	for i := range got {
		if got[i] != want[i] {
			if first < 0 {
				first = i
			}
			n++
			worst = max(worst, absDiff(got[i], want[i]))
		}
	}
	if n == 0 {
		return ""
	}
	p := first / 3
	return fmt.Sprintf("%d values differ, by up to %d; first at (x %d, y %d, channel %d): %d, Pillow %d",
		n, worst, p%w, p/w, first%3, got[first], want[first])
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestTruncatedLikePillow cuts every fixture short (to half, to 90% and by
// one byte) and checks the package against what Pillow does with the same
// bytes (recorded in index.json): where Pillow fails, Probe or DecodeInto
// must fail too; where the package decodes, the pixels must be Pillow's.
// The package may refuse a file Pillow still reads (Probe wants the end of
// a PNG or JPEG); those cases are listed in the log.
func TestTruncatedLikePillow(t *testing.T) {
	names, idx := fixtures(t)
	stricter := 0
	for _, name := range names {
		fx := idx[name]
		if fx.Unsupported != "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join("testdata/img", name))
		if err != nil {
			t.Fatal(err)
		}
		h, w, want := pillowPixels(t, name)
		for _, cut := range []string{"50%", "90%", "-1"} {
			n := map[string]int{"50%": len(data) / 2, "90%": len(data) * 9 / 10, "-1": len(data) - 1}[cut]
			part := data[:n]
			var got []byte
			hdr, err := ProbeBytes(part)
			if err == nil {
				got = make([]byte, hdr.Width*hdr.Height*3)
				err = DecodeInto(part, got, hdr.Width, hdr.Height)
			}
			pillow := fx.Cut[cut]
			switch {
			case err != nil && !IsBadImage(err):
				t.Errorf("%s cut to %s: %v is not a bad-image error", name, cut, err)
			case err != nil && pillow != "error":
				stricter++
				t.Logf("%s cut to %s: refused (%v); Pillow reads it (%s)", name, cut, err, pillow)
			case err == nil && pillow == "error":
				t.Errorf("%s cut to %s: decoded, but Pillow fails on it", name, cut)
			case err == nil && pillow == "ok" && (hdr.Width != w || hdr.Height != h || !bytes.Equal(got, want)):
				t.Errorf("%s cut to %s: other pixels than Pillow's", name, cut)
			case err == nil && strings.HasPrefix(pillow, "other:"):
				sum := sha256.Sum256(append([]byte(fmt.Sprintf("%dx%d", hdr.Height, hdr.Width)), got...))
				if hex.EncodeToString(sum[:]) != pillow[len("other:"):] {
					t.Errorf("%s cut to %s: other pixels than Pillow's for the same bytes", name, cut)
				}
			}
		}
	}
	t.Logf("%d cut files refused that Pillow reads", stricter)
}

// TestBadFiles checks the reason given for files that are not images.
func TestBadFiles(t *testing.T) {
	png, err := os.ReadFile("testdata/img/png_rgb.png")
	if err != nil {
		t.Fatal(err)
	}
	jpg, err := os.ReadFile("testdata/img/jpeg_420.jpg")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		data        []byte
		want        string
		unsupported bool
	}{
		{"empty", nil, "empty file (0 bytes)", false},
		{"text", []byte("hello, this is not an image\n"), `not an image: the content is none of PNG, JPEG, GIF, BMP, WebP, TIFF, PPM/PGM/PBM (it starts with "hello, t")`, false},
		{"png without IEND", png[:len(png)-12], "truncated PNG: no IEND chunk after the image data", false},
		{"png cut in IDAT", png[:len(png)/2], "truncated PNG: its IDAT chunk at byte", false},
		{"png header only", png[:20], "truncated: the file ends inside the PNG header (IHDR)", false},
		{"jpeg without EOI", jpg[:len(jpg)-2], "truncated JPEG: no end-of-image marker after the image data", false},
		{"jpeg header only", jpg[:100], "truncated JPEG", false},
		{"heic", append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 20)...), "HEIC file, not a format clusterlab reads", true},
		{"12-bit jpeg", []byte("\xFF\xD8\xFF\xC0\x00\x11\x0C\x00\x10\x00\x10\x03\x01\x11\x00\x02\x11\x01\x03\x11\x01\xFF\xD9"), "12-bit JPEG", true},
	}
	for _, c := range cases {
		_, err := ProbeBytes(c.data)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v, want an *Error", c.name, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || e.Unsupported != c.unsupported {
			t.Errorf("%s: %q (unsupported %v), want %q (unsupported %v)", c.name, err, e.Unsupported, c.want, c.unsupported)
		}
	}
}

// TestDecodeChecks covers what DecodeInto refuses after a good Probe: a
// file that changed size, damaged data behind a complete structure, and a
// buffer of the wrong size.
func TestDecodeChecks(t *testing.T) {
	for _, name := range []string{"jpeg_420.jpg", "png_rgb.png", "webp_lossy.webp", "gif_p.gif", "bmp_rgb.bmp", "tiff_rgb.tif", "pnm_p6.ppm"} {
		data, err := os.ReadFile(filepath.Join("testdata/img", name))
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := ProbeBytes(data)
		if err != nil {
			t.Fatal(err)
		}
		w, h := hdr.Width+1, hdr.Height
		err = DecodeInto(data, make([]byte, w*h*3), w, h)
		if !IsBadImage(err) || !strings.Contains(err.Error(), "the file changed?") {
			t.Errorf("%s decoded for the wrong size: %v", name, err)
		}
		if err := DecodeInto(data, make([]byte, 5), hdr.Width, hdr.Height); err == nil || IsBadImage(err) {
			t.Errorf("%s: a buffer of the wrong size: %v, want a programming error", name, err)
		}
	}
	// A JPEG whose quantisation tables are gone: complete, but libjpeg
	// cannot decode it.
	jpg, _ := os.ReadFile("testdata/img/jpeg_420.jpg")
	noDQT := dropJPEGSegments(jpg, 0xDB)
	hdr, err := ProbeBytes(noDQT)
	if err != nil {
		t.Fatalf("probe of a JPEG without DQT: %v", err)
	}
	err = DecodeInto(noDQT, make([]byte, hdr.Width*hdr.Height*3), hdr.Width, hdr.Height)
	if !IsBadImage(err) || !strings.Contains(err.Error(), "corrupt JPEG: Quantization table 0x00 was not defined") {
		t.Errorf("JPEG without DQT: %v", err)
	}
	// A PNG whose compressed data is garbage behind valid chunks.
	png, _ := os.ReadFile("testdata/img/png_rgb.png")
	bad := bytes.Clone(png)
	for i := 60; i < 90; i++ {
		bad[i] ^= 0x5A
	}
	hdr, err = ProbeBytes(bad)
	if err != nil {
		t.Fatalf("probe of a damaged PNG: %v", err)
	}
	err = DecodeInto(bad, make([]byte, hdr.Width*hdr.Height*3), hdr.Width, hdr.Height)
	if !IsBadImage(err) || !strings.Contains(err.Error(), "corrupt PNG") {
		t.Errorf("damaged PNG: %v", err)
	}
}

// dropJPEGSegments removes the marker segments of type m before the scan.
func dropJPEGSegments(data []byte, m byte) []byte {
	out := []byte{0xFF, 0xD8}
	i := 2
	for i+4 <= len(data) {
		marker := data[i+1]
		n := int(data[i+2])<<8 | int(data[i+3])
		if marker == 0xDA {
			return append(out, data[i:]...)
		}
		if marker != m {
			out = append(out, data[i:i+2+n]...)
		}
		i += 2 + n
	}
	return out
}
