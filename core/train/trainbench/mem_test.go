package trainbench

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// memEpochConfig is a small epoch (20 steps) whose per-step buffers are
// large enough that keeping any of them per step would show: the state
// (student, teacher and both moments) is about 1.3 MiB, the batch 32 KiB.
func memEpochConfig() EpochBenchConfig {
	return EpochBenchConfig{D: 64, Heads: 4, Clusters: 10, Batch: 64, Layers: 2, Hidden: 128, Bottleneck: 64,
		Rows: 20 * 64, Warmup: 2, Seed: 5}
}

// rssBytes is the resident set size of this process (/proc/self/statm).
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm here (%v): cannot measure the resident set", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("/proc/self/statm: unexpected content %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatalf("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

// heapAfterGC is the Go heap in use after a full collection.
func heapAfterGC() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// TestEpochMemoryFlat runs 10 epochs as Fit runs them and checks that
// neither the Go heap (after GC) nor the process's resident set grows from
// epoch to epoch: every step's outputs, inputs and batch must be released
// or reused. The first epoch may grow (graph compilation, ONNX Runtime's
// arena and buffer pools); after it the figures may wobble (the go
// backend's buffer pools are emptied and refilled around collections), so
// the test compares the lowest of epochs 8-10 with the highest of epochs
// 2-4: a leak grows steadily across the 80 steps between them. Keeping one
// step's state per step would add about 100 MiB there, 64 KiB per step
// 5 MiB. The bounds: on onnx, whose Go heap does not move at all, 1 MiB of
// Go heap and 8 MiB of resident set; on go, whose pools make both wobble
// by a few MiB from epoch to epoch, 4 and 12 MiB.
func TestEpochMemoryFlat(t *testing.T) {
	const (
		epochs = 10
		window = 3 // epochs 2..4 against epochs 8..10
	)
	for _, c := range []struct {
		be                  string
		heapBound, rssBound int64 // bytes of growth allowed
	}{{"go", 4 << 20, 12 << 20}, {"onnx", 1 << 20, 8 << 20}} {
		be := c.be
		t.Run(be, func(t *testing.T) {
			if be == "onnx" {
				skipWithoutONNX(t)
			}
			e, err := NewEpochBench(t.Context(), pmiLoss{}, be, memEpochConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			heaps := make([]int64, 0, epochs)
			rsss := make([]int64, 0, epochs)
			for range epochs {
				if _, _, err := e.Epoch(t.Context(), 0); err != nil {
					t.Fatal(err)
				}
				heaps, rsss = append(heaps, heapAfterGC()), append(rsss, rssBytes(t))
			}
			t.Logf("%s: Go heap after GC per epoch (KiB): %v", e.Backend(), kib(heaps))
			t.Logf("%s: resident set per epoch (KiB): %v", e.Backend(), kib(rsss))
			steps := (epochs - 2*window) * e.StepsPerEpoch()
			for _, m := range []struct {
				what  string
				v     []int64
				bound int64
			}{{"Go heap", heaps, c.heapBound}, {"resident set", rsss, c.rssBound}} {
				early := slices.Max(m.v[1 : 1+window])
				late := slices.Min(m.v[epochs-window:])
				if g := late - early; g > m.bound {
					t.Errorf("%s grew by %d KiB (lowest of epochs %d-%d against highest of epochs 2-%d, %d steps apart), bound %d KiB: something is kept per step",
						m.what, g>>10, epochs-window+1, epochs, 1+window, steps, m.bound>>10)
				}
			}
		})
	}
}

func kib(v []int64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = x >> 10
	}
	return out
}
