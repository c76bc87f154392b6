package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/runner/tables"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/internal/testarchive"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// The end-to-end tests build the real runner and plugins and run them as
// separate processes on a small MNIST subset.

// buildBinaries builds the runner and every plugin, as make build lays
// out bin/, into the test binary's build directory (see TestMain).
func buildBinaries(t *testing.T) string {
	t.Helper()
	return testbin.Build(t, testbin.All()...)
}

type result struct {
	code           int
	stdout, stderr string
}

// runnerCmd is `clusterlab args...` of the built binaries, to run in dir:
// plugins only from beside the binary, the ONNX Runtime library that
// `make setup` installed (the binaries live in a temporary folder, away
// from the project's .deps/onnxruntime), and the test's own $TMPDIR,
// checked to be empty at the end (see runnerTmp).
func runnerCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	return testbin.RunnerCmd(buildBinaries(t), dir, runnerTmp(t), args...)
}

// clusterlab runs the built runner in dir with args.
func clusterlab(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	cmd := runnerCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, env...)
	return runCmd(t, cmd)
}

// runCmd runs cmd to its end and returns its status and output.
func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	r := testbin.Run(t, cmd)
	return result{r.Code, r.Stdout, r.Stderr}
}

const smallConfig = `
experiment: e2e
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}
backbone: {plugin: pixels, pca_dims: 32}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss:
  plugin: temi
  heads: 3
  epochs: 3
  batch_size: 128
  lr: 0.001
  min_lr: 0.0001
  warmup_epochs: 1
  knn: 10
  hidden_dim: 64
  bottleneck_dim: 32
`

