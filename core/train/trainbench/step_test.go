package trainbench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/train"
)

// tinyBenchConfig has the sizes of core/train's smallArch: pairwise
// distinct dimensions and three layers.
func tinyBenchConfig() StepBenchConfig {
	return StepBenchConfig{D: 12, Heads: 3, Clusters: 5, Batch: 8, Layers: 3, Hidden: 10,
		Bottleneck: 7, Rows: 40, Warmup: 2, Steps: 5, Seed: 3}
}

// TestTimeSteps runs the benchmark path on the go backend (and onnx when
// built with it): it must train (the loss moves), count its steps and
// report positive times.
func TestTimeSteps(t *testing.T) {
	for _, be := range []string{"go", "onnx"} {
		t.Run(be, func(t *testing.T) {
			if be == "onnx" {
				skipWithoutONNX(t)
			}
			cfg := tinyBenchConfig()
			cfg.Options = map[string]any{train.OptLR: 0.5}
			s, err := NewStepBench(t.Context(), pmiLoss{}, be, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !strings.HasPrefix(s.Backend(), be) {
				t.Errorf("backend %q, want %s", s.Backend(), be)
			}
			first := s.lastLoss
			tm, err := s.Run(t.Context(), cfg.Steps)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v (first loss %v)", tm, first)
			if tm.Steps != cfg.Steps || tm.WallMS <= 0 || tm.FirstStep <= 0 || tm.OSThreads < 1 {
				t.Errorf("timing %+v: want %d steps, positive times and threads", tm, cfg.Steps)
			}
			if tm.LastLoss == first {
				t.Errorf("loss %v unchanged after %d steps at lr 0.5: the steps do not train", first, cfg.Steps)
			}
			if s.it != cfg.Warmup+cfg.Steps {
				t.Errorf("ran %d steps, want %d warm-up + %d timed", s.it, cfg.Warmup, cfg.Steps)
			}
		})
	}
}

func TestStepBenchBadInput(t *testing.T) {
	cfg := tinyBenchConfig()
	cfg.Batch = cfg.Rows + 1
	if _, err := TimeSteps(t.Context(), pmiLoss{}, "go", cfg); err == nil || !strings.Contains(err.Error(), "Rows") {
		t.Errorf("batch above rows: error %v, want one naming Rows", err)
	}
	cfg = tinyBenchConfig()
	cfg.Hidden = 0
	if _, err := TimeSteps(t.Context(), pmiLoss{}, "go", cfg); err == nil || !strings.Contains(err.Error(), "Hidden") {
		t.Errorf("hidden 0: error %v, want one naming Hidden", err)
	}
	if _, err := TimeSteps(t.Context(), pmiLoss{}, "nosuch", tinyBenchConfig()); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Errorf("unknown backend: error %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := TimeSteps(ctx, pmiLoss{}, "go", tinyBenchConfig()); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Errorf("cancelled context: error %v, want context.Canceled", err)
	}
}

// TestClockCountsBusyThreads checks the per-thread accounting and the
// runnable-thread sampler with two threads that spin for 300 ms and one
// goroutine that sleeps.
func TestClockCountsBusyThreads(t *testing.T) {
	if _, err := threadCPU(); err != nil {
		t.Skipf("no per-thread CPU times here: %v", err)
	}
	// Spinning goroutines hold a P each: with GOMAXPROCS 2 the sampler
	// would take one of them off its thread (state S) to run. Threads
	// outside Go (ONNX Runtime's, or a goroutine in a cgo call) need no P.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	c := (&StepBench{backend: "test"}).StartClock()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			x := 0
			for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
				x++
			}
			_ = x
		})
	}
	wg.Go(func() { time.Sleep(300 * time.Millisecond) })
	wg.Wait()
	tm := c.Stop(1)
	// On a machine with at least two cores each spinner gets well over a
	// tenth of the wall time even under load; nothing else here is busy
	// for that long, bar the garbage collector.
	if runtime.NumCPU() >= 2 && (tm.BusyThreads < 2 || tm.BusyThreads > 3) {
		t.Errorf("busy threads %d (loads %v), want 2 spinning threads", tm.BusyThreads, tm.ThreadLoad)
	}
	// Spinning threads are in state R whether or not they hold a CPU.
	if tm.MaxRunnable < 2 || tm.Runnable < 1.5 {
		t.Errorf("runnable threads: mean %.2f, max %d; want about 2", tm.Runnable, tm.MaxRunnable)
	}
	if tm.CPUMS < 0.2*tm.WallMS*2 || tm.WallMS < 290 {
		t.Errorf("wall %.0f ms, CPU %.0f ms for two threads spinning 300 ms", tm.WallMS, tm.CPUMS)
	}
}

var benchBackend = flag.String("train.backend", "onnx", "backend of BenchmarkTrainStep (onnx, go, ...)")

// BenchmarkTrainStep times one TEMI-sized training step
// (DefaultStepBenchConfig: D=784, H=16, K=10, B=256, two layers of 512, a
// bottleneck of 256) with the TEMI-like test loss, after the untimed
// warm-up of NewStepBench. The real TEMI loss has the same benchmark in
// losses/temi; bench/temi_step_compare.sh compares it with PyTorch.
//
//	go test -tags onnx -run '^$' -bench TrainStep ./core/train/trainbench
func BenchmarkTrainStep(b *testing.B) {
	if strings.HasPrefix(*benchBackend, "onnx") {
		skipWithoutONNX(b)
	}
	s, err := NewStepBench(b.Context(), pmiLoss{}, *benchBackend, DefaultStepBenchConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := s.StartClock()
	for b.Loop() {
		if err := s.Step(); err != nil {
			b.Fatal(err)
		}
	}
	t := c.Stop(b.N)
	b.Logf("%s: compile + first step %v; thread loads %.2f of %d threads; at most %d runnable at once",
		t.Backend, t.FirstStep, t.ThreadLoad, t.OSThreads, t.MaxRunnable)
	t.Report(b.ReportMetric)
}

// TestWriteStepONNX writes the step's ONNX model at small sizes: a
// non-empty file with the onnx tag, an error naming the tag without it.
func TestWriteStepONNX(t *testing.T) {
	path := filepath.Join(t.TempDir(), "step.onnx")
	err := WriteStepONNX(pmiLoss{}, tinyBenchConfig(), path)
	if !onnxTagged {
		if err == nil || !strings.Contains(err.Error(), "-tags onnx") {
			t.Errorf("without the onnx tag: error %v, want one asking for -tags onnx", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("step model %s: %v, size %v", path, err, st)
	}
	bad := tinyBenchConfig()
	bad.Hidden = 0
	if err := WriteStepONNX(pmiLoss{}, bad, path); err == nil || !strings.Contains(err.Error(), "Hidden") {
		t.Errorf("hidden 0: error %v, want one naming Hidden", err)
	}
}
