package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/slurm"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// Where a trial stands (clusterlab status).
const (
	stateDone         = "done"
	stateRunning      = "running"
	stateQueued       = "queued"
	stateFailed       = "failed"
	stateNotSubmitted = "not submitted"
)

// logTailLines is how much of a failed trial's log status shows.
const logTailLines = 15

// trialState is one trial of an experiment as `clusterlab status` shows it:
// its run directory's record joined with its Slurm task's state.
type trialState struct {
	Index   int      `json:"index"` // in the sweep; -1 when unknown
	Trial   string   `json:"trial"`
	State   string   `json:"state"` // done, running, queued, failed, not submitted
	Job     string   `json:"job,omitempty"`
	Slurm   string   `json:"slurm,omitempty"` // the task's Slurm state and reason
	Note    string   `json:"note,omitempty"`
	RunDir  string   `json:"run_dir"`
	Log     string   `json:"log,omitempty"`
	LogTail []string `json:"log_tail,omitempty"` // of a failed trial
	// active: Slurm's task has not ended yet (a done trial's task may
	// still be writing the sweep's tables).
	active bool
}

// trialStates says where each trial of an experiment stands: the planned
// trials when plans are given (a resubmission), else every trial the
// experiment directory's run directories and Slurm submissions name.
func trialStates(ctx context.Context, expDir string, plans []*trialPlan) ([]trialState, error) {
	subs, err := rundir.ReadSubmissions(expDir)
	if err != nil {
		return nil, err
	}
	// The latest submission of each trial, and the state of its jobs.
	latest := map[string]submitted{}
	for _, s := range subs {
		for _, t := range s.Trials {
			latest[t.Trial] = submitted{s, t}
		}
	}
	tasks := map[string]slurm.Task{}
	queried := map[string]error{}
	var slurmErr error
	query := func(job string) error {
		if err, ok := queried[job]; ok {
			return err
		}
		ts, err := slurm.Tasks(ctx, job)
		queried[job] = err
		for _, t := range ts {
			tasks[t.ID] = t
		}
		if err != nil && !errors.Is(err, slurm.ErrUnknownJob) && slurmErr == nil {
			slurmErr = err
		}
		return err
	}
	if len(latest) > 0 {
		if err := slurm.Available(); err != nil {
			slurmErr = err
		}
	}

	type trialRef struct {
		index        int
		name, runDir string
		identity     string
		run          *rundir.Run // already read while listing the directory
	}
	var refs []trialRef
	if plans != nil {
		for _, p := range plans {
			dir, _ := filepath.Abs(p.runDir)
			refs = append(refs, trialRef{p.sweepIndex(), p.trial, dir, p.identity, nil})
		}
	} else {
		seen := map[string]bool{}
		for name, s := range latest {
			refs = append(refs, trialRef{s.trial.Index, name, s.trial.RunDir, "", nil})
			seen[name] = true
		}
		entries, _ := os.ReadDir(expDir)
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") || seen[e.Name()] {
				continue
			}
			run, err := rundir.Read(filepath.Join(expDir, e.Name()))
			if err != nil {
				continue
			}
			idx := -1
			if run.Record.Sweep != nil {
				idx = run.Record.Sweep.Index
			}
			refs = append(refs, trialRef{idx, run.Record.Trial, run.Dir, "", &run})
		}
		sort.SliceStable(refs, func(i, j int) bool {
			if refs[i].index != refs[j].index {
				return refs[i].index < refs[j].index
			}
			return refs[i].name < refs[j].name
		})
	}

	var out []trialState
	for _, r := range refs {
		st := trialState{Index: r.index, Trial: r.name, RunDir: r.runDir}
		var run rundir.Run
		var rerr error
		if r.run != nil {
			run = *r.run
		} else {
			run, rerr = rundir.Read(r.runDir)
		}
		if rerr == nil {
			run = markDead(run)
		}
		// The trial's latest submission, unless it was submitted with
		// another config (then it is not this trial).
		var sub *submitted
		if s, ok := latest[r.name]; ok && (r.identity == "" || s.trial.Identity == r.identity) {
			sub = &s
		}
		var task slurm.Task
		known := false
		if sub != nil {
			st.Job, st.Log = sub.sub.Task(sub.trial), sub.trial.Log
			if slurmErr == nil && query(sub.sub.ArrayJob) == nil {
				task, known = tasks[st.Job]
			}
			if known {
				st.active = task.Active()
				st.Slurm = task.State
				if task.Pending() || !task.Active() && task.State != "COMPLETED" {
					st.Slurm = strings.TrimSpace(task.State + " " + paren(task.Reason))
				}
			}
		}
		st.decide(run, rerr, r.identity, sub, task, known, slurmErr)
		out = append(out, st)
	}
	return out, nil
}

