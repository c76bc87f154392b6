package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// launched holds the source plugins of a run: the dataset and the
// backbone of the space being embedded (the fit stage launches the loss
// plugin itself).
type launched struct {
	ds, bb *plugins.Client
}

// killBackbone stops the backbone plugin, if one runs.
func (l *launched) killBackbone() {
	if l.bb != nil {
		l.bb.Kill()
		l.bb = nil
	}
}

// kill stops the plugins launched (again: nothing).
func (l *launched) kill() {
	for _, c := range []**plugins.Client{&l.ds, &l.bb} {
		if *c != nil {
			(*c).Kill()
			*c = nil
		}
	}
}

// launch starts the plugin of a planned section (validated while planning).
func launch(ctx context.Context, kind string, p plannedPlugin) (*plugins.Client, error) {
	var opts []plugins.LaunchOption
	if p.sha256 != "" {
		opts = append(opts, plugins.WithSHA256(p.sha256))
	}
	c, err := plugins.Launch(ctx, kind, p.plugin, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s plugin: %w", kind, err)
	}
	return c, nil
}

// launchDataset launches the dataset plugin of a plan (embedSpaces
// launches each backbone in turn).
func launchDataset(ctx context.Context, p *trialPlan, pl *launched) error {
	var err error
	pl.ds, err = launch(ctx, core.KindDataset, p.ds)
	return err
}

// runExperiment runs one planned trial and returns its run directory. A
// finished run of the same identity is reused; an unfinished one of the
// same identity resumes; a run directory of another identity (other
// config or other inputs under the same trial name) is moved aside and
// the trial runs afresh. run.json says where the run stands throughout,
// including why it failed.
func runExperiment(ctx context.Context, p *trialPlan, stdout io.Writer) (string, error) {
	started := time.Now()
	log := trialLogOf(p)
	if finishedWith(p.runDir, p.identity) {
		log.Logf("%s is already finished with this config and these inputs; its results are reused (delete the directory to rerun)", p.runDir)
		return p.runDir, reuseFinished(p.runDir, stdout, log)
	}
	st, err := store.Open(p.cfg.CacheDir)
	if err != nil {
		return "", err
	}
	rec, reused, err := beginRun(p, stdout, log)
	if reused {
		return p.runDir, err
	}
	if err != nil {
		return "", err
	}
	defer rec.release()
	// From here on a failure is recorded in run.json, so tables list the
	// run with its reason.
	if err := runPipeline(ctx, p, st, rec, started, stdout, log); err != nil {
		rec.fail(ctx, err)
		return "", err
	}
	return p.runDir, nil
}

// runPipeline runs the stages of a trial whose run directory is locked
// and whose run.json says it runs.
func runPipeline(ctx context.Context, p *trialPlan, st *store.Store, rec *runRecord, started time.Time, stdout io.Writer, log trialLog) error {
	cfg := p.cfg
	seconds := map[string]float64{}
	lap := func(name string, since time.Time) { seconds[name] = time.Since(since).Seconds() }

	if sk := p.dsInfo.Skipped; len(sk) > 0 {
		log.Logf("note: dataset %s left out %d file(s) that could not be read as images (first: %s: %s); %s lists them all",
			p.dsInfo.Name, len(sk), sk[0].Name, sk[0].Reason, filepath.Join(p.runDir, rundir.SkippedFile))
	}
	t := time.Now()
	data, err := embedStage(ctx, embedInput{Plan: p, Store: st, Log: log})
	if err != nil {
		return stageMemory("embedding (the backbone)", "the backbone's batch_size (backbone.batch_size)", err)
	}
	lap("embed", t)
	rec.setEmbeddings(data.Splits)

	be, err := backend.Open(cfg.Backend)
	if err != nil {
		return err
	}
	if be.Why != "" {
		log.Logf("%s", be.Why)
	}
	train, unmap, err := mapTrain(data)
	if err != nil {
		return err
	}
	defer unmap()

	// A loss that reads no k-NN graph (TURTLE) gets none: on MNIST pixels
	// it is a minute and a half of work nothing else uses.
	var nb neighboursOutput
	if !p.loss.desc.NoNeighbours {
		t = time.Now()
		nb, err = neighboursStage(ctx, neighboursInput{Store: st, Backend: be.Backend, Train: train, K: cfg.Neighbours.K, Log: log})
		if err != nil {
			return stageMemory("the k-NN graph", "neighbours.k", err)
		}
		if err := rec.setNeighbours(nb.Graph); err != nil {
			return err
		}
		lap("knn", t)
	}

	if err := writeReportInputs(p.runDir, p.dsInfo, data.Labels); err != nil {
		return err
	}

	sc := newScorer(ctx, data, cfg.Seed)
	bl, err := baselinesStage(ctx, baselinesInput{Backend: be.Backend, Train: train, Data: data, Clusters: p.clusters,
		Seed: cfg.Seed, Options: baselineOptionsOf(cfg), RunDir: p.runDir, Scorer: sc, Log: log})
	if err != nil {
		return stageMemory("the baselines", "baselines.kmeans_n_init, or switch baselines off (baselines.kmeans: false, baselines.linear_probe: false, baselines.knn_classifier: false)", err)
	}
	for k, v := range bl.Seconds {
		seconds[k] = v
	}
	unmap() // the loss plugin reads the arrays itself

	t = time.Now()
	fit, err := fitStage(ctx, fitInput{Loss: p.loss, Config: cfg, Data: data, Neighbours: nb.Graph.Path,
		Clusters: p.clusters, Seed: cfg.Seed, Backend: cfg.Backend, RunDir: p.runDir, Log: log})
	if err != nil {
		return stageMemory("training (loss "+p.loss.desc.Name+")", "loss.batch_size (or loss.heads, loss.hidden_dim)", err)
	}
	lap("fit", t)

	scored, err := scoreStage(scoreInput{Method: fit.Loss, Data: data, Assignments: fit.Result.Assignments, BestHead: fit.Result.BestHead, Scorer: sc})
	if err != nil {
		return err
	}
	seconds["silhouette"] = sc.seconds

	results := append(bl.Results, scored.Results...)
	secs, err := generalizationStage(ctx, generalizationInput{Data: data, Results: results,
		Train: trainAssignments(p.runDir, fit, results), Options: selectionOptionsOf(cfg), Log: log})
	if err != nil {
		return stageMemory("the generalization score", "selection.max_rows", err)
	}
	if secs > 0 {
		seconds["generalization"] = secs
	}

	_, err = reportStage(ctx, reportInput{Plan: p, Data: data, Fit: fit, Results: results,
		Seconds: seconds, Started: started, Record: rec, Stdout: stdout, Log: log})
	if err == nil {
		writeTensorBoardReport(p.runDir, data.Names, fit.Result.BestHead, bl.Results, log)
	}
	return err
}

