package metrics

import (
	"fmt"
	"math"
)

// Unknown is the label of a sample whose class is not known (core's
// contract: -1). ScoreKnown leaves such samples out of the label metrics.
const Unknown = -1

// ScoreKnown scores pred against labels where a negative label means the
// sample's class is unknown (an unlabelled split, or a partly labelled
// one): the label metrics (ACC, NMI, ARI, AMI) and the majority ACC are
// computed on the labelled samples alone, the cluster statistics
// (ClustersUsed, Smallest, Largest) and N on every sample, and Unlabelled
// counts the samples left out. With no labelled sample the label metrics
// are NaN ("-" in tables, null in JSON).
func ScoreKnown(labels, pred []int) (Scores, float64, error) {
	if len(labels) != len(pred) {
		return Scores{}, math.NaN(), fmt.Errorf("%w: %d true labels but %d predictions; both must describe the same samples in the same order", ErrInput, len(labels), len(pred))
	}
	if len(pred) == 0 {
		return Scores{}, math.NaN(), fmt.Errorf("%w: no samples to score", ErrInput)
	}
	var ky, kp []int
	for i, y := range labels {
		if y >= 0 {
			ky, kp = append(ky, y), append(kp, pred[i])
		}
	}
	s := ClusterStats(pred)
	s.Unlabelled = len(pred) - len(ky)
	if len(ky) == 0 {
		s.ACC, s.NMI, s.ARI, s.AMI = math.NaN(), math.NaN(), math.NaN(), math.NaN()
		return s, math.NaN(), nil
	}
	t, err := NewTable(ky, kp)
	if err != nil {
		return Scores{}, math.NaN(), err
	}
	s.ACC, s.NMI, s.ARI, s.AMI = t.HungarianACC(), t.NMI(), t.ARI(), t.AMI()
	return s, t.MajorityACC(), nil
}

// ClusterStats are the label-free statistics of an assignment: the
// clusters used and the sizes of the smallest and largest, over all of
// pred (the label metrics of the result are zero).
func ClusterStats(pred []int) Scores {
	sizes := map[int]int{}
	for _, p := range pred {
		sizes[p]++
	}
	s := Scores{ClustersUsed: len(sizes), N: len(pred)}
	first := true
	for _, n := range sizes {
		if first {
			s.Smallest, s.Largest, first = n, n, false
		}
		s.Smallest, s.Largest = min(s.Smallest, n), max(s.Largest, n)
	}
	return s
}
