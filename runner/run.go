package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/clusterlab/clusterlab/core/rundir"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/neighbours"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
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

// launched holds the three plugins of a run.
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

// describeSection launches a plugin and validates its config section.
func describeSection(ctx context.Context, cfg *config.Config, kind, section string, sec config.Section) (*plugins.Client, error) {
	c, err := plugins.Launch(ctx, kind, sec.Plugin)
	if err != nil {
		return nil, fmt.Errorf("%s plugin: %w", kind, err)
	}
	return c, nil
}

func optionErr(cfg *config.Config, section string, err error) error {
	if errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err) {
		return config.PluginOptionError(cfg.File, section, err)
	}
	return err
}

// sources are the launched dataset and backbone of a config, described.
type sources struct {
	pl     *launched
	dsInfo core.DatasetInfo
	bbInfo core.BackboneInfo
	dsRef  pluginRef
	bbRef  pluginRef
}

// launchSources launches and describes the dataset and backbone plugins,
// validating their config sections.
func launchSources(ctx context.Context, cfg *config.Config, pl *launched) (*sources, error) {
	var err error
	if pl.ds, err = describeSection(ctx, cfg, core.KindDataset, "dataset", cfg.Dataset); err != nil {
		return nil, err
	}
	dsInfo, err := pl.ds.Dataset().Describe(ctx, cfg.Dataset.Options)
	if err != nil {
		return nil, optionErr(cfg, "dataset", err)
	}
	if _, ok := dsInfo.Split(core.SplitTrain); !ok {
		return nil, fmt.Errorf("%w: dataset %s has no train split", core.ErrInvalidInput, dsInfo.Name)
	}
	if pl.bb, err = describeSection(ctx, cfg, core.KindBackbone, "backbone", cfg.Backbone); err != nil {
		return nil, err
	}
	bbInfo, err := pl.bb.Backbone().Describe(ctx, cfg.Backbone.Options)
	if err != nil {
		return nil, optionErr(cfg, "backbone", err)
	}
	return &sources{
		pl: pl, dsInfo: dsInfo, bbInfo: bbInfo,
		dsRef: pluginRef{Name: dsInfo.Name, Identity: dsInfo.Identity, Options: resolved(dsInfo.Options, cfg.Dataset.Options)},
		bbRef: pluginRef{Name: bbInfo.Name, Identity: bbInfo.Identity, Options: resolved(bbInfo.Options, cfg.Backbone.Options)},
	}, nil
}

// embed computes or reuses the embeddings of every split.
func (s *sources) embed(ctx context.Context, st *store.Store) (map[string]splitData, error) {
	return embedAll(ctx, st, s.pl.ds.Dataset(), s.dsInfo, s.dsRef, s.pl.bb.Backbone(), s.bbInfo, s.bbRef, logf)
}

