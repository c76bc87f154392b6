package baselines

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNearestCentreByHand(t *testing.T) {
	// Three centres on a line; the middle point of two centres is a tie,
	// which goes to the lower centre.
	centres := []float32{0, 0, 10, 0, 0, 10}
	x := []float32{
		1, 1, // near centre 0
		9, -1, // near centre 1
		-2, 12, // near centre 2
		5, 0, // equidistant from 0 and 1
		5, 5, // equidistant from 1 and 2 (and sqrt(50) from 0): centre 0 is equally far too
		100, 0, // far right: centre 1
	}
	got := NearestCentre(x, 6, 2, centres, 3)
	if want := []int32{0, 1, 2, 0, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("NearestCentre = %v, want %v", got, want)
	}
	if got := NearestCentre(nil, 0, 2, centres, 3); len(got) != 0 {
		t.Fatalf("no rows: %v", got)
	}
}

// The rows k-means was fitted on get the labels KMeans gave them, on
// every path, and points drawn afresh from the same blobs go to the centre
// of their blob.
func TestNearestCentreAgreesWithKMeans(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	centres := [][]float64{{0, 0, 0}, {15, 0, 0}, {0, 15, 0}, {0, 0, 15}}
	x, _ := blobs(rng, centres, 60, 1)
	fresh, freshY := blobs(rng, centres, 25, 1)
	n, d, k := len(x)/3, 3, len(centres)
	for _, p := range paths(t) {
		res, err := KMeans(context.Background(), p.b, x, n, d, k, p.opts(KMeansOptions{Seed: 1, NInit: 2}))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if got := NearestCentre(x, n, d, res.Centers, k); !slices.Equal(got, res.Labels) {
			t.Errorf("%s: NearestCentre on the fitted rows differs from KMeans' labels", p.name)
		}
		got := NearestCentre(fresh, len(freshY), d, res.Centers, k)
		if !samePartition(got, freshY) {
			t.Errorf("%s: fresh points not assigned by blob: %v", p.name, got[:12])
		}
	}
}
