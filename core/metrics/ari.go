package metrics

import "math/big"

// ARI is the adjusted Rand index (sklearn.metrics.adjusted_rand_score,
// 1.2.1): computed from the pair confusion matrix, with the products in
// arbitrary precision as Python does, so that no overflow occurs for
// millions of samples.
func (t *Table) ARI() float64 {
	n := int64(t.N)
	var sumSquares, sumClusters2, sumClasses2 int64
	for _, row := range t.Counts {
		for _, v := range row {
			sumSquares += int64(v) * int64(v)
		}
	}
	for _, s := range t.ClusterSizes {
		sumClusters2 += int64(s) * int64(s)
	}
	for _, s := range t.ClassSizes {
		sumClasses2 += int64(s) * int64(s)
	}
	// sklearn.metrics.cluster.pair_confusion_matrix; its rows are the
	// classes, so C[0,1] involves the cluster sizes.
	tp := sumSquares - n
	fp := sumClusters2 - sumSquares
	fn := sumClasses2 - sumSquares
	tn := n*n - fp - fn - sumSquares
	// Special cases: empty data or full agreement.
	if fn == 0 && fp == 0 {
		return 1
	}
	bi := func(v int64) *big.Int { return big.NewInt(v) }
	mul := func(x, y int64) *big.Int { return new(big.Int).Mul(bi(x), bi(y)) }
	// 2.0 * (tp*tn - fn*fp) / ((tp+fn)*(fn+tn) + (tp+fp)*(fp+tn)), with
	// Python's semantics: each integer rounded to float64 once, then the
	// float operations.
	num := new(big.Int).Sub(mul(tp, tn), mul(fn, fp))
	den := new(big.Int).Add(mul(tp+fn, fn+tn), mul(tp+fp, fp+tn))
	return 2.0 * toFloat(num) / toFloat(den)
}

// toFloat rounds an integer to the nearest float64 (ties to even), as
// Python's float(int) does.
func toFloat(v *big.Int) float64 {
	f, _ := new(big.Float).SetInt(v).Float64()
	return f
}
