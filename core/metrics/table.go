package metrics

import (
	"fmt"
	"slices"

	"github.com/clusterlab/clusterlab/core"
)

// ErrInput marks labellings that cannot be scored (empty or of different
// lengths). It wraps core.ErrInvalidInput: the user's files are at fault.
var ErrInput = fmt.Errorf("metrics: invalid labelling: %w", core.ErrInvalidInput)

// Table is the contingency table of a pair of labellings: every metric of
// this package is a function of it, so Score builds it once and derives
// everything from it.
//
// Rows are the occupied clusters (distinct predicted ids, sorted), columns
// the classes (distinct true labels, sorted). Clusters that were available
// to the model but never predicted have no row: they change no metric.
type Table struct {
	Clusters     []int   // sorted distinct predicted ids (rows)
	Classes      []int   // sorted distinct true labels (columns)
	Counts       [][]int // Counts[r][c] = #samples of cluster Clusters[r] and class Classes[c]
	ClusterSizes []int   // row sums
	ClassSizes   []int   // column sums
	N            int     // number of samples
}

// NewTable builds the contingency table of labels (true classes) and pred
// (cluster ids). Ids are arbitrary ints, negative ones included: only their
// identity matters.
func NewTable(labels, pred []int) (*Table, error) {
	if len(labels) != len(pred) {
		return nil, fmt.Errorf("%w: %d true labels but %d predictions; both must describe the same samples in the same order", ErrInput, len(labels), len(pred))
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("%w: no samples to score", ErrInput)
	}
	classes, classIdx := Distinct(labels)
	clusters, clusterIdx := Distinct(pred)
	nr, nc := len(clusters), len(classes)
	flat := make([]int, nr*nc)
	for i := range labels {
		flat[int(clusterIdx[i])*nc+int(classIdx[i])]++
	}
	t := &Table{
		Clusters:     clusters,
		Classes:      classes,
		Counts:       make([][]int, nr),
		ClusterSizes: make([]int, nr),
		ClassSizes:   make([]int, nc),
		N:            len(labels),
	}
	for r := range nr {
		row := flat[r*nc : (r+1)*nc : (r+1)*nc]
		t.Counts[r] = row
		for c, v := range row {
			t.ClusterSizes[r] += v
			t.ClassSizes[c] += v
		}
	}
	return t, nil
}

// Contingency returns the contingency table of labels and pred: rows are the
// sorted distinct predicted ids, columns the sorted distinct true labels.
// It returns nils when the labellings are empty or of different lengths.
func Contingency(labels, pred []int) (rows []int, cols []int, counts [][]int) {
	t, err := NewTable(labels, pred)
	if err != nil {
		return nil, nil, nil
	}
	return t.Clusters, t.Classes, t.Counts
}

// denseSpanLimit bounds the id range for which distinct uses a lookup array
// instead of a map; the usual case (ids 0..K-1) takes the fast path.
const denseSpanLimit = 1 << 22

// Distinct returns the sorted distinct values of vals and, for each element,
// the index of its value in that sorted list.
func Distinct(vals []int) ([]int, []int32) {
	lo, hi := vals[0], vals[0]
	for _, v := range vals {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	idx := make([]int32, len(vals))
	// The span is computed in uint64 so that extreme ids cannot overflow.
	span := uint64(hi) - uint64(lo)
	if span < denseSpanLimit && span <= uint64(4*len(vals)+1024) {
		rank := make([]int32, span+1)
		for _, v := range vals {
			rank[v-lo] = 1
		}
		var out []int
		for off, seen := range rank {
			if seen != 0 {
				rank[off] = int32(len(out))
				out = append(out, lo+off)
			} else {
				rank[off] = -1
			}
		}
		for i, v := range vals {
			idx[i] = rank[v-lo]
		}
		return out, idx
	}
	pos := make(map[int]int32)
	for _, v := range vals {
		pos[v] = 0
	}
	out := make([]int, 0, len(pos))
	for v := range pos {
		out = append(out, v)
	}
	slices.Sort(out)
	for i, v := range out {
		pos[v] = int32(i)
	}
	for i, v := range vals {
		idx[i] = pos[v]
	}
	return out, idx
}
