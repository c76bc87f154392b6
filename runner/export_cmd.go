package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/headmodel"
	"github.com/clusterlab/clusterlab/core/onnxmodel"
	"github.com/clusterlab/clusterlab/core/onnxmodel/onnxpb"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
)

// `clusterlab export RUN_DIR --onnx FILE` writes a finished run's head as
// an ONNX model, in pure Go (core/onnxmodel writes the protobuf file; no
// ONNX Runtime is loaded): input embeddings float32 [N, D], outputs
// probabilities float32 [N, K] and cluster int64 [N]. With
// --with-backbone the run's DINOv2 ONNX model is merged in front, with the
// backbone's normalisation and pooling, so the model maps pixels to
// clusters.

// Names of the exported model's inputs and outputs.
const (
	exportEmbeddings = "embeddings"
	exportPixels     = "pixels"
	exportProbs      = "probabilities"
	exportCluster    = "cluster"
)

// exportOptions are the flags of `clusterlab export`.
type exportOptions struct {
	onnx, head   string
	withBackbone bool
}

func newExportCmd() *cobra.Command {
	var o exportOptions
	cmd := &cobra.Command{
		Use:     "export RUN_DIR --onnx FILE",
		GroupID: groupResults,
		Short:   "Write a finished run's head as an ONNX model",
		Long: `Write the selected head of a finished run (or --head N) as an ONNX model
(IR version 8, operator set 17) that any ONNX runtime runs:

  input   embeddings     float32 [N, D]   the run's backbone's embeddings
  output  probabilities  float32 [N, K]   softmax(logits / teacher_temp)
  output  cluster        int64   [N]      the argmax of the logits

It computes what the trainer computed (docs/RUNDIR.md, "A head's logits
for new embeddings"): embed_norm's train mean and standard deviation and
the weights are stored in the model. ONNX Runtime reproduces the run's
probs_<split>.npy to 1e-5 and its assignments exactly.

--with-backbone (backbone dinov2 only) merges the run's DINOv2 ONNX model
(backbone.model, checked against the sha256 the run recorded) in front:

  input   pixels         uint8   [N, H, W, 3]  RGB images, already resized

then /255, the backbone's mean and std, the DINOv2 graph, the run's
pooling and the head. Resizing stays with the caller: give images of the
size the backbone fed the model (resize, then center_crop: smaller edge to
backbone.resize with PIL's bicubic filter, then the centre square of
backbone.center_crop; with resize 0, the images as the dataset gave them).
Weights stored as external data are inlined; a model over 2 GiB is refused.
The model's metadata names the run, the head, K, D and the backbone.`,
		Example: `  clusterlab export runs/mnist_temi/seed0-70f5a2ee --onnx head.onnx
  clusterlab export runs/cifar10_dinov2/seed0-1a2b3c4d --onnx clusters.onnx --with-backbone
  clusterlab export runs/mnist_temi/seed0-70f5a2ee --onnx head2.onnx --head 2`,
		Args:              exactArgs(1, "export takes exactly one RUN_DIR (and --onnx FILE)"),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdExport(cmd.Context(), args[0], o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.onnx, "onnx", "", "the ONNX model `FILE` to write (required)")
	f.StringVar(&o.head, "head", "best", "the head to export: best (the run's selected head) or its number `H`")
	f.BoolVar(&o.withBackbone, "with-backbone", false, "merge the run's DINOv2 ONNX model in front: input uint8 pixels [N, H, W, 3]")
	cmd.RegisterFlagCompletionFunc("head", cobra.NoFileCompletions)
	return cmd
}

// cmdExport is `clusterlab export RUN_DIR --onnx FILE`.
func cmdExport(ctx context.Context, runDir string, o exportOptions, stdout io.Writer) error {
	if o.onnx == "" {
		return usageError{"export needs --onnx FILE, the model to write"}
	}
	m, err := headmodel.Load(runDir)
	if err != nil {
		return err
	}
	hd, err := selectHead(m, o.head)
	if err != nil {
		return err
	}
	if err := checkExportPath(runDir, o.onnx); err != nil {
		return err
	}
	model, err := exportModel(m, hd, o.withBackbone)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := onnxmodel.Write(o.onnx, model); err != nil {
		if errors.Is(err, onnxmodel.ErrTooLarge) {
			return core.InvalidInput(fmt.Errorf("%w; export the head alone (without --with-backbone) and run the backbone beside it", err))
		}
		return err
	}
	in := fmt.Sprintf("%s float32 [N, %d]", exportEmbeddings, m.D)
	if o.withBackbone {
		in = exportPixels + " uint8 [N, H, W, 3]"
	}
	fmt.Fprintf(stdout, "wrote %s: head %d of %s; %s -> %s float32 [N, %d], %s int64 [N]\n",
		o.onnx, hd.Index, runDir, in, exportProbs, m.K, exportCluster)
	return nil
}

// checkExportPath refuses to overwrite a file of the run directory other
// than an ONNX model.
func checkExportPath(runDir, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return core.InvalidInput(err)
	}
	if st, err := os.Stat(abs); err == nil && st.IsDir() {
		return core.InvalidInput(fmt.Errorf("--onnx %s is a folder; give the file to write", path))
	}
	if filepath.Dir(abs) == absOr(runDir) && strings.ToLower(filepath.Ext(abs)) != ".onnx" {
		return core.InvalidInput(fmt.Errorf("--onnx %s would write among the run's own files; give a name ending in .onnx, or another folder", path))
	}
	return nil
}

