package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/neighbours"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// score computes the metrics of one assignment.
func score(method, selection, split string, labels []int, pred []int32) (rundir.Result, error) {
	p := toInts(pred)
	sc, err := metrics.Score(labels, p)
	if err != nil {
		return rundir.Result{}, err
	}
	return rundir.Result{Method: method, Selection: selection, Split: split, Scores: sc, MajorityACC: metrics.MajorityACC(labels, p)}, nil
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// launched holds the plugins of a run.
type launched struct {
	ds, bb, loss *plugins.Client
}

func (l *launched) kill() {
	for _, c := range []*plugins.Client{l.ds, l.bb, l.loss} {
		if c != nil {
			c.Kill()
		}
	}
}

// launch starts the plugin of a planned section (validated while planning).
func launch(ctx context.Context, kind string, p plannedPlugin) (*plugins.Client, error) {
	c, err := plugins.Launch(ctx, kind, p.plugin)
	if err != nil {
		return nil, fmt.Errorf("%s plugin: %w", kind, err)
	}
	return c, nil
}

// launchSources launches the dataset and backbone plugins of a plan.
func launchSources(ctx context.Context, p *trialPlan, pl *launched) error {
	var err error
	if pl.ds, err = launch(ctx, core.KindDataset, p.ds); err != nil {
		return err
	}
	pl.bb, err = launch(ctx, core.KindBackbone, p.bb)
	return err
}

// embed computes or reuses the embeddings of every split.
func embed(ctx context.Context, st *store.Store, p *trialPlan, pl *launched) (map[string]splitData, error) {
	dsRef := pluginRef{Name: p.dsInfo.Name, Identity: p.dsInfo.Identity, Options: p.ds.resolved}
	bbRef := pluginRef{Name: p.bbInfo.Name, Identity: p.bbInfo.Identity, Options: p.bb.resolved}
	return embedAll(ctx, st, pl.ds.Dataset(), p.dsInfo, dsRef, pl.bb.Backbone(), p.bbInfo, bbRef, logf)
}

// runExperiment runs one planned trial and returns its run directory. A
// finished run of the same identity is reused; an unfinished one of the
// same identity resumes; a run directory of another identity (other
// config or other inputs under the same trial name) is moved aside and
// the trial runs afresh. run.json says where the run stands throughout,
// including why it failed.
func runExperiment(ctx context.Context, p *trialPlan, stdout io.Writer) (runDir string, err error) {
	cfg := p.cfg
	t0 := time.Now()
	seconds := map[string]float64{}
	lap := func(name string, since time.Time) { seconds[name] = time.Since(since).Seconds() }
	runDir = p.runDir

	if finishedWith(runDir, p.identity) {
		logf("%s is already finished with this config and these inputs; its results are reused (delete the directory to rerun)", runDir)
		return runDir, reuseFinished(runDir, stdout)
	}
	st, err := store.Open(cfg.CacheDir)
	if err != nil {
		return "", err
	}
	// One process per run directory: a second `clusterlab run` of the same
	// trial would interleave checkpoints and results.
	unlock, err := lockRunDir(runDir)
	if err != nil {
		return "", err
	}
	defer func() { unlock() }()
	// The holder before us may have finished this very trial.
	if finishedWith(runDir, p.identity) {
		logf("%s was finished by another run meanwhile; its results are reused", runDir)
		return runDir, reuseFinished(runDir, stdout)
	}
	if moved, err := supersede(runDir, p.identity); err != nil {
		return "", err
	} else if moved != "" {
		unlock()
		if unlock, err = lockRunDir(runDir); err != nil {
			return "", err
		}
	}
	removeStaleTemps(runDir)
	if err := writeFileAtomic(filepath.Join(runDir, rundir.ConfigFile), p.cfgYAML); err != nil {
		return "", fmt.Errorf("run directory %s is not writable: %w", runDir, err)
	}
	rec := newRecord(p)
	if err := rundir.WriteRecord(runDir, rec); err != nil {
		return "", fmt.Errorf("run directory %s is not writable: %w", runDir, err)
	}
	// From here on a failure is recorded in run.json, so tables list the
	// run with its reason.
	defer func() {
		if err == nil {
			return
		}
		rec.Status, rec.Error, rec.ExitStatus = rundir.StatusFailed, err.Error(), exitStatus(ctx, err)
		if rec.ExitStatus == exitInterrupted {
			rec.Status = rundir.StatusInterrupted
		}
		rec.Updated = time.Now().UTC()
		// p.runDir: the named result is "" once a failure is returned.
		if werr := rundir.WriteRecord(p.runDir, rec); werr != nil {
			logf("warning: could not record the failure in %s: %v", filepath.Join(p.runDir, rundir.RecordFile), werr)
		}
	}()
	logf("run directory: %s", runDir)
	k, classes, dsInfo := p.clusters, p.classes, p.dsInfo
	var pl launched
	defer pl.kill()
	if err := launchSources(ctx, p, &pl); err != nil {
		return "", err
	}

	// Embeddings.
	tEmbed := time.Now()
	splits, err := embed(ctx, st, p, &pl)
	if err != nil {
		return "", err
	}
	lap("embed", tEmbed)
	pl.ds.Kill()
	pl.bb.Kill()
	pl.ds, pl.bb = nil, nil
	train := splits[core.SplitTrain]
	rec.Inputs.Embeddings = map[string]rundir.Array{}
	for name, sd := range splits {
		rec.Inputs.Embeddings[name] = rundir.Array{Path: sd.Embeddings, Shape: []int{sd.N, sd.D}, SHA256: sd.SHA256}
	}

	be, err := backend.Open(cfg.Backend)
	if err != nil {
		return "", err
	}
	if be.Why != "" {
		logf("%s", be.Why)
	}
	// Mapped, not read: the pages of a large train set (3 GB at
	// 1,000,000 x 768) are backed by the store's file instead of the heap.
	x, shape, unmap, err := npy.MapFloat32(train.Embeddings)
	if err != nil {
		return "", err
	}
	defer unmap()
	d := shape[1]

	// k-NN graph of the train embeddings.
	tKNN := time.Now()
	knn, err := knnGraph(ctx, st, be, train, x, d, cfg.Neighbours.K)
	if err != nil {
		return "", err
	}
	knnPath := knn.Path
	rec.Inputs.Neighbours = &knn
	rec.Updated = time.Now().UTC()
	if err := rundir.WriteRecord(runDir, rec); err != nil {
		return "", err
	}
	lap("knn", tKNN)

	labels := map[string][]int{}
	labels32 := map[string][]int32{}
	for name, sd := range splits {
		l, _, err := npy.ReadInt32(sd.Labels)
		if err != nil {
			return "", err
		}
		labels[name], labels32[name] = toInts(l), l
	}
	if err := writeReportInputs(runDir, dsInfo, labels32); err != nil {
		return "", err
	}
	var results []rundir.Result
	splitNames := sortedSplits(splits)

	// Baselines.
	if cfg.Baselines.KMeans {
		tKM := time.Now()
		p := newProgress("k-means", "init", cfg.Baselines.KMeansNInit)
		km, err := baselines.KMeans(ctx, be.Backend, x, train.N, d, k, baselines.KMeansOptions{
			NInit: cfg.Baselines.KMeansNInit, MaxIter: cfg.Baselines.KMeansMaxIter, Tol: 1e-4, Seed: cfg.Seed,
			Progress: func(kp baselines.KMeansProgress) {
				p.Set(kp.Run, fmt.Sprintf("iter %d inertia %.4g", kp.Iter, kp.Inertia))
			},
		})
		if err != nil {
			return "", fmt.Errorf("k-means: %w", err)
		}
		p.Done(fmt.Sprintf("K=%d, inertia %.4g, %d iterations", k, km.Inertia, km.Iters))
		for _, name := range splitNames {
			var pred []int32
			if name == core.SplitTrain {
				pred = km.Labels
			} else {
				xs, _, err := npy.ReadFloat32(splits[name].Embeddings)
				if err != nil {
					return "", err
				}
				pred = nearestCentre(xs, splits[name].N, d, km.Centers, k)
			}
			if err := npy.WriteInt32(filepath.Join(runDir, rundir.KMeansFile(name)), pred, len(pred)); err != nil {
				return "", err
			}
			r, err := score("kmeans", "all", name, labels[name], pred)
			if err != nil {
				return "", err
			}
			results = append(results, r)
		}
		lap("kmeans", tKM)
	}
	if test, ok := splits[core.SplitTest]; ok && cfg.Baselines.KNNClassifier {
		tC := time.Now()
		xt, _, err := npy.ReadFloat32(test.Embeddings)
		if err != nil {
			return "", err
		}
		pred, err := neighbours.Classify(ctx, be.Backend, x, labels32[core.SplitTrain], train.N, xt, test.N, d, cfg.Baselines.KNNClassifierK)
		if err != nil {
			return "", fmt.Errorf("k-NN classifier: %w", err)
		}
		r, err := score("knn-classifier", fmt.Sprintf("k=%d", cfg.Baselines.KNNClassifierK), core.SplitTest, labels[core.SplitTest], pred)
		if err != nil {
			return "", err
		}
		r.Supervised = true
		results = append(results, r)
		lap("knn_classifier", tC)
	}
	x = nil // the loss plugin reads the arrays itself

	// Loss fit, in the loss plugin process.
	tFit := time.Now()
	if pl.loss, err = launch(ctx, core.KindLoss, p.loss); err != nil {
		return "", err
	}
	lossDesc := p.loss.desc
	assign := map[string]string{}
	for name, sd := range splits {
		assign[name] = sd.Embeddings
	}
	var bar *progress
	res, err := pl.loss.Loss().Fit(ctx, core.FitRequest{
		Options: p.loss.resolved, Train: train.Embeddings, Neighbours: knnPath, Assign: assign,
		Clusters: k, Seed: cfg.Seed, Backend: cfg.Backend, OutDir: runDir,
	}, func(pr core.Progress) {
		if pr.Message != "" {
			logf("%s: %s", lossDesc.Name, pr.Message)
		}
		if pr.Steps > 0 {
			if bar == nil {
				bar = newProgress("train "+lossDesc.Name, "step", pr.Steps)
			}
			bar.Set(pr.Step, fmt.Sprintf("epoch %d/%d loss %.4f", pr.Epoch, pr.Epochs, pr.Loss))
		}
	})
	if err != nil {
		if e := cfg.OptionError("loss", err); e != err {
			return "", e
		}
		if errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err) {
			return "", core.InvalidInput(fmt.Errorf("train with loss %s: %w", lossDesc.Name, err))
		}
		return "", fmt.Errorf("train with loss %s: %w", lossDesc.Name, err)
	}
	if bar != nil {
		bar.Done(fmt.Sprintf("backend %s, best head %d", res.Backend, res.BestHead))
	}
	lap("fit", tFit)

	// Score every head on every split.
	for _, name := range splitNames {
		path, ok := res.Assignments[name]
		if !ok {
			return "", fmt.Errorf("loss plugin %s returned no assignments for split %s", lossDesc.Name, name)
		}
		a, shape, err := npy.ReadInt32(path)
		if err != nil {
			return "", err
		}
		if len(shape) != 2 || shape[1] != splits[name].N {
			return "", fmt.Errorf("assignments %s have shape %v, want [heads, %d]", path, shape, splits[name].N)
		}
		for h := 0; h < shape[0]; h++ {
			r, err := score(lossDesc.Name, "head-"+strconv.Itoa(h), name, labels[name], a[h*shape[1]:(h+1)*shape[1]])
			if err != nil {
				return "", err
			}
			results = append(results, r)
			if h == res.BestHead {
				r.Selection = "best-head"
				results = append(results, r)
			}
		}
	}
	// Galleries need the dataset's images again; pictures never fail a run.
	tGal := time.Now()
	// The gallery reads the dataset again with the options planning
	// resolved (the section may hold options of other dataset plugins).
	gcfg := *cfg
	gcfg.Dataset = config.Section{Name: "dataset", Plugin: p.ds.plugin, Options: p.ds.resolved}
	if err := writeGalleries(ctx, &gcfg, runDir, splitNames, labels32, res.BestHead, k, dsInfo.Classes); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		logf("warning: gallery: %v", err)
	}
	lap("gallery", tGal)
	seconds["total"] = time.Since(t0).Seconds()
	mf := rundir.Metrics{
		Experiment: cfg.Experiment, Trial: p.trial, Loss: lossDesc.Name, Backend: res.Backend,
		BestHead: res.BestHead, HeadLosses: res.HeadLosses, Classes: classes, Clusters: k,
		Results: results, Seconds: seconds, Finished: time.Now().UTC(), Seed: cfg.Seed,
	}
	if p.sweep != nil {
		mf.Variant, mf.VariantName = p.sweep.Variant, p.sweep.VariantName
	}
	if err := rundir.WriteMetrics(runDir, mf); err != nil {
		return "", err
	}
	rec.Status, rec.Updated = rundir.StatusFinished, time.Now().UTC()
	if err := rundir.WriteRecord(runDir, rec); err != nil {
		return "", err
	}
	run := rundir.Run{Dir: runDir, Record: rec, Metrics: &mf}
	if err := writeTables(run, stdout); err != nil {
		return "", err
	}
	buildReport(runDir)
	return runDir, nil
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
func supersede(runDir, identity string) (string, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return "", err
	}
	empty := true
	for _, e := range entries {
		if e.Name() != store.LockFileName && !strings.HasPrefix(e.Name(), ".") {
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
	logf("%s held a run of another config or other inputs (identity %s); moved it to %s and running the trial afresh", runDir, old, dest)
	return dest, nil
}

func knnGraph(ctx context.Context, st *store.Store, be *backend.Opened, train splitData, x []float32, d, k int) (rundir.Array, error) {
	if k >= train.N {
		return rundir.Array{}, fmt.Errorf("%w: neighbours.k = %d needs more than %d train samples", core.ErrInvalidInput, k, train.N)
	}
	sum := train.SHA256
	e := st.Entry("knn", store.Hash("knn", sum, strconv.Itoa(k)))
	meta, err := withEntry(e, logf, func() (map[string]string, []string, error) {
		if err := store.CheckFree(e.Dir, uint64(train.N)*uint64(k)*8, fmt.Sprintf("the k-NN graph (%d x %d)", train.N, k)); err != nil {
			return nil, nil, err
		}
		p := newProgress("k-NN graph", "row", train.N)
		idx, sim, err := neighbours.KNN(ctx, be.Backend, x, train.N, d, k, func(done, total int) { p.Set(done, "") })
		if err != nil {
			return nil, nil, fmt.Errorf("k-NN graph: %w", err)
		}
		if err := npy.WriteInt32(e.Path("knn"), idx, train.N, k); err != nil {
			return nil, nil, err
		}
		if err := npy.WriteFloat32(e.Path("sim"), sim, train.N, k); err != nil {
			return nil, nil, err
		}
		p.Done(fmt.Sprintf("%d x %d, k=%d, cosine", train.N, d, k))
		return map[string]string{"embeddings_sha256": sum, "k": strconv.Itoa(k), "metric": "cosine"}, []string{"knn", "sim"}, nil
	})
	if err != nil {
		return rundir.Array{}, err
	}
	a := meta.Arrays["knn"]
	return rundir.Array{Path: e.Path("knn"), Shape: a.Shape, SHA256: a.SHA256}, nil
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

func writeMetrics(runDir string, mf rundir.Metrics) error {
	b, err := json.MarshalIndent(mf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(runDir, "metrics.json"), append(b, '\n'))
}

func writeFileAtomic(path string, b []byte) error {
	return npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// nearestCentre assigns each row to its closest k-means centre (squared
// Euclidean), for splits the centres were not fitted on.
func nearestCentre(x []float32, n, d int, centres []float32, k int) []int32 {
	out := make([]int32, n)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		best, bestDist := 0, math.Inf(1)
		for c := 0; c < k; c++ {
			cen := centres[c*d : (c+1)*d]
			var s float64
			for j, v := range row {
				diff := float64(v - cen[j])
				s += diff * diff
			}
			if s < bestDist {
				best, bestDist = c, s
			}
		}
		out[i] = int32(best)
	}
	return out
}

// reuseFinished prints the table of a finished run, drawing its report
// first if it lacks one (killed between its results and its report).
func reuseFinished(runDir string, stdout io.Writer) error {
	run, err := rundir.Read(runDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(runDir, rundir.MarkdownFile)); err != nil {
		buildReport(runDir)
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