// runRecord is run.json of a running trial, kept up to date as the stages
// finish, and the lock of its run directory.
type runRecord struct {
	dir    string
	rec    rundir.Record
	unlock func()
	log    trialLog
}

// beginRun takes the run directory of a planned trial for this process:
// it locks it, moves aside a run of another identity, writes config.yaml
// and run.json (running). When another process finished the trial while
// this one waited for the lock, it prints that run's table instead and
// returns reused (with the error of printing it).
func beginRun(p *trialPlan, stdout io.Writer, log trialLog) (*runRecord, bool, error) {
	runDir := p.runDir
	// One process per run directory: a second `clusterlab run` of the same
	// trial would interleave checkpoints and results.
	unlock, err := lockRunDir(runDir)
	if err != nil {
		return nil, false, err
	}
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()
	// The holder before us may have finished this very trial.
	if finishedWith(runDir, p.identity) {
		log.Logf("%s was finished by another run meanwhile; its results are reused", runDir)
		return nil, true, reuseFinished(runDir, stdout, log)
	}
	if moved, err := supersede(runDir, p.identity, log); err != nil {
		return nil, false, err
	} else if moved != "" {
		unlock()
		if unlock, err = lockRunDir(runDir); err != nil {
			unlock = func() {}
			return nil, false, err
		}
	}
	removeStaleTemps(runDir)
	if err := writeFileAtomic(filepath.Join(runDir, rundir.ConfigFile), p.cfgYAML); err != nil {
		return nil, false, fmt.Errorf("run directory %s is not writable: %w", runDir, err)
	}
	r := &runRecord{dir: runDir, rec: newRecord(p), unlock: unlock, log: log}
	if err := rundir.WriteRecord(runDir, r.rec); err != nil {
		return nil, false, fmt.Errorf("run directory %s is not writable: %w", runDir, err)
	}
	ok = true
	log.Logf("run directory: %s", runDir)
	return r, false, nil
}

// release unlocks the run directory.
func (r *runRecord) release() { r.unlock() }

// setEmbeddings records the embeddings the run reads (written to run.json
// with the k-NN graph).
func (r *runRecord) setEmbeddings(splits map[string]splitData) {
	r.rec.Inputs.Embeddings = map[string]rundir.Array{}
	for name, sd := range splits {
		r.rec.Inputs.Embeddings[name] = rundir.Array{Path: sd.Embeddings, Shape: []int{sd.N, sd.D}, SHA256: sd.SHA256}
	}
}

// setNeighbours records the k-NN graph the run reads and writes run.json.
func (r *runRecord) setNeighbours(graph rundir.Array) error {
	r.rec.Inputs.Neighbours = &graph
	r.rec.Updated = time.Now().UTC()
	return rundir.WriteRecord(r.dir, r.rec)
}

// finish marks the run finished.
func (r *runRecord) finish() error {
	r.rec.Status, r.rec.Updated = rundir.StatusFinished, time.Now().UTC()
	return rundir.WriteRecord(r.dir, r.rec)
}

