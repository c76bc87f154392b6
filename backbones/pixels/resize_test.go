package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestIdentityOfExistingConfigsPinned: options that existed before resize,
// interpolation and center_crop keep their identity byte for byte (the
// embedding cache keys and fitted states of existing runs stay valid), and
// resolve to the same options (the runner hashes those into the trial
// name: `make demo` stays trial seed0-70f5a2ee). The new options enter the
// identity only when they change something.
func TestIdentityOfExistingConfigsPinned(t *testing.T) {
	ctx := context.Background()
	demo := core.Options{"pca_dims": 64} // configs/mnist_temi.yaml
	const demoID = `pixels 1.0.0 input=uint8/255,HWC options={"pca_dims":64,"pca_fit_samples":0,"standardize":false,"whiten":false}`
	const demoResolved = `{"pca_dims":64,"pca_fit_samples":0,"standardize":false,"whiten":false}`
	info, err := Backbone{}.Describe(ctx, demo)
	if err != nil {
		t.Fatal(err)
	}
	if info.Identity != demoID {
		t.Errorf("identity of the demo's backbone options changed:\n got %s\nwant %s", info.Identity, demoID)
	}
	resolved, err := core.ResolveOptions(schema(), demo)
	if err != nil {
		t.Fatal(err)
	}
	if got := resolved.Canonical(); got != demoResolved {
		t.Errorf("the demo's backbone options resolve to %s, want %s: the runner's trial names would change", got, demoResolved)
	}
	raw, err := Backbone{}.Describe(ctx, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := `pixels 1.0.0 input=uint8/255,HWC options={"pca_dims":0,"pca_fit_samples":0,"standardize":false,"whiten":false}`; raw.Identity != want {
		t.Errorf("identity of raw pixels changed:\n got %s\nwant %s", raw.Identity, want)
	}

	id := func(o core.Options) string {
		t.Helper()
		info, err := Backbone{}.Describe(ctx, o)
		if err != nil {
			t.Fatalf("%v: %v", o, err)
		}
		return info.Identity
	}
	// Spelling out what the options do when unset changes nothing.
	for _, o := range []core.Options{
		{"pca_dims": 64, "resize": 0},
		{"pca_dims": 64, "center_crop": 0},
		{"pca_dims": 64, "resize": 0, "center_crop": 0, "interpolation": "bilinear"},
	} {
		if got := id(o); got != demoID {
			t.Errorf("%v: identity %s, want the demo's", o, got)
		}
	}
	if a, b := id(core.Options{"resize": 32}), id(core.Options{"resize": 32, "interpolation": "bilinear"}); a != b {
		t.Errorf("bilinear is the default filter, yet %s != %s", a, b)
	}
	want := `pixels 1.0.0 input=uint8/255,HWC options={"center_crop":24,"interpolation":"bicubic","pca_dims":0,"pca_fit_samples":0,"resize":32,"standardize":false,"whiten":false}`
	if got := id(core.Options{"resize": 32, "interpolation": "bicubic", "center_crop": 24}); got != want {
		t.Errorf("identity with resize options:\n got %s\nwant %s", got, want)
	}
	seen := map[string]string{}
	for name, o := range map[string]core.Options{
		"none":     {},
		"resize":   {"resize": 32},
		"resize2":  {"resize": 33},
		"bicubic":  {"resize": 32, "interpolation": "bicubic"},
		"nearest":  {"resize": 32, "interpolation": "nearest"},
		"crop":     {"center_crop": 24},
		"both":     {"resize": 32, "center_crop": 24},
		"crop2":    {"resize": 32, "center_crop": 23},
		"with pca": {"resize": 32, "center_crop": 24, "pca_dims": 8},
	} {
		got := id(o)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the identity of %s: %s", name, prev, got)
		}
		seen[got] = name
	}
}

func TestResizeOptionErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts core.Options
		key  string
	}{
		{core.Options{"interpolation": "bicubic"}, "interpolation"}, // nothing to interpolate
		{core.Options{"interpolation": "nearest", "center_crop": 8}, "interpolation"},
		{core.Options{"resize": 8, "interpolation": "lanczos"}, "interpolation"},
		{core.Options{"resize": -1}, "resize"},
		{core.Options{"center_crop": -2}, "center_crop"},
	} {
		_, err := Backbone{}.Describe(ctx, tc.opts)
		plugintest.CheckOptionError(t, describeOf(tc.opts), err, tc.key)
	}
}