// submitted is a trial's task in its latest submission.
type submitted struct {
	sub   rundir.Submission
	trial rundir.SubmittedTrial
}

// decide sets the trial's state from its run directory (run, or rerr when
// it holds no readable run), the identity it must have ("" for any), its
// latest submission (nil: never submitted) and what Slurm says of the
// task (known false: nothing, for slurmErr or because Slurm forgot it).
func (t *trialState) decide(run rundir.Run, rerr error, identity string, sub *submitted, task slurm.Task, known bool, slurmErr error) {
	switch {
	case rerr == nil && run.Finished() && (identity == "" || run.Record.Identity == identity):
		t.State = stateDone
	case known && task.Active() && task.Pending():
		t.State = stateQueued
		if task.Reason == "Dependency" {
			t.Note = "waits for the prepare job " + sub.sub.PrepareJob
		}
	case known && task.Active():
		t.State = stateRunning
	case rerr == nil && run.Record.Status == rundir.StatusRunning && !known:
		// No Slurm task says otherwise (a run outside Slurm, or one
		// Slurm forgot): the record's process, which markDead found
		// alive or cannot check on another host.
		t.State = stateRunning
		t.Note = fmt.Sprintf("process %d on %s", run.Record.PID, run.Record.Host)
	case sub == nil && rerr != nil:
		t.State = stateNotSubmitted
	default:
		t.State = stateFailed
		var notes []string
		switch {
		case rerr == nil && run.Record.Status == rundir.StatusRunning:
			notes = append(notes, "the task ended while the run was under way, without recording why (killed by Slurm: out of memory, time limit, node failure?); it resumes from its checkpoint when resubmitted")
		case rerr == nil && run.Record.Status == rundir.StatusInterrupted:
			notes = append(notes, "interrupted; resumes from its checkpoint when resubmitted ("+run.Record.Error+")")
		case rerr == nil && run.Record.Error != "":
			notes = append(notes, run.Record.Status+": "+run.Record.Error)
		}
		switch {
		case known && task.Reason == "DependencyNeverSatisfied":
			notes = append(notes, fmt.Sprintf("the prepare job %s failed, so the task never ran", sub.sub.PrepareJob))
			t.Log = sub.sub.PrepareLog
		case sub != nil && !known && slurmErr == nil:
			notes = append(notes, fmt.Sprintf("Slurm no longer knows task %s and the trial did not finish", t.Job))
		case sub != nil && slurmErr != nil:
			notes = append(notes, "Slurm not asked: "+slurmErr.Error())
		}
		if rerr != nil && !errors.Is(rerr, rundir.ErrNotRun) {
			notes = append(notes, rerr.Error())
		}
		t.Note = strings.Join(notes, "; ")
		t.LogTail = tailLines(t.Log, logTailLines)
	}
}

func paren(s string) string {
	if s == "" {
		return ""
	}
	return "(" + s + ")"
}

