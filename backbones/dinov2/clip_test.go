package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// The CLIP fixtures were made by testdata/make_clip_fixture.py: a tiny CLIP
// image tower exported as transformers' CLIPVisionModelWithProjection is
// (pixel_values -> image_embeds [N, 16]), and the embeddings PyTorch +
// torchvision + PIL compute with CLIP's evaluation transform, Resize(224,
// BICUBIC) + CenterCrop(224) + Normalize(CLIP mean, CLIP std), for streams
// of images of several sizes.

type clipFixtureSet struct {
	Threshold float64 `json:"threshold"`
	Options   struct {
		Preset   map[string]any `json:"preset"`
		Explicit map[string]any `json:"explicit"`
	} `json:"options"`
	Cases []mixedCase `json:"cases"`
}

func loadCLIP(t testing.TB) clipFixtureSet {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures_clip.json"))
	if err != nil {
		t.Fatalf("read CLIP fixtures: %v; regenerate with /usr/bin/python3 backbones/dinov2/testdata/make_clip_fixture.py", err)
	}
	var f clipFixtureSet
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("parse fixtures_clip.json: %v", err)
	}
	if len(f.Cases) == 0 || f.Threshold < 0.9999 || len(f.Options.Preset) == 0 || len(f.Options.Explicit) == 0 {
		t.Fatalf("fixtures_clip.json: %d cases, threshold %v, options %+v", len(f.Cases), f.Threshold, f.Options)
	}
	return f
}

