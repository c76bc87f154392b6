package baselines

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testbackends"
	"github.com/clusterlab/clusterlab/internal/testblobs"
	"github.com/clusterlab/clusterlab/internal/testmem"
	"github.com/gomlx/compute"
)

// path is one way of running k-means: the pure-Go engine (nil backend) or
// a GoMLX backend forced on even for tiny inputs.
type path struct {
	name  string
	b     compute.Backend
	force bool
}

var (
	backendsOnce sync.Once
	backendsErr  error
	openedGo     compute.Backend
	openedONNX   compute.Backend
	// openedExtra are the backends of $CLUSTERLAB_TEST_BACKENDS (xla on a
	// GPU), in order.
	openedExtra      []compute.Backend
	openedExtraNames []string
)

func paths(t testing.TB) []path {
	t.Helper()
	backendsOnce.Do(func() {
		o, err := backend.Open("go")
		if err != nil {
			backendsErr = err
			return
		}
		openedGo = o.Backend
		if onnxTag {
			if o, err = backend.Open("onnx"); err != nil {
				backendsErr = err
				return
			}
			openedONNX = o.Backend
		}
		for _, name := range testbackends.Extra() {
			if o, err = backend.Open(name); err != nil {
				backendsErr = err
				return
			}
			openedExtra, openedExtraNames = append(openedExtra, o.Backend), append(openedExtraNames, name)
		}
	})
	if backendsErr != nil {
		t.Fatal(backendsErr)
	}
	ps := []path{{name: "host"}, {name: "go", b: openedGo, force: true}}
	if openedONNX != nil {
		ps = append(ps, path{name: "onnx", b: openedONNX, force: true})
	} else {
		t.Log("SKIPPING the onnx backend: built without -tags onnx (run `go test -tags onnx ./core/baselines/`)")
	}
	for i, b := range openedExtra {
		ps = append(ps, path{name: openedExtraNames[i], b: b, force: true})
	}
	return ps
}

func (p path) opts(o KMeansOptions) KMeansOptions {
	o.forceDevice = p.force
	return o
}

// blobs draws perClass points around each of the given centres with the
// given noise, interleaving the classes.
func blobs(rng *rand.Rand, centres [][]float64, perClass int, noise float64) ([]float32, []int) {
	return testblobs.Blobs{Centres: centres, Noise: noise, R: rng, Float32: true}.Interleaved(perClass)
}

// samePartition reports whether two labellings group the points the same
// way (cluster ids may be permuted).
func samePartition(a []int32, b []int) bool {
	ab := map[int32]int{}
	ba := map[int]int32{}
	for i := range a {
		if v, ok := ab[a[i]]; ok && v != b[i] {
			return false
		}
		if v, ok := ba[b[i]]; ok && v != a[i] {
			return false
		}
		ab[a[i]], ba[b[i]] = b[i], a[i]
	}
	return true
}

func TestKMeansRecoversSeparableBlobs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	centres := [][]float64{{0, 0, 0, 0, 0}, {20, 0, 0, 0, 0}, {0, 20, 0, 5, 0}, {0, 0, 20, 0, -5}, {10, 10, 10, 10, 10}}
	x, y := blobs(rng, centres, 80, 1)
	n, d, k := len(y), 5, len(centres)
	for _, p := range paths(t) {
		res, err := KMeans(context.Background(), p.b, x, n, d, k, p.opts(KMeansOptions{Seed: 3}))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if !samePartition(res.Labels, y) {
			t.Fatalf("%s: blobs not recovered: labels %v", p.name, res.Labels[:20])
		}
		// The centres are the blob means.
		for c := range k {
			var mean [5]float64
			cnt := 0
			for i, l := range res.Labels {
				if int(l) == c {
					cnt++
					for j := range d {
						mean[j] += float64(x[i*d+j])
					}
				}
			}
			for j := range d {
				if got, want := float64(res.Centers[c*d+j]), mean[j]/float64(cnt); math.Abs(got-want) > 1e-4 {
					t.Fatalf("%s: centre %d coordinate %d = %v, mean of its points %v", p.name, c, j, got, want)
				}
			}
		}
		if res.Iters < 1 || res.Inertia <= 0 {
			t.Fatalf("%s: iters %d inertia %v", p.name, res.Iters, res.Inertia)
		}
	}
}

