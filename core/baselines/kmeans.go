// Package baselines holds the clustering baselines a run reports next to
// the trained heads: k-means on the same frozen features, done the way
// scikit-learn's KMeans does it (k-means++ with greedy local trials, Lloyd
// iterations, best of n_init by inertia), with the distance computations
// as matrix products on the GoMLX backend.
package baselines

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
)

// KMeansOptions configures KMeans. Zero values take the defaults.
type KMeansOptions struct {
	// NInit is the number of k-means++ initialisations; the run with the
	// lowest inertia wins. Default 10.
	NInit int
	// MaxIter bounds the Lloyd iterations of one run. Default 300.
	MaxIter int
	// Tol stops a run when the squared shift of the centres, summed, is at
	// most Tol times the mean per-feature variance of the data (as
	// scikit-learn scales it). Default 1e-4; a negative value means 0 (stop
	// only when the labels no longer change).
	Tol float64
	// Seed makes the result reproducible: the same data, options and
	// backend give the same result.
	Seed int64
	// Progress, if not nil, is called after every Lloyd iteration.
	Progress func(KMeansProgress)

	// forceDevice runs the backend path even on tiny inputs (tests).
	forceDevice bool
}

// KMeansProgress reports one Lloyd iteration.
type KMeansProgress struct {
	Run, NInit int // 0-based run index, number of runs
	Iter       int // 1-based iteration of this run
	// Inertia is the sum of squared distances of the points to the centres
	// they were just assigned to (before the centres move).
	Inertia float64
}

// KMeansResult is the best run.
type KMeansResult struct {
	Labels  []int32   // [n], the cluster of each row, in [0, k)
	Centers []float32 // [k, d] row-major
	// Inertia is the sum over rows of the squared distance to their
	// centre, computed exactly (float64) for the final centres.
	Inertia float64
	Iters   int // Lloyd iterations of the best run
	Run     int // which of the NInit runs won (0-based)
}

// DefaultKMeansOptions are scikit-learn's defaults with n_init = 10.
func DefaultKMeansOptions() KMeansOptions {
	return KMeansOptions{NInit: 10, MaxIter: 300, Tol: 1e-4}
}

// tinyWork is the number of multiply-adds of one Lloyd step (n*d*k) below
// which plain Go beats compiling backend graphs.
const tinyWork = 1 << 20

// KMeans clusters the n rows of x ([n, d], row-major) into k clusters.
// b runs the distance products; nil selects the pure-Go path.
//
// Like scikit-learn it works on the data centred on its mean (for float32
// precision of ||x||^2 - 2 x.c + ||c||^2), seeds each run with greedy
// k-means++ (2 + floor(ln k) candidates per centre, keeping the one that
// lowers the potential most), and iterates Lloyd until the labels no
// longer change, the centre shift is within tolerance, or MaxIter. A
// cluster left empty by an iteration is re-seeded with the point farthest
// from its own centre (the farthest points in decreasing order when several
// are empty), which is moved out of its old cluster's mean.
func KMeans(ctx context.Context, b compute.Backend, x []float32, n, d, k int, opts KMeansOptions) (KMeansResult, error) {
	def := DefaultKMeansOptions()
	if opts.NInit == 0 {
		opts.NInit = def.NInit
	}
	if opts.MaxIter == 0 {
		opts.MaxIter = def.MaxIter
	}
	if opts.Tol == 0 {
		opts.Tol = def.Tol
	}
	opts.Tol = max(opts.Tol, 0)
	switch {
	case n < 1 || d < 1:
		return KMeansResult{}, fmt.Errorf("k-means: data shape [%d, %d]: both must be positive", n, d)
	case len(x) != n*d:
		return KMeansResult{}, fmt.Errorf("k-means: %d values for n*d = %d*%d = %d", len(x), n, d, n*d)
	case k < 1 || k > n:
		return KMeansResult{}, fmt.Errorf("k-means: k=%d clusters must be in [1, n] with n=%d rows; lower k", k, n)
	case opts.NInit < 0 || opts.MaxIter < 0:
		return KMeansResult{}, fmt.Errorf("k-means: NInit=%d and MaxIter=%d must be positive", opts.NInit, opts.MaxIter)
	}
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return KMeansResult{}, fmt.Errorf("k-means: row %d has a non-finite value %v in column %d; clean the features first", i, v, j)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return KMeansResult{}, err
	}

	xc, mean, tolAbs := centre(x, n, d, opts.Tol)
	var (
		eng engine
		err error
	)
	if b == nil || (!opts.forceDevice && n*d*k < tinyWork) {
		eng = newHostEngine(xc, n, d, k)
	} else {
		eng, err = newDeviceEngine(b, xc, n, d, k)
		if err != nil {
			return KMeansResult{}, fmt.Errorf("k-means on backend %s: %w", b.Name(), err)
		}
	}
	defer eng.close()

	if opts.Progress != nil {
		var mu sync.Mutex
		report := opts.Progress
		opts.Progress = func(p KMeansProgress) {
			mu.Lock()
			defer mu.Unlock()
			report(p)
		}
	}
	results, err := runAll(ctx, &kmeans{x: xc, n: n, d: d, k: k, eng: eng, opts: opts, tolAbs: tolAbs})
	if err != nil {
		return KMeansResult{}, err
	}
	var best *runResult
	for _, res := range results {
		if best == nil || res.inertia < best.inertia {
			best = res
		}
	}
	centers := make([]float32, k*d)
	for c := range k {
		for j := range d {
			centers[c*d+j] = float32(best.centers[c*d+j] + mean[j])
		}
	}
	return KMeansResult{Labels: best.labels, Centers: centers, Inertia: best.inertia, Iters: best.iters, Run: best.run}, nil
}

