// Command gpubench is the Go half of bench/gpu_session.sh, the prepared
// script of a GPU session (docs/GPU.md): it checks that a backend really
// computes (probe), and times the exact cosine k-NN graph (core/neighbours)
// and k-means (core/baselines) on clustered random data made in memory, so
// that nothing of 3 GB has to be written to or read from disk first.
//
//	gpubench probe  -backend xla:/path/xla_cuda_plugin.so [-direct xla:/path/plugin.so,tf32=false]
//	gpubench knn    -backend SPEC -n 1000000 -d 768 -k 50 -rows 100000 [-check 128]
//	gpubench kmeans -backend SPEC -n 1000000 -d 768 -k 100 -n-init 1
//
// Each prints one JSON line on stdout (progress goes to stderr) and exits 1
// on an error. probe opens the backend the way clusterlab does
// (core/backend.Open) and runs a small graph with a matrix product and the
// elementwise functions the trainer needs (erf, exp, tanh, a reduction),
// comparing it with float64 on the host: a plugin that loads but cannot
// compile (libdevice, ptxas or cuBLAS not found) fails here in seconds
// rather than minutes into a benchmark. -direct opens further configs with
// compute.NewWithConfig, bypassing clusterlab's checks, to see what the
// plugin's own options (tf32=false) change.
//
// knn times neighbours.KNNRows for the query rows [0, rows) against all n
// rows (the full graph when rows = n) and extrapolates the full graph from
// a sample; -check compares the first rows of the result with the pure-Go
// float64 path (identical neighbour sets up to ties at the k-th place).
// kmeans times baselines.KMeans and reports the inertia and iterations.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/clusterlab/clusterlab/bench/internal/benchutil"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/neighbours"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// The session script stops a part at its time limit with SIGTERM:
	// cancel the work so the process ends with a message, not mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var (
		out any
		err error
	)
	switch os.Args[1] {
	case "probe":
		out, err = probe(os.Args[2:])
	case "knn":
		out, err = knn(ctx, os.Args[2:])
	case "kmeans":
		out, err = kmeans(ctx, os.Args[2:])
	default:
		usage()
	}
	if out != nil {
		_ = json.NewEncoder(os.Stdout).Encode(out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gpubench probe|knn|kmeans -backend SPEC [flags]; gpubench CMD -h lists the flags")
	os.Exit(2)
}

// probeResult is one opened config and how its graph compared with the host.
type probeResult struct {
	Part        string  `json:"part"`
	Config      string  `json:"config"`
	Via         string  `json:"via"` // backend.Open (clusterlab) or compute.NewWithConfig (direct)
	OK          bool    `json:"ok"`
	Error       string  `json:"error,omitempty"`
	Backend     string  `json:"backend,omitempty"`
	Device      string  `json:"device,omitempty"`
	OpenS       float64 `json:"open_s"`
	FirstCallS  float64 `json:"first_call_s"` // compile + run
	CallMS      float64 `json:"call_ms"`      // a second call, compiled
	MatMulRel   float64 `json:"matmul_max_rel_err"`
	ErfAbs      float64 `json:"erf_max_abs_err"`
	ExpRel      float64 `json:"exp_max_rel_err"`
	TanhAbs     float64 `json:"tanh_max_abs_err"`
	SumRel      float64 `json:"sum_rel_err"`
	MatMulLikeT bool    `json:"matmul_error_like_tf32"` // 1e-4 < error: TF32-level rounding
}

func probe(args []string) (any, error) {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	spec := fs.String("backend", "auto", "backend spec for core/backend.Open")
	direct := fs.String("direct", "", "configs for compute.NewWithConfig, separated by ';', e.g. 'xla:/p/plugin.so,tf32=false'")
	_ = fs.Parse(args)
	var res []probeResult
	res = append(res, probeOne(*spec, false))
	if *direct != "" {
		for _, c := range strings.Split(*direct, ";") {
			if c != "" {
				res = append(res, probeOne(c, true))
			}
		}
	}
	var err error
	if !res[0].OK {
		err = fmt.Errorf("backend %s does not compute: %s", *spec, res[0].Error)
	}
	return res, err
}

func probeOne(spec string, direct bool) (r probeResult) {
	r = probeResult{Part: "probe", Config: spec, Via: "backend.Open"}
	if direct {
		r.Via = "compute.NewWithConfig"
	}
	t0 := time.Now()
	var b compute.Backend
	if direct {
		var err error
		if b, err = compute.NewWithConfig(spec); err != nil {
			r.Error = err.Error()
			return r
		}
	} else {
		o, err := backend.Open(spec)
		if err != nil {
			r.Error = err.Error()
			return r
		}
		b = o.Backend
		r.Backend = o.Name
	}
	defer b.Finalize()
	r.OpenS = time.Since(t0).Seconds()
	r.Device = b.Description()
	if b.NumDevices() > 0 {
		r.Device += "; " + b.DeviceDescription(0)
	}
	// Sizes large enough that the product goes to the real matrix kernel
	// (cuBLAS/cuBLASLt on a GPU), small enough to check in float64 here.
	const m, kd, n = 256, 768, 512
	rng := rand.New(rand.NewPCG(3, 4))
	x, w := make([]float32, m*kd), make([]float32, kd*n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for i := range w {
		w[i] = float32(rng.NormFloat64() / math.Sqrt(kd))
	}
	exec, err := graph.NewExec(b, func(x, w *graph.Node) []*graph.Node {
		p := graph.MatMul(x, w)
		return []*graph.Node{p, graph.Erf(p), graph.Exp(graph.MulScalar(p, 0.5)), graph.Tanh(p), graph.ReduceAllSum(graph.Mul(p, p))}
	})
	if err != nil {
		r.Error = "build graph: " + err.Error()
		return r
	}
	defer exec.Finalize()
	var outs []*tensors.Tensor
	call := func() error {
		xt, wt := tensors.FromFlatDataAndDimensions(x, m, kd), tensors.FromFlatDataAndDimensions(w, kd, n)
		defer xt.FinalizeAll()
		defer wt.FinalizeAll()
		var err error
		outs, err = exec.Call(xt, wt)
		return err
	}
	t1 := time.Now()
	if err := call(); err != nil {
		r.Error = "first call (compile): " + err.Error()
		return r
	}
	r.FirstCallS = time.Since(t1).Seconds()
	for _, o := range outs {
		_ = o.FinalizeAll()
	}
	t2 := time.Now()
	if err := call(); err != nil {
		r.Error = "second call: " + err.Error()
		return r
	}
	got := make([][]float32, len(outs))
	for i, o := range outs {
		if err := tensors.ConstFlatData(o, func(f []float32) { got[i] = append([]float32(nil), f...) }); err != nil {
			r.Error = "read result: " + err.Error()
			return r
		}
		_ = o.FinalizeAll()
	}
	r.CallMS = time.Since(t2).Seconds() * 1000
	// Host reference in float64 from the same float32 inputs.
	var sum float64
	scale := 0.0
	for i := range m {
		for j := range n {
			var s float64
			for l := range kd {
				s += float64(x[i*kd+l]) * float64(w[l*n+j])
			}
			scale = math.Max(scale, math.Abs(s))
			sum += s * s
			k := i*n + j
			r.MatMulRel = math.Max(r.MatMulRel, math.Abs(float64(got[0][k])-s))
			// The elementwise functions are checked on the device's own
			// product, so that the product's rounding does not count.
			p := float64(got[0][k])
			r.ErfAbs = math.Max(r.ErfAbs, math.Abs(float64(got[1][k])-math.Erf(p)))
			e := math.Exp(0.5 * p)
			r.ExpRel = math.Max(r.ExpRel, math.Abs(float64(got[2][k])-e)/e)
			r.TanhAbs = math.Max(r.TanhAbs, math.Abs(float64(got[3][k])-math.Tanh(p)))
		}
	}
	r.MatMulRel /= scale // relative to the largest entry
	r.SumRel = math.Abs(float64(got[4][0])-sum) / sum
	r.MatMulLikeT = r.MatMulRel > 1e-4
	bad := r.MatMulRel > 1e-2 || r.ErfAbs > 1e-5 || r.ExpRel > 1e-5 || r.TanhAbs > 1e-5 || r.SumRel > 1e-3 ||
		math.IsNaN(r.MatMulRel+r.ErfAbs+r.ExpRel+r.TanhAbs+r.SumRel)
	if bad {
		r.Error = "results differ from the float64 host reference beyond float32 (or TF32) rounding"
		return r
	}
	r.OK = true
	return r
}

// data makes n rows of dimension d around `clusters` random centres (as
// bench/knn_run gen does, roughly how image features cluster), in
// parallel: every block of rows has its own seeded generator, so the data
// depends only on the seed and the sizes, not on the number of cores.
func data(n, d, clusters int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	centres := make([]float32, clusters*d)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64())
	}
	x := make([]float32, n*d)
	const block = 4096
	var wg sync.WaitGroup
	work := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				r := rand.New(rand.NewPCG(seed, uint64(b)+1000))
				for i := b * block; i < min((b+1)*block, n); i++ {
					c := centres[r.IntN(clusters)*d:]
					row := x[i*d : (i+1)*d]
					for j := range row {
						row[j] = c[j] + float32(0.8*r.NormFloat64())
					}
				}
			}
		}()
	}
	for b := range (n + block - 1) / block {
		work <- b
	}
	close(work)
	wg.Wait()
	return x
}

