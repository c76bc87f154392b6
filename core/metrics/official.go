package metrics

import "math"

// MaxOfficialIDs bounds the id range OfficialTEMIACC accepts: the authors'
// method builds a dense square matrix over raw ids and solves an assignment
// on it, O(D^3) in the largest id D.
const MaxOfficialIDs = 2048

// OfficialTEMIACC reproduces the accuracy returned by utils.compute_metrics
// of the official TEMI code (HHU-MMBS/TEMI-official-BMVC2023, divided by
// 100), for comparison with published numbers and for tests only; report
// HungarianACC (one-to-one) or MajorityACC (many-to-one) instead.
//
// What it computes (the golden file's acc_official_temi): a square count
// matrix of size D = max(max(labels), max(pred)) + 1 indexed by raw ids,
// scipy's assignment on it, and, only when there are more distinct clusters
// than classes, every cluster whose partner is not a real class label is
// re-assigned to its majority class. It equals HungarianACC whenever there
// are no more clusters than classes, and can exceed it under
// over-clustering.
//
// It returns NaN where the authors' code would fail or misbehave: empty or
// mismatched inputs, negative ids (numpy would index from the end), or ids
// of MaxOfficialIDs or more.
func OfficialTEMIACC(labels, pred []int) float64 {
	if len(labels) != len(pred) || len(labels) == 0 {
		return math.NaN()
	}
	d := 0
	for i := range labels {
		if labels[i] < 0 || pred[i] < 0 || labels[i] >= MaxOfficialIDs || pred[i] >= MaxOfficialIDs {
			return math.NaN()
		}
		d = max(d, labels[i]+1, pred[i]+1)
	}
	count := make([]int64, d*d)
	isLabel := make([]bool, d)
	isPred := make([]bool, d)
	for i := range labels {
		count[pred[i]*d+labels[i]]++
		isLabel[labels[i]] = true
		isPred[pred[i]] = true
	}
	var cmax int64
	for _, v := range count {
		cmax = max(cmax, v)
	}
	cost := make([]int64, d*d)
	for k, v := range count {
		cost[k] = cmax - v
	}
	assign := lsap(cost, d, d)

	nLabels, nPred := 0, 0
	for k := range d {
		if isLabel[k] {
			nLabels++
		}
		if isPred[k] {
			nPred++
		}
	}
	if nPred > nLabels {
		// "if using over-clustering, append remaining clusters to best
		// option": argmax takes the first maximum, as numpy's does.
		for p := range d {
			if !isPred[p] || isLabel[assign[p]] {
				continue
			}
			row := count[p*d : (p+1)*d]
			best := 0
			for c, v := range row {
				if v > row[best] {
					best = c
				}
			}
			assign[p] = best
		}
	}
	var total int64
	for p := range d {
		total += count[p*d+assign[p]]
	}
	return float64(total) / float64(len(labels))
}
