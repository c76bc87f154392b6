package train

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
)

// The host optimizer: on backends whose buffers are host memory shared
// with Go (onnx and go on the CPU), the step graph stops at the gradients
// and AdamW, the weight decay, the frozen-last-layer mask and the teacher
// EMA run here, in one pass per parameter that reads p, g, m, v and t once
// and writes p, m, v and t once, split over GOMAXPROCS goroutines. In the
// graph the same update is about sixteen elementwise kernels, each a full
// pass over every parameter (on the MNIST recipe a third of the step's
// time went to the passes over w0 alone). Backends without shared buffers
// (a GPU) keep the update in the graph (stepBuilder.build).
//
// fusedAdamW performs the graph's float32 operations one by one, in the
// graph's order, each rounded to float32 (the explicit conversions also
// keep the compiler from fusing a product and a sum into one FMA): the
// two paths agree to the last bit where the backend rounds each
// elementwise op in float32, as ONNX Runtime's and the go backend's
// kernels do (TestHostOptimizerMatchesGraph).

// optCoef are the float32 coefficients of one parameter's update in one
// step, as the graph forms them from the step's scalars.
type optCoef struct {
	decay          float32 // 1 - lr*wd, or 1 for a parameter without decay (x*1 == x exactly)
	b1, omb1       float32 // beta1, 1 - beta1
	b2, omb2       float32 // beta2, 1 - beta2
	epsBC2         float32 // eps * sqrt(1 - beta2^n)
	stepBC2        float32 // lr/(1 - beta1^n) * sqrt(1 - beta2^n)
	mom, oneMinusM float32 // teacher EMA
	update         bool    // false: the parameter is frozen (only the EMA runs)
}

// coefFor returns the coefficients of spec's update from the step's
// scalars (see stepScalars), with the graph's float32 constants.
func coefFor(spec paramSpec, sc []float32) optCoef {
	stepSize, bc2 := sc[scStepBody], sc[scBC2Body]
	update := true
	if spec.Last {
		stepSize, bc2 = sc[scStepLast], sc[scBC2Last]
		update = sc[scUpdateLast] > 0.5
	}
	// The constants go through float64, as graph.Scalar takes them.
	c := optCoef{
		decay: 1,
		b1:    f32(adamBeta1), omb1: f32(1 - adamBeta1),
		b2: f32(adamBeta2), omb2: f32(1 - adamBeta2),
		epsBC2:  float32(f32(adamEps) * bc2),
		stepBC2: float32(stepSize * bc2),
		mom:     sc[scMomentum], oneMinusM: sc[scOneMinusM],
		update: update,
	}
	if spec.Decay {
		c.decay = sc[scDecay]
	}
	return c
}

func f32(x float64) float32 { return float32(x) }

// fusedAdamW updates p, m, v (AdamW) and t (the teacher EMA on the new p)
// in place from the gradient g; all five have the same length.
func fusedAdamW(p, g, m, v, t []float32, c optCoef) {
	n := len(p)
	p, g, m, v, t = p[:n], g[:n], m[:n], v[:n], t[:n]
	if !c.update {
		for j := range n {
			t[j] = float32(t[j]*c.mom) + float32(c.oneMinusM*p[j])
		}
		return
	}
	for j := range n {
		gj := g[j]
		// Graph: p*decay; m*b1 + g*(1-b1); v*b2 + (g*g)*(1-b2);
		// sqrt(v) + eps*bc2; p - (m/denom)*(step*bc2); t*mom + (1-mom)*p.
		pj := float32(p[j] * c.decay)
		mj := float32(m[j]*c.b1) + float32(gj*c.omb1)
		vj := float32(v[j]*c.b2) + float32(float32(gj*gj)*c.omb2)
		den := float32(math.Sqrt(float64(vj))) + c.epsBC2
		pj -= float32(float32(mj/den) * c.stepBC2)
		p[j], m[j], v[j] = pj, mj, vj
		t[j] = float32(t[j]*c.mom) + float32(c.oneMinusM*pj)
	}
}

// optChunk is the number of elements one goroutine updates at a time:
// large enough to amortise the hand-out, small enough to balance two
// cores over the parameters of the step.
const optChunk = 1 << 15

// optTask is one parameter's update: the slices fusedAdamW takes.
type optTask struct {
	p, g, m, v, t []float32
	c             optCoef
}

// runOptimizer applies every task, the large ones split into chunks that
// GOMAXPROCS goroutines take in turn (small runs stay on this goroutine).
func runOptimizer(tasks []optTask) {
	type chunk struct{ task, lo, hi int }
	var chunks []chunk
	total := 0
	for i, tk := range tasks {
		n := len(tk.p)
		total += n
		for lo := 0; lo < n; lo += optChunk {
			chunks = append(chunks, chunk{i, lo, min(lo+optChunk, n)})
		}
	}
	do := func(ch chunk) {
		tk := tasks[ch.task]
		lo, hi := ch.lo, ch.hi
		fusedAdamW(tk.p[lo:hi], tk.g[lo:hi], tk.m[lo:hi], tk.v[lo:hi], tk.t[lo:hi], tk.c)
	}
	workers := min(runtime.GOMAXPROCS(0), len(chunks))
	if workers <= 1 || total < 4*optChunk {
		for _, ch := range chunks {
			do(ch)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(chunks) {
				return
			}
			do(chunks[i])
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}