type knnResult struct {
	Part      string  `json:"part"`
	Backend   string  `json:"backend"`
	N         int     `json:"n"`
	D         int     `json:"d"`
	K         int     `json:"k"`
	Rows      int     `json:"query_rows"`
	GenS      float64 `json:"gen_s"`
	OpenS     float64 `json:"open_s"`
	Seconds   float64 `json:"seconds"`
	CPUSecs   float64 `json:"cpu_seconds"`
	FullEstS  float64 `json:"full_graph_est_s"` // seconds * n / rows (measured when rows = n)
	Measured  bool    `json:"full_graph_measured"`
	Checked   int     `json:"checked_rows,omitempty"`
	SetsEqual int     `json:"checked_rows_same_set,omitempty"` // up to ties at the k-th place
	Overlap   float64 `json:"checked_mean_overlap,omitempty"`  // mean fraction of shared neighbours
	MaxSimErr float64 `json:"checked_max_sim_err,omitempty"`
	CheckS    float64 `json:"check_s,omitempty"`
}

func knn(ctx context.Context, args []string) (any, error) {
	fs := flag.NewFlagSet("knn", flag.ExitOnError)
	spec := fs.String("backend", "auto", "backend spec")
	n := fs.Int("n", 1_000_000, "rows")
	d := fs.Int("d", 768, "dimension")
	k := fs.Int("k", 50, "neighbours per row")
	rows := fs.Int("rows", 100_000, "query rows [0, rows) timed against all n (n: the whole graph)")
	check := fs.Int("check", 128, "first rows compared with the pure-Go float64 path (0: none)")
	seed := fs.Uint64("seed", 1, "data seed")
	_ = fs.Parse(args)
	if *rows < 1 || *rows > *n || *check < 0 || *check > *rows {
		return nil, errors.New("knn: want 1 <= -rows <= -n and 0 <= -check <= -rows")
	}
	r := knnResult{Part: "knn", N: *n, D: *d, K: *k, Rows: *rows}
	t0 := time.Now()
	x := data(*n, *d, 100, *seed)
	r.GenS = time.Since(t0).Seconds()
	t1 := time.Now()
	o, err := backend.Open(*spec)
	if err != nil {
		return nil, err
	}
	r.Backend, r.OpenS = o.Name, time.Since(t1).Seconds()
	fmt.Fprintf(os.Stderr, "knn: %d x %d made in %.1f s; searching rows [0, %d) on %s\n", *n, *d, r.GenS, *rows, o.Name)
	t2, c2 := time.Now(), benchutil.CPUSeconds()
	var idx []int32
	var sim []float32
	if *rows == *n {
		idx, sim, err = neighbours.KNN(ctx, o.Backend, x, *n, *d, *k, nil)
	} else {
		idx, sim, err = neighbours.KNNRows(ctx, o.Backend, x, *n, *d, *k, 0, *rows, nil)
	}
	if err != nil {
		return nil, err
	}
	r.Seconds, r.CPUSecs = time.Since(t2).Seconds(), benchutil.CPUSeconds()-c2
	r.Measured = *rows == *n
	r.FullEstS = r.Seconds * float64(*n) / float64(*rows)
	if *check > 0 {
		t3 := time.Now()
		hIdx, hSim, err := neighbours.KNNRows(ctx, nil, x, *n, *d, *k, 0, *check, nil)
		if err != nil {
			return &r, fmt.Errorf("host check: %w", err)
		}
		r.Checked = *check
		for i := range *check {
			a, b := idx[i**k:(i+1)**k], hIdx[i**k:(i+1)**k]
			as, bs := sim[i**k:(i+1)**k], hSim[i**k:(i+1)**k]
			shared := overlap(a, b)
			r.Overlap += float64(shared) / float64(*k)
			// Same set, or differing only among values tied with the
			// host's k-th similarity (to float32 rounding).
			if shared == *k || sameUpToTies(a, as, b, bs) {
				r.SetsEqual++
			}
			for j := range as {
				r.MaxSimErr = math.Max(r.MaxSimErr, math.Abs(float64(as[j]-bs[j])))
			}
		}
		r.Overlap /= float64(*check)
		r.CheckS = time.Since(t3).Seconds()
	}
	return &r, nil
}

