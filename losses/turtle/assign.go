package main

import (
	"context"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// maxAssignRows bounds the rows of one assignment call. Every call has
// the same shape (the last chunk is padded), so the graph compiles once.
const maxAssignRows = 4096

// matrix is a row-major matrix.
type matrix[T float32 | float64] struct {
	Data       []T
	Rows, Cols int
}

// assigner computes tau, the labelling, of the rows of a split from its
// embeddings in every space, chunk by chunk.
type assigner struct {
	exec     *graph.Exec
	rows     int // rows of every call
	clusters int
}

func newAssigner(be compute.Backend, spaces, clusters, rows int) (*assigner, error) {
	ag := &assignGraph{spaces: spaces}
	exec, err := graph.NewExec(be, ag.build)
	if err != nil {
		return nil, fmt.Errorf("build the TURTLE assignment graph: %w", err)
	}
	return &assigner{exec: exec.WithName("turtle_assign"), rows: rows, clusters: clusters}, nil
}

func (a *assigner) close() { a.exec.Finalize() }

// assignRows returns the cluster of every row of the split whose
// embeddings in each space are xs (same rows in every space): the argmax
// of tau, the first on ties. It hands tau to probs chunk by chunk, in row
// order, rows x C values row-major (the slice is reused by the next call),
// so a large split streams through in a few megabytes.
func assignRows[T float32 | float64](ctx context.Context, a *assigner, theta []*tensors.Tensor, xs []matrix[T], probs func([]T) error) ([]int32, error) {
	n, K := xs[0].Rows, a.clusters
	clusters := make([]int32, n)
	bufs := make([][]T, len(xs))
	for s, x := range xs {
		if x.Rows != n {
			return nil, fmt.Errorf("assignment: space %d has %d rows, space 0 %d", s, x.Rows, n)
		}
		bufs[s] = make([]T, a.rows*x.Cols)
	}
	for start := 0; start < n; start += a.rows {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rows := min(a.rows, n-start)
		args := make([]any, 0, len(theta)+len(xs))
		for _, t := range theta {
			args = append(args, t)
		}
		for s, x := range xs {
			d := x.Cols
			copy(bufs[s], x.Data[start*d:(start+rows)*d])
			clear(bufs[s][rows*d:]) // padding rows: computed, then ignored
			args = append(args, tensors.FromFlatDataAndDimensions(bufs[s], a.rows, d))
		}
		outs, err := a.exec.Call(args...)
		if err != nil {
			return nil, fmt.Errorf("assignment: %w", err)
		}
		tau, err := tensors.CopyFlatData[T](outs[0])
		for _, o := range outs {
			_ = o.FinalizeAll()
		}
		if err != nil {
			return nil, fmt.Errorf("read the assignment: %w", err)
		}
		if len(tau) != a.rows*K {
			return nil, fmt.Errorf("assignment: %d probabilities for %d rows and %d clusters", len(tau), a.rows, K)
		}
		for i := range rows {
			clusters[start+i] = int32(argmaxFirst(tau[i*K : (i+1)*K]))
		}
		if err := probs(tau[:rows*K]); err != nil {
			return nil, err
		}
	}
	return clusters, nil
}

// argmaxFirst is the index of the largest value, the first one on ties
// (numpy's and torch's argmax); NaN never wins.
func argmaxFirst[T float32 | float64](x []T) int {
	best := 0
	for i, v := range x {
		if v > x[best] || (x[best] != x[best] && v == v) {
			best = i
		}
	}
	return best
}

// dtypeOf is the GoMLX dtype of T.
func dtypeOf[T float32 | float64]() dtypes.DType {
	var z T
	if _, ok := any(z).(float64); ok {
		return dtypes.Float64
	}
	return dtypes.Float32
}
