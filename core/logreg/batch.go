package logreg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/optimize"
)

// Several fits over the same rows (the folds of a cross-validation) are
// evaluated together: each fit runs its own L-BFGS in a goroutine and asks
// for its objective at a point; once every running fit has asked, one
// pass over the data computes all of them with the fits' weights stacked,
// so each product is as wide as all their classes together. At K = 10 that
// makes the products compute-bound instead of memory-bound: at 60000 x 784
// a 10-fold score took 42 CPU seconds batched against 104 to 109 with the
// folds fitted one after another or two at a time (bench/logreg_compare.sh
// MODES). At K = 100 it costs the left-out rows (a tenth more products),
// which the wider products about pay back. Each fit's arithmetic is its own: the
// left-out rows of a fold contribute exact zeros to its gradient, so the
// stacking changes nothing but rounding, and the order of the stack is
// fixed (by fit), so results do not depend on goroutine scheduling.

// dataset is the design matrix and labels a batch shares.
type dataset struct {
	// The rows, n x d row-major: x in float64, or x32 when the products
	// run in float32 (Options.Float32); the other is nil.
	x    []float64
	x32  []float32
	n, d int
	y    []int32 // labels in [0, k)
	k    int
	// fold is each row's fold; a fit with fold f leaves those rows out.
	// All zeros when every fit uses every row (fold -1).
	fold []int32
}

// job is one regression of a batch, and its side of the exchange with
// the coordinator.
type job struct {
	idx       int // position in the batch: fixes the stacking order
	fold      int // rows of this fold are left out; -1: none
	classes   []int32
	cls       []int32 // label -> index in classes, -1 when absent
	rows      int     // weight rows: len(classes), or 1 when two
	lambda    float64
	intercept bool
	d         int

	// Set by the job before asking, by the coordinator before replying.
	w         []float64
	f         float64
	grad      []float64
	cancelled bool
	reply     chan struct{}

	// The last point evaluated: gonum asks for F and then the gradient at
	// the same point.
	lastX []float64
	have  bool
}

func (j *job) dim() int {
	if j.intercept {
		return j.rows * (j.d + 1)
	}
	return j.rows * j.d
}

// newJob prepares a fit of the labels of the rows not in fold (all rows
// when fold is -1). It fails when fewer than two classes occur there.
func newJob(ds *dataset, idx, fold int, opt Options) (*job, error) {
	count := make([]int, ds.k)
	for i, v := range ds.y {
		if fold < 0 || int(ds.fold[i]) != fold {
			count[v]++
		}
	}
	j := &job{idx: idx, fold: fold, cls: make([]int32, ds.k), lambda: 1 / opt.C, intercept: !opt.NoIntercept, d: ds.d}
	// Classes ascending, as sklearn's LabelEncoder.
	for c, cnt := range count {
		j.cls[c] = -1
		if cnt > 0 {
			j.cls[c] = int32(len(j.classes))
			j.classes = append(j.classes, int32(c))
		}
	}
	if len(j.classes) < 2 {
		if len(j.classes) == 0 {
			return nil, errSingleClass{fold: fold}
		}
		return nil, errSingleClass{fold: fold, class: j.classes[0]}
	}
	j.rows = len(j.classes)
	if j.rows == 2 {
		j.rows = 1
	}
	j.grad = make([]float64, j.dim())
	j.reply = make(chan struct{}, 1)
	return j, nil
}

// errSingleClass: a classifier needs two classes (sklearn raises
// "This solver needs samples of at least 2 classes").
type errSingleClass struct {
	fold  int
	class int32
}

func (e errSingleClass) Error() string {
	where := "the labels hold"
	if e.fold >= 0 {
		where = fmt.Sprintf("the training rows of fold %d hold", e.fold+1)
	}
	return fmt.Sprintf("logreg: %s only one class (%d); a classifier needs at least two", where, e.class)
}

// ErrSingleClass is matched (errors.Is) by the error of a fit whose
// training rows hold fewer than two classes.
var ErrSingleClass = errors.New("logreg: fewer than two classes")

func (e errSingleClass) Is(target error) bool { return target == ErrSingleClass }