func overlap(a, b []int32) int {
	m := map[int32]bool{}
	for _, v := range a {
		m[v] = true
	}
	s := 0
	for _, v := range b {
		if m[v] {
			s++
		}
	}
	return s
}

// sameUpToTies: every neighbour of one list missing from the other has a
// similarity within 1e-6 of the host's k-th (sorted descending).
func sameUpToTies(a []int32, as []float32, b []int32, bs []float32) bool {
	kth := bs[len(bs)-1]
	inB := map[int32]bool{}
	for _, v := range b {
		inB[v] = true
	}
	inA := map[int32]bool{}
	for _, v := range a {
		inA[v] = true
	}
	for j, v := range a {
		if !inB[v] && math.Abs(float64(as[j]-kth)) > 1e-6 {
			return false
		}
	}
	for j, v := range b {
		if !inA[v] && math.Abs(float64(bs[j]-kth)) > 1e-6 {
			return false
		}
	}
	return true
}

type kmeansResult struct {
	Part       string  `json:"part"`
	Backend    string  `json:"backend"`
	N          int     `json:"n"`
	D          int     `json:"d"`
	K          int     `json:"k"`
	NInit      int     `json:"n_init"`
	GenS       float64 `json:"gen_s"`
	OpenS      float64 `json:"open_s"`
	Seconds    float64 `json:"seconds"`
	CPUSecs    float64 `json:"cpu_seconds"`
	Inertia    float64 `json:"inertia"`
	BestIters  int     `json:"best_run_iters"`
	LloydIters int     `json:"lloyd_iters_all_runs"`
	Sizes      []int   `json:"cluster_sizes_min_median_max"`
}