func TestEndToEndMNISTSubset(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(smallConfig), 0o644)
	r := clusterlab(t, dir, nil, "run", "small.yaml")
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "run directory: ") || !strings.Contains(r.stdout, "best-head") || !strings.Contains(r.stdout, "kmeans") {
		t.Fatalf("table or run directory missing from output:\n%s", r.stdout)
	}
	runDir := testbin.RunDir(dir, r.stdout)
	var mf rundir.Metrics
	b, err := os.ReadFile(filepath.Join(runDir, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &mf); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range mf.Results {
		want[r.Method+"/"+r.Selection+"/"+r.Split] = true
		if r.N == 0 || r.ACC <= 0 || r.ACC > 1 {
			t.Errorf("implausible result %+v", r)
		}
	}
	for _, k := range []string{"temi/best-head/train", "temi/best-head/test", "temi/head-0/test", "temi/head-2/test", "kmeans/all/train", "kmeans/all/test", "knn-classifier/k=20/test"} {
		if !want[k] {
			t.Errorf("metrics.json lacks %s (has %v)", k, want)
		}
	}
	// metrics.json says its format and what produced it.
	if pv := mf.Provenance; mf.Format != rundir.Format || pv == nil || pv.Clusterlab.Go == "" || pv.Clusterlab.Commit == "" ||
		pv.Backend != mf.Backend || pv.Dataset.Name != "idx" || pv.Backbone.Name != "pixels" || pv.Loss.Name != "temi" ||
		pv.Loss.Version == "" || !strings.Contains(pv.Dataset.Identity, "mnist") || pv.Backbone.ID == "" {
		t.Errorf("metrics.json format %d, provenance %+v", mf.Format, mf.Provenance)
	}
	if mf.BestHead < 0 || mf.BestHead > 2 || len(mf.HeadLosses) != 3 {
		t.Errorf("best head %d, head losses %v", mf.BestHead, mf.HeadLosses)
	}
	for _, f := range []string{"config.yaml", "history.jsonl", "tables.txt", "tables.md", "assign_train.npy", "assign_test.npy", "kmeans_test.npy", "run.json", "schedule.csv", "probs_train.npy", "probs_test.npy"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	hist, _ := os.ReadFile(filepath.Join(runDir, "history.jsonl"))
	if n := strings.Count(strings.TrimSpace(string(hist)), "\n") + 1; n != 3 {
		t.Errorf("history.jsonl has %d lines, want 3 epochs", n)
	}

	// Pictures: every plot, a gallery per split and the report, as valid,
	// non-trivial PNGs; `clusterlab report` redraws them from the
	// directory alone.
	pictures := []string{"plot_loss.png", "plot_schedule.png", "plot_cluster_sizes_train.png", "plot_cluster_sizes_test.png",
		"plot_confusion_train.png", "plot_confusion_test.png", "gallery_train.png", "gallery_test.png"}
	for _, f := range pictures {
		checkPNG(t, filepath.Join(runDir, f))
	}
	html, _ := os.ReadFile(filepath.Join(runDir, "report.html"))
	if n := strings.Count(string(html), "data:image/png;base64,"); n != len(pictures) {
		t.Errorf("report.html inlines %d images, want %d", n, len(pictures))
	}
	md, _ := os.ReadFile(filepath.Join(runDir, "report.md"))
	for _, want := range append(pictures, "best-head", "experiment: e2e") {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	for _, f := range []string{"report.md", "report.html", "plot_loss.png", "plot_confusion_test.png"} {
		os.Remove(filepath.Join(runDir, f))
	}
	if rr := clusterlab(t, dir, nil, "report", runDir); rr.code != 0 || !strings.Contains(rr.stdout, "report.html") {
		t.Errorf("clusterlab report (%d): %s %s", rr.code, rr.stdout, rr.stderr)
	}
	checkPNG(t, filepath.Join(runDir, "plot_loss.png"))
	checkPNG(t, filepath.Join(runDir, "plot_confusion_test.png"))
	if html2, _ := os.ReadFile(filepath.Join(runDir, "report.html")); string(html2) != string(html) {
		t.Errorf("report.html redrawn by clusterlab report differs from the run's")
	}
	if rr := clusterlab(t, dir, nil, "report", dir); rr.code != 2 || !strings.Contains(rr.stderr, "not a finished run directory") {
		t.Errorf("clusterlab report on a non-run directory: exit %d %s", rr.code, rr.stderr)
	}

	// The table re-renders from the run directory alone, in every format.
	for _, f := range tables.Formats {
		tr := clusterlab(t, dir, nil, "table", runDir, "--format", f)
		if tr.code != 0 || !strings.Contains(tr.stdout, "best-head") {
			t.Errorf("table --format %s (%d): %s %s", f, tr.code, tr.stdout, tr.stderr)
		}
	}

	// score on the stored assignments.
	sr := clusterlab(t, dir, nil, "score", "--labels", filepath.Join(dir, "labels.txt"), "--pred", filepath.Join(runDir, "kmeans_test.npy"))
	if sr.code != 2 || !strings.Contains(sr.stderr, "labels.txt") {
		t.Errorf("score with a missing labels file: want exit 2 naming it, got %d %s", sr.code, sr.stderr)
	}

	// A second run with another trial reuses the cached embeddings and graph.
	r2 := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "loss.epochs=1", "--set", "baselines.kmeans=false")
	if r2.code != 0 {
		t.Fatalf("second run failed: %s", r2.stderr)
	}
	if !strings.Contains(r2.stderr, "embeddings of train: cached") {
		t.Errorf("second run did not reuse the cache:\n%s", r2.stderr)
	}

	// Over-clustering: K = 15 > 10 classes works and is scored both ways.
	r3 := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "clusters=15", "--set", "loss.epochs=1")
	if r3.code != 0 {
		t.Fatalf("over-clustering run failed: %s", r3.stderr)
	}
	if !strings.Contains(r3.stdout, "test majority ACC") || !strings.Contains(r3.stdout, "/15") {
		t.Errorf("over-clustering table lacks the majority ACC column or K=15:\n%s", r3.stdout)
	}
	mf3, err := rundir.ReadMetrics(testbin.RunDir(dir, r3.stdout))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf3.Results {
		if !r.Supervised && r.MajorityACC < r.ACC {
			t.Errorf("majority ACC %.4f below one-to-one ACC %.4f for %s/%s/%s", r.MajorityACC, r.ACC, r.Method, r.Selection, r.Split)
		}
	}
	if mf3.Clusters != 15 {
		t.Errorf("clusters %d, want 15", mf3.Clusters)
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o644)
		return p
	}
	cases := []struct {
		name, cfg string
		args      []string
		want      []string
	}{
		{"unknown key", smallConfig + "epochs: 3\n", nil, []string{`key "epochs"`, "bad.yaml"}},
		{"plugin option", smallConfig, []string{"--set", "loss.beta=-1"}, []string{`config --set loss.beta=-1: key "loss.beta"`, "below the minimum 0"}},
		{"plugin option in the file", smallConfig + "  beta: -1\n", nil, []string{`config bad.yaml:21: key "loss.beta"`, "below the minimum 0"}},
		{"plugin option type", smallConfig, []string{"--set", "backbone.pca_dims=many"}, []string{`key "backbone.pca_dims"`}},
		{"unknown plugin", smallConfig, []string{"--set", "loss.plugin=nosuch"}, []string{"nosuch"}},
		{"not a plugin", smallConfig, []string{"--set", "loss.plugin=/bin/true"}, []string{"/bin/true"}},
		{"K above samples", smallConfig, []string{"--set", "clusters=3000"}, []string{`key "clusters"`, "3000 clusters for 2000 train samples"}},
		{"batch above samples", smallConfig, []string{"--set", "loss.batch_size=4096"}, []string{`key "loss.batch_size"`, "exceeds the 2000 train images"}},
		{"garbled idx file", smallConfig, []string{"--set", "dataset.name=idx", "--set", "dataset.root=garbled"}, []string{"garbled/train-images-idx3-ubyte", "byte offset 0"}},
		{"wrong onnx model", strings.Replace(smallConfig, "backbone: {plugin: pixels, pca_dims: 32}", "backbone: {plugin: dinov2, model: "+filepath.Join(repoRoot(t), "backbones/dinov2/testdata/not_a_vit.onnx")+"}", 1), nil, []string{"not_a_vit.onnx", "not [N, 3, H, W]"}},
		{"truncated CIFAR binary", cifarConfig("cifar10", "cifar/trunc"), nil, []string{"cifar/trunc/data_batch_3.bin", "at byte offset 9219", "truncated"}},
		{"garbled CIFAR pickle", cifarConfig("cifar100", "cifar/garbled"), nil, []string{"cifar/garbled/train", "at byte offset 208", "garbled"}},
		{"truncated CIFAR archive", cifarConfig("cifar10", "cifar/cut.tar.gz"), nil, []string{"cifar/cut.tar.gz", "member cifar-10-batches-py/", "byte offset", "truncated"}},
		{"missing CIFAR file", cifarConfig("cifar10", "cifar/missing"), nil, []string{"cifar/missing has no test_batch.bin"}},
		{"missing idx files", smallConfig, []string{"--set", "dataset.name=idx", "--set", "dataset.root=emptyidx"}, []string{"no train-images-idx3-ubyte in emptyidx"}},
		{"infinite features", strings.Replace(smallConfig, "backbone: {plugin: pixels, pca_dims: 32}", "backbone: {plugin: precomputed, dir: inf}", 1), nil, []string{"inf/test.npy", "non-finite value at row 7, column 0"}},
		{"non-finite features", strings.Replace(smallConfig, "backbone: {plugin: pixels, pca_dims: 32}", "backbone: {plugin: precomputed, dir: nan}", 1), nil, []string{"nan/train.npy", "non-finite value at row 5, column 3"}},
	}
	// A garbled idx folder and features with a NaN, as users meet them.
	os.MkdirAll(filepath.Join(dir, "garbled"), 0o755)
	for i, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		os.WriteFile(filepath.Join(dir, "garbled", f), bytes.Repeat([]byte{byte(0x41 + i)}, 100), 0o644)
	}
	// CIFAR files as users meet them when a download or copy went wrong:
	// a binary batch cut mid-record, a pickle with garbage inside, an
	// archive cut short, a folder missing a batch.
	testdata := filepath.Join(repoRoot(t), "datasets/cifar/testdata")
	cifarDir := filepath.Join(dir, "cifar")
	testarchive.ExtractTarGz(t, filepath.Join(testdata, "cifar-10-binary.tar.gz"), filepath.Join(cifarDir, "bin"))
	testarchive.ExtractTarGz(t, filepath.Join(testdata, "cifar-100-python.tar.gz"), filepath.Join(cifarDir, "py"))
	os.Rename(filepath.Join(cifarDir, "bin/cifar-10-batches-bin"), filepath.Join(cifarDir, "trunc"))
	if err := os.Truncate(filepath.Join(cifarDir, "trunc/data_batch_3.bin"), 10000); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(cifarDir, "py/cifar-100-python"), filepath.Join(cifarDir, "garbled"))
	pk, _ := os.ReadFile(filepath.Join(cifarDir, "garbled/train"))
	copy(pk[200:260], bytes.Repeat([]byte{0xff}, 60))
	os.WriteFile(filepath.Join(cifarDir, "garbled/train"), pk, 0o644)
	gz, _ := os.ReadFile(filepath.Join(testdata, "cifar-10-python.tar.gz"))
	os.WriteFile(filepath.Join(cifarDir, "cut.tar.gz"), gz[:len(gz)/2], 0o644)
	testarchive.ExtractTarGz(t, filepath.Join(testdata, "cifar-10-binary.tar.gz"), filepath.Join(cifarDir, "bin"))
	os.Rename(filepath.Join(cifarDir, "bin/cifar-10-batches-bin"), filepath.Join(cifarDir, "missing"))
	os.Remove(filepath.Join(cifarDir, "missing/test_batch.bin"))

	os.MkdirAll(filepath.Join(dir, "emptyidx"), 0o755)
	testFeats := make([]float32, 500*8)
	testFeats[7*8] = float32(math.Inf(-1))
	if err := npy.WriteFloat32(filepath.Join(dir, "inf", "train.npy"), make([]float32, 2000*8), 2000, 8); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "inf", "test.npy"), testFeats, 500, 8); err != nil {
		t.Fatal(err)
	}
	writeNaNFeatures(t, filepath.Join(dir, "nan"))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			write("bad.yaml", tc.cfg)
			r := clusterlab(t, dir, nil, append([]string{"run", "bad.yaml"}, tc.args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if r := clusterlab(t, dir, nil, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: exit %d", r.code)
	}
}

// writeNaNFeatures writes train.npy and test.npy for smallConfig's MNIST
// subset (2000 and 500 rows of 8 features) into dir, with a NaN at row 5,
// column 3 of train.
func writeNaNFeatures(t *testing.T, dir string) {
	t.Helper()
	feats := make([]float32, 2000*8)
	feats[5*8+3] = float32(math.NaN())
	if err := npy.WriteFloat32(filepath.Join(dir, "train.npy"), feats, 2000, 8); err != nil {
		t.Fatal(err)
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "test.npy"), make([]float32, 500*8), 500, 8); err != nil {
		t.Fatal(err)
	}
}

