package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// Version changes whenever the plugin would compute different embeddings for
// the same model file, options and images.
const Version = "1.0.0"

// Option names.
const (
	optModel        = "model"
	optInput        = "input"
	optOutput       = "output"
	optClsOutput    = "cls_output"
	optOutputHasCls = "output_has_cls"
	optRegisters    = "registers"
	optPatchSize    = "patch_size"
	optPooling      = "pooling"
	optResize       = "resize"
	optCenterCrop   = "center_crop"
	optMean         = "mean"
	optStd          = "std"
	optBatchSize    = "batch_size"
	optThreads      = "threads"
	optDevice       = "device"
	optPreset       = "preset"
)

// Presets: defaults for the preprocessing and the output of a family of
// models (see presets).
const (
	presetNone   = "none"
	presetDINOv2 = "dinov2"
	presetCLIP   = "clip"
)

// CLIP's normalisation constants (OpenAI clip, open_clip and Hugging Face's
// CLIPImageProcessor: OPENAI_CLIP_MEAN, OPENAI_CLIP_STD), as published.
const (
	clipMean = "0.48145466,0.4578275,0.40821073"
	clipStd  = "0.26862954,0.26130258,0.27577711"
)

// preset gives the defaults of the options a family of models needs set
// differently; an option the config sets wins over its preset. Only the
// resolved values enter the identity, so a preset and the same options
// spelt out share cached embeddings.
type preset struct {
	resize, centerCrop int
	mean, std, output  string
}

var presets = map[string]preset{
	// The plugin's defaults since its first version (TEMI's DINOv2
	// pipeline): they must not change, or every cached identity would.
	presetNone: {resize: 224, mean: floats3(imageprep.ImageNetMean), std: floats3(imageprep.ImageNetStd), output: "last_hidden_state"},
	// DINOv2's evaluation transform (make_classification_eval_transform).
	presetDINOv2: {resize: 256, centerCrop: 224, mean: floats3(imageprep.ImageNetMean), std: floats3(imageprep.ImageNetStd), output: "last_hidden_state"},
	// CLIP's evaluation transform (OpenAI clip.load's preprocess, open_clip's
	// image_transform(is_train=False)) and its image embedding, the
	// projected pooled output (CLIPVisionModelWithProjection.image_embeds,
	// encode_image).
	presetCLIP: {resize: 224, centerCrop: 224, mean: clipMean, std: clipStd, output: "image_embeds"},
}

// presetNames in the order the help lists them.
var presetNames = []string{presetNone, presetDINOv2, presetCLIP}

// Pooling choices.
const (
	poolCLS          = "cls"
	poolPatchMean    = "patch-mean"
	poolCLSPatchMean = "cls+patch-mean"
)

// autoRegisters asks the plugin to deduce the number of register tokens
// from the token count: tokens = 1 + registers + patches.
const autoRegisters = -1

// notIdentity are the options that cannot change the embeddings: where the
// model file lies (its sha256 stands for it) and how the work is scheduled.
// device is not part of the identity either: CPU and CUDA give the same
// embeddings up to float rounding, and the cache should serve both.
var notIdentity = map[string]bool{optModel: true, optBatchSize: true, optThreads: true, optDevice: true}

// schema is the option schema with the defaults of preset none, the one
// Describe without options gives.
func schema() []core.Option { return schemaFor(presetNone) }

// presetOption is the preset option. It has no default so that a config
// without it resolves to the same options as before presets existed (the
// resolved options enter the runner's trial identity).
func presetOption() core.Option {
	return core.Option{
		Name: optPreset, Type: core.TypeString, Optional: true, Choices: presetNames,
		Help: "defaults for resize, center_crop, mean, std and output (options set in the config win): " +
			"none (the same as unset: resize 224, no crop, ImageNet mean and std, output last_hidden_state; TEMI's DINOv2 pipeline), " +
			"dinov2 (DINOv2's evaluation transform: resize 256, center_crop 224, ImageNet mean and std, output last_hidden_state), " +
			"clip (the evaluation transform of OpenAI CLIP and open_clip: resize 224, center_crop 224, mean " + clipMean + ", std " + clipStd +
			", and the projected image embedding, output image_embeds [N, D] of a CLIPVisionModelWithProjection export as scripts/export_clip.py writes; pooling cls). " +
			"Only the resolved values enter the identity: a preset and the same options spelt out share cached embeddings",
	}
}

