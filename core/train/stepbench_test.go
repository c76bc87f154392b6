package train

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func tinyBenchConfig() StepBenchConfig {
	a := smallArch()
	return StepBenchConfig{D: a.D, Heads: a.Heads, Clusters: a.Clusters, Batch: 8, Layers: a.Layers, Hidden: a.Hidden,
		Bottleneck: a.Bottle, Rows: 40, Warmup: 2, Steps: 5, Seed: 3}
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
			cfg.Options = map[string]any{OptLR: 0.5}
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
