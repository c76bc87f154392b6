package main

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// graphGatherOnly, set by a test, makes every backend gather the batch in
// the iteration graph (the path of backends without shared buffers).
var graphGatherOnly bool

// deviceRun holds a run's state on the backend between outer iterations:
// the outputs of one iteration are the inputs of the next and never leave
// the device except for checkpoints; only the metrics vector [4] comes
// back each iteration.
//
// Each space's train matrix is uploaded once. Where the backend's buffers
// are host memory shared with Go (onnx and go on the CPU), the host copies
// each iteration's B rows of every space into one persistent device
// buffer per space that the iteration reads (compute-onnx lowers an
// in-graph Gather to a transpose of the whole [N, D] operand, a copy of
// every train embedding each iteration). Elsewhere (a GPU) the graph
// gathers the rows itself.
type deviceRun struct {
	be     compute.Backend
	ig     *iterGraph
	exec   *graph.Exec
	state  []*tensors.Tensor
	data   []*tensors.Tensor // each space's train matrix [N, D_s]
	batch  []*tensors.Tensor // with ig.hostGather: each space's batch [B, D_s], shared buffers
	rows   int               // B
	donate bool              // donate the state's buffers to each iteration
}

// newDeviceRun builds the iteration graph for batches of rows rows and
// takes ownership of state (ig.numState() tensors in iterGraph's order)
// and data (each space's [N, D_s] matrix, of ig.dtype), which it uploads.
// With donate, each iteration donates the old state's buffers (PJRT can
// then update in place); without it the old state is released after the
// iteration, which on onnx returns its buffers to the executable's pool
// (donated onnx buffers are destroyed instead, which is slower).
func newDeviceRun(be compute.Backend, ig *iterGraph, state, data []*tensors.Tensor, rows int, donate bool) (*deviceRun, error) {
	igRun := *ig
	igRun.hostGather = be.HasSharedBuffers() && !graphGatherOnly
	ig = &igRun
	if len(state) != ig.numState() || len(data) != ig.spaces() {
		return nil, fmt.Errorf("turtle: %d state tensors and %d spaces, want %d and %d", len(state), len(data), ig.numState(), ig.spaces())
	}
	exec, err := graph.NewExec(be, ig.build)
	if err != nil {
		return nil, fmt.Errorf("build the TURTLE iteration graph: %w", err)
	}
	r := &deviceRun{be: be, ig: ig, exec: exec.WithName("turtle_iteration"), state: state, data: data, rows: rows, donate: donate}
	for s, t := range data {
		// Upload now (into shared memory where the backend has it, which
		// frees the tensor's host copy) rather than in the first call.
		if err := t.MaterializeOnDevice(be, true, 0); err != nil {
			r.close()
			return nil, fmt.Errorf("upload the train embeddings of space %d to the device: %w", s, err)
		}
		if ig.hostGather {
			d := t.Shape().Dimensions[1]
			b, err := tensors.FromShapeForBackend(be, 0, shapes.Make(ig.dtype, rows, d))
			if err != nil {
				r.close()
				return nil, fmt.Errorf("allocate the batch of space %d on the device: %w", s, err)
			}
			r.batch = append(r.batch, b)
		}
	}
	return r, nil
}

// gather copies the rows of every space's train matrix into its batch.
func (r *deviceRun) gather(rows []int32) error {
	for s, data := range r.data {
		d := data.Shape().Dimensions[1]
		var err error
		cerr := data.ConstFlatData(func(src any) {
			err = r.batch[s].MutableFlatData(func(dst any) {
				switch from := src.(type) {
				case []float32:
					copyRows(dst.([]float32), from, rows, d)
				case []float64:
					copyRows(dst.([]float64), from, rows, d)
				default:
					err = fmt.Errorf("train matrix of type %T", src)
				}
			})
		})
		if cerr != nil {
			return fmt.Errorf("read the train embeddings of space %d: %w", s, cerr)
		}
		if err != nil {
			return fmt.Errorf("fill the batch of space %d: %w", s, err)
		}
	}
	return nil
}

func copyRows[T float32 | float64](dst, src []T, rows []int32, d int) {
	for i, row := range rows {
		copy(dst[i*d:(i+1)*d], src[int(row)*d:(int(row)+1)*d])
	}
}

