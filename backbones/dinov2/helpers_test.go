package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// The fixtures in testdata were made by testdata/make_fixtures.py (see its
// docstring): tiny DINOv2 models, test images and the embeddings PyTorch,
// torchvision and PIL compute for them.

type fixtureCase struct {
	Name      string         `json:"name"`
	Model     string         `json:"model"`
	Images    string         `json:"images"`
	Options   map[string]any `json:"options"`
	Reference string         `json:"reference"`
}

type fixtureSet struct {
	Threshold float64       `json:"threshold"`
	Cases     []fixtureCase `json:"cases"`
}

func loadFixtures(t testing.TB) fixtureSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
	if err != nil {
		t.Fatalf("read fixtures: %v; regenerate with /usr/bin/python3 backbones/dinov2/testdata/make_fixtures.py", err)
	}
	var f fixtureSet
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse fixtures.json: %v", err)
	}
	if len(f.Cases) == 0 || f.Threshold < 0.9999 {
		t.Fatalf("fixtures.json: %d cases, threshold %v", len(f.Cases), f.Threshold)
	}
	return f
}

// testdataPath is the absolute path of a testdata file, so that plugin
// processes find it too.
func testdataPath(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// images is a stack of HWC uint8 images.
type images struct {
	n       int
	g       geometry
	px      []uint8
	imgSize int
}

func readImages(t testing.TB, name string) images {
	t.Helper()
	h, data, err := npy.ReadFile(testdataPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if h.DType != "|u1" || len(h.Shape) != 4 {
		t.Fatalf("%s: dtype %s shape %v, want uint8 [N, H, W, C]", name, h.DType, h.Shape)
	}
	g := geometry{h.Shape[1], h.Shape[2], h.Shape[3]}
	return images{n: h.Shape[0], g: g, px: data, imgSize: g.h * g.w * g.c}
}

// readRef reads reference embeddings [N, D].
func readRef(t testing.TB, name string) ([]float32, int, int) {
	t.Helper()
	v, shape, err := npy.ReadFloat32(testdataPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 {
		t.Fatalf("%s: shape %v, want [N, D]", name, shape)
	}
	return v, shape[0], shape[1]
}

// reader cuts the images into batches of the given sizes, cycling through
// sizes until all images are served (a size of 0 makes an empty batch).
func (im images) reader(sizes ...int) *plugintest.Batches {
	r := &plugintest.Batches{}
	for lo, k := 0, 0; lo < im.n; k++ {
		c := min(sizes[k%len(sizes)], im.n-lo)
		r.List = append(r.List, core.ImageBatch{
			Offset: lo, Count: c, Height: im.g.h, Width: im.g.w, Channels: im.g.c,
			Pixels: im.px[lo*im.imgSize : (lo+c)*im.imgSize], Labels: make([]int32, c),
		})
		lo += c
	}
	return r
}

// embedAll runs Embed and returns the embeddings in order, checking that
// one EmbeddingBatch came back per image batch with its offset and count.
func embedAll(ctx context.Context, bb core.Backbone, opts core.Options, r *plugintest.Batches) ([]float32, int, error) {
	var out []float32
	dim, got := 0, 0
	err := bb.Embed(ctx, core.EmbedRequest{Options: opts, Split: core.SplitTest}, r, func(b core.EmbeddingBatch) error {
		if got >= len(r.List) {
			return fmt.Errorf("embedding batch %d for %d image batches", got, len(r.List))
		}
		want := r.List[got]
		if b.Offset != want.Offset || b.Count != want.Count || len(b.Values) != b.Count*b.Dim {
			return fmt.Errorf("embedding batch %d: offset %d count %d dim %d with %d values; image batch had offset %d count %d",
				got, b.Offset, b.Count, b.Dim, len(b.Values), want.Offset, want.Count)
		}
		if dim != 0 && b.Count > 0 && b.Dim != dim {
			return fmt.Errorf("dim changed from %d to %d", dim, b.Dim)
		}
		if b.Count > 0 {
			dim = b.Dim
		}
		got++
		out = append(out, b.Values...)
		return nil
	})
	if err == nil && got != len(r.List) {
		err = fmt.Errorf("%d embedding batches for %d image batches", got, len(r.List))
	}
	return out, dim, err
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// caseOptions are a fixture case's plugin options with the model path.
func caseOptions(t testing.TB, c fixtureCase, extra core.Options) core.Options {
	o := core.Options{optModel: testdataPath(t, c.Model)}
	for k, v := range c.Options {
		o[k] = v
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// compare checks every image against the reference and returns the
// smallest cosine similarity, and the largest one between an image's
// embedding and the next image's reference (which must fail the threshold,
// or the comparison proves nothing).
func compare(t *testing.T, got []float32, dim int, ref []float32, n, refDim int, threshold float64) (minCos, maxOther float64) {
	t.Helper()
	if dim != refDim || len(got) != n*dim {
		t.Fatalf("got %d values of dim %d, want %d images of dim %d", len(got), dim, n, refDim)
	}
	minCos, maxOther = 1, -1
	for i := range n {
		c := cosine(got[i*dim:(i+1)*dim], ref[i*dim:(i+1)*dim])
		if c < threshold {
			t.Errorf("image %d: cosine %.7f to the reference, want >= %v", i, c, threshold)
		}
		minCos = min(minCos, c)
		j := (i + 1) % n
		maxOther = max(maxOther, cosine(got[i*dim:(i+1)*dim], ref[j*dim:(j+1)*dim]))
	}
	if n > 1 && maxOther >= threshold {
		t.Errorf("image i against reference i+1 reaches cosine %.7f: the fixtures cannot tell images apart", maxOther)
	}
	return minCos, maxOther
}
