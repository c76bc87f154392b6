package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/runner/slurm"
)

// decide joins a trial's run record with its Slurm task: every case of
// `clusterlab status`, without a cluster (TestSlurmSweep runs the real one).
func TestDecideTrialState(t *testing.T) {
	sub := &submitted{sub: rundir.Submission{PrepareJob: "6", PrepareLog: "/x/.slurm/t/prepare-6.log", ArrayJob: "7"},
		trial: rundir.SubmittedTrial{Index: 2, Trial: "temi-seed0", Log: "/x/temi-seed0/slurm-7_2.log"}}
	record := func(status, errMsg string) rundir.Run {
		return rundir.Run{Record: rundir.Record{Status: status, Error: errMsg, Identity: "id", PID: 42, Host: "node1"}}
	}
	finished := rundir.Run{Record: rundir.Record{Status: rundir.StatusFinished, Identity: "id"}, Metrics: &rundir.Metrics{}}
	none := errors.Join(rundir.ErrNotRun)
	for _, tc := range []struct {
		name      string
		run       rundir.Run
		rerr      error
		identity  string
		sub       *submitted
		task      slurm.Task
		known     bool
		slurmErr  error
		state     string
		note, log string
	}{
		{name: "finished", run: finished, identity: "id", sub: sub, task: slurm.Task{State: "COMPLETED"}, known: true, state: stateDone},
		{name: "finished with another identity", run: finished, identity: "other", sub: sub, task: slurm.Task{State: "COMPLETED"}, known: true, state: stateFailed},
		{name: "waits for prepare", rerr: none, sub: sub, task: slurm.Task{State: "PENDING", Reason: "Dependency"}, known: true, state: stateQueued, note: "waits for the prepare job 6"},
		{name: "running task", run: record(rundir.StatusRunning, ""), sub: sub, task: slurm.Task{State: "RUNNING"}, known: true, state: stateRunning},
		{name: "running outside Slurm", run: record(rundir.StatusRunning, ""), state: stateRunning, note: "process 42 on node1"},
		{name: "never run", rerr: none, state: stateNotSubmitted},
		{name: "cancelled", run: record(rundir.StatusInterrupted, "context canceled"), sub: sub, task: slurm.Task{State: "CANCELLED"}, known: true,
			state: stateFailed, note: "interrupted; resumes from its checkpoint", log: sub.trial.Log},
		{name: "killed (OOM)", run: record(rundir.StatusRunning, ""), sub: sub, task: slurm.Task{State: "OUT_OF_MEMORY"}, known: true,
			state: stateFailed, note: "the task ended while the run was under way", log: sub.trial.Log},
		{name: "prepare failed", rerr: none, sub: sub, task: slurm.Task{State: "CANCELLED", Reason: "DependencyNeverSatisfied"}, known: true,
			state: stateFailed, note: "the prepare job 6 failed", log: sub.sub.PrepareLog},
		{name: "forgotten by Slurm", rerr: none, sub: sub, state: stateFailed, note: "Slurm no longer knows task 7_2", log: sub.trial.Log},
		{name: "squeue failed", rerr: none, sub: sub, slurmErr: errors.New("squeue: connection refused"), state: stateFailed, note: "Slurm not asked: squeue: connection refused"},
		{name: "failed locally", run: record(rundir.StatusFailed, "out of disk"), state: stateFailed, note: "failed: out of disk"},
	} {
		st := trialState{Trial: "temi-seed0"}
		if tc.sub != nil {
			st.Job, st.Log = tc.sub.sub.Task(tc.sub.trial), tc.sub.trial.Log
		}
		st.decide(tc.run, tc.rerr, tc.identity, tc.sub, tc.task, tc.known, tc.slurmErr)
		if st.State != tc.state || !strings.Contains(st.Note, tc.note) || tc.log != "" && st.Log != tc.log {
			t.Errorf("%s: state %q note %q log %q; want %q, a note with %q, log %q", tc.name, st.State, st.Note, st.Log, tc.state, tc.note, tc.log)
		}
	}
}