// clipOptions are the model path, opts and extra.
func clipOptions(t testing.TB, c mixedCase, opts map[string]any, extra core.Options) core.Options {
	o := core.Options{optModel: testdataPath(t, c.Model)}
	for k, v := range opts {
		o[k] = v
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// TestCLIPMatchesReference: `preset: clip`, and the same preprocessing and
// output spelt out, reproduce the CLIP embeddings of every stream (squares
// as CIFAR has them, greyscale, and a mix of shapes among which some whose
// centre crop torchvision and Hugging Face's processor place a pixel
// apart), in input batches as the fixture cuts them and cut further.
func TestCLIPMatchesReference(t *testing.T) {
	fx := loadCLIP(t)
	worst := 1.0
	for _, c := range fx.Cases {
		for _, variant := range []struct {
			name string
			opts map[string]any
		}{{"preset", fx.Options.Preset}, {"explicit", fx.Options.Explicit}} {
			for _, split := range []int{0, 2} {
				t.Run(fmt.Sprintf("%s/%s/split%d", c.Name, variant.name, split), func(t *testing.T) {
					ref, n, refDim := readRef(t, c.Reference)
					opts := clipOptions(t, c, variant.opts, core.Options{optBatchSize: 3})
					got, dim, err := embedAll(context.Background(), Backbone{}, opts, c.stream(t, split))
					if err != nil {
						t.Fatal(err)
					}
					minCos, other := compare(t, got, dim, ref, n, refDim, fx.Threshold)
					t.Logf("options %v: min cosine %.9f (1-cos %.1e) over %d images (dim %d); max cosine to the next image's reference %.4f",
						variant.opts, minCos, 1-minCos, n, dim, other)
					worst = min(worst, minCos)
				})
			}
		}
	}
	t.Logf("min cosine over all CLIP cases: %.9f (1-cos %.1e; threshold %v)", worst, 1-worst, fx.Threshold)
}

// runnerEmbed does what the runner does with a backbone section: Describe
// the options given, resolve them against the schema that Describe
// returned, and Embed with the resolved options.
func runnerEmbed(t *testing.T, bb core.Backbone, given core.Options, c mixedCase) (core.Options, []float32, int) {
	t.Helper()
	ctx := context.Background()
	info, err := bb.Describe(ctx, given)
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := core.ResolveOptions(info.Options, given)
	if err != nil {
		t.Fatal(err)
	}
	got, dim, err := embedAll(ctx, bb, resolved, c.stream(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	return resolved, got, dim
}

// TestCLIPPresetThroughRunner: the runner resolves a config against the
// schema Describe gives for it and hands the resolved options to Embed, so
// that schema must carry the preset's defaults, in process and through the
// plugin process alike; an option the config sets still wins.
func TestCLIPPresetThroughRunner(t *testing.T) {
	fx := loadCLIP(t)
	var c mixedCase
	for _, x := range fx.Cases {
		if x.Name == "clip/mixed" {
			c = x
		}
	}
	if c.Name == "" {
		t.Fatal("fixtures_clip.json lacks the case clip/mixed")
	}
	ref, n, refDim := readRef(t, c.Reference)
	proc := launch(t)
	for _, bb := range []struct {
		name string
		b    core.Backbone
	}{{"in process", Backbone{}}, {"plugin process", proc.Backbone()}} {
		t.Run(bb.name, func(t *testing.T) {
			resolved, got, dim := runnerEmbed(t, bb.b, clipOptions(t, c, fx.Options.Preset, nil), c)
			for k, want := range map[string]any{optResize: int64(224), optCenterCrop: int64(224), optMean: clipMean, optStd: clipStd, optOutput: "image_embeds", optPreset: presetCLIP} {
				if resolved[k] != want {
					t.Errorf("resolved %s = %v (%T), want %v: the schema Describe gave lacks the preset's defaults", k, resolved[k], resolved[k], want)
				}
			}
			minCos, _ := compare(t, got, dim, ref, n, refDim, fx.Threshold)
			t.Logf("preset clip resolved as the runner does: min cosine %.9f", minCos)

			// The config's mean and std win over the preset's: the
			// embeddings move off the reference.
			imagenet := core.Options{optMean: "0.485,0.456,0.406", optStd: "0.229,0.224,0.225"}
			resolved, got, _ = runnerEmbed(t, bb.b, clipOptions(t, c, fx.Options.Preset, imagenet), c)
			if resolved[optMean] != imagenet[optMean] || resolved[optCenterCrop] != int64(224) {
				t.Errorf("preset clip with ImageNet mean resolved to mean %v, center_crop %v", resolved[optMean], resolved[optCenterCrop])
			}
			low := 1.0
			for i := range n {
				low = min(low, cosine(got[i*dim:(i+1)*dim], ref[i*dim:(i+1)*dim]))
			}
			if low >= fx.Threshold {
				t.Errorf("preset clip with ImageNet mean and std embeds as CLIP's normalisation does (min cosine %.7f): the config's values were overridden", low)
			}
		})
	}
}

// TestPresetIdentity: configs without preset keep the identities they had
// before presets existed (the keys of their cached embeddings); a preset
// and the same options spelt out share one identity; none spelt out is no
// preset; the config's options win over the preset's.
func TestPresetIdentity(t *testing.T) {
	ctx := context.Background()
	id := func(opts core.Options) string {
		t.Helper()
		info, err := Backbone{}.Describe(ctx, opts)
		if err != nil {
			t.Fatalf("Describe(%v): %v", opts, err)
		}
		return info.Identity
	}
	tiny := testdataPath(t, "dinov2_tiny.onnx")
	sum, err := store.FileSHA256(tiny)
	if err != nil {
		t.Fatal(err)
	}
	// The identities of version 1.0.0 before the preset option, for this
	// model file.
	before := func(pre, opts string) string {
		return fmt.Sprintf("dinov2 1.0.0 model_sha256=%s preprocess=%q options=%s", sum, pre, opts)
	}
	golden := []struct {
		opts core.Options
		want string
	}{
		{core.Options{optModel: tiny}, before("pil9-bicubic resize=short224 crop=0 mean=0.485,0.456,0.406 std=0.229,0.224,0.225",
			`{"center_crop":0,"cls_output":"","input":"pixel_values","mean":"0.485,0.456,0.406","output":"last_hidden_state","output_has_cls":true,"patch_size":14,"pooling":"cls","registers":-1,"resize":224,"std":"0.229,0.224,0.225"}`)},
		{core.Options{optModel: tiny, optResize: 256, optCenterCrop: 224}, before("pil9-bicubic resize=short256 crop=224 mean=0.485,0.456,0.406 std=0.229,0.224,0.225",
			`{"center_crop":224,"cls_output":"","input":"pixel_values","mean":"0.485,0.456,0.406","output":"last_hidden_state","output_has_cls":true,"patch_size":14,"pooling":"cls","registers":-1,"resize":256,"std":"0.229,0.224,0.225"}`)},
		{core.Options{optModel: tiny, optOutput: "pooler_output", optMean: "0.5,0.5,0.5"}, before("pil9-bicubic resize=short224 crop=0 mean=0.5,0.5,0.5 std=0.229,0.224,0.225",
			`{"center_crop":0,"cls_output":"","input":"pixel_values","mean":"0.5,0.5,0.5","output":"pooler_output","output_has_cls":true,"patch_size":14,"pooling":"cls","registers":-1,"resize":224,"std":"0.229,0.224,0.225"}`)},
	}
	for _, g := range golden {
		if got := id(g.opts); got != g.want {
			t.Errorf("options %v: identity\n %s\nwant the one before presets\n %s", g.opts, got, g.want)
		}
		withNone := core.Options{optPreset: presetNone}
		for k, v := range g.opts {
			withNone[k] = v
		}
		if got := id(withNone); got != g.want {
			t.Errorf("options %v: identity\n %s\ndiffers from the one without preset\n %s", withNone, got, g.want)
		}
	}
	// preset dinov2 is DINOv2's evaluation transform.
	if got, want := id(core.Options{optModel: tiny, optPreset: presetDINOv2}), golden[1].want; got != want {
		t.Errorf("preset dinov2: identity\n %s\nwant that of resize 256, center_crop 224\n %s", got, want)
	}

	clip := testdataPath(t, "clip_tiny.onnx")
	fx := loadCLIP(t)
	explicit := core.Options{optModel: clip}
	for k, v := range fx.Options.Explicit {
		explicit[k] = v
	}
	base := id(core.Options{optModel: clip, optPreset: presetCLIP})
	if got := id(explicit); got != base {
		t.Errorf("preset clip: identity\n %s\ndiffers from its options spelt out\n %s", base, got)
	}
	// CLIP's constants as the float32 values used.
	if want := `preprocess="pil9-bicubic resize=short224 crop=224 mean=0.48145467,0.4578275,0.40821072 std=0.26862955,0.2613026,0.2757771"`; !strings.Contains(base, want) || !strings.Contains(base, `"output":"image_embeds"`) {
		t.Errorf("preset clip: identity %s lacks CLIP's preprocessing (%s) or output", base, want)
	}
	// An option the config sets wins over the preset's, in the identity
	// as in the embeddings.
	override := core.Options{optModel: clip, optPreset: presetCLIP, optResize: 256}
	explicitOverride := core.Options{optResize: 256}
	for k, v := range explicit {
		if k != optResize {
			explicitOverride[k] = v
		}
	}
	if got, want := id(override), id(explicitOverride); got != want || got == base {
		t.Errorf("preset clip with resize 256: identity\n %s\nwant\n %s\n(and not the preset's own %s)", got, want, base)
	}
}

// TestPresetSchema: Describe without options documents preset none's
// defaults (those of the plugin before presets); with options, the schema
// carries the defaults of their preset.
func TestPresetSchema(t *testing.T) {
	ctx := context.Background()
	defaults := func(opts core.Options) map[string]any {
		t.Helper()
		info, err := Backbone{}.Describe(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for _, o := range info.Options {
			m[o.Name] = o.Default
		}
		return m
	}
	clip := testdataPath(t, "clip_tiny.onnx")
	for _, tc := range []struct {
		opts core.Options
		want map[string]any
	}{
		{nil, map[string]any{optResize: 224, optCenterCrop: 0, optMean: "0.485,0.456,0.406", optStd: "0.229,0.224,0.225", optOutput: "last_hidden_state", optPreset: nil}},
		{core.Options{optModel: clip, optPreset: presetCLIP}, map[string]any{optResize: 224, optCenterCrop: 224, optMean: clipMean, optStd: clipStd, optOutput: "image_embeds"}},
		{core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optPreset: presetDINOv2}, map[string]any{optResize: 256, optCenterCrop: 224, optOutput: "last_hidden_state"}},
	} {
		got := defaults(tc.opts)
		for k, want := range tc.want {
			if got[k] != want {
				t.Errorf("Describe(%v): default of %s is %v, want %v", tc.opts, k, got[k], want)
			}
		}
	}
}

// TestPresetErrors: an unknown preset, or one of the wrong type, is the
// preset option's fault.
func TestPresetErrors(t *testing.T) {
	clip := testdataPath(t, "clip_tiny.onnx")
	for _, tc := range []struct {
		what string
		opts core.Options
	}{
		{"unknown preset", core.Options{optModel: clip, optPreset: "openclip"}},
		{"preset of another type", core.Options{optModel: clip, optPreset: 3}},
	} {
		_, err := Backbone{}.Describe(context.Background(), tc.opts)
		plugintest.WantInvalid(t, tc.what, err, `"preset"`)
		plugintest.CheckOptionError(t, tc.what, err, optPreset)
	}
	// preset clip on a DINOv2 export: its output is not image_embeds, and
	// the error says which outputs the model has.
	_, err := Backbone{}.Describe(context.Background(), core.Options{optModel: testdataPath(t, "dinov2_tiny.onnx"), optPreset: presetCLIP})
	plugintest.WantInvalid(t, "preset clip on a DINOv2 model", err, `"image_embeds"`, "last_hidden_state")
}

// TestCLIPConformance runs the backbone plugin suite on the CLIP fixture
// model with preset clip: images of any size are cropped to the model's.
func TestCLIPConformance(t *testing.T) {
	plugintest.Backbone(t, Backbone{}, plugintest.BackboneCase{
		Options: core.Options{optModel: testdataPath(t, "clip_tiny.onnx"), optPreset: presetCLIP, optBatchSize: 4},
		Height:  12, Width: 20, Channels: 3, Train: 9,
		// ONNX Runtime's batched kernels differ in the last bits from
		// batch to batch.
		Tolerance: 1e-5,
	})
}