// exportModel builds the model: the head alone, or behind the backbone.
func exportModel(m *headmodel.Model, hd *headmodel.Head, withBackbone bool) (*onnxpb.ModelProto, error) {
	bb := m.Record.Inputs.Backbone
	// x is the embeddings' value, inDoc the doc string on the input.
	var g *onnxmodel.Graph
	var x, inDoc string
	var err error
	if withBackbone {
		if g, x, inDoc, err = backboneGraph(m); err != nil {
			return nil, err
		}
	} else {
		if g, err = onnxmodel.NewGraph("clusterlab_head", onnxmodel.DefaultOpset); err != nil {
			return nil, err
		}
		if x, err = g.Input(exportEmbeddings, onnxmodel.Float, onnxmodel.Symbolic("N"), onnxmodel.Fixed(m.D)); err != nil {
			return nil, err
		}
		inDoc = fmt.Sprintf("Input %s: float32 [N, %d], embeddings of backbone %s (%s), as `clusterlab embed` computes them.", exportEmbeddings, m.D, bb.Name, bb.Identity)
	}
	probs, cluster := headGraph(g, x, hd.Params())
	if err := g.Output(exportProbs, probs, onnxmodel.Float, onnxmodel.Symbolic("N"), onnxmodel.Fixed(m.K)); err != nil {
		return nil, err
	}
	if err := g.Output(exportCluster, cluster, onnxmodel.Int64, onnxmodel.Symbolic("N")); err != nil {
		return nil, err
	}
	build := buildVersion()
	doc := fmt.Sprintf("Head %d of clusterlab run %s/%s (identity %s), loss %s, %d clusters. %s Outputs: %s float32 [N, %d], softmax(logits / %g); %s int64 [N], the argmax of the logits (ONNX's index type).",
		hd.Index, m.Record.Experiment, m.Record.Trial, m.Record.Identity, m.Metrics.Loss, m.K, inDoc, exportProbs, m.K, m.TeacherTemp, exportCluster)
	meta := []onnxmodel.Metadata{
		{Key: "clusterlab_version", Value: build.Version},
		{Key: "clusterlab_commit", Value: build.Commit},
		{Key: "run_experiment", Value: m.Record.Experiment},
		{Key: "run_trial", Value: m.Record.Trial},
		{Key: "run_identity", Value: m.Record.Identity},
		{Key: "loss", Value: m.Record.Inputs.Loss.Identity},
		{Key: "head", Value: strconv.Itoa(hd.Index)},
		{Key: "best_head", Value: strconv.Itoa(m.BestHead())},
		{Key: "clusters", Value: strconv.Itoa(m.K)},
		{Key: "embedding_dim", Value: strconv.Itoa(m.D)},
		{Key: "teacher_temp", Value: strconv.FormatFloat(m.TeacherTemp, 'g', -1, 64)},
		{Key: "backbone", Value: bb.Name},
		{Key: "backbone_identity", Value: bb.Identity},
		{Key: "with_backbone", Value: strconv.FormatBool(withBackbone)},
	}
	return g.Model("clusterlab", build.Version, doc, meta), nil
}

