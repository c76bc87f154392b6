package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/gomlx/compute"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/hostmem"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/neighbours"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
)

// The stages of a trial, in the order runPipeline calls them:
//
//	embed       dataset + backbone plugins -> embeddings and labels of every split (store)
//	neighbours  train embeddings           -> k-NN graph (store)
//	baselines   embeddings, labels         -> k-means and k-NN classifier results (run directory)
//	fit         loss plugin                -> heads' assignments of every split (run directory)
//	score       assignments, labels        -> one result per head and split, and the best head's
//	report      everything above           -> galleries, metrics.json, run.json finished, tables, report
//
// Each is a function of a typed input to a typed output; what they share
// (the run's record, the console) is passed in, never global.

// embedded is the output of the embed stage: every split's embeddings in
// the store, and their ground-truth labels.
type embedded struct {
	// Splits are the features of every method but TURTLE: the one space
	// used, or the concatenation of the spaces used (concatSpaces).
	Splits map[string]splitData
	// Spaces are the spaces used, each as its backbone gave it, in order
	// (TURTLE's separate spaces, and the generalization score's).
	Spaces []spaceSplits
	Names  []string           // the split names, train first (rundir.SortSplits)
	Labels map[string][]int32 // per split, [N]
}

// embedInput is what the embed stage reads.
type embedInput struct {
	Plan  *trialPlan // the dataset and backbone sections, resolved
	Store *store.Store
	Log   trialLog
}

// embedStage launches the dataset and backbone plugins, computes (or finds
// in the store) the embeddings of every split in every space the run
// uses, stops the plugins, concatenates several spaces and reads the
// labels.
func embedStage(ctx context.Context, in embedInput) (embedded, error) {
	var pl launched
	defer pl.kill()
	if err := launchDataset(ctx, in.Plan, &pl); err != nil {
		return embedded{}, err
	}
	spaces, err := embedSpaces(ctx, in.Store, in.Plan, in.Plan.usedSpaces(), &pl, in.Log)
	if err != nil {
		return embedded{}, err
	}
	pl.kill()
	splits := spaces[0].Splits
	if len(spaces) > 1 {
		if splits, err = concatSpaces(ctx, in.Store, spaces, in.Log); err != nil {
			return embedded{}, err
		}
	}
	out := embedded{Splits: splits, Spaces: spaces, Names: sortedSplits(splits), Labels: map[string][]int32{}}
	for _, name := range out.Names {
		l, _, err := npy.ReadInt32(splits[name].Labels)
		if err != nil {
			return embedded{}, err
		}
		out.Labels[name] = l
	}
	return out, nil
}

// trainFeatures are the train embeddings the neighbours and baselines
// stages compute on.
type trainFeatures struct {
	X      []float32 // [N, D] row-major
	N, D   int
	SHA256 string // of the embeddings file: the k-NN graph's cache key
}

// mapTrain maps the train embeddings of the store into memory: the pages
// of a large train set (3 GB at 1,000,000 x 768) are backed by the store's
// file instead of the heap. unmap releases them (once: calling it again
// does nothing); the features must not be used after it.
func mapTrain(data embedded) (trainFeatures, func(), error) {
	train := data.Splits[core.SplitTrain]
	x, shape, unmap, err := npy.MapFloat32(train.Embeddings)
	if err != nil {
		return trainFeatures{}, nil, err
	}
	return trainFeatures{X: x, N: train.N, D: shape[1], SHA256: train.SHA256}, func() { unmap() }, nil
}

// neighboursInput is what the neighbours stage reads.
type neighboursInput struct {
	Store   *store.Store
	Backend compute.Backend
	Train   trainFeatures
	K       int // neighbours per train embedding
	Log     trialLog
}

// neighboursOutput is the k-NN graph in the store.
type neighboursOutput struct {
	// Graph is the [N, K] int32 neighbour indices, most similar first,
	// self excluded (the cosine similarities are beside it, sim.npy).
	Graph rundir.Array
}

