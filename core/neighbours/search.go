package neighbours

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

const (
	// targetTileBytes sizes a similarity tile [Bn, Bq] float32 (and bounds
	// a database block [Bn, d]): big enough that one backend call
	// amortises its overhead and the matrix product runs at full speed
	// (about 4000 x 4000), small enough that the two tiles alive at a time
	// (one computed, one reduced) cost little next to the data itself.
	targetTileBytes = 64 << 20
	// minBlock keeps blocks useful when a tile budget is tiny (tests).
	minBlock = 8
	// tinyWork is the number of multiply-adds (nq*n*d) below which the
	// pure-Go path is used: compiling a backend graph costs 0.1-5 s, which
	// plain loops beat on problems this small.
	tinyWork = 1 << 26
	// hostChunkRows is the unit of work (and of cancellation checks and
	// progress reports) of the pure-Go path.
	hostChunkRows = 32
)

// search is one top-k cosine search of query rows against database rows.
// Rows are kept as the caller gave them (which may be a memory-mapped
// file) with their inverse norms alongside; normalised copies are made one
// block at a time, never of the whole input.
type search struct {
	query []float32 // [nq, d]
	qInv  []float64 // [nq], 1/||row||
	nq    int
	db    []float32 // [n, d]
	dbInv []float64 // [n]
	n     int
	d, k  int
	// selfOffset >= 0 says query row i is database row selfOffset+i and
	// must not find itself; -1 when the two sets are distinct.
	selfOffset int
	progress   func(done, total int)
	tuning
}

func (s *search) self(i int) int {
	if s.selfOffset < 0 {
		return -1
	}
	return s.selfOffset + i
}

// symmetric says the queries are the whole database: similarity is
// symmetric, so each tile off the diagonal serves both its rows and its
// columns and only half the tiles are computed.
func (s *search) symmetric() bool { return s.selfOffset == 0 && s.nq == s.n }

func (s *search) run(ctx context.Context, b compute.Backend) ([]int32, []float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// The result arrays hold the heaps while the search runs.
	idx := make([]int32, s.nq*s.k)
	sim := make([]float32, s.nq*s.k)
	heapInit(sim, idx)
	var err error
	if b == nil || (!s.forceDevice && s.nq*s.n*s.d < tinyWork) {
		err = s.runHost(ctx, idx, sim)
	} else {
		err = s.runDevice(ctx, b, idx, sim)
	}
	if err != nil {
		return nil, nil, err
	}
	return idx, sim, nil
}

// runHost is the pure-Go path: each worker takes chunks of query rows and
// streams the dot products with every database row through the row's
// heap. Dot products of the raw rows are taken in float64, where no float32
// input can overflow, and scaled by the inverse norms.
func (s *search) runHost(ctx context.Context, idx []int32, sim []float32) error {
	chunks := (s.nq + hostChunkRows - 1) / hostChunkRows
	work := make(chan int)
	var (
		mu   sync.Mutex
		done int
	)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				lo, hi := c*hostChunkRows, min((c+1)*hostChunkRows, s.nq)
				for i := lo; i < hi; i++ {
					q := s.query[i*s.d : (i+1)*s.d]
					vals, ids := sim[i*s.k:(i+1)*s.k], idx[i*s.k:(i+1)*s.k]
					self := s.self(i)
					thr := vals[0]
					for j := range s.n {
						if j == self {
							continue
						}
						v := float32(dot64(q, s.db[j*s.d:(j+1)*s.d]) * s.qInv[i] * s.dbInv[j])
						if v > thr {
							thr = heapPush(vals, ids, v, int32(j))
						}
					}
					heapSort(vals, ids)
				}
				if s.progress != nil {
					mu.Lock()
					done += hi - lo
					s.progress(done, s.nq)
					mu.Unlock()
				}
			}
		}()
	}
	var err error
