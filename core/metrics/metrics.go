// Package metrics scores a clustering against true labels: Hungarian
// accuracy, NMI, ARI and AMI exactly as scikit-learn 1.2.1 and scipy 1.10
// define them (testdata/metrics_golden.json holds reference values), plus
// occupied-cluster statistics, the many-to-one accuracy used for
// over-clustering, and the official TEMI code's accuracy for comparison.
//
// Labels and cluster ids are arbitrary ints: only their identity matters,
// they need not be contiguous or non-negative.
package metrics

import "math"

// Scores is what a run reports for one assignment of one split.
type Scores struct {
	ACC          float64 `json:"acc"` // Hungarian (one-to-one) accuracy
	NMI          float64 `json:"nmi"` // arithmetic normalisation
	ARI          float64 `json:"ari"`
	AMI          float64 `json:"ami"`           // arithmetic normalisation
	ClustersUsed int     `json:"clusters_used"` // occupied clusters
	Smallest     int     `json:"smallest_cluster"`
	Largest      int     `json:"largest_cluster"`
	N            int     `json:"n"`
	// Unlabelled counts the samples without a label (negative), left out
	// of the label metrics by ScoreKnown; Score counts none.
	Unlabelled int `json:"unlabelled,omitempty"`
}

// Score computes all Scores of pred (cluster ids) against labels (true
// classes). It fails on empty input and on labellings of different lengths.
func Score(labels, pred []int) (Scores, error) {
	t, err := NewTable(labels, pred)
	if err != nil {
		return Scores{}, err
	}
	return t.Scores(), nil
}

// Scores derives every score from the table.
func (t *Table) Scores() Scores {
	s := Scores{
		ACC:          t.HungarianACC(),
		NMI:          t.NMI(),
		ARI:          t.ARI(),
		AMI:          t.AMI(),
		ClustersUsed: len(t.Clusters),
		Smallest:     t.ClusterSizes[0],
		Largest:      t.ClusterSizes[0],
		N:            t.N,
	}
	for _, size := range t.ClusterSizes {
		s.Smallest = min(s.Smallest, size)
		s.Largest = max(s.Largest, size)
	}
	return s
}

// The functions below score one metric of a pair of labellings. They
// return NaN (and Match a nil map) when the labellings are empty or of
// different lengths; Score and NewTable report that as an error instead.

// HungarianACC is the one-to-one clustering accuracy (see Table.HungarianACC).
func HungarianACC(labels, pred []int) float64 {
	return apply(labels, pred, (*Table).HungarianACC)
}

// MajorityACC is the many-to-one accuracy (see Table.MajorityACC).
func MajorityACC(labels, pred []int) float64 {
	return apply(labels, pred, (*Table).MajorityACC)
}

// NMI is sklearn's normalized_mutual_info_score (arithmetic).
func NMI(labels, pred []int) float64 { return apply(labels, pred, (*Table).NMI) }

// ARI is sklearn's adjusted_rand_score.
func ARI(labels, pred []int) float64 { return apply(labels, pred, (*Table).ARI) }

// AMI is sklearn's adjusted_mutual_info_score (arithmetic).
func AMI(labels, pred []int) float64 { return apply(labels, pred, (*Table).AMI) }

// Match returns the one-to-one cluster id -> class label matching that
// HungarianACC scores, and the number of samples it matches (see
// Table.Match); it orders confusion matrices.
func Match(labels, pred []int) (mapping map[int]int, matched int) {
	t, err := NewTable(labels, pred)
	if err != nil {
		return nil, 0
	}
	return t.Match()
}

func apply(labels, pred []int, f func(*Table) float64) float64 {
	t, err := NewTable(labels, pred)
	if err != nil {
		return math.NaN()
	}
	return f(t)
}
