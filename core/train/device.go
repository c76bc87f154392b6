package train

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// graphGatherOnly, set by a test, makes every backend gather the rows in
// the step graph (the path of backends without shared buffers).
var graphGatherOnly bool

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
type deviceRun struct {
	be     compute.Backend
	sb     *stepBuilder
	exec   *graph.Exec
	state  []*tensors.Tensor // student, teacher, adam_m, adam_v (P each), loss state (S)
	data   *tensors.Tensor   // all train embeddings [N, D]
	batch  *tensors.Tensor   // with sb.hostGather: the step's rows [2B, D], a shared buffer
	donate bool              // donate the state's buffers to each step
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
	sb = &sbRun
	exec, err := graph.NewExec(be, sb.build)
	if err != nil {
		return nil, fmt.Errorf("build training step: %w", err)
	}
	r := &deviceRun{be: be, sb: sb, exec: exec.WithName("train_step"), donate: donate}
	for _, group := range [][][]float32{h.Student, h.Teacher, h.M, h.V} {
		for i, s := range sb.specs {
			r.state = append(r.state, tensors.FromFlatDataAndDimensions(group[i], s.Shape...))
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

// gather copies the embeddings of rows into r.batch, (re)creating it on
// the device when the batch size changes.
func (r *deviceRun) gather(rows []int32) error {
	dims := r.data.Shape().Dimensions
	n, d := dims[0], dims[1]
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
	for i, row := range rows {
		if row < 0 || int(row) >= n {
			return fmt.Errorf("training step: row %d (#%d of the batch) is outside the %d train embeddings", row, i, n)
		}
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
	if r.sb.hostGather {
		args = append(args, r.batch, scalars)
	} else {
		args = append(args, r.data, rows, scalars)
	}
	outs, err := r.exec.Call(args...)
	if err != nil {
		return nil, fmt.Errorf("training step: %w", err)
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
	perHead, err := tensors.CopyFlatData[float32](outs[len(outs)-1])
	_ = outs[len(outs)-1].FinalizeAll()
	if err != nil {
		return nil, fmt.Errorf("read per-head losses: %w", err)
	}
	return perHead, nil
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
	r.exec.Finalize()
}