// neighboursStage computes (or finds in the store) the cosine k-NN graph of
// the train embeddings.
func neighboursStage(ctx context.Context, in neighboursInput) (neighboursOutput, error) {
	train, k := in.Train, in.K
	if k >= train.N {
		return neighboursOutput{}, fmt.Errorf("%w: neighbours.k = %d needs more than %d train samples", core.ErrInvalidInput, k, train.N)
	}
	sum := train.SHA256
	e := in.Store.Entry("knn", store.Hash("knn", sum, strconv.Itoa(k)))
	meta, err := withEntry(ctx, e, in.Log.Logf, func() (map[string]string, []string, error) {
		// Checked before the search starts: the search runs in this
		// process, where running out of memory is a crash, not an error.
		if err := hostmem.Check(neighbours.GraphMemory(train.N, train.D, k), fmt.Sprintf("the k-NN graph of %d rows (k=%d)", train.N, k)); err != nil {
			return nil, nil, err
		}
		if err := store.CheckFree(e.Dir, uint64(train.N)*uint64(k)*8, fmt.Sprintf("the k-NN graph (%d x %d)", train.N, k)); err != nil {
			return nil, nil, err
		}
		p := in.Log.Progress("k-NN graph", "row", train.N)
		defer p.Stop()
		idx, sim, err := neighbours.KNN(ctx, in.Backend, train.X, train.N, train.D, k, func(done, total int) { p.Set(done, "") })
		if err != nil {
			return nil, nil, fmt.Errorf("k-NN graph: %w", err)
		}
		if err := npy.WriteInt32(e.Path("knn"), idx, train.N, k); err != nil {
			return nil, nil, err
		}
		if err := npy.WriteFloat32(e.Path("sim"), sim, train.N, k); err != nil {
			return nil, nil, err
		}
		p.Done(fmt.Sprintf("%d x %d, k=%d, cosine", train.N, train.D, k))
		return map[string]string{"embeddings_sha256": sum, "k": strconv.Itoa(k), "metric": "cosine"}, []string{"knn", "sim"}, nil
	})
	if err != nil {
		return neighboursOutput{}, err
	}
	a := meta.Arrays["knn"]
	return neighboursOutput{Graph: rundir.Array{Path: e.Path("knn"), Shape: a.Shape, SHA256: a.SHA256}}, nil
}

// What to lower when a baseline runs out of memory.
const (
	kmeansLower        = "baselines.kmeans_n_init (one run per core is in memory at once), or switch k-means off (baselines.kmeans: false)"
	knnClassifierLower = "baselines.knn_classifier_k, or switch the classifier off (baselines.knn_classifier: false)"
)

// baselineOptions are the baselines section of the config.
type baselineOptions struct {
	KMeans         bool
	KMeansNInit    int
	KMeansMaxIter  int
	KNNClassifier  bool
	KNNClassifierK int
	LinearProbe    bool
}

// baselineOptionsOf reads the baselines section of a config.
func baselineOptionsOf(cfg *config.Config) baselineOptions {
	b := cfg.Baselines
	return baselineOptions{KMeans: b.KMeans, KMeansNInit: b.KMeansNInit, KMeansMaxIter: b.KMeansMaxIter,
		KNNClassifier: b.KNNClassifier, KNNClassifierK: b.KNNClassifierK, LinearProbe: b.LinearProbe}
}

// baselinesInput is what the baselines stage reads.
type baselinesInput struct {
	Backend  compute.Backend
	Train    trainFeatures
	Data     embedded // the other splits' embeddings are read from the store
	Clusters int
	Seed     int64
	Options  baselineOptions
	RunDir   string // where kmeans_<split>.npy go
	Scorer   *scorer
	Log      trialLog
}

// baselinesOutput are the baselines' results, k-means on every split
// first, then the supervised k-NN classifier on test.
type baselinesOutput struct {
	Results []rundir.Result
	Seconds map[string]float64 // "kmeans", "knn_classifier": those that ran
}

