package imageprep

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The cases of testdata/manifest_filters.json were made by
// `make_reference.py --filters` with Pillow 9.4 and torchvision 0.14:
// Resize(size, interpolation) and CenterCrop(crop) on PIL images, for each
// of BILINEAR, BICUBIC and NEAREST.

type filterCase struct {
	Name          string `json:"name"`
	Interpolation string `json:"interpolation"`
	Kind          string `json:"kind"`
	Seed          int    `json:"seed"`
	H             int    `json:"h"`
	W             int    `json:"w"`
	Channels      int    `json:"channels"`
	Size          any    `json:"size"` // int (smaller edge), [h, w] or null (no resize)
	CenterCrop    int    `json:"center_crop"`
	Out           string `json:"out"`
	OutShape      []int  `json:"out_shape"`
}

func loadFilterCases(t *testing.T) []filterCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "manifest_filters.json"))
	if err != nil {
		t.Fatalf("read manifest: %v; regenerate with testdata/make_reference.py --filters", err)
	}
	var m struct {
		Cases []filterCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse manifest_filters.json: %v", err)
	}
	seen := map[string]int{}
	for _, c := range m.Cases {
		seen[c.Interpolation]++
	}
	if len(seen) != 3 || seen["bilinear"] == 0 || seen["bicubic"] == 0 || seen["nearest"] == 0 {
		t.Fatalf("manifest_filters.json has cases %v, want every filter", seen)
	}
	return m.Cases
}

func (c filterCase) config() (Config, error) {
	f, err := ParseFilter(c.Interpolation)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Filter: f, CenterCrop: c.CenterCrop}
	return cfg, setSize(&cfg, c.Size)
}

// TestFiltersMatchPIL: every filter, up and down, square and not, grey and
// RGB, with and without a centre crop (inside the image and padded): the
// bytes equal PIL's, all of them.
func TestFiltersMatchPIL(t *testing.T) {
	for _, c := range loadFilterCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			cfg, err := c.config()
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
			p, err := cfg.BytePlan(c.H, c.W, c.Channels)
			if err != nil {
				t.Fatal(err)
			}
			oh, ow := p.OutputSize()
			if !slices.Equal([]int{oh, ow, c.Channels}, c.OutShape) {
				t.Fatalf("BytePlan gives %dx%dx%d, torchvision %v", oh, ow, c.Channels, c.OutShape)
			}
			got := make([]uint8, p.OutputLen())
			for i := range got { // a reused buffer: every byte must be written
				got[i] = 0xAB
			}
			if err := p.Image(src, got); err != nil {
				t.Fatal(err)
			}
			assertSameBytes(t, "BytePlan", got, want, ow, c.Channels)
			if cfg.CenterCrop == 0 && c.Size != nil {
				// Without a crop, Resize is the whole answer.
				got, err := Resize(src, c.H, c.W, c.Channels, oh, ow, cfg.Filter)
				if err != nil {
					t.Fatal(err)
				}
				assertSameBytes(t, "Resize", got, want, ow, c.Channels)
			}
		})
	}
}

func assertSameBytes(t *testing.T, what string, got, want []uint8, ow, ch int) {
	t.Helper()
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
		px := first / ch
		t.Fatalf("%s: %d of %d bytes differ from PIL; first at y=%d x=%d c=%d: got %d want %d",
			what, diff, len(want), px/ow, px%ow, first%ch, got[first], want[first])
	}
}

// TestPlanAgreesWithBytePlan: the tensor of a Plan is the normalised image
// of the BytePlan of the same Config, for every filter; so what the
// references prove of one holds for the other.
func TestPlanAgreesWithBytePlan(t *testing.T) {
	for _, f := range []Filter{Bicubic, Bilinear, Nearest} {
		for _, g := range []struct{ h, w, c, resize, crop int }{{17, 23, 3, 40, 0}, {50, 31, 1, 20, 18}, {12, 40, 3, 30, 35}} {
			cfg := Config{Resize: g.resize, CenterCrop: g.crop, Filter: f, Mean: ImageNetMean, Std: ImageNetStd}
			src := testBatch(t, 1, g.h, g.w, g.c)
			tp, err := cfg.Plan(g.h, g.w, g.c)
			if err != nil {
				t.Fatal(err)
			}
			bp, err := cfg.BytePlan(g.h, g.w, g.c)
			if err != nil {
				t.Fatal(err)
			}
			tensor := make([]float32, tp.TensorLen())
			if err := tp.Image(src, tensor); err != nil {
				t.Fatal(err)
			}
			img := make([]uint8, bp.OutputLen())
			if err := bp.Image(src, img); err != nil {
				t.Fatal(err)
			}
			oh, ow := bp.OutputSize()
			plane := oh * ow
			for i := range plane {
				for ch := range 3 {
					u := img[i*g.c+min(ch, g.c-1)]
					want := (float32(u)/255 - cfg.Mean[ch]) / cfg.Std[ch]
					if tensor[ch*plane+i] != want {
						t.Fatalf("%v %v: pixel %d channel %d: tensor %v, normalised byte %d is %v", f, g, i, ch, tensor[ch*plane+i], u, want)
					}
				}
			}
		}
	}
}