// headGraph adds the head's forward pass on x [N, D] (raw embeddings) and
// returns its probabilities [N, K] and clusters [N]. It is the trainer's
// computation (core/train/model.go), in float32 in the same order of
// operations: the input normalisation, layer 0, for each later layer the
// exact GELU (the order ONNX Runtime fuses into one Gelu kernel) and the
// layer, then logits = (z . w^T) / max(||z||, 1e-12) with w = V g/||V||.
func headGraph(g *onnxmodel.Graph, x string, p headmodel.Params) (probs, cluster string) {
	eps := g.Float32("eps", []float32{1e-12})
	if p.Mean != nil {
		x = g.Div(g.Sub(x, g.Float32("embed_mean", p.Mean, p.D)), g.Float32("embed_std", p.Std, p.D))
	}
	l2 := func(v string) string { return g.Max(g.Sqrt(g.ReduceSum(g.Mul(v, v), true, 1)), eps) }
	if p.L2Norm {
		x = g.Div(x, l2(x))
	}
	z := g.Add(g.MatMul(x, g.Float32("w0", p.W0T, p.D, p.Out0)), g.Float32("b0", p.B0, p.Out0))
	sqrt2, one, half := g.Float32("sqrt2", []float32{math.Sqrt2}), g.Float32("one", []float32{1}), g.Float32("half", []float32{0.5})
	for i, l := range p.Layers {
		gelu := g.Mul(g.Mul(z, g.Add(g.Erf(g.Div(z, sqrt2)), one)), half)
		n := strconv.Itoa(i + 1)
		z = g.Add(g.MatMul(gelu, g.Float32("w"+n, l.W, l.In, l.Out)), g.Float32("b"+n, l.B, l.Out))
	}
	logits := g.Div(g.MatMul(z, g.Float32("last", p.LastT, p.Bottleneck, p.K)), l2(z))
	probs = g.Softmax(g.Div(logits, g.Float32("teacher_temp", []float32{p.TeacherTemp})), 1)
	return probs, g.ArgMax(logits, 1)
}

// dinov2Options are the options of the dinov2 backbone (version 1) the
// exported graph mirrors, from config.yaml's backbone section.
type dinov2Options struct {
	Model        string `yaml:"model"`
	Input        string `yaml:"input"`
	Output       string `yaml:"output"`
	ClsOutput    string `yaml:"cls_output"`
	OutputHasCls bool   `yaml:"output_has_cls"`
	PatchSize    int    `yaml:"patch_size"`
	Pooling      string `yaml:"pooling"`
	Resize       int    `yaml:"resize"`
	CenterCrop   int    `yaml:"center_crop"`
	Mean         string `yaml:"mean"`
	Std          string `yaml:"std"`
}

// modelSHA256 is the model file's sha256 in a dinov2 identity.
var modelSHA256 = regexp.MustCompile(`\bmodel_sha256=([0-9a-f]{64})\b`)

