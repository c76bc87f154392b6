// Package testmem measures how much memory a piece of work holds at its
// peak, for tests that check a stage's memory estimate (the need the
// runner checks against the free memory before the stage starts) against
// what the stage really uses.
package testmem

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clusterlab/clusterlab/core/hostmem"
)

// PeakGrowth runs work and returns the most the process's memory grew
// above where it was before work started: the peak resident set (VmHWM,
// reset through /proc/self/clear_refs) less the resident set before, or,
// where Linux does not offer that, the Go heap's live objects sampled
// every 100 µs.
//
// budget is the memory the work is estimated to need. Meanwhile the Go
// runtime's soft memory limit is what it holds now plus budget, as in a
// clusterlab process whose headroom just passed the check of that
// estimate (hostmem.LimitGo), and the collector runs at GOGC 1, so that
// the peak is what the work holds live rather than how far garbage was
// let grow. Tests that use it must not run in parallel with others in
// their binary.
func PeakGrowth(budget uint64, work func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	runtime.GC()
	debug.FreeOSMemory()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(int64(hostmem.GoMapped() + budget)))
	if before, ok := resetPeak(); ok {
		work()
		if peak, ok := statusKB("VmHWM"); ok && peak > before {
			return peak - before
		}
		return 0
	}
	return sampledHeapGrowth(work)
}

// resetPeak resets VmHWM to the current resident set and returns it.
func resetPeak() (uint64, bool) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, false
	}
	return statusKB("VmRSS")
}

// statusKB reads a "Name: N kB" field of /proc/self/status, in bytes.
func statusKB(field string) (uint64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		return v * 1024, err == nil
	}
	return 0, false
}

func sampledHeapGrowth(work func()) uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	var (
		peak uint64
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	work()
	last := read()
	close(stop)
	wg.Wait()
	peak = max(peak, last)
	if peak < base {
		return 0
	}
	return peak - base
}
