package main

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/core"
)

// ringSize input tensors circulate between the reader, the preprocessing
// and the inference: one is being filled, one waits, one is in the model.
const ringSize = 3

// session is the model loaded for one input geometry, with its tensors
// allocated once: every call runs the same fixed batch shape (the last
// batch is padded) so that ONNX Runtime never re-plans.
type session struct {
	p       params
	m       *modelFile
	sess    *ort.DynamicAdvancedSession
	runOpts *ort.RunOptions
	batch   int
	h, w    int
	ring    []*ort.Tensor[float32] // input tensors [batch, 3, h, w]
	outputs []ort.Value            // the main output, then the CLS output if any
	out     []float32              // data of outputs[0]
	cls     []float32              // data of outputs[1], or nil
	lay     layout
}

// idle keeps the session of the last Embed that succeeded, so that the
// next stream of the same model and options (the runner embeds the train
// split, then the test split) starts without loading the model again.
var idle struct {
	sync.Mutex
	s   *session
	key sessionKey
}

// sessionKey is what a session depends on.
type sessionKey struct {
	path, sha256 string
	p            params
	h, w         int
}

// takeSession returns the idle session for these arguments, or opens one.
func takeSession(m *modelFile, p params, h, w int) (*session, error) {
	key := sessionKey{m.path, m.sha256, p, h, w}
	idle.Lock()
	s := idle.s
	if s != nil && idle.key == key {
		idle.s = nil
		idle.Unlock()
		if err := s.runOpts.UnsetTerminate(); err != nil {
			s.destroy()
			return nil, fmt.Errorf("dinov2: reset ONNX Runtime run options: %w", err)
		}
		return s, nil
	}
	idle.Unlock()
	return openSession(m, p, h, w)
}

// release keeps s for the next stream, freeing the session it replaces.
func release(s *session) {
	key := sessionKey{s.m.path, s.m.sha256, s.p, s.h, s.w}
	idle.Lock()
	old := idle.s
	idle.s, idle.key = s, key
	idle.Unlock()
	if old != nil {
		old.destroy()
	}
}

// openSession loads m for h x w input images (the preprocessing's output
// size), checks that its inputs and outputs fit p by running one image,
// and allocates the tensors.
func openSession(m *modelFile, p params, h, w int) (s *session, err error) {
	kind, err := m.checkIO(p)
	if err != nil {
		return nil, err
	}
	in, _ := findIO(m.inputs, p.input)
	dims := in.Dimensions
	if (dims[2] > 0 && int(dims[2]) != h) || (dims[3] > 0 && int(dims[3]) != w) {
		return nil, invalid("model %s takes %s images (input %q %s) but the preprocessing makes %dx%d ones (resize=%d, center_crop=%d); set resize and center_crop to give %dx%d (e.g. center_crop: %d for non-square images)",
			m.path, shapeString(dims[2:]), p.input, shapeString(dims), h, w, p.pre.Resize, p.pre.CenterCrop, dims[2], dims[3], dims[2])
	}
	s = &session{p: p, m: m, batch: p.batchSize, h: h, w: w}
	if dims[0] > 0 {
		s.batch = int(dims[0]) // a fixed batch dimension wins
	}
	defer func(s *session) {
		if err != nil {
			s.destroy()
		}
	}(s)
	opts, err := sessionOptions(p.threads, p.cudaDevice)
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	names := []string{p.output}
	if p.clsOut != "" {
		names = append(names, p.clsOut)
	}
	if s.sess, err = ort.NewDynamicAdvancedSession(m.path, []string{p.input}, names, opts); err != nil {
		return nil, fmt.Errorf("%w: model %s: ONNX Runtime cannot create a session: %w", core.ErrInvalidInput, m.path, err)
	}
	if s.runOpts, err = ort.NewRunOptions(); err != nil {
		return nil, fmt.Errorf("dinov2: ONNX Runtime run options: %w", err)
	}
	shapes, err := s.probe(len(names))
	if err != nil {
		return nil, err
	}
	if err := s.setLayout(kind, shapes); err != nil {
		return nil, err
	}
	for range ringSize {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(s.batch), 3, int64(h), int64(w)))
		if err != nil {
			return nil, fmt.Errorf("dinov2: allocate an input tensor of %d images: %w", s.batch, err)
		}
		s.ring = append(s.ring, t)
	}
	for i, shape := range shapes {
		shape[0] = int64(s.batch)
		t, err := ort.NewEmptyTensor[float32](shape)
		if err != nil {
			return nil, fmt.Errorf("dinov2: allocate output %q %v: %w", names[i], shape, err)
		}
		s.outputs = append(s.outputs, t)
	}
	s.out = s.outputs[0].(*ort.Tensor[float32]).GetData()
	if len(s.outputs) > 1 {
		s.cls = s.outputs[1].(*ort.Tensor[float32]).GetData()
	}
	return s, nil
}

