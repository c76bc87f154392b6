package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// Environment of the file-size-limit wrapper (see TestMain).
const (
	fsizeEnv = "CLUSTERLAB_TEST_FSIZE"
	execEnv  = "CLUSTERLAB_TEST_EXEC"
)

// TestMain doubles as a tiny wrapper: started with CLUSTERLAB_TEST_FSIZE
// and CLUSTERLAB_TEST_EXEC set, the test binary sets RLIMIT_FSIZE and execs
// the runner, whose plugins inherit the limit. Writing past it fails with
// EFBIG exactly where a full disk fails with ENOSPC, so the test can fill
// "the disk" at chosen points without root or a special filesystem.
func TestMain(m *testing.M) {
	if lim, target := os.Getenv(fsizeEnv), os.Getenv(execEnv); lim != "" && target != "" {
		n, err := strconv.ParseUint(lim, 10, 64)
		if err == nil {
			err = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n})
		}
		if err == nil {
			env := []string{}
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, fsizeEnv+"=") && !strings.HasPrefix(e, execEnv+"=") {
					env = append(env, e)
				}
			}
			err = syscall.Exec(target, append([]string{target}, os.Args[1:]...), env)
		}
		os.Stderr.WriteString("file-size wrapper: " + err.Error() + "\n")
		os.Exit(99)
	}
	// The end-to-end tests' executables are built once into a directory
	// removed here (see buildBinaries).
	os.Exit(testbin.Main(m))
}

// runLimited runs `clusterlab args...` in dir with files limited to limit
// bytes.
func runLimited(t *testing.T, dir string, limit int, args ...string) result {
	t.Helper()
	// The test binary runs first, as the wrapper of TestMain.
	cmd := runnerCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, fsizeEnv+"="+strconv.Itoa(limit), execEnv+"="+cmd.Path)
	cmd.Path, cmd.Args[0] = os.Args[0], os.Args[0]
	return runCmd(t, cmd)
}

// tempFiles lists the temporary files (".name.tmp-*") under dir.
func tempFiles(dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.Contains(fi.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestDiskFullKeepsNothingHalfWritten fills the "disk" (a file size limit)
// first inside a plugin (the PCA state, about 100 KB) and then in the
// runner (the train embeddings, 256 KB): each time the run fails with one
// error that names the file and says what to do, leaves no temporary or
// partial file, and the same command without the limit then finishes.
func TestDiskFullKeepsNothingHalfWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(smallConfig), 0o644)
	for _, tc := range []struct {
		limit int
		file  string
	}{
		{90_000, "components.npy"},  // in the backbone plugin
		{200_000, "embeddings.npy"}, // in the runner
	} {
		r := runLimited(t, dir, tc.limit, "run", "small.yaml")
		if r.code != 1 {
			t.Fatalf("limit %d: exit %d, want 1:\n%s", tc.limit, r.code, r.stderr)
		}
		for _, want := range []string{tc.file, "file too large", "the disk is full", "run the same command again"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("limit %d: stderr lacks %q:\n%s", tc.limit, want, r.stderr)
			}
		}
		if left := tempFiles(dir); len(left) > 0 {
			t.Errorf("limit %d: temporary files left: %v", tc.limit, left)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "runs/e2e/*/metrics.json")); len(m) > 0 {
			t.Fatalf("limit %d: a failed run wrote metrics.json", tc.limit)
		}
	}
	// No partial array is trusted: every cache entry that has a meta.json
	// verifies, and the unlimited rerun completes.
	r := clusterlab(t, dir, nil, "run", "small.yaml")
	if r.code != 0 {
		t.Fatalf("rerun without the limit: exit %d:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "recomputing") {
		t.Errorf("a damaged cache entry was left behind:\n%s", r.stderr)
	}
}