// fail records why the run stopped: failed, or interrupted, with the
// error and the exit status it gives. A failure to write it is a warning.
func (r *runRecord) fail(ctx context.Context, err error) {
	r.rec.Status, r.rec.Error, r.rec.ExitStatus = rundir.StatusFailed, err.Error(), exitStatus(ctx, err)
	if r.rec.ExitStatus == exitInterrupted {
		r.rec.Status = rundir.StatusInterrupted
	}
	r.rec.Updated = time.Now().UTC()
	if werr := rundir.WriteRecord(r.dir, r.rec); werr != nil {
		r.log.Logf("warning: could not record the failure in %s: %v", filepath.Join(r.dir, rundir.RecordFile), werr)
	}
}

// newRecord is run.json of a run that starts.
func newRecord(p *trialPlan) rundir.Record {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	return rundir.Record{
		Experiment: p.cfg.Experiment, Trial: p.trial, Identity: p.identity, Status: rundir.StatusRunning,
		Started: now, Updated: now, Host: host, PID: os.Getpid(), Seed: p.cfg.Seed, Sweep: p.sweep,
		Inputs: p.inputs(), Unused: p.unused,
	}
}

// lockRunDir locks a run directory for this process.
func lockRunDir(runDir string) (func(), error) {
	unlock, err := store.TryLockDir(runDir)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w; wait for that run to finish (or stop it), or give this one another trial name", err)
	} else if errors.Is(err, store.ErrLockUnsupported) {
		return nil, core.OptionFault("runs_dir", err)
	} else if err != nil {
		return nil, fmt.Errorf("create run directory: %w; set runs_dir to a writable folder", err)
	}
	return unlock, nil
}

// supersede moves aside a run directory that holds a run of another
// identity (another config or other inputs under this trial name, or a
// run from before run.json), so its numbers are never mistaken for this
// trial's and nothing is lost: it goes to <experiment>/.superseded/. The
// caller holds the directory's lock. It returns where the directory went
// ("" when nothing was moved).
func supersede(runDir, identity string, log trialLog) (string, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return "", err
	}
	empty := true
	for _, e := range entries {
		// A Slurm task's log is written before the run starts: not a run.
		if e.Name() != store.LockFileName && !strings.HasPrefix(e.Name(), ".") && !rundir.IsSchedulerLog(e.Name()) {
			empty = false
		}
	}
	if empty {
		return "", nil
	}
	old := "unknown"
	if rec, err := rundir.ReadRecord(runDir); err == nil {
		if rec.Identity == identity {
			return "", nil // the same trial: resume it
		}
		if rec.Identity != "" {
			old = rec.Identity[:min(8, len(rec.Identity))]
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		old = "damaged"
	} else if _, err := os.Stat(filepath.Join(runDir, rundir.MetricsFile)); err == nil {
		old = "format1"
	}
	dest := filepath.Join(filepath.Dir(runDir), rundir.SkippedDir, fmt.Sprintf("%s-%s-%s", filepath.Base(runDir), old, time.Now().UTC().Format("20060102T150405")))
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", fmt.Errorf("move aside %s: %w", runDir, err)
	}
	if err := os.Rename(runDir, dest); err != nil {
		return "", fmt.Errorf("move aside %s (it holds a run of another config or other inputs): %w; move or delete it yourself", runDir, err)
	}
	log.Logf("%s held a run of another config or other inputs (identity %s); moved it to %s and running the trial afresh", runDir, old, dest)
	return dest, nil
}

func sortedSplits(m map[string]splitData) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	rundir.SortSplits(names)
	return names
}

func toInts(a []int32) []int {
	out := make([]int, len(a))
	for i, v := range a {
		out[i] = int(v)
	}
	return out
}

func writeFileAtomic(path string, b []byte) error {
	return npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// reuseFinished prints the table of a finished run, drawing its report
// first if it lacks one (killed between its results and its report).
func reuseFinished(runDir string, stdout io.Writer, log trialLog) error {
	run, err := rundir.Read(runDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(runDir, rundir.MarkdownFile)); err != nil {
		buildReport(runDir, log)
	}
	ts, err := tables.Run(run, "")
	if err != nil {
		return err
	}
	return tables.Render(stdout, "text", ts[:1])
}

// finishedWith reports whether runDir holds a finished run of exactly
// this identity (config and inputs).
func finishedWith(runDir, identity string) bool {
	run, err := rundir.Read(runDir)
	return err == nil && run.Finished() && run.Record.Identity == identity
}

// removeStaleTemps deletes the temporary files (".<name>.tmp-*") that a
// killed writer left in the run directory. They are never read (every
// file is renamed into place only when complete), so this only frees
// space; the caller holds the directory's lock, so no writer is active.
func removeStaleTemps(runDir string) {
	stale, _ := filepath.Glob(filepath.Join(runDir, ".*.tmp-*"))
	for _, f := range stale {
		os.Remove(f)
	}
}