// runAll runs the NInit runs, as many at once as there are cores, each on
// its own fork of the engine (the data and compiled graphs are shared, the
// per-run scratch is not). A Lloyd step reads all the data for a skinny
// product (k columns), which one core does nearly as fast as two; two
// runs side by side keep both cores busy instead. Each run draws from its
// own stream of the seed, so the result does not depend on the order the
// runs finish in, and the best is chosen in run order.
func runAll(ctx context.Context, km *kmeans) ([]*runResult, error) {
	nInit := km.opts.NInit
	results := make([]*runResult, nInit)
	errs := make([]error, nInit)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(nInit, runtime.GOMAXPROCS(0)) {
		worker := *km
		if w > 0 {
			worker.eng = km.eng.fork()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w > 0 {
				defer worker.eng.close()
			}
			for {
				r := int(next.Add(1) - 1)
				if r >= nInit {
					return
				}
				results[r], errs[r] = worker.run(ctx, r)
				if errs[r] != nil {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	if r, err := firstErr(errs); err != nil {
		return nil, fmt.Errorf("k-means run %d of %d: %w", r+1, nInit, err)
	}
	return results, nil
}

// firstErr returns the first error that is not a cancellation (which a
// failing run causes in the others), else the first error, with its run.
func firstErr(errs []error) (int, error) {
	first := -1
	for r, err := range errs {
		if err == nil {
			continue
		}
		if !errors.Is(err, context.Canceled) {
			return r, err
		}
		if first < 0 {
			first = r
		}
	}
	if first < 0 {
		return 0, nil
	}
	return first, errs[first]
}

// centre returns x minus its column means, the means, and Tol scaled by
// the mean per-feature (population) variance, all accumulated in float64.
func centre(x []float32, n, d int, tol float64) ([]float32, []float64, float64) {
	mean := make([]float64, d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	xc := make([]float32, n*d)
	var ss float64
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			c := float64(v) - mean[j]
			xc[i*d+j] = float32(c)
			ss += c * c
		}
	}
	return xc, mean, tol * ss / float64(n) / float64(d)
}

// engine computes the two data-sized steps of k-means; the driver does the
// rest on the host. Centres are float32 [k, d] row-major.
type engine interface {
	// assign labels every point with its nearest centre and returns, per
	// point, the squared distance to it, and per cluster the sum of its
	// points [k, d] and their count.
	assign(centers []float32, labels []int32, mind []float32, sums []float64, counts []int) error
	// candidates returns [n, T] in out: for each point and each of the T
	// candidate rows of the data, min(closest[i], squared distance).
	candidates(cand []int32, closest []float32, out []float32) error
	// trials is T, the number of candidates per k-means++ step.
	trials() int
	// fork returns an engine sharing this one's data and compiled steps
	// with scratch of its own, for a run beside this one's; close it
	// separately (closing a fork releases only its scratch).
	fork() engine
	close()
}

// localTrials is scikit-learn's number of k-means++ candidates per centre.
func localTrials(k int) int { return 2 + int(math.Log(float64(k))) }

type kmeans struct {
	x       []float32 // centred [n, d]
	n, d, k int
	eng     engine
	opts    KMeansOptions
	tolAbs  float64
}

type runResult struct {
	labels  []int32
	centers []float64 // centred coordinates
	inertia float64
	iters   int
	run     int
}

func (km *kmeans) run(ctx context.Context, r int) (*runResult, error) {
	n, d, k := km.n, km.d, km.k
	// One stream per run, derived from the seed, so that a run does not
	// depend on how many draws the runs before it made.
	rng := rand.New(rand.NewPCG(uint64(km.opts.Seed), uint64(r)+1))
	centers, err := km.plusPlus(ctx, rng)
	if err != nil {
		return nil, err
	}

	labels := make([]int32, n)
	labelsOld := make([]int32, n)
	for i := range labelsOld {
		labelsOld[i] = -1
	}
	mind := make([]float32, n)
	sums := make([]float64, k*d)
	counts := make([]int, k)
	newCenters := make([]float64, k*d)
	c32 := make([]float32, k*d)

	iters := 0
	for it := range km.opts.MaxIter {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		toFloat32(c32, centers)
		if err := km.eng.assign(c32, labels, mind, sums, counts); err != nil {
			return nil, err
		}
		iters = it + 1
		if km.opts.Progress != nil {
			var inertia float64
			for _, v := range mind {
				inertia += float64(v)
			}
			km.opts.Progress(KMeansProgress{Run: r, NInit: km.opts.NInit, Iter: iters, Inertia: inertia})
		}
		km.relocateEmpty(labels, mind, sums, counts)
		var shift float64
		for c := range k {
			for j := range d {
				v := centers[c*d+j] // an emptied cluster keeps its centre
				if counts[c] > 0 {
					v = sums[c*d+j] / float64(counts[c])
				}
				newCenters[c*d+j] = v
				diff := v - centers[c*d+j]
				shift += diff * diff
			}
		}
		centers, newCenters = newCenters, centers
		if slices.Equal(labels, labelsOld) {
			break
		}
		if shift <= km.tolAbs {
			break
		}
		copy(labelsOld, labels)
	}
	// Labels that match the final centres, as scikit-learn's last E-step.
	toFloat32(c32, centers)
	if err := km.eng.assign(c32, labels, mind, sums, counts); err != nil {
		return nil, err
	}
	return &runResult{labels: labels, centers: centers, inertia: km.inertia(labels, centers), iters: iters, run: r}, nil
}

// plusPlus is scikit-learn's greedy k-means++ (_kmeans_plusplus): the
// first centre uniformly at random, then for each next centre T candidates
// drawn with probability proportional to the squared distance to the
// nearest centre so far, keeping the candidate whose addition leaves the
// smallest potential (sum of those squared distances).
func (km *kmeans) plusPlus(ctx context.Context, rng *rand.Rand) ([]float64, error) {
	n, d, k := km.n, km.d, km.k
	T := km.eng.trials()
	centers := make([]float64, k*d)
	setCentre := func(c, row int) {
		for j := range d {
			centers[c*d+j] = float64(km.x[row*d+j])
		}
	}
	cand := make([]int32, T)
	dists := make([]float32, n*T)
	closest := make([]float32, n)

	first := rng.IntN(n)
	setCentre(0, first)
	for t := range cand {
		cand[t] = int32(first)
	}
	for i := range closest {
		closest[i] = math.MaxFloat32
	}
	if err := km.eng.candidates(cand, closest, dists); err != nil {
		return nil, err
	}
	for i := range closest {
		closest[i] = dists[i*T]
	}

	cum := make([]float64, n)
	pots := make([]float64, T)
	for c := 1; c < k; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var pot float64
		for i, v := range closest {
			pot += float64(v)
			cum[i] = pot
		}
		for t := range cand {
			r := rng.Float64() * pot
			// numpy.searchsorted(side="left"): the first i with cum[i] >= r.
			i, _ := slices.BinarySearch(cum, r)
			cand[t] = int32(min(i, n-1))
		}
		if err := km.eng.candidates(cand, closest, dists); err != nil {
			return nil, err
		}
		clear(pots)
		for i := range n {
			for t := range T {
				pots[t] += float64(dists[i*T+t])
			}
		}
		best := 0
		for t := range T {
			if pots[t] < pots[best] {
				best = t
			}
		}
		for i := range closest {
			closest[i] = dists[i*T+best]
		}
		setCentre(c, int(cand[best]))
	}
	return centers, nil
}

// relocateEmpty gives every empty cluster the point farthest from its own
// centre, as scikit-learn's _relocate_empty_clusters_dense: the point
// leaves its old cluster's sum and count and becomes the new cluster's
// only member. With several empty clusters the farthest points go in
// decreasing distance order (ties by index).
func (km *kmeans) relocateEmpty(labels []int32, mind []float32, sums []float64, counts []int) {
	var empty []int
	for c, cnt := range counts {
		if cnt == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	order := make([]int, km.n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(mind[b], mind[a]) })
	d := km.d
	for e, c := range empty {
		p := order[e]
		old := int(labels[p])
		row := km.x[p*d : (p+1)*d]
		for j, v := range row {
			sums[old*d+j] -= float64(v)
			sums[c*d+j] = float64(v)
		}
		counts[old]--
		counts[c] = 1
	}
}

// inertia is the exact sum of squared distances of the points to their
// centres, in float64, summed per chunk in chunk order (deterministic).
func (km *kmeans) inertia(labels []int32, centers []float64) float64 {
	d := km.d
	partial := make([]float64, (km.n+hostChunk-1)/hostChunk)
	parallelChunks(km.n, func(ch, lo, hi int) {
		var s float64
		for i := lo; i < hi; i++ {
			l := int(labels[i])
			c := centers[l*d : (l+1)*d]
			for j, v := range km.x[i*d : (i+1)*d] {
				diff := float64(v) - c[j]
				s += diff * diff
			}
		}
		partial[ch] = s
	})
	var s float64
	for _, v := range partial {
		s += v
	}
	return s
}

func toFloat32(dst []float32, src []float64) {
	for i, v := range src {
		dst[i] = float32(v)
	}
}

// KMeansMemory returns about how many bytes KMeans allocates for n rows
// of d features, k clusters and nInit runs, beyond x itself; the runner
// checks it against the free memory before it starts. It counts the
// centred copy of the data and the backend's copy of it, and for each run
// in flight at once (one per core, at most nInit) the per-point arrays
// of a run, k-means++'s candidate distances, the Lloyd graph's [n, k]
// products and its per-chunk partial sums.
func KMeansMemory(n, d, k, nInit int) uint64 {
	if nInit <= 0 {
		nInit = DefaultKMeansOptions().NInit
	}
	N, D, K, T := uint64(n), uint64(d), uint64(k), uint64(localTrials(k))
	data := 2*N*D*4 + 2*N*4 // centred copy and the backend's, squared norms twice
	chunks := (N + hostChunk - 1) / hostChunk
	perRun := N*(4*4+8+8) + // labels, previous labels, distances, labels of the sums; graph outputs; cumulative potential
		4*N*T*4 + // k-means++: candidate distances and the graph's products
		3*N*K*4 + // Lloyd: the [n, k] product and the distances built from it (three buffers on onnx)
		(chunks+4)*K*D*8 // partial sums per chunk, sums, new centres
	return data + uint64(min(nInit, runtime.GOMAXPROCS(0)))*perRun
}