// baselinesStage runs k-means on the train embeddings (the other splits go
// to the nearest centre) and the supervised k-NN classifier (train labels
// -> test), and scores them.
func baselinesStage(ctx context.Context, in baselinesInput) (baselinesOutput, error) {
	out := baselinesOutput{Seconds: map[string]float64{}}
	x, d, k, opt := in.Train.X, in.Train.D, in.Clusters, in.Options
	if opt.KMeans {
		t0 := time.Now()
		if err := hostmem.Check(baselines.KMeansMemory(in.Train.N, d, k, opt.KMeansNInit),
			fmt.Sprintf("k-means of %d rows into %d clusters", in.Train.N, k)); err != nil {
			return baselinesOutput{}, stageMemory("the k-means baseline", kmeansLower, err)
		}
		p := in.Log.Progress("k-means", "init", opt.KMeansNInit)
		defer p.Stop()
		km, err := baselines.KMeans(ctx, in.Backend, x, in.Train.N, d, k, baselines.KMeansOptions{
			NInit: opt.KMeansNInit, MaxIter: opt.KMeansMaxIter, Tol: 1e-4, Seed: in.Seed,
			Progress: func(kp baselines.KMeansProgress) {
				p.Set(kp.Run, fmt.Sprintf("iter %d inertia %.4g", kp.Iter, kp.Inertia))
			},
		})
		if err != nil {
			return baselinesOutput{}, stageMemory("the k-means baseline", kmeansLower, fmt.Errorf("k-means: %w", err))
		}
		p.Done(fmt.Sprintf("K=%d, inertia %.4g, %d iterations", k, km.Inertia, km.Iters))
		for _, name := range in.Data.Names {
			var pred []int32
			if name == core.SplitTrain {
				pred = km.Labels
			} else {
				sd := in.Data.Splits[name]
				xs, _, err := npy.ReadFloat32(sd.Embeddings)
				if err != nil {
					return baselinesOutput{}, err
				}
				pred = baselines.NearestCentre(xs, sd.N, d, km.Centers, k)
			}
			if err := npy.WriteInt32(filepath.Join(in.RunDir, rundir.KMeansFile(name)), pred, len(pred)); err != nil {
				return baselinesOutput{}, err
			}
			r, err := in.Scorer.score("kmeans", "all", name, pred)
			if err != nil {
				return baselinesOutput{}, err
			}
			out.Results = append(out.Results, r)
		}
		out.Seconds["kmeans"] = time.Since(t0).Seconds()
	}
	test, hasTest := in.Data.Splits[core.SplitTest]
	trainLabelled := labelled(in.Data.Labels[core.SplitTrain])
	if hasTest && opt.KNNClassifier && trainLabelled == 0 {
		in.Log.Logf("note: k-NN classifier skipped: the train split has no labels to classify with")
	}
	// The test embeddings, read once for both supervised references.
	var xt []float32
	if hasTest && trainLabelled > 0 && (opt.KNNClassifier || opt.LinearProbe) {
		var err error
		if xt, _, err = npy.ReadFloat32(test.Embeddings); err != nil {
			return baselinesOutput{}, err
		}
	}
	if hasTest && opt.KNNClassifier && trainLabelled > 0 {
		t0 := time.Now()
		// Train samples without a label do not vote.
		nl := trainLabelled
		need := neighbours.ClassifyMemory(nl, test.N, d, min(opt.KNNClassifierK, nl))
		if nl < in.Train.N {
			need += uint64(nl) * uint64(d) * 4 // the labelled rows' copy
		}
		if err := hostmem.Check(need, fmt.Sprintf("the k-NN classifier of %d test rows", test.N)); err != nil {
			return baselinesOutput{}, stageMemory("the k-NN classifier", knnClassifierLower, err)
		}
		xl, yl := labelledRows(x, in.Data.Labels[core.SplitTrain], d)
		pred, err := neighbours.Classify(ctx, in.Backend, xl, yl, nl, xt, test.N, d, min(opt.KNNClassifierK, nl))
		if err != nil {
			return baselinesOutput{}, stageMemory("the k-NN classifier", knnClassifierLower, fmt.Errorf("k-NN classifier: %w", err))
		}
		sc, majority, err := metrics.ScoreKnown(toInts(in.Data.Labels[core.SplitTest]), toInts(pred))
		if err != nil {
			return baselinesOutput{}, err
		}
		// A classifier is not a clustering: no silhouette.
		r := rundir.Result{Method: "knn-classifier", Selection: fmt.Sprintf("k=%d", opt.KNNClassifierK), Split: core.SplitTest,
			Scores: sc, MajorityACC: majority, Silhouette: math.NaN(), Generalization: math.NaN()}
		r.Supervised = true
		out.Results = append(out.Results, r)
		out.Seconds["knn_classifier"] = time.Since(t0).Seconds()
	}
	if hasTest && opt.LinearProbe && trainLabelled > 0 && labelled(in.Data.Labels[core.SplitTest]) > 0 {
		t0 := time.Now()
		r, err := linearProbe(ctx, x, d, in.Data.Labels[core.SplitTrain], xt, in.Data.Labels[core.SplitTest], in.Log)
		if err != nil {
			return baselinesOutput{}, err
		}
		out.Results = append(out.Results, r)
		out.Seconds["linear_probe"] = time.Since(t0).Seconds()
	}
	return out, nil
}

