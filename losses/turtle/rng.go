package main

import (
	"math"
	"math/rand/v2"
)

// Randomness. Every random draw of a run is a function of the run's seed
// and of where it is used, never of a generator carried from one draw to
// the next, so a resumed run needs no generator state to draw exactly what
// an uninterrupted run draws:
//
//   - the task encoder of space s: PCG(seed, streamEncoder+s), V_s then
//     b_s, row-major, each uniform(-1/sqrt(D_s), 1/sqrt(D_s)) as
//     PyTorch's nn.Linear; g_s is the row norms of V_s (so the first W_s
//     equals V_s);
//   - the batch of outer iteration t (0-based): PCG(seed, streamBatch+t),
//     B of the N train rows without replacement (the first B positions of
//     a Fisher-Yates shuffle);
//   - the cold-start inner classifiers of iteration t: PCG(seed,
//     streamInner+t), for each space in order A_s then c_s, uniform like
//     the task encoder. Warm start draws them for t = 0 only.
//
// A uniform value is float32((2u-1)*bound) with u = rand.Float64().
const (
	streamEncoder uint64 = 0x7475_0001 << 32 // + s
	streamBatch   uint64 = 0x7475_0002 << 32 // + t, t < 2^32 (iterations are bounded by 1e8)
	streamInner   uint64 = 0x7475_0003 << 32 // + t
)

func newRNG(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

func uniformFill(r *rand.Rand, x []float32, bound float64) {
	for i := range x {
		x[i] = float32((2*r.Float64() - 1) * bound)
	}
}

// encoderInit draws the task encoder of every space (dims[s] = D_s) for C
// clusters: V_s [C, D_s], g_s [C], b_s [C].
func encoderInit(seed int64, dims []int, clusters int) (v, g, b [][]float32) {
	for s, d := range dims {
		r := newRNG(seed, streamEncoder+uint64(s))
		bound := 1 / math.Sqrt(float64(d))
		vs := make([]float32, clusters*d)
		uniformFill(r, vs, bound)
		bs := make([]float32, clusters)
		uniformFill(r, bs, bound)
		gs := make([]float32, clusters)
		for c := range clusters {
			var ss float64
			for _, x := range vs[c*d : (c+1)*d] {
				ss += float64(x) * float64(x)
			}
			gs[c] = float32(math.Sqrt(ss))
		}
		v, g, b = append(v, vs), append(g, gs), append(b, bs)
	}
	return v, g, b
}

// innerInit draws the inner classifiers of outer iteration t (0-based):
// A_s [C, D_s] and c_s [C] for every space.
func innerInit(seed int64, t int, dims []int, clusters int) (a, c [][]float32) {
	r := newRNG(seed, streamInner+uint64(t))
	for _, d := range dims {
		bound := 1 / math.Sqrt(float64(d))
		as := make([]float32, clusters*d)
		uniformFill(r, as, bound)
		cs := make([]float32, clusters)
		uniformFill(r, cs, bound)
		a, c = append(a, as), append(c, cs)
	}
	return a, c
}

// batchDrawer draws the batch of each outer iteration; it keeps one
// scratch permutation so a draw allocates nothing but its result.
type batchDrawer struct {
	seed int64
	n, b int
	perm []int32
}

func newBatchDrawer(seed int64, n, b int) *batchDrawer {
	return &batchDrawer{seed: seed, n: n, b: b, perm: make([]int32, n)}
}

// rows returns the batch of iteration t (0-based) into out (len b): b
// distinct rows of [0, n) in the order drawn.
func (d *batchDrawer) rows(t int, out []int32) {
	r := newRNG(d.seed, streamBatch+uint64(t))
	for i := range d.perm {
		d.perm[i] = int32(i)
	}
	for i := range d.b {
		j := i + r.IntN(d.n-i)
		d.perm[i], d.perm[j] = d.perm[j], d.perm[i]
	}
	copy(out, d.perm[:d.b])
}
