package neighbours

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/internal/testbackends"
	"github.com/clusterlab/clusterlab/internal/testmem"
	"github.com/gomlx/compute"
)

// path is one way of running a search: the pure-Go loops (nil backend) or
// a GoMLX backend forced on even for tiny inputs, with small blocks so
// that the block loop, the padding of the last block and the hand-over
// between the backend goroutine and the reducers all run.
type path struct {
	name string
	b    compute.Backend
	tu   tuning
}

var (
	backendsOnce sync.Once
	backendsErr  error
	openedGo     compute.Backend
	openedONNX   compute.Backend
	// openedExtra are the backends of $CLUSTERLAB_TEST_BACKENDS (xla on a
	// GPU), by name.
	openedExtra []namedBackend
)

type namedBackend struct {
	name string
	b    compute.Backend
}

func openBackends(t testing.TB) {
	t.Helper()
	backendsOnce.Do(func() {
		o, err := backend.Open("go")
		if err != nil {
			backendsErr = err
			return
		}
		openedGo = o.Backend
		if onnxTag {
			o, err := backend.Open("onnx")
			if err != nil {
				backendsErr = err
				return
			}
			openedONNX = o.Backend
		}
		for _, name := range testbackends.Extra() {
			o, err := backend.Open(name)
			if err != nil {
				backendsErr = err
				return
			}
			openedExtra = append(openedExtra, namedBackend{name, o.Backend})
		}
	})
	if backendsErr != nil {
		t.Fatal(backendsErr)
	}
}

// paths returns every path this build can run. Without the onnx tag it
// says so loudly: the onnx path is the fast one users get.
func paths(t *testing.T, blockBytes int) []path {
	t.Helper()
	openBackends(t)
	ps := []path{
		{name: "host", b: nil},
		{name: "go", b: openedGo, tu: tuning{forceDevice: true, blockBytes: blockBytes}},
	}
	if openedONNX != nil {
		ps = append(ps, path{name: "onnx", b: openedONNX, tu: tuning{forceDevice: true, blockBytes: blockBytes}})
	} else {
		t.Log("SKIPPING the onnx backend: built without -tags onnx (run `go test -tags onnx ./core/neighbours/`)")
	}
	for _, e := range openedExtra {
		ps = append(ps, path{name: e.name, b: e.b, tu: tuning{forceDevice: true, blockBytes: blockBytes}})
	}
	return ps
}

