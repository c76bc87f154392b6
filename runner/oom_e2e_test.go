package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/internal/testcgroup"
)

// TestOutOfMemoryNamesStageAndOption runs a trial whose loss plugin really
// runs out of memory: the plugin runs under prlimit --as (a 4 GiB address
// space, inherited by nothing else), and its heads are too large for it
// (hidden_dim 2^26: the first layer alone is 24 GiB). The runner must exit
// 1 with one error that names the stage, the failed allocation and the
// option to lower; the same trial with a sensible hidden_dim then runs,
// reusing the embeddings the failed run cached.
func TestOutOfMemoryNamesStageAndOption(t *testing.T) {
	t.Parallel()
	prlimit := prlimitPath(t)
	dir := t.TempDir()
	limitedLoss(t, prlimit, dir, 4<<30)
	huge := strings.Replace(smallConfig, "plugin: temi", "plugin: ./temi-limited", 1)
	huge = strings.Replace(huge, "hidden_dim: 64", "hidden_dim: 67108864", 1)
	huge = strings.Replace(huge, "experiment: e2e", "experiment: oom\ntrial: t", 1)
	if err := os.WriteFile(filepath.Join(dir, "huge.yaml"), []byte(huge), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clusterlab(t, dir, nil, "run", "huge.yaml")
	expectOutOfMemory(t, r,
		"training (loss temi) ran out of memory",
		"an allocation of 24.0 GiB failed",
		"clusterlab: out of memory in training (loss temi): lower loss.batch_size (or loss.heads, loss.hidden_dim)",
		"run the same command again")

	// The same trial with heads that fit: the embeddings come from the
	// cache the failed run filled.
	fits := strings.Replace(huge, "hidden_dim: 67108864", "hidden_dim: 64", 1)
	fits = strings.Replace(fits, "plugin: ./temi-limited", "plugin: temi", 1)
	if err := os.WriteFile(filepath.Join(dir, "fits.yaml"), []byte(fits), 0o644); err != nil {
		t.Fatal(err)
	}
	r = clusterlab(t, dir, nil, "run", "fits.yaml")
	if r.code != 0 {
		t.Fatalf("rerun with hidden_dim 64: exit status %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr+r.stdout, "cached") {
		t.Errorf("the rerun did not reuse the cached embeddings:\n%s", r.stderr)
	}
}

// TestOOMKilledPluginNamesStage runs a trial in a memory cgroup of its own
// (1 GiB, made under the test process's cgroup, v1 or v2) whose loss
// plugin needs more (hidden_dim 2^22: 1.5 GiB per copy of the first
// layer): the kernel's OOM killer kills the plugin with SIGKILL, and the
// runner must tell that from any other crash (the cgroup's oom_kill count
// rose) and name the stage and the option to lower, exit 1.
func TestOOMKilledPluginNamesStage(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("memory cgroups are Linux's")
	}
	cg := testcgroup.New(t, 1<<30)
	if cg == "" {
		t.Skip("LOUD SKIP: cannot create a memory cgroup here (needs root and a writable cgroup hierarchy); the OOM-killer path is untested on this machine (TestOutOfMemoryNamesStageAndOption still tests the out-of-memory message)")
	}
	t.Logf("memory cgroup %s", cg)
	dir := t.TempDir()
	cfg := strings.Replace(smallConfig, "hidden_dim: 64", "hidden_dim: 4194304", 1)
	cfg = strings.Replace(cfg, "experiment: e2e", "experiment: oomkill", 1)
	if err := os.WriteFile(filepath.Join(dir, "big.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := runnerCmd(t, dir, "run", "big.yaml")
	// The runner (and so its plugins) start inside the cgroup.
	testcgroup.Enter(cmd, cg)
	expectOutOfMemory(t, runCmd(t, cmd),
		"killed by the kernel's out-of-memory killer",
		"training (loss temi) ran out of memory",
		"clusterlab: out of memory in training (loss temi): lower loss.batch_size")
}

// memoryConfig is a trial on 60,000 rows of features (no labels, no
// images) whose k-NN graph and k-means run in the runner's own process.
const memoryConfig = `
experiment: mem
seed: 1
runs_dir: runs
cache_dir: cache
dataset: {plugin: features, dir: feats}
backbone: {plugin: precomputed, dir: feats}
clusters: CLUSTERS
neighbours: {k: NEIGHBOURS}
baselines: {kmeans_n_init: 2}
loss: {plugin: temi, heads: 1, epochs: 1, warmup_epochs: 0, batch_size: 256, knn: 10, hidden_dim: 64, bottleneck_dim: 32}
`

// TestRunnerStagesCheckMemoryFirst runs, under an address space of 8 GiB
// (prlimit --as, inherited by the plugins), a trial whose k-NN graph
// (k = 20,000 of 60,000 rows: 8.9 GiB of result) and then one whose
// k-means (6,000 clusters: 4.0 GiB of distances per run, two runs at
// once) cannot fit. Both run in the runner's process, where running out
// of memory would be a crash; each must be refused before it starts, with
// one error naming the stage, its need, the bound and the option to lower,
// exit 1. The same trial with sensible options then runs to its end under
// the same limit, reusing the graph the k-means failure left in the cache.
func TestRunnerStagesCheckMemoryFirst(t *testing.T) {
	t.Parallel()
	prlimit := prlimitPath(t)
	dir := t.TempDir()
	writeFeatures(t, filepath.Join(dir, "feats"), 60_000, 8)
	run := func(name string, clusters, k int) result {
		cfg := strings.NewReplacer("CLUSTERS", fmt.Sprint(clusters), "NEIGHBOURS", fmt.Sprint(k)).Replace(memoryConfig)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := runnerCmd(t, dir, "run", name+".yaml")
		cmd.Args = append([]string{prlimit, fmt.Sprintf("--as=%d", int64(8)<<30), "--", cmd.Path}, cmd.Args[1:]...)
		cmd.Path = prlimit
		return runCmd(t, cmd)
	}
	graphs := func() []string {
		g, _ := filepath.Glob(filepath.Join(dir, "cache", "knn", "*", "*", "knn.npy"))
		return g
	}
	r := run("graph", 10, 20_000)
	expectOutOfMemory(t, r,
		"the k-NN graph was not started for lack of memory: the k-NN graph of 60000 rows (k=20000) needs about 9.",
		"clusterlab: out of memory in the k-NN graph: lower neighbours.k")
	// The 8 GiB address space is the bound, unless the machine has even
	// less memory available.
	if !strings.Contains(r.stderr, "bounded by the address-space limit (ulimit -v) of 8.0 GiB") &&
		!strings.Contains(r.stderr, "bounded by the system's available memory") {
		t.Errorf("the error does not name the bound:\n%s", r.stderr)
	}
	if g := graphs(); len(g) != 0 {
		t.Errorf("the refused graph left %v in the cache", g)
	}

	expectOutOfMemory(t, run("kmeans", 6_000, 10),
		"the k-means baseline was not started for lack of memory: k-means of 60000 rows into 6000 clusters needs about 8.",
		"clusterlab: out of memory in the k-means baseline: lower baselines.kmeans_n_init")

	cached := graphs()
	if len(cached) != 1 {
		t.Fatalf("after the k-means failure the cache holds graphs %v, want the one of k=10", cached)
	}
	st, err := os.Stat(cached[0])
	if err != nil {
		t.Fatal(err)
	}
	r = run("fits", 10, 10)
	if r.code != 0 {
		t.Fatalf("the trial with k=10 and 10 clusters under the same limit: exit status %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	again, err := os.Stat(cached[0])
	if g := graphs(); len(g) != 1 || err != nil || !again.ModTime().Equal(st.ModTime()) {
		t.Errorf("the rerun did not reuse the graph the k-means failure cached: %v, %v", g, err)
	}
}

// expectOutOfMemory checks that a run failed with exit status 1 and one
// out-of-memory error whose stderr holds each of wants, and logs the
// error and the hint as a user sees them.
func expectOutOfMemory(t *testing.T, r result, wants ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range wants {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "clusterlab: ") {
			t.Log(l)
		}
	}
	if c := strings.Count(r.stderr, "clusterlab: out of memory in"); c != 1 {
		t.Errorf("the hint appears %d times, want once:\n%s", c, r.stderr)
	}
}

// prlimitPath is util-linux's prlimit, which the tests use to give a
// process less memory than its work needs; a test that cannot have it
// fails (it is essential in Debian), and is skipped off Linux.
func prlimitPath(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("prlimit and /proc are Linux's")
	}
	prlimit := "/usr/bin/prlimit"
	if _, err := os.Stat(prlimit); err != nil {
		t.Fatalf("%s (util-linux) is needed to limit a process's memory: %v", prlimit, err)
	}
	return prlimit
}

// writeFeatures writes dir/train.npy, n rows of d standard normal
// features (no labels), for the features dataset and the precomputed
// backbone.
func writeFeatures(t *testing.T, dir string, n, d int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(21, uint64(n)))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	if err := npy.WriteFloat32(filepath.Join(dir, "train.npy"), x, n, d); err != nil {
		t.Fatal(err)
	}
}

// TestBackendOutOfMemoryNamesStage runs a trial whose heads are small on
// the host (a first layer of 8 x 2^22 weights) but whose activations are
// not (32 rows x 2^22 per layer), with the loss plugin under prlimit --as
// (6 GiB): the compute backend (ONNX Runtime) refuses an allocation inside
// the training step and returns an error, as a GPU's backend does when its
// memory runs out. The plugin must carry it back as out of memory rather
// than crash, and the runner name the stage and the option to lower, exit
// 1.
func TestBackendOutOfMemoryNamesStage(t *testing.T) {
	t.Parallel()
	prlimit := prlimitPath(t)
	dir := t.TempDir()
	writeFeatures(t, filepath.Join(dir, "feats"), 2_000, 8)
	limitedLoss(t, prlimit, dir, 6<<30)
	cfg := strings.NewReplacer("CLUSTERS", "10", "NEIGHBOURS", "10",
		"baselines: {kmeans_n_init: 2}", "baselines: {kmeans: false}",
		"plugin: temi, heads: 1,", "plugin: ./temi-limited, heads: 1, nlayers: 2,",
		"batch_size: 256", "batch_size: 32", "hidden_dim: 64", "hidden_dim: 4194304", "bottleneck_dim: 32", "bottleneck_dim: 8").Replace(memoryConfig)
	if err := os.WriteFile(filepath.Join(dir, "wide.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := clusterlab(t, dir, nil, "run", "wide.yaml")
	expectOutOfMemory(t, r,
		"training (loss temi) ran out of memory: train with loss temi: training step:",
		"ONNX Runtime error",
		"clusterlab: out of memory in training (loss temi): lower loss.batch_size (or loss.heads, loss.hidden_dim)")
	if strings.Contains(r.stderr, "exited during") {
		t.Errorf("the loss plugin crashed instead of returning the backend's error:\n%s", r.stderr)
	}
}

// limitedLoss writes dir/temi-limited, the temi loss plugin run under
// prlimit --as=limit (a config names it as the plugin "./temi-limited"):
// only the plugin gets the limit, not the runner.
func limitedLoss(t *testing.T, prlimit, dir string, limit int64) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\nexec %s --as=%d -- %s \"$@\"\n", prlimit, limit,
		filepath.Join(buildBinaries(t), "plugins", "clusterlab-loss-temi"))
	if err := os.WriteFile(filepath.Join(dir, "temi-limited"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}