func describeOf(o core.Options) string { return "Describe(" + o.Canonical() + ")" }

// photo is one image of a synthetic folder of photos.
type photo struct {
	g  geometry
	px []uint8
}

// photos draws images of the given sizes (HxW, 3 channels), two of each.
func photos(seed uint64, sizes ...[2]int) []photo {
	r := rand.New(rand.NewPCG(seed, 3))
	var out []photo
	for _, s := range sizes {
		for range 2 {
			g := geometry{s[0], s[1], 3}
			px := make([]uint8, g.dim())
			for i := range px {
				// Smooth gradients plus noise, so that filters differ.
				y, x := i/(g.w*3), i/3%g.w
				px[i] = uint8((y*255/max(g.h-1, 1)+x*191/max(g.w-1, 1)+i%3*70)/2 + r.IntN(40))
			}
			out = append(out, photo{g, px})
		}
	}
	return out
}

// photoStream serves the photos in batches of at most per images that
// change size as the photos do (a batch holds images of one size).
func photoStream(ps []photo, per int) *plugintest.Batches {
	r := &plugintest.Batches{}
	for i := 0; i < len(ps); {
		j := i + 1
		for j < len(ps) && j-i < per && ps[j].g == ps[i].g {
			j++
		}
		b := core.ImageBatch{Offset: i, Count: j - i, Height: ps[i].g.h, Width: ps[i].g.w, Channels: 3, Labels: make([]int32, j-i)}
		for _, p := range ps[i:j] {
			b.Pixels = append(b.Pixels, p.px...)
		}
		r.List = append(r.List, b)
		i = j
	}
	return r
}

// variableSize is what a dataset of photos of different sizes reports.
var variableSize = core.DatasetInfo{
	Description: core.Description{Kind: core.KindDataset, Name: "photos"},
	Splits:      []core.SplitInfo{{Name: core.SplitTrain, Count: 12}},
	Channels:    3,
}

func embedStream(t *testing.T, req core.EmbedRequest, r core.BatchReader) ([]float32, int, error) {
	t.Helper()
	var out []float32
	dim := 0
	err := Backbone{}.Embed(context.Background(), req, r, func(b core.EmbeddingBatch) error {
		if len(b.Values) != b.Count*b.Dim || len(out) != b.Offset*b.Dim {
			t.Fatalf("bad embedding batch: offset %d count %d dim %d, %d values after %d", b.Offset, b.Count, b.Dim, len(b.Values), len(out))
		}
		dim = b.Dim
		out = append(out, b.Values...)
		return nil
	})
	return out, dim, err
}

// TestPhotosOfManySizes: with resize and center_crop, images of any size
// become vectors of one length, each exactly unit(PIL's resized and
// cropped bytes), whether fed one per batch or several; PCA fits on them.
func TestPhotosOfManySizes(t *testing.T) {
	ps := photos(1, [2]int{40, 56}, [2]int{64, 48}, [2]int{33, 33}, [2]int{21, 90}, [2]int{300, 260}, [2]int{12, 12})
	for _, filter := range imageprep.Filters() {
		opts := core.Options{"resize": 16, "center_crop": 14, "interpolation": filter}
		cfg := imageprep.Config{Resize: 16, CenterCrop: 14}
		cfg.Filter, _ = imageprep.ParseFilter(filter)
		var want []float32
		for _, p := range ps {
			bp, err := cfg.BytePlan(p.g.h, p.g.w, 3)
			if err != nil {
				t.Fatal(err)
			}
			img := make([]uint8, bp.OutputLen())
			if err := bp.Image(p.px, img); err != nil {
				t.Fatal(err)
			}
			for _, u := range img {
				want = append(want, unit[u])
			}
		}
		for _, per := range []int{1, 3} {
			req := core.EmbedRequest{Options: opts, Dataset: variableSize, Split: core.SplitTrain}
			got, dim, err := embedStream(t, req, photoStream(ps, per))
			if err != nil {
				t.Fatalf("%s, %d per batch: %v", filter, per, err)
			}
			if dim != 14*14*3 || len(got) != len(want) {
				t.Fatalf("%s: dim %d, %d values; want %d, %d", filter, dim, len(got), 14*14*3, len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s, %d per batch: value %d is %v, want %v", filter, per, i, got[i], want[i])
				}
			}
		}
	}

	// A fitted PCA: the state has the cropped geometry, train and a
	// stream cut otherwise embed alike.
	opts := core.Options{"resize": 16, "center_crop": 14, "pca_dims": 5, "standardize": true}
	dir := t.TempDir()
	req := core.EmbedRequest{Options: opts, StateDir: dir, Dataset: variableSize, Split: core.SplitTrain}
	if err := (Backbone{}).Fit(context.Background(), req, photoStream(ps, 1)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, fileState))
	if err != nil {
		t.Fatal(err)
	}
	var meta stateMeta
	if err := json.Unmarshal(raw, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Height != 14 || meta.Width != 14 || meta.Channels != 3 || meta.TrainImages != len(ps) {
		t.Errorf("state.json: %dx%dx%d, %d images; want 14x14x3, %d", meta.Height, meta.Width, meta.Channels, meta.TrainImages, len(ps))
	}
	a, dim, err := embedStream(t, req, photoStream(ps, 1))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := embedStream(t, req, photoStream(ps, 4))
	if err != nil {
		t.Fatal(err)
	}
	if dim != 5 || len(a) != len(b) {
		t.Fatalf("dim %d, %d and %d values", dim, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: %v one image per batch, %v in batches of up to 4", i, a[i], b[i])
		}
	}
}

