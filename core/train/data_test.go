package train

import (
	"math"
	"slices"
	"testing"
)

func TestNormaliser(t *testing.T) {
	// Column 0: 1, 2, 3, 4 (mean 2.5, unbiased std sqrt(5/3)); column 1
	// constant (std 0 is left at 1: centred only).
	train := matrix{Data: []float32{1, 7, 2, 7, 3, 7, 4, 7}, Rows: 4, Cols: 2}
	nz := newNormaliser(train, true, false)
	if !near(float64(nz.mean[0]), 2.5, 1e-6) || !near(float64(nz.std[0]), math.Sqrt(5.0/3), 1e-6) || nz.std[1] != 1 {
		t.Fatalf("mean %v std %v", nz.mean, nz.std)
	}
	x := matrix{Data: []float32{4, 9}, Rows: 1, Cols: 2}
	nz.apply(x)
	if !near(float64(x.Data[0]), 1.5/math.Sqrt(5.0/3), 1e-6) || x.Data[1] != 2 {
		t.Errorf("embed_norm gave %v", x.Data)
	}
	// l2_norm after embed_norm.
	nz.l2 = true
	y := matrix{Data: []float32{4, 9}, Rows: 1, Cols: 2}
	nz.apply(y)
	if n := math.Hypot(float64(y.Data[0]), float64(y.Data[1])); !near(n, 1, 1e-6) || y.Data[1] <= y.Data[0] {
		t.Errorf("l2 after embed_norm gave %v", y.Data)
	}
	// Neither option: untouched.
	z := matrix{Data: []float32{4, 9}, Rows: 1, Cols: 2}
	newNormaliser(train, false, false).apply(z)
	if z.Data[0] != 4 || z.Data[1] != 9 {
		t.Errorf("no normalisation changed %v", z.Data)
	}
}

// TestEpochRows: each epoch's anchors are distinct train indices (the last
// incomplete batch dropped), every partner is one of the anchor's first
// knn neighbours, and the draw depends on (seed, epoch) alone.
func TestEpochRows(t *testing.T) {
	const n, k, knn, batch = 50, 6, 3, 8
	nb := neighbours{Idx: make([]int32, n*k), N: n, K: k}
	for i := range n {
		for j := range k {
			nb.Idx[i*k+j] = int32((i + 1 + j) % n)
		}
	}
	steps := epochRows(3, 0, nb, knn, batch)
	if len(steps) != n/batch {
		t.Fatalf("%d steps, want %d", len(steps), n/batch)
	}
	seen := map[int32]bool{}
	partnerRank := map[int]int{}
	for _, rows := range steps {
		if len(rows) != 2*batch {
			t.Fatalf("%d rows, want %d", len(rows), 2*batch)
		}
		for b := range batch {
			a, p := rows[b], rows[batch+b]
			if seen[a] {
				t.Fatalf("anchor %d twice in an epoch", a)
			}
			seen[a] = true
			r := slices.Index(nb.Idx[int(a)*k:int(a)*k+k], p)
			if r < 0 || r >= knn {
				t.Fatalf("partner %d of %d is not among its first %d neighbours", p, a, knn)
			}
			partnerRank[r]++
		}
	}
	if len(partnerRank) != knn {
		t.Errorf("partners drawn from ranks %v, want all of the first %d", partnerRank, knn)
	}
	if again := epochRows(3, 0, nb, knn, batch); !slices.EqualFunc(again, steps, slices.Equal) {
		t.Error("the same (seed, epoch) drew different rows")
	}
	if other := epochRows(3, 1, nb, knn, batch); slices.EqualFunc(other, steps, slices.Equal) {
		t.Error("two epochs drew the same rows")
	}
}