func TestKMeansInertiaNeverIncreases(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const n, d, k = 600, 4, 9
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, p := range paths(t) {
		// Runs go side by side (one per core), so their reports interleave;
		// within a run they come in order.
		seqs := map[int][]float64{}
		opts := p.opts(KMeansOptions{NInit: 3, Tol: -1, Seed: 5, Progress: func(pr KMeansProgress) {
			if pr.Run < 0 || pr.Run >= 3 || pr.Iter != len(seqs[pr.Run])+1 || pr.NInit != 3 {
				t.Errorf("%s: progress %+v out of order", p.name, pr)
			}
			seqs[pr.Run] = append(seqs[pr.Run], pr.Inertia)
		}})
		res, err := KMeans(context.Background(), p.b, x, n, d, k, opts)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if len(seqs) != 3 {
			t.Fatalf("%s: progress saw %d runs, want 3", p.name, len(seqs))
		}
		for r, s := range seqs {
			if len(s) < 3 {
				t.Fatalf("%s: run %d converged in %d iterations; the data should need more", p.name, r, len(s))
			}
			for i := 1; i < len(s); i++ {
				if s[i] > s[i-1]*(1+1e-6) {
					t.Fatalf("%s: run %d inertia rose at iteration %d: %v -> %v", p.name, r, i+1, s[i-1], s[i])
				}
			}
		}
		if last := seqs[res.Run]; res.Inertia > last[len(last)-1]*(1+1e-5) {
			t.Fatalf("%s: final inertia %v above the last iteration's %v", p.name, res.Inertia, last[len(last)-1])
		}
	}
}

func TestKMeansDeterministicPerSeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n, d, k = 500, 6, 7
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, p := range paths(t) {
		run := func(seed int64) KMeansResult {
			res, err := KMeans(context.Background(), p.b, x, n, d, k, p.opts(KMeansOptions{NInit: 2, Seed: seed}))
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			return res
		}
		a, b, c := run(11), run(11), run(12)
		if !slices.Equal(a.Labels, b.Labels) || !slices.Equal(a.Centers, b.Centers) || a.Inertia != b.Inertia || a.Iters != b.Iters {
			t.Fatalf("%s: two runs with seed 11 differ: inertia %v vs %v", p.name, a.Inertia, b.Inertia)
		}
		if slices.Equal(a.Centers, c.Centers) {
			t.Fatalf("%s: seeds 11 and 12 gave identical centres; the seed is ignored", p.name)
		}
	}
}

// TestKMeansPathsAgree: the host engine and every backend give the same
// clustering for the same seed on overlapping (not trivially separable)
// blobs.
func TestKMeansPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	var centres [][]float64
	for range 6 {
		c := make([]float64, 8)
		for j := range c {
			c[j] = 3 * rng.NormFloat64() // rounded to float32 by blobs
		}
		centres = append(centres, c)
	}
	x, y := blobs(rng, centres, 100, 1.5)
	n, d, k := len(y), 8, 6
	var ref *KMeansResult
	for _, p := range paths(t) {
		res, err := KMeans(context.Background(), p.b, x, n, d, k, p.opts(KMeansOptions{NInit: 3, Seed: 9}))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if ref == nil {
			ref = &res
			continue
		}
		if math.Abs(res.Inertia-ref.Inertia) > 1e-4*ref.Inertia {
			t.Fatalf("%s: inertia %v, host %v", p.name, res.Inertia, ref.Inertia)
		}
		if !slices.Equal(res.Labels, ref.Labels) {
			t.Fatalf("%s: labels differ from the host engine's", p.name)
		}
		for i, v := range res.Centers {
			if math.Abs(float64(v-ref.Centers[i])) > 1e-4 {
				t.Fatalf("%s: centre value %d = %v, host %v", p.name, i, v, ref.Centers[i])
			}
		}
	}
}

// TestKMeansEmptyClusters: with fewer distinct points than clusters,
// k-means++ must repeat a point, Lloyd leaves a cluster empty, and the
// relocation keeps every centre finite with zero inertia.
func TestKMeansEmptyClusters(t *testing.T) {
	var x []float32
	for i := range 30 {
		switch i % 3 {
		case 0:
			x = append(x, 0, 0)
		case 1:
			x = append(x, 5, 0)
		case 2:
			x = append(x, 0, 5)
		}
	}
	for _, p := range paths(t) {
		res, err := KMeans(context.Background(), p.b, x, 30, 2, 4, p.opts(KMeansOptions{NInit: 2, Seed: 1}))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		for _, v := range res.Centers {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite centre %v", p.name, res.Centers)
			}
		}
		if res.Inertia > 1e-6 {
			t.Fatalf("%s: inertia %v, want 0 (three distinct points, four clusters)", p.name, res.Inertia)
		}
	}
}

