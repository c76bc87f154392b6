package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"
)

// Slurm's scancel, preemption and time limit send SIGTERM to every process
// of the job: the plugins as well as the runner. These tests send it to the
// loss plugin alone, and to the runner and its plugins at once, during
// training: either way the trainer saves its checkpoint and the same
// command resumes from it.

// sigtermEpochs is the training length of these tests: long enough that
// the signal lands during training, short enough for the rerun to finish.
const sigtermEpochs = 30

// startSigtermTraining starts `clusterlab run` on smallConfig with
// sigtermEpochs epochs, with env added to its environment, and returns
// once the first epoch is done (history.jsonl has a record), with the run
// directory and the steps per epoch. Progress lines come only every 10 s
// off a terminal: the history file is the earliest sign of training.
func startSigtermTraining(t *testing.T, dir, trial string, env ...string) (p *runnerProc, runDir string, stepsPerEpoch int) {
	t.Helper()
	cfg := strings.Replace(smallConfig, "epochs: 3", fmt.Sprintf("epochs: %d", sigtermEpochs), 1) + "trial: " + trial + "\n"
	if err := os.WriteFile(filepath.Join(dir, trial+".yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p = startRunnerEnv(t, dir, env, "run", trial+".yaml")
	if !p.waitLine("temi: backend") {
		t.Fatalf("training never started:\n%s", p.stderr())
	}
	runDir = filepath.Join(dir, "runs", "e2e", trial)
	// The trainer rewrites history.jsonl (atomically) after every epoch.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if h, err := rundir.ReadHistory(filepath.Join(runDir, "history.jsonl")); err == nil && len(h) > 0 {
			break
		}
		select {
		case <-p.done:
			t.Fatalf("the runner ended before an epoch was done:\n%s", p.stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no epoch done within 2 minutes:\n%s", p.stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sched, err := rundir.ReadSchedule(filepath.Join(runDir, rundir.ScheduleFile))
	if err != nil {
		t.Fatal(err)
	}
	return p, runDir, sched.StepsPerEpoch
}

// checkStopPoint checks that the checkpoint in runDir holds exactly the
// steps done when training stopped, as the trainer's error in log says
// ("training stopped at epoch E step B"), after at least one epoch.
func checkStopPoint(t *testing.T, log, runDir string, ipe int) rundir.CheckpointMeta {
	t.Helper()
	m := stoppedRE.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("the output does not say where training stopped:\n%s", log)
	}
	epoch, _ := strconv.Atoi(m[1])
	step, _ := strconv.Atoi(m[2])
	meta := checkpointMeta(t, runDir)
	if want := (epoch-1)*ipe + step - 1; meta.Iter != want || meta.Epoch != epoch-1 || want < ipe {
		t.Errorf("checkpoint at iteration %d (epoch %d), want iteration %d (epoch %d), where training stopped after the first epoch",
			meta.Iter, meta.Epoch, want, epoch-1)
	}
	t.Logf("stopped at epoch %d step %d (%d steps each), checkpoint at iteration %d", epoch, step, ipe, meta.Iter)
	return meta
}

// stoppedRE reads where the trainer stopped from its error.
var stoppedRE = regexp.MustCompile(`training stopped at epoch (\d+) step (\d+); checkpoint written to `)

// lossPluginPid is the pid of the running loss plugin of dir's runs.
func lossPluginPid(t *testing.T, bin, dir string) int {
	t.Helper()
	for _, pe := range pluginProcesses(t, bin, dir) {
		pid, exe, _ := strings.Cut(pe, " ")
		if filepath.Base(exe) == "clusterlab-loss-temi" {
			n, err := strconv.Atoi(pid)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no loss plugin runs; plugins: %v", pluginProcesses(t, bin, dir))
	return 0
}

// checkpointMeta reads the meta.json of runDir's checkpoint.
func checkpointMeta(t *testing.T, runDir string) rundir.CheckpointMeta {
	t.Helper()
	var meta rundir.CheckpointMeta
	z, err := rundir.OpenCheckpoint(filepath.Join(runDir, rundir.CheckpointFile), &meta)
	if err != nil {
		t.Fatalf("no readable checkpoint in the run directory: %v", err)
	}
	z.Close()
	return meta
}

// rerunResumes runs the same command again: it must resume from the
// checkpoint and finish every epoch.
func rerunResumes(t *testing.T, dir, trial string, meta rundir.CheckpointMeta) {
	t.Helper()
	r := clusterlab(t, dir, nil, "run", trial+".yaml")
	if r.code != 0 {
		t.Fatalf("rerun failed (%d):\n%s", r.code, r.stderr)
	}
	resume := fmt.Sprintf("%s after epoch %d of %d", rundir.CheckpointFile, meta.Epoch, sigtermEpochs)
	if !strings.Contains(r.stderr, "temi: resuming from ") || !strings.Contains(r.stderr, resume) {
		t.Errorf("rerun did not resume from the checkpoint (no %q):\n%s", resume, r.stderr)
	}
	runDir := filepath.Join(dir, "runs", "e2e", trial)
	rec, err := rundir.ReadRecord(runDir)
	if err != nil || rec.Status != rundir.StatusFinished {
		t.Errorf("run.json after the rerun: status %q, %v", rec.Status, err)
	}
	hist, err := rundir.ReadHistory(filepath.Join(runDir, "history.jsonl"))
	if err != nil || len(hist) != sigtermEpochs {
		t.Errorf("history after the rerun: %d epochs, want %d (%v)", len(hist), sigtermEpochs, err)
	}
}

// TestSIGTERMToLossPlugin sends SIGTERM to the loss plugin alone during
// training: the plugin stops its Fit, the trainer saves a checkpoint of the
// steps done, the plugin exits with status 143 (the runner's run fails,
// naming it), and the same command resumes from that checkpoint.
func TestSIGTERMToLossPlugin(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("finds the plugin through /proc")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	const trial = "termplugin"
	p, runDir, ipe := startSigtermTraining(t, dir, trial)
	pid := lossPluginPid(t, bin, dir)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := p.exitCode(); c != exitFailure {
		t.Fatalf("runner exit %d after its loss plugin's SIGTERM, want %d:\n%s", c, exitFailure, p.stderr())
	}
	log := p.stderr()
	// The plugin exited by itself, with 143, after the trainer saved the
	// steps done.
	if !strings.Contains(log, "exited during Fit: exit status 143") {
		t.Fatalf("the runner does not report the loss plugin's exit with status 143:\n%s", log)
	}
	if !strings.Contains(log, "Fit ended after SIGTERM: training stopped at epoch ") {
		t.Fatalf("the plugin's stderr, quoted by the runner, does not say how its Fit ended:\n%s", log)
	}
	meta := checkStopPoint(t, log, runDir, ipe)
	if rec, err := rundir.ReadRecord(runDir); err != nil || rec.Status != rundir.StatusFailed {
		t.Errorf("run.json after the plugin's exit: status %q, %v", rec.Status, err)
	}
	waitPluginsGone(t, bin, dir, "after the loss plugin's SIGTERM")

	rerunResumes(t, dir, trial, meta)
}

// TestSIGTERMToJob sends SIGTERM to the runner and its plugins at once, as
// Slurm's scancel does (the runner's process group holds them all): the
// loss plugin handles the signal itself instead of dying of it, the run is
// recorded as interrupted with a checkpoint of the steps done, nothing is
// left running, and the same command resumes. CLUSTERLAB_DEBUG=1 makes the
// runner copy its plugins' stderr into its own, to read what the loss
// plugin did.
func TestSIGTERMToJob(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("uses process groups and /proc")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	const trial = "termjob"
	p, runDir, ipe := startSigtermTraining(t, dir, trial, "CLUSTERLAB_DEBUG=1")
	// The plugins run in the runner's process group (startRunnerEnv gives
	// the runner a group of its own): check, so that the signal does
	// reach the loss plugin.
	pid := lossPluginPid(t, bin, dir)
	if pg, err := syscall.Getpgid(pid); err != nil || pg != p.cmd.Process.Pid {
		t.Fatalf("loss plugin %d is in process group %d (%v), not the runner's %d", pid, pg, err, p.cmd.Process.Pid)
	}
	sent := time.Now()
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := p.exitCode(); c != exitInterrupted {
		t.Fatalf("runner exit %d after SIGTERM to the job, want %d:\n%s", c, exitInterrupted, p.stderr())
	}
	t.Logf("the runner stopped %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	log := p.stderr()
	if !strings.Contains(log, "terminated received, stopping") || !strings.Contains(log, "Run the same command again to resume") {
		t.Errorf("the runner does not report the SIGTERM and how to resume:\n%s", log)
	}
	// The loss plugin caught the signal (a plugin that died of it would
	// lose the steps since the last epoch's checkpoint).
	if !strings.Contains(log, "clusterlab-loss-temi: SIGTERM received; ") {
		t.Fatalf("the loss plugin did not handle SIGTERM:\n%s", log)
	}
	rec, err := rundir.ReadRecord(runDir)
	if err != nil || rec.Status != rundir.StatusInterrupted || rec.ExitStatus != exitInterrupted {
		t.Errorf("run.json after SIGTERM: status %q, exit status %d, %v", rec.Status, rec.ExitStatus, err)
	}
	var meta rundir.CheckpointMeta
	if strings.Contains(log, "Fit ended after SIGTERM: ") {
		meta = checkStopPoint(t, log, runDir, ipe)
	} else {
		// The runner's cancellation ended the plugin's Fit before the
		// plugin's own signal handler ran: the trainer did not say where
		// it stopped, but at least the first epoch was done.
		meta = checkpointMeta(t, runDir)
		if meta.Iter < ipe || meta.Epoch < 1 {
			t.Errorf("checkpoint at iteration %d (epoch %d), but an epoch of %d steps was done before SIGTERM", meta.Iter, meta.Epoch, ipe)
		}
		t.Logf("Fit ended before the plugin handled SIGTERM; checkpoint at iteration %d", meta.Iter)
	}
	waitPluginsGone(t, bin, dir, "after SIGTERM to the job")

	rerunResumes(t, dir, trial, meta)
}