// sessionOptions are the ONNX Runtime options of the plugin's sessions:
// threads intra-op threads (0 = ONNX Runtime's default, one per physical
// core) that sleep rather than spin while waiting for work, because the
// preprocessing and transport goroutines share the cores with them.
func sessionOptions(threads, cudaDevice int) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("dinov2: ONNX Runtime session options: %w", err)
	}
	if cudaDevice >= 0 {
		if err := appendCUDA(opts, cudaDevice); err != nil {
			opts.Destroy()
			return nil, err
		}
	}
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			opts.Destroy()
			return nil, fmt.Errorf("dinov2: set %d ONNX Runtime threads: %w", threads, err)
		}
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		opts.Destroy()
		return nil, fmt.Errorf("dinov2: ONNX Runtime session options: %w", err)
	}
	return opts, nil
}

// probe runs the model on blank images (one, or the fixed batch) and
// returns the shapes of the outputs, their first dimension being the
// number of images.
func (s *session) probe(nOut int) ([]ort.Shape, error) {
	n := 1
	if in, _ := findIO(s.m.inputs, s.p.input); in.Dimensions[0] > 0 {
		n = s.batch
	}
	x, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 3, int64(s.h), int64(s.w)))
	if err != nil {
		return nil, fmt.Errorf("dinov2: allocate a probe tensor: %w", err)
	}
	defer x.Destroy()
	outs := make([]ort.Value, nOut)
	err = s.sess.Run([]ort.Value{x}, outs)
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	if err != nil {
		return nil, fmt.Errorf("%w: model %s fails on a %dx%d input (%q [%d, 3, %d, %d]): %w; check that resize/center_crop give the size the model was exported for",
			core.ErrInvalidInput, s.m.path, s.h, s.w, s.p.input, n, s.h, s.w, err)
	}
	shapes := make([]ort.Shape, nOut)
	for i, o := range outs {
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, invalid("model %s: output %d is a %s, not a float32 tensor", s.m.path, i, o.GetONNXType())
		}
		shapes[i] = t.GetShape().Clone()
		if len(shapes[i]) == 0 || shapes[i][0] != int64(n) {
			return nil, invalid("model %s: for %d images its output %d has shape %s; the first dimension must be the image", s.m.path, n, i, shapeString(shapes[i]))
		}
	}
	return shapes, nil
}

// setLayout checks the probed output shapes and records where the pooled
// parts lie.
func (s *session) setLayout(kind outputKind, shapes []ort.Shape) error {
	main := shapes[0]
	clsDim := 0
	if len(shapes) > 1 {
		if len(shapes[1]) != 2 {
			return invalid("model %s: cls_output %q has shape %s, not [N, D]", s.m.path, s.p.clsOut, shapeString(shapes[1]))
		}
		clsDim = int(shapes[1][1])
	}
	switch {
	case kind == outVector && len(main) == 2:
		s.lay = vectorLayout(s.p, int(main[1]))
		return nil
	case kind == outTokens && len(main) == 3:
		var err error
		s.lay, err = tokenLayout(s.p, int(main[1]), int(main[2]), clsDim, s.h, s.w)
		if err != nil {
			return fmt.Errorf("model %s: %w", s.m.path, err)
		}
		return nil
	}
	return invalid("model %s: output %q has shape %s at run time", s.m.path, s.p.output, shapeString(main))
}

// destroy frees the ONNX Runtime objects.
func (s *session) destroy() {
	var errs []error
	for _, t := range s.ring {
		errs = append(errs, t.Destroy())
	}
	for _, o := range s.outputs {
		errs = append(errs, o.Destroy())
	}
	if s.runOpts != nil {
		errs = append(errs, s.runOpts.Destroy())
	}
	if s.sess != nil {
		errs = append(errs, s.sess.Destroy())
	}
	_ = errors.Join(errs...) // nothing to do about a failed free
}

// appendCUDA puts ONNX Runtime's CUDA provider first for GPU cudaDevice.
// A CPU-only library (the one `make setup` installs) refuses it; the
// error says what to install instead.
func appendCUDA(opts *ort.SessionOptions, cudaDevice int) error {
	cuda, err := ort.NewCUDAProviderOptions()
	if err == nil {
		defer cuda.Destroy()
		err = cuda.Update(map[string]string{"device_id": strconv.Itoa(cudaDevice)})
	}
	if err == nil {
		err = opts.AppendExecutionProviderCUDA(cuda)
	}
	if err != nil {
		return core.InvalidInput(fmt.Errorf("device cuda:%d: ONNX Runtime's CUDA provider is not available (%w); use device: cpu, or point ONNXRUNTIME_SHARED_LIBRARY_PATH at a GPU build of ONNX Runtime 1.30 (libonnxruntime.so with libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so beside it; CUDA 12 and cuDNN 9 on LD_LIBRARY_PATH)", cudaDevice, err))
	}
	return nil
}
