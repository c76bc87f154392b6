package train

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
)

// StepBenchConfig sizes a timing run of the training step (see
// NewStepBench). DefaultStepBenchConfig gives the sizes of the project's
// performance target.
type StepBenchConfig struct {
	D        int // embedding dimension
	Heads    int // H
	Clusters int // K
	Batch    int // B pairs per step (2B rows through student and teacher)
	Layers   int // nlayers: linear layers before the last one
	// Hidden and Bottleneck are the widths of the hidden layers and of the
	// L2-normalised bottleneck.
	Hidden, Bottleneck int
	// Rows is the number of random train embeddings on the device; the
	// step gathers its 2B rows from them, as in training.
	Rows int
	// Warmup untimed steps run in NewStepBench (the first one compiles;
	// the next fill the backend's buffer pools and arenas; with none, the
	// first timed step includes the compilation); Steps is the number of
	// timed steps of TimeSteps.
	Warmup, Steps int
	// Seed draws the weights, the embeddings and the pairs.
	Seed int64
	// Options overrides the trainer's and the loss's options (for
	// example the loss's beta). The sizes above win over the matching
	// trainer options.
	Options core.Options
}

// DefaultStepBenchConfig is the step of the performance target: D=784
// (MNIST pixels), H=16, K=10, B=256, two layers of 512 and a bottleneck of
// 256, 6 warm-up steps and 20 timed ones.
func DefaultStepBenchConfig() StepBenchConfig {
	return StepBenchConfig{D: 784, Heads: 16, Clusters: 10, Batch: 256, Layers: 2, Hidden: 512, Bottleneck: 256,
		Rows: 4096, Warmup: 6, Steps: 20, Seed: 1}
}

// StepTiming is the measured cost of the timed steps.
type StepTiming struct {
	Backend string // resolved backend, e.g. "onnx:cpu"
	Steps   int
	// WallMS and CPUMS are milliseconds per step: wall-clock time, and the
	// CPU time (user + system) of the whole process, all threads.
	WallMS, CPUMS float64
	// FirstStep is the time of the first step, graph compilation included.
	FirstStep time.Duration
	// BusyThreads is the number of the process's threads that were on a
	// CPU for at least a tenth of the timed wall time: the threads that
	// did the work, whatever the backend's thread pool holds. -1 where
	// /proc/self/task cannot be read (not Linux).
	BusyThreads int
	// ThreadLoad is the CPU time over the wall time of each thread above
	// 1%, largest first (1.0 = one thread busy all the time).
	ThreadLoad []float64
	// Runnable is the mean number of the process's threads that were
	// running or waiting for a CPU (state R), sampled every 20 ms during
	// the steps (the sampling thread excluded): how many threads want a
	// CPU at once. Unlike ThreadLoad it is not split when the Go runtime
	// moves the stepping goroutine between OS threads, and not capped by
	// other jobs on the machine. MaxRunnable is the largest sample.
	// Both are 0 without /proc/self/task or with no sample.
	Runnable    float64
	MaxRunnable int
	// OSThreads is the number of threads of the process after the steps.
	OSThreads int
	// LastLoss is the mean over heads of the last step's loss.
	LastLoss float64
}

// Report passes the per-step figures to report, e.g. testing.B's
// ReportMetric: ms/step, cpu-ms/step, and busy-threads and
// runnable-threads where /proc/self/task is readable.
func (t StepTiming) Report(report func(value float64, unit string)) {
	report(t.WallMS, "ms/step")
	report(t.CPUMS, "cpu-ms/step")
	if t.BusyThreads >= 0 {
		report(float64(t.BusyThreads), "busy-threads")
		report(t.Runnable, "runnable-threads")
	}
}

// StepBench holds one compiled training step of a GraphLoss with its state
// on a backend, ready to be timed. It is what BenchmarkTrainStep of
// core/train and of each loss plugin run; it runs the very code a Fit runs
// per step (the same graph, state handling and host-side scalars), on
// random embeddings and random neighbours.
type StepBench struct {
	backend   string
	run       *deviceRun
	sched     schedules
	rows      [][]int32
	it        int // next global iteration
	firstStep time.Duration
	lastLoss  float64
}

