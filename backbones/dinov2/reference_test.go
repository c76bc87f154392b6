package main

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestEmbeddingsMatchReference runs every fixture case (each model, image
// set and pooling, the register variant, the custom-names export) through
// Backbone.Embed and compares each image's embedding with the one PyTorch +
// torchvision + PIL computed. batch_size 3 and input batches of 5, 0 and 2
// images make the pipeline split, gather and pad model batches.
func TestEmbeddingsMatchReference(t *testing.T) {
	fx := loadFixtures(t)
	worst := 1.0
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			im := readImages(t, c.Images)
			ref, n, refDim := readRef(t, c.Reference)
			if n != im.n {
				t.Fatalf("%d references for %d images", n, im.n)
			}
			got, dim, err := embedAll(context.Background(), Backbone{}, caseOptions(t, c, core.Options{optBatchSize: 3}), im.reader(5, 0, 2))
			if err != nil {
				t.Fatal(err)
			}
			minCos, other := compare(t, got, dim, ref, n, refDim, fx.Threshold)
			t.Logf("options %v: min cosine %.9f (1-cos %.1e) over %d images (dim %d); max cosine to the next image's reference %.4f",
				c.Options, minCos, 1-minCos, n, dim, other)
			worst = min(worst, minCos)
		})
	}
	t.Logf("min cosine over all %d cases: %.9f (1-cos %.1e; threshold %v)", len(fx.Cases), worst, 1-worst, fx.Threshold)
}

// TestBatchingDoesNotChangeEmbeddings: however the stream is cut into
// input batches and model batches, each image gets the same embedding.
func TestBatchingDoesNotChangeEmbeddings(t *testing.T) {
	im := readImages(t, "images_rgb32.npy")
	model := testdataPath(t, "dinov2_tiny_reg4.onnx")
	opts := func(bs, threads int) core.Options {
		return core.Options{optModel: model, optPooling: poolCLSPatchMean, optBatchSize: bs, optThreads: threads}
	}
	base, dim, err := embedAll(context.Background(), Backbone{}, opts(8, 0), im.reader(8))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		batch, threads int
		sizes          []int
	}{
		{1, 0, []int{8}},
		{4, 1, []int{1}},
		{5, 0, []int{3, 0, 0, 4}},
		{16, 2, []int{2, 7}},
	} {
		got, d, err := embedAll(context.Background(), Backbone{}, opts(tc.batch, tc.threads), im.reader(tc.sizes...))
		if err != nil {
			t.Fatalf("batch_size %d, input batches %v: %v", tc.batch, tc.sizes, err)
		}
		if d != dim {
			t.Fatalf("dim %d, want %d", d, dim)
		}
		for i := range im.n {
			if c := cosine(got[i*dim:(i+1)*dim], base[i*dim:(i+1)*dim]); c < 0.999999 {
				t.Errorf("batch_size %d, input batches %v: image %d has cosine %.8f to its embedding in one batch", tc.batch, tc.sizes, i, c)
			}
		}
	}
}

// TestEmptyStream: no images, no embeddings, no error; an empty batch still
// gets its (empty) answer.
func TestEmptyStream(t *testing.T) {
	opts := core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx")}
	got, _, err := embedAll(context.Background(), Backbone{}, opts, &plugintest.Batches{})
	if err != nil || len(got) != 0 {
		t.Fatalf("empty stream: %d values, %v", len(got), err)
	}
	r := &plugintest.Batches{List: []core.ImageBatch{{Offset: 0, Count: 0, Height: 32, Width: 32, Channels: 3}}}
	got, _, err = embedAll(context.Background(), Backbone{}, opts, r)
	if err != nil || len(got) != 0 {
		t.Fatalf("one empty batch: %d values, %v", len(got), err)
	}
}

// TestSessionReuse: a second stream with the same options runs on the
// session the first one left, with the same results; a failed stream does
// not leave its session behind.
func TestSessionReuse(t *testing.T) {
	im := readImages(t, "images_rgb32.npy")
	opts := core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optPooling: poolPatchMean, optBatchSize: 3}
	first, _, err := embedAll(context.Background(), Backbone{}, opts, im.reader(4))
	if err != nil {
		t.Fatal(err)
	}
	idle.Lock()
	kept := idle.s
	idle.Unlock()
	if kept == nil {
		t.Fatal("no session kept after a successful stream")
	}
	second, _, err := embedAll(context.Background(), Backbone{}, opts, im.reader(4))
	if err != nil {
		t.Fatal(err)
	}
	idle.Lock()
	again := idle.s
	idle.Unlock()
	if again != kept {
		t.Error("the second stream did not reuse the kept session")
	}
	if !slices.Equal(first, second) {
		t.Error("the reused session gives other embeddings")
	}
	stop := errors.New("stop")
	err = Backbone{}.Embed(context.Background(), core.EmbedRequest{Options: opts}, im.reader(4), func(core.EmbeddingBatch) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatal(err)
	}
	idle.Lock()
	after := idle.s
	idle.Unlock()
	if after != nil {
		t.Error("a failed stream left its session for reuse")
	}
}