// fitInput is what the fit stage reads.
type fitInput struct {
	Loss plannedPlugin // launched here; its resolved options are the request's
	// Config names the key and source of an option the plugin rejects.
	Config     *config.Config
	Data       embedded
	Neighbours string // the k-NN graph's .npy
	Clusters   int
	Seed       int64
	Backend    string
	RunDir     string // the trainer's output and checkpoints
	Log        trialLog
}

// fitOutput is what the loss plugin trained.
type fitOutput struct {
	Loss   string // the loss plugin's name
	Result core.FitResult
}

// monitorRows bounds the rows of the split the trainer evaluates after
// every epoch for TensorBoard (about 2% of an epoch's time at the TEMI
// recipes with 10,000 rows).
const monitorRows = 10_000

// monitorOf names the split the trainer evaluates after every epoch: the
// test split where there is one, else train.
func monitorOf(d embedded) *core.Monitor {
	for _, split := range []string{core.SplitTest, core.SplitTrain} {
		if sd, ok := d.Splits[split]; ok {
			return &core.Monitor{Split: split, Labels: sd.Labels, MaxRows: monitorRows}
		}
	}
	return nil
}

// fitStage launches the loss plugin and lets it train its heads on the
// train embeddings and assign every split; it resumes from the checkpoint
// in the run directory, if any.
func fitStage(ctx context.Context, in fitInput) (fitOutput, error) {
	name := in.Loss.desc.Name
	c, err := launch(ctx, core.KindLoss, in.Loss)
	if err != nil {
		return fitOutput{}, err
	}
	defer c.Kill()
	assign := map[string]string{}
	for n, sd := range in.Data.Splits {
		assign[n] = sd.Embeddings
	}
	var spaces []core.Space
	for _, sp := range in.Data.Spaces {
		s := core.Space{Name: sp.Name, Train: sp.Splits[core.SplitTrain].Embeddings, Assign: map[string]string{}}
		for n, sd := range sp.Splits {
			s.Assign[n] = sd.Embeddings
		}
		spaces = append(spaces, s)
	}
	var bar *progress
	defer func() {
		if bar != nil {
			bar.Stop()
		}
	}()
	res, err := c.Loss().Fit(ctx, core.FitRequest{
		Options: in.Loss.resolved, Train: in.Data.Splits[core.SplitTrain].Embeddings, Neighbours: in.Neighbours, Assign: assign,
		Clusters: in.Clusters, Seed: in.Seed, Backend: in.Backend, OutDir: in.RunDir, Spaces: spaces,
		Monitor: monitorOf(in.Data),
	}, func(pr core.Progress) {
		if pr.Message != "" {
			in.Log.Logf("%s: %s", name, pr.Message)
		}
		if pr.Steps > 0 {
			if bar == nil {
				bar = in.Log.Progress("train "+name, "step", pr.Steps)
			}
			// A loss whose steps are its epochs (TURTLE's outer
			// iterations) shows the step count only once.
			what := fmt.Sprintf("epoch %d/%d loss %.4f", pr.Epoch, pr.Epochs, pr.Loss)
			if pr.Epochs == pr.Steps {
				what = fmt.Sprintf("loss %.4f", pr.Loss)
			}
			bar.Set(pr.Step, what)
		}
	})
	if err != nil {
		if in.Config != nil {
			if e := in.Config.OptionError("loss", err); e != err {
				return fitOutput{}, e
			}
		}
		if errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err) {
			return fitOutput{}, core.InvalidInput(fmt.Errorf("train with loss %s: %w", name, err))
		}
		return fitOutput{}, fmt.Errorf("train with loss %s: %w", name, err)
	}
	if bar != nil {
		bar.Done(fmt.Sprintf("backend %s, best head %d", res.Backend, res.BestHead))
	}
	if err := adoptFitOutputs(in.RunDir, name, &res, in.Log); err != nil {
		return fitOutput{}, err
	}
	return fitOutput{Loss: name, Result: res}, nil
}

