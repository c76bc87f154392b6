package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
)

// Each stage of the pipeline runs here on its own: neighbours, baselines
// and score on small matrices made up by the test, with the real backends;
// embed, fit and report with the real plugins the end-to-end tests build.

// stageBackends are the backends every build has ("go") and, with the onnx
// tag, "onnx".
func stageBackends(t *testing.T) map[string]compute.Backend {
	t.Helper()
	names := []string{"go"}
	if buildTags == "onnx" {
		names = append(names, "onnx")
	}
	out := map[string]compute.Backend{}
	for _, n := range names {
		o, err := backend.Open(n)
		if err != nil {
			t.Fatalf("backend %s: %v", n, err)
		}
		out[n] = o.Backend
	}
	return out
}

// bufferLog is a trial's console writing plain lines (no periodic ones)
// into a buffer.
func bufferLog(prefix string) (trialLog, *bytes.Buffer) {
	var buf bytes.Buffer
	c := newConsole(&buf, false)
	c.every = time.Hour
	return trialLog{c: c, prefix: prefix}, &buf
}

// blobMatrix draws n rows of d features around k well-separated centres;
// it returns the rows and the centre of each.
func blobMatrix(rng *rand.Rand, n, d, k int) ([]float32, []int32) {
	centres := make([]float32, k*d)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64() * 10)
	}
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range n {
		c := rng.IntN(k)
		y[i] = int32(c)
		for j := range d {
			x[i*d+j] = centres[c*d+j] + float32(rng.NormFloat64()*0.5)
		}
	}
	return x, y
}

// writeSplit writes a split's embeddings and labels as the store holds them.
func writeSplit(t *testing.T, dir, name string, x []float32, y []int32, d int) splitData {
	t.Helper()
	n := len(y)
	sd := splitData{Split: name, Embeddings: filepath.Join(dir, name+"_emb.npy"), Labels: filepath.Join(dir, name+"_lab.npy"), N: n, D: d}
	if err := npy.WriteFloat32(sd.Embeddings, x, n, d); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteInt32(sd.Labels, y, n); err != nil {
		t.Fatal(err)
	}
	sum, err := store.FileSHA256(sd.Embeddings)
	if err != nil {
		t.Fatal(err)
	}
	sd.SHA256 = sum
	return sd
}

