package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/store"
)

// ortEnv is the process's ONNX Runtime environment, created on first use.
var ortEnv struct {
	once sync.Once
	err  error
}

// initORT loads the ONNX Runtime library that core/backend finds (the
// project's .deps/onnxruntime or $ONNXRUNTIME_SHARED_LIBRARY_PATH), with
// its telemetry off (see backend.PrepareOrt).
func initORT() error {
	ortEnv.once.Do(func() {
		lib, err := backend.PrepareOrt()
		if err != nil {
			ortEnv.err = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			ortEnv.err = fmt.Errorf("load ONNX Runtime from %s: %w; the dinov2 backbone needs ONNX Runtime 1.30.0 (API 24 or newer): run `make setup` or set $%s", lib, err, backend.OrtLibEnv)
		}
	})
	return ortEnv.err
}

// modelFile is a model file with what Describe learns about it.
type modelFile struct {
	path    string // absolute
	sha256  string // hex
	inputs  []ort.InputOutputInfo
	outputs []ort.InputOutputInfo
}

// modelCache keeps what was learnt about each model file, keyed by path,
// size and modification time, so that a multi-gigabyte model is hashed and
// parsed once per process although Describe and Embed both need it.
var modelCache struct {
	sync.Mutex
	m map[modelKey]*modelFile
}

type modelKey struct {
	path  string
	size  int64
	mtime time.Time
}

// invalid marks err as the user's input being wrong (runner exit status 2).
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", core.ErrInvalidInput, fmt.Sprintf(format, args...))
}

// loadModel hashes the model file and reads its inputs and outputs.
func loadModel(path string) (*modelFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: model path %q: %w", core.ErrInvalidInput, path, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: model: %w; set the %s option to a DINOv2 ONNX export (.onnx)", core.ErrInvalidInput, err, optModel)
	}
	if st.IsDir() {
		return nil, invalid("model %s is a directory; set the %s option to the .onnx file inside it", abs, optModel)
	}
	key := modelKey{abs, st.Size(), st.ModTime()}
	modelCache.Lock()
	defer modelCache.Unlock()
	if m, ok := modelCache.m[key]; ok {
		return m, nil
	}
	sum, err := store.FileSHA256(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: model %s: %w", core.ErrInvalidInput, abs, err)
	}
	if err := initORT(); err != nil {
		return nil, err
	}
	ins, outs, err := inputOutputInfo(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: model %s is not a model ONNX Runtime can load (%w); export the model to ONNX (e.g. torch.onnx.export or Hugging Face optimum)", core.ErrInvalidInput, abs, err)
	}
	m := &modelFile{path: abs, sha256: sum, inputs: ins, outputs: outs}
	if modelCache.m == nil {
		modelCache.m = make(map[modelKey]*modelFile)
	}
	modelCache.m[key] = m
	return m, nil
}

// inputOutputInfo lists the model's inputs and outputs from a session
// created without graph optimisation, which is all that listing needs.
func inputOutputInfo(path string) ([]ort.InputOutputInfo, []ort.InputOutputInfo, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, nil, err
	}
	defer opts.Destroy()
	if err := opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelDisableAll); err != nil {
		return nil, nil, err
	}
	return ort.GetInputOutputInfoWithOptions(path, opts)
}

// outputKind is how an output is used.
type outputKind int

const (
	outTokens outputKind = iota // [N, T, D]
	outVector                   // [N, D]
)

// checkIO compares the model's inputs and outputs with what the options
// ask for, and returns one error listing every problem, what the model has
// and what was expected.
func (m *modelFile) checkIO(p params) (outputKind, error) {
	var problems []string
	kind := outTokens
	in, ok := findIO(m.inputs, p.input)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("it has no input %q", p.input))
	case in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat:
		problems = append(problems, fmt.Sprintf("input %q is not a float32 tensor", p.input))
	case len(in.Dimensions) != 4 || (in.Dimensions[1] != 3 && in.Dimensions[1] >= 0):
		problems = append(problems, fmt.Sprintf("input %q has shape %s, not [N, 3, H, W]", p.input, shapeString(in.Dimensions)))
	}
	if len(m.inputs) > 1 {
		problems = append(problems, fmt.Sprintf("it has %d inputs; only a model with the one image input can run", len(m.inputs)))
	}
	out, ok := findIO(m.outputs, p.output)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("it has no output %q", p.output))
	case out.OrtValueType != ort.ONNXTypeTensor || out.DataType != ort.TensorElementDataTypeFloat:
		problems = append(problems, fmt.Sprintf("output %q is not a float32 tensor", p.output))
	case len(out.Dimensions) == 3:
	case len(out.Dimensions) == 2:
		kind = outVector
		if p.pooling != poolCLS {
			problems = append(problems, fmt.Sprintf("output %q has shape %s, one vector per image, which allows only pooling %q, not %q; use the token output (e.g. last_hidden_state)", p.output, shapeString(out.Dimensions), poolCLS, p.pooling))
		}
		if p.clsOut != "" {
			problems = append(problems, fmt.Sprintf("output %q is already one vector per image; leave cls_output empty", p.output))
		}
	default:
		problems = append(problems, fmt.Sprintf("output %q has shape %s, neither [N, T, D] nor [N, D]", p.output, shapeString(out.Dimensions)))
	}
	if p.clsOut != "" {
		c, ok := findIO(m.outputs, p.clsOut)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("it has no output %q (cls_output)", p.clsOut))
		case c.OrtValueType != ort.ONNXTypeTensor || c.DataType != ort.TensorElementDataTypeFloat || len(c.Dimensions) != 2:
			problems = append(problems, fmt.Sprintf("cls_output %q is not a float32 [N, D] tensor", p.clsOut))
		}
	}
	if len(problems) == 0 {
		return kind, nil
	}
	return kind, invalid("model %s does not fit the options: %s. It has inputs [%s] and outputs [%s]; expected input %q float32 [N, 3, H, W] and output %q float32 [N, 1+R+P, D] (CLS, R registers, P patch tokens) or [N, D]%s; set the %s/%s options (and %s, %s, %s for other token layouts)",
		m.path, strings.Join(problems, "; "), describeIO(m.inputs), describeIO(m.outputs),
		p.input, p.output, clsExpect(p), optInput, optOutput, optClsOutput, optOutputHasCls, optRegisters)
}

func clsExpect(p params) string {
	if p.clsOut == "" {
		return ""
	}
	return fmt.Sprintf(" and output %q float32 [N, D]", p.clsOut)
}

func findIO(list []ort.InputOutputInfo, name string) (ort.InputOutputInfo, bool) {
	for _, x := range list {
		if x.Name == name {
			return x, true
		}
	}
	return ort.InputOutputInfo{}, false
}

func describeIO(list []ort.InputOutputInfo) string {
	s := make([]string, len(list))
	for i, x := range list {
		if x.OrtValueType != ort.ONNXTypeTensor {
			s[i] = fmt.Sprintf("%s %s", x.Name, x.OrtValueType)
			continue
		}
		s[i] = fmt.Sprintf("%s %s %s", x.Name, dtypeName(x.DataType), shapeString(x.Dimensions))
	}
	return strings.Join(s, ", ")
}

// dtypeName names the common element types as numpy does.
func dtypeName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	}
	return t.String()
}

// shapeString writes dynamic dimensions as "?".
func shapeString(s ort.Shape) string {
	parts := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			parts[i] = "?"
		} else {
			parts[i] = fmt.Sprint(d)
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// errIsInvalid reports whether err is the user's fault (for tests).
func errIsInvalid(err error) bool { return errors.Is(err, core.ErrInvalidInput) }