func gaussian(rng *rand.Rand, n, d int) []float32 {
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// exactCos is the float64 cosine similarity of rows i and j.
func exactCos(x []float32, d, i, j int) float64 {
	var ab, aa, bb float64
	for c := range d {
		a, b := float64(x[i*d+c]), float64(x[j*d+c])
		ab += a * b
		aa += a * a
		bb += b * b
	}
	return ab / math.Sqrt(aa*bb)
}

// checkAgainstBruteForce verifies a k-NN answer against float64 brute
// force in a way that does not depend on how near-ties are broken: every
// returned pair has its true similarity, the list is sorted, holds no
// self and no repeat, and its k-th value reaches the true k-th value.
func checkAgainstBruteForce(t *testing.T, name string, x []float32, n, d, k int, idx []int32, sim []float32) {
	t.Helper()
	if len(idx) != n*k || len(sim) != n*k {
		t.Fatalf("%s: got %d indices and %d similarities, want %d", name, len(idx), len(sim), n*k)
	}
	const tol = 2e-5
	all := make([]float64, 0, n)
	for i := range n {
		all = all[:0]
		for j := range n {
			if j != i {
				all = append(all, exactCos(x, d, i, j))
			}
		}
		slices.Sort(all)
		kth := all[len(all)-k]
		seen := map[int32]bool{}
		for r := range k {
			j, s := idx[i*k+r], sim[i*k+r]
			if j < 0 || int(j) >= n {
				t.Fatalf("%s: row %d neighbour %d is %d, out of range", name, i, r, j)
			}
			if int(j) == i {
				t.Fatalf("%s: row %d is its own neighbour", name, i)
			}
			if seen[j] {
				t.Fatalf("%s: row %d lists neighbour %d twice", name, i, j)
			}
			seen[j] = true
			if want := exactCos(x, d, i, int(j)); math.Abs(float64(s)-want) > tol {
				t.Fatalf("%s: row %d neighbour %d: sim %v, true %v", name, i, j, s, want)
			}
			if r > 0 && s > sim[i*k+r-1] {
				t.Fatalf("%s: row %d: similarities not decreasing at %d: %v", name, i, r, sim[i*k:(i+1)*k])
			}
		}
		if got := float64(sim[i*k+k-1]); got < kth-tol {
			t.Fatalf("%s: row %d: k-th similarity %v below the true k-th %v", name, i, got, kth)
		}
	}
}

func TestKNNMatchesBruteForce(t *testing.T) {
	cases := []struct {
		name    string
		n, d, k int
	}{
		{"small", 203, 16, 10},
		// n large enough for several tiles with a padded last block.
		{"grouped", 1003, 8, 5},
		{"k=n-1", 40, 3, 39},
	}
	for _, c := range cases {
		rng := rand.New(rand.NewPCG(1, uint64(c.n)))
		x := gaussian(rng, c.n, c.d)
		for _, p := range paths(t, 4*c.n*50) {
			idx, sim, err := knn(context.Background(), p.b, x, c.n, c.d, c.k, nil, p.tu)
			if err != nil {
				t.Fatalf("%s/%s: %v", c.name, p.name, err)
			}
			checkAgainstBruteForce(t, c.name+"/"+p.name, x, c.n, c.d, c.k, idx, sim)
		}
	}
	// The tile budget of the cases above must cut them into several
	// blocks with a padded last one, or the tile loop goes untested.
	if p := planTiles(1003, 1003, 8, 4*1003*50, true); p.nbq < 2 || p.nbq*p.bq == 1003 {
		t.Fatalf("the grouped case no longer exercises several tiles with a padded last one: %+v", p)
	}
}

// TestPlanTilesBoundsMemory: whatever n, one tile and one input block stay
// within the budget (up to rounding), so the search's working memory does
// not grow with the data.
func TestPlanTilesBoundsMemory(t *testing.T) {
	cases := []struct {
		nq, n, d  int
		symmetric bool
	}{
		{1_000_000, 1_000_000, 768, true},
		{20_000, 1_000_000, 768, false},
		{1, 1_000_000, 768, false},
		{10_000, 60_000, 784, false},
		{60_000, 60_000, 784, true},
		{5, 7, 3, true},
	}
	for _, c := range cases {
		p := planTiles(c.nq, c.n, c.d, targetTileBytes, c.symmetric)
		limit := targetTileBytes * 5 / 4
		if tile, block := 4*p.bq*p.bn, 4*max(p.bq, p.bn)*c.d; tile > limit || block > limit {
			t.Errorf("%+v: plan %+v: tile %d bytes, input block %d bytes, want both <= %d", c, p, tile, block, limit)
		}
		if p.nbq*p.bq < c.nq || p.nbn*p.bn < c.n || (p.nbq-1)*p.bq >= c.nq || (p.nbn-1)*p.bn >= c.n {
			t.Errorf("%+v: plan %+v does not cover the rows with non-empty blocks", c, p)
		}
		if c.symmetric && p.bq != p.bn {
			t.Errorf("%+v: symmetric plan %+v with unequal blocks", c, p)
		}
	}
}

// TestKNNRowsMatchesKNN: a shard of query rows gets exactly its rows of the
// whole graph (same sets; near-ties may swap), on every path, with tiles
// small enough that the shard spans several query and database blocks.
func TestKNNRowsMatchesKNN(t *testing.T) {
	const n, d, k = 600, 12, 7
	x := gaussian(rand.New(rand.NewPCG(8, 8)), n, d)
	for _, p := range paths(t, 4*64*64) {
		all, allSim, err := knn(context.Background(), p.b, x, n, d, k, nil, p.tu)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		checkAgainstBruteForce(t, p.name, x, n, d, k, all, allSim)
		for _, r := range [][2]int{{0, 1}, {130, 377}, {590, 600}} {
			lo, hi := r[0], r[1]
			idx, sim, err := knnRows(context.Background(), p.b, x, n, d, k, lo, hi, nil, p.tu)
			if err != nil {
				t.Fatalf("%s rows %v: %v", p.name, r, err)
			}
			for i := lo; i < hi; i++ {
				got := slices.Sorted(slices.Values(idx[(i-lo)*k : (i-lo+1)*k]))
				want := slices.Sorted(slices.Values(all[i*k : (i+1)*k]))
				if !slices.Equal(got, want) && math.Abs(float64(sim[(i-lo)*k+k-1]-allSim[i*k+k-1])) > 1e-5 {
					t.Fatalf("%s rows %v: row %d neighbours %v, whole graph %v", p.name, r, i, got, want)
				}
				if slices.Contains(got, int32(i)) {
					t.Fatalf("%s rows %v: row %d is its own neighbour", p.name, r, i)
				}
			}
		}
	}
	if _, _, err := KNNRows(context.Background(), nil, x, n, d, k, 5, 5, nil); err == nil {
		t.Fatal("want an error for an empty row range")
	}
	if _, _, err := KNNRows(context.Background(), nil, x, n, d, k, 0, n+1, nil); err == nil {
		t.Fatal("want an error for a row range past n")
	}
}

// TestPathsAgree checks that the host and backend paths return the same
// neighbours (same sets; near-ties may swap places).
func TestPathsAgree(t *testing.T) {
	const n, d, k = 700, 24, 12
	rng := rand.New(rand.NewPCG(2, 2))
	x := gaussian(rng, n, d)
	var ref []int32
	for _, p := range paths(t, 4*n*64) {
		idx, sim, err := knn(context.Background(), p.b, x, n, d, k, nil, p.tu)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if ref == nil {
			ref = idx
			continue
		}
		for i := range n {
			a := slices.Sorted(slices.Values(ref[i*k : (i+1)*k]))
			b := slices.Sorted(slices.Values(idx[i*k : (i+1)*k]))
			if !slices.Equal(a, b) {
				// Only a near-tie at the k-th place may differ.
				if math.Abs(float64(sim[i*k+k-1])-exactCos(x, d, i, int(ref[i*k+k-1]))) > 1e-5 {
					t.Fatalf("%s: row %d neighbours %v, host %v", p.name, i, b, a)
				}
			}
		}
	}
}

func TestDuplicateRowsExcludedByIndex(t *testing.T) {
	for _, p := range paths(t, 4*64*8) {
		// All rows identical: every other row is a neighbour at similarity 1.
		const n, d = 20, 5
		x := make([]float32, n*d)
		for i := range x {
			x[i] = float32(i%d + 1)
		}
		idx, sim, err := knn(context.Background(), p.b, x, n, d, n-1, nil, p.tu)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		for i := range n {
			got := slices.Sorted(slices.Values(idx[i*(n-1) : (i+1)*(n-1)]))
			for r, j := range got {
				want := int32(r)
				if r >= i {
					want++
				}
				if j != want {
					t.Fatalf("%s: row %d neighbours %v, want all rows but %d", p.name, i, got, i)
				}
			}
			for _, s := range sim[i*(n-1) : (i+1)*(n-1)] {
				if math.Abs(float64(s)-1) > 1e-6 {
					t.Fatalf("%s: row %d: similarity %v between identical rows", p.name, i, s)
				}
			}
		}

		// One duplicated pair among random rows: each is the other's first
		// neighbour.
		rng := rand.New(rand.NewPCG(3, 3))
		const m = 50
		y := gaussian(rng, m, d)
		copy(y[7*d:8*d], y[3*d:4*d])
		idx, sim, err = knn(context.Background(), p.b, y, m, d, 3, nil, p.tu)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if idx[3*3] != 7 || idx[7*3] != 3 || sim[3*3] < 0.99999 {
			t.Fatalf("%s: duplicated rows 3 and 7: row 3 -> %v %v, row 7 -> %v", p.name, idx[9:12], sim[9:12], idx[21:24])
		}
		checkAgainstBruteForce(t, p.name+"/dup", y, m, d, 3, idx, sim)
	}
}

func TestKNNRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	x := gaussian(rand.New(rand.NewPCG(4, 4)), 10, 3)
	for _, k := range []int{0, 10, 11} {
		if _, _, err := KNN(ctx, nil, x, 10, 3, k, nil); err == nil || !strings.Contains(err.Error(), "k=") {
			t.Fatalf("k=%d with n=10: want a k error, got %v", k, err)
		}
	}
	if _, _, err := KNN(ctx, nil, x[:29], 10, 3, 2, nil); err == nil {
		t.Fatal("want an error for a short x")
	}
	zero := slices.Clone(x)
	clear(zero[6*3 : 7*3])
	if _, _, err := KNN(ctx, nil, zero, 10, 3, 2, nil); err == nil || !strings.Contains(err.Error(), "row 6 is all zeros") {
		t.Fatalf("zero row 6: got %v", err)
	}
	bad := slices.Clone(x)
	bad[4*3+1] = float32(math.NaN())
	if _, _, err := KNN(ctx, nil, bad, 10, 3, 2, nil); err == nil || !strings.Contains(err.Error(), "row 4") {
		t.Fatalf("NaN in row 4: got %v", err)
	}
}

