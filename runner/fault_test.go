package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"

	"github.com/clusterlab/clusterlab/core/store"
)

// faultEpochs is the training length of faultConfig.
const faultEpochs = 30

// faultConfig is a small MNIST subset trained long enough (30 epochs, one
// checkpoint per epoch) that most of the kills land during training. The
// trial name is fixed so every rerun works in the same run directory.
const faultConfig = `
experiment: fault
trial: kill20
seed: 3
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 3000, limit_test: 500}
backbone: {plugin: pixels, pca_dims: 32}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss:
  plugin: temi
  heads: 3
  epochs: 30
  batch_size: 64
  lr: 0.001
  min_lr: 0.0001
  warmup_epochs: 1
  knn: 10
  hidden_dim: 256
  bottleneck_dim: 64
`

// runnerProc is one `clusterlab run` started in its own process group, its
// stderr read line by line (progress lines end in \n or \r).
type runnerProc struct {
	cmd   *exec.Cmd
	lines chan string // closed at EOF
	mu    sync.Mutex
	log   strings.Builder
	done  chan struct{}
	err   error // of Wait, valid after done
}

func startRunner(t *testing.T, dir string, args ...string) *runnerProc {
	t.Helper()
	return startRunnerEnv(t, dir, nil, args...)
}

// startRunnerEnv is startRunner with env added to the runner's
// environment.
func startRunnerEnv(t *testing.T, dir string, env []string, args ...string) *runnerProc {
	t.Helper()
	cmd := runnerCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	// Its own process group: the kill below targets exactly the runner, and
	// the cleanup can reach anything it left without touching the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	p := &runnerProc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Split(scanLinesCR)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for lines any more
			}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *runnerProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// scanLinesCR splits on \n or \r.
func scanLinesCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// waitLine waits for a stderr line containing s; false if the runner
// ended first.
func (p *runnerProc) waitLine(s string) bool {
	for l := range p.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// exitCode waits for the runner and returns its exit status (-1 when
// killed by a signal).
func (p *runnerProc) exitCode() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -2
	}
	return 0
}