// adoptFitOutputs makes the run directory hold what a loss returned under
// the run directory's own names (rundir.AssignFile, rundir.ProbsFile),
// wherever the loss wrote it, so that scoring, galleries, the report and
// `clusterlab score` read one contract whatever trained the heads (the
// shared trainer writes there already; a loss with its own loop need not).
// A loss that returns no probabilities for a split is noted: its galleries
// then show each cluster's first images instead of its most and least
// confident ones.
func adoptFitOutputs(runDir, loss string, res *core.FitResult, log trialLog) error {
	adopt := func(what, from, name string) (string, error) {
		to := filepath.Join(runDir, name)
		if a, b := filepath.Clean(from), filepath.Clean(to); a == b {
			return to, nil
		}
		f, err := os.Open(from)
		if err != nil {
			return "", fmt.Errorf("loss %s returned %s %s: %w", loss, what, from, err)
		}
		defer f.Close()
		if err := npy.WriteAtomic(to, func(w io.Writer) error { _, err := io.Copy(w, f); return err }); err != nil {
			return "", fmt.Errorf("copy the %s of loss %s into the run directory: %w", what, loss, err)
		}
		return to, nil
	}
	for _, split := range slices.Sorted(maps.Keys(res.Assignments)) {
		p, err := adopt("assignments", res.Assignments[split], rundir.AssignFile(split))
		if err != nil {
			return err
		}
		res.Assignments[split] = p
		if from, ok := res.Probabilities[split]; ok {
			if res.Probabilities[split], err = adopt("probabilities", from, rundir.ProbsFile(split)); err != nil {
				return err
			}
		} else {
			log.Logf("note: loss %s returned no cluster probabilities for split %s: its gallery shows each cluster's first images, not its most and least confident", loss, split)
		}
	}
	return nil
}

// scoreInput is what the score stage reads.
type scoreInput struct {
	Method      string   // the results' method: the loss's name
	Data        embedded // the splits (their sizes) and labels
	Assignments map[string]string
	BestHead    int
	Scorer      *scorer
}

// scoreOutput is one result per head and split ("head-<h>"), and the best
// head's again as "best-head", split by split in report order.
type scoreOutput struct {
	Results []rundir.Result
}

// scoreStage scores every head of the trained assignments ([heads, N]
// int32 per split) against the labels.
func scoreStage(in scoreInput) (scoreOutput, error) {
	var out scoreOutput
	for _, name := range in.Data.Names {
		path, ok := in.Assignments[name]
		if !ok {
			return scoreOutput{}, fmt.Errorf("loss plugin %s returned no assignments for split %s", in.Method, name)
		}
		a, shape, err := npy.ReadInt32(path)
		if err != nil {
			return scoreOutput{}, err
		}
		if len(shape) != 2 || shape[1] != in.Data.Splits[name].N {
			return scoreOutput{}, fmt.Errorf("assignments %s have shape %v, want [heads, %d]", path, shape, in.Data.Splits[name].N)
		}
		for h := 0; h < shape[0]; h++ {
			r, err := in.Scorer.score(in.Method, "head-"+strconv.Itoa(h), name, a[h*shape[1]:(h+1)*shape[1]])
			if err != nil {
				return scoreOutput{}, err
			}
			out.Results = append(out.Results, r)
			if h == in.BestHead {
				r.Selection = "best-head"
				out.Results = append(out.Results, r)
			}
		}
	}
	return out, nil
}

