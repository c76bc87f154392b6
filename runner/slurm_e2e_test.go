package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// slurmCluster starts a private single-node Slurm (scripts/slurm-local.sh:
// munged, slurmctld and slurmd of Debian's slurm-wlm, every file under a
// temporary directory) for the test and stops it at its end. It returns
// the client environment (SLURM_CONF). The packages are installed by
// `make test` (scripts/setup-debian.sh); their absence fails the test
// rather than skipping it, since this is the only test of the Slurm
// executor against a real scheduler.
func slurmCluster(t *testing.T) []string {
	t.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "slurm-local.sh")
	dir := filepath.Join(t.TempDir(), "slurm")
	out, err := exec.Command(script, "start", dir).CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			t.Fatalf("Slurm is not installed here; install it with scripts/setup-debian.sh all (or apt-get install -y slurm-wlm munge), as make test does:\n%s", out)
		}
		t.Fatalf("start a local Slurm: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stop the local Slurm: %v\n%s", err, out)
		}
	})
	return []string{"SLURM_CONF=" + filepath.Join(dir, "slurm.conf")}
}

// slurmSweep is a 6-trial sweep (3 losses x 2 seeds) on an MNIST subset,
// long enough in training (temi and scan: 60 epochs of 16 steps) for a
// task to be cancelled mid-way.
const slurmSweep = `
experiment: slurm
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}
backbone: {plugin: pixels, pca_dims: 32}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
executor: {kind: slurm, cpus: 1, array_limit: 2, time: "00:10:00"}
loss:
  plugin: temi
  heads: 2
  epochs: 60
  warmup_epochs: 1
  batch_size: 128
  knn: 10
  hidden_dim: 64
  bottleneck_dim: 32
  turtle: {iterations: 300}
sweep:
  variants:
    - {name: temi, loss.plugin: temi}
    - {name: scan, loss.plugin: scan}
    - {name: turtle, loss.plugin: turtle}
  seeds: [0, 1]
`

// statusOf is `clusterlab status --format json` of an experiment.
type statusOf struct {
	Summary string
	Trials  []struct {
		Index                    int
		Trial, State, Job, Slurm string
		Note, Log                string
		LogTail                  []string `json:"log_tail"`
	}
}

