package trainbench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// StepClock measures wall, process CPU and per-thread CPU time from
// StartClock to Stop, and samples how many threads are runnable. The
// per-thread figures read /proc/self/task (Linux); elsewhere they are
// left out (see StepTiming).
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
	self := osThreadID()
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
// Without /proc/self/task (not Linux) it fails.
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