// NewStepBench builds the training step of gl at the sizes of cfg on the
// backend named by backendSpec (see backend.Open), compiles it and runs
// cfg.Warmup untimed steps. The schedules are those of a run without
// warm-up or frozen last layer (constant lr, weight decay and teacher
// momentum), unless cfg.Options says otherwise, so that every step does
// the full update. Close releases it.
func NewStepBench(ctx context.Context, gl GraphLoss, backendSpec string, cfg StepBenchConfig) (*StepBench, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r, err := newBenchRun(gl, backendSpec, benchSizes{D: cfg.D, Heads: cfg.Heads, Clusters: cfg.Clusters, Batch: cfg.Batch,
		Layers: cfg.Layers, Hidden: cfg.Hidden, Bottleneck: cfg.Bottleneck, Rows: cfg.Rows}, cfg.Seed, cfg.Options)
	if err != nil {
		return nil, err
	}
	s := &StepBench{backend: r.backend, run: r.run, sched: r.sched, rows: epochRows(cfg.Seed, 0, r.nb, r.knn, cfg.Batch)}
	for i := range cfg.Warmup {
		if err := ctx.Err(); err != nil {
			s.Close()
			return nil, fmt.Errorf("step benchmark stopped during warm-up: %w", err)
		}
		start := time.Now()
		if err := s.Step(); err != nil {
			s.Close()
			return nil, err
		}
		if i == 0 {
			s.firstStep = time.Since(start)
		}
	}
	return s, nil
}

// benchSizes are the sizes shared by the step and epoch benchmarks.
type benchSizes struct {
	D, Heads, Clusters, Batch, Layers, Hidden, Bottleneck, Rows int
}

// benchRun is a compiled training step with its state on a backend, random
// train embeddings on the device and a random k-NN table, set up exactly
// as Fit sets up a run.
type benchRun struct {
	backend string
	run     *deviceRun
	sched   schedules
	nb      neighbours
	knn     int // partners are drawn from the first knn neighbours
	cfg     config
}

// newBenchRun builds the training step of gl at the sizes sz on the
// backend backendSpec, with rows x D standard normal embeddings and a
// k-NN table of random rows (as many neighbours per row as the knn
// option, capped at the rows). The schedules are those of a run without
// warm-up or frozen last layer, unless options say otherwise; the sizes
// win over the matching trainer options.
func newBenchRun(gl GraphLoss, backendSpec string, sz benchSizes, seed int64, options core.Options) (*benchRun, error) {
	desc := gl.Describe()
	schema, err := mergeSchemas(TrainerOptions(), desc.Options, desc.Name)
	if err != nil {
		return nil, err
	}
	given := core.Options{OptWarmupEpochs: 0, OptFreezeLastLayer: 0}
	for k, v := range options {
		given[k] = v
	}
	for k, v := range map[string]int{OptHeads: sz.Heads, OptBatchSize: sz.Batch, OptNLayers: sz.Layers,
		OptHiddenDim: sz.Hidden, OptBottleneckDim: sz.Bottleneck} {
		given[k] = v
	}
	opts, err := core.ResolveOptions(schema, given)
	if err != nil {
		return nil, fmt.Errorf("benchmark of loss %q: %w", desc.Name, err)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("benchmark of loss %q: %w", desc.Name, err)
	}
	stateVars, err := gl.State(opts, sz.Heads, sz.Clusters)
	if err != nil {
		return nil, fmt.Errorf("loss %q state: %w", desc.Name, err)
	}
	stateShapes := make([][]int, len(stateVars))
	for i, s := range stateVars {
		stateShapes[i] = s.Shape
	}
	be, err := backend.Open(backendSpec)
	if err != nil {
		return nil, err
	}

	a := arch{D: sz.D, Heads: sz.Heads, Clusters: sz.Clusters, Layers: sz.Layers, Hidden: sz.Hidden, Bottle: sz.Bottleneck}
	specs := a.params()
	student := initParams(specs, seed)
	host := &hostState{Student: student, Teacher: student, M: zerosLike(specs), V: zerosLike(specs)}
	for _, s := range stateVars {
		host.Loss = append(host.Loss, s.Init)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xbe_c4))
	data := matrix{Data: make([]float32, sz.Rows*sz.D), Rows: sz.Rows, Cols: sz.D}
	for i := range data.Data {
		data.Data[i] = float32(rng.NormFloat64())
	}
	knn := min(c.KNN, sz.Rows)
	nb := neighbours{Idx: make([]int32, sz.Rows*knn), N: sz.Rows, K: knn}
	for i := range nb.Idx {
		nb.Idx[i] = int32(rng.IntN(sz.Rows))
	}

	sb := &stepBuilder{arch: a, specs: specs, loss: gl, opts: opts, stateShapes: stateShapes, studentTemp: c.StudentTemp}
	run, err := newDeviceRun(be.Backend, sb, host, data, strings.HasPrefix(be.Name, "xla"))
	if err != nil {
		return nil, err
	}
	ipe := sz.Rows / sz.Batch
	return &benchRun{backend: be.Name, run: run, sched: newSchedules(c, ipe), nb: nb, knn: knn, cfg: c}, nil
}

