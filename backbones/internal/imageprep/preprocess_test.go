package imageprep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestResizedSizeFollowsTorchvision(t *testing.T) {
	cases := []struct {
		cfg                Config
		h, w, wantH, wantW int
	}{
		{Config{Resize: 224}, 32, 32, 224, 224},
		{Config{Resize: 224}, 375, 500, 224, 298}, // 298.67 truncated
		{Config{Resize: 224}, 500, 375, 298, 224},
		{Config{Resize: 224}, 17, 23, 224, 303},
		{Config{Resize: 224, Height: 10, Width: 20}, 17, 23, 10, 20}, // explicit wins
		{Config{}, 17, 23, 17, 23},
	}
	for _, c := range cases {
		if h, w := c.cfg.ResizedSize(c.h, c.w); h != c.wantH || w != c.wantW {
			t.Errorf("%+v.ResizedSize(%d, %d) = %dx%d, want %dx%d", c.cfg, c.h, c.w, h, w, c.wantH, c.wantW)
		}
	}
	crop := Config{Resize: 256, CenterCrop: 224}
	if h, w := crop.OutputSize(300, 400); h != 224 || w != 224 {
		t.Errorf("OutputSize with a crop = %dx%d, want 224x224", h, w)
	}
}

func TestCropWindowRoundsHalfToEven(t *testing.T) {
	// torchvision: int(round((size - crop) / 2.0)) with Python's round, and
	// left padding (crop - size) // 2 when the crop is larger.
	for _, c := range []struct{ size, crop, want int }{
		{33, 32, 0}, {35, 32, 2}, {37, 32, 2}, {39, 32, 4}, {36, 32, 2}, {32, 32, 0},
		{30, 32, -1}, {29, 32, -1}, {21, 25, -2},
	} {
		if got := cropWindow(c.size, c.crop); got != c.want {
			t.Errorf("cropWindow(%d, %d) = %d, want %d", c.size, c.crop, got, c.want)
		}
	}
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default() invalid: %v", err)
	}
	for name, cfg := range map[string]Config{
		"zero value":     {},
		"half explicit":  {Height: 10, Mean: ImageNetMean, Std: ImageNetStd},
		"negative crop":  {Resize: 224, CenterCrop: -1, Mean: ImageNetMean, Std: ImageNetStd},
		"one std zero":   {Resize: 224, Mean: ImageNetMean, Std: [3]float32{0.2, 0, 0.2}},
		"negative sizes": {Resize: -5, Mean: ImageNetMean, Std: ImageNetStd},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
		if _, err := cfg.Plan(32, 32, 3); err == nil {
			t.Errorf("%s: Plan accepted %+v", name, cfg)
		}
	}
	if _, err := Default().Plan(32, 32, 4); err == nil || !strings.Contains(err.Error(), "RGB") {
		t.Errorf("Plan with 4 channels: err = %v, want one that says to convert to RGB", err)
	}
	if _, err := Default().Plan(0, 32, 3); err == nil {
		t.Errorf("Plan accepted a 0x32 image")
	}
	if _, err := ResizeBicubic(make([]uint8, 10), 2, 2, 3, 4, 4); err == nil {
		t.Errorf("ResizeBicubic accepted a buffer of the wrong length")
	}
}

func TestStringChangesWithEverySetting(t *testing.T) {
	base := Default()
	variants := []Config{base}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Resize = 256 },
		func(c *Config) { c.Height, c.Width = 224, 224 },
		func(c *Config) { c.CenterCrop = 224 },
		func(c *Config) { c.Mean[1] = 0.5 },
		func(c *Config) { c.Std[2] = 0.5 },
	} {
		c := base
		mod(&c)
		variants = append(variants, c)
	}
	seen := map[string]int{}
	for i, c := range variants {
		s := c.String()
		if j, ok := seen[s]; ok {
			t.Errorf("configs %d and %d both describe themselves as %q", j, i, s)
		}
		seen[s] = i
	}
}

// testBatch makes n synthetic CIFAR-sized images, each different.
func testBatch(t testing.TB, n, h, w, c int) []uint8 {
	t.Helper()
	pixels := make([]uint8, 0, n*h*w*c)
	for i := range n {
		img, err := synthImage([]string{"noise", "smooth"}[i%2], 100+i, h, w, c)
		if err != nil {
			t.Fatal(err)
		}
		pixels = append(pixels, img...)
	}
	return pixels
}

func TestBatchEqualsImageByImage(t *testing.T) {
	for _, geo := range []struct{ h, w, c int }{{32, 32, 3}, {28, 28, 1}, {40, 30, 3}} {
		cfg := Default()
		if geo.h == 40 {
			cfg.CenterCrop = 230 // larger than the resized width: padding
		}
		t.Run(fmt.Sprintf("%dx%dx%d", geo.h, geo.w, geo.c), func(t *testing.T) {
			const n = 7
			pixels := testBatch(t, n, geo.h, geo.w, geo.c)
			p, err := cfg.Plan(geo.h, geo.w, geo.c)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float32, n*p.TensorLen())
			for i := range n {
				img := pixels[i*p.ImageLen() : (i+1)*p.ImageLen()]
				if err := cfg.ToCHW(img, geo.h, geo.w, geo.c, want[i*p.TensorLen():(i+1)*p.TensorLen()]); err != nil {
					t.Fatal(err)
				}
			}
			for _, workers := range []int{1, 2, 5, 0} {
				got := make([]float32, len(want))
				if err := cfg.Batch(context.Background(), pixels, n, geo.h, geo.w, geo.c, got, workers); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Batch with %d workers differs from image-by-image preprocessing", workers)
				}
			}
			// A grayscale image gives the tensor of its RGB conversion
			// (the byte repeated in three channels), as PIL's convert("RGB").
			if geo.c == 1 {
				rgb := make([]uint8, 0, 3*len(pixels))
				for _, u := range pixels {
					rgb = append(rgb, u, u, u)
				}
				got := make([]float32, len(want))
				if err := cfg.Batch(context.Background(), rgb, n, geo.h, geo.w, 3, got, 2); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("grayscale images differ from their RGB conversion")
				}
			}
		})
	}
}

func TestBatchStopsOnCancel(t *testing.T) {
	const n = 16
	pixels := testBatch(t, n, 32, 32, 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := make([]float32, n*3*224*224)
	err := Default().Batch(ctx, pixels, n, 32, 32, 3, dst, 2)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Batch on a cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestBatchRejectsWrongBuffers(t *testing.T) {
	p, err := Default().Plan(32, 32, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Batch(ctx, make([]uint8, 2*p.ImageLen()-1), 2, make([]float32, 2*p.TensorLen()), 1); err == nil {
		t.Errorf("Batch accepted a short pixel buffer")
	}
	if err := p.Batch(ctx, make([]uint8, 2*p.ImageLen()), 2, make([]float32, p.TensorLen()), 1); err == nil {
		t.Errorf("Batch accepted a short output buffer")
	}
	if err := p.Image(make([]uint8, p.ImageLen()), make([]float32, 3)); err == nil {
		t.Errorf("Image accepted a short output buffer")
	}
}

// BenchmarkCIFARBatch preprocesses 256 CIFAR images (32x32 -> 3x224x224)
// per op, the DINOv2 backbone's unit of work.
func BenchmarkCIFARBatch(b *testing.B) {
	const n = 256
	pixels := testBatch(b, n, 32, 32, 3)
	p, err := Default().Plan(32, 32, 3)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]float32, n*p.TensorLen())
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(int64(len(pixels)))
			for b.Loop() {
				if err := p.Batch(context.Background(), pixels, n, dst, workers); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
