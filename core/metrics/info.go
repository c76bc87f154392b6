package metrics

import (
	"math"
	"slices"
)

// The information-theoretic scores below follow scikit-learn 1.2.1
// (sklearn/metrics/cluster/_supervised.py and
// _expected_mutual_info_fast.pyx) term by term, natural logarithms, so that
// they agree with it to about 1e-12; the edge cases are sklearn's.

// MutualInfo is the mutual information of the two labellings in nats
// (sklearn.metrics.mutual_info_score).
func (t *Table) MutualInfo() float64 {
	// Any labelling with a single cluster has zero entropy, so MI = 0.
	if len(t.Clusters) == 1 || len(t.Classes) == 1 {
		return 0
	}
	n := float64(t.N)
	logN := math.Log(n)
	// pi.sum() and pj.sum() are both n.
	logSums := logN + logN
	mi := 0.0
	// sklearn walks the non-zero cells class-major (its rows are the
	// classes); the order only affects the last bits of the sum.
	for c, classSize := range t.ClassSizes {
		for r, clusterSize := range t.ClusterSizes {
			nij := t.Counts[r][c]
			if nij == 0 {
				continue
			}
			v := float64(nij)
			p := v / n
			outer := float64(int64(classSize) * int64(clusterSize))
			logOuter := -math.Log(outer) + logSums
			term := p*(math.Log(v)-logN) + p*logOuter
			if math.Abs(term) < epsilon {
				term = 0
			}
			mi += term
		}
	}
	return max(mi, 0)
}

// epsilon is numpy's float64 machine epsilon (np.finfo(float64).eps).
const epsilon = 0x1p-52

// Entropies returns the plug-in entropies, in nats, of the true labels and
// of the predicted clusters (sklearn.metrics.cluster.entropy).
func (t *Table) Entropies() (hTrue, hPred float64) {
	return entropy(t.ClassSizes, t.N), entropy(t.ClusterSizes, t.N)
}

func entropy(sizes []int, n int) float64 {
	if len(sizes) == 1 {
		return 0
	}
	sum := float64(n)
	logSum := math.Log(sum)
	h := 0.0
	for _, s := range sizes {
		v := float64(s)
		h += (v / sum) * (math.Log(v) - logSum)
	}
	return -h
}

// ExpectedMutualInfo is the expected mutual information, in nats, of two
// random labellings with the same cluster sizes under the hypergeometric
// (permutation) model: the chance correction of AMI.
//
// It is sklearn's expected_mutual_information, with log-gamma values taken
// from a table of lgamma(k+1), k = 0..N, so that the cost is O(N) for the
// table plus one exp per term: sum over class/cluster pairs of
// min(a_i, b_j) - max(1, a_i+b_j-N) + 1 terms.
func (t *Table) ExpectedMutualInfo() float64 {
	a, b := t.ClassSizes, t.ClusterSizes
	if len(a) == 1 || len(b) == 1 {
		return 0
	}
	n := t.N
	nf := float64(n)
	// lf[k] = lgamma(k+1) = log(k!); exact per entry, no accumulated error.
	lf := make([]float64, n+2)
	for k := range lf {
		lf[k], _ = math.Lgamma(float64(k + 1))
	}
	maxSize := max(slices.Max(a), slices.Max(b))
	logNnij := make([]float64, maxSize+1) // log(N) + log(nij)
	term1 := make([]float64, maxSize+1)   // nij / N
	logN := math.Log(nf)
	for k := 1; k <= maxSize; k++ {
		logNnij[k] = logN + math.Log(float64(k))
		term1[k] = float64(k) / nf
	}
	glnN := lf[n] // gammaln(N + 1)
	emi := 0.0
	for _, ai := range a {
		logA := math.Log(float64(ai))
		glnA := lf[ai]
		glnNa := lf[n-ai]
		for _, bj := range b {
			logB := math.Log(float64(bj))
			glnAB := glnA + lf[bj] + glnNa + lf[n-bj]
			start := max(1, ai-n+bj)
			end := min(ai, bj)
			for nij := start; nij <= end; nij++ {
				term2 := logNnij[nij] - logA - logB
				gln := glnAB - (lf[nij] + glnN) - lf[ai-nij] - lf[bj-nij] - lf[n-ai-bj+nij]
				emi += term1[nij] * term2 * math.Exp(gln)
			}
		}
	}
	return emi
}

// bothSingle reports sklearn's "no clustering" limit case: both labellings
// put every sample in one cluster, a perfect match scored 1.
func (t *Table) bothSingle() bool {
	return len(t.Clusters) == 1 && len(t.Classes) == 1
}

// NMI is the normalised mutual information with arithmetic-mean
// normalisation: MI / ((H(true) + H(pred)) / 2)
// (sklearn.metrics.normalized_mutual_info_score, the default).
func (t *Table) NMI() float64 {
	if t.bothSingle() {
		return 1
	}
	mi := t.MutualInfo()
	if mi == 0 {
		return 0
	}
	hTrue, hPred := t.Entropies()
	return mi / ((hTrue + hPred) / 2)
}

// AMI is the adjusted mutual information with arithmetic-mean
// normalisation: (MI - E[MI]) / ((H(true) + H(pred)) / 2 - E[MI])
// (sklearn.metrics.adjusted_mutual_info_score, the default).
func (t *Table) AMI() float64 {
	if t.bothSingle() {
		return 1
	}
	mi := t.MutualInfo()
	emi := t.ExpectedMutualInfo()
	hTrue, hPred := t.Entropies()
	denominator := (hTrue+hPred)/2 - emi
	// sklearn: avoid 0/0 when the expectation equals the maximum, keeping
	// the sign when rounding made emi slightly larger than the normaliser.
	if denominator < 0 {
		denominator = min(denominator, -epsilon)
	} else {
		denominator = max(denominator, epsilon)
	}
	return (mi - emi) / denominator
}
