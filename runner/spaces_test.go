package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
)

// twoSpaceConfig is smallConfig with two representation spaces of the
// MNIST fixture (PCA to 16 and to 8 dimensions).
const twoSpaceConfig = `
experiment: spaces
seed: 1
dataset: {plugin: idx, name: mnist, limit_train: 1000, limit_test: 300}
backbones:
  pca16: {plugin: pixels, pca_dims: 16}
  pca8: {plugin: pixels, pca_dims: 8}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss: {plugin: temi, heads: 2, epochs: 2, batch_size: 128, knn: 10, hidden_dim: 32, bottleneck_dim: 16, warmup_epochs: 1}
`

// A run of two spaces embeds and caches each on its own, gives every
// method but TURTLE the concatenation of the L2-normalised spaces, records
// the spaces in run.json and the table; space: NAME runs on one of them.
func TestTwoSpacesEndToEnd(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "two.yaml"), []byte(twoSpaceConfig), 0o644)

	r := clusterlab(t, dir, nil, "embed", "two.yaml", "--json")
	if r.code != 0 {
		t.Fatalf("embed failed (%d):\n%s", r.code, r.stderr)
	}
	var spaces map[string]map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &spaces); err != nil || len(spaces) != 2 || spaces["pca16"]["train"] == "" || spaces["pca8"]["test"] == "" {
		t.Fatalf("embed --json of two spaces: %v\n%s", err, r.stdout)
	}

	r = clusterlab(t, dir, nil, "run", "two.yaml")
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Count(r.stderr, "cached") < 4 {
		t.Errorf("the run recomputed embeddings that embed had cached:\n%s", r.stderr)
	}
	runDir := testbin.RunDir(dir, r.stdout)
	run, err := rundir.Read(runDir)
	if err != nil {
		t.Fatal(err)
	}
	in := run.Record.Inputs
	if len(in.Spaces) != 2 || in.Spaces[0].Name != "pca16" || in.Spaces[1].Name != "pca8" || !in.Spaces[0].Used || !in.Spaces[1].Used ||
		in.Spaces[0].Backbone.Identity == in.Spaces[1].Backbone.Identity || in.Backbone.Name != "" {
		t.Fatalf("run.json inputs: %+v", in)
	}
	if !strings.Contains(r.stdout, "pca16=pixels@") || !strings.Contains(r.stdout, "pca8=pixels@") {
		t.Errorf("the table does not say which spaces the run used:\n%s", r.stdout)
	}
	for _, split := range []string{"train", "test"} {
		concat := in.Embeddings[split]
		if concat.Path == spaces["pca16"][split] || len(concat.Shape) != 2 || concat.Shape[1] != 24 {
			t.Fatalf("%s features %+v, want the 24-dimensional concatenation", split, concat)
		}
		checkConcatenation(t, concat.Path, spaces["pca16"][split], spaces["pca8"][split])
	}

	// One space of the two: its embeddings as they are, another trial.
	r = clusterlab(t, dir, nil, "run", "two.yaml", "--set", "space=pca8")
	if r.code != 0 {
		t.Fatalf("run with space=pca8 failed (%d):\n%s", r.code, r.stderr)
	}
	one := testbin.RunDir(dir, r.stdout)
	if one == runDir {
		t.Fatal("space=pca8 reused the run of both spaces")
	}
	run, err = rundir.Read(one)
	if err != nil {
		t.Fatal(err)
	}
	if used := run.Record.Inputs.SpacesUsed(); len(used) != 1 || used[0] != "pca8" || run.Record.Inputs.Embeddings["train"].Path != spaces["pca8"]["train"] {
		t.Fatalf("space=pca8 used %v, train features %+v", used, run.Record.Inputs.Embeddings["train"])
	}
	if !strings.Contains(r.stdout, "(not used)") {
		t.Errorf("the table does not say that pca16 was not used:\n%s", r.stdout)
	}
	// Its heads take that space's embeddings, which assign accepts.
	r = clusterlab(t, dir, nil, "assign", one, spaces["pca8"]["test"], "--out", filepath.Join(dir, "assigned"))
	if r.code != 0 {
		t.Fatalf("assign of the one-space run failed (%d):\n%s", r.code, r.stderr)
	}
}

