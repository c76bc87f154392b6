package logreg

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/clusterlab/clusterlab/core"
)

// StratifiedFolds returns the test fold (0..folds-1) of each label, as
// scikit-learn 1.2.1's StratifiedKFold(n_splits=folds)._make_test_folds:
// classes are numbered by first appearance, per-fold counts come from a
// round robin over the sorted labels, and each class's samples take fold
// numbers in blocks, in data order. seed 0 is sklearn's shuffle=False
// (exactly reproduced); any other seed shuffles each class's block with a
// Go generator (not numpy's, so not sklearn's shuffled folds).
//
// Like sklearn it fails when folds > len(y) or when every class has fewer
// than folds members; a class smaller than folds is allowed (sklearn only
// warns) and is then missing from some test folds.
func StratifiedFolds(y []int32, folds int, seed uint64) ([]int, error) {
	n := len(y)
	if folds < 2 {
		return nil, core.InvalidInput(fmt.Errorf("logreg: need at least 2 folds, got %d", folds))
	}
	if folds > n {
		return nil, core.InvalidInput(fmt.Errorf("logreg: cannot split %d samples into %d folds", n, folds))
	}
	// Encode classes by order of first appearance.
	code := map[int32]int{}
	enc := make([]int, n)
	var counts []int
	for i, v := range y {
		c, ok := code[v]
		if !ok {
			c = len(counts)
			code[v] = c
			counts = append(counts, 0)
		}
		enc[i] = c
		counts[c]++
	}
	allSmall := true
	for _, c := range counts {
		if c >= folds {
			allSmall = false
		}
	}
	if allSmall {
		return nil, core.InvalidInput(fmt.Errorf("logreg: %d folds cannot be greater than the number of members in each class", folds))
	}
	// allocation[f][c] = count of class c among sorted labels at positions
	// f, f+folds, f+2*folds, ...
	nc := len(counts)
	alloc := make([][]int, folds)
	for f := range alloc {
		alloc[f] = make([]int, nc)
	}
	pos := 0
	for c, cnt := range counts {
		for j := 0; j < cnt; j++ {
			alloc[pos%folds][c]++
			pos++
		}
	}
	var rng *rand.Rand
	if seed != 0 {
		rng = rand.New(rand.NewPCG(seed, 0x6c6f6772656721))
	}
	test := make([]int, n)
	next := make([]int, nc) // position inside each class's block
	blocks := make([][]int, nc)
	for c := range blocks {
		b := make([]int, 0, counts[c])
		for f := 0; f < folds; f++ {
			for j := 0; j < alloc[f][c]; j++ {
				b = append(b, f)
			}
		}
		if rng != nil {
			rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
		}
		blocks[c] = b
	}
	for i, c := range enc {
		test[i] = blocks[c][next[c]]
		next[c]++
	}
	return test, nil
}

// MinClassCount reports the size of the smallest class in y; below folds
// sklearn warns "The least populated class in y has only N members", which
// callers may want to log.
func MinClassCount(y []int32) int {
	counts := map[int32]int{}
	for _, v := range y {
		counts[v]++
	}
	m := len(y)
	for _, c := range counts {
		m = min(m, c)
	}
	return m
}

// CrossValidate reproduces sklearn's cross_val_score(LogisticRegression(...),
// x, y, cv=folds): for each StratifiedFolds fold it fits on the other folds
// and scores accuracy on the fold. It returns the mean and per-fold
// accuracies. Classes missing from a training split are simply not
// predictable there (their held-out samples count as errors), as in sklearn.
func CrossValidate(ctx context.Context, x []float32, n, d int, y []int32, k, folds int, seed uint64, opt Options) (float64, []float64, error) {
	if err := checkData(x, n, d, y, k); err != nil {
		return 0, nil, err
	}
	test, err := StratifiedFolds(y, folds, seed)
	if err != nil {
		return 0, nil, err
	}
	accs := make([]float64, folds)
	mean := 0.0
	for f := 0; f < folds; f++ {
		var xtr, xte []float32
		var ytr, yte []int32
		for i, tf := range test {
			row := x[i*d : (i+1)*d]
			if tf == f {
				xte = append(xte, row...)
				yte = append(yte, y[i])
			} else {
				xtr = append(xtr, row...)
				ytr = append(ytr, y[i])
			}
		}
		m, err := Fit(ctx, xtr, len(ytr), d, ytr, k, opt)
		if err != nil {
			return 0, nil, fmt.Errorf("logreg: fold %d of %d: %w", f+1, folds, err)
		}
		pred, err := m.Predict(xte, len(yte))
		if err != nil {
			return 0, nil, err
		}
		right := 0
		for i, p := range pred {
			if p == yte[i] {
				right++
			}
		}
		accs[f] = float64(right) / float64(len(yte))
		mean += accs[f]
	}
	return mean / float64(folds), accs, nil
}
