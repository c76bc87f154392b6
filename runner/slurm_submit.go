package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/slurm"
)

// submitSlurm is `clusterlab run CONFIG --executor slurm`: it submits the
// trials that are not done (finished, queued or running) as one prepare
// job, which fills the cache (every trial's embeddings and k-NN graph),
// and one array job with a task per trial that waits for it (afterok);
// task i runs `clusterlab run CONFIG --trial-index i`. It prints the job
// ids and returns; `clusterlab status` follows them. Running it again
// resubmits only what is neither done nor on its way.
func submitSlurm(ctx context.Context, cfg *config.Config, configFile string, ov config.Overrides, plans []*trialPlan, stdout io.Writer) error {
	if err := slurm.Available(); err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	expDir, err := filepath.Abs(filepath.Join(cfg.RunsDir, cfg.Experiment))
	if err != nil {
		return err
	}
	// The jobs need the cache and the runs directory: a path that cannot
	// be a folder fails here, not in every job.
	opened := map[string]bool{}
	for _, p := range plans {
		if opened[p.cfg.CacheDir] {
			continue
		}
		opened[p.cfg.CacheDir] = true
		if _, err := store.Open(p.cfg.CacheDir); err != nil {
			return fmt.Errorf("%w; set cache_dir to a folder on a filesystem the cluster's nodes share", err)
		}
	}
	warnSharedLocks(plans)
	states, err := trialStates(ctx, expDir, plans)
	if err != nil {
		return err
	}
	var todo []*trialPlan
	for i, s := range states {
		switch s.State {
		case stateDone, stateQueued, stateRunning:
			logf("slurm: trial %s is %s%s; not submitted again", s.Trial, s.State, withJob(s.Job))
			continue
		}
		p := plans[i]
		// A run directory of another config is moved aside now, so that
		// the task's log, which Slurm opens in it before the run starts,
		// stays with the run it logs.
		if err := takeRunDir(p); err != nil {
			if errors.Is(err, store.ErrLocked) {
				logf("slurm: trial %s is running elsewhere (%v); not submitted", p.trial, err)
				continue
			}
			return err
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		fmt.Fprintf(stdout, "nothing to submit: each of the %d trial(s) is done, queued or running; `clusterlab status %s` shows them\n", len(plans), expDir)
		return nil
	}

	// One folder per submission: the scripts, the prepare job's log,
	// submission.json; tasks/<index> links to the trial's run directory,
	// where Slurm writes the task's log.
	subDir := filepath.Join(expDir, rundir.SlurmDir, time.Now().UTC().Format("20060102T150405.000Z"))
	if err := os.MkdirAll(filepath.Join(subDir, "tasks"), 0o755); err != nil {
		return fmt.Errorf("create %s: %w; set runs_dir to a writable folder on a filesystem the cluster's nodes share", subDir, err)
	}
	var indices []int
	for _, p := range todo {
		runDir, err := filepath.Abs(p.runDir)
		if err != nil {
			return err
		}
		if err := os.Symlink(runDir, filepath.Join(subDir, "tasks", strconv.Itoa(p.sweepIndex()))); err != nil {
			return fmt.Errorf("link the task of trial %s to its run directory: %w", p.trial, err)
		}
		indices = append(indices, p.sweepIndex())
	}

	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the clusterlab executable for the jobs: %w", err)
	}
	cfgAbs, err := filepath.Abs(configFile)
	if err != nil {
		return err
	}
	var overrides []string
	for _, s := range ov.Sets {
		overrides = append(overrides, "--set", s)
	}
	for _, u := range ov.Unsets {
		overrides = append(overrides, "--unset", u)
	}
	ex := cfg.Executor
	job := slurm.Job{
		Partition: ex.Partition, Account: ex.Account, Extra: ex.Sbatch,
		Dir: cwd, Env: jobEnv(), Setup: ex.Setup,
	}
	prep := job
	prep.Name = "clusterlab-prepare-" + cfg.Experiment
	prep.Time, prep.Mem, prep.CPUs, prep.GPUs = or(ex.PrepareTime, ex.Time), or(ex.PrepareMem, ex.Mem), orInt(ex.PrepareCPUs, ex.CPUs), orInt(ex.PrepareGPUs, ex.GPUs)
	prep.Output = filepath.Join(subDir, "prepare-%j.log")
	prep.Command = append([]string{exe, "prepare", cfgAbs}, overrides...)

	trials := job
	trials.Name = "clusterlab-" + cfg.Experiment
	trials.Time, trials.Mem, trials.CPUs, trials.GPUs = ex.Time, ex.Mem, ex.CPUs, ex.GPUs
	trials.Array = slurm.Ranges(indices)
	if ex.ArrayLimit > 0 {
		trials.Array += "%" + strconv.Itoa(ex.ArrayLimit)
	}
	trials.Output = filepath.Join(subDir, "tasks", "%a", rundir.SlurmLogPrefix+"%A_%a.log")
	command := append(append([]string{exe, "run", cfgAbs}, overrides...), "--executor", config.ExecutorLocal, "--submission", subDir)
	trials.Command = append(append([]string(nil), command...), "--trial-index", slurm.ArrayTaskID)

	prepScript, trialsScript := filepath.Join(subDir, "prepare.sh"), filepath.Join(subDir, "trials.sh")
	if err := writeScript(prepScript, prep.Script()); err != nil {
		return err
	}
	host, _ := os.Hostname()
	sub := rundir.Submission{Submitted: time.Now().UTC(), Host: host, User: userName(), Config: cfgAbs,
		Command: append(command, "--trial-index"), Dir: cwd, ArrayLimit: ex.ArrayLimit}
	sub.PrepareJob, err = slurm.Submit(ctx, prepScript)
	if err != nil {
		return fmt.Errorf("%w\nnothing was submitted; the job asks what the config's executor section says (partition, account, time, cpus, mem, gpus, sbatch): see %s", err, prepScript)
	}
	sub.PrepareLog = strings.ReplaceAll(prep.Output, "%j", sub.PrepareJob)
	trials.Dependency = "afterok:" + sub.PrepareJob
	if err := writeScript(trialsScript, trials.Script()); err != nil {
		return err
	}
	sub.ArrayJob, err = slurm.Submit(ctx, trialsScript)
	if err != nil {
		return fmt.Errorf("%w (the prepare job %s was submitted; cancel it with scancel %s)", err, sub.PrepareJob, sub.PrepareJob)
	}
	for _, p := range todo {
		i := p.sweepIndex()
		runDir, _ := filepath.Abs(p.runDir)
		sub.Trials = append(sub.Trials, rundir.SubmittedTrial{Index: i, Trial: p.trial, Identity: p.identity, RunDir: runDir,
			Log: filepath.Join(runDir, fmt.Sprintf("%s%s_%d.log", rundir.SlurmLogPrefix, sub.ArrayJob, i))})
	}
	if err := rundir.WriteSubmission(subDir, sub); err != nil {
		return fmt.Errorf("record the submission (prepare job %s, array job %s were submitted): %w", sub.PrepareJob, sub.ArrayJob, err)
	}

	fmt.Fprintf(stdout, "submitted to Slurm: %d of the %d trial(s) of %s\n", len(todo), len(plans), cfg.Experiment)
	fmt.Fprintf(stdout, "  prepare job %s (embeddings, k-NN graphs): log %s\n", sub.PrepareJob, sub.PrepareLog)
	limit := ""
	if ex.ArrayLimit > 0 {
		limit = fmt.Sprintf(", at most %d at once", ex.ArrayLimit)
	}
	fmt.Fprintf(stdout, "  array job %s, after the prepare job, one task per trial%s:\n", sub.ArrayJob, limit)
	for _, t := range sub.Trials {
		fmt.Fprintf(stdout, "    %-10s %-24s log %s\n", sub.Task(t), t.Trial, t.Log)
	}
	fmt.Fprintf(stdout, "scripts and the submission record: %s\n", subDir)
	fmt.Fprintf(stdout, "follow them with `clusterlab status %s` (--wait to wait); run this command again to resubmit the trials that are not done\n", expDir)
	return nil
}

