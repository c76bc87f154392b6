package selection

import (
	"math/rand/v2"
	"slices"
)

// subsampleSeed fixes the row order Subsample draws from: a constant, not
// the trial's seed, so that every trial, method and sweep point of a data
// set draws from the same order.
const subsampleSeed = 0x5c07e5a3b1e5

// Subsample returns the ascending indices of a stratified subsample of
// maxRows of the rows labelled by labels, or nil when maxRows is 0 or not
// below the number of rows (use every row).
//
// Each cluster c of n_c rows gets floor(maxRows * n_c / N) rows, and the
// rows left over go one each to the clusters with the largest remainders
// (ties to the smaller label): the largest-remainder rounding of the
// proportional allocation, so the sizes are as close to proportional as
// whole rows allow (a cluster much smaller than N/maxRows may get none).
// Within a cluster, the rows taken are its first ones in a fixed
// pseudo-random order of all N row indices (fixedOrder).
// The result depends only on the labels and maxRows: the same labelling
// always gives the same rows, and the rows keep their data order.
func Subsample(labels []int32, maxRows int) []int {
	n := len(labels)
	if maxRows <= 0 || maxRows >= n {
		return nil
	}
	k := 0
	for _, v := range labels {
		k = max(k, int(v)+1)
	}
	count := make([]int, k)
	for _, v := range labels {
		count[v]++
	}
	quota := make([]int, k)
	rem := make([]int64, k) // remainder numerators, maxRows*n_c mod N
	left := maxRows
	for c, nc := range count {
		q := int64(maxRows) * int64(nc)
		quota[c] = int(q / int64(n))
		rem[c] = q % int64(n)
		left -= quota[c]
	}
	order := make([]int, k)
	for c := range order {
		order[c] = c
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	for _, c := range order[:left] {
		quota[c]++
	}
	out := make([]int, 0, maxRows)
	for _, i := range fixedOrder(n) {
		c := labels[i]
		if quota[c] > 0 {
			quota[c]--
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// fixedOrder is a pseudo-random permutation of [0, n) that depends on n
// only: Fisher-Yates from the top, swapping i with PCG-DXSM(subsampleSeed,
// n).Uint64() mod (i+1) (both fully specified, unlike rand's Perm, whose
// algorithm Go may change; the modulo bias is below 2^-32).
func fixedOrder(n int) []int {
	pcg := rand.NewPCG(subsampleSeed, uint64(n))
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(pcg.Uint64() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
