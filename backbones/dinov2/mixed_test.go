package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// The mixed-size fixtures were made by `make_fixtures.py --mixed`: streams
// whose input batches change size, as a folder of photos gives them, and
// the embeddings PyTorch + torchvision + PIL compute image by image.

type mixedBatch struct {
	Images string `json:"images"`
	First  int    `json:"first"`
	Count  int    `json:"count"`
}

type mixedCase struct {
	Name      string         `json:"name"`
	Model     string         `json:"model"`
	Options   map[string]any `json:"options"`
	Batches   []mixedBatch   `json:"batches"`
	Reference string         `json:"reference"`
}

func loadMixed(t testing.TB) (cases []mixedCase, threshold float64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures_mixed.json"))
	if err != nil {
		t.Fatalf("read mixed fixtures: %v; regenerate with /usr/bin/python3 backbones/dinov2/testdata/make_fixtures.py --mixed", err)
	}
	var f struct {
		Threshold float64     `json:"threshold"`
		Cases     []mixedCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse fixtures_mixed.json: %v", err)
	}
	if len(f.Cases) == 0 || f.Threshold < 0.9999 {
		t.Fatalf("fixtures_mixed.json: %d cases, threshold %v", len(f.Cases), f.Threshold)
	}
	return f.Cases, f.Threshold
}

// stream is the case's images as their input batches, with consecutive
// offsets; split cuts each batch further into batches of at most split
// images (0: as the fixture gives them).
func (c mixedCase) stream(t testing.TB, split int) *plugintest.Batches {
	t.Helper()
	r := &plugintest.Batches{}
	files := map[string]images{}
	off := 0
	for _, mb := range c.Batches {
		im, ok := files[mb.Images]
		if !ok {
			im = readImages(t, mb.Images)
			files[mb.Images] = im
		}
		for lo := mb.First; lo < mb.First+mb.Count; {
			n := mb.First + mb.Count - lo
			if split > 0 {
				n = min(n, split)
			}
			r.List = append(r.List, core.ImageBatch{
				Offset: off, Count: n, Height: im.g.h, Width: im.g.w, Channels: im.g.c,
				Pixels: im.px[lo*im.imgSize : (lo+n)*im.imgSize], Labels: make([]int32, n),
			})
			off += n
			lo += n
		}
	}
	return r
}

func (c mixedCase) options(t testing.TB, extra core.Options) core.Options {
	return caseOptions(t, fixtureCase{Model: c.Model, Options: c.Options}, extra)
}

// TestMixedSizesMatchReference: streams whose batches change size (40x56,
// 64x48, 33x33, 300x260 photos under resize 256 + center_crop 224; squares
// of 32 and 48 pixels under resize 224 alone) embed as PyTorch embeds each
// image, whether model batches gather images of several sizes (batch_size
// 3 or 32) or not (1), and with one image per input batch.
func TestMixedSizesMatchReference(t *testing.T) {
	cases, threshold := loadMixed(t)
	worst := 1.0
	sizes := map[geometry]bool{}
	for _, c := range cases {
		for _, split := range []int{0, 1} {
			for _, bs := range []int{1, 3, 32} {
				r := c.stream(t, split)
				for _, b := range r.List {
					sizes[geometryOf(b)] = true
				}
				got, dim, err := embedAll(context.Background(), Backbone{}, c.options(t, core.Options{optBatchSize: bs}), r)
				if err != nil {
					t.Fatalf("%s (batch_size %d, split %d): %v", c.Name, bs, split, err)
				}
				ref, n, refDim := readRef(t, c.Reference)
				minCos, other := compare(t, got, dim, ref, n, refDim, threshold)
				if split == 0 && bs == 3 {
					t.Logf("%s: min cosine %.9f (1-cos %.1e) over %d images in %d batches; max cosine to the next image's reference %.4f",
						c.Name, minCos, 1-minCos, n, len(r.List), other)
				}
				worst = min(worst, minCos)
			}
		}
	}
	if len(sizes) < 5 {
		t.Errorf("the mixed fixtures hold only the sizes %v", sizes)
	}
	t.Logf("min cosine over all mixed cases: %.9f (threshold %v)", worst, threshold)
}

