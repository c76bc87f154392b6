package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// hostForward is an independent float64 implementation of the heads
// (docs/TEMI.md section 3) on the trainer's parameter layout: logits [H, R, K].
func hostForward(a arch, p [][]float32, x matrix) []float64 {
	H, R, K := a.Heads, x.Rows, a.Clusters
	out := make([]float64, H*R*K)
	out0 := len(p[1]) / H
	for h := range H {
		for r := range R {
			cur := make([]float64, out0)
			for f := range out0 {
				s := float64(p[1][h*out0+f])
				for d := range a.D {
					s += float64(x.Data[r*a.D+d]) * float64(p[0][(h*out0+f)*a.D+d])
				}
				cur[f] = s
			}
			i := 2
			for l := 1; l < a.Layers; l++ {
				for j := range cur {
					cur[j] = cur[j] / 2 * (1 + math.Erf(cur[j]/math.Sqrt2))
				}
				w, b := p[i], p[i+1]
				in, outDim := len(cur), len(b)/H
				next := make([]float64, outDim)
				for o := range outDim {
					s := float64(b[h*outDim+o])
					for j := range in {
						s += cur[j] * float64(w[h*in*outDim+j*outDim+o])
					}
					next[o] = s
				}
				cur = next
				i += 2
			}
			var n float64
			for _, v := range cur {
				n += v * v
			}
			n = math.Max(math.Sqrt(n), 1e-12)
			v, g := p[i], p[i+1]
			bn := len(cur)
			for k := range K {
				var vn, dot float64
				for j := range bn {
					vk := float64(v[(h*K+k)*bn+j])
					vn += vk * vk
					dot += vk * cur[j] / n
				}
				out[(h*R+r)*K+k] = float64(g[h*K+k]) / math.Sqrt(vn) * dot
			}
		}
	}
	return out
}

func TestForwardMatchesHost(t *testing.T) {
	be := openBackend(t, "go")
	for _, a := range []arch{smallArch(), {D: 9, Heads: 2, Clusters: 4, Layers: 1, Hidden: 5, Bottle: 6}, {D: 8, Heads: 2, Clusters: 3, Layers: 2, Hidden: 6, Bottle: 5}} {
		specs := a.params()
		p := initParams(specs, 3)
		// Non-trivial biases and g, which start at 0 and 1.
		rng := rand.New(rand.NewPCG(4, 4))
		for i, s := range specs {
			if s.Init == "zero" || s.Init == "one" {
				for j := range p[i] {
					p[i][j] += float32(0.1 * rng.NormFloat64())
				}
			}
		}
		x := randomMatrix(5, 6, a.D)
		P := len(specs)
		e, err := graph.NewExec(be, func(in []*graph.Node) *graph.Node { return a.forward(in[:P], in[P]) })
		if err != nil {
			t.Fatal(err)
		}
		var args []any
		for i, s := range specs {
			args = append(args, tensors.FromFlatDataAndDimensions(p[i], s.Shape...))
		}
		args = append(args, tensors.FromFlatDataAndDimensions(x.Data, x.Rows, x.Cols))
		got := callFlat(t, e, args...)[0]
		want64 := hostForward(a, p, x)
		want := make([]float32, len(want64))
		for i, v := range want64 {
			want[i] = float32(v)
		}
		if d := maxRelDiff(got, want); d > 1e-5 {
			t.Errorf("arch %+v: logits differ from the host reference by %.2g (relative)", a, d)
		}
	}
}