func kmeans(ctx context.Context, args []string) (any, error) {
	fs := flag.NewFlagSet("kmeans", flag.ExitOnError)
	spec := fs.String("backend", "auto", "backend spec")
	n := fs.Int("n", 1_000_000, "rows")
	d := fs.Int("d", 768, "dimension")
	k := fs.Int("k", 100, "clusters")
	nInit := fs.Int("n-init", 1, "k-means++ initialisations")
	maxIter := fs.Int("max-iter", 300, "Lloyd iterations per run at most")
	seed := fs.Uint64("seed", 1, "data and k-means seed")
	_ = fs.Parse(args)
	r := kmeansResult{Part: "kmeans", N: *n, D: *d, K: *k, NInit: *nInit}
	t0 := time.Now()
	x := data(*n, *d, 100, *seed)
	r.GenS = time.Since(t0).Seconds()
	t1 := time.Now()
	o, err := backend.Open(*spec)
	if err != nil {
		return nil, err
	}
	r.Backend, r.OpenS = o.Name, time.Since(t1).Seconds()
	fmt.Fprintf(os.Stderr, "kmeans: %d x %d made in %.1f s; K = %d, n_init = %d on %s\n", *n, *d, r.GenS, *k, *nInit, o.Name)
	opts := baselines.DefaultKMeansOptions()
	opts.NInit, opts.MaxIter, opts.Seed = *nInit, *maxIter, int64(*seed)
	opts.Progress = func(p baselines.KMeansProgress) {
		r.LloydIters++
		if p.Iter%10 == 0 {
			fmt.Fprintf(os.Stderr, "kmeans: run %d iteration %d inertia %.6g\n", p.Run, p.Iter, p.Inertia)
		}
	}
	t2, c2 := time.Now(), benchutil.CPUSeconds()
	res, err := baselines.KMeans(ctx, o.Backend, x, *n, *d, *k, opts)
	if err != nil {
		return nil, err
	}
	r.Seconds, r.CPUSecs = time.Since(t2).Seconds(), benchutil.CPUSeconds()-c2
	r.Inertia, r.BestIters = res.Inertia, res.Iters
	sizes := make([]int, *k)
	for _, l := range res.Labels {
		sizes[l]++
	}
	sort.Ints(sizes)
	r.Sizes = []int{sizes[0], sizes[len(sizes)/2], sizes[len(sizes)-1]}
	return &r, nil
}
