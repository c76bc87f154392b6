// Package neighbours finds the exact cosine nearest neighbours of embedding
// rows (the k-NN graph TEMI trains on, docs/TEMI.md section 1) and classifies by a
// similarity-weighted k-NN vote (the supervised upper reference of a run).
//
// The similarity matrix is never held whole, nor is a normalised copy of
// the data: tiles of database rows against query rows are multiplied on
// the GoMLX backend from blocks normalised on the fly, and each tile is
// reduced on the host, in parallel, into per-row heaps that live in the
// result itself, while the backend computes the next tile. Working memory
// is therefore two input blocks and two tiles (about 0.2 GB) whatever the
// number of rows, so that a search over a memory-mapped file (see
// npy.MapFloat32) needs little beyond the file and the result. The graph
// of a whole set uses the symmetry of similarity and computes half the
// tiles. A nil backend, or a problem so small that compiling a graph
// would cost more than the work, takes a pure-Go path that returns the
// same neighbours.
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

// KNNRows is KNN for the query rows [lo, hi) of x only, against all n
// rows: idx and sim are [hi-lo, k]. Row lo+i is never its own neighbour.
// It lets a graph too slow to build in one go be built in shards (each
// shard's answer is exactly its rows of KNN's), and a large search be
// timed on a sample of its rows.
func KNNRows(ctx context.Context, b compute.Backend, x []float32, n, d, k, lo, hi int, progress func(done, total int)) (idx []int32, sim []float32, err error) {
	if lo < 0 || hi > n || lo >= hi {
		return nil, nil, fmt.Errorf("neighbours: query rows [%d, %d) must be a non-empty range within the %d rows", lo, hi, n)
	}
	return knnRows(ctx, b, x, n, d, k, lo, hi, progress, tuning{})
}

func knn(ctx context.Context, b compute.Backend, x []float32, n, d, k int, progress func(done, total int), tu tuning) ([]int32, []float32, error) {
	return knnRows(ctx, b, x, n, d, k, 0, n, progress, tu)
}

func knnRows(ctx context.Context, b compute.Backend, x []float32, n, d, k, lo, hi int, progress func(done, total int), tu tuning) ([]int32, []float32, error) {
	if err := checkShape("x", x, n, d); err != nil {
		return nil, nil, fmt.Errorf("neighbours: %w", err)
	}
	if k < 1 || k >= n {
		return nil, nil, fmt.Errorf("neighbours: k=%d must be in [1, n-1] with n=%d rows (a row is not its own neighbour); lower k", k, n)
	}
	inv, err := invNorms(x, n, d, "row")
	if err != nil {
		return nil, nil, fmt.Errorf("neighbours: %w", err)
	}
	s := &search{
		query: x[lo*d : hi*d], qInv: inv[lo:hi], nq: hi - lo,
		db: x, dbInv: inv, n: n, d: d, k: k,
		selfOffset: lo, progress: progress, tuning: tu,
	}
	idx, sim, err := s.run(ctx, b)
	if err != nil {
		if lo == 0 && hi == n {
			return nil, nil, fmt.Errorf("neighbours of %d x %d rows: %w", n, d, err)
		}
		return nil, nil, fmt.Errorf("neighbours of rows [%d, %d) of %d x %d: %w", lo, hi, n, d, err)
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
	trainInv, err := invNorms(train, nTrain, d, "train row")
	if err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	testInv, err := invNorms(test, nTest, d, "test row")
	if err != nil {
		return nil, fmt.Errorf("k-NN classifier: %w", err)
	}
	s := &search{query: test, qInv: testInv, nq: nTest, db: train, dbInv: trainInv, n: nTrain, d: d, k: k, selfOffset: -1, tuning: tu}
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

// invNorms returns the inverse L2 norm of every row, accumulated in
// float64 so that large d loses nothing. A zero row has no direction and a
// non-finite value poisons every similarity, so both are errors naming
// the row.
func invNorms(x []float32, n, d int, what string) ([]float64, error) {
	inv := make([]float64, n)
	for i := range n {
		var ss float64
		for j, v := range x[i*d : (i+1)*d] {
			f := float64(v)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("%s %d has a non-finite value %v in column %d; clean the features before searching neighbours", what, i, v, j)
			}
			ss += f * f
		}
		if ss == 0 {
			return nil, fmt.Errorf("%s %d is all zeros and has no direction for cosine similarity; drop it or fix the features that produced it", what, i)
		}
		inv[i] = 1 / math.Sqrt(ss)
	}
	return inv, nil
}

// GraphMemory returns about how many bytes KNN allocates for n rows of d
// features and k neighbours, beyond x itself: the result, which holds the
// heaps while the search runs, and the working memory of the backend path
// (see searchMemory). The runner checks it against the free memory before
// it starts a graph.
func GraphMemory(n, d, k int) uint64 { return searchMemory(n, n, d, k, true) }

// ClassifyMemory is GraphMemory for Classify with nTest query rows against
// nTrain rows.
func ClassifyMemory(nTrain, nTest, d, k int) uint64 {
	return searchMemory(nTest, nTrain, d, k, false) + uint64(nTest)*8 + uint64(nTest)*4 // query norms, predictions
}

// searchMemory is the memory of a search of nq query rows against n
// database rows: the result's indices and similarities (nq*k*8), the
// inverse norms (n*8), the two input blocks, and five tiles: the one
// being reduced, the one computed meanwhile and the backend's output
// buffer for the next, plus what the go backend keeps of finished tiles
// (it rounds buffers up by as much as a quarter and keeps freed ones in a
// sync.Pool for up to two collections; measured at 4.3 tiles, against
// 2.2 on onnx). planTiles bounds each tile by targetTileBytes.
func searchMemory(nq, n, d, k int, symmetric bool) uint64 {
	p := planTiles(nq, n, d, targetTileBytes, symmetric)
	result := uint64(nq) * uint64(k) * 8
	norms := uint64(n) * 8
	blocks := uint64(p.bn+p.bq) * uint64(d) * 4
	tiles := 5 * uint64(p.bn) * uint64(p.bq) * 4
	return result + norms + blocks + tiles
}
