// Package slurm writes Slurm batch scripts, submits them with sbatch and
// reads where their jobs and array tasks stand with squeue. It runs the
// Slurm client commands (sbatch, squeue) found on PATH with this process's
// environment (SLURM_CONF included), so it works wherever a user could
// type them: a login node, or a test cluster started by
// scripts/slurm-local.sh.
//
// Job states come from squeue --states=all, not sacct: clusters without
// slurmdbd have no accounting, and squeue keeps finished jobs for
// MinJobAge seconds (300 by default). A job Slurm has forgotten is
// reported as such (ErrUnknownJob); callers fall back on their own records.
package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// ArrayTaskID is the word of a Command that becomes the array task's
// index when the job runs ("$SLURM_ARRAY_TASK_ID", unquoted).
const ArrayTaskID = "\x00SLURM_ARRAY_TASK_ID"

// Job is a batch job to write: its #SBATCH options and the command it runs.
type Job struct {
	Name                          string // --job-name
	Partition, Account, Time, Mem string // empty: left to the cluster
	CPUs, GPUs                    int    // 0: left to the cluster (GPUs: none)
	// Array is sbatch --array's value (e.g. "1,4,5%2"); empty: one job.
	Array string
	// Dependency is sbatch --dependency's value (e.g. "afterok:123");
	// empty: none. A job whose dependency can never be met is cancelled
	// (--kill-on-invalid-dep), so that it does not wait forever.
	Dependency string
	// Output is the log file pattern (%A array job id, %a task, %j job id);
	// logs are appended to, so a requeued job keeps its first attempt's log.
	Output string
	// Extra are further sbatch options, one #SBATCH line each.
	Extra []string
	// Dir is the working directory the command runs in.
	Dir string
	// Env are KEY=VALUE pairs the script exports before the command.
	Env []string
	// Setup are shell lines run before the command (module load, ...).
	Setup []string
	// Command is the program and its arguments, each quoted for the shell
	// but ArrayTaskID; the script execs it, so Slurm's signals (scancel,
	// preemption, the time limit) reach it directly.
	Command []string
}

// Script renders the job as a bash batch script.
func (j Job) Script() []byte {
	var b bytes.Buffer
	b.WriteString("#!/bin/bash\n")
	opt := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, "#SBATCH --%s=%s\n", name, v)
		}
	}
	opt("job-name", j.Name)
	opt("partition", j.Partition)
	opt("account", j.Account)
	opt("time", j.Time)
	opt("mem", j.Mem)
	if j.CPUs > 0 {
		opt("cpus-per-task", strconv.Itoa(j.CPUs))
	}
	if j.GPUs > 0 {
		opt("gres", "gpu:"+strconv.Itoa(j.GPUs))
	}
	opt("array", j.Array)
	if j.Dependency != "" {
		opt("dependency", j.Dependency)
		opt("kill-on-invalid-dep", "yes")
	}
	opt("output", j.Output)
	if j.Output != "" {
		opt("open-mode", "append")
	}
	for _, e := range j.Extra {
		fmt.Fprintf(&b, "#SBATCH %s\n", e)
	}
	b.WriteString("# Written by clusterlab; runs one step of a clusterlab run.\nset -e\n")
	if j.Dir != "" {
		fmt.Fprintf(&b, "cd %s\n", Quote(j.Dir))
	}
	for _, e := range j.Env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, Quote(v))
	}
	for _, s := range j.Setup {
		b.WriteString(s + "\n")
	}
	b.WriteString("exec")
	for _, w := range j.Command {
		if w == ArrayTaskID {
			b.WriteString(` "$SLURM_ARRAY_TASK_ID"`)
			continue
		}
		b.WriteString(" " + Quote(w))
	}
	b.WriteString("\n")
	return b.Bytes()
}

// Ranges writes ascending array indices as sbatch --array wants them,
// runs of consecutive indices as ranges: 0-5,8,10-11.
func Ranges(indices []int) string {
	var parts []string
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", indices[i], indices[j]))
		} else {
			parts = append(parts, strconv.Itoa(indices[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Quote quotes s for bash, as one word.
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=./:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Available says whether the Slurm client commands are on PATH, and what
// to do when they are not.
func Available() error {
	for _, c := range []string{"sbatch", "squeue"} {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%s is not on PATH: the slurm executor needs Slurm's client commands (sbatch, squeue); run on a login node of the cluster, or use --executor local", c)
		}
	}
	return nil
}

// Submit submits a batch script with sbatch and returns the job id.
func Submit(ctx context.Context, script string) (string, error) {
	out, err := run(ctx, "sbatch", "--parsable", script)
	if err != nil {
		return "", err
	}
	// --parsable prints "jobid" or "jobid;cluster".
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("submit %s: sbatch printed %q, not a job id", script, strings.TrimSpace(out))
	}
	return id, nil
}

// ErrUnknownJob says Slurm no longer knows a job: it ended more than
// MinJobAge ago (or never existed on this cluster).
var ErrUnknownJob = errors.New("Slurm does not know this job (it ended more than MinJobAge ago, or belongs to another cluster)")

// Task is one job, or one task of an array job, as squeue shows it.
type Task struct {
	ID     string // 123, or 123_4 for task 4 of array job 123
	Index  int    // the array task index; -1 for a job that is not an array
	State  string // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
	Reason string // why it is pending or ended (Dependency, NonZeroExitCode, ...); "" for None
}

// Active says whether the task may still run or is running: not in a
// final state.
func (t Task) Active() bool {
	switch t.State {
	case "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED":
		return false
	}
	return true
}

// Pending says whether the task waits to start.
func (t Task) Pending() bool {
	switch t.State {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "SPECIAL_EXIT":
		return true
	}
	return false
}

// Tasks lists the job's tasks (one for a job that is not an array), in any
// state. A job Slurm has forgotten gives ErrUnknownJob.
func Tasks(ctx context.Context, jobID string) ([]Task, error) {
	out, err := run(ctx, "squeue", "--noheader", "--states=all", "--array", "--jobs="+jobID, "--format=%i|%K|%T|%r")
	if err != nil {
		if strings.Contains(err.Error(), "Invalid job id") {
			return nil, fmt.Errorf("job %s: %w", jobID, ErrUnknownJob)
		}
		return nil, err
	}
	return parseTasks(out)
}

// parseTasks reads squeue's lines "%i|%K|%T|%r".
func parseTasks(out string) ([]Task, error) {
	var tasks []Task
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 4 {
			return nil, fmt.Errorf("squeue printed %q, not id|task|state|reason", line)
		}
		t := Task{ID: f[0], Index: -1, State: f[2], Reason: f[3]}
		if n, err := strconv.Atoi(f[1]); err == nil {
			t.Index = n
		}
		if t.Reason == "None" {
			t.Reason = ""
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// run runs a Slurm client command and returns its stdout; its error says
// what the command printed on stderr.
func run(ctx context.Context, name string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s %s: %s", name, strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}