func (cfg StepBenchConfig) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"D", cfg.D}, {"Heads", cfg.Heads}, {"Clusters", cfg.Clusters}, {"Batch", cfg.Batch}, {"Layers", cfg.Layers},
		{"Hidden", cfg.Hidden}, {"Bottleneck", cfg.Bottleneck}, {"Rows", cfg.Rows}} {
		if f.v < 1 {
			return fmt.Errorf("step benchmark: %s = %d; want at least 1 (start from DefaultStepBenchConfig)", f.name, f.v)
		}
	}
	if cfg.Clusters < 2 {
		return fmt.Errorf("step benchmark: %d clusters; want at least 2", cfg.Clusters)
	}
	if cfg.Batch > cfg.Rows {
		return fmt.Errorf("step benchmark: batch %d exceeds the %d rows; raise Rows", cfg.Batch, cfg.Rows)
	}
	if cfg.Warmup < 0 || cfg.Steps < 0 {
		return fmt.Errorf("step benchmark: Warmup %d and Steps %d must not be negative", cfg.Warmup, cfg.Steps)
	}
	return nil
}

// Backend is the resolved name of the backend the step runs on.
func (s *StepBench) Backend() string { return s.backend }

// Step runs one training step, as Fit does, including reading back the
// per-head losses. It fails on a non-finite loss.
func (s *StepBench) Step() error {
	_, err := s.stepRows(s.rows[s.it%len(s.rows)])
	return err
}

// stepRows runs the next global iteration on the 2B rows of one batch and
// returns its per-head losses; it fails on a non-finite mean loss.
func (s *StepBench) stepRows(rows []int32) ([]float32, error) {
	it := s.it % len(s.sched.LR)
	perHead, err := s.run.step(rows, s.sched.stepScalars(it))
	if err != nil {
		return nil, err
	}
	s.it++
	mean := 0.0
	for _, l := range perHead {
		mean += float64(l)
	}
	mean /= float64(len(perHead))
	if math.IsNaN(mean) || math.IsInf(mean, 0) {
		return nil, fmt.Errorf("benchmark: loss is %v at step %d (per head %v)", mean, s.it, perHead)
	}
	s.lastLoss = mean
	return perHead, nil
}

// StepClock measures wall, process CPU and per-thread CPU time from
// StartClock to Stop, and samples how many threads are runnable.
type StepClock struct {
	s       *StepBench
	wall    time.Time
	cpu     time.Duration
	threads map[string]time.Duration // per thread id; nil without /proc
	stop    chan struct{}
	sampled chan runnableSamples
}

// runnableSamples sums the samples of the runnable-thread sampler.
type runnableSamples struct{ n, sum, max int }

// samplePeriod is the sampler's interval: about 50 reads of a few /proc
// files per second, well under 1% of a CPU.
const samplePeriod = 20 * time.Millisecond

// StartClock starts measuring. Use it around a loop of Step (as a
// benchmark with testing.B.Loop does), or call Run. Stop must follow.
func (s *StepBench) StartClock() *StepClock {
	th, _ := threadCPU()
	c := &StepClock{s: s, threads: th, stop: make(chan struct{}), sampled: make(chan runnableSamples, 1)}
	if th != nil {
		ready := make(chan struct{})
		go c.sample(ready)
		<-ready
	} else {
		c.sampled <- runnableSamples{}
	}
	c.wall, c.cpu = time.Now(), processCPU()
	return c
}

// sample counts the runnable threads other than its own every
// samplePeriod until c.stop closes.
func (c *StepClock) sample(ready chan<- struct{}) {
	runtime.LockOSThread() // so that its own thread can be left out
	defer runtime.UnlockOSThread()
	self := strconv.Itoa(syscall.Gettid())
	tick := time.NewTicker(samplePeriod)
	defer tick.Stop()
	close(ready)
	var r runnableSamples
	for {
		select {
		case <-c.stop:
			c.sampled <- r
			return
		case <-tick.C:
			n, err := runnableThreads(self)
			if err != nil {
				continue
			}
			r.n++
			r.sum += n
			r.max = max(r.max, n)
		}
	}
}