// A sweep submitted to a real Slurm: a prepare job, then an array job of
// one task per trial, each logging into its run directory. One task is
// cancelled (scancel) while it trains: status says so, a second submit
// resubmits that trial alone, which resumes from its checkpoint; the
// table gathered from the Slurm runs equals the same sweep run locally,
// byte for byte (timings aside).
func TestSlurmSweep(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("Slurm runs on Linux")
	}
	env := slurmCluster(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(slurmSweep), 0o644)
	expDir := filepath.Join(dir, "runs", "slurm")

	r := clusterlab(t, dir, env, "run", "sweep.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "submitted to Slurm: 6 of the 6 trial(s)") {
		t.Fatalf("submit (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	task := submittedTask(t, r.stdout, "temi-seed0")
	// Beside it, an experiment whose jobs cannot start (a failing setup
	// line, as a module that is not there): its prepare job fails, and
	// so its tasks never run.
	r = clusterlab(t, dir, env, "run", "sweep.yaml", "--set", "experiment=broken", "--set", `executor.setup=["echo module openblas/9 not found >&2; false"]`)
	if r.code != 0 {
		t.Fatalf("submit the broken experiment (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Cancel trial 0 (temi-seed0) once it has checkpointed an epoch.
	victim := filepath.Join(expDir, "temi-seed0")
	waitFor(t, 3*time.Minute, "temi-seed0 to checkpoint its first epoch", func() bool {
		_, err := os.Stat(filepath.Join(victim, "checkpoint.npz"))
		return err == nil
	})
	cancel := exec.Command("scancel", task)
	cancel.Env = append(os.Environ(), env...)
	if out, err := cancel.CombinedOutput(); err != nil {
		t.Fatalf("scancel %s: %v\n%s", task, err, out)
	}

	// status --wait returns when no task is queued or running: 1, since
	// one trial failed.
	r = clusterlab(t, dir, env, "status", "runs/slurm", "--wait", "--interval", "300ms", "--format", "json")
	if r.code != 1 {
		t.Fatalf("status --wait after the cancel: exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var st statusOf
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --format json: %v\n%s", err, r.stdout)
	}
	if st.Summary != "5 done, 1 failed" || len(st.Trials) != 6 {
		t.Fatalf("status after the cancel: %q, want 5 done, 1 failed:\n%s", st.Summary, r.stdout)
	}
	for _, tr := range st.Trials {
		if tr.Trial == "temi-seed0" {
			if tr.State != "failed" || !strings.HasPrefix(tr.Slurm, "CANCELLED") || !strings.Contains(tr.Note, "interrupted") || len(tr.LogTail) == 0 {
				t.Errorf("the cancelled trial's status: %+v", tr)
			}
			if !strings.HasPrefix(tr.Log, victim+"/slurm-") {
				t.Errorf("its log %s is not in its run directory %s", tr.Log, victim)
			}
		} else if tr.State != "done" || tr.Slurm != "COMPLETED" {
			t.Errorf("trial %s: %+v, want done and COMPLETED", tr.Trial, tr)
		}
	}
	r = clusterlab(t, dir, env, "status", "runs/slurm")
	if r.code != 0 || !strings.Contains(r.stdout, "temi-seed0 failed; the end of "+victim) {
		t.Errorf("status (text) does not show the failed trial's log (%d):\n%s", r.code, r.stdout)
	}

	r = clusterlab(t, dir, env, "status", "runs/broken", "--wait", "--interval", "300ms")
	if r.code != 1 || !strings.Contains(r.stdout, "6 trials: 6 failed") || strings.Count(r.stdout, "the prepare job") != 6 ||
		strings.Count(r.stdout, "module openblas/9 not found") != 1 || !strings.Contains(r.stdout, "temi-seed0, temi-seed1, scan-seed0") {
		t.Errorf("status of the experiment whose prepare job failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Without Slurm's commands, a submission says what to do.
	noSlurm := append([]string{"PATH=" + t.TempDir()}, env...)
	r = clusterlab(t, dir, noSlurm, "run", "sweep.yaml", "--set", "experiment=elsewhere")
	if r.code != 1 || !strings.Contains(r.stderr, "sbatch is not on PATH") {
		t.Errorf("submit without sbatch (%d):\n%s", r.code, r.stderr)
	}

	// The same submit again: the cancelled trial alone, resumed.
	r = clusterlab(t, dir, env, "run", "sweep.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "submitted to Slurm: 1 of the 6 trial(s)") || strings.Count(r.stdout, "/slurm-") != 1 || !strings.Contains(r.stdout, "temi-seed0") {
		t.Fatalf("resubmit (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = clusterlab(t, dir, env, "status", "runs/slurm", "--wait", "--interval", "300ms")
	if r.code != 0 || !strings.Contains(r.stdout, "6 trials: 6 done") {
		t.Fatalf("status --wait after the resubmit (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	second, err := os.ReadFile(filepath.Join(victim, "slurm-"+submittedTask(t, r.stdout, "temi-seed0")+".log"))
	if err != nil || !strings.Contains(string(second), "resuming from") || !strings.Contains(string(second), "after epoch") {
		t.Errorf("the resubmitted trial did not resume from its checkpoint (%v):\n%s", err, second)
	}
	if _, err := os.Stat(filepath.Join(expDir, "sweep_tables.txt")); err != nil {
		t.Errorf("the last task did not write the sweep's tables: %v", err)
	}

	// The same sweep run here: the same table, byte for byte.
	r = clusterlab(t, dir, nil, "run", "sweep.yaml", "--executor", "local", "--set", "runs_dir=local", "--set", "sweep.parallel=2")
	if r.code != 0 {
		t.Fatalf("local run (%d):\n%s", r.code, r.stderr)
	}
	slurmTable := clusterlab(t, dir, nil, "table", "runs/slurm", "--no-timing")
	localTable := clusterlab(t, dir, nil, "table", "local/slurm", "--no-timing")
	if slurmTable.code != 0 || localTable.code != 0 || !strings.Contains(slurmTable.stdout, "6 trials") {
		t.Fatalf("tables (%d, %d):\n%s\n%s", slurmTable.code, localTable.code, slurmTable.stderr, localTable.stderr)
	}
	if slurmTable.stdout != localTable.stdout {
		t.Errorf("the table of the Slurm runs differs from the local one:\n%s\n%s", slurmTable.stdout, localTable.stdout)
	}
}

// submittedTask is the Slurm task (<array job>_<index>) of a trial, as a
// submit or status printed it.
func submittedTask(t *testing.T, out, trial string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '│' })
		if !containsWord(f, trial) {
			continue
		}
		for _, c := range f {
			if strings.Contains(c, "_") && strings.Trim(c, "0123456789_") == "" {
				return c
			}
		}
	}
	t.Fatalf("no Slurm task of %s in:\n%s", trial, out)
	return ""
}

func containsWord(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
