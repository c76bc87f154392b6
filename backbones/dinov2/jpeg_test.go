package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/datasets/images/decode"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// The JPEG fixtures in testdata/jpeg were made by
// testdata/make_jpeg_fixtures.py: JPEG files of the layouts photos come in,
// the pixels Pillow decodes from them, and the embeddings PyTorch computes
// from those pixels through torchvision's ImageFolder loader and DINOv2's
// evaluation transform.

type jpegFixture struct {
	File        string `json:"file"`
	Pixels      string `json:"pixels"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	Mode        string `json:"mode"`
	Progressive bool   `json:"progressive"`
	Subsampling string `json:"subsampling"`
}

type jpegFixtures struct {
	Threshold  float64           `json:"threshold"`
	Model      string            `json:"model"`
	Options    map[string]any    `json:"options"`
	References map[string]string `json:"references"`
	Images     []jpegFixture     `json:"images"`
}

func loadJPEGFixtures(t *testing.T) jpegFixtures {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "jpeg", "index.json"))
	if err != nil {
		t.Fatalf("read JPEG fixtures: %v; regenerate with /usr/bin/python3 backbones/dinov2/testdata/make_jpeg_fixtures.py", err)
	}
	var f jpegFixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse testdata/jpeg/index.json: %v", err)
	}
	if len(f.Images) == 0 || len(f.References) == 0 || f.Threshold < 0.9999 {
		t.Fatalf("testdata/jpeg/index.json: %d images, %d references, threshold %v", len(f.Images), len(f.References), f.Threshold)
	}
	return f
}

// decodedStream is the fixtures' images decoded by decodeFn, one input
// batch per image (their sizes differ), with consecutive offsets.
func decodedStream(t *testing.T, fx jpegFixtures, decodeFn func(t *testing.T, data []byte) (w, h int, px []byte)) (*plugintest.Batches, [][]byte) {
	t.Helper()
	r := &plugintest.Batches{}
	var all [][]byte
	for i, im := range fx.Images {
		data, err := os.ReadFile(filepath.Join("testdata", "jpeg", im.File))
		if err != nil {
			t.Fatal(err)
		}
		w, h, px := decodeFn(t, data)
		if w != im.Width || h != im.Height {
			t.Fatalf("%s: decoded as %dx%d, Pillow reads %dx%d", im.File, w, h, im.Width, im.Height)
		}
		all = append(all, px)
		r.List = append(r.List, core.ImageBatch{
			Offset: i, Count: 1, Height: h, Width: w, Channels: 3, Pixels: px, Labels: make([]int32, 1),
		})
	}
	return r, all
}

// decodeClusterlab decodes as the images dataset does: Probe, then
// DecodeInto a buffer of the probed size.
func decodeClusterlab(t *testing.T, data []byte) (int, int, []byte) {
	t.Helper()
	hdr, err := decode.Probe(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	px := make([]byte, hdr.Width*hdr.Height*3)
	if err := decode.DecodeInto(data, px, hdr.Width, hdr.Height); err != nil {
		t.Fatal(err)
	}
	return hdr.Width, hdr.Height, px
}

// decodeGoStd decodes with the standard library's image/jpeg (its own IDCT,
// nearest-sample chroma, its own CMYK convention): a decoder that is not
// Pillow's, to see how far the embeddings move with the decoder.
func decodeGoStd(t *testing.T, data []byte) (int, int, []byte) {
	t.Helper()
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bounds()
	px := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			px = append(px, c.R, c.G, c.B)
		}
	}
	return b.Dx(), b.Dy(), px
}

// TestJpegMatchesPillowPipeline: JPEG files (4:2:0, 4:4:4, 4:2:2, odd
// sizes, grey, progressive, CMYK, one downscaled) decoded by clusterlab's
// decoder and embedded by the plugin give, image by image, the embeddings
// of Pillow's Image.open(f).convert("RGB") + torchvision + PyTorch, at the
// fixtures' cosine threshold, with model batches that gather images of
// several sizes. It logs the largest pixel difference from Pillow and the
// cosine that the standard library's image/jpeg would reach instead.
func TestJpegMatchesPillowPipeline(t *testing.T) {
	fx := loadJPEGFixtures(t)
	r, pixels := decodedStream(t, fx, decodeClusterlab)

	maxDiff, differ, values := 0, 0, 0
	for i, im := range fx.Images {
		hd, want, err := npy.ReadFile(filepath.Join("testdata", "jpeg", im.Pixels))
		if err != nil {
			t.Fatal(err)
		}
		if hd.DType != "|u1" || len(hd.Shape) != 3 || hd.Shape[0] != im.Height || hd.Shape[1] != im.Width || hd.Shape[2] != 3 {
			t.Fatalf("%s: Pillow's pixels are %s %v, want uint8 [%d, %d, 3]", im.Pixels, hd.DType, hd.Shape, im.Height, im.Width)
		}
		d, n := 0, 0
		for k, v := range pixels[i] {
			if a := absDiffByte(v, want[k]); a > 0 {
				d, n = max(d, a), n+1
			}
		}
		t.Logf("%s (%s %s, progressive %v): max abs pixel difference from Pillow %d, %d of %d values differ",
			im.File, im.Mode, im.Subsampling, im.Progressive, d, n, len(want))
		maxDiff, differ, values = max(maxDiff, d), differ+n, values+len(want)
	}
	t.Logf("pixels over all %d JPEGs: max abs difference from Pillow %d, %d of %d values differ", len(fx.Images), maxDiff, differ, values)

	worst := 1.0
	for pooling, refFile := range fx.References {
		ref, n, refDim := readRef(t, filepath.Join("jpeg", refFile))
		if n != len(fx.Images) {
			t.Fatalf("%s: %d references for %d images", refFile, n, len(fx.Images))
		}
		for _, bs := range []int{1, 3} {
			opts := caseOptions(t, fixtureCase{Model: fx.Model, Options: fx.Options},
				core.Options{optPooling: pooling, optBatchSize: bs})
			r.Done = 0
			got, dim, err := embedAll(context.Background(), Backbone{}, opts, r)
			if err != nil {
				t.Fatalf("%s, batch_size %d: %v", pooling, bs, err)
			}
			minCos, other := compare(t, got, dim, ref, n, refDim, fx.Threshold)
			t.Logf("%s, batch_size %d: min cosine %.9f (1-cos %.1e) over %d JPEGs; max cosine to the next image's reference %.4f",
				pooling, bs, minCos, 1-minCos, n, other)
			worst = min(worst, minCos)
		}
	}
	t.Logf("min cosine over all JPEGs and poolings: %.9f (threshold %v)", worst, fx.Threshold)

	// Not a requirement, a measure of what decoding like Pillow buys: the
	// same files through image/jpeg.
	std, _ := decodedStream(t, fx, decodeGoStd)
	ref, n, refDim := readRef(t, filepath.Join("jpeg", fx.References[poolCLS]))
	opts := caseOptions(t, fixtureCase{Model: fx.Model, Options: fx.Options}, core.Options{optPooling: poolCLS})
	got, dim, err := embedAll(context.Background(), Backbone{}, opts, std)
	if err != nil {
		t.Fatal(err)
	}
	if dim != refDim || len(got) != n*dim {
		t.Fatalf("image/jpeg stream: %d values of dim %d", len(got), dim)
	}
	stdWorst, stdRGB := 1.0, 1.0
	for i, im := range fx.Images {
		c := cosine(got[i*dim:(i+1)*dim], ref[i*dim:(i+1)*dim])
		stdWorst = min(stdWorst, c)
		if im.Mode == "RGB" {
			stdRGB = min(stdRGB, c)
		}
	}
	t.Logf("for comparison, Go's image/jpeg instead of clusterlab's decoder (cls): min cosine %.6f over all JPEGs, %.6f over the YCbCr ones", stdWorst, stdRGB)
}

func absDiffByte(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}
