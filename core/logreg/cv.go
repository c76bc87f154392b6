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

// CVResult is a cross-validation's outcome.
type CVResult struct {
	// Mean is the mean of Accuracy (sklearn's cross_val_score(...).mean()).
	Mean float64
	// Accuracy is each fold's held-out accuracy, by fold.
	Accuracy []float64
	// Iterations, Converged and Loss describe each fold's fit (see Model).
	Iterations []int
	Converged  []bool
	Loss       []float64
}

// CrossValidate reproduces sklearn's cross_val_score(LogisticRegression(...),
// x, y, cv=...) for the folds given: test[i] in [0, folds) is the fold that
// holds row i out (StratifiedFolds gives sklearn's cv=folds for a
// classifier). For each fold it fits on the other folds' rows and scores
// accuracy on the fold's rows. Classes missing from a training split are
// simply not predictable there (their held-out rows count as errors), as
// in sklearn. A fold whose training rows hold a single class fails with an
// error matching ErrSingleClass (sklearn scores it NaN and warns).
//
// The folds are fitted together (see batch.go), each with its own L-BFGS,
// exactly as separate fits would be up to rounding. progress, when not
// nil, is called from the caller's goroutine as each fold's fit ends,
// with the number of fits done and the total. Cancelling ctx stops every
// fit at its next evaluation.
func CrossValidate(ctx context.Context, x []float32, n, d int, y []int32, k int, test []int, opt Options, progress func(done, total int)) (*CVResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkData(x, n, d, y, k); err != nil {
		return nil, err
	}
	if len(test) != n {
		return nil, core.InvalidInput(fmt.Errorf("logreg: %d fold numbers for %d samples", len(test), n))
	}
	folds := 0
	for i, f := range test {
		if f < 0 {
			return nil, core.InvalidInput(fmt.Errorf("logreg: fold %d of sample %d is negative", f, i))
		}
		folds = max(folds, f+1)
	}
	if folds < 2 {
		return nil, core.InvalidInput(fmt.Errorf("logreg: need at least 2 folds, got %d", folds))
	}
	fold := make([]int32, n)
	size := make([]int, folds)
	for i, f := range test {
		fold[i] = int32(f)
		size[f]++
	}
	for f, s := range size {
		if s == 0 {
			return nil, core.InvalidInput(fmt.Errorf("logreg: fold %d of %d holds no samples", f+1, folds))
		}
	}
	ds := newDataset(x, n, d, y, k, fold, opt.Float32)
	jobs := make([]*job, folds)
	for f := range jobs {
		if jobs[f], err = newJob(ds, f, f, opt); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("logreg: cross-validation interrupted: %w", err)
	}
	done := 0
	results := newBatch(ds, opt.Threads).run(ctx, jobs, opt, func(int) {
		done++
		if progress != nil {
			progress(done, folds)
		}
	})
	out := &CVResult{Accuracy: make([]float64, folds), Iterations: make([]int, folds),
		Converged: make([]bool, folds), Loss: make([]float64, folds)}
	for f, j := range jobs {
		m, err := finish(ctx, j, results[f])
		if err != nil {
			return nil, fmt.Errorf("logreg: fold %d of %d: %w", f+1, folds, err)
		}
		xte := make([]float64, 0, size[f]*d)
		var yte []int32
		for i, tf := range fold {
			if int(tf) == f {
				for _, v := range x[i*d : (i+1)*d] {
					xte = append(xte, float64(v))
				}
				yte = append(yte, y[i])
			}
		}
		right := 0
		for i, p := range m.predict(xte, len(yte)) {
			if p == yte[i] {
				right++
			}
		}
		out.Accuracy[f] = float64(right) / float64(len(yte))
		out.Iterations[f], out.Converged[f], out.Loss[f] = m.Iterations, m.Converged, m.Loss
		out.Mean += out.Accuracy[f]
	}
	out.Mean /= float64(folds)
	return out, nil
}
