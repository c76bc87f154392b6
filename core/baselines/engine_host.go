package baselines

import (
	"math"
	"runtime"
	"sync"
)

// hostChunk is the unit of parallel work of the pure-Go engine. Partial
// sums are kept per chunk and added in chunk order, so the result does not
// depend on the number of goroutines.
const hostChunk = 1024

// hostEngine is the pure-Go engine, used with a nil backend and for tiny
// inputs. It evaluates the same expanded distance as the backend graphs.
type hostEngine struct {
	x       []float32 // centred [n, d]
	xsq     []float32 // [n] squared norms
	n, d, k int
	chunks  int
	partial []float64 // [chunks, k, d]
	pcount  []int     // [chunks, k]
}

func newHostEngine(x []float32, n, d, k int) *hostEngine {
	chunks := (n + hostChunk - 1) / hostChunk
	return &hostEngine{
		x: x, xsq: squaredNorms(x, n, d), n: n, d: d, k: k, chunks: chunks,
		partial: make([]float64, chunks*k*d), pcount: make([]int, chunks*k),
	}
}

func squaredNorms(x []float32, n, d int) []float32 {
	out := make([]float32, n)
	for i := range n {
		var s float64
		for _, v := range x[i*d : (i+1)*d] {
			s += float64(v) * float64(v)
		}
		out[i] = float32(s)
	}
	return out
}

func (e *hostEngine) trials() int { return localTrials(e.k) }

func (e *hostEngine) fork() engine {
	f := *e
	f.partial, f.pcount = make([]float64, len(e.partial)), make([]int, len(e.pcount))
	return &f
}
func (e *hostEngine) close() {}

// parallelChunks runs fn on every chunk of hostChunk rows of n, spread
// over the cores.
func parallelChunks(n int, fn func(c, lo, hi int)) {
	chunks := (n + hostChunk - 1) / hostChunk
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(runtime.GOMAXPROCS(0), chunks) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				fn(c, c*hostChunk, min((c+1)*hostChunk, n))
			}
		}()
	}
	for c := range chunks {
		work <- c
	}
	close(work)
	wg.Wait()
}

func (e *hostEngine) assign(centers []float32, labels []int32, mind []float32, sums []float64, counts []int) error {
	d, k := e.d, e.k
	csq := squaredNorms(centers, k, d)
	clear(e.partial)
	clear(e.pcount)
	parallelChunks(e.n, func(c, lo, hi int) {
		psum := e.partial[c*k*d : (c+1)*k*d]
		pcnt := e.pcount[c*k : (c+1)*k]
		for i := lo; i < hi; i++ {
			row := e.x[i*d : (i+1)*d]
			best, bestD := 0, float32(math.Inf(1))
			for j := range k {
				// ||c||^2 - 2 x.c; ||x||^2 is the same for every centre.
				dist := csq[j] - 2*dot(row, centers[j*d:(j+1)*d])
				if dist < bestD {
					best, bestD = j, dist
				}
			}
			labels[i] = int32(best)
			mind[i] = max(e.xsq[i]+bestD, 0)
			pcnt[best]++
			s := psum[best*d : (best+1)*d]
			for j, v := range row {
				s[j] += float64(v)
			}
		}
	})
	clear(sums)
	clear(counts)
	for c := range e.chunks {
		for j, v := range e.partial[c*k*d : (c+1)*k*d] {
			sums[j] += v
		}
		for j, v := range e.pcount[c*k : (c+1)*k] {
			counts[j] += v
		}
	}
	return nil
}

func (e *hostEngine) candidates(cand []int32, closest []float32, out []float32) error {
	d, T := e.d, len(cand)
	parallelChunks(e.n, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			row := e.x[i*d : (i+1)*d]
			for t, ci := range cand {
				dist := max(e.xsq[i]-2*dot(row, e.x[int(ci)*d:int(ci+1)*d])+e.xsq[ci], 0)
				out[i*T+t] = min(dist, closest[i])
			}
		}
	})
	return nil
}

// dot is a float32 dot product with four accumulators.
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