// schemaFor is the option schema with the defaults of the named preset.
func schemaFor(name string) []core.Option {
	pr := presets[name]
	return []core.Option{
		{
			Name: optModel, Type: core.TypeString,
			Help: "path to the ONNX image model (.onnx): a DINOv2 export (e.g. Hugging Face facebook/dinov2-*, or scripts/export_dinov2.py's) with input pixel_values and output last_hidden_state, a CLIP image tower (preset: clip; scripts/export_clip.py), or any ViT the options describe",
		},
		presetOption(),
		{
			Name: optInput, Type: core.TypeString, Default: "pixel_values",
			Help: "name of the model input holding the images, float32 [N, 3, H, W]",
		},
		{
			Name: optOutput, Type: core.TypeString, Default: pr.output,
			Help: "name of the model output to pool: tokens [N, T, D] laid out CLS, registers, patches (see output_has_cls), or one vector per image [N, D] taken as the embedding (e.g. pooler_output, or a CLIP export's image_embeds); the default comes from preset",
		},
		{
			Name: optClsOutput, Type: core.TypeString, Default: "",
			Help: "name of a separate [N, D] output holding the CLS token after the final norm (e.g. x_norm_clstoken of an export of forward_features); empty = token 0 of output",
		},
		{
			Name: optOutputHasCls, Type: core.TypeBool, Default: true,
			Help: "whether the token output starts with the CLS token; false for an output of patch tokens only (e.g. x_norm_patchtokens), which then needs cls_output for cls pooling",
		},
		{
			Name: optRegisters, Type: core.TypeInt, Default: autoRegisters, Min: core.Bound(autoRegisters),
			Help: "register tokens between the CLS token and the patch tokens of output (4 in dinov2_*_reg models); -1 = deduce from the token count",
		},
		{
			Name: optPatchSize, Type: core.TypeInt, Default: 14, Min: core.Bound(1),
			Help: "the model's patch size in pixels, which gives the number of patch tokens, (H/patch_size)*(W/patch_size)",
		},
		{
			Name: optPooling, Type: core.TypeString, Default: poolCLS, Choices: []string{poolCLS, poolPatchMean, poolCLSPatchMean},
			Help: "embedding of an image: cls (the CLS token after the final norm), patch-mean (mean of the patch tokens, registers excluded) or cls+patch-mean (both concatenated, 2D values)",
		},
		{
			Name: optResize, Type: core.TypeInt, Default: pr.resize, Min: core.Bound(0),
			Help: "resize the smaller image edge to this many pixels with PIL's bicubic filter, as torchvision Resize(resize, BICUBIC) on a PIL image (the longer edge becomes int(resize*long/short), as in torchvision and Hugging Face's image processors); 0 = keep the size; the default comes from preset",
		},
		{
			Name: optCenterCrop, Type: core.TypeInt, Default: pr.centerCrop, Min: core.Bound(0),
			Help: "after resizing, cut a square of this size from the centre (torchvision CenterCrop: offset round((size-crop)/2), halves to even, zero-padding a smaller image; Hugging Face's CLIPImageProcessor floors the offset instead, one pixel apart when size-crop is 3 mod 4); 0 = no crop, for images that all resize to the one size the model takes (squares, for a 224x224 model); images of different shapes, such as a folder of photos, need a crop: resize 256 with center_crop 224 is DINOv2's evaluation transform (preset dinov2), resize 224 with center_crop 224 CLIP's (preset clip); the default comes from preset",
		},
		{
			Name: optMean, Type: core.TypeString, Default: pr.mean,
			Help: "per-channel (R,G,B) mean subtracted after scaling pixels to [0,1] (torchvision Normalize), three comma-separated numbers; the default comes from preset (ImageNet's, or CLIP's for preset clip)",
		},
		{
			Name: optStd, Type: core.TypeString, Default: pr.std,
			Help: "per-channel (R,G,B) standard deviation divided by after subtracting mean, three comma-separated non-zero numbers; the default comes from preset (ImageNet's, or CLIP's for preset clip)",
		},
		{
			Name: optBatchSize, Type: core.TypeInt, Default: 32, Min: core.Bound(1), Max: core.Bound(65536),
			Help: "images per ONNX Runtime call (the last call is padded); a model with a fixed batch dimension uses its own; does not change the embeddings",
		},
		{
			Name: optThreads, Type: core.TypeInt, Default: 0, Min: core.Bound(0), Max: core.Bound(1024),
			Help: "ONNX Runtime intra-op threads; 0 = ONNX Runtime's default (one per physical core)",
		},
		{
			Name: optDevice, Type: core.TypeString, Default: "cpu",
			Help: "cpu, or cuda / cuda:N (GPU N) with a GPU build of ONNX Runtime (libonnxruntime_providers_cuda.so beside the library, CUDA 12 and cuDNN 9 on the loader path)",
		},
	}
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindBackbone,
		Name:    "dinov2",
		Version: Version,
		Summary: "DINOv2, CLIP (preset: clip) or any ViT as an ONNX model on ONNX Runtime: PIL-exact Resize(BICUBIC)+CenterCrop+ToTensor+Normalize, then the CLS token and/or the mean patch token, or the model's own embedding",
		Options: schema(),
	}
}

