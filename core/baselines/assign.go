package baselines

import "math"

// NearestCentre assigns each of the n rows of x ([n, d], row-major) to its
// closest of the k centres ([k, d], row-major, as KMeansResult.Centers),
// by squared Euclidean distance accumulated in float64; a tie goes to the
// lower centre. It labels the rows the centres were not fitted on (the
// other splits of a run), the way KMeans labels its own rows.
func NearestCentre(x []float32, n, d int, centres []float32, k int) []int32 {
	out := make([]int32, n)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		best, bestDist := 0, math.Inf(1)
		for c := 0; c < k; c++ {
			cen := centres[c*d : (c+1)*d]
			var s float64
			for j, v := range row {
				diff := float64(v - cen[j])
				s += diff * diff
			}
			if s < bestDist {
				best, bestDist = c, s
			}
		}
		out[i] = int32(best)
	}
	return out
}
