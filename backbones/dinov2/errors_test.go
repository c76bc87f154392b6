package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// TestModelThatDoesNotFit: a model whose inputs or outputs do not fit
// gives one error naming what it has and what was expected.
func TestModelThatDoesNotFit(t *testing.T) {
	ctx := context.Background()
	notVit := testdataPath(t, "not_a_vit.onnx")
	tiny := testdataPath(t, "dinov2_tiny.onnx")
	_, err := Backbone{}.Describe(ctx, core.Options{optModel: notVit})
	plugintest.WantInvalid(t, "not a ViT", err, notVit, `input "pixel_values" has shape [?, 784], not [N, 3, H, W]`, `no output "last_hidden_state"`,
		"It has inputs [pixel_values float32 [?, 784]] and outputs [logits float32 [?, 10]]",
		`expected input "pixel_values" float32 [N, 3, H, W] and output "last_hidden_state" float32 [N, 1+R+P, D]`)

	_, err = Backbone{}.Describe(ctx, core.Options{optModel: tiny, optInput: "image", optOutput: "features"})
	plugintest.WantInvalid(t, "wrong names", err, `no input "image"`, `no output "features"`,
		"It has inputs [pixel_values float32 [?, 3, 224, 224]] and outputs [last_hidden_state float32 [?, 257, 64], pooler_output float32 [?, 64]]")

	_, err = Backbone{}.Describe(ctx, core.Options{optModel: tiny, optOutput: "pooler_output", optPooling: poolPatchMean})
	plugintest.WantInvalid(t, "patch-mean of a vector output", err, `allows only pooling "cls"`)

	_, err = Backbone{}.Describe(ctx, core.Options{optModel: tiny, optClsOutput: "nope"})
	plugintest.WantInvalid(t, "missing cls_output", err, `no output "nope" (cls_output)`)

	// Errors that need the model to run: the token count and the input size.
	im := readImages(t, "images_rgb32.npy")
	reg4 := testdataPath(t, "dinov2_tiny_reg4.onnx")
	_, _, err = embedAll(ctx, Backbone{}, core.Options{optModel: reg4, optRegisters: 0}, im.reader(8))
	plugintest.WantInvalid(t, "registers 0 on a register model", err, "261 tokens", "256 patch tokens", "set registers: 4")
	_, _, err = embedAll(ctx, Backbone{}, core.Options{optModel: tiny, optPatchSize: 16}, im.reader(8))
	plugintest.WantInvalid(t, "wrong patch size", err, "patch_size 16 makes 196 patch tokens", "fits patch_size: 14 (with 0 registers)")
	_, _, err = embedAll(ctx, Backbone{}, core.Options{optModel: tiny, optResize: 112}, im.reader(8))
	plugintest.WantInvalid(t, "wrong resolution", err, "takes [224, 224] images", "makes 112x112")
	wide := readImages(t, "images_wide.npy")
	_, _, err = embedAll(ctx, Backbone{}, core.Options{optModel: tiny}, wide.reader(8))
	plugintest.WantInvalid(t, "non-square without crop", err, "makes 224x298", "center_crop: 224")
}