// eval returns the objective at w and leaves its gradient in j.grad,
// asking the coordinator unless w is the last point.
func (j *job) eval(b *batch, w []float64) float64 {
	if j.have && slices.Equal(w, j.lastX) {
		return j.f
	}
	j.w = w
	b.msgs <- message{job: j}
	<-j.reply
	j.w = nil
	j.lastX = append(j.lastX[:0], w...)
	j.have = !j.cancelled
	return j.f
}

type message struct {
	job  *job
	done bool
}

// batch evaluates the objectives of its jobs over one dataset.
type batch struct {
	ds      *dataset
	threads int
	chunks  int
	tile    int
	msgs    chan message

	// Buffers, sized for the widest round (the first).
	w, bias []float64
	w32     []float32
	cjobs   []cJob
	cls     []int32
	scratch []scratchBuf // per worker
	sums    []chunkSums  // per chunk
}

type scratchBuf struct {
	zt, work   []float64
	zt32, gw32 []float32 // float32 products only
}

type chunkSums struct{ gw, gb, loss []float64 }

// tileRows is the number of data rows per pair of products; the scores of
// a tile (R x tileRows) stay in cache between them. 512 to 2048 measured
// within noise of each other at R = 100 and 1000 on SkylakeX.
const tileRows = 1024

// minChunks is the number of row ranges a pass is cut into, whatever the
// number of workers: each range sums into its own buffers and the ranges
// are added in order, so results are the same for 1 to minChunks workers,
// while idle workers take the next range (on a shared machine a worker
// that is descheduled no longer holds up the others for half the pass).
const minChunks = 8

func newBatch(ds *dataset, threads int) *batch {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	chunks := min(max(minChunks, threads), ds.n)
	threads = max(1, min(threads, chunks))
	return &batch{ds: ds, threads: threads, chunks: chunks, tile: min(tileRows, ds.n), msgs: make(chan message)}
}

// fitResult is what a job's L-BFGS returned.
type fitResult struct {
	res *optimize.Result
	err error
}

// run fits every job, calling done(i) (from the caller's goroutine) as
// job i finishes, and returns each job's result.
func (b *batch) run(ctx context.Context, jobs []*job, opt Options, done func(i int)) []fitResult {
	initBLAS()
	results := make([]fitResult, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := minimize(ctx, b, j, opt)
			results[i] = fitResult{res: res, err: err}
			b.msgs <- message{job: j, done: true}
		}()
	}
	active := len(jobs)
	var pending []*job
	for active > 0 {
		m := <-b.msgs
		if m.done {
			active--
			if done != nil {
				done(m.job.idx)
			}
		} else {
			pending = append(pending, m.job)
		}
		if len(pending) > 0 && len(pending) == active {
			if ctx.Err() != nil {
				// Each fit's recorder sees ctx too and stops at this
				// evaluation; the values are never used.
				for _, j := range pending {
					j.cancelled = true
					j.f = math.NaN()
				}
			} else {
				b.evaluate(pending)
			}
			for _, j := range pending {
				j.reply <- struct{}{}
			}
			pending = pending[:0]
		}
	}
	wg.Wait()
	return results
}