// step runs one outer iteration on the batch rows (len B, each in [0, N)):
// inner is the iteration's fresh inner init (2S tensors; nil with warm
// start), scalars the Adam scalars (see iterGraph). It returns the
// metrics [4] and, with ig.debug, the debug outputs (the caller
// finalizes them).
func (r *deviceRun) step(rows []int32, inner []*tensors.Tensor, scalars *tensors.Tensor) ([]float64, []*tensors.Tensor, error) {
	n := r.data[0].Shape().Dimensions[0]
	if len(rows) != r.rows {
		return nil, nil, fmt.Errorf("turtle iteration: %d rows, want %d", len(rows), r.rows)
	}
	for i, row := range rows {
		if row < 0 || int(row) >= n {
			return nil, nil, fmt.Errorf("turtle iteration: row %d (#%d of the batch) is outside the %d train embeddings", row, i, n)
		}
	}
	if (inner == nil) != r.ig.warm || (inner != nil && len(inner) != 2*r.ig.spaces()) {
		return nil, nil, fmt.Errorf("turtle iteration: %d inner init tensors with warm start %v", len(inner), r.ig.warm)
	}
	// Gather before donating the state, so that an error leaves it intact.
	if r.ig.hostGather {
		if err := r.gather(rows); err != nil {
			return nil, nil, err
		}
	}
	S := r.ig.spaces()
	args := make([]any, 0, len(r.state)+2*S+2)
	add := func(t *tensors.Tensor) error {
		if !r.donate {
			args = append(args, t)
			return nil
		}
		d, err := graph.DonateTensorBuffer(t, r.be, 0)
		if err != nil {
			return fmt.Errorf("turtle iteration: donate state: %w", err)
		}
		args = append(args, d)
		return nil
	}
	// State order: theta, outer m, outer v (9S), then with warm start
	// inner, inner m, inner v (6S); the graph's inputs put the inner
	// parameters right after the outer moments either way.
	for _, t := range r.state[:9*S] {
		if err := add(t); err != nil {
			return nil, nil, err
		}
	}
	if r.ig.warm {
		for _, t := range r.state[9*S:] {
			if err := add(t); err != nil {
				return nil, nil, err
			}
		}
	} else {
		for _, t := range inner {
			args = append(args, t)
		}
	}
	if r.ig.hostGather {
		for _, b := range r.batch {
			args = append(args, b)
		}
	} else {
		for _, d := range r.data {
			args = append(args, d)
		}
		args = append(args, rows)
	}
	args = append(args, scalars)
	outs, err := r.exec.Call(args...)
	if err != nil {
		return nil, nil, fmt.Errorf("turtle iteration: %w", err)
	}
	ns := len(r.state)
	extra := 0 // the transposed batches, discarded
	if r.ig.transposedGrad {
		extra = S
	}
	if len(outs) < ns+1+extra {
		return nil, nil, fmt.Errorf("turtle iteration returned %d outputs, want at least %d", len(outs), ns+1+extra)
	}
	for _, t := range outs[ns+1 : ns+1+extra] {
		_ = t.FinalizeAll()
	}
	// The old state is no longer needed: release it now (a no-op for
	// donated buffers; on onnx this hands the buffers back to the
	// executable's pool for the next iteration).
	for i, t := range r.state {
		_ = t.FinalizeAll()
		r.state[i] = outs[i]
	}
	metrics, err := toFloat64(outs[ns])
	_ = outs[ns].FinalizeAll()
	if err != nil {
		return nil, nil, fmt.Errorf("read the iteration's metrics: %w", err)
	}
	return metrics, outs[ns+1+extra:], nil
}

// theta returns the task encoder's tensors (3S, still owned by r).
func (r *deviceRun) theta() []*tensors.Tensor { return r.state[:3*r.ig.spaces()] }

// stateToHost copies the whole state to the host (for a checkpoint), in
// iterGraph's state order.
func (r *deviceRun) stateToHost() ([][]float32, error) {
	out := make([][]float32, len(r.state))
	for i, t := range r.state {
		v, err := tensors.CopyFlatData[float32](t)
		if err != nil {
			return nil, fmt.Errorf("copy the TURTLE state from the device: %w", err)
		}
		out[i] = v
	}
	return out, nil
}

func (r *deviceRun) close() {
	for _, t := range r.state {
		_ = t.FinalizeAll()
	}
	for _, t := range r.data {
		_ = t.FinalizeAll()
	}
	for _, t := range r.batch {
		_ = t.FinalizeAll()
	}
	r.exec.Finalize()
}

// toFloat64 reads a float tensor as float64.
func toFloat64(t *tensors.Tensor) ([]float64, error) {
	var out []float64
	var typeErr error
	err := t.ConstFlatData(func(flat any) {
		switch x := flat.(type) {
		case []float32:
			out = make([]float64, len(x))
			for i, v := range x {
				out[i] = float64(v)
			}
		case []float64:
			out = append([]float64(nil), x...)
		default:
			typeErr = fmt.Errorf("a tensor of type %T, want float32 or float64", flat)
		}
	})
	if err == nil {
		err = typeErr
	}
	return out, err
}