// Stop returns the timing of the steps run since StartClock and ends the
// sampler; call it once.
func (c *StepClock) Stop(steps int) StepTiming {
	wall := time.Since(c.wall)
	cpu := processCPU() - c.cpu
	close(c.stop)
	r := <-c.sampled
	t := StepTiming{Backend: c.s.backend, Steps: steps, FirstStep: c.s.firstStep, LastLoss: c.s.lastLoss, BusyThreads: -1,
		MaxRunnable: r.max}
	if r.n > 0 {
		t.Runnable = float64(r.sum) / float64(r.n)
	}
	if steps > 0 {
		t.WallMS = float64(wall.Microseconds()) / 1000 / float64(steps)
		t.CPUMS = float64(cpu.Microseconds()) / 1000 / float64(steps)
	}
	after, err := threadCPU()
	t.OSThreads = len(after)
	if err != nil || c.threads == nil || wall <= 0 {
		return t
	}
	t.BusyThreads = 0
	for id, end := range after {
		load := (end - c.threads[id]).Seconds() / wall.Seconds()
		if load >= 0.1 {
			t.BusyThreads++
		}
		if load >= 0.01 {
			t.ThreadLoad = append(t.ThreadLoad, load)
		}
	}
	slices.SortFunc(t.ThreadLoad, func(a, b float64) int { return compareFloat(b, a) })
	return t
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Run times steps training steps.
func (s *StepBench) Run(ctx context.Context, steps int) (StepTiming, error) {
	c := s.StartClock()
	for i := range steps {
		if err := ctx.Err(); err != nil {
			c.Stop(i)
			return StepTiming{}, fmt.Errorf("step benchmark stopped after %d of %d steps: %w", i, steps, err)
		}
		if err := s.Step(); err != nil {
			c.Stop(i)
			return StepTiming{}, err
		}
	}
	return c.Stop(steps), nil
}

// Close releases the step's state and compiled graph.
func (s *StepBench) Close() { s.run.close() }

// TimeSteps compiles the training step of gl at the sizes of cfg on the
// backend backendSpec, runs cfg.Warmup untimed steps, then times cfg.Steps
// steps: the figure to compare with one step of a PyTorch implementation
// (bench/temi_step_torch.py for TEMI).
func TimeSteps(ctx context.Context, gl GraphLoss, backendSpec string, cfg StepBenchConfig) (StepTiming, error) {
	s, err := NewStepBench(ctx, gl, backendSpec, cfg)
	if err != nil {
		return StepTiming{}, err
	}
	defer s.Close()
	return s.Run(ctx, cfg.Steps)
}

// processCPU is the user + system CPU time of this process (all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// taskStatFields returns the fields of /proc/self/task/<tid>/stat after
// "tid (comm)": comm may hold spaces and ')', so they are counted from the
// last ')'. f[0] is the state, f[11] utime and f[12] stime.
func taskStatFields(tid string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/self/task", tid, "stat"))
	if err != nil {
		return nil, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return nil, errors.New("unexpected format of /proc/self/task/*/stat")
	}
	return f, nil
}

// runnableThreads counts the threads of this process in state R (running
// or waiting for a CPU), except the thread self.
func runnableThreads(self string) (int, error) {
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range dirs {
		if d.Name() == self {
			continue
		}
		if f, err := taskStatFields(d.Name()); err == nil && f[0] == "R" {
			n++
		}
	}
	return n, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/task/<tid>/stat,
// fixed at 100 by the Linux ABI on every architecture Go supports.
const userHZ = 100

// threadCPU returns the CPU time (user + system) of every thread of this
// process, by thread id, from /proc/self/task. Its resolution is 10 ms.
func threadCPU() (map[string]time.Duration, error) {
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("per-thread CPU time: %w", err)
	}
	out := make(map[string]time.Duration, len(dirs))
	for _, d := range dirs {
		f, err := taskStatFields(d.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread has exited
		}
		if err != nil {
			return nil, fmt.Errorf("per-thread CPU time: %w", err)
		}
		ut, err1 := strconv.ParseInt(f[11], 10, 64)
		st, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, errors.New("per-thread CPU time: unexpected format of /proc/self/task/*/stat")
		}
		out[d.Name()] = time.Duration(ut+st) * time.Second / userHZ
	}
	return out, nil
}
