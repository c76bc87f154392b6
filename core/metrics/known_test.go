package metrics

import (
	"math"
	"testing"
)

func TestScoreKnown(t *testing.T) {
	labels := []int{0, 0, 1, 1, -1, -1}
	pred := []int{3, 3, 4, 4, 4, 9}
	s, maj, err := ScoreKnown(labels, pred)
	if err != nil {
		t.Fatal(err)
	}
	if s.ACC != 1 || s.NMI != 1 || maj != 1 {
		t.Errorf("labelled part is a perfect match: ACC %v NMI %v majority %v", s.ACC, s.NMI, maj)
	}
	if s.N != 6 || s.Unlabelled != 2 || s.ClustersUsed != 3 || s.Smallest != 1 || s.Largest != 3 {
		t.Errorf("cluster statistics over every sample: %+v", s)
	}
	s, maj, err = ScoreKnown([]int{-1, -1, -1}, []int{0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(s.ACC) || !math.IsNaN(s.AMI) || !math.IsNaN(maj) || s.Unlabelled != 3 || s.ClustersUsed != 2 {
		t.Errorf("no labels: %+v majority %v; want NaN label metrics and the cluster statistics", s, maj)
	}
	// With every label known it agrees with Score.
	y, p := []int{0, 1, 2, 0, 1, 2, 2}, []int{1, 1, 0, 0, 2, 2, 2}
	s1, _ := Score(y, p)
	s2, _, _ := ScoreKnown(y, p)
	if s1 != s2 {
		t.Errorf("ScoreKnown %+v, Score %+v", s2, s1)
	}
}
