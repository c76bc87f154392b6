// Package trainbench is benchmark support for the shared trainer
// (core/train): it times the training step and whole training epochs of a
// train.GraphLoss on a backend, running the very code a Fit runs per step
// (the same graph, state handling and host-side scalars) on random
// embeddings and random neighbours. The loss plugins' BenchmarkTrainStep
// and BenchmarkTrainEpoch (losses/losstest) and the scripts of
// bench/ use it; a loss author or the runner never needs it.
package trainbench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/internal/stephook"
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
	// CPU time (user + system) of the whole process, all threads (0 where
	// the system will not say).
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
	// OSThreads is the number of threads of the process after the steps
	// (0 without /proc/self/task).
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
// core/train/trainbench and of each loss plugin run; it runs the very code
// a Fit runs per step (the same graph, state handling and host-side
// scalars), on random embeddings and random neighbours.
type StepBench struct {
	backend   string
	run       stephook.Run
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
func NewStepBench(ctx context.Context, gl train.GraphLoss, backendSpec string, cfg StepBenchConfig) (*StepBench, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r, err := stephook.NewRun(gl, backendSpec, cfg.sizes(), cfg.Seed, cfg.Options)
	if err != nil {
		return nil, err
	}
	s := &StepBench{backend: r.Backend(), run: r, rows: r.EpochRows(0)}
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

// sizes are the sizes of the step for core/train.
func (cfg StepBenchConfig) sizes() stephook.Sizes {
	return stephook.Sizes{D: cfg.D, Heads: cfg.Heads, Clusters: cfg.Clusters, Batch: cfg.Batch,
		Layers: cfg.Layers, Hidden: cfg.Hidden, Bottleneck: cfg.Bottleneck, Rows: cfg.Rows}
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
	it := s.it % s.run.Iters()
	perHead, err := s.run.Step(it, rows)
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
func (s *StepBench) Close() { s.run.Close() }

// TimeSteps compiles the training step of gl at the sizes of cfg on the
// backend backendSpec, runs cfg.Warmup untimed steps, then times cfg.Steps
// steps: the figure to compare with one step of a PyTorch implementation
// (bench/temi_step_torch.py for TEMI).
func TimeSteps(ctx context.Context, gl train.GraphLoss, backendSpec string, cfg StepBenchConfig) (StepTiming, error) {
	s, err := NewStepBench(ctx, gl, backendSpec, cfg)
	if err != nil {
		return StepTiming{}, err
	}
	defer s.Close()
	return s.Run(ctx, cfg.Steps)
}

// WriteStepONNX writes the ONNX model of the training step of gl at the
// sizes of cfg, exactly as the onnx backend compiles it for Fit (rows
// gathered on the host: inputs student[P], teacher[P], adam_m[P],
// adam_v[P], loss state[S], batch [2B, D], scalars [9]), to path: for
// profiling it with ONNX Runtime's own profiler (bench/ortprofile). It
// needs the onnx backend: in a build without the onnx tag it fails.
func WriteStepONNX(gl train.GraphLoss, cfg StepBenchConfig, path string) error {
	if err := cfg.check(); err != nil {
		return err
	}
	if stephook.WriteStepONNX == nil {
		return fmt.Errorf("writing the step's ONNX model needs the onnx backend: build with -tags onnx")
	}
	return stephook.WriteStepONNX(gl, cfg.sizes(), cfg.Options, path)
}