// runExperiment runs one trial and returns its run directory.
func runExperiment(ctx context.Context, cfg *config.Config, stdout io.Writer) (string, error) {
	t0 := time.Now()
	seconds := map[string]float64{}
	lap := func(name string, since time.Time) { seconds[name] = time.Since(since).Seconds() }

	st, err := store.Open(cfg.CacheDir)
	if err != nil {
		return "", err
	}
	var pl launched
	defer pl.kill()
	src, err := launchSources(ctx, cfg, &pl)
	if err != nil {
		return "", err
	}
	dsInfo, dsRef, bbRef := src.dsInfo, src.dsRef, src.bbRef
	classes := len(dsInfo.Classes)
	k := cfg.Clusters
	if k == 0 {
		k = classes
	}
	if k < 2 {
		return "", &config.Error{File: cfg.File, Key: "clusters", Msg: fmt.Sprintf("need at least 2 clusters (dataset has %d classes); set clusters", classes)}
	}

	// Loss: validate its options now, before any long work.
	if pl.loss, err = describeSection(ctx, cfg, core.KindLoss, "loss", cfg.Loss); err != nil {
		return "", err
	}
	lossDesc, err := pl.loss.Loss().Describe(ctx, cfg.Loss.Options)
	if err != nil {
		return "", optionErr(cfg, "loss", err)
	}
	lossOpts := resolved(lossDesc.Options, cfg.Loss.Options)

	// Run directory.
	cfgYAML, err := cfg.YAML(map[string]core.Options{"dataset": dsRef.Options, "backbone": bbRef.Options, "loss": lossOpts})
	if err != nil {
		return "", err
	}
	trial := cfg.Trial
	if trial == "" {
		trial = fmt.Sprintf("seed%d-%s", cfg.Seed, store.Hash(string(cfgYAML))[:8])
	}
	runDir := filepath.Join(cfg.RunsDir, cfg.Experiment, trial)
	if done, err := finishedWith(runDir, cfgYAML); err != nil {
		return "", err
	} else if done {
		logf("%s is already finished with this config; its results are reused (delete the directory to rerun)", runDir)
		return runDir, reuseFinished(runDir, stdout)
	}
	// One process per run directory: a second `clusterlab run` of the same
	// trial would interleave checkpoints and results.
	unlock, err := store.TryLockDir(runDir)
	if errors.Is(err, store.ErrLocked) {
		return "", fmt.Errorf("%w; wait for that run to finish (or stop it), or give this one another trial name", err)
	} else if err != nil {
		return "", fmt.Errorf("create run directory: %w; set runs_dir to a writable folder", err)
	}
	defer unlock()
	// The holder before us may have finished this very trial.
	if done, err := finishedWith(runDir, cfgYAML); err == nil && done {
		logf("%s was finished by another run meanwhile; its results are reused", runDir)
		return runDir, reuseFinished(runDir, stdout)
	}
	removeStaleTemps(runDir)
	if err := writeFileAtomic(filepath.Join(runDir, "config.yaml"), cfgYAML); err != nil {
		return "", fmt.Errorf("run directory %s is not writable: %w", runDir, err)
	}
	logf("run directory: %s", runDir)

	// Embeddings.
	tEmbed := time.Now()
	splits, err := src.embed(ctx, st)
	if err != nil {
		return "", err
	}
	lap("embed", tEmbed)
	pl.ds.Kill()
	pl.bb.Kill()
	pl.ds, pl.bb = nil, nil
	train := splits[core.SplitTrain]
	if k > train.N {
		return "", &config.Error{File: cfg.File, Key: "clusters", Msg: fmt.Sprintf("%d clusters for %d train samples", k, train.N)}
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
	knnPath, err := knnGraph(ctx, st, be, train, x, d, cfg.Neighbours.K)
	if err != nil {
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
			if err := npy.WriteInt32(filepath.Join(runDir, "kmeans_"+name+".npy"), pred, len(pred)); err != nil {
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
	assign := map[string]string{}
	for name, sd := range splits {
		assign[name] = sd.Embeddings
	}
	var bar *progress
	res, err := pl.loss.Loss().Fit(ctx, core.FitRequest{
		Options: lossOpts, Train: train.Embeddings, Neighbours: knnPath, Assign: assign,
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
		if errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err) {
			if strings.HasPrefix(err.Error(), "option \"") {
				return "", config.PluginOptionError(cfg.File, "loss", err)
			}
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
	if err := writeGalleries(ctx, cfg, runDir, splitNames, labels32, res.BestHead, k, dsInfo.Classes); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		logf("warning: gallery: %v", err)
	}
	lap("gallery", tGal)
	seconds["total"] = time.Since(t0).Seconds()
	mf := rundir.Metrics{
		Experiment: cfg.Experiment, Trial: trial, Loss: lossDesc.Name, Backend: res.Backend,
		BestHead: res.BestHead, HeadLosses: res.HeadLosses, Classes: classes, Clusters: k,
		Results: results, Seconds: seconds, Finished: time.Now().UTC(), Seed: cfg.Seed,
	}
	if cfg.TrialInfo != nil {
		mf.Variant, mf.VariantName = cfg.TrialInfo.Variant, cfg.TrialInfo.VariantName
	}
	if err := writeMetrics(runDir, mf); err != nil {
		return "", err
	}
	if err := writeTables(runDir, mf, stdout); err != nil {
		return "", err
	}
	buildReport(runDir)
	return runDir, nil
}

func knnGraph(ctx context.Context, st *store.Store, be *backend.Opened, train splitData, x []float32, d, k int) (string, error) {
	if k >= train.N {
		return "", fmt.Errorf("%w: neighbours.k = %d needs more than %d train samples", core.ErrInvalidInput, k, train.N)
	}
	sum := train.SHA256
	e := st.Entry("knn", store.Hash("knn", sum, strconv.Itoa(k)))
	_, err := withEntry(e, logf, func() (map[string]string, []string, error) {
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
	return e.Path("knn"), err
}

// resolved returns the options with the plugin schema's defaults filled
// in, for the run directory's config.yaml (the plugin already validated).
func resolved(schema []core.Option, given core.Options) core.Options {
	r, err := core.ResolveOptions(schema, given)
	if err != nil {
		return given
	}
	return r
}

func sortedSplits(m map[string]splitData) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		// train first, then test, then the rest by name.
		ri, rj := splitRank(names[i]), splitRank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

func splitRank(s string) int {
	switch s {
	case core.SplitTrain:
		return 0
	case core.SplitTest:
		return 1
	}
	return 2
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
	mf, err := readMetrics(runDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(runDir, rundir.MarkdownFile)); err != nil {
		buildReport(runDir)
	}
	return renderTables(stdout, "text", []table{comparisonTable(mf)})
}

// finishedWith reports whether runDir holds a finished run (metrics.json)
// of exactly this resolved config.
func finishedWith(runDir string, cfgYAML []byte) (bool, error) {
	if _, err := os.Stat(filepath.Join(runDir, "metrics.json")); err != nil {
		return false, nil
	}
	old, err := os.ReadFile(filepath.Join(runDir, "config.yaml"))
	if err != nil {
		return false, nil
	}
	return bytes.Equal(old, cfgYAML), nil
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