// cifarConfig is smallConfig on a CIFAR dataset at root.
func cifarConfig(name, root string) string {
	return strings.Replace(smallConfig, "dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}",
		fmt.Sprintf("dataset: {plugin: cifar, name: %s, root: %s}", name, root), 1)
}

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func TestScoreCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "y.txt"), []byte("0\n0\n1\n1\n2\n2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "p.txt"), []byte("5\n5\n3\n3\n3\n9\n"), 0o644)
	r := clusterlab(t, dir, nil, "score", "--labels", "y.txt", "--pred", "p.txt", "--json")
	if r.code != 0 {
		t.Fatalf("%d %s", r.code, r.stderr)
	}
	var sc struct {
		ACC          float64 `json:"acc"`
		ClustersUsed int     `json:"clusters_used"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sc); err != nil {
		t.Fatal(err, r.stdout)
	}
	if sc.ACC < 0.8333 || sc.ACC > 0.8334 || sc.ClustersUsed != 3 {
		t.Fatalf("%+v", sc)
	}
	os.WriteFile(filepath.Join(dir, "short.txt"), []byte("1\n"), 0o644)
	if r := clusterlab(t, dir, nil, "score", "--labels", "y.txt", "--pred", "short.txt"); r.code != 2 {
		t.Fatalf("length mismatch: exit %d", r.code)
	}
}

func TestPluginsCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	r := clusterlab(t, t.TempDir(), nil, "plugins")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	for _, name := range []string{"idx", "pixels", "temi", filepath.Join(bin, "plugins")} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("plugins output lacks %s:\n%s", name, r.stdout)
		}
	}
}

// embedPaths runs `clusterlab embed CONFIG --json` in dir and returns the
// embeddings' paths by split.
func embedPaths(t *testing.T, dir, config string) map[string]string {
	t.Helper()
	r := clusterlab(t, dir, nil, "embed", config, "--json")
	if r.code != 0 {
		t.Fatalf("embed: %d %s", r.code, r.stderr)
	}
	var paths map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &paths); err != nil {
		t.Fatal(err, r.stdout)
	}
	if paths["train"] == "" || paths["test"] == "" {
		t.Fatalf("embed --json: %v", paths)
	}
	return paths
}

// TestEmbedThenPrecomputed embeds an MNIST subset with `clusterlab embed
// --json`, then feeds the written .npy files back through the precomputed
// backbone: the second embedding must equal the first, bit for bit.
func TestEmbedThenPrecomputed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(smallConfig), 0o644)
	paths := embedPaths(t, dir, "small.yaml")
	r := clusterlab(t, dir, nil, "embed", "small.yaml", "--json", "--set", "backbone.plugin=precomputed",
		"--set", "backbone.pca_dims=", "--set", "backbone.train="+paths["train"], "--set", "backbone.test="+paths["test"])
	// pca_dims belongs to pixels, not precomputed: listed as unused.
	if r.code != 0 || !strings.Contains(r.stderr, "backbone.pca_dims") || !strings.Contains(r.stderr, "unused") {
		t.Fatalf("switching the backbone by --set: want success and pca_dims listed as unused, got %d:\n%s", r.code, r.stderr)
	}
	cfg := strings.Replace(smallConfig, "backbone: {plugin: pixels, pca_dims: 32}", "backbone: {plugin: precomputed, train: "+paths["train"]+", test: "+paths["test"]+"}", 1)
	os.WriteFile(filepath.Join(dir, "pre.yaml"), []byte(cfg), 0o644)
	r = clusterlab(t, dir, nil, "embed", "pre.yaml", "--json")
	if r.code != 0 {
		t.Fatalf("embed precomputed: %d %s", r.code, r.stderr)
	}
	var again map[string]string
	json.Unmarshal([]byte(r.stdout), &again)
	for _, s := range []string{"train", "test"} {
		a, _ := os.ReadFile(paths[s])
		b, err := os.ReadFile(again[s])
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("split %s: precomputed embeddings differ from the originals (%v)", s, err)
		}
	}
}