// failingReader fails the test if it is read: errors that the options and
// the dataset's info decide must come before any image.
type failingReader struct{ t *testing.T }

func (r failingReader) Next() (core.ImageBatch, error) {
	r.t.Error("the backbone read images before refusing options it could refuse at once")
	return core.ImageBatch{}, io.EOF
}

// TestImagesOfDifferentSizesNeedResize: a dataset whose images differ in
// size is refused at once without resize and center_crop; without the
// dataset saying so, or with a resize that leaves their shapes apart, the
// first batch of another size is, naming both sizes. Each is the
// center_crop option's fault.
func TestImagesOfDifferentSizesNeedResize(t *testing.T) {
	ctx := context.Background()
	send := func(core.EmbeddingBatch) error { return nil }
	ps := photos(2, [2]int{40, 56}, [2]int{64, 48})

	for _, opts := range []core.Options{{}, {"pca_dims": 4}, {"resize": 0, "standardize": true}} {
		err := Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, Dataset: variableSize}, failingReader{t}, send)
		plugintest.WantInvalid(t, "embed of photos without resize", err, "dataset photos has images of different sizes", "set resize and center_crop")
		plugintest.CheckOptionError(t, "embed of photos without resize", err, "center_crop")
		if opts.Canonical() != "{}" {
			err = Backbone{}.Fit(ctx, core.EmbedRequest{Options: opts, Dataset: variableSize, StateDir: t.TempDir(), Split: core.SplitTrain}, failingReader{t})
			plugintest.WantInvalid(t, "fit on photos without resize", err, "dataset photos has images of different sizes", "set resize and center_crop")
			plugintest.CheckOptionError(t, "fit on photos without resize", err, "center_crop")
		}
	}

	// No dataset info: the second size is refused, naming both.
	_, _, err := embedStream(t, core.EmbedRequest{Options: core.Options{}}, photoStream(ps, 2))
	plugintest.WantInvalid(t, "sizes changing without resize", err,
		"batch at offset 2 has images of 64x48x3 (HxWxC), unlike the stream's first images, of 40x56x3 (HxWxC)", "need resize and center_crop")
	plugintest.CheckOptionError(t, "sizes changing without resize", err, "center_crop")
	err = Backbone{}.Fit(ctx, core.EmbedRequest{Options: core.Options{"pca_dims": 2}, StateDir: t.TempDir(), Split: core.SplitTrain}, photoStream(ps, 2))
	plugintest.WantInvalid(t, "fit on sizes changing without resize", err, "64x48x3 (HxWxC), unlike the stream's first images, of 40x56x3 (HxWxC)")

	// resize alone keeps the aspect ratios apart: 40x56 -> 16x22, 64x48 -> 21x16.
	_, _, err = embedStream(t, core.EmbedRequest{Options: core.Options{"resize": 16}, Dataset: variableSize}, photoStream(ps, 2))
	plugintest.WantInvalid(t, "resize without crop", err,
		"batch at offset 2 has images of 64x48x3 (HxWxC), 21x16x3 (HxWxC) after resize 16, unlike the stream's first images, of 40x56x3 (HxWxC), 16x22x3 (HxWxC) after resize 16")
	plugintest.CheckOptionError(t, "resize without crop", err, "center_crop")
	// ... which is fine for images of one shape.
	same := photos(3, [2]int{20, 30}, [2]int{40, 60})
	if _, dim, err := embedStream(t, core.EmbedRequest{Options: core.Options{"resize": 10}, Dataset: variableSize}, photoStream(same, 2)); err != nil || dim != 10*15*3 {
		t.Errorf("resize of images of one aspect ratio: dim %d, %v", dim, err)
	}

	// A batch unlike what the dataset announced is refused.
	fixed := core.DatasetInfo{Description: core.Description{Name: "mnist"}, Height: 40, Width: 56, Channels: 3}
	_, _, err = embedStream(t, core.EmbedRequest{Options: core.Options{"resize": 16, "center_crop": 16}, Dataset: fixed}, photoStream(ps, 2))
	plugintest.WantInvalid(t, "other size than the dataset's", err, "batch at offset 2 has images of 64x48x3 (HxWxC), but dataset mnist said its images are 40x56x3 (HxWxC)")
	grey := variableSize
	grey.Channels = 1
	_, _, err = embedStream(t, core.EmbedRequest{Options: core.Options{"center_crop": 16}, Dataset: grey}, photoStream(ps, 2))
	plugintest.WantInvalid(t, "other channels than the dataset's", err, "has images of 40x56x3 (HxWxC), but dataset photos said its images have 1 channels")
}