// backboneGraph starts the graph of --with-backbone: the pixels input, the
// normalisation, the run's DINOv2 model and its pooling. It returns the
// graph, the embeddings' value and the model's doc string on its input.
func backboneGraph(m *headmodel.Model) (*onnxmodel.Graph, string, string, error) {
	bb := m.Record.Inputs.Backbone
	if bb.Name != "dinov2" {
		return nil, "", "", core.InvalidInput(fmt.Errorf("--with-backbone needs backbone dinov2, whose ONNX model is merged in front; this run's backbone is %s, which has no ONNX graph to merge (its features are computed by the plugin): export the head alone and feed it the backbone's embeddings (`clusterlab embed`, or `clusterlab assign` for new images)", bb.Name))
	}
	if !strings.HasPrefix(bb.Version, "1.") {
		return nil, "", "", core.InvalidInput(fmt.Errorf("--with-backbone mirrors the preprocessing and pooling of dinov2 1.x; this run used dinov2 %s", bb.Version))
	}
	o, err := readDinov2Options(m.Dir)
	if err != nil {
		return nil, "", "", err
	}
	sub := modelSHA256.FindStringSubmatch(bb.Identity)
	if sub == nil {
		return nil, "", "", core.InvalidInput(fmt.Errorf("the run's dinov2 identity %q names no model_sha256", bb.Identity))
	}
	sum, err := store.FileSHA256(o.Model)
	if err != nil {
		return nil, "", "", core.InvalidInput(fmt.Errorf("backbone.model %s: %w (config.yaml's paths are relative to the folder the run was started in: run export there)", o.Model, err))
	}
	if sum != sub[1] {
		return nil, "", "", core.InvalidInput(fmt.Errorf("backbone.model %s has sha256 %s, but the run's embeddings came from a model with sha256 %s: the file changed since the run; export needs the run's own model", o.Model, sum, sub[1]))
	}
	dm, err := onnxmodel.Read(o.Model, onnxmodel.MaxFileBytes)
	if err != nil {
		if errors.Is(err, onnxmodel.ErrTooLarge) {
			return nil, "", "", core.InvalidInput(fmt.Errorf("%w: one ONNX file holds at most 2 GiB; export the head alone (without --with-backbone) and run the DINOv2 model beside it", err))
		}
		return nil, "", "", core.InvalidInput(fmt.Errorf("backbone.model: %w", err))
	}
	opset := onnxmodel.Opset(dm, "")
	if opset < onnxmodel.MinOpset {
		return nil, "", "", core.InvalidInput(fmt.Errorf("%s uses ONNX operator set %d; --with-backbone needs %d or later: export the DINOv2 model again with opset_version=17", o.Model, opset, onnxmodel.MinOpset))
	}
	mg := dm.GetGraph()
	in, ok := onnxmodel.Find(mg.GetInput(), o.Input)
	if !ok {
		return nil, "", "", core.InvalidInput(fmt.Errorf("%s has no input %q (backbone.input)", o.Model, o.Input))
	}
	_, inDims, _ := onnxmodel.TensorType(in)
	out, ok := onnxmodel.Find(mg.GetOutput(), o.Output)
	if !ok {
		return nil, "", "", core.InvalidInput(fmt.Errorf("%s has no output %q (backbone.output)", o.Model, o.Output))
	}
	_, outDims, _ := onnxmodel.TensorType(out)
	if len(outDims) != 2 && len(outDims) != 3 {
		return nil, "", "", core.InvalidInput(fmt.Errorf("%s: output %q has %d dimensions, neither tokens [N, T, D] nor one vector [N, D]", o.Model, o.Output, len(outDims)))
	}
	mean, err := parseFloat3(o.Mean)
	if err != nil {
		return nil, "", "", core.InvalidInput(fmt.Errorf("backbone.mean: %w", err))
	}
	std, err := parseFloat3(o.Std)
	if err != nil {
		return nil, "", "", core.InvalidInput(fmt.Errorf("backbone.std: %w", err))
	}

	g, err := onnxmodel.NewGraph("clusterlab_dinov2_head", opset)
	if err != nil {
		return nil, "", "", err
	}
	// The model's own sizes where it fixes them, else the crop's, else
	// any.
	dim := func(i int, name string, crop int) onnxmodel.Dim {
		if i < len(inDims) && inDims[i].Param == "" && inDims[i].Size > 0 {
			return onnxmodel.Dim{Size: inDims[i].Size}
		}
		if crop > 0 {
			return onnxmodel.Fixed(crop)
		}
		return onnxmodel.Symbolic(name)
	}
	nDim := dim(0, "N", 0)
	hDim, wDim := dim(2, "H", o.CenterCrop), dim(3, "W", o.CenterCrop)
	px, err := g.Input(exportPixels, onnxmodel.Uint8, nDim, hDim, wDim, onnxmodel.Fixed(3))
	if err != nil {
		return nil, "", "", err
	}
	// torchvision's ToTensor and Normalize in float32, as the plugin
	// computes them: (u / 255 - mean) / std, then NHWC to NCHW.
	x := g.Div(g.Cast(px, onnxmodel.Float), g.Float32("255", []float32{255}))
	x = g.Div(g.Sub(x, g.Float32("pixel_mean", mean[:], 3)), g.Float32("pixel_std", std[:], 3))
	x = g.Transpose(x, 0, 3, 1, 2)
	outs, err := g.Merge(dm, "dinov2/", map[string]string{o.Input: x})
	if err != nil {
		return nil, "", "", core.InvalidInput(fmt.Errorf("merge %s: %w", o.Model, err))
	}
	emb, err := pool(g, o, px, outs, len(outDims))
	if err != nil {
		return nil, "", "", err
	}
	size := "the size the dataset gave them (resize 0)"
	switch {
	case o.CenterCrop > 0:
		size = fmt.Sprintf("%dx%d: the smaller edge resized to %d with PIL's bicubic filter, then the centre %dx%d square", o.CenterCrop, o.CenterCrop, o.Resize, o.CenterCrop, o.CenterCrop)
	case o.Resize > 0:
		size = fmt.Sprintf("their smaller edge resized to %d with PIL's bicubic filter (as torchvision's Resize(%d, BICUBIC))", o.Resize, o.Resize)
	}
	doc := fmt.Sprintf("Input %s: uint8 [N, H, W, 3], RGB images at %s; resizing is the caller's. Then /255, mean %s, std %s, the DINOv2 model %s (sha256 %s), pooling %s.",
		exportPixels, size, o.Mean, o.Std, filepath.Base(o.Model), sum, o.Pooling)
	return g, emb, doc, nil
}