// TestEndToEndCIFAR100TinyDINOv2 runs `clusterlab run` on the small
// CIFAR-100 fixture (python version, packed) and the tiny DINOv2-architecture
// ONNX model, through real plugin processes: the headline pipeline at toy
// size.
func TestEndToEndCIFAR100TinyDINOv2(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
experiment: cifar_tiny
seed: 2
clusters: 5
dataset: {plugin: cifar, name: cifar100, root: %s}
backbone: {plugin: dinov2, model: %s, pooling: cls+patch-mean, batch_size: 8}
neighbours: {k: 5}
baselines: {kmeans_n_init: 2, knn_classifier_k: 5}
loss: {plugin: temi, heads: 2, epochs: 2, batch_size: 8, warmup_epochs: 1, knn: 5, hidden_dim: 32, bottleneck_dim: 16}
`, filepath.Join(root, "datasets/cifar/testdata/cifar-100-python.tar.gz"), filepath.Join(root, "backbones/dinov2/testdata/dinov2_tiny_reg4.onnx"))
	os.WriteFile(filepath.Join(dir, "cifar.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "cifar.yaml")
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	runDir := testbin.RunDir(dir, r.stdout)
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Clusters != 5 || mf.Classes != 100 {
		t.Errorf("clusters %d classes %d", mf.Clusters, mf.Classes)
	}
	n := map[string]int{}
	for _, res := range mf.Results {
		if res.Method == "temi" && res.Selection == "best-head" {
			n[res.Split] = res.N
		}
	}
	if n["train"] != 30 || n["test"] != 10 {
		t.Errorf("best-head results cover %v images, want train 30 and test 10", n)
	}
}

// TestSweep runs a small sweep (2 variants x 2 seeds, 2 at a time) through
// real plugin processes, checks the mean ± std table, reruns it (every
// trial is skipped) and re-renders the table from the directories alone.
func TestSweep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "epochs: 3", "epochs: 1", 1) + `
sweep:
  grid:
    loss.beta: [0.6, 1.0]
  seeds: [0, 1]
  parallel: 2
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if r.code != 0 {
		t.Fatalf("sweep failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"beta=0.6", "beta=1", " ± ", "kmeans (baseline)", "knn-classifier (baseline)", "best head", "sweep directory: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sweep output lacks %q:\n%s", want, r.stdout)
		}
	}
	expDir := filepath.Join(dir, "runs", "e2e")
	trials, _ := filepath.Glob(filepath.Join(expDir, "*", "metrics.json"))
	if len(trials) != 4 {
		t.Fatalf("want 4 finished trials, got %v", trials)
	}
	// Embeddings and the k-NN graph were computed once for all trials.
	if n := strings.Count(r.stderr, "k-NN graph   done"); n != 1 {
		t.Errorf("k-NN graph computed %d times, want once", n)
	}
	again := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if again.code != 0 || strings.Count(again.stderr, "already finished") != 4 {
		t.Errorf("rerun did not skip the 4 finished trials (%d):\n%s", again.code, again.stderr)
	}
	stored, _ := os.ReadFile(filepath.Join(expDir, "sweep_tables.txt"))
	tr := clusterlab(t, dir, nil, "table", expDir)
	if tr.code != 0 || tr.stdout != string(stored) {
		t.Errorf("table from the directories differs from the sweep's:\n%s\n---\n%s", tr.stdout, stored)
	}
	for _, f := range tables.Formats {
		if tr := clusterlab(t, dir, nil, "table", expDir, "--format", f); tr.code != 0 || !strings.Contains(tr.stdout, "beta=0.6") {
			t.Errorf("table --format %s: %d %s", f, tr.code, tr.stderr)
		}
	}
}