func TestInitParams(t *testing.T) {
	a := arch{D: 64, Heads: 4, Clusters: 10, Layers: 2, Hidden: 128, Bottle: 256}
	specs := a.params()
	p := initParams(specs, 1)
	for i, s := range specs {
		var sum, sq, lo, hi float64
		for _, v := range p[i] {
			sum += float64(v)
			sq += float64(v) * float64(v)
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
		n := float64(len(p[i]))
		mean, std := sum/n, math.Sqrt(sq/n-(sum/n)*(sum/n))
		switch s.Init {
		case "trunc":
			if math.Abs(mean) > 1e-3 || math.Abs(std-0.02) > 1e-3 {
				t.Errorf("%s: mean %.4g std %.4g, want 0 and 0.02", s.Name, mean, std)
			}
		case "uniformV":
			bound := 1 / math.Sqrt(256)
			if lo < -bound || hi > bound || math.Abs(std-bound/math.Sqrt(3)) > 2e-3 {
				t.Errorf("%s: range [%.4g, %.4g] std %.4g, want U(-%.4g, %.4g)", s.Name, lo, hi, std, bound, bound)
			}
		case "zero":
			if lo != 0 || hi != 0 {
				t.Errorf("%s not zero", s.Name)
			}
		case "one":
			if mean != 1 || std != 0 {
				t.Errorf("%s not one", s.Name)
			}
		}
	}
	// Truncation itself: bounds at +-1 std must hold.
	v := make([]float32, 10000)
	truncNormal(rand.New(rand.NewPCG(1, 1)), v, 0, 1, -1, 1)
	for _, x := range v {
		if x < -1 || x > 1 {
			t.Fatalf("truncated normal value %v outside [-1, 1]", x)
		}
	}
	// Same seed, same weights; another seed, other weights.
	if q := initParams(specs, 1); q[0][7] != p[0][7] {
		t.Error("initParams is not deterministic")
	}
	if q := initParams(specs, 2); q[0][7] == p[0][7] {
		t.Error("initParams ignores the seed")
	}
}

// TestGradientMatchesFiniteDifferences checks the graph's gradient of the
// mean loss against central differences of the loss along the gradient
// and along a random direction, for every parameter tensor.
func TestGradientMatchesFiniteDifferences(t *testing.T) {
	be := openBackend(t, "go")
	a := smallArch()
	gl := pmiLoss{}
	opts := resolvedOptions(t, gl, nil)
	sb, sv := newTestStep(t, a, gl, opts)
	h := freshHost(sb.specs, sv, 7)
	perturb(h, 8, 0.05)
	x := randomMatrix(9, 16, a.D)
	e := gradExec(t, be, sb)
	meanLoss := func(h *hostState) float64 {
		out := callFlat(t, e, gradArgs(sb, h, x, 0.1)...)
		var m float64
		for _, l := range out[0] {
			m += float64(l)
		}
		return m / float64(len(out[0]))
	}
	base := callFlat(t, e, gradArgs(sb, h, x, 0.1)...)
	grads := base[1+sb.numState():]
	rng := rand.New(rand.NewPCG(10, 10))
	const eps = 1e-2
	for i, s := range sb.specs {
		g := grads[i]
		var gn float64
		for _, v := range g {
			gn += float64(v) * float64(v)
		}
		gn = math.Sqrt(gn)
		if gn == 0 {
			t.Errorf("%s: zero gradient", s.Name)
			continue
		}
		random := make([]float64, len(g))
		var rn float64
		for j := range random {
			random[j] = rng.NormFloat64()
			rn += random[j] * random[j]
		}
		for dirName, dir := range map[string]func(j int) float64{
			"gradient": func(j int) float64 { return float64(g[j]) / gn },
			"random":   func(j int) float64 { return random[j] / math.Sqrt(rn) },
		} {
			var analytic float64
			plus, minus := clone2(h.Student), clone2(h.Student)
			for j := range g {
				analytic += float64(g[j]) * dir(j)
				plus[i][j] += float32(eps * dir(j))
				minus[i][j] -= float32(eps * dir(j))
			}
			hp, hm := *h, *h
			hp.Student, hm.Student = plus, minus
			fd := (meanLoss(&hp) - meanLoss(&hm)) / (2 * eps)
			if diff := math.Abs(fd - analytic); diff > 0.03*math.Abs(analytic)+0.005*gn+3e-5 {
				t.Errorf("%s along the %s: finite difference %.6g, gradient %.6g (|grad| %.3g)", s.Name, dirName, fd, analytic, gn)
			}
		}
	}
}

// hostAdamW is torch.optim.AdamW's update of one tensor at step t, in
// float64, written out by hand.
func hostAdamW(p, g, m, v []float32, lr, wd float64, t int, decay bool) (np, nm, nv []float32) {
	np, nm, nv = make([]float32, len(p)), make([]float32, len(p)), make([]float32, len(p))
	bc1 := 1 - math.Pow(0.9, float64(t))
	bc2 := 1 - math.Pow(0.999, float64(t))
	for j := range p {
		pj := float64(p[j])
		if decay {
			pj *= 1 - lr*wd
		}
		mj := 0.9*float64(m[j]) + 0.1*float64(g[j])
		vj := 0.999*float64(v[j]) + 0.001*float64(g[j])*float64(g[j])
		pj -= lr / bc1 * mj / (math.Sqrt(vj)/math.Sqrt(bc2) + 1e-8)
		np[j], nm[j], nv[j] = float32(pj), float32(mj), float32(vj)
	}
	return
}

// stepFixture is a deviceRun on random data with hand-made schedules.
type stepFixture struct {
	sb    *stepBuilder
	gradE *graph.Exec
	run   *deviceRun
	data  matrix
	rows  [][]int32
	sched schedules
}

func newStepFixture(t *testing.T, spec string, a arch, sched schedules, wd float64) *stepFixture {
	t.Helper()
	be := openBackend(t, spec)
	gl := pmiLoss{}
	opts := resolvedOptions(t, gl, core.Options{OptWeightDecay: wd})
	sb, sv := newTestStep(t, a, gl, opts)
	h := freshHost(sb.specs, sv, 11)
	perturb(h, 12, 0.03)
	data := randomMatrix(13, 40, a.D)
	run, err := newDeviceRun(be, sb, h, data, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.close)
	rng := rand.New(rand.NewPCG(14, 14))
	f := &stepFixture{sb: sb, gradE: gradExec(t, be, sb), run: run, data: data, sched: sched}
	for range len(sched.LR) {
		rows := make([]int32, 16)
		for j := range rows {
			rows[j] = int32(rng.IntN(data.Rows))
		}
		f.rows = append(f.rows, rows)
	}
	return f
}

func (f *stepFixture) host(t *testing.T) *hostState {
	h, err := f.run.toHost()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// grads returns the per-head losses, new loss state and gradients at h for
// the rows of step it.
func (f *stepFixture) grads(t *testing.T, h *hostState, it int) (perHead []float32, state, grads [][]float32) {
	temp := float32(f.sched.TeacherTemp[it/f.sched.ItersPerEpoch])
	out := callFlat(t, f.gradE, gradArgs(f.sb, h, gatherRows(f.data, f.rows[it]), temp)...)
	S := f.sb.numState()
	return out[0], out[1 : 1+S], out[1+S:]
}

// TestAdamWAndEMA runs two steps and checks every output against AdamW
// and the EMA computed by hand on the host from the graph's gradients.
func TestAdamWAndEMA(t *testing.T) {
	sched := schedules{LR: []float64{0.01, 0.02}, WD: []float64{0.1, 0.3}, Momentum: []float64{0.9, 0.8},
		TeacherTemp: []float64{0.07}, ItersPerEpoch: 2}
	f := newStepFixture(t, "go", smallArch(), sched, 0.1)
	for it := range 2 {
		before := f.host(t)
		wantLoss, wantState, g := f.grads(t, before, it)
		gotLoss, err := f.run.step(f.rows[it], sched.stepScalars(it))
		if err != nil {
			t.Fatal(err)
		}
		after := f.host(t)
		if d := maxRelDiff(gotLoss, wantLoss); d > 1e-6 {
			t.Errorf("step %d: per-head losses %v, want %v", it+1, gotLoss, wantLoss)
		}
		if d := maxRelDiff(after.Loss[0], wantState[0]); d > 1e-6 {
			t.Errorf("step %d: loss state differs by %.2g", it+1, d)
		}
		mom := sched.Momentum[it]
		for i, s := range f.sb.specs {
			p, m, v := hostAdamW(before.Student[i], g[i], before.M[i], before.V[i], sched.LR[it], sched.WD[it], it+1, s.Decay)
			for name, c := range map[string][2][]float32{"param": {after.Student[i], p}, "m": {after.M[i], m}, "v": {after.V[i], v}} {
				if d := maxRelDiff(c[0], c[1]); d > 2e-6 {
					t.Errorf("step %d %s %s: differs from hand-computed AdamW by %.2g", it+1, s.Name, name, d)
				}
			}
			ema := make([]float32, len(p))
			for j := range ema {
				ema[j] = float32(mom*float64(before.Teacher[i][j]) + (1-mom)*float64(after.Student[i][j]))
			}
			if d := maxRelDiff(after.Teacher[i], ema); d > 1e-6 {
				t.Errorf("step %d %s: teacher differs from m*teacher + (1-m)*student by %.2g", it+1, s.Name, d)
			}
			if s.Decay && it == 0 && maxRelDiff(after.Student[i], before.Student[i]) == 0 {
				t.Errorf("%s did not move", s.Name)
			}
		}
	}
}

// TestFrozenLastLayer: with freeze_last_layer = 1 epoch of 2 steps, V, g
// and their moments stay exactly unchanged for two steps; at step 3 they
// take their first AdamW step (bias correction of step 1).
func TestFrozenLastLayer(t *testing.T) {
	c := config{Epochs: 2, BatchSize: 8, LR: 0.5, MinLR: 0.5, WeightDecay: 0.1, WeightDecayEnd: 0.1,
		MomentumTeacher: 0.9, MaxMomentumTeacher: 0.9, FreezeLastLayer: 1, WarmupTeachTemp: 0.1, TeacherTemp: 0.1}
	sched := newSchedules(c, 2)
	if sched.FrozenIters != 2 {
		t.Fatalf("FrozenIters %d, want 2", sched.FrozenIters)
	}
	f := newStepFixture(t, "go", smallArch(), sched, 0.1)
	start := f.host(t)
	for it := range 3 {
		before := f.host(t)
		_, _, g := f.grads(t, before, it)
		if _, err := f.run.step(f.rows[it], sched.stepScalars(it)); err != nil {
			t.Fatal(err)
		}
		after := f.host(t)
		for i, s := range f.sb.specs {
			changed := maxRelDiff(after.Student[i], start.Student[i]) > 0
			if !s.Last {
				if !changed {
					t.Errorf("step %d: %s never moved", it+1, s.Name)
				}
				continue
			}
			if it < 2 {
				if changed || maxRelDiff(after.M[i], start.M[i]) != 0 || maxRelDiff(after.V[i], start.V[i]) != 0 {
					t.Errorf("step %d (frozen epoch): %s or its moments changed", it+1, s.Name)
				}
				continue
			}
			p, m, v := hostAdamW(before.Student[i], g[i], before.M[i], before.V[i], sched.LR[it], sched.WD[it], 1, s.Decay)
			if !changed {
				t.Errorf("step 3: %s still frozen", s.Name)
			}
			for name, c := range map[string][2][]float32{"param": {after.Student[i], p}, "m": {after.M[i], m}, "v": {after.V[i], v}} {
				if d := maxRelDiff(c[0], c[1]); d > 2e-6 {
					t.Errorf("step 3 %s %s: differs from its first AdamW step by %.2g", s.Name, name, d)
				}
			}
		}
	}
}

// TestBackwardMatchesAutodiff: the hand-written backward pass of the heads
// equals GoMLX's automatic gradient of the same loss, on every backend of
// the build.
func TestBackwardMatchesAutodiff(t *testing.T) {
	specsToTest := []string{"go"}
	if onnxTagged {
		specsToTest = append(specsToTest, "onnx")
	}
	for _, spec := range specsToTest {
		be := openBackend(t, spec)
		for _, a := range []arch{smallArch(), {D: 9, Heads: 2, Clusters: 4, Layers: 1, Hidden: 5, Bottle: 6}, {D: 8, Heads: 2, Clusters: 3, Layers: 2, Hidden: 6, Bottle: 5}} {
			gl := pmiLoss{}
			opts := resolvedOptions(t, gl, nil)
			sb, sv := newTestStep(t, a, gl, opts)
			h := freshHost(sb.specs, sv, 41)
			perturb(h, 42, 0.05)
			x := randomMatrix(43, 10, a.D)
			P, S := sb.numParams(), sb.numState()
			auto, err := graph.NewExec(be, func(in []*graph.Node) []*graph.Node {
				student := in[:P]
				logits := a.forward(student, in[2*P+S])
				perHead, _ := sb.loss.Loss(LossInputs{Student: logits,
					Teacher:     graph.StopGradient(a.forward(in[P:2*P], in[2*P+S])),
					StudentTemp: graph.Scalar(logits.Graph(), floatDType, 0.1), TeacherTemp: in[2*P+S+1], State: in[2*P : 2*P+S]})
				return graph.Gradient(graph.ReduceAllMean(perHead), student...)
			})
			if err != nil {
				t.Fatal(err)
			}
			want := callFlat(t, auto, gradArgs(sb, h, x, 0.07)...)
			got := callFlat(t, gradExec(t, be, sb), gradArgs(sb, h, x, 0.07)...)[1+S:]
			for i, s := range sb.specs {
				if d := maxRelDiff(got[i], want[i]); d > 1e-5 {
					t.Errorf("%s, %d layers: gradient of %s differs from autodiff by %.2g", spec, a.Layers, s.Name, d)
				}
			}
		}
	}
}

// TestDonatedStep: donating the state's buffers (what the trainer does on
// xla) gives the same steps as releasing them afterwards. Donation only
// applies to the in-graph optimizer (the host optimizer updates its
// buffers in place), so the test runs that path.
func TestDonatedStep(t *testing.T) {
	defer func(old bool) { graphOptimizerOnly = old }(graphOptimizerOnly)
	graphOptimizerOnly = true
	be := openBackend(t, "go")
	a := smallArch()
	gl := pmiLoss{}
	sb, sv := newTestStep(t, a, gl, resolvedOptions(t, gl, nil))
	h := freshHost(sb.specs, sv, 51)
	data := randomMatrix(52, 30, a.D)
	sched := schedules{LR: []float64{0.01, 0.01, 0.01}, WD: []float64{0.1, 0.1, 0.1}, Momentum: []float64{0.9, 0.9, 0.9},
		TeacherTemp: []float64{0.1}, ItersPerEpoch: 3, FrozenIters: 1}
	var states [2]*hostState
	for i, donate := range []bool{false, true} {
		r, err := newDeviceRun(be, sb, h, data, donate)
		if err != nil {
			t.Fatal(err)
		}
		if r.donate != donate {
			t.Fatalf("donate %v, asked for %v", r.donate, donate)
		}
		for it := range 3 {
			rows := make([]int32, 12)
			for j := range rows {
				rows[j] = int32((j*7 + it) % data.Rows)
			}
			if _, err := r.step(rows, sched.stepScalars(it)); err != nil {
				t.Fatal(err)
			}
		}
		if states[i], err = r.toHost(); err != nil {
			t.Fatal(err)
		}
		r.close()
	}
	for i, s := range sb.specs {
		if maxRelDiff(states[1].Student[i], states[0].Student[i]) != 0 || maxRelDiff(states[1].Teacher[i], states[0].Teacher[i]) != 0 {
			t.Errorf("%s differs with donated buffers", s.Name)
		}
	}
}

// TestW0DrawnInVersion2Order: w0 is stored [H*hidden, D] but drawn in the
// [D, H*hidden] order of trainer version 2, so a seed keeps its run.
func TestW0DrawnInVersion2Order(t *testing.T) {
	const rows, cols = 6, 5
	got := initParams([]paramSpec{{Name: "w0", Shape: []int{rows, cols}, Init: "trunc", DrawTransposed: true}}, 7)[0]
	old := initParams([]paramSpec{{Name: "w0", Shape: []int{cols, rows}, Init: "trunc"}}, 7)[0]
	for r := range rows {
		for c := range cols {
			if got[r*cols+c] != old[c*rows+r] {
				t.Fatalf("w0[%d][%d] = %v, want the version-2 draw %v", r, c, got[r*cols+c], old[c*rows+r])
			}
		}
	}
}