// TestPCADimsCheckedAgainstPreparedImages: where the dataset's info gives
// the geometry the embedding sees (a fixed size, or any size with
// center_crop), pca_dims above its values is refused before reading.
func TestPCADimsCheckedAgainstPreparedImages(t *testing.T) {
	ctx := context.Background()
	mnist := core.DatasetInfo{Description: core.Description{Name: "mnist"}, Height: 28, Width: 28, Channels: 1,
		Splits: []core.SplitInfo{{Name: core.SplitTrain, Count: 100}}}
	for _, tc := range []struct {
		opts core.Options
		ds   core.DatasetInfo
		want string
	}{
		{core.Options{"pca_dims": 65, "resize": 8}, mnist, "pca_dims=65 exceeds the 64 values of each image the embedding sees (dataset mnist's images, of 28x28x1 (HxWxC), 8x8x1 (HxWxC) after resize 8)"},
		{core.Options{"pca_dims": 26, "resize": 8, "center_crop": 5, "interpolation": "nearest"}, mnist, "pca_dims=26 exceeds the 25 values"},
		{core.Options{"pca_dims": 49, "center_crop": 4}, variableSize, "pca_dims=49 exceeds the 48 values of each image the embedding sees (dataset photos's images, of any size, 4x4x3 (HxWxC) after center_crop 4)"},
	} {
		err := Backbone{}.Fit(ctx, core.EmbedRequest{Options: tc.opts, Dataset: tc.ds, StateDir: t.TempDir(), Split: core.SplitTrain}, failingReader{t})
		plugintest.WantInvalid(t, describeOf(tc.opts), err, tc.want, "lower pca_dims")
		plugintest.CheckOptionError(t, describeOf(tc.opts), err, "pca_dims")
	}
	// Within the bound, MNIST-sized images fit at 8x8.
	s := makeSynthetic(100, geometry{28, 28, 1}, []float64{30, 10}, 9)
	req := core.EmbedRequest{Options: core.Options{"pca_dims": 64, "resize": 8}, Dataset: mnist, StateDir: t.TempDir(), Split: core.SplitTrain}
	if err := (Backbone{}).Fit(ctx, req, reader(s.px, s.n, s.g, 30)); err != nil {
		t.Fatal(err)
	}
	if _, dim, err := embedStream(t, req, reader(s.px, s.n, s.g, 30)); err != nil || dim != 64 {
		t.Fatalf("embed: dim %d, %v", dim, err)
	}
	// The fitted state is for 8x8 images: the same options on images that
	// prepare to another size are refused, naming both.
	other := makeSynthetic(10, geometry{28, 40, 1}, []float64{30}, 10)
	req.Dataset = core.DatasetInfo{}
	_, _, err := embedStream(t, req, reader(other.px, other.n, other.g, 10))
	if err == nil || !strings.Contains(err.Error(), "has images of 28x40x1 (HxWxC), which become 8x11x1 (HxWxC), the fitted state has 8x8x1 (HxWxC)") {
		t.Errorf("embed of other images on a fitted state: %v", err)
	}
	if !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("not invalid input: %v", err)
	}
}