// evaluate computes the objective and gradient of every job at its j.w.
func (b *batch) evaluate(jobs []*job) {
	ds := b.ds
	d := ds.d
	slices.SortFunc(jobs, func(a, c *job) int { return a.idx - c.idx })
	r := 0
	for _, j := range jobs {
		r += j.rows
	}
	if b.sums == nil || len(b.w) < r*d || len(b.sums[0].loss) < len(jobs) {
		b.w = make([]float64, r*d)
		b.bias = make([]float64, r)
		b.scratch = make([]scratchBuf, b.threads)
		for t := range b.scratch {
			b.scratch[t] = scratchBuf{zt: make([]float64, r*b.tile), work: make([]float64, 3*b.tile)}
			if ds.x32 != nil {
				b.scratch[t].zt32 = make([]float32, r*b.tile)
				b.scratch[t].gw32 = make([]float32, r*d)
			}
		}
		if ds.x32 != nil {
			b.w32 = make([]float32, r*d)
		}
		b.sums = make([]chunkSums, b.chunks)
		for c := range b.sums {
			b.sums[c] = chunkSums{gw: make([]float64, r*d), gb: make([]float64, r), loss: make([]float64, len(jobs))}
		}
	}
	b.cjobs = b.cjobs[:0]
	b.cls = b.cls[:0]
	off := 0
	for _, j := range jobs {
		copy(b.w[off*d:], j.w[:j.rows*d])
		bias := b.bias[off : off+j.rows]
		if j.intercept {
			copy(bias, j.w[j.rows*d:])
		} else {
			clear(bias)
		}
		if ds.x32 != nil {
			for i, v := range j.w[:j.rows*d] {
				b.w32[off*d+i] = float32(v)
			}
		}
		b.cjobs = append(b.cjobs, newCJob(off, j.rows, j.fold, len(b.cls)))
		b.cls = append(b.cls, j.cls...)
		off += j.rows
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for t := 0; t < b.threads; t++ {
		sb := &b.scratch[t]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= b.chunks {
					return
				}
				cs := &b.sums[c]
				clear(cs.gw[:r*d])
				clear(cs.gb[:r])
				clear(cs.loss[:len(jobs)])
				i0, i1 := ds.n*c/b.chunks, ds.n*(c+1)/b.chunks
				if ds.x32 != nil {
					evalRows32(ds.x32, d, i0, i1, b.tile, b.w32, b.bias, r, b.cjobs, ds.y, ds.fold, b.cls,
						sb.zt32, sb.gw32, sb.zt, sb.work, cs.gw, cs.gb, cs.loss)
				} else {
					evalRows(ds.x, d, i0, i1, b.tile, b.w, b.bias, r, b.cjobs, ds.y, ds.fold, b.cls,
						sb.zt, sb.work, cs.gw, cs.gb, cs.loss)
				}
			}
		}()
	}
	wg.Wait()
	off = 0
	for q, j := range jobs {
		n := j.rows * d
		f := 0.0
		for c := range b.sums {
			f += b.sums[c].loss[q]
		}
		gw := j.grad[:n]
		copy(gw, b.sums[0].gw[off*d:off*d+n])
		for c := 1; c < b.chunks; c++ {
			floatsAdd(gw, b.sums[c].gw[off*d:off*d+n])
		}
		sq := 0.0
		for i, v := range j.w[:n] {
			sq += v * v
			gw[i] += j.lambda * v
		}
		f += 0.5 * j.lambda * sq
		if j.intercept {
			gb := j.grad[n:]
			for k := range gb {
				s := 0.0
				for c := range b.sums {
					s += b.sums[c].gb[off+k]
				}
				gb[k] = s
			}
		}
		j.f = f
		j.cancelled = false
		off += j.rows
	}
}

func floatsAdd(dst, s []float64) {
	for i, v := range s {
		dst[i] += v
	}
}

// minimize runs scipy's L-BFGS-B setup (see the package doc) on one job.
func minimize(ctx context.Context, b *batch, j *job, opt Options) (*optimize.Result, error) {
	settings := &optimize.Settings{
		GradientThreshold: opt.Tol,
		// gonum counts the starting point as a major iteration, scipy does
		// not: with the +1 the iterates match scipy's to rounding (checked
		// against sklearn at max_iter 5, 10, 30).
		MajorIterations: opt.MaxIter + 1,
		Converger:       &scipyConverger{},
		Recorder:        &ctxRecorder{ctx: ctx},
	}
	// scipy's L-BFGS-B keeps 10 pairs and uses the Moré–Thuente search with
	// ftol = 1e-3, gtol = 0.9.
	method := &optimize.LBFGS{
		Store:        10,
		Linesearcher: &optimize.MoreThuente{DecreaseFactor: 1e-3, CurvatureFactor: 0.9},
	}
	p := optimize.Problem{
		Func: func(w []float64) float64 { return j.eval(b, w) },
		Grad: func(grad, w []float64) {
			j.eval(b, w)
			copy(grad, j.grad)
		},
	}
	return optimize.Minimize(p, make([]float64, j.dim()), settings, method)
}

// newDataset holds x for the products: converted to float64, or as is
// when they run in float32.
func newDataset(x []float32, n, d int, y []int32, k int, fold []int32, float32Products bool) *dataset {
	ds := &dataset{n: n, d: d, y: y, k: k, fold: fold}
	if float32Products {
		ds.x32 = x
	} else {
		ds.x = toFloat64(x)
	}
	return ds
}
