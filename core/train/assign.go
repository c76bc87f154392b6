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

// assigner computes the teacher's cluster of every embedding of a split
// for every head, and the full cluster probabilities of one head (the
// selected one).
type assigner struct {
	exec            *graph.Exec
	batch           int
	heads, clusters int
}

// newAssigner builds the assignment graph for batches of batch rows; its
// probabilities are those of head probsHead.
func newAssigner(be compute.Backend, a arch, specs []paramSpec, batch, probsHead int) (*assigner, error) {
	if probsHead < 0 || probsHead >= a.Heads {
		return nil, fmt.Errorf("assignment: head %d of %d", probsHead, a.Heads)
	}
	ab := &assignBuilder{arch: a, specs: specs, probsHead: probsHead}
	exec, err := graph.NewExec(be, ab.build)
	if err != nil {
		return nil, fmt.Errorf("build assignment graph: %w", err)
	}
	return &assigner{exec: exec.WithName("assign"), batch: batch, heads: a.Heads, clusters: a.Clusters}, nil
}

// run returns, for each head h and row i, the teacher's cluster
// clusters[h*N+i], and hands the selected head's softmax probabilities at
// temperature temp to probs batch by batch, in row order: rows×K values,
// row-major (the slice is reused by the next call). Only one batch of
// probabilities is ever held, so a split of a million rows and a thousand
// clusters streams through in a few megabytes.
func (as *assigner) run(ctx context.Context, teacher []*tensors.Tensor, x matrix, temp float32, probs func([]float32) error) (clusters []int32, err error) {
	n, d, H, K := x.Rows, x.Cols, as.heads, as.clusters
	clusters = make([]int32, H*n)
	xb := make([]float32, as.batch*d)
	for start := 0; start < n; start += as.batch {
		if err := ctx.Err(); err != nil {
			return nil, err
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
			return nil, fmt.Errorf("assignment: %w", err)
		}
		c, err1 := tensors.CopyFlatData[int32](outs[0])
		p, err2 := tensors.CopyFlatData[float32](outs[1])
		for _, o := range outs {
			_ = o.FinalizeAll()
		}
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read assignment: %v %v", err1, err2)
		}
		if len(c) != H*as.batch || len(p) != as.batch*K {
			return nil, fmt.Errorf("assignment: %d clusters and %d probabilities for a batch of %d rows, %d heads, %d clusters", len(c), len(p), as.batch, H, K)
		}
		for h := range H {
			copy(clusters[h*n+start:h*n+start+rows], c[h*as.batch:h*as.batch+rows])
		}
		if err := probs(p[:rows*K]); err != nil {
			return nil, err
		}
	}
	return clusters, nil
}

func (as *assigner) close() { as.exec.Finalize() }