// TestKill20Times kills `clusterlab run` with SIGKILL at 20 pseudo-random
// moments, rerunning the same command after each, and checks that the
// finished run's metrics equal those of an uninterrupted run exactly, that
// the plugins exit by themselves, and that the cache and run directory hold
// nothing half-written that a later run would trust.
func TestKill20Times(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the kill test reads /proc and uses process groups")
	}
	if testing.Short() {
		t.Skip("kills the runner 20 times (about a minute)")
	}
	bin := buildBinaries(t)
	killsRunners(t)
	started := time.Now()

	// Reference: one uninterrupted run, timing its phases so the kills can
	// be spread over them.
	refDir := t.TempDir()
	os.WriteFile(filepath.Join(refDir, "fault.yaml"), []byte(faultConfig), 0o644)
	ref := startRunner(t, refDir, "run", "fault.yaml")
	var tTrain, tAssign time.Duration
	for l := range ref.lines {
		if strings.Contains(l, "temi: backend") && tTrain == 0 {
			tTrain = time.Since(started)
		}
		if strings.Contains(l, "temi: assigning") && tAssign == 0 {
			tAssign = time.Since(started)
		}
	}
	if c := ref.exitCode(); c != 0 {
		t.Fatalf("reference run failed (%d):\n%s", c, ref.stderr())
	}
	tEnd := time.Since(started)
	if tTrain == 0 || tAssign == 0 {
		t.Fatalf("reference run never reported training or assigning:\n%s", ref.stderr())
	}
	refRun := filepath.Join(refDir, "runs", "fault", "kill20")
	// Split the training phase into its start (loading, compiling: long
	// on onnx, short on go) and its epochs, from the epoch times the
	// trainer records.
	epoch := medianEpoch(t, refRun)
	startup := max(tAssign-tTrain-faultEpochs*epoch, 10*time.Millisecond)
	tail := tEnd - tAssign
	t.Logf("reference run: %v before training, %v training start, %v per epoch, %v assigning and scoring",
		tTrain.Round(time.Millisecond), startup.Round(time.Millisecond), epoch.Round(time.Millisecond), tail.Round(time.Millisecond))
	want, err := rundir.ReadMetrics(refRun)
	if err != nil {
		t.Fatal(err)
	}

	// 20 kills. The first few are timed from the start (embedding, k-NN
	// graph, baselines: the cache is empty at first). Most land in
	// training: either while it starts (loading, compiling; no epoch is
	// gained), or at a random point of the epoch after the one this rerun
	// completed first (seen by the checkpoint being replaced), so each
	// such rerun gains one epoch, sometimes two, and none gains more
	// than that whatever the backend's speed. Those stop three epochs
	// before the end so training is unfinished after them. The last kills
	// come after training, while assigning, scoring and writing.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "fault.yaml"), []byte(faultConfig), 0o644)
	killRun := filepath.Join(dir, "runs", "fault", "kill20")
	ckpt := filepath.Join(killRun, "checkpoint.npz")
	rng := rand.New(rand.NewSource(20))
	const kills, early, late = 20, 4, 2
	killed, attempts := 0, 0
	var finishedEarly bool
	var slowestPluginExit time.Duration
	for killed < kills && attempts < 2*kills {
		attempts++
		epochsDone := historyLen(killRun)
		before, _ := os.Stat(ckpt)
		p := startRunner(t, dir, "run", "fault.yaml")
		phase, wait, window := "start", "", tTrain
		switch {
		case killed >= kills-late:
			// Before metrics.json is written, most likely.
			phase, wait, window = "assigning", "temi: assigning", tail/2
		case killed >= early && (epochsDone >= faultEpochs-3 || rng.Intn(3) == 0):
			phase, wait, window = "training start", "temi: backend", startup
		case killed >= early:
			phase, wait, window = fmt.Sprintf("epoch %d", epochsDone+2), "temi: backend", epoch*6/5
		}
		delay := time.Duration(rng.Int63n(int64(max(window, time.Millisecond))))
		if wait != "" && !p.waitLine(wait) {
			// Ended before the phase: only a finished run may do that.
			if c := p.exitCode(); c != 0 {
				t.Fatalf("rerun %d failed (%d) after %d kills:\n%s", attempts, c, killed, p.stderr())
			}
			t.Logf("rerun %d finished before %s", attempts, phase)
			finishedEarly = true
			break
		}
		training := make(chan struct{}) // closed when the rerun's training begins
		go func() {
			seen := false
			for l := range p.lines { // keep the pipe drained
				if !seen && strings.Contains(l, "temi: backend") {
					seen = true
					close(training)
				}
			}
		}()
		// A kill timed from the start lands when training begins at the
		// latest: its window is the reference run's, on an empty cache,
		// and a rerun on a warm cache gets there sooner (its whole
		// training may take less than the window, on an idle machine).
		var startCap <-chan struct{}
		if phase == "start" {
			startCap = training
		}
		if strings.HasPrefix(phase, "epoch") {
			waitReplaced(ckpt, before, p.done)
		}
		t0 := time.Now()
		select {
		case <-p.done:
		case <-time.After(delay):
		case <-startCap:
		}
		select {
		case <-p.done:
			if c := p.exitCode(); c != 0 {
				t.Fatalf("rerun %d failed (%d) after %d kills:\n%s", attempts, c, killed, p.stderr())
			}
			t.Logf("rerun %d finished before its kill (%s + %v)", attempts, phase, delay)
			finishedEarly = true
		default:
			_ = p.cmd.Process.Kill() // SIGKILL, the runner only
			<-p.done
			killed++
			last := strings.TrimSpace(p.stderr())
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:]
			}
			t.Logf("kill %d: %s + %v (drawn %v; %d epochs done before); last line: %s", killed, phase,
				time.Since(t0).Round(time.Millisecond), delay.Round(time.Millisecond), epochsDone, last)
		}
		// The plugins notice the runner's death and exit by themselves.
		slowestPluginExit = max(slowestPluginExit, waitPluginsGone(t, bin, dir, "after the runner was killed"))
		if finishedEarly {
			break
		}
	}
	t.Logf("plugins were gone at most %v after the runner's death", slowestPluginExit.Round(10*time.Millisecond))
	// A kill in the last moments may land after metrics.json was written:
	// the run is then finished, and the later kills have nothing to hit.
	if killed < kills-late || !finishedEarly && killed < kills {
		t.Errorf("only %d of %d kills landed before the run finished; lengthen training or shorten the delays", killed, kills)
	}

	// Finish.
	r := clusterlab(t, dir, nil, "run", "fault.yaml")
	if r.code != 0 {
		t.Fatalf("final run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("final run: %s", strings.TrimSpace(r.stderr[strings.LastIndex(r.stderr[:max(0, len(r.stderr)-1)], "\n")+1:]))
	got, err := rundir.ReadMetrics(killRun)
	if err != nil {
		t.Fatal(err)
	}
	compareMetrics(t, want, got)
	if a, b := historyWithoutTimes(t, refRun), historyWithoutTimes(t, killRun); a != b {
		t.Errorf("history.jsonl after the kills differs (times left out):\n got %s\nwant %s", b, a)
	}
	for _, f := range []string{"assign_train.npy", "assign_test.npy", "kmeans_train.npy", "kmeans_test.npy", "probs_train.npy", "probs_test.npy", "schedule.csv"} {
		a, errA := os.ReadFile(filepath.Join(refRun, f))
		b, errB := os.ReadFile(filepath.Join(killRun, f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s after the kills differs from the uninterrupted run's (%v, %v)", f, errA, errB)
		}
	}

	// No half-written file a later run would trust: every cache entry with
	// a meta.json verifies. Orphaned temporaries of a killed writer
	// (.NAME.tmp-*) are never read under their final names; they are
	// listed here.
	cache := filepath.Join(dir, "cache")
	entries := 0
	filepath.WalkDir(cache, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "meta.json" {
			entries++
			if _, err := (store.Entry{Dir: filepath.Dir(path)}).Load(); err != nil {
				t.Errorf("cache entry does not load after the kills: %v", err)
			}
		}
		if strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			t.Logf("temporary file of a killed writer left in the cache: %s", path)
		}
		return nil
	})
	if entries < 3 { // train and test embeddings, k-NN graph (plus backbone state)
		t.Errorf("cache holds %d entries, want at least 3", entries)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "runs", "fault", "kill20", ".*.tmp-*"))
	for _, f := range tmps {
		// Never read (readers open the final names only), but never removed.
		t.Logf("temporary file of a killed writer left in the run directory: %s", f)
	}
	t.Logf("%d kills in %d reruns; total %v", killed, attempts, time.Since(started).Round(time.Millisecond))
}