func TestKNNCancellation(t *testing.T) {
	const n, d, k = 400, 8, 5
	x := gaussian(rand.New(rand.NewPCG(5, 5)), n, d)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := KNN(cancelled, nil, x, n, d, k, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: got %v", err)
	}

	// Cancel from the first progress report: the search must stop early
	// and say why, on every path.
	for _, p := range paths(t, 4*n*16) {
		ctx, cancel := context.WithCancel(context.Background())
		last := 0
		_, _, err := knn(ctx, p.b, x, n, d, k, func(done, total int) {
			last = done
			cancel()
		}, p.tu)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: cancelled mid-way: got %v", p.name, err)
		}
		if last >= n {
			t.Fatalf("%s: search ran to the end (%d rows) despite cancellation", p.name, last)
		}
	}
}

func TestKNNProgressReachesTotal(t *testing.T) {
	const n, d, k = 300, 4, 3
	x := gaussian(rand.New(rand.NewPCG(6, 6)), n, d)
	for _, p := range paths(t, 4*n*40) {
		var reports []int
		_, _, err := knn(context.Background(), p.b, x, n, d, k, func(done, total int) {
			if total != n {
				t.Errorf("%s: total %d, want %d", p.name, total, n)
			}
			reports = append(reports, done)
		}, p.tu)
		if err != nil {
			t.Fatal(err)
		}
		if len(reports) < 2 || reports[len(reports)-1] != n || !slices.IsSorted(reports) {
			t.Fatalf("%s: progress reports %v, want several, increasing, ending at %d", p.name, reports, n)
		}
	}
}

