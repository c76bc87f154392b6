package imageprep

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
)

// The reference outputs in testdata were made by testdata/make_reference.py
// with Pillow 9.4 and torchvision 0.14; see its docstring.

type refCase struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Seed       int    `json:"seed"`
	H          int    `json:"h"`
	W          int    `json:"w"`
	Channels   int    `json:"channels"`
	Size       any    `json:"size"` // int (smaller edge) or [h, w]
	CenterCrop int    `json:"center_crop"`
	Out        string `json:"out"`
	OutShape   []int  `json:"out_shape"`
}

type refManifest struct {
	Versions map[string]string `json:"versions"`
	Mean     [3]float32        `json:"mean"`
	Std      [3]float32        `json:"std"`
	Resize   []refCase         `json:"resize"`
	Tensor   []refCase         `json:"tensor"`
}

func loadManifest(t *testing.T) refManifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "manifest.json"))
	if err != nil {
		t.Fatalf("read manifest: %v; regenerate with testdata/make_reference.py", err)
	}
	var m refManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse manifest: %v", err)
	}
	if len(m.Resize) == 0 || len(m.Tensor) == 0 {
		t.Fatalf("manifest lists no cases")
	}
	return m
}

// config turns the case's torchvision arguments into a Config.
func (c refCase) config(m refManifest) (Config, error) {
	cfg := Config{Mean: m.Mean, Std: m.Std, CenterCrop: c.CenterCrop}
	if c.Size == nil { // every case of manifest.json resizes
		return cfg, fmt.Errorf("size %v of type %T", c.Size, c.Size)
	}
	return cfg, setSize(&cfg, c.Size)
}

// setSize sets cfg's resize from a case's torchvision size argument: an
// int (the smaller edge), [h, w], or null (no resize).
func setSize(cfg *Config, size any) error {
	switch s := size.(type) {
	case nil:
	case float64:
		cfg.Resize = int(s)
	case []any:
		if len(s) != 2 {
			return fmt.Errorf("size %v: want [h, w]", s)
		}
		cfg.Height, cfg.Width = int(s[0].(float64)), int(s[1].(float64))
	default:
		return fmt.Errorf("size %v of type %T", size, size)
	}
	return nil
}

// readGzNpy reads one of the reference arrays.
func readGzNpy(t *testing.T, name string) (npy.Header, []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("open reference: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	h, data, err := npy.Decode(zr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return h, data
}

// mix and synthImage mirror make_reference.py's mix and synth exactly.
func mix(v uint32) uint32 {
	v ^= v >> 16
	v *= 0x7FEB352D
	v ^= v >> 15
	v *= 0x846CA68B
	v ^= v >> 16
	return v
}

func synthImage(kind string, seed, h, w, c int) ([]uint8, error) {
	img := make([]uint8, h*w*c)
	for y := range h {
		for x := range w {
			for ch := range c {
				n := mix(uint32(seed)*0x9E3779B1 + uint32((y*w+x)*c+ch))
				var v int
				switch kind {
				case "noise":
					v = int(n & 0xFF)
				case "smooth":
					v = (x*511/max(w-1, 1) + y*383/max(h-1, 1) + ch*85 + int(n&15)) % 256
				case "ramp":
					v = ((y*w+x)*(2*ch+1) + 17*ch) % 256
				default:
					return nil, fmt.Errorf("unknown synthetic image kind %q", kind)
				}
				img[(y*w+x)*c+ch] = uint8(v)
			}
		}
	}
	return img, nil
}

func TestResizeMatchesPIL(t *testing.T) {
	m := loadManifest(t)
	for _, c := range m.Resize {
		t.Run(c.Name, func(t *testing.T) {
			cfg, err := c.config(m)
			if err != nil {
				t.Fatal(err)
			}
			src, err := synthImage(c.Kind, c.Seed, c.H, c.W, c.Channels)
			if err != nil {
				t.Fatal(err)
			}
			hdr, want := readGzNpy(t, c.Out)
			if hdr.DType != "|u1" || !slices.Equal(hdr.Shape, c.OutShape) {
				t.Fatalf("reference %s is %s %v, manifest says uint8 %v", c.Out, hdr.DType, hdr.Shape, c.OutShape)
			}
			oh, ow := cfg.ResizedSize(c.H, c.W)
			if oh != c.OutShape[0] || ow != c.OutShape[1] {
				t.Fatalf("ResizedSize(%d, %d) = %dx%d, torchvision gives %dx%d", c.H, c.W, oh, ow, c.OutShape[0], c.OutShape[1])
			}
			got, err := ResizeBicubic(src, c.H, c.W, c.Channels, oh, ow)
			if err != nil {
				t.Fatal(err)
			}
			diff, first := 0, -1
			for i := range want {
				if got[i] != want[i] {
					if first < 0 {
						first = i
					}
					diff++
				}
			}
			if diff > 0 {
				px := first / c.Channels
				t.Fatalf("%d of %d bytes differ from PIL; first at y=%d x=%d c=%d: got %d want %d",
					diff, len(want), px/ow, px%ow, first%c.Channels, got[first], want[first])
			}
		})
	}
}

func TestTensorMatchesTorchvision(t *testing.T) {
	m := loadManifest(t)
	for _, c := range m.Tensor {
		t.Run(c.Name, func(t *testing.T) {
			cfg, err := c.config(m)
			if err != nil {
				t.Fatal(err)
			}
			src, err := synthImage(c.Kind, c.Seed, c.H, c.W, c.Channels)
			if err != nil {
				t.Fatal(err)
			}
			hdr, raw := readGzNpy(t, c.Out)
			want, err := npy.ToFloat32(hdr, raw)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := cfg.OutputSize(c.H, c.W)
			if !slices.Equal(hdr.Shape, []int{3, oh, ow}) {
				t.Fatalf("OutputSize gives 3x%dx%d, torchvision %v", oh, ow, hdr.Shape)
			}
			got := make([]float32, len(want))
			if err := cfg.ToCHW(src, c.H, c.W, c.Channels, got); err != nil {
				t.Fatal(err)
			}
			maxDiff, inexact := 0.0, 0
			for i := range want {
				if got[i] != want[i] {
					inexact++
					maxDiff = max(maxDiff, math.Abs(float64(got[i])-float64(want[i])))
				}
			}
			t.Logf("%d values, %d not bit-identical, max |diff| %g", len(want), inexact, maxDiff)
			if maxDiff > 1e-6 {
				t.Fatalf("max |diff| %g from torchvision exceeds 1e-6 (%d of %d values differ)", maxDiff, inexact, len(want))
			}
		})
	}
}