// TestChunkedModelBatches: a model batch handed to preprocessing in many
// chunks (as one of large photos is) gives bit for bit the embeddings of
// one handed over whole.
func TestChunkedModelBatches(t *testing.T) {
	cases, _ := loadMixed(t)
	c := cases[0]
	opts := c.options(t, core.Options{optBatchSize: 4})
	whole, _, err := embedAll(context.Background(), Backbone{}, opts, c.stream(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer func(v int) { chunkBytes = v }(chunkBytes)
	chunkBytes = 1 // every segment is a chunk of its own
	chunked, _, err := embedAll(context.Background(), Backbone{}, opts, c.stream(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(whole, chunked) {
		t.Errorf("chunked preprocessing changed the embeddings")
	}
}

// needCropStream is 33x33 images, which resize 224 makes the 224x224 the
// test model takes, then 40x56 ones, which it makes 224x313.
func needCropStream(t testing.TB) (core.Options, *plugintest.Batches) {
	c := mixedCase{Model: "dinov2_tiny.onnx", Batches: []mixedBatch{
		{Images: "images_mixed_33x33.npy", First: 0, Count: 2},
		{Images: "images_mixed_40x56.npy", First: 0, Count: 1},
	}}
	return c.options(t, core.Options{optResize: 224}), c.stream(t, 0)
}

// TestMixedSizesNeedCrop: images whose shapes resize to different model
// input sizes are refused, naming both sizes and what to set, as the
// center_crop option's fault.
func TestMixedSizesNeedCrop(t *testing.T) {
	opts, r := needCropStream(t)
	_, _, err := embedAll(context.Background(), Backbone{}, opts, r)
	plugintest.WantInvalid(t, "mixed shapes without crop", err,
		"images of 40x56x3 (HxWxC) (batch at offset 2) preprocess to 224x313 with resize 224 and center_crop 0",
		"the stream's first images, of 33x33x3 (HxWxC), to 224x224", "set center_crop", "resize: 256 and center_crop: 224")
	plugintest.CheckOptionError(t, "mixed shapes without crop", err, optCenterCrop)
}

// TestMixedImageSizes: a stream may change size and channels from batch to
// batch when every image preprocesses to the model's input size (32x32 RGB
// and 28x28 grey both become 224x224); each image embeds as in a stream of
// its own kind. A batch unlike what its dataset announced is refused.
func TestMixedImageSizes(t *testing.T) {
	rgb := readImages(t, "images_rgb32.npy")
	gray := readImages(t, "images_gray28.npy")
	r := rgb.reader(4)
	for _, b := range gray.reader(2).List {
		b.Offset += rgb.n
		r.List = append(r.List, b)
	}
	opts := core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optBatchSize: 3}
	got, dim, err := embedAll(context.Background(), Backbone{}, opts, r)
	if err != nil {
		t.Fatal(err)
	}
	refRGB, nRGB, d := readRef(t, "ref_dinov2_tiny_rgb32_cls.npy")
	refGray, nGray, _ := readRef(t, "ref_dinov2_tiny_gray28_cls.npy")
	if dim != d || len(got) != (nRGB+nGray)*d {
		t.Fatalf("%d values of dim %d for %d images", len(got), dim, nRGB+nGray)
	}
	ref := append(slices.Clone(refRGB), refGray...)
	for i := range nRGB + nGray {
		if c := cosine(got[i*d:(i+1)*d], ref[i*d:(i+1)*d]); c < 0.9999 || math.IsNaN(c) {
			t.Errorf("image %d of the mixed stream: cosine %.7f to its reference", i, c)
		}
	}

	ctx := context.Background()
	send := func(core.EmbeddingBatch) error { return nil }
	fixed := core.DatasetInfo{Description: core.Description{Name: "cifar10"}, Height: 32, Width: 32, Channels: 3}
	r.Done = 0
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, Dataset: fixed}, r, send)
	plugintest.WantInvalid(t, "other size than the dataset's", err, "batch at offset 8 has images of 28x28x1 (HxWxC), but dataset cifar10 said its images are 32x32x3 (HxWxC)")
	r.Done = 0
	varying := core.DatasetInfo{Description: core.Description{Name: "photos"}, Channels: 3}
	err = Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts, Dataset: varying}, r, send)
	plugintest.WantInvalid(t, "other channels than the dataset's", err, "batch at offset 8 has images of 28x28x1 (HxWxC), but dataset photos said its images have 3 channels")
}

// TestMixedSizesThroughPluginProcess: batches of changing size cross the
// plugin boundary and embed as in process; the refusal of shapes that need
// a crop arrives as invalid input naming center_crop.
func TestMixedSizesThroughPluginProcess(t *testing.T) {
	c := launch(t)
	cases, threshold := loadMixed(t)
	mc := cases[0]
	ctx := context.Background()
	got, dim, err := embedAll(ctx, c.Backbone(), mc.options(t, core.Options{optBatchSize: 3}), mc.stream(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	ref, n, refDim := readRef(t, mc.Reference)
	minCos, _ := compare(t, got, dim, ref, n, refDim, threshold)
	t.Logf("%s through the plugin process: min cosine %.9f", mc.Name, minCos)

	opts, r := needCropStream(t)
	_, _, err = embedAll(ctx, c.Backbone(), opts, r)
	var oe *core.OptionError
	if !plugins.IsInvalidInput(err) || !errors.As(err, &oe) || oe.Key != optCenterCrop {
		t.Errorf("mixed shapes without crop through the plugin: %v; want invalid input on option center_crop", err)
	}
}