// checkConcatenation checks that concat holds a's and b's rows, each
// divided by its norm, side by side.
func checkConcatenation(t *testing.T, concat, a, b string) {
	t.Helper()
	c, cs, err := npy.ReadFloat32(concat)
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]float32
	var dims []int
	for _, p := range []string{a, b} {
		x, s, err := npy.ReadFloat32(p)
		if err != nil {
			t.Fatal(err)
		}
		if s[0] != cs[0] {
			t.Fatalf("%s has %d rows, the concatenation %d", p, s[0], cs[0])
		}
		parts, dims = append(parts, x), append(dims, s[1])
	}
	for r := 0; r < cs[0]; r++ {
		off := 0
		for i, x := range parts {
			row := x[r*dims[i] : (r+1)*dims[i]]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			for j, v := range row {
				want := float64(v) / math.Sqrt(ss)
				if got := float64(c[r*cs[1]+off+j]); math.Abs(got-want) > 1e-6 {
					t.Fatalf("row %d, space %d, value %d: %v, want %v", r, i, j, got, want)
				}
			}
			off += dims[i]
		}
	}
}

// turtleConfig is twoSpaceConfig trained with TURTLE (short: iters
// iterations of batch 400).
func turtleConfig(iters int, trial string) string {
	cfg := strings.Replace(twoSpaceConfig, "loss: {plugin: temi, heads: 2, epochs: 2, batch_size: 128, knn: 10, hidden_dim: 32, bottleneck_dim: 16, warmup_epochs: 1}",
		fmt.Sprintf("loss: {plugin: turtle, iterations: %d, batch_size: 400, checkpoint_every: 25}", iters), 1)
	if trial != "" {
		cfg += "trial: " + trial + "\n"
	}
	return cfg
}

