// Package neighbours finds the exact cosine nearest neighbours of embedding
// rows (the k-NN graph TEMI trains on, TEMI.md §1) and classifies by a
// similarity-weighted k-NN vote (the supervised upper reference of a run).
//
// The similarity matrix is never held whole. Query blocks [Bq, d] are
// multiplied on the GoMLX backend by the whole normalised database [d, n],
// which stays on the device between blocks; each block's rows are reduced
// to their top k on the host, in parallel, while the backend computes the
// next block. A nil backend, or a problem so small that compiling a graph
// would cost more than the work, takes a pure-Go path that returns the same
// neighbours.
package neighbours

import (
	"context"
	"fmt"
	"math"

	"github.com/gomlx/compute"
)

// voteTemperature scales similarities into vote weights exp(sim/T) in
// Classify. 0.07 with k = 20 is the k-NN evaluation of frozen features used
// by DINO and its successors, so the reference is comparable to theirs.
const voteTemperature = 0.07

// KNN returns, for each of the n rows of x ([n, d], row-major), the k rows
// most similar to it by cosine similarity, most similar first: idx and sim
// are [n, k] row-major. A row is never its own neighbour, even when other
// rows duplicate it (exclusion is by index). Ties come in any order.
//
// b runs the matrix products; nil selects the pure-Go path. progress, if
// not nil, is called with the number of query rows done so far; calls
// never overlap.
func KNN(ctx context.Context, b compute.Backend, x []float32, n, d, k int, progress func(done, total int)) (idx []int32, sim []float32, err error) {
	return knn(ctx, b, x, n, d, k, progress, tuning{})
}

// tuning lets tests force the backend path on tiny inputs and shrink the
// blocks, so that both paths and the block loop run on small data.
type tuning struct {
	forceDevice bool
	blockBytes  int // 0: targetBlockBytes
}

func knn(ctx context.Context, b compute.Backend, x []float32, n, d, k int, progress func(done, total int), tu tuning) ([]int32, []float32, error) {
	if err := checkShape("x", x, n, d); err != nil {
		return nil, nil, fmt.Errorf("neighbours: %w", err)
	}
	if k < 1 || k >= n {
		return nil, nil, fmt.Errorf("neighbours: k=%d must be in [1, n-1] with n=%d rows (a row is not its own neighbour); lower k", k, n)
	}
	xn, err := normalise(x, n, d, "row")
	if err != nil {
		return nil, nil, fmt.Errorf("neighbours: %w", err)
	}
	s := &search{query: xn, nq: n, db: xn, n: n, d: d, k: k, excludeSelf: true, progress: progress, tuning: tu}
	idx, sim, err := s.run(ctx, b)
	if err != nil {
		return nil, nil, fmt.Errorf("neighbours of %d x %d rows: %w", n, d, err)
	}
	return idx, sim, nil
}

// Classify predicts a label for each of the nTest rows of test from its k
// most cosine-similar rows of train ([nTrain, d] with trainLabels), each
// neighbour voting for its label with weight exp(sim/0.07) (DINO's k-NN
// evaluation; callers default k to 20). Vote ties go to the smaller label.
// Labels must be non-negative.
func Classify(ctx context.Context, b compute.Backend, train []float32, trainLabels []int32, nTrain int, test []float32, nTest int, d, k int) (pred []int32, err error) {
	return classify(ctx, b, train, trainLabels, nTrain, test, nTest, d, k, tuning{})
}

func classify(ctx context.Context, b compute.Backend, train []float32, trainLabels []int32, nTrain int, test []float32, nTest int, d, k int, tu tuning) ([]int32, error) {
	if err := checkShape("train", train, nTrain, d); err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	if err := checkShape("test", test, nTest, d); err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	if len(trainLabels) != nTrain {
		return nil, fmt.Errorf("k-NN classifier: %d train labels for %d train rows", len(trainLabels), nTrain)
	}
	if k < 1 || k > nTrain {
		return nil, fmt.Errorf("k-NN classifier: k=%d must be in [1, %d] (the number of train rows)", k, nTrain)
	}
	maxLabel := int32(0)
	for i, l := range trainLabels {
		if l < 0 {
			return nil, fmt.Errorf("k-NN classifier: train label %d of row %d is negative; labels must be class indices >= 0", l, i)
		}
		maxLabel = max(maxLabel, l)
	}
	trainN, err := normalise(train, nTrain, d, "train row")
	if err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	testN, err := normalise(test, nTest, d, "test row")
	if err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	s := &search{query: testN, nq: nTest, db: trainN, n: nTrain, d: d, k: k, tuning: tu}
	idx, sim, err := s.run(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("k-NN classifier, %d test rows against %d train rows: %w", nTest, nTrain, err)
	}
	pred := make([]int32, nTest)
	votes := make([]float64, maxLabel+1)
	for i := range nTest {
		clear(votes)
		for j := i * k; j < (i+1)*k; j++ {
			// sim <= 1, so shifting by 1 keeps exp finite without
			// changing the winner.
			votes[trainLabels[idx[j]]] += math.Exp((float64(sim[j]) - 1) / voteTemperature)
		}
		best := 0
		for l, v := range votes {
			if v > votes[best] {
				best = l
			}
		}
		pred[i] = int32(best)
	}
	return pred, nil
}

func checkShape(name string, x []float32, n, d int) error {
	if n < 1 || d < 1 {
		return fmt.Errorf("%s has shape [%d, %d]; both must be positive", name, n, d)
	}
	if len(x) != n*d {
		return fmt.Errorf("%s has %d values, want n*d = %d*%d = %d", name, len(x), n, d, n*d)
	}
	return nil
}

// normalise returns a copy of x with every row scaled to unit L2 norm. The
// norm is accumulated in float64 so that large d loses nothing. A zero row
// has no direction and a non-finite value poisons every similarity, so
// both are errors naming the row.
func normalise(x []float32, n, d int, what string) ([]float32, error) {
	out := make([]float32, len(x))
	for i := range n {
		row := x[i*d : (i+1)*d]
		var ss float64
		for j, v := range row {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s %d has a non-finite value %v in column %d; clean the features before searching neighbours", what, i, v, j)
			}
			ss += f * f
		}
		if ss == 0 {
			return nil, fmt.Errorf("%s %d is all zeros and has no direction for cosine similarity; drop it or fix the features that produced it", what, i)
		}
		inv := 1 / math.Sqrt(ss)
		o := out[i*d : (i+1)*d]
		for j, v := range row {
			o[j] = float32(float64(v) * inv)
		}
	}
	return out, nil
}