func TestRelocateEmpty(t *testing.T) {
	// Points on a line; cluster 0 holds points 0..3, cluster 1 point 4,
	// clusters 2 and 3 are empty. The two farthest points from their
	// centres (3 then 2) move, in that order.
	x := []float32{0, 1, 2, 9, 50}
	km := &kmeans{x: x, n: 5, d: 1, k: 4}
	labels := []int32{0, 0, 0, 0, 1}
	mind := []float32{9, 4, 16, 36, 0}
	sums := []float64{12, 50, 0, 0}
	counts := []int{4, 1, 0, 0}
	km.relocateEmpty(labels, mind, sums, counts)
	if want := []float64{12 - 9 - 2, 50, 9, 2}; !slices.Equal(sums, want) {
		t.Fatalf("sums %v, want %v", sums, want)
	}
	if want := []int{2, 1, 1, 1}; !slices.Equal(counts, want) {
		t.Fatalf("counts %v, want %v", counts, want)
	}
}

func TestKMeansRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	x := make([]float32, 10*3)
	for i := range x {
		x[i] = float32(i)
	}
	for _, k := range []int{0, 11} {
		if _, err := KMeans(ctx, nil, x, 10, 3, k, KMeansOptions{}); err == nil || !strings.Contains(err.Error(), "k=") {
			t.Fatalf("k=%d with n=10: got %v", k, err)
		}
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		y := slices.Clone(x)
		y[7*3+2] = bad
		if _, err := KMeans(ctx, nil, y, 10, 3, 2, KMeansOptions{}); err == nil || !strings.Contains(err.Error(), "row 7") {
			t.Fatalf("%v in row 7: got %v", bad, err)
		}
	}
	if _, err := KMeans(ctx, nil, x[:20], 10, 3, 2, KMeansOptions{}); err == nil {
		t.Fatal("want an error for a short x")
	}
}

func TestKMeansCancellation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	x := make([]float32, 400*4)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, p := range paths(t) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls int
		_, err := KMeans(ctx, p.b, x, 400, 4, 8, p.opts(KMeansOptions{Tol: -1, Progress: func(KMeansProgress) {
			calls++ // reports are serialised by KMeans
			cancel()
		}}))
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: got %v, want context.Canceled", p.name, err)
		}
		// Each run going on beside the cancelled one may finish the
		// iteration it was in.
		if calls < 1 || calls > runtime.GOMAXPROCS(0) {
			t.Fatalf("%s: %d iterations reported around the cancellation, want 1 to %d", p.name, calls, runtime.GOMAXPROCS(0))
		}
	}
}

// TestKMeansMemoryEstimate runs k-means on every backend path and checks
// KMeansMemory, which serves them all, against the memory the process
// really grew by at its peak: never below any backend's, and not more
// than twice the largest, so that the runner's check does not refuse
// work that fits.
func TestKMeansMemoryEstimate(t *testing.T) {
	const n, d, k, nInit = 40_000, 16, 200, 2
	rng := rand.New(rand.NewPCG(11, 11))
	x, _ := blobs(rng, testblobs.Random(rng, k, d, 1), n/k, 0.5)
	est := KMeansMemory(n, d, k, nInit)
	var largest uint64
	for _, p := range paths(t) {
		if p.b == nil {
			continue // the host path serves only problems too small to matter
		}
		var err error
		peak := testmem.PeakGrowth(est, func() {
			_, err = KMeans(context.Background(), p.b, x, n, d, k, KMeansOptions{NInit: nInit, MaxIter: 5, Seed: 1})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: estimate %.1f MiB, peak growth %.1f MiB", p.name, float64(est)/(1<<20), float64(peak)/(1<<20))
		if est < peak {
			t.Errorf("%s: estimate %d bytes is below the %d bytes k-means held", p.name, est, peak)
		}
		largest = max(largest, peak)
	}
	if est > 2*largest+(64<<20) {
		t.Errorf("estimate %d bytes is more than twice the %d bytes k-means held at most", est, largest)
	}
}