func TestBadModelFilesAndOptions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.onnx")
	if err := os.WriteFile(garbage, []byte("not a protobuf at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what  string
		opts  core.Options
		parts []string
	}{
		{"no model option", core.Options{}, []string{`"model"`}},
		{"missing file", core.Options{optModel: filepath.Join(dir, "nope.onnx")}, []string{"nope.onnx", "no such file"}},
		{"directory", core.Options{optModel: dir}, []string{"is a directory"}},
		{"not ONNX", core.Options{optModel: garbage}, []string{"garbage.onnx", "not a model ONNX Runtime can load"}},
		{"bad mean", core.Options{optModel: garbage, optMean: "0.5,0.5"}, []string{`"mean"`, "three comma-separated"}},
		{"zero std", core.Options{optModel: garbage, optStd: "0.2,0,0.2"}, []string{`"std"`, "non-zero"}},
		{"bad pooling", core.Options{optModel: garbage, optPooling: "max"}, []string{`"pooling"`, "cls+patch-mean"}},
		{"cls without cls", core.Options{optModel: garbage, optOutputHasCls: false}, []string{`"cls_output"`}},
		{"unknown option", core.Options{optModel: garbage, "resolution": 224}, []string{`"resolution"`, "unknown option"}},
		{"bad device", core.Options{optModel: garbage, optDevice: "tpu"}, []string{`"device"`, "want cpu, cuda or cuda:N"}},
		{"bad cuda index", core.Options{optModel: garbage, optDevice: "cuda:x"}, []string{`"device"`}},
	} {
		_, err := Backbone{}.Describe(ctx, tc.opts)
		plugintest.WantInvalid(t, tc.what, err, tc.parts...)
	}
}

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	tiny := testdataPath(t, "dinov2_tiny.onnx")
	id := func(opts core.Options) string {
		t.Helper()
		info, err := Backbone{}.Describe(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if info.NeedsFit {
			t.Fatal("NeedsFit: the model is frozen")
		}
		return info.Identity
	}
	base := id(core.Options{optModel: tiny})
	// A copy of the model elsewhere, other batch size and threads, and
	// the defaults spelt out: the same embeddings, the same identity.
	cp := filepath.Join(t.TempDir(), "copy.onnx")
	b, err := os.ReadFile(tiny)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, o := range []core.Options{
		{optModel: cp},
		{optModel: tiny, optBatchSize: 7, optThreads: 1},
		{optModel: tiny, optDevice: "cuda:1"},
		{optModel: tiny, optPooling: poolCLS, optMean: "0.485, 0.456, 0.406", optResize: 224},
	} {
		if got := id(o); got != base {
			t.Errorf("options %v: identity %q, want %q", o, got, base)
		}
	}
	if !strings.Contains(base, "model_sha256=") || !strings.Contains(base, "pil9-bicubic") {
		t.Errorf("identity %q lacks the model hash or the preprocessing", base)
	}
	seen := map[string]string{base: "defaults"}
	for name, o := range map[string]core.Options{
		"other model":  {optModel: testdataPath(t, "dinov2_tiny_reg4.onnx")},
		"pooling":      {optModel: tiny, optPooling: poolPatchMean},
		"output":       {optModel: tiny, optOutput: "pooler_output"},
		"center crop":  {optModel: tiny, optCenterCrop: 224},
		"mean":         {optModel: tiny, optMean: "0.5,0.5,0.5"},
		"std":          {optModel: tiny, optStd: "0.5,0.5,0.5"},
		"registers":    {optModel: tiny, optRegisters: 0},
		"patch size":   {optModel: tiny, optPatchSize: 16},
		"resize":       {optModel: tiny, optResize: 256},
		"has cls flag": {optModel: tiny, optOutputHasCls: false, optPooling: poolPatchMean},
	} {
		got := id(o)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s gives the identity of %s: %q", name, prev, got)
		}
		seen[got] = name
	}
}

// blockingReader serves some batches, then blocks until released.
type blockingReader struct {
	r       *plugintest.Batches
	release chan struct{}
}

func (b *blockingReader) Next() (core.ImageBatch, error) {
	if b.r.Done < len(b.r.List) {
		return b.r.Next()
	}
	<-b.release
	return core.ImageBatch{}, io.EOF
}

// TestCancelStopsEmbed: a cancelled context stops Embed promptly even while
// its reader is blocked, and an error of send is returned as is.
func TestCancelStopsEmbed(t *testing.T) {
	im := readImages(t, "images_rgb32.npy")
	opts := core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optBatchSize: 2}
	ctx, cancel := context.WithCancel(context.Background())
	br := &blockingReader{r: im.reader(4), release: make(chan struct{})}
	defer close(br.release)
	done := make(chan error, 1)
	sent := 0
	go func() {
		done <- Backbone{}.Embed(ctx, core.EmbedRequest{Options: opts}, br, func(core.EmbeddingBatch) error {
			sent++
			if sent == 2 { // everything served so far is embedded
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Embed after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Embed did not stop after its context was cancelled")
	}

	stop := errors.New("transport closed")
	err := Backbone{}.Embed(context.Background(), core.EmbedRequest{Options: opts}, im.reader(1), func(core.EmbeddingBatch) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("Embed with a failing send: %v, want %v", err, stop)
	}
}

// TestCUDAWithoutGPUBuild: device cuda on the CPU-only ONNX Runtime that
// `make setup` installs fails with one error saying what to install.
func TestCUDAWithoutGPUBuild(t *testing.T) {
	im := readImages(t, "images_rgb32.npy")
	opts := core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optDevice: "cuda"}
	err := Backbone{}.Embed(context.Background(), core.EmbedRequest{Options: opts}, im.reader(2), func(core.EmbeddingBatch) error { return nil })
	if err == nil {
		t.Skip("SKIPPED: this ONNX Runtime library runs the CUDA provider on a GPU; nothing to refuse here")
	}
	plugintest.WantInvalid(t, "device cuda", err, "device cuda:0", "CUDA provider is not available", "GPU build of ONNX Runtime")
}
