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
)

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

func schema() []core.Option {
	return []core.Option{
		{
			Name: optModel, Type: core.TypeString,
			Help: "path to the DINOv2 ONNX model (.onnx), e.g. a Hugging Face facebook/dinov2-* export with input pixel_values and output last_hidden_state",
		},
		{
			Name: optInput, Type: core.TypeString, Default: "pixel_values",
			Help: "name of the model input holding the images, float32 [N, 3, H, W]",
		},
		{
			Name: optOutput, Type: core.TypeString, Default: "last_hidden_state",
			Help: "name of the model output to pool: tokens [N, T, D] laid out CLS, registers, patches (see output_has_cls), or one vector per image [N, D] taken as the CLS embedding (e.g. pooler_output)",
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
			Name: optResize, Type: core.TypeInt, Default: 224, Min: core.Bound(0),
			Help: "resize the smaller image edge to this many pixels with PIL's bicubic filter, as torchvision Resize(resize, BICUBIC) on a PIL image; 0 = keep the size",
		},
		{
			Name: optCenterCrop, Type: core.TypeInt, Default: 0, Min: core.Bound(0),
			Help: "after resizing, cut a square of this size from the centre (torchvision CenterCrop, zero-padding a smaller image); 0 = no crop, for images that all resize to the one size the model takes (squares, for a 224x224 model); images of different shapes, such as a folder of photos, need a crop: resize 256 with center_crop 224 is DINOv2's evaluation transform",
		},
		{
			Name: optMean, Type: core.TypeString, Default: floats3(imageprep.ImageNetMean),
			Help: "per-channel (R,G,B) mean subtracted after scaling pixels to [0,1] (torchvision Normalize), three comma-separated numbers",
		},
		{
			Name: optStd, Type: core.TypeString, Default: floats3(imageprep.ImageNetStd),
			Help: "per-channel (R,G,B) standard deviation divided by after subtracting mean, three comma-separated non-zero numbers",
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
		Summary: "DINOv2 (or any ViT) ONNX model on ONNX Runtime: PIL-exact Resize(BICUBIC)+ToTensor+Normalize, then the CLS token and/or the mean patch token",
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
	Model        string `option:"model"`
	Input        string `option:"input"`
	Output       string `option:"output"`
	ClsOutput    string `option:"cls_output"`
	OutputHasCls bool   `option:"output_has_cls"`
	Registers    int    `option:"registers"`
	PatchSize    int    `option:"patch_size"`
	Pooling      string `option:"pooling"`
	Resize       int    `option:"resize"`
	CenterCrop   int    `option:"center_crop"`
	Mean         string `option:"mean"`
	Std          string `option:"std"`
	BatchSize    int    `option:"batch_size"`
	Threads      int    `option:"threads"`
	Device       string `option:"device"`
}

func resolve(opts core.Options) (params, error) {
	var x options
	o, err := core.Decode(schema(), opts, &x)
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