// params are the resolved options.
type params struct {
	model                   string
	input, output, clsOut   string
	outputHasCls            bool
	registers, patchSize    int
	pooling                 string
	pre                     imageprep.Config
	batchSize, threads      int
	cudaDevice              int    // -1: CPU
	canonicalWithoutRuntime string // identity-relevant options as canonical JSON
}

// options are the backbone's options as given (core.Decode fills them).
type options struct {
	Preset       *string `option:"preset"`
	Model        string  `option:"model"`
	Input        string  `option:"input"`
	Output       string  `option:"output"`
	ClsOutput    string  `option:"cls_output"`
	OutputHasCls bool    `option:"output_has_cls"`
	Registers    int     `option:"registers"`
	PatchSize    int     `option:"patch_size"`
	Pooling      string  `option:"pooling"`
	Resize       int     `option:"resize"`
	CenterCrop   int     `option:"center_crop"`
	Mean         string  `option:"mean"`
	Std          string  `option:"std"`
	BatchSize    int     `option:"batch_size"`
	Threads      int     `option:"threads"`
	Device       string  `option:"device"`
}

// presetOf reads the preset option of opts (none when unset).
func presetOf(opts core.Options) (string, error) {
	v, ok := opts[optPreset]
	if !ok {
		return presetNone, nil
	}
	o, err := core.ResolveOptions([]core.Option{presetOption()}, core.Options{optPreset: v})
	if err != nil {
		return "", err
	}
	return o.String(optPreset), nil
}

// schemaOf is the schema Describe gives for opts (whose preset resolve
// accepted): the one with their preset's defaults, so that the runner,
// which resolves the config against it and hands the result to Embed,
// fills in the preset's values and not those of preset none.
func schemaOf(opts core.Options) []core.Option {
	name, err := presetOf(opts)
	if err != nil {
		name = presetNone
	}
	return schemaFor(name)
}