// sweepIndex is the trial's index in its sweep (its array task index); 0
// for a single run.
func (t *trialPlan) sweepIndex() int {
	if t.sweep != nil {
		return t.sweep.Index
	}
	return 0
}

// takeRunDir prepares a trial's run directory for a task that will run
// it: created, and a run of another identity moved aside (under the
// directory's lock, which fails with store.ErrLocked while a process runs
// the trial).
func takeRunDir(p *trialPlan) error {
	unlock, err := lockRunDir(p.runDir)
	if err != nil {
		return err
	}
	defer unlock()
	_, err = supersede(p.runDir, p.identity, trialLogOf(p))
	return err
}

// checkSubmitted is the --submission check of an array task: the trial
// at its index must be the one submitted, or the config changed since
// (edited, another override), and running it would mix up trials.
func checkSubmitted(subDir string, p *trialPlan) error {
	sub, err := rundir.ReadSubmission(subDir)
	if err != nil {
		return fmt.Errorf("read the submission this task belongs to: %w", err)
	}
	for _, t := range sub.Trials {
		if t.Index != p.sweepIndex() {
			continue
		}
		if t.Trial != p.trial || t.Identity != p.identity {
			return fmt.Errorf("%w: the config changed since it was submitted: trial %d is now %s (identity %.8s), the submission ran %s (identity %.8s); submit again with clusterlab run %s --executor slurm",
				core.ErrInvalidInput, t.Index, p.trial, p.identity, t.Trial, t.Identity, sub.Config)
		}
		return nil
	}
	return fmt.Errorf("%w: trial %d (%s) is not in the submission %s", core.ErrInvalidInput, p.sweepIndex(), p.trial, subDir)
}

// jobEnv are the variables the jobs export: the config's environment
// overrides and clusterlab's settings (CLUSTERLAB_*) and the ONNX Runtime
// library, as at submission, whatever the cluster's --export policy.
func jobEnv() []string {
	var out []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, config.EnvPrefix) || strings.HasPrefix(e, "ONNXRUNTIME_SHARED_LIBRARY_PATH=") {
			out = append(out, e)
		}
	}
	return out
}

func writeScript(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o755); err != nil {
		return fmt.Errorf("write the batch script: %w", err)
	}
	return nil
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return strconv.Itoa(os.Getuid())
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orInt(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func withJob(job string) string {
	if job == "" {
		return ""
	}
	return " (Slurm job " + job + ")"
}

// warnSharedLocks says when the cache or the runs directory lies on a
// filesystem whose locks may not reach the other machines that run
// trials (store.LockWarning): there, two machines could compute one cache
// entry or run one trial at once.
func warnSharedLocks(plans []*trialPlan) {
	seen := map[string]bool{}
	for _, p := range plans {
		for _, d := range []string{p.cfg.CacheDir, p.cfg.RunsDir} {
			if seen[d] {
				continue
			}
			seen[d] = true
			if w := store.LockWarning(d); w != "" {
				logf("warning: %s", w)
			}
		}
	}
}