// labelled counts the labels that are known (not negative).
// labelledRows returns the rows of x ([len(labels), d], row-major) whose
// label is known (not negative), with their labels; x itself when all are.
func labelledRows(x []float32, labels []int32, d int) ([]float32, []int32) {
	m := labelled(labels)
	if m == len(labels) {
		return x, labels
	}
	xl, yl := make([]float32, 0, m*d), make([]int32, 0, m)
	for i, y := range labels {
		if y >= 0 {
			xl, yl = append(xl, x[i*d:(i+1)*d]...), append(yl, y)
		}
	}
	return xl, yl
}

func labelled(labels []int32) int {
	n := 0
	for _, y := range labels {
		if y >= 0 {
			n++
		}
	}
	return n
}

// reportInput is what the report stage reads.
type reportInput struct {
	Plan    *trialPlan
	Data    embedded
	Fit     fitOutput
	Results []rundir.Result    // baselines first, then the heads
	Seconds map[string]float64 // the stages' times so far
	Started time.Time          // of the trial, for the total time
	// Record is marked finished once metrics.json is written.
	Record *runRecord
	Stdout io.Writer // the run's table
	Log    trialLog
}

// reportStage draws the galleries (a failure is a warning), writes
// metrics.json, marks the run finished, writes and prints its tables and
// renders its report.
func reportStage(ctx context.Context, in reportInput) (rundir.Metrics, error) {
	p, runDir := in.Plan, in.Plan.runDir
	cfg, res := p.cfg, in.Fit.Result
	seconds := map[string]float64{}
	for k, v := range in.Seconds {
		seconds[k] = v
	}
	if err := writeClustersCSV(runDir, in.Data, p.dsInfo.Classes, res.BestHead); err != nil {
		return rundir.Metrics{}, err
	}
	// Galleries need the dataset's images again; pictures never fail a run.
	tGal := time.Now()
	// The gallery reads the dataset again with the options planning
	// resolved (the section may hold options of other dataset plugins).
	gcfg := *cfg
	gcfg.Dataset = config.Section{Name: "dataset", Plugin: p.ds.plugin, SHA256: p.ds.sha256, Options: p.ds.resolved}
	if p.dsInfo.Channels == 0 {
		in.Log.Logf("note: no galleries: dataset %s has no images (features only)", p.dsInfo.Name)
	} else if err := writeGalleries(ctx, &gcfg, p.dsInfo, runDir, in.Data.Names, in.Data.Labels, res.BestHead, p.clusters, in.Log); err != nil {
		if ctx.Err() != nil {
			return rundir.Metrics{}, ctx.Err()
		}
		in.Log.Logf("warning: gallery: %v", err)
	}
	seconds["gallery"] = time.Since(tGal).Seconds()
	seconds["total"] = time.Since(in.Started).Seconds()
	build := buildVersion()
	inputs := p.inputs()
	mf := rundir.Metrics{
		Provenance: &rundir.Provenance{
			Clusterlab: rundir.Build{Version: build.Version, Commit: build.Commit, Modified: build.Modified, Go: build.Go},
			Backend:    res.Backend, Dataset: inputs.Dataset, Backbone: inputs.Backbone, Loss: inputs.Loss,
		},
		Experiment: cfg.Experiment, Trial: p.trial, Loss: in.Fit.Loss, Backend: res.Backend,
		BestHead: res.BestHead, HeadLosses: res.HeadLosses, Classes: p.classes, Clusters: p.clusters,
		Results: in.Results, Seconds: seconds, Finished: time.Now().UTC(), Seed: cfg.Seed,
	}
	if p.sweep != nil {
		mf.Variant, mf.VariantName = p.sweep.Variant, p.sweep.VariantName
	}
	if err := rundir.WriteMetrics(runDir, mf); err != nil {
		return rundir.Metrics{}, err
	}
	if err := in.Record.finish(); err != nil {
		return rundir.Metrics{}, err
	}
	run := rundir.Run{Dir: runDir, Record: in.Record.rec, Metrics: &mf}
	if err := writeTables(run, in.Stdout); err != nil {
		return rundir.Metrics{}, err
	}
	buildReport(runDir, in.Log)
	return mf, nil
}
