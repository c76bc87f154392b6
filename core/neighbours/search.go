package neighbours

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

const (
	// targetBlockBytes sizes a query block so that its similarity block
	// [Bq, n] float32 is about this large: big enough that one backend call
	// amortises its overhead, small enough that two blocks in flight (one
	// computed, one reduced) stay far below the memory of any machine.
	targetBlockBytes = 256 << 20
	// minBlockRows keeps blocks useful when n is huge.
	minBlockRows = 8
	// tinyWork is the number of multiply-adds (nq*n*d) below which the
	// pure-Go path is used: compiling a backend graph costs 0.1-5 s, which
	// plain loops beat on problems this small.
	tinyWork = 1 << 26
	// hostChunkRows is the unit of work (and of cancellation checks and
	// progress reports) of the pure-Go path.
	hostChunkRows = 32
)

// search is one top-k cosine search of normalised query rows against
// normalised database rows.
type search struct {
	query []float32 // [nq, d], unit rows
	nq    int
	db    []float32 // [n, d], unit rows
	n     int
	d, k  int
	// excludeSelf: the query set is the database and query row i must not
	// find database row i.
	excludeSelf bool
	progress    func(done, total int)
	tuning
}

func (s *search) self(i int) int {
	if s.excludeSelf {
		return i
	}
	return -1
}

