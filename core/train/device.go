package train

import (
	"fmt"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train/internal/stephook"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// graphGatherOnly, set by a test, makes every backend gather the rows in
// the step graph (the path of backends without shared buffers).
var graphGatherOnly bool

// graphLayer0Only, set by a test, keeps the first layer's products in the
// step graph on every backend (the path of binaries without the dnnl tag);
// hostLayer0Always, set by a test, runs them on the host at any size.
var graphLayer0Only, hostLayer0Always bool

// graphOptimizerOnly, set by a test, makes every backend run AdamW and
// the EMA in the step graph (the path of backends without shared
// buffers) instead of on the host (optimizer.go).
var graphOptimizerOnly bool

// deviceRun holds the training state on the backend between steps: the
// outputs of one step are the inputs of the next and never leave the
// device except for checkpoints (the per-head losses [H] come back each
// step).
//
// The train embeddings are uploaded once and stay on the device. Where the
// backend's buffers are host memory shared with Go (onnx and go on the
// CPU), the host copies each step's 2B rows from them into one persistent
// device buffer, batch, that the step reads: the in-graph Gather would
// cost more there, as compute-onnx lowers it to a Transpose of the whole
// [N, D] operand (a copy of every train embedding, every step) followed
// by a GatherND. Elsewhere (a GPU) the step gathers the rows itself.
//
// On the same shared-buffer backends the optimizer runs on the host
// (sb.hostOptimizer, optimizer.go): the graph returns the gradients, and
// one fused pass updates the student and teacher in their shared buffers
// in place (the next step reads them there) and the AdamW moments, which
// only the host reads, in Go slices.
//
// Where the binary has host products (oneDNN, the dnnl build tag), the
// host also runs the first layer's three large products (sb.hostLayer0,
// layer0Host): the student's and the teacher's W0 . x^T before the step
// and dW0 = dz . x after it, about two thirds of the step's
// floating-point work at the TEMI recipes. ONNX Runtime's MLAS reaches
// 200-300 GFLOP/s on them here, oneDNN 300-310 in float32 and 1100-1300
// in bfloat16 (docs/PERFORMANCE.md).
type deviceRun struct {
	be compute.Backend
	sb *stepBuilder
	// exec is the step graph.
	exec *graph.Exec
	// state: student, teacher, adam_m, adam_v (P each), loss state (S);
	// with sb.hostOptimizer student, teacher (shared buffers, updated in
	// place), loss state, and the moments are m and v.
	state  []*tensors.Tensor
	m, v   [][]float32     // with sb.hostOptimizer: AdamW's moments
	data   *tensors.Tensor // all train embeddings [N, D]
	batch  *tensors.Tensor // with sb.hostGather: the step's rows [2B, D], a shared buffer
	donate bool            // donate the state's buffers to each step (not with sb.hostOptimizer)
	l0     *layer0Host     // with sb.hostLayer0
	// phases is where the steps' time went, for the benchmarks' profile
	// (bench/temi_recipe_run): a few clock reads a step.
	phases stephook.Phases
}

// layer0Host holds the host side of the first layer (sb.hostLayer0).
type layer0Host struct {
	x      []float32       // the step's rows [R, D]
	xs     []float32       // x times the student's first-layer scale (nil when 1)
	scale  float32         // that scale
	zs, zt *tensors.Tensor // W0 . (scale x)^T of student and teacher [H*out0, R], shared buffers
	gw0    []float32       // dW0 [H*out0, D]
}

// newDeviceRun uploads the state and the train matrix. With donate, each
// step donates the old state's buffers to the computation (PJRT can then
// update in place, halving the state's device memory); without it, the old
// state is released after the step, which on onnx returns its buffers to
// the executable's output pool (donated onnx buffers are destroyed instead:
// measured 2.7x slower).
func newDeviceRun(be compute.Backend, sb *stepBuilder, h *hostState, train matrix, donate bool) (*deviceRun, error) {
	sbRun := *sb
	sbRun.hostGather = be.HasSharedBuffers() && !graphGatherOnly
	sbRun.hostOptimizer = be.HasSharedBuffers() && !graphOptimizerOnly
	sbRun.hostLayer0 = sbRun.hostGather && sbRun.hostOptimizer && hostProducts && !graphLayer0Only &&
		(sb.wantHostLayer0 || hostLayer0Always)
	sb = &sbRun
	if sb.bf16 && !sb.hostLayer0 {
		// (A binary without oneDNN refuses bf16 earlier, in newConfig.)
		return nil, fmt.Errorf("%w: precision bf16 runs the first layer's products on the host with oneDNN, but the backend keeps its buffers off the host (use backend onnx or go); use precision fp32",
			core.ErrInvalidInput)
	}
	exec, err := graph.NewExec(be, sb.build)
	if err != nil {
		return nil, fmt.Errorf("build training step: %w", err)
	}
	r := &deviceRun{be: be, sb: sb, exec: exec.WithName("train_step"), donate: donate && !sb.hostOptimizer}
	if sb.hostLayer0 {
		r.l0 = &layer0Host{scale: float32(sb.arch.layer0Scale()), gw0: make([]float32, sb.specs[0].size())}
	}
	if sb.hostOptimizer {
		// Student and teacher in shared buffers the host updates in place;
		// the moments in Go memory (copies: h stays the caller's).
		for _, group := range [][][]float32{h.Student, h.Teacher} {
			for i, s := range sb.specs {
				t, err := sharedTensor(be, group[i], s.Shape)
				if err != nil {
					r.close()
					return nil, err
				}
				r.state = append(r.state, t)
			}
		}
		r.m, r.v = clone2(h.M), clone2(h.V)
	} else {
		for _, group := range [][][]float32{h.Student, h.Teacher, h.M, h.V} {
			for i, s := range sb.specs {
				r.state = append(r.state, tensors.FromFlatDataAndDimensions(group[i], s.Shape...))
			}
		}
	}
	for i, shape := range sb.stateShapes {
		r.state = append(r.state, tensors.FromFlatDataAndDimensions(h.Loss[i], shape...))
	}
	r.data = tensors.FromFlatDataAndDimensions(train.Data, train.Rows, train.Cols)
	// Upload now (into shared memory where the backend has it, which
	// frees the tensor's host copy) rather than in the first step.
	if err := r.data.MaterializeOnDevice(be, true, 0); err != nil {
		r.close()
		return nil, fmt.Errorf("upload the train embeddings to the device: %w", err)
	}
	return r, nil
}

// sharedTensor returns a tensor in a shared buffer of be holding a copy of
// values.
func sharedTensor(be compute.Backend, values []float32, shape []int) (*tensors.Tensor, error) {
	t, err := tensors.FromShapeForBackend(be, 0, shapes.Make(floatDType, shape...))
	if err != nil {
		return nil, fmt.Errorf("allocate the training state on the device: %w", err)
	}
	if err := t.MutableFlatData(func(flat any) { copy(flat.([]float32), values) }); err != nil {
		_ = t.FinalizeAll()
		return nil, fmt.Errorf("upload the training state: %w", err)
	}
	return t, nil
}

func clone2(a [][]float32) [][]float32 {
	out := make([][]float32, len(a))
	for i := range a {
		out[i] = append([]float32(nil), a[i]...)
	}
	return out
}

// gather copies the embeddings of rows into r.batch, (re)creating it on
// the device when the batch size changes (with sb.hostLayer0, into
// r.l0.x, and r.l0.xs).
func (r *deviceRun) gather(rows []int32) error {
	dims := r.data.Shape().Dimensions
	n, d := dims[0], dims[1]
	for i, row := range rows {
		if row < 0 || int(row) >= n {
			return fmt.Errorf("training step: row %d (#%d of the batch) is outside the %d train embeddings", row, i, n)
		}
	}
	if r.l0 != nil {
		return r.l0.gather(r.data, rows, d)
	}
	if r.batch == nil || r.batch.Shape().Dimensions[0] != len(rows) {
		if r.batch != nil {
			_ = r.batch.FinalizeAll()
			r.batch = nil
		}
		t, err := tensors.FromShapeForBackend(r.be, 0, shapes.Make(floatDType, len(rows), d))
		if err != nil {
			return fmt.Errorf("training step: allocate the batch on the device: %w", err)
		}
		r.batch = t
	}
	var err error
	cerr := r.data.ConstFlatData(func(src any) {
		from := src.([]float32)
		err = r.batch.MutableFlatData(func(dst any) {
			to := dst.([]float32)
			for i, row := range rows {
				copy(to[i*d:(i+1)*d], from[int(row)*d:(int(row)+1)*d])
			}
		})
	})
	if cerr != nil {
		return fmt.Errorf("training step: read the train embeddings: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("training step: fill the batch: %w", err)
	}
	return nil
}

// step runs one training step and returns the per-head losses.
func (r *deviceRun) step(rows []int32, scalars []float32) ([]float32, error) {
	// Gather before donating the state, so that a bad row leaves it intact.
	if r.sb.hostGather {
		if err := r.gather(rows); err != nil {
			return nil, err
		}
	}
	args := make([]any, 0, len(r.state)+3)
	for _, t := range r.state {
		if !r.donate {
			args = append(args, t)
			continue
		}
		d, err := graph.DonateTensorBuffer(t, r.be, 0)
		if err != nil {
			return nil, fmt.Errorf("training step: donate state: %w", err)
		}
		args = append(args, d)
	}
	switch {
	case r.l0 != nil:
		t0 := time.Now()
		if err := r.l0.forward(r, len(rows)); err != nil {
			return nil, err
		}
		r.phases.Layer0 += time.Since(t0)
		args = append(args, r.l0.zs, r.l0.zt, scalars)
	case r.sb.hostGather:
		args = append(args, r.batch, scalars)
	default:
		args = append(args, r.data, rows, scalars)
	}
	t1 := time.Now()
	outs, err := r.exec.Call(args...)
	r.phases.Graph += time.Since(t1)
	r.phases.Steps++
	if err != nil {
		return nil, fmt.Errorf("training step: %w", err)
	}
	if r.sb.hostOptimizer {
		return r.finishHostStep(outs, scalars)
	}
	if len(outs) != len(r.state)+1 {
		return nil, fmt.Errorf("training step returned %d outputs, want %d", len(outs), len(r.state)+1)
	}
	// The old state is no longer needed: release it now (a no-op for
	// donated buffers; on onnx this hands the buffers back to the
	// executable's pool for the next step).
	for i, t := range r.state {
		_ = t.FinalizeAll()
		r.state[i] = outs[i]
	}
	return r.perHead(outs[len(outs)-1])
}

// perHead copies the per-head losses out of t and releases it.
func (r *deviceRun) perHead(t *tensors.Tensor) ([]float32, error) {
	perHead, err := tensors.CopyFlatData[float32](t)
	_ = t.FinalizeAll()
	if err != nil {
		return nil, fmt.Errorf("read per-head losses: %w", err)
	}
	return perHead, nil
}

// finishHostStep takes the outputs of a gradient-only step (grads[P],
// loss state[S], perHead), applies AdamW and the EMA to the state in
// place, and returns the per-head losses. The gradients' buffers go back
// to the executable's pool.
func (r *deviceRun) finishHostStep(outs []*tensors.Tensor, scalars []float32) ([]float32, error) {
	P, S := r.sb.numParams(), r.sb.numState()
	release := func(ts []*tensors.Tensor) {
		for _, t := range ts {
			_ = t.FinalizeAll()
		}
	}
	if len(outs) != P+S+1 {
		release(outs)
		return nil, fmt.Errorf("training step returned %d outputs, want %d", len(outs), P+S+1)
	}
	grads := outs[:P]
	defer release(grads)
	// grads[0] is dz here; the host forms dW0 (before the optimizer
	// changes w0, as dz's graph read the old one).
	var gw0 []float32
	if r.l0 != nil {
		t2 := time.Now()
		if err := r.l0.weightGrad(grads[0], r.sb); err != nil {
			release(outs[P:])
			return nil, err
		}
		gw0 = r.l0.gw0
		r.phases.WeightGrad += time.Since(t2)
	}
	// The loss state is fed back like the in-graph state.
	for i := range S {
		_ = r.state[2*P+i].FinalizeAll()
		r.state[2*P+i] = outs[P+i]
	}
	perHead, err := r.perHead(outs[P+S])
	if err != nil {
		return nil, err
	}
	t3 := time.Now()
	if err := r.applyOptimizer(grads, gw0, scalars); err != nil {
		return nil, err
	}
	r.phases.Optimizer += time.Since(t3)
	return perHead, nil
}

// applyOptimizer runs the fused AdamW + EMA of every parameter, the
// student's and teacher's shared buffers and the gradients read in place
// (w0's from gw0 when it is not nil, the host's dW0).
// The tensors' accessors hold each tensor's lock only while its slice is
// taken: the slices stay valid as the buffers are neither finalized nor
// reallocated before the update ends, and nothing else touches them.
func (r *deviceRun) applyOptimizer(grads []*tensors.Tensor, gw0 []float32, scalars []float32) error {
	P := r.sb.numParams()
	tasks := make([]optTask, P)
	for i, spec := range r.sb.specs {
		tk := optTask{m: r.m[i], v: r.v[i], c: coefFor(spec, scalars)}
		if i == 0 && gw0 != nil {
			tk.g = gw0
		} else if err := grads[i].ConstFlatData(func(flat any) { tk.g = flat.([]float32) }); err != nil {
			return fmt.Errorf("training step: read the gradient of %s: %w", spec.Name, err)
		}
		if err := r.state[i].MutableFlatData(func(flat any) { tk.p = flat.([]float32) }); err != nil {
			return fmt.Errorf("training step: update %s: %w", spec.Name, err)
		}
		if err := r.state[P+i].MutableFlatData(func(flat any) { tk.t = flat.([]float32) }); err != nil {
			return fmt.Errorf("training step: update the teacher's %s: %w", spec.Name, err)
		}
		if n := spec.size(); len(tk.g) != n || len(tk.p) != n || len(tk.t) != n || len(tk.m) != n || len(tk.v) != n {
			return fmt.Errorf("training step: %s has %d values, gradient %d, teacher %d, moments %d and %d; want %d",
				spec.Name, len(tk.p), len(tk.g), len(tk.t), len(tk.m), len(tk.v), n)
		}
		tasks[i] = tk
	}
	runOptimizer(tasks)
	return nil
}

// toHost copies the whole state to the host, for a checkpoint.
func (r *deviceRun) toHost() (*hostState, error) {
	P := r.sb.numParams()
	flat := make([][]float32, len(r.state))
	for i, t := range r.state {
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("copy training state from the device: %w", err)
		}
		flat[i] = v
	}
	if r.sb.hostOptimizer {
		return &hostState{Student: flat[0:P], Teacher: flat[P : 2*P], M: clone2(r.m), V: clone2(r.v), Loss: flat[2*P:]}, nil
	}
	return &hostState{
		Student: flat[0:P], Teacher: flat[P : 2*P], M: flat[2*P : 3*P], V: flat[3*P : 4*P],
		Loss: flat[4*P:],
	}, nil
}

// teacher returns the teacher's parameter tensors (still owned by r).
func (r *deviceRun) teacher() []*tensors.Tensor {
	P := r.sb.numParams()
	return r.state[P : 2*P]
}

func (r *deviceRun) close() {
	for _, t := range r.state {
		_ = t.FinalizeAll()
	}
	_ = r.data.FinalizeAll()
	if r.batch != nil {
		_ = r.batch.FinalizeAll()
	}
	if r.l0 != nil {
		r.l0.release()
	}
	r.exec.Finalize()
}
