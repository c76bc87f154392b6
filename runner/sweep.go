package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"

	"github.com/clusterlab/clusterlab/runner/config"
)

// runSweep runs every planned trial of a sweep, `parallel` at a time.
// Trials share the store, so the embeddings and the k-NN graph are
// computed once (the first trial computes them under the entry lock, the
// others wait and reuse). A finished trial is skipped; an interrupted one
// resumes from its checkpoint. At the end it prints the sweep table, with
// the failed trials in it, and returns their errors.
//
// When plans are a subset of the sweep's trials, all (--trial-index,
// --shard), their table is printed; the experiment's table files are
// written only once every trial of the sweep has finished (by whichever
// invocation finishes last), since other invocations run the other
// trials; `clusterlab table` gathers them at any time.
func runSweep(ctx context.Context, cfg *config.Config, plans, all []*trialPlan, stdout io.Writer) (string, error) {
	part := len(plans) < len(all)
	sw := cfg.Sweep
	expDir := filepath.Join(cfg.RunsDir, cfg.Experiment)
	if part {
		var names []string
		for _, p := range plans {
			names = append(names, p.trial)
		}
		logf("sweep: %d of its trials here (%s), %d at a time, in %s", len(plans), strings.Join(names, ", "), sw.Parallel, expDir)
	} else {
		logf("sweep: %d trials, %d at a time, in %s", len(plans), sw.Parallel, expDir)
	}
	jobs := make(chan *trialPlan)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := 0; w < sw.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range jobs {
				logf("sweep: trial %s", p.trial)
				var out bytes.Buffer
				dir, err := runExperiment(ctx, p, &out)
				mu.Lock()
				if errors.Is(err, store.ErrLocked) {
					// Another live process runs this trial (another
					// invocation of the sweep, a shard): not a failure;
					// the table shows it as running.
					logf("sweep: trial %s skipped: %v", p.trial, err)
					mu.Unlock()
					continue
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("trial %s: %w", p.trial, err))
					logf("sweep: trial %s failed: %v", p.trial, err)
				} else {
					logf("sweep: trial %s done (%s)", p.trial, dir)
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range plans {
		if ctx.Err() != nil {
			break
		}
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return expDir, err
	}
	var dirs []string
	for _, p := range plans {
		dirs = append(dirs, p.runDir)
	}
	runs, err := loadRuns(dirs)
	if err != nil {
		return expDir, errors.Join(append(errs, err)...)
	}
	if part {
		if len(runs) > 0 {
			if err := writeSweepTables("", runs, stdout); err != nil {
				errs = append(errs, err)
			}
		}
		if allFinished(all) {
			// The last trial of the sweep: its tables, as a whole sweep
			// run here would write them.
			if err := writeAllTables(expDir, all); err != nil {
				errs = append(errs, err)
			} else {
				logf("sweep: every trial of %s has finished; its tables are in %s", cfg.Experiment, filepath.Join(expDir, rundir.SweepTablesText))
			}
		} else {
			logf("sweep: the other trials run elsewhere; `clusterlab table %s` gathers every trial", expDir)
		}
		return expDir, errors.Join(errs...)
	}
	if err := writeSweepTables(expDir, runs, stdout); err != nil {
		errs = append(errs, err)
	}
	return expDir, errors.Join(errs...)
}

// allFinished says whether every planned trial has finished with its
// identity.
func allFinished(plans []*trialPlan) bool {
	for _, p := range plans {
		if !finishedWith(p.runDir, p.identity) {
			return false
		}
	}
	return true
}

// writeAllTables writes the table files of a sweep all of whose trials
// have finished.
func writeAllTables(expDir string, plans []*trialPlan) error {
	var dirs []string
	for _, p := range plans {
		dirs = append(dirs, p.runDir)
	}
	runs, err := loadRuns(dirs)
	if err != nil {
		return err
	}
	return writeSweepTables(expDir, runs, io.Discard)
}

// loadRuns reads run directories, finished or not; a directory that is not
// a run directory is searched one level down (an experiment directory,
// whose trials are ordered as their sweep ran them). Folders whose names
// start with '.' (superseded runs, locks) are skipped.
func loadRuns(paths []string) ([]rundir.Run, error) {
	var out []rundir.Run
	for _, p := range paths {
		run, err := rundir.Read(p)
		if err == nil {
			out = append(out, markDead(run))
			continue
		}
		if !errors.Is(err, rundir.ErrNotRun) {
			return nil, err
		}
		entries, rerr := os.ReadDir(p)
		if rerr != nil {
			return nil, fmt.Errorf("%s is not a run or experiment directory: %w", p, rerr)
		}
		var trials []rundir.Run
		for _, e := range entries {
			if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			run, err := rundir.Read(filepath.Join(p, e.Name()))
			if errors.Is(err, rundir.ErrNotRun) {
				continue
			}
			if err != nil {
				return nil, err
			}
			trials = append(trials, markDead(run))
		}
		if len(trials) == 0 {
			return nil, fmt.Errorf("%s holds no run directory (no %s or %s in it or its subfolders)", p, rundir.RecordFile, rundir.MetricsFile)
		}
		sortTrials(trials)
		out = append(out, trials...)
	}
	return out, nil
}

// sortTrials orders the trials of an experiment directory: the trials of
// a sweep by their place in it (config order), then the others by name.
func sortTrials(runs []rundir.Run) {
	sort.SliceStable(runs, func(i, j int) bool {
		si, sj := runs[i].Record.Sweep, runs[j].Record.Sweep
		switch {
		case si != nil && sj != nil && si.Index >= 0 && sj.Index >= 0 && si.Index != sj.Index:
			return si.Index < sj.Index
		case (si != nil && si.Index >= 0) != (sj != nil && sj.Index >= 0):
			return si != nil && si.Index >= 0
		}
		return filepath.Base(runs[i].Dir) < filepath.Base(runs[j].Dir)
	})
}

// markDead turns a "running" record whose process is gone into an
// interrupted one: it was killed (SIGKILL, power loss) before it could say.
func markDead(run rundir.Run) rundir.Run {
	r := &run.Record
	if r.Status != rundir.StatusRunning || r.PID <= 0 {
		return run
	}
	h := store.Holder{Host: r.Host, PID: r.PID}
	if !h.Local() {
		return run // another machine's process: cannot tell
	}
	if h.Alive() {
		if unlock, lerr := store.TryLockDir(run.Dir); lerr != nil {
			return run // its lock is held: it runs
		} else {
			unlock()
		}
	}
	r.Status = rundir.StatusInterrupted
	r.Error = fmt.Sprintf("process %d on %s stopped without recording why (killed?)", r.PID, r.Host)
	return run
}