func (s *search) run(ctx context.Context, b compute.Backend) ([]int32, []float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	idx := make([]int32, s.nq*s.k)
	sim := make([]float32, s.nq*s.k)
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
// streams the dot products with every database row through a heap.
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
			h := newTopK(s.k)
			for c := range work {
				lo, hi := c*hostChunkRows, min((c+1)*hostChunkRows, s.nq)
				for i := lo; i < hi; i++ {
					q := s.query[i*s.d : (i+1)*s.d]
					self := s.self(i)
					for j := range s.n {
						if j == self {
							continue
						}
						if v := dot(q, s.db[j*s.d:(j+1)*s.d]); v > h.thr {
							h.push(v, int32(j))
						}
					}
					h.drain(sim[i*s.k:(i+1)*s.k], idx[i*s.k:(i+1)*s.k])
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

// dot is a float32 dot product with four accumulators (fewer dependent
// additions, so the loop pipelines).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// groupPlan decides how the host reads a similarity row. With groups of G
// columns whose maxima the backend also returns, the true top k of a row
// lie in the m groups with the largest maxima, where m = k plus one for
// the query itself and one for the zero padding of the last group: each of
// those m groups holds a distinct element >= any top-k value, at most one
// of which is the query and one padding. Reading m*G values plus n/G
// maxima instead of n is ~15x less host work at n = 60000, k = 50.
type groupPlan struct {
	G       int // columns per group; 0: no groups, scan whole rows
	nPad    int // database columns, padded to a multiple of G
	groups  int // nPad / G
	m       int // groups to read per row
	scanAll bool
}

func planGroups(n, k int, excludeSelf bool) groupPlan {
	m := k + 2 // query itself and padding, counted even if absent
	if !excludeSelf {
		m = k + 1
	}
	// Host cost per row ~ n/G + m*G, least at G = sqrt(n/m); round down to a
	// power of two.
	best := int(math.Sqrt(float64(n) / float64(m)))
	if best < 8 {
		return groupPlan{nPad: n, scanAll: true}
	}
	g := min(1<<(bits.Len(uint(best))-1), 256)
	nPad := (n + g - 1) / g * g
	return groupPlan{G: g, nPad: nPad, groups: nPad / g, m: m, scanAll: m >= nPad/g}
}

// blockOut is one computed similarity block handed from the backend
// goroutine to the host reducers.
type blockOut struct {
	start int
	outs  []*tensors.Tensor // sims [Bq, nPad], then group maxima [Bq, groups] if grouped
	err   error
}

// runDevice computes similarity blocks on the backend and reduces them on
// the host; one block is computed while the previous one is reduced.
func (s *search) runDevice(ctx context.Context, b compute.Backend, idx []int32, sim []float32) error {
	plan := planGroups(s.n, s.k, s.excludeSelf)
	blockBytes := targetBlockBytes
	if s.blockBytes > 0 {
		blockBytes = s.blockBytes
	}
	bq := blockBytes / (4 * plan.nPad)
	bq = min(max(bq, minBlockRows), s.nq)

	// The database, transposed to [d, nPad] so that the product is a plain
	// MatMul, and zero-padded. It moves to the device on the first call and
	// stays there.
	dbT := tensors.FromShape(shapes.Make(dtypes.Float32, s.d, plan.nPad))
	defer func() { _ = dbT.FinalizeAll() }()
	err := tensors.MutableFlatData(dbT, func(flat []float32) {
		for j := range s.n {
			row := s.db[j*s.d : (j+1)*s.d]
			for c, v := range row {
				flat[c*plan.nPad+j] = v
			}
		}
	})
	if err != nil {
		return fmt.Errorf("fill database tensor: %w", err)
	}
	grouped := plan.G > 0 && !plan.scanAll
	exec, err := graph.NewExec(b, func(q, dbT *graph.Node) []*graph.Node {
		sims := graph.MatMul(q, dbT)
		if !grouped {
			return []*graph.Node{sims}
		}
		gmax := graph.ReduceMax(graph.Reshape(sims, bq, plan.groups, plan.G), 2)
		return []*graph.Node{sims, gmax}
	})
	if err != nil {
		return fmt.Errorf("build similarity graph: %w", err)
	}
	exec = exec.WithName("neighbours.similarity").SetMaxCache(1)
	defer exec.Finalize()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	blocks := make(chan blockOut, 1)
	go func() {
		defer close(blocks)
		for start := 0; start < s.nq; start += bq {
			if ctx.Err() != nil {
				return
			}
			// The last block is zero-padded to the fixed shape; its extra
			// rows are ignored.
			q := tensors.FromShape(shapes.Make(dtypes.Float32, bq, s.d))
			var outs []*tensors.Tensor
			err := tensors.MutableFlatData(q, func(flat []float32) {
				copy(flat, s.query[start*s.d:min(start+bq, s.nq)*s.d])
			})
			if err == nil {
				outs, err = exec.Call(q, dbT)
			}
			_ = q.FinalizeAll()
			if err != nil {
				err = fmt.Errorf("similarity block at row %d on backend %s: %w", start, b.Name(), err)
			}
			select {
			case blocks <- blockOut{start: start, outs: outs, err: err}:
			case <-ctx.Done():
				finalizeAll(outs)
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		// Release whatever the producer made after we stopped reading.
		cancel()
		for blk := range blocks {
			finalizeAll(blk.outs)
		}
	}()

	done := 0
	for blk := range blocks {
		if blk.err != nil {
			return blk.err
		}
		rows := min(bq, s.nq-blk.start)
		err := s.reduceBlock(blk, rows, plan, grouped, idx, sim)
		finalizeAll(blk.outs)
		if err != nil {
			return err
		}
		done += rows
		if s.progress != nil {
			s.progress(done, s.nq)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if done < s.nq {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("similarity blocks stopped after %d of %d rows", done, s.nq)
	}
	return nil
}

func finalizeAll(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// reduceBlock writes the top k of each of the block's rows, in parallel.
func (s *search) reduceBlock(blk blockOut, rows int, plan groupPlan, grouped bool, idx []int32, sim []float32) error {
	nPad := plan.nPad
	var gmaxFlat []float32
	read := func(sims []float32) {
		workers := min(runtime.GOMAXPROCS(0), rows)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := newTopK(s.k)
				var gh *topK
				if grouped {
					gh = newTopK(plan.m)
				}
				for r := w; r < rows; r += workers {
					i := blk.start + r
					row := sims[r*nPad : r*nPad+s.n]
					if !grouped {
						h.scan(row, 0, s.self(i))
					} else {
						gh.scan(gmaxFlat[r*plan.groups:(r+1)*plan.groups], 0, -1)
						for _, g := range gh.ids {
							lo := int(g) * plan.G
							hi := min(lo+plan.G, s.n)
							if lo < hi {
								h.scan(row[lo:hi], lo, s.self(i))
							}
						}
						gh.reset()
					}
					h.drain(sim[i*s.k:(i+1)*s.k], idx[i*s.k:(i+1)*s.k])
				}
			}()
		}
		wg.Wait()
	}
	if !grouped {
		if err := tensors.ConstFlatData(blk.outs[0], read); err != nil {
			return fmt.Errorf("read similarity block: %w", err)
		}
		return nil
	}
	var inner error
	err := tensors.ConstFlatData(blk.outs[1], func(flat []float32) {
		gmaxFlat = flat
		inner = tensors.ConstFlatData(blk.outs[0], read)
	})
	if err == nil {
		err = inner
	}
	if err != nil {
		return fmt.Errorf("read similarity block: %w", err)
	}
	return nil
}