func TestNeighboursStage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d, k = 300, 16, 7
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	// The k most cosine-similar rows of each row, self excluded, by brute force.
	norm := func(i int) float64 {
		var s float64
		for _, v := range x[i*d : (i+1)*d] {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	want := make([][]int32, n)
	for i := range n {
		type cand struct {
			j   int32
			sim float64
		}
		var cs []cand
		for j := range n {
			if j == i {
				continue
			}
			var dot float64
			for c := range d {
				dot += float64(x[i*d+c]) * float64(x[j*d+c])
			}
			cs = append(cs, cand{int32(j), dot / norm(i) / norm(j)})
		}
		sort.Slice(cs, func(a, b int) bool { return cs[a].sim > cs[b].sim })
		for _, c := range cs[:k] {
			want[i] = append(want[i], c.j)
		}
	}
	for name, be := range stageBackends(t) {
		t.Run(name, func(t *testing.T) {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			train := trainFeatures{X: x, N: n, D: d, SHA256: "made-up-" + name}
			log, buf := bufferLog("[nb] ")
			out, err := neighboursStage(context.Background(), neighboursInput{Store: st, Backend: be, Train: train, K: k, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Graph.Shape, []int{n, k}) || out.Graph.SHA256 == "" {
				t.Fatalf("graph %+v", out.Graph)
			}
			idx, _, err := npy.ReadInt32(out.Graph.Path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if got := idx[i*k : (i+1)*k]; !slices.Equal(got, want[i]) {
					t.Fatalf("row %d: neighbours %v, want %v", i, got, want[i])
				}
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(out.Graph.Path), "sim.npy")); err != nil {
				t.Errorf("similarities not beside the graph: %v", err)
			}
			if !strings.Contains(buf.String(), "[nb] k-NN graph   done in") {
				t.Errorf("no summary line: %q", buf.String())
			}
			// Computed once: the second call finds it in the store.
			buf.Reset()
			again, err := neighboursStage(context.Background(), neighboursInput{Store: st, Backend: be, Train: train, K: k, Log: log})
			if err != nil || again.Graph.Path != out.Graph.Path || again.Graph.SHA256 != out.Graph.SHA256 {
				t.Fatalf("second call: %+v %v", again.Graph, err)
			}
			if buf.Len() != 0 {
				t.Errorf("the cached graph was computed again: %q", buf.String())
			}
			// As many neighbours as rows is bad input.
			_, err = neighboursStage(context.Background(), neighboursInput{Store: st, Backend: be, Train: train, K: n, Log: log})
			if !errors.Is(err, core.ErrInvalidInput) {
				t.Errorf("k = n: %v, want invalid input", err)
			}
		})
	}
}

func TestBaselinesStage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const d, k = 8, 4
	all, y := blobMatrix(rng, 260, d, k)
	trainX, trainY := all[:200*d], y[:200]
	testX, testY := all[200*d:], y[200:]
	for name, be := range stageBackends(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			data := embedded{
				Splits: map[string]splitData{
					"train": writeSplit(t, dir, "train", trainX, trainY, d),
					"test":  writeSplit(t, dir, "test", testX, testY, d),
				},
				Names:  []string{"train", "test"},
				Labels: map[string][]int32{"train": trainY, "test": testY},
			}
			runDir := t.TempDir()
			in := baselinesInput{
				Backend: be, Train: trainFeatures{X: trainX, N: 200, D: d}, Data: data, Clusters: k, Seed: 5,
				Options: baselineOptions{KMeans: true, KMeansNInit: 3, KMeansMaxIter: 100, KNNClassifier: true, KNNClassifierK: 5, LinearProbe: true},
				RunDir:  runDir, Scorer: newScorer(context.Background(), data, 5),
			}
			in.Log, _ = bufferLog("")
			out, err := baselinesStage(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range out.Results {
				got = append(got, fmt.Sprintf("%s/%s/%s/%v", r.Method, r.Selection, r.Split, r.Supervised))
				if r.ACC < 0.99 {
					t.Errorf("%s/%s on %s: ACC %.3f on separable blobs", r.Method, r.Selection, r.Split, r.ACC)
				}
				// Separable blobs have a high silhouette; a classifier none.
				if sil := r.Silhouette; r.Supervised != math.IsNaN(sil) || (!r.Supervised && sil < 0.3) {
					t.Errorf("%s/%s on %s: silhouette %v", r.Method, r.Selection, r.Split, sil)
				}
			}
			if want := []string{"kmeans/all/train/false", "kmeans/all/test/false", "knn-classifier/k=5/test/true", "linear-probe/C=1/test/true"}; !slices.Equal(got, want) {
				t.Errorf("results %v, want %v", got, want)
			}
			if _, ok := out.Seconds["linear_probe"]; !ok || len(out.Seconds) != 3 {
				t.Errorf("seconds %v", out.Seconds)
			}
			// The files of the run directory: the train labels of k-means
			// itself, the test rows at the nearest of its centres.
			km, err := baselines.KMeans(context.Background(), be, trainX, 200, d, k, baselines.KMeansOptions{NInit: 3, MaxIter: 100, Tol: 1e-4, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			for split, want := range map[string][]int32{"train": km.Labels, "test": baselines.NearestCentre(testX, 60, d, km.Centers, k)} {
				a, _, err := npy.ReadInt32(filepath.Join(runDir, rundir.KMeansFile(split)))
				if err != nil || !slices.Equal(a, want) {
					t.Errorf("%s: %v (err %v)", rundir.KMeansFile(split), a[:min(10, len(a))], err)
				}
			}

			// Both off: nothing.
			in.Options = baselineOptions{}
			if out, err := baselinesStage(context.Background(), in); err != nil || len(out.Results) != 0 || len(out.Seconds) != 0 {
				t.Errorf("no baselines: %+v %v", out, err)
			}
		})
	}
}

func TestScoreStage(t *testing.T) {
	dir := t.TempDir()
	// Two heads on two splits: head 0 finds the classes (under other
	// cluster ids), head 1 puts everything in one cluster.
	labels := map[string][]int32{"train": {0, 0, 1, 1, 2, 2}, "test": {2, 1, 0}}
	heads := map[string][]int32{"train": {5, 5, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0}, "test": {4, 3, 5, 1, 1, 1}}
	data := embedded{Names: []string{"train", "test"}, Labels: labels, Splits: map[string]splitData{"train": {N: 6}, "test": {N: 3}}}
	assign := map[string]string{}
	for split, a := range heads {
		assign[split] = filepath.Join(dir, rundir.AssignFile(split))
		if err := npy.WriteInt32(assign[split], a, 2, len(a)/2); err != nil {
			t.Fatal(err)
		}
	}
	sc := newScorer(context.Background(), data, 0)
	sc.silhouettes = false // no embeddings here
	out, err := scoreStage(scoreInput{Method: "temi", Data: data, Assignments: assign, BestHead: 0, Scorer: sc})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out.Results {
		got = append(got, fmt.Sprintf("%s/%s/%s %.3f %d", r.Method, r.Selection, r.Split, r.ACC, r.N))
	}
	want := []string{
		"temi/head-0/train 1.000 6", "temi/best-head/train 1.000 6", "temi/head-1/train 0.333 6",
		"temi/head-0/test 1.000 3", "temi/best-head/test 1.000 3", "temi/head-1/test 0.333 3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("results\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The best head is reported twice, under its number and as best-head.
	out, _ = scoreStage(scoreInput{Method: "temi", Data: data, Assignments: assign, BestHead: 1, Scorer: sc})
	if r := out.Results[2]; r.Selection != "best-head" || r.Split != "train" || r.ACC > 0.34 {
		t.Errorf("best head 1: %+v", r)
	}

	// A split without assignments, or assignments of another length.
	if _, err := scoreStage(scoreInput{Method: "temi", Data: data, Assignments: map[string]string{"train": assign["train"]}, Scorer: sc}); err == nil || !strings.Contains(err.Error(), "no assignments for split test") {
		t.Errorf("missing split: %v", err)
	}
	data.Splits["test"] = splitData{N: 4}
	if _, err := scoreStage(scoreInput{Method: "temi", Data: data, Assignments: assign, Scorer: sc}); err == nil || !strings.Contains(err.Error(), "want [heads, 4]") {
		t.Errorf("wrong length: %v", err)
	}
}

// stagePlan plans smallConfig, with overrides, for the stages that run
// plugins: those the end-to-end tests build, found through
// CLUSTERLAB_PLUGIN_PATH; the cache and runs go to a fresh directory.
func stagePlan(t *testing.T, sets ...string) *trialPlan {
	t.Helper()
	bin := buildBinaries(t)
	t.Setenv(plugins.PathEnv, filepath.Join(bin, "plugins"))
	if lib, err := backend.FindOrtLibrary(); err == nil {
		t.Setenv(backend.OrtLibEnv, lib)
	}
	t.Cleanup(plugins.KillAll)
	dir := t.TempDir()
	raw := strings.Replace(smallConfig, "runs_dir: runs\ncache_dir: cache\n", fmt.Sprintf("runs_dir: %s\ncache_dir: %s\n", filepath.Join(dir, "runs"), filepath.Join(dir, "cache")), 1)
	cfg, err := config.LoadBytes(filepath.Join(dir, "stage.yaml"), []byte(raw), nil, config.Overrides{Sets: sets})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := planRun(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	return plans[0]
}

// embedForTest runs the embed stage of a plan.
func embedForTest(t *testing.T, p *trialPlan, log trialLog) (embedded, *store.Store) {
	t.Helper()
	st, err := store.Open(p.cfg.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := embedStage(context.Background(), embedInput{Plan: p, Store: st, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	return data, st
}

func TestEmbedStage(t *testing.T) {
	p := stagePlan(t)
	log, buf := bufferLog("[e] ")
	data, st := embedForTest(t, p, log)
	// The plugins are stopped when the stage returns.
	waitPluginsGone(t, buildBinaries(t), "", "after the embed stage")
	if !slices.Equal(data.Names, []string{"train", "test"}) {
		t.Fatalf("splits %v", data.Names)
	}
	for split, n := range map[string]int{"train": 2000, "test": 500} {
		sd := data.Splits[split]
		if sd.N != n || sd.D != 32 || sd.Cached || sd.SHA256 == "" {
			t.Errorf("%s: %+v", split, sd)
		}
		if got, err := store.FileSHA256(sd.Embeddings); err != nil || got != sd.SHA256 {
			t.Errorf("%s: checksum %s of %s, recorded %s (%v)", split, got, sd.Embeddings, sd.SHA256, err)
		}
		l := data.Labels[split]
		if len(l) != n || slices.Min(l) != 0 || slices.Max(l) != 9 {
			t.Errorf("%s: %d labels in [%d, %d]", split, len(l), slices.Min(l), slices.Max(l))
		}
	}
	for _, want := range []string{"[e] fit pixels   done in", "[e] embed train  done in", "[e] embed test   done in"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}

	// Again: everything comes from the store.
	buf.Reset()
	again, err := embedStage(context.Background(), embedInput{Plan: p, Store: st, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	for split, sd := range again.Splits {
		if !sd.Cached || sd.SHA256 != data.Splits[split].SHA256 || !slices.Equal(again.Labels[split], data.Labels[split]) {
			t.Errorf("%s the second time: %+v", split, sd)
		}
	}
	if !strings.Contains(buf.String(), "[e] embeddings of train: cached") || strings.Contains(buf.String(), "done in") {
		t.Errorf("second embedding was not served from the store:\n%s", buf.String())
	}
}

func TestFitStage(t *testing.T) {
	p := stagePlan(t, "loss.epochs=1")
	log, buf := bufferLog("[f] ")
	data, st := embedForTest(t, p, log)
	train, unmap, err := mapTrain(data)
	if err != nil {
		t.Fatal(err)
	}
	defer unmap()
	be, err := backend.Open("go")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := neighboursStage(context.Background(), neighboursInput{Store: st, Backend: be.Backend, Train: train, K: p.cfg.Neighbours.K, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	runDir := t.TempDir()
	in := fitInput{Loss: p.loss, Config: p.cfg, Data: data, Neighbours: nb.Graph.Path,
		Clusters: p.clusters, Seed: p.cfg.Seed, Backend: p.cfg.Backend, RunDir: runDir, Log: log}
	fit, err := fitStage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	waitPluginsGone(t, buildBinaries(t), "", "after the fit stage")
	res := fit.Result
	if fit.Loss != "temi" || res.BestHead < 0 || res.BestHead > 2 || len(res.HeadLosses) != 3 || res.Backend == "" {
		t.Errorf("fit %+v", fit)
	}
	for split, n := range map[string]int{"train": 2000, "test": 500} {
		a, shape, err := npy.ReadInt32(res.Assignments[split])
		if err != nil || !slices.Equal(shape, []int{3, n}) || slices.Min(a) < 0 || slices.Max(a) >= 10 {
			t.Errorf("%s: assignments of shape %v (%v)", split, shape, err)
		}
	}
	for _, want := range []string{"[f] temi: backend", "[f] train temi   done in"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
	// The trained assignments score: one result per head and split and the
	// best head's again, better than chance.
	sc, err := scoreStage(scoreInput{Method: fit.Loss, Data: data, Assignments: res.Assignments, BestHead: res.BestHead, Scorer: newScorer(context.Background(), data, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Results) != 8 {
		t.Errorf("%d results, want 8", len(sc.Results))
	}
	for _, r := range sc.Results {
		if r.ACC < 0.2 {
			t.Errorf("%s/%s: ACC %.3f", r.Selection, r.Split, r.ACC)
		}
	}

	// Finished training resumes from its checkpoint to the same result.
	buf.Reset()
	again, err := fitStage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if again.Result.BestHead != res.BestHead || !slices.Equal(again.Result.HeadLosses, res.HeadLosses) {
		t.Errorf("refit from the checkpoint: %+v, first %+v", again.Result, res)
	}

	// An option the plugin rejects names its key.
	bad := in
	bad.Loss.resolved = core.Options{}
	for k, v := range p.loss.resolved {
		bad.Loss.resolved[k] = v
	}
	bad.Loss.resolved["beta"] = -1.0
	bad.RunDir = t.TempDir()
	_, err = fitStage(context.Background(), bad)
	if !errors.Is(err, core.ErrInvalidInput) && !plugins.IsInvalidInput(err) {
		t.Errorf("rejected option: %v, want invalid input", err)
	}
}

func TestReportStage(t *testing.T) {
	p := stagePlan(t)
	log, buf := bufferLog("[r] ")
	data, _ := embedForTest(t, p, log)
	rec, reused, err := beginRun(p, &bytes.Buffer{}, log)
	if err != nil || reused {
		t.Fatal(reused, err)
	}
	defer rec.release()
	// Made-up training output: one head that is the labels.
	res := core.FitResult{Backend: "go", BestHead: 0, HeadLosses: []float64{-0.5}, Assignments: map[string]string{}}
	for split, l := range data.Labels {
		res.Assignments[split] = filepath.Join(p.runDir, rundir.AssignFile(split))
		if err := npy.WriteInt32(res.Assignments[split], l, 1, len(l)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeReportInputs(p.runDir, p.dsInfo, data.Labels); err != nil {
		t.Fatal(err)
	}
	sc, err := scoreStage(scoreInput{Method: "temi", Data: data, Assignments: res.Assignments, BestHead: 0, Scorer: newScorer(context.Background(), data, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	mf, err := reportStage(context.Background(), reportInput{Plan: p, Data: data, Fit: fitOutput{Loss: "temi", Result: res},
		Results: sc.Results, Seconds: map[string]float64{"embed": 1.5}, Started: time.Now().Add(-time.Minute), Record: rec, Stdout: &stdout, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	waitPluginsGone(t, buildBinaries(t), "", "after the report stage")
	stored, err := rundir.Read(p.runDir)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Finished() || stored.Record.Status != rundir.StatusFinished || stored.Metrics == nil {
		t.Fatalf("run not finished: %+v", stored.Record)
	}
	if m := stored.Metrics; len(m.Results) != 4 || m.Loss != "temi" || m.Clusters != 10 || m.Classes != 10 || m.Seconds["embed"] != 1.5 || m.Seconds["total"] < 60 || m.Trial != p.trial || len(mf.Results) != 4 {
		t.Errorf("metrics.json %+v", m)
	}
	for _, f := range []string{rundir.TablesText, rundir.TablesMarkdown, rundir.MarkdownFile, "report.html"} {
		if _, err := os.Stat(filepath.Join(p.runDir, f)); err != nil {
			t.Errorf("run directory lacks %s", f)
		}
	}
	for _, split := range data.Names {
		checkPNG(t, filepath.Join(p.runDir, rundir.GalleryFile(split)))
	}
	if !strings.Contains(stdout.String(), "best-head") {
		t.Errorf("table not printed:\n%s", stdout.String())
	}
	for _, want := range []string{"[r] gallery train done in", "[r] report: "} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

// The run record: written when the run starts, updated with its inputs,
// and on failure says why, with the exit status, in the trial's directory.
func TestRunRecordLifecycle(t *testing.T) {
	dir := t.TempDir()
	p := &trialPlan{cfg: &config.Config{Experiment: "x", Seed: 4}, trial: "t", identity: "id-one", runDir: filepath.Join(dir, "x", "t"), cfgYAML: []byte("experiment: x\n")}
	log, buf := bufferLog("")
	for _, tc := range []struct {
		err    error
		cancel bool
		status string
		exit   int
	}{
		{errors.New("boom"), false, rundir.StatusFailed, exitFailure},
		{core.InvalidInput(errors.New("bad features")), false, rundir.StatusFailed, exitBadInput},
		{context.Canceled, true, rundir.StatusInterrupted, exitInterrupted},
	} {
		buf.Reset()
		rec, reused, err := beginRun(p, &bytes.Buffer{}, log)
		if err != nil || reused {
			t.Fatal(reused, err)
		}
		if !strings.Contains(buf.String(), "run directory: "+p.runDir) {
			t.Errorf("no run directory line: %q", buf.String())
		}
		r, err := rundir.ReadRecord(p.runDir)
		if err != nil || r.Status != rundir.StatusRunning || r.Identity != "id-one" || r.Seed != 4 || r.PID != os.Getpid() {
			t.Fatalf("started: %+v %v", r, err)
		}
		if b, _ := os.ReadFile(filepath.Join(p.runDir, rundir.ConfigFile)); string(b) != "experiment: x\n" {
			t.Errorf("config.yaml %q", b)
		}
		rec.setEmbeddings(map[string]splitData{"train": {Embeddings: "/e.npy", N: 3, D: 2, SHA256: "abc"}})
		if err := rec.setNeighbours(rundir.Array{Path: "/knn.npy", Shape: []int{3, 1}, SHA256: "def"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if tc.cancel {
			cancel()
		}
		rec.fail(ctx, tc.err)
		cancel()
		rec.release()
		r, err = rundir.ReadRecord(p.runDir)
		if err != nil || r.Status != tc.status || r.ExitStatus != tc.exit || r.Error != tc.err.Error() ||
			r.Inputs.Embeddings["train"].SHA256 != "abc" || r.Inputs.Neighbours == nil || r.Inputs.Neighbours.SHA256 != "def" {
			t.Errorf("after %v: %+v %v", tc.err, r, err)
		}
	}
	// The same trial resumes in place; another identity under its name
	// moves the old directory aside.
	buf.Reset()
	p.identity = "id-two"
	rec, _, err := beginRun(p, &bytes.Buffer{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.finish(); err != nil {
		t.Fatal(err)
	}
	rec.release()
	if !strings.Contains(buf.String(), "moved it to") {
		t.Errorf("other identity not moved aside: %q", buf.String())
	}
	moved, _ := filepath.Glob(filepath.Join(dir, "x", rundir.SkippedDir, "t-id-one-*"))
	if r, err := rundir.ReadRecord(p.runDir); len(moved) != 1 || err != nil || r.Status != rundir.StatusFinished || r.Identity != "id-two" {
		t.Errorf("moved %v; record %+v %v", moved, r, err)
	}
}

// TestAdoptFitOutputs: a loss that writes its assignments and
// probabilities elsewhere (its own training loop, its own names) still
// leaves the run directory's contract files, which every later reader
// uses; a loss without probabilities is noted.
func TestAdoptFitOutputs(t *testing.T) {
	runDir, elsewhere := t.TempDir(), t.TempDir()
	write := func(name string, v []int32) string {
		p := filepath.Join(elsewhere, name)
		if err := npy.WriteInt32(p, v, 2, 3); err != nil {
			t.Fatal(err)
		}
		return p
	}
	probs := filepath.Join(elsewhere, "p.npy")
	if err := npy.WriteFloat32(probs, []float32{1, 0, 0, 1, 0.5, 0.5}, 3, 2); err != nil {
		t.Fatal(err)
	}
	inPlace := filepath.Join(runDir, rundir.AssignFile("test"))
	if err := npy.WriteInt32(inPlace, []int32{1, 1, 0, 0, 1, 1}, 2, 3); err != nil {
		t.Fatal(err)
	}
	res := core.FitResult{
		Assignments:   map[string]string{"train": write("mine-train.npy", []int32{0, 1, 1, 1, 0, 0}), "test": inPlace},
		Probabilities: map[string]string{"train": probs},
	}
	var out bytes.Buffer
	if err := adoptFitOutputs(runDir, "own", &res, trialLog{c: newConsole(&out, false)}); err != nil {
		t.Fatal(err)
	}
	if res.Assignments["train"] != filepath.Join(runDir, rundir.AssignFile("train")) || res.Assignments["test"] != inPlace ||
		res.Probabilities["train"] != filepath.Join(runDir, rundir.ProbsFile("train")) {
		t.Errorf("paths after adoption: %v %v", res.Assignments, res.Probabilities)
	}
	if a, _, err := npy.ReadInt32(res.Assignments["train"]); err != nil || !slices.Equal(a, []int32{0, 1, 1, 1, 0, 0}) {
		t.Errorf("adopted assignments %v, %v", a, err)
	}
	if p, shape, err := npy.ReadFloat32(res.Probabilities["train"]); err != nil || !slices.Equal(shape, []int{3, 2}) || p[4] != 0.5 {
		t.Errorf("adopted probabilities %v %v, %v", p, shape, err)
	}
	if !strings.Contains(out.String(), "no cluster probabilities for split test") {
		t.Errorf("missing probabilities not noted: %q", out.String())
	}
	res.Assignments["test"] = filepath.Join(elsewhere, "gone.npy")
	if err := adoptFitOutputs(runDir, "own", &res, trialLog{c: newConsole(&out, false)}); err == nil || !strings.Contains(err.Error(), "gone.npy") {
		t.Errorf("a missing assignment file: %v", err)
	}
}

// The generalization stage scores each method's train assignment on every
// space and writes the score on all of that method's results; a labelling
// without a score (one cluster) keeps NaN and is noted.
func TestGeneralizationStage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n, k = 300, 3
	xa, y := blobMatrix(rng, n, 6, k)
	xb := make([]float32, n*4) // a second space: the classes along one axis
	for i := range n {
		xb[i*4] = float32(y[i])*5 + float32(rng.NormFloat64())
		for j := 1; j < 4; j++ {
			xb[i*4+j] = float32(rng.NormFloat64())
		}
	}
	dir := t.TempDir()
	data := embedded{Spaces: []spaceSplits{
		{Name: "a", Splits: map[string]splitData{"train": writeSplit(t, dir, "a", xa, y, 6)}},
		{Name: "b", Splits: map[string]splitData{"train": writeSplit(t, dir, "b", xb, y, 4)}},
	}}
	// temi's selected head (row 1) is the classes; row 0 is noise;
	// k-means put everything in one cluster.
	heads := make([]int32, 2*n)
	for i := range n {
		heads[i], heads[n+i] = int32(rng.IntN(k)), y[i]
	}
	assign, one := filepath.Join(dir, "assign_train.npy"), filepath.Join(dir, "kmeans_train.npy")
	if err := npy.WriteInt32(assign, heads, 2, n); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteInt32(one, make([]int32, n), n); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	results := []rundir.Result{
		{Method: "kmeans", Selection: "all", Split: "train", Generalization: nan},
		{Method: "kmeans", Selection: "all", Split: "test", Generalization: nan},
		{Method: "temi", Selection: "head-1", Split: "train", Generalization: nan},
		{Method: "temi", Selection: "best-head", Split: "train", Generalization: nan},
		{Method: "temi", Selection: "best-head", Split: "test", Generalization: nan},
	}
	log, buf := bufferLog("")
	secs, err := generalizationStage(context.Background(), generalizationInput{Data: data, Results: results,
		Train:   map[methodKey]trainAssignment{{"temi", "best-head"}: {Path: assign, Row: 1}, {"kmeans", "all"}: {Path: one}},
		Options: selectionOptions{Generalization: true, Folds: 5}, Log: log})
	if err != nil || secs <= 0 {
		t.Fatal(secs, err)
	}
	for _, r := range results {
		scored := r.Method == "temi" && r.Selection == "best-head"
		if got := r.Generalization; scored != !math.IsNaN(got) || scored && got < 0.95 {
			t.Errorf("%s/%s/%s: generalization %v", r.Method, r.Selection, r.Split, got)
		}
	}
	if !strings.Contains(buf.String(), "note: kmeans (all) has no generalization score") {
		t.Errorf("the undefined score is not noted:\n%s", buf.String())
	}
	// Off: nothing computed.
	if secs, err := generalizationStage(context.Background(), generalizationInput{Data: data, Results: results, Options: selectionOptions{}}); secs != 0 || err != nil {
		t.Errorf("generalization off: %v %v", secs, err)
	}
}