// TURTLE on two spaces through the runner: no k-NN graph, one head, the
// generalization score of its assignment and of k-means, the linear probe;
// and an interrupted run resumed gives the files of an uninterrupted one,
// byte for byte.
func TestTurtleTwoSpacesEndToEnd(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	dir := t.TempDir()
	write := func(name, cfg string) { os.WriteFile(filepath.Join(dir, name), []byte(cfg), 0o644) }
	write("whole.yaml", turtleConfig(150, "whole"))
	r := clusterlab(t, dir, nil, "run", "whole.yaml")
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "k-NN graph") {
		t.Errorf("a TURTLE run computed the k-NN graph it does not use:\n%s", r.stderr)
	}
	whole := testbin.RunDir(dir, r.stdout)
	run, err := rundir.Read(whole)
	if err != nil {
		t.Fatal(err)
	}
	if run.Record.Inputs.Neighbours != nil || len(run.Record.Inputs.SpacesUsed()) != 2 {
		t.Errorf("inputs: neighbours %+v, spaces %v", run.Record.Inputs.Neighbours, run.Record.Inputs.SpacesUsed())
	}
	got := map[string]rundir.Result{}
	for _, res := range run.Metrics.Results {
		got[res.Method+"/"+res.Selection+"/"+res.Split] = res
	}
	tu, km, lp := got["turtle/best-head/test"], got["kmeans/all/test"], got["linear-probe/C=1/test"]
	if tu.N != 300 || tu.ACC < 0.3 || math.IsNaN(tu.Generalization) || math.IsNaN(km.Generalization) || !lp.Supervised || lp.ACC < 0.7 {
		t.Errorf("turtle %+v\nkmeans %+v\nlinear probe %+v", tu, km, lp)
	}
	if len(run.Metrics.HeadLosses) != 1 || !strings.Contains(r.stdout, "gen. score") || !strings.Contains(r.stdout, "linear-probe") {
		t.Errorf("head losses %v; table:\n%s", run.Metrics.HeadLosses, r.stdout)
	}

	// The same trial under another name, interrupted during training and
	// run again: the same files.
	write("cut.yaml", turtleConfig(150, "cut"))
	p := startRunner(t, dir, "run", "cut.yaml")
	if !p.waitLine("train turtle") {
		t.Fatalf("training never started:\n%s", p.stderr())
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if code := p.exitCode(); code != 130 {
		t.Fatalf("interrupted run exit %d, want 130:\n%s", code, p.stderr())
	}
	cutDir := filepath.Join(filepath.Dir(whole), "cut")
	if _, err := os.Stat(filepath.Join(cutDir, rundir.CheckpointFile)); err != nil {
		t.Fatalf("the interrupted run left no checkpoint: %v\n%s", err, p.stderr())
	}
	r = clusterlab(t, dir, nil, "run", "cut.yaml")
	if r.code != 0 || !strings.Contains(r.stderr, "resuming") {
		t.Fatalf("rerun (%d) did not resume:\n%s", r.code, r.stderr)
	}
	for _, f := range []string{"assign_train.npy", "assign_test.npy", "probs_train.npy", "probs_test.npy"} {
		a, errA := os.ReadFile(filepath.Join(whole, f))
		b, errB := os.ReadFile(filepath.Join(cutDir, f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the resumed run (%v, %v)", f, errA, errB)
		}
	}
	if a, b := historyWithoutTimes(t, whole), historyWithoutTimes(t, cutDir); a != b {
		t.Errorf("history differs after resume")
	}

	// assign takes the shared trainer's heads: a run of several spaces,
	// and a TURTLE run of one, are refused saying why.
	feats := run.Record.Inputs.Embeddings["test"].Path
	r = clusterlab(t, dir, nil, "assign", whole, feats)
	if r.code != 2 || !strings.Contains(r.stderr, "used several representation spaces") {
		t.Errorf("assign of a two-space run: exit %d\n%s", r.code, r.stderr)
	}
	r = clusterlab(t, dir, nil, "run", "whole.yaml", "--set", "space=pca8", "--set", "loss.iterations=5", "--set", "trial=one")
	if r.code != 0 {
		t.Fatalf("one-space run failed (%d):\n%s", r.code, r.stderr)
	}
	one := testbin.RunDir(dir, r.stdout)
	oneRun, err := rundir.Read(one)
	if err != nil {
		t.Fatal(err)
	}
	r = clusterlab(t, dir, nil, "assign", one, oneRun.Record.Inputs.Embeddings["test"].Path)
	if r.code != 2 || !strings.Contains(r.stderr, "shared trainer") {
		t.Errorf("assign of a TURTLE run: exit %d\n%s", r.code, r.stderr)
	}
}

// TURTLE on the CIFAR fixture with two tiny ONNX models as its spaces: a
// DINOv2 and a CLIP image tower (preset clip).
func TestTurtleCIFARTwoONNXSpaces(t *testing.T) {
	t.Parallel()
	root, _ := filepath.Abs("..")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
experiment: cifar_spaces
seed: 2
clusters: 5
dataset: {plugin: cifar, name: cifar100, root: %s}
backbones:
  dinov2: {plugin: dinov2, model: %s, batch_size: 8}
  clip: {plugin: dinov2, preset: clip, model: %s, batch_size: 8}
baselines: {kmeans_n_init: 2, knn_classifier_k: 5}
selection: {folds: 3}
loss: {plugin: turtle, iterations: 30, batch_size: 20}
`, filepath.Join(root, "datasets/cifar/testdata/cifar-100-python.tar.gz"),
		filepath.Join(root, "backbones/dinov2/testdata/dinov2_tiny_reg4.onnx"), filepath.Join(root, "backbones/dinov2/testdata/clip_tiny.onnx"))
	os.WriteFile(filepath.Join(dir, "cifar.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "cifar.yaml")
	if r.code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	run, err := rundir.Read(testbin.RunDir(dir, r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if used := run.Record.Inputs.SpacesUsed(); len(used) != 2 || used[0] != "clip" || used[1] != "dinov2" {
		t.Errorf("spaces used %v", used)
	}
	n := map[string]int{}
	for _, res := range run.Metrics.Results {
		if res.Method == "turtle" && res.Selection == "best-head" {
			n[res.Split] = res.N
		}
	}
	if n["train"] != 30 || n["test"] != 10 || !strings.Contains(r.stdout, "clip=dinov2@") {
		t.Errorf("turtle results cover %v; table:\n%s", n, r.stdout)
	}
}
