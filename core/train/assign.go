package train

import (
	"context"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// maxAssignBatch bounds the rows of one assignment call. Every call has
// the same shape (the last batch is padded) so the graph compiles once.
const maxAssignBatch = 1024

// assigner computes the teacher's cluster of every embedding of a split.
type assigner struct {
	exec  *graph.Exec
	batch int
	heads int
}

func newAssigner(be compute.Backend, a arch, specs []paramSpec, batch int) (*assigner, error) {
	ab := &assignBuilder{arch: a, specs: specs}
	exec, err := graph.NewExec(be, ab.build)
	if err != nil {
		return nil, fmt.Errorf("build assignment graph: %w", err)
	}
	return &assigner{exec: exec.WithName("assign"), batch: batch, heads: a.Heads}, nil
}

// run returns, for each head h and row i, the teacher's cluster
// clusters[h*N+i] and its softmax probability probs[h*N+i] at temperature
// temp.
func (as *assigner) run(ctx context.Context, teacher []*tensors.Tensor, x matrix, temp float32) (clusters []int32, probs []float32, err error) {
	n, d, H := x.Rows, x.Cols, as.heads
	clusters = make([]int32, H*n)
	probs = make([]float32, H*n)
	xb := make([]float32, as.batch*d)
	for start := 0; start < n; start += as.batch {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		rows := min(as.batch, n-start)
		copy(xb, x.Data[start*d:(start+rows)*d])
		clear(xb[rows*d:]) // padding rows: computed, then ignored
		args := make([]any, 0, len(teacher)+2)
		for _, t := range teacher {
			args = append(args, t)
		}
		args = append(args, tensors.FromFlatDataAndDimensions(xb, as.batch, d), temp)
		outs, err := as.exec.Call(args...)
		if err != nil {
			return nil, nil, fmt.Errorf("assignment: %w", err)
		}
		c, err1 := tensors.CopyFlatData[int32](outs[0])
		p, err2 := tensors.CopyFlatData[float32](outs[1])
		for _, o := range outs {
			_ = o.FinalizeAll()
		}
		if err1 != nil || err2 != nil {
			return nil, nil, fmt.Errorf("read assignment: %v %v", err1, err2)
		}
		for h := range H {
			copy(clusters[h*n+start:h*n+start+rows], c[h*as.batch:h*as.batch+rows])
			copy(probs[h*n+start:h*n+start+rows], p[h*as.batch:h*as.batch+rows])
		}
	}
	return clusters, probs, nil
}

func (as *assigner) close() { as.exec.Finalize() }
