// Package silhouette is the silhouette, a label-free quality index of a
// clustering, as scikit-learn computes it. It is apart from core/metrics so
// that the packages reading metrics (the run directory, every loss plugin)
// do not link the BLAS it needs.
package silhouette

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/clusterlab/clusterlab/core/metrics"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Silhouette is scikit-learn's silhouette_score with the Euclidean metric:
// for each sample, a is the mean distance to the other members of its
// cluster and b the smallest mean distance to the members of another
// cluster; its value is (b - a) / max(a, b), 0 for a sample alone in its
// cluster; the score is the mean over samples. x holds n rows of d values.
// It is NaN when fewer than 2 or more than n-1 clusters are used (where
// scikit-learn raises). The work is n^2 d / 2 multiply-adds and n^2 float64
// of memory, so callers score a sample of rows (SilhouetteSample).
func Silhouette(ctx context.Context, x []float64, n, d int, pred []int) (float64, error) {
	if len(x) != n*d || len(pred) != n {
		return math.NaN(), fmt.Errorf("%w: silhouette of %d rows of %d values needs %d values and %d clusters, got %d and %d", metrics.ErrInput, n, d, n*d, n, len(x), len(pred))
	}
	dist, err := EuclideanDistances(ctx, x, n, d)
	if err != nil {
		return math.NaN(), err
	}
	return dist.Silhouette(pred)
}

// Distances are the pairwise Euclidean distances of n rows, computed once
// to score the silhouette of several assignments of the same rows.
type Distances struct {
	n int
	d []float64 // n x n
}

// Silhouette scores pred (one cluster per row) as the function Silhouette.
func (m *Distances) Silhouette(pred []int) (float64, error) {
	n, dist := m.n, m.d
	if len(pred) != n {
		return math.NaN(), fmt.Errorf("%w: silhouette of %d rows, got %d clusters", metrics.ErrInput, n, len(pred))
	}
	clusters, idx := metrics.Distinct(pred)
	k := len(clusters)
	if k < 2 || k > n-1 {
		return math.NaN(), nil
	}
	size := make([]int, k)
	for _, c := range idx {
		size[c]++
	}
	sums := make([]float64, k)
	var total float64
	for i := range n {
		clear(sums)
		row := dist[i*n : (i+1)*n]
		for j, v := range row {
			sums[idx[j]] += v
		}
		own := int(idx[i])
		if size[own] == 1 {
			continue // a singleton's silhouette is 0
		}
		a := sums[own] / float64(size[own]-1)
		b := math.Inf(1)
		for c := range k {
			if c != own {
				b = min(b, sums[c]/float64(size[c]))
			}
		}
		if m := max(a, b); m > 0 {
			total += (b - a) / m
		}
	}
	return total / float64(n), nil
}

// EuclideanDistances computes the n x n Euclidean distances between the
// rows of x (n rows of d values) from their Gram matrix, as scikit-learn's
// euclidean_distances does: ||a||^2 - 2 a.b + ||b||^2, clipped at 0, with
// exact zeros on the diagonal.
func EuclideanDistances(ctx context.Context, x []float64, n, d int) (*Distances, error) {
	if len(x) != n*d {
		return nil, fmt.Errorf("%w: %d rows of %d values need %d values, got %d", metrics.ErrInput, n, d, n*d, len(x))
	}
	g := make([]float64, n*n)
	// One product of the rows with themselves: blas64 runs it blocked.
	blas64.Gemm(blas.NoTrans, blas.Trans, 1,
		blas64.General{Rows: n, Cols: d, Stride: d, Data: x},
		blas64.General{Rows: n, Cols: d, Stride: d, Data: x},
		0, blas64.General{Rows: n, Cols: n, Stride: n, Data: g})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sq := make([]float64, n)
	for i := range n {
		sq[i] = g[i*n+i]
	}
	for i := range n {
		for j := range n {
			v := sq[i] - 2*g[i*n+j] + sq[j]
			if v < 0 || i == j {
				v = 0
			}
			g[i*n+j] = math.Sqrt(v)
		}
	}
	return &Distances{n: n, d: g}, nil
}

// SilhouetteSample is the set of rows a silhouette is computed on: all
// rows when there are at most max, else max rows drawn without
// replacement from a generator seeded with seed, in increasing order. The
// same (n, max, seed) gives the same rows, so every method of a run is
// scored on the same samples.
func SilhouetteSample(n, max int, seed uint64) []int {
	if n <= max {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	r := rand.New(rand.NewPCG(seed, 0x73696c686f756574)) // "silhouet"
	perm := r.Perm(n)[:max]
	slices.Sort(perm)
	return perm
}