// compareMetrics requires the same scores, head losses and best head.
func compareMetrics(t *testing.T, want, got rundir.Metrics) {
	t.Helper()
	if got.BestHead != want.BestHead || got.Backend != want.Backend {
		t.Errorf("best head %d on %s, want %d on %s", got.BestHead, got.Backend, want.BestHead, want.Backend)
	}
	if fmt.Sprint(got.HeadLosses) != fmt.Sprint(want.HeadLosses) {
		t.Errorf("head losses %v, want %v", got.HeadLosses, want.HeadLosses)
	}
	key := func(r rundir.Result) string { return r.Method + "/" + r.Selection + "/" + r.Split }
	byKey := map[string]rundir.Result{}
	for _, r := range got.Results {
		byKey[key(r)] = r
	}
	if len(got.Results) != len(want.Results) {
		t.Errorf("%d results, want %d", len(got.Results), len(want.Results))
	}
	for _, w := range want.Results {
		g, ok := byKey[key(w)]
		if !ok {
			t.Errorf("result %s missing after the kills", key(w))
			continue
		}
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		if !bytes.Equal(wb, gb) {
			t.Errorf("%s after the kills:\n got %s\nwant %s", key(w), gb, wb)
		}
	}
}

// historyWithoutTimes is a run's history.jsonl with the epoch durations
// removed: everything else must survive the kills unchanged.
func historyWithoutTimes(t *testing.T, runDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s/history.jsonl: %v", runDir, err)
		}
		delete(rec, "seconds")
		j, _ := json.Marshal(rec)
		out = append(out, string(j))
	}
	return strings.Join(out, "\n")
}

// medianEpoch is the median epoch time recorded in a run's history.jsonl.
func medianEpoch(t *testing.T, runDir string) time.Duration {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "history.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var secs []float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct{ Seconds float64 }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%s/history.jsonl: %v", runDir, err)
		}
		secs = append(secs, rec.Seconds)
	}
	sort.Float64s(secs)
	return max(time.Duration(secs[len(secs)/2]*float64(time.Second)), time.Millisecond)
}

// historyLen is the number of epochs in a run's history.jsonl, which the
// trainer rewrites with each checkpoint (0 when there is none).
func historyLen(runDir string) int {
	b, err := os.ReadFile(filepath.Join(runDir, "history.jsonl"))
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return 0
	}
	return bytes.Count(bytes.TrimSpace(b), []byte("\n")) + 1
}

// waitReplaced waits until path is (re)written: it exists and is not the
// file before (an atomic write renames a new file into place), or done
// is closed.
func waitReplaced(path string, before os.FileInfo, done <-chan struct{}) {
	for {
		if st, err := os.Stat(path); err == nil && (before == nil || !os.SameFile(before, st)) {
			return
		}
		select {
		case <-done:
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}