func TestBytePlanBatch(t *testing.T) {
	const n = 5
	for _, f := range []Filter{Bicubic, Bilinear, Nearest} {
		cfg := Config{Resize: 20, CenterCrop: 18, Filter: f}
		pixels := testBatch(t, n, 33, 25, 3)
		p, err := cfg.BytePlan(33, 25, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]uint8, n*p.OutputLen())
		for i := range n {
			if err := p.Image(pixels[i*p.ImageLen():(i+1)*p.ImageLen()], want[i*p.OutputLen():(i+1)*p.OutputLen()]); err != nil {
				t.Fatal(err)
			}
		}
		for _, workers := range []int{1, 3, 0} {
			got := make([]uint8, len(want))
			if err := p.Batch(context.Background(), pixels, n, got, workers); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%v: Batch with %d workers differs from image by image", f, workers)
			}
		}
		if err := p.Batch(context.Background(), pixels[1:], n, want, 1); err == nil {
			t.Errorf("Batch accepted a short pixel buffer")
		}
		if err := p.Image(pixels[:p.ImageLen()], want[:3]); err == nil {
			t.Errorf("Image accepted a short output buffer")
		}
	}
	if _, err := (Config{Resize: -1}).BytePlan(4, 4, 3); err == nil {
		t.Errorf("BytePlan accepted resize -1")
	}
	if _, err := (Config{Filter: numFilters}).BytePlan(4, 4, 3); err == nil {
		t.Errorf("BytePlan accepted an unknown filter")
	}
}

// TestRunMixesSizes: Run over works of different input sizes (one model
// batch gathered from several input batches) gives each image the tensor
// its own plan gives it.
func TestRunMixesSizes(t *testing.T) {
	cfg := Config{Resize: 40, CenterCrop: 32, Mean: ImageNetMean, Std: ImageNetStd}
	var works []Work
	var want []float32
	for _, g := range []struct{ n, h, w int }{{2, 40, 56}, {1, 64, 48}, {3, 33, 33}, {0, 10, 10}} {
		p, err := cfg.Plan(g.h, g.w, 3)
		if err != nil {
			t.Fatal(err)
		}
		px := testBatch(t, g.n, g.h, g.w, 3)
		dst := make([]float32, g.n*p.TensorLen())
		works = append(works, Work{Plan: p, Pixels: px, N: g.n, Dst: dst})
		for k := range g.n {
			one := make([]float32, p.TensorLen())
			if err := p.Image(px[k*p.ImageLen():(k+1)*p.ImageLen()], one); err != nil {
				t.Fatal(err)
			}
			want = append(want, one...)
		}
	}
	for _, workers := range []int{1, 4} {
		for _, w := range works {
			clear(w.Dst)
		}
		if err := Run(context.Background(), works, workers); err != nil {
			t.Fatal(err)
		}
		var got []float32
		for _, w := range works {
			got = append(got, w.Dst...)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Run with %d workers differs from image by image", workers)
		}
	}
}

func TestParseFilter(t *testing.T) {
	for _, name := range Filters() {
		f, err := ParseFilter(name)
		if err != nil || f.String() != name {
			t.Errorf("ParseFilter(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := ParseFilter("lanczos"); err == nil {
		t.Errorf("ParseFilter accepted lanczos")
	}
	if Bicubic.PIL() != "PIL.Image.BICUBIC" || Bilinear.PIL() != "PIL.Image.BILINEAR" || Nearest.PIL() != "PIL.Image.NEAREST" {
		t.Errorf("PIL names: %s %s %s", Bicubic.PIL(), Bilinear.PIL(), Nearest.PIL())
	}
	// The bicubic description is the one dinov2 identities were made with.
	if got := Default().String(); got != "pil9-bicubic resize=short224 crop=0 mean=0.485,0.456,0.406 std=0.229,0.224,0.225" {
		t.Errorf("Default().String() = %q: dinov2 cache identities would change", got)
	}
}