feed:
	for c := range chunks {
		select {
		case work <- c:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(work)
	wg.Wait()
	return err
}

// dot64 is the float64 dot product of two float32 rows, with four
// accumulators (fewer dependent additions, so the loop pipelines).
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// tilePlan is how the backend path cuts the work. A tile is the similarity
// block of Bn database rows (its rows) against Bq query rows (its
// columns): S = DB[Bn, d] x Q^T[d, Bq].
type tilePlan struct {
	bq, bn   int // block sizes
	nbq, nbn int // number of query and database blocks
}

func planTiles(nq, n, d, tileBytes int, symmetric bool) tilePlan {
	floats := max(tileBytes/4, minBlock*minBlock)
	side := max(int(math.Sqrt(float64(floats))), minBlock)
	bq := balanced(nq, side)
	bn := bq
	if !symmetric {
		// Few queries: give the tile more database rows, within the same
		// budget for the tile and for the database block.
		bn = balanced(n, max(side, min(floats/bq, floats/d)))
	}
	return tilePlan{bq: bq, bn: bn, nbq: (nq + bq - 1) / bq, nbn: (n + bn - 1) / bn}
}

// balanced returns the block size at most limit (when n allows) that cuts
// n rows into equal blocks, so that the last one is not mostly padding.
func balanced(n, limit int) int {
	blocks := (n + limit - 1) / limit
	return (n + blocks - 1) / blocks
}

// tile is one computed similarity tile handed from the backend goroutine
// to the host reducers.
type tile struct {
	bi, bj int               // query block, database block
	outs   []*tensors.Tensor // S [bn, bq]
	err    error
}

// runDevice computes similarity tiles on the backend and reduces them on
// the host; one tile is computed while the previous one is reduced. Its
// memory beyond the inputs and the result is two input blocks and two
// tiles, whatever n is.
//
// Tiles go query block by query block (bi), and within one over the
// database blocks bj (bj >= bi when symmetric), so that a query block is
// transposed once and its rows are final after its last tile: progress
// counts finished rows.
func (s *search) runDevice(ctx context.Context, b compute.Backend, idx []int32, sim []float32) error {
	tileBytes := targetTileBytes
	if s.blockBytes > 0 {
		tileBytes = s.blockBytes
	}
	sym := s.symmetric()
	p := planTiles(s.nq, s.n, s.d, tileBytes, sym)

	// Input blocks live in memory the backend reads directly where it can
	// (shared buffers), refilled in place for every tile.
	rowsT, err := tensors.FromShapeForBackend(b, 0, shapes.Make(dtypes.Float32, p.bn, s.d))
	if err != nil {
		return fmt.Errorf("allocate database block [%d, %d]: %w", p.bn, s.d, err)
	}
	defer func() { _ = rowsT.FinalizeAll() }()
	colsT, err := tensors.FromShapeForBackend(b, 0, shapes.Make(dtypes.Float32, s.d, p.bq))
	if err != nil {
		return fmt.Errorf("allocate query block [%d, %d]: %w", s.d, p.bq, err)
	}
	defer func() { _ = colsT.FinalizeAll() }()

	exec, err := graph.NewExec(b, func(rows, colsT *graph.Node) *graph.Node {
		return graph.MatMul(rows, colsT) // [bn, bq]
	})
	if err != nil {
		return fmt.Errorf("build similarity graph: %w", err)
	}
	exec = exec.WithName("neighbours.similarity").SetMaxCache(1)
	defer exec.Finalize()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tiles := make(chan tile)
	go func() {
		defer close(tiles)
		// send hands a tile over; false means stop (an error was sent, or
		// the consumer is gone).
		send := func(t tile) bool {
			select {
			case tiles <- t:
				return t.err == nil
			case <-ctx.Done():
				finalizeAll(t.outs)
				return false
			}
		}
		for bi := range p.nbq {
			q0, q1 := bi*p.bq, min((bi+1)*p.bq, s.nq)
			err := tensors.MutableFlatData(colsT, func(flat []float32) {
				fillTransposed(flat, s.query, s.qInv, q0, q1, s.d, p.bq)
			})
			if err != nil {
				send(tile{err: fmt.Errorf("fill query block at row %d: %w", q0, err)})
				return
			}
			start := 0
			if sym {
				start = bi
			}
			for bj := start; bj < p.nbn; bj++ {
				if ctx.Err() != nil {
					return
				}
				r0, r1 := bj*p.bn, min((bj+1)*p.bn, s.n)
				var outs []*tensors.Tensor
				err := tensors.MutableFlatData(rowsT, func(flat []float32) {
					fillRows(flat, s.db, s.dbInv, r0, r1, s.d)
				})
				if err == nil {
					var out *tensors.Tensor
					if out, err = exec.Call1(rowsT, colsT); err == nil {
						outs = []*tensors.Tensor{out}
					}
				}
				if err != nil {
					err = fmt.Errorf("similarity tile of query rows %d.. and database rows %d.. on backend %s: %w", q0, r0, b.Name(), err)
				}
				if !send(tile{bi: bi, bj: bj, outs: outs, err: err}) {
					return
				}
			}
		}
	}()
	defer func() {
		// Release whatever the producer made after we stopped reading.
		cancel()
		for t := range tiles {
			finalizeAll(t.outs)
		}
	}()

	done := 0
	for t := range tiles {
		if t.err != nil {
			return t.err
		}
		err := s.reduceTile(p, t, idx, sim)
		finalizeAll(t.outs)
		if err != nil {
			return err
		}
		if t.bj == p.nbn-1 {
			// The query block's rows are final (later tiles touch only
			// later blocks).
			q0, q1 := t.bi*p.bq, min((t.bi+1)*p.bq, s.nq)
			parallelRange(q0, q1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					heapSort(sim[i*s.k:(i+1)*s.k], idx[i*s.k:(i+1)*s.k])
				}
			})
			done += q1 - q0
			if s.progress != nil {
				s.progress(done, s.nq)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if done < s.nq {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("similarity tiles stopped after %d of %d rows", done, s.nq)
	}
	return nil
}

// fillRows writes rows [lo, hi) of x, normalised, into dst [B, d] and
// zeroes the padding rows after them.
func fillRows(dst, x []float32, inv []float64, lo, hi, d int) {
	for r := range hi - lo {
		f := inv[lo+r]
		o := dst[r*d : (r+1)*d]
		for c, v := range x[(lo+r)*d : (lo+r+1)*d] {
			o[c] = float32(float64(v) * f)
		}
	}
	clear(dst[(hi-lo)*d:])
}

// fillTransposed writes rows [lo, hi) of x, normalised, as the columns of
// dst [d, width] and zeroes the padding columns. Row by row, the writes of
// consecutive rows fall in the same d cache lines, which stay cached.
func fillTransposed(dst, x []float32, inv []float64, lo, hi, d, width int) {
	m := hi - lo
	for r := range m {
		f := inv[lo+r]
		for c, v := range x[(lo+r)*d : (lo+r+1)*d] {
			dst[c*width+r] = float32(float64(v) * f)
		}
	}
	if m < width {
		for c := range d {
			clear(dst[c*width+m : (c+1)*width])
		}
	}
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// parallelRange splits [lo, hi) into one contiguous range per core.
func parallelRange(lo, hi int, fn func(lo, hi int)) {
	workers := max(1, min(runtime.GOMAXPROCS(0), hi-lo))
	per := (hi - lo + workers - 1) / workers
	var wg sync.WaitGroup
	for a := lo; a < hi; a += per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(a, min(a+per, hi))
		}()
	}
	wg.Wait()
}

// reduceTile offers a tile's similarities to the heaps of its query rows
// (the tile's columns) and, symmetric off the diagonal, to the heaps of
// its database rows (the tile's rows). The two sets of rows are distinct
// blocks, so both sides run at once without locks. Each side reads the
// tile once, in memory order, with one comparison per value against the
// row's threshold in the common case: cheaper than having the backend
// reduce the tile to group maxima first (which costs it a third more
// than the product on ONNX Runtime).
func (s *search) reduceTile(p tilePlan, t tile, idx []int32, sim []float32) error {
	q0 := t.bi * p.bq
	cols := min(p.bq, s.nq-q0)
	r0 := t.bj * p.bn
	rows := min(p.bn, s.n-r0)
	k := s.k
	both := s.symmetric() && t.bi != t.bj

	err := tensors.ConstFlatData(t.outs[0], func(sims []float32) {
		// Query side: each worker owns a range of columns and sweeps the
		// tile row by row against their thresholds.
		colSide := func(lo, hi int) {
			thr := make([]float32, hi-lo)
			for c := lo; c < hi; c++ {
				thr[c-lo] = sim[(q0+c)*k]
			}
			for r := range rows {
				j := r0 + r
				for c, v := range sims[r*p.bq+lo : r*p.bq+hi] {
					if v <= thr[c] {
						continue
					}
					qi := q0 + lo + c
					if j == s.self(qi) {
						continue
					}
					thr[c] = heapPush(sim[qi*k:(qi+1)*k], idx[qi*k:(qi+1)*k], v, int32(j))
				}
			}
		}
		// Database side: the tile's rows are query rows of a later block;
		// each reads its row of the tile.
		rowSide := func(lo, hi int) {
			for r := lo; r < hi; r++ {
				j := r0 + r
				heapScan(sim[j*k:(j+1)*k], idx[j*k:(j+1)*k], sims[r*p.bq:r*p.bq+cols], q0, -1)
			}
		}
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		spawn := func(n int, fn func(lo, hi int)) {
			per := max(1, (n+workers-1)/workers)
			for a := 0; a < n; a += per {
				wg.Add(1)
				go func() {
					defer wg.Done()
					fn(a, min(a+per, n))
				}()
			}
		}
		spawn(cols, colSide)
		if both {
			spawn(rows, rowSide)
		}
		wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("read similarity tile: %w", err)
	}
	return nil
}