// pool is the dinov2 plugin's pooling (backbones/dinov2/pool.go) in the
// graph: the CLS embedding (token 0 of the tokens, or the separate
// cls_output, or the output itself when it is one vector per image), the
// mean of the patch tokens (the last (H/patch)*(W/patch) tokens, so the
// registers before them are left out), or both concatenated.
func pool(g *onnxmodel.Graph, o dinov2Options, px string, outs map[string]string, rank int) (string, error) {
	tokens := outs[o.Output]
	cls := func() (string, error) {
		switch {
		case rank == 2:
			return tokens, nil
		case o.ClsOutput != "":
			c, ok := outs[o.ClsOutput]
			if !ok {
				return "", core.InvalidInput(fmt.Errorf("backbone.model has no output %q (backbone.cls_output)", o.ClsOutput))
			}
			return c, nil
		case o.OutputHasCls:
			return g.Gather(tokens, 0, 1), nil
		}
		return "", core.InvalidInput(fmt.Errorf("pooling %s needs the CLS token, which backbone.output %q does not hold (output_has_cls false) and no cls_output gives", o.Pooling, o.Output))
	}
	patchMean := func() (string, error) {
		if rank != 3 {
			return "", core.InvalidInput(fmt.Errorf("pooling %s needs the patch tokens; backbone.output %q is one vector per image", o.Pooling, o.Output))
		}
		if o.PatchSize <= 0 {
			return "", core.InvalidInput(fmt.Errorf("backbone.patch_size %d", o.PatchSize))
		}
		// The patch grid of the input [N, H, W, 3]: (H / patch) (W / patch).
		shape := g.Shape(px)
		ps := g.Int64("patch_size", []int64{int64(o.PatchSize)})
		grid := g.Mul(g.Div(g.Gather(shape, 1, 0), ps), g.Div(g.Gather(shape, 2, 0), ps))
		start := g.Op("Reshape", []string{g.Neg(grid), g.Int64("shape1", []int64{1}, 1)})
		patches := g.Slice(tokens, start, g.Int64("end", []int64{math.MaxInt64}, 1), 1)
		return g.Div(g.ReduceSum(patches, false, 1), g.Cast(grid, onnxmodel.Float)), nil
	}
	switch o.Pooling {
	case "cls":
		return cls()
	case "patch-mean":
		return patchMean()
	case "cls+patch-mean":
		c, err := cls()
		if err != nil {
			return "", err
		}
		pm, err := patchMean()
		if err != nil {
			return "", err
		}
		return g.Concat(1, c, pm), nil
	}
	return "", core.InvalidInput(fmt.Errorf("backbone.pooling %q: export knows cls, patch-mean and cls+patch-mean", o.Pooling))
}

// readDinov2Options reads the backbone section of the run's config.yaml
// (complete: every option with its default filled in).
func readDinov2Options(dir string) (dinov2Options, error) {
	path := filepath.Join(dir, rundir.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return dinov2Options{}, core.InvalidInput(fmt.Errorf("read the run's config: %w", err))
	}
	var doc struct {
		Backbone dinov2Options `yaml:"backbone"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return dinov2Options{}, core.InvalidInput(fmt.Errorf("%s: %w", path, err))
	}
	o := doc.Backbone
	if o.Model == "" || o.Input == "" || o.Output == "" || o.Pooling == "" || o.Mean == "" || o.Std == "" {
		return dinov2Options{}, core.InvalidInput(fmt.Errorf("%s: the backbone section lacks dinov2's options (model, input, output, pooling, mean, std)", path))
	}
	return o, nil
}

// parseFloat3 reads "r,g,b" as the dinov2 plugin does (float32 values).
func parseFloat3(s string) ([3]float32, error) {
	var out [3]float32
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return out, fmt.Errorf("want three comma-separated numbers, got %q", s)
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return out, fmt.Errorf("%q: %w", s, err)
		}
		out[i] = float32(f)
	}
	return out, nil
}