// resolve decodes opts against the schema of their preset: options left
// unset take the preset's defaults. opts may be the options as given or
// as the runner resolved them against the schema Describe returned for
// them (with the same preset's defaults filled in): both resolve alike.
func resolve(opts core.Options) (params, error) {
	name, err := presetOf(opts)
	if err != nil {
		return params{}, err
	}
	var x options
	o, err := core.Decode(schemaFor(name), opts, &x)
	if err != nil {
		return params{}, err
	}
	p := params{
		model: x.Model, input: x.Input, output: x.Output,
		clsOut: x.ClsOutput, outputHasCls: x.OutputHasCls,
		registers: x.Registers, patchSize: x.PatchSize, pooling: x.Pooling,
		batchSize: x.BatchSize, threads: x.Threads,
	}
	if p.cudaDevice, err = parseDevice(x.Device); err != nil {
		return params{}, &core.OptionError{Key: optDevice, Msg: err.Error()}
	}
	if strings.TrimSpace(p.model) == "" {
		return params{}, &core.OptionError{Key: optModel, Msg: "set it to the path of a DINOv2 ONNX model (.onnx)"}
	}
	for _, kv := range [][2]string{{optInput, x.Input}, {optOutput, x.Output}} {
		if kv[1] == "" {
			return params{}, &core.OptionError{Key: kv[0], Msg: "must name a tensor of the model"}
		}
	}
	if p.clsOut != "" && p.clsOut == p.output {
		return params{}, &core.OptionError{Key: optClsOutput, Msg: fmt.Sprintf("names the same tensor as output (%q); leave it empty to take the CLS token from output", p.output)}
	}
	if p.pooling != poolPatchMean && !p.outputHasCls && p.clsOut == "" {
		return params{}, &core.OptionError{Key: optClsOutput, Msg: fmt.Sprintf("pooling %q needs the CLS token, but output_has_cls is false: set cls_output to the model output holding it, or use pooling: %s", p.pooling, poolPatchMean)}
	}
	p.pre = imageprep.Config{Resize: x.Resize, CenterCrop: x.CenterCrop}
	if p.pre.Mean, err = parseFloats3(x.Mean); err != nil {
		return params{}, &core.OptionError{Key: optMean, Msg: err.Error()}
	}
	if p.pre.Std, err = parseFloats3(x.Std); err != nil {
		return params{}, &core.OptionError{Key: optStd, Msg: err.Error()}
	}
	if err := p.pre.Validate(); err != nil {
		return params{}, &core.OptionError{Key: optStd, Msg: err.Error()}
	}
	id := make(core.Options, len(o))
	for k, v := range o {
		if !notIdentity[k] {
			id[k] = v
		}
	}
	// The preset's effect is in the values it resolved to, which are all
	// in id: leaving its name out gives a config without preset its old
	// identity and a preset the identity of its options spelt out.
	delete(id, optPreset)
	// mean and std enter as the float32 values used, so "0.5" and "0.50"
	// give one identity.
	id[optMean], id[optStd] = floats3(p.pre.Mean), floats3(p.pre.Std)
	p.canonicalWithoutRuntime = id.Canonical()
	return p, nil
}

// identity covers everything the embeddings depend on besides the dataset:
// the plugin version, the model file's content and the options that change
// the computation.
func (p params) identity(modelSHA256 string) string {
	return fmt.Sprintf("dinov2 %s model_sha256=%s preprocess=%q options=%s", Version, modelSHA256, p.pre.String(), p.canonicalWithoutRuntime)
}

func floats3(v [3]float32) string {
	s := make([]string, 3)
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(s, ",")
}

func parseFloats3(s string) ([3]float32, error) {
	var out [3]float32
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("want three comma-separated numbers (R,G,B), e.g. %q, got %q", floats3(imageprep.ImageNetMean), s)
	}
	for i, part := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 32)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return out, fmt.Errorf("value %d of %q is not a finite number", i+1, s)
		}
		out[i] = float32(f)
	}
	return out, nil
}

// parseDevice reads cpu (-1), cuda (GPU 0) or cuda:N.
func parseDevice(s string) (int, error) {
	switch {
	case s == "cpu":
		return -1, nil
	case s == "cuda" || s == "gpu":
		return 0, nil
	case strings.HasPrefix(s, "cuda:"):
		n, err := strconv.Atoi(s[len("cuda:"):])
		if err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%q: want cpu, cuda or cuda:N", s)
}
