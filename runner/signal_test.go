package main

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pluginProcesses lists running processes whose executable lies in bin's
// plugins folder and, when work is not empty, whose working directory lies
// in work: the plugins of one test's runs (plugins start in the runner's
// directory), not those of tests running beside it.
func pluginProcesses(t *testing.T, bin, work string) []string {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || !strings.HasPrefix(exe, bin+"/plugins/") {
			continue
		}
		if work != "" {
			cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
			if err != nil || (cwd != work && !strings.HasPrefix(cwd, work+"/")) {
				continue
			}
		}
		out = append(out, e.Name()+" "+exe)
	}
	return out
}

// waitPluginsGone waits up to 5 s for every plugin process of bin started
// in work (any, when work is "") to exit and fails the test if some do
// not; it returns how long they took.
func waitPluginsGone(t *testing.T, bin, work, when string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		left := pluginProcesses(t, bin, work)
		if len(left) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("plugin processes left 5 s %s: %v", when, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Lines of the runner's stderr that tests wait for.
const (
	// firstStepLine starts the first progress line of training, printed
	// once a step has finished (see core/train's Fit and progress.Set).
	firstStepLine = "train temi"
	// interruptLine is what the runner says on the first SIGINT.
	interruptLine = "interrupt received, stopping"
)

// startTraining writes smallConfig with the given epochs and trial name to
// dir/NAME.yaml, starts `clusterlab run` on it and returns once training
// has started.
func startTraining(t *testing.T, dir, trial string, epochs int) *runnerProc {
	t.Helper()
	cfg := strings.Replace(smallConfig, "epochs: 3", fmt.Sprintf("epochs: %d", epochs), 1) + "trial: " + trial + "\n"
	os.WriteFile(filepath.Join(dir, trial+".yaml"), []byte(cfg), 0o644)
	p := startRunner(t, dir, "run", trial+".yaml")
	if !p.waitLine("temi: backend") {
		t.Fatalf("training never started:\n%s", p.stderr())
	}
	return p
}

// TestInterruptStopsPlugins sends SIGINT to a running `clusterlab run`
// during training: the runner must exit promptly with status 130, say how
// to resume, and leave no plugin process behind.
func TestInterruptStopsPlugins(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 200", 1)
	os.WriteFile(filepath.Join(dir, "long.yaml"), []byte(cfg), 0o644)
	cmd := runnerCmd(t, dir, "run", "long.yaml")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	training := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "temi: backend") {
			training = true
			break
		}
	}
	if !training {
		t.Fatalf("training never started:\n%s", log.String())
	}
	// Interrupt once a training step has finished, so that the checkpoint
	// has steps to record.
	stepped := false
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), firstStepLine) {
			stepped = true
			break
		}
	}
	if !stepped {
		t.Fatalf("no training step reported:\n%s", log.String())
	}
	sent := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
		close(done)
	}()
	err = cmd.Wait()
	<-done
	took := time.Since(sent)
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want status 130:\n%s", err, log.String())
	}
	if took > 10*time.Second {
		t.Errorf("took %v to stop after SIGINT", took)
	}
	if !strings.Contains(log.String(), "Run the same command again to resume") {
		t.Errorf("no resume hint:\n%s", log.String())
	}
	// The loss plugin saved its state on the interrupt: a checkpoint with
	// the steps done (mid-epoch ones included) is there to resume from.
	ckpts, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e", "*", "checkpoint.npz"))
	if len(ckpts) != 1 {
		t.Fatalf("want one checkpoint after SIGINT, got %v", ckpts)
	}
	zr, err := zip.OpenReader(ckpts[0])
	if err != nil {
		t.Fatalf("checkpoint after SIGINT is not readable: %v", err)
	}
	var meta struct {
		Iteration   int       `json:"iteration"`
		PartialSums []float64 `json:"partial_sums"`
	}
	for _, f := range zr.File {
		if f.Name == "meta.json" {
			rc, _ := f.Open()
			json.NewDecoder(rc).Decode(&meta)
			rc.Close()
		}
	}
	zr.Close()
	if meta.Iteration == 0 {
		t.Errorf("checkpoint after SIGINT records no training step")
	}
	t.Logf("checkpoint after SIGINT: iteration %d, partial sums %v", meta.Iteration, meta.PartialSums)

	waitPluginsGone(t, bin, dir, "after SIGINT")
}

// TestSweepInterruptResume interrupts a sweep after its first trial has
// finished; running it again skips the finished trial and completes the
// others.
func TestSweepInterruptResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 2", 1) + `
sweep:
  grid:
    loss.beta: [0.6, 1.0]
  seeds: [0, 1]
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	cmd := runnerCmd(t, dir, "run", "sweep.yaml")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "sweep: trial") && strings.Contains(sc.Text(), " done (") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, stderr)
	cmd.Wait()
	finished, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e", "*", "metrics.json"))
	if len(finished) == 0 || len(finished) == 4 {
		t.Fatalf("after the interrupt %d trials are finished, want between 1 and 3:\n%s", len(finished), log.String())
	}
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if r.code != 0 {
		t.Fatalf("rerun failed: %s", r.stderr)
	}
	if n := strings.Count(r.stderr, "already finished"); n != len(finished) {
		t.Errorf("rerun skipped %d trials, want the %d finished ones:\n%s", n, len(finished), r.stderr)
	}
	all, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e", "*", "metrics.json"))
	if len(all) != 4 {
		t.Errorf("after the rerun %d trials are finished, want 4", len(all))
	}
}