// TestSecondInterruptAndRunLock starts a run, checks that a second run of
// the same trial is refused while the first works, then sends SIGINT twice:
// the runner must exit at once (not after the first signal's orderly
// wind-down), leave no plugin behind and nothing a rerun would trust
// half-written; the rerun then finishes.
func TestSecondInterruptAndRunLock(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	dir := t.TempDir()
	p := startTraining(t, dir, "locked", 300)

	// The same trial from a second process: refused, naming the holder.
	second := clusterlab(t, dir, nil, "run", "locked.yaml")
	if second.code != 1 || !strings.Contains(second.stderr, "is in use by process "+strconv.Itoa(p.cmd.Process.Pid)) ||
		!strings.Contains(second.stderr, "another trial name") {
		t.Errorf("second run of a busy trial: exit %d:\n%s", second.code, second.stderr)
	}

	// The first SIGINT once training steps run, the second once the
	// runner has begun the orderly stop of the first.
	if !p.waitLine(firstStepLine) {
		t.Fatalf("no training step reported:\n%s", p.stderr())
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if !p.waitLine(interruptLine) {
		t.Fatalf("the runner did not report the first SIGINT:\n%s", p.stderr())
	}
	sent := time.Now()
	p.cmd.Process.Signal(syscall.SIGINT)
	code := p.exitCode()
	if took := time.Since(sent); took > 2*time.Second {
		t.Errorf("took %v to exit after the second SIGINT", took)
	}
	if code != 130 {
		t.Fatalf("exit %d after two SIGINTs, want 130:\n%s", code, p.stderr())
	}
	waitPluginsGone(t, bin, dir, "after two SIGINTs")

	r := clusterlab(t, dir, nil, "run", "locked.yaml")
	if r.code != 0 {
		t.Fatalf("rerun after two SIGINTs: exit %d:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "recomputing") {
		t.Errorf("the interrupt left a damaged cache entry:\n%s", r.stderr)
	}
	if left := tempFiles(dir); len(left) > 0 {
		t.Errorf("temporary files left after the rerun: %v", left)
	}
}

// TestLossPluginDiesThenResume kills the loss plugin (not the runner) in
// the middle of training: the run fails with one error naming the plugin
// and quoting its stderr, and the same command then resumes from the last
// checkpoint and finishes.
func TestLossPluginDiesThenResume(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	dir := t.TempDir()
	p := startTraining(t, dir, "crash", 300)
	// Let a few epochs (and their checkpoints) pass first.
	ckpt := filepath.Join(dir, "runs/e2e/crash/checkpoint.npz")
	deadline := time.Now().Add(60 * time.Second)
	for _, err := os.Stat(ckpt); err != nil; _, err = os.Stat(ckpt) {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after a minute:\n%s", p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	killed := false
	for _, proc := range pluginProcesses(t, bin, dir) {
		if strings.HasSuffix(proc, "clusterlab-loss-temi") {
			pid, _ := strconv.Atoi(strings.Fields(proc)[0])
			killed = syscall.Kill(pid, syscall.SIGKILL) == nil
		}
	}
	if !killed {
		t.Fatalf("no loss plugin process to kill; running: %v", pluginProcesses(t, bin, dir))
	}
	if code := p.exitCode(); code != 1 {
		t.Fatalf("exit %d after the loss plugin died, want 1:\n%s", code, p.stderr())
	}
	msg := p.stderr()
	// The plugin was killed silently, so its stderr tail is empty and the
	// error says so (plugins' own tests cover a non-empty tail).
	for _, want := range []string{"clusterlab-loss-temi", "exited during Fit", "signal: killed", "stderr"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	r := clusterlab(t, dir, nil, "run", "crash.yaml")
	if r.code != 0 {
		t.Fatalf("rerun after the crash: exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "resuming from") {
		t.Errorf("rerun did not resume from the checkpoint:\n%s", r.stderr)
	}
}

// TestTwoProcessesShareOneCache starts two runs (different seeds, so
// different trials) at the same moment on one empty cache: both finish,
// each cache entry is computed by one of them only (the other waits on the
// entry's lock, then reads it), and every entry verifies on a third run.
func TestTwoProcessesShareOneCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 1", 1)
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(cfg), 0o644)
	a := startRunner(t, dir, "run", "small.yaml", "--set", "seed=1")
	b := startRunner(t, dir, "run", "small.yaml", "--set", "seed=2")
	if ca, cb := a.exitCode(), b.exitCode(); ca != 0 || cb != 0 {
		t.Fatalf("exit %d and %d:\n%s\n---\n%s", ca, cb, a.stderr(), b.stderr())
	}
	both := a.stderr() + b.stderr()
	for _, step := range []string{"fit pixels   done", "embed train  done", "embed test   done", "k-NN graph   done"} {
		if n := strings.Count(both, step); n != 1 {
			t.Errorf("%q computed %d times by the two runs, want once:\n%s\n---\n%s", step, n, a.stderr(), b.stderr())
		}
	}
	r := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "seed=3")
	if r.code != 0 || strings.Contains(r.stderr, "recomputing") || strings.Count(r.stderr, ": cached") < 2 {
		t.Errorf("third run over the shared cache (exit %d):\n%s", r.code, r.stderr)
	}
}