// tailLines returns the last n lines of a file (none when it cannot be
// read).
func tailLines(path string, n int) []string {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	// A log may be long (progress of every epoch): read its end only.
	const window = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		f.Seek(fi.Size()-window, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// Progress redraws a line with carriage returns: keep the last.
		line := sc.Text()
		if i := strings.LastIndex(line, "\r"); i >= 0 {
			line = line[i+1:]
		}
		lines = append(lines, line)
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// counts says how many trials are in each state, in a fixed order.
func counts(states []trialState) string {
	n := map[string]int{}
	for _, s := range states {
		n[s.State]++
	}
	var parts []string
	for _, k := range []string{stateDone, stateRunning, stateQueued, stateFailed, stateNotSubmitted} {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
		}
	}
	return strings.Join(parts, ", ")
}

// statusOptions are the flags of `clusterlab status`.
type statusOptions struct {
	format   string
	wait     bool
	interval time.Duration
}

// cmdStatus is `clusterlab status EXPERIMENT`: every trial as done,
// running, queued or failed, with its Slurm job and the end of a failed
// trial's log. With wait it polls until no trial is queued or running,
// and fails unless every trial is done.
func cmdStatus(ctx context.Context, target string, o statusOptions, stdout io.Writer) error {
	expDir, err := experimentDir(target)
	if err != nil {
		return err
	}
	var states []trialState
	last := ""
	for {
		if states, err = trialStates(ctx, expDir, nil); err != nil {
			return err
		}
		if len(states) == 0 {
			return fmt.Errorf("%w: %s holds no trial (no run directory, no Slurm submission)", errNoTrials, expDir)
		}
		c := counts(states)
		busy := false
		for _, s := range states {
			busy = busy || s.active || s.State == stateRunning || s.State == stateQueued
		}
		if !o.wait || !busy {
			break
		}
		if c != last {
			logf("status: %s", c)
			last = c
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.interval):
		}
	}
	if err := writeStatus(stdout, expDir, states, o.format); err != nil {
		return err
	}
	if o.wait {
		for _, s := range states {
			if s.State != stateDone {
				return fmt.Errorf("not every trial is done: %s", counts(states))
			}
		}
	}
	return nil
}

var errNoTrials = errors.New("no trials")

// experimentDir is the experiment directory status reads: the directory
// given, or the experiment of a config file.
func experimentDir(target string) (string, error) {
	if fi, err := os.Stat(target); err == nil && fi.IsDir() {
		return filepath.Abs(target)
	}
	if ext := filepath.Ext(target); ext == ".yaml" || ext == ".yml" {
		cfg, err := config.Load(target, config.Overrides{})
		if err != nil {
			return "", err
		}
		return filepath.Abs(filepath.Join(cfg.RunsDir, cfg.Experiment))
	}
	return "", usageError{fmt.Sprintf("%s is neither an experiment directory (runs_dir/<experiment>) nor a config file", target)}
}

// writeStatus prints the states as a table (and the end of each failed
// trial's log), or as JSON.
func writeStatus(w io.Writer, expDir string, states []trialState, format string) error {
	if format == "json" {
		return writeJSON(w, struct {
			Experiment string       `json:"experiment"`
			Summary    string       `json:"summary"`
			Trials     []trialState `json:"trials"`
		}{expDir, counts(states), states})
	}
	var rows [][]string
	for _, s := range states {
		idx := "-"
		if s.Index >= 0 {
			idx = strconv.Itoa(s.Index)
		}
		rows = append(rows, []string{idx, s.Trial, s.State, orDash(s.Job), orDash(s.Slurm), orDash(s.Note)})
	}
	t := textTable("status", fmt.Sprintf("%s: %d trials: %s", expDir, len(states), counts(states)),
		[]string{"index", "trial", "state", "slurm job", "slurm state", "note"}, rows)
	if err := printTables(w, format, "", []tables.Table{t}); err != nil {
		return err
	}
	if format == "csv" {
		return nil
	}
	// Each failed log once, with the trials it explains (a failed prepare
	// job explains them all).
	var logs []string
	trialsOf := map[string][]string{}
	tail := map[string][]string{}
	for _, s := range states {
		if s.State != stateFailed || s.Log == "" {
			continue
		}
		if _, ok := trialsOf[s.Log]; !ok {
			logs = append(logs, s.Log)
			tail[s.Log] = s.LogTail
		}
		trialsOf[s.Log] = append(trialsOf[s.Log], s.Trial)
	}
	for _, l := range logs {
		fmt.Fprintf(w, "\n%s failed; the end of %s:\n", strings.Join(trialsOf[l], ", "), l)
		if len(tail[l]) == 0 {
			fmt.Fprintln(w, "    (empty or missing)")
		}
		for _, line := range tail[l] {
			fmt.Fprintln(w, "    "+line)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