func TestClassify(t *testing.T) {
	// Three well-separated directions; test points near them are
	// classified perfectly on every path.
	rng := rand.New(rand.NewPCG(7, 7))
	const d, perClass, classes = 6, 40, 3
	centre := func(c int) []float32 {
		v := make([]float32, d)
		v[c] = 10
		return v
	}
	sample := func(c int) []float32 {
		v := centre(c)
		for j := range v {
			v[j] += float32(rng.NormFloat64())
		}
		return v
	}
	var train, test []float32
	var labels, want []int32
	for i := range perClass * classes {
		c := i % classes
		train = append(train, sample(c)...)
		labels = append(labels, int32(c))
		test = append(test, sample(c)...)
		want = append(want, int32(c))
	}
	n := perClass * classes
	for _, p := range paths(t, 4*n*16) {
		pred, err := classify(context.Background(), p.b, train, labels, n, test, n, d, 20, p.tu)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if !slices.Equal(pred, want) {
			t.Fatalf("%s: predictions %v, want %v", p.name, pred, want)
		}
	}
}

// TestClassifyWeightsBySimilarity: one very close neighbour of class 1
// outvotes two distant ones of class 0, which a plain majority would not.
func TestClassifyWeightsBySimilarity(t *testing.T) {
	train := []float32{
		1, 0.05, // class 1, cos ~0.999 with the query
		0.5, 0.87, // class 0, cos ~0.5
		0.5, -0.87, // class 0, cos ~0.5
		-1, 0, // class 2, opposite
	}
	labels := []int32{1, 0, 0, 2}
	test := []float32{1, 0}
	pred, err := Classify(context.Background(), nil, train, labels, 4, test, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if pred[0] != 1 {
		t.Fatalf("predicted %d, want 1 (the much closer neighbour)", pred[0])
	}
	if _, err := Classify(context.Background(), nil, train, labels, 4, test, 1, 2, 5); err == nil {
		t.Fatal("want an error for k > number of train rows")
	}
	if _, err := Classify(context.Background(), nil, train, []int32{1, 0, -1, 2}, 4, test, 1, 2, 3); err == nil {
		t.Fatal("want an error for a negative label")
	}
}

// TestMemoryEstimates runs a graph and a classification big enough for
// several full-size tiles on the go and onnx backends, and checks
// GraphMemory and ClassifyMemory, which serve both, against the memory
// the process really grew by at its peak: never below any backend's, and
// not more than twice the largest, so that the runner's check does not
// refuse work that fits.
func TestMemoryEstimates(t *testing.T) {
	openBackends(t)
	const n, d, k = 12_000, 32, 200
	x := gaussian(rand.New(rand.NewPCG(9, 9)), n, d)
	labels := make([]int32, n)
	for i := range labels {
		labels[i] = int32(i % 7)
	}
	test := gaussian(rand.New(rand.NewPCG(10, 10)), 3_000, d)
	backends := []namedBackend{{"go", openedGo}}
	if openedONNX != nil {
		backends = append(backends, namedBackend{"onnx", openedONNX})
	}
	cases := []struct {
		name    string
		est     uint64
		work    func(b compute.Backend) error
		largest uint64
	}{
		{name: "graph", est: GraphMemory(n, d, k), work: func(b compute.Backend) error {
			_, _, err := KNN(context.Background(), b, x, n, d, k, nil)
			return err
		}},
		{name: "classify", est: ClassifyMemory(n, 3_000, d, 20), work: func(b compute.Backend) error {
			_, err := Classify(context.Background(), b, x, labels, n, test, 3_000, d, 20)
			return err
		}},
	}
	for _, be := range backends {
		for i := range cases {
			c := &cases[i]
			var err error
			peak := testmem.PeakGrowth(c.est, func() { err = c.work(be.b) })
			if err != nil {
				t.Fatalf("%s on %s: %v", c.name, be.name, err)
			}
			t.Logf("%s on %s: estimate %.1f MiB, peak growth %.1f MiB", c.name, be.name, float64(c.est)/(1<<20), float64(peak)/(1<<20))
			if c.est < peak {
				t.Errorf("%s on %s: estimate %d bytes is below the %d bytes the search held", c.name, be.name, c.est, peak)
			}
			c.largest = max(c.largest, peak)
		}
	}
	for _, c := range cases {
		if c.est > 2*c.largest+(64<<20) {
			t.Errorf("%s: estimate %d bytes is more than twice the %d bytes the search held at most", c.name, c.est, c.largest)
		}
	}
}