// TestConfigDocInSync keeps docs/CONFIG.md equal to what the shipped
// plugins declare (regenerate it with the command the file names).
func TestConfigDocInSync(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	r := clusterlab(t, t.TempDir(), nil, "plugins", "--options", "--format", "markdown")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	i := strings.Index(r.stdout, "**options of dataset")
	j := strings.Index(string(doc), "**options of dataset")
	if i < 0 || j < 0 || r.stdout[i:] != string(doc[j:]) {
		t.Fatalf("docs/CONFIG.md is out of date: regenerate it with `bin/clusterlab plugins --options --format markdown`")
	}
}

// checkPNG decodes a PNG and checks it is a real picture: not tiny, many
// colours, not one colour all over.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	im, err := png.Decode(f)
	if err != nil {
		t.Errorf("%s: %v", path, err)
		return
	}
	b := im.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Errorf("%s is only %dx%d", path, b.Dx(), b.Dy())
	}
	count := map[[4]uint32]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := im.At(x, y).RGBA()
			count[[4]uint32{r, g, bl, a}]++
		}
	}
	most := 0
	for _, n := range count {
		most = max(most, n)
	}
	if len(count) < 20 || most > b.Dx()*b.Dy()*97/100 {
		t.Errorf("%s looks empty: %d colours, the commonest covers %d of %d pixels", path, len(count), most, b.Dx()*b.Dy())
	}
}
