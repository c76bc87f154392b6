package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// The end-to-end tests of "correct by construction": each runs the real
// binaries on the MNIST subset of smallConfig, one epoch where training
// length does not matter.

// quickConfig is smallConfig trained for one epoch.
var quickConfig = strings.Replace(smallConfig, "epochs: 3", "epochs: 1", 1)

// runDirOf is the run directory a `clusterlab run` printed last.
func runDirOf(t *testing.T, dir string, r result) string {
	t.Helper()
	runDir := testbin.RunDir(dir, r.stdout)
	if runDir == "" {
		t.Fatalf("no run directory in the output:\n%s\n%s", r.stdout, r.stderr)
	}
	return runDir
}

// bestHeadTest is the test metrics of the selected head of a finished run.
func bestHeadTest(t *testing.T, runDir string) rundir.Result {
	t.Helper()
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Results {
		if r.Selection == "best-head" && r.Split == "test" {
			return r
		}
	}
	t.Fatalf("%s has no best-head test result", runDir)
	return rundir.Result{}
}

// reverseRows rewrites a [N, D] float32 .npy with its rows in reverse order.
func reverseRows(t *testing.T, path string) {
	t.Helper()
	x, shape, err := npy.ReadFloat32(path)
	if err != nil {
		t.Fatal(err)
	}
	n, d := shape[0], shape[1]
	out := make([]float32, len(x))
	for i := 0; i < n; i++ {
		copy(out[(n-1-i)*d:(n-i)*d], x[i*d:(i+1)*d])
	}
	if err := npy.WriteFloat32(path, out, n, d); err != nil {
		t.Fatal(err)
	}
}

// TestChangedFeaturesAreANewTrial (item 1): features that change after a
// finished run give a new trial with new numbers, never the old ones; a
// named trial's old directory is moved aside, not overwritten.
func TestChangedFeaturesAreANewTrial(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig), 0o644)
	paths := embedPaths(t, dir, "small.yaml")
	feats := filepath.Join(dir, "feats")
	os.MkdirAll(feats, 0o755)
	for _, s := range []string{"train", "test"} {
		b, err := os.ReadFile(paths[s])
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(feats, s+".npy"), b, 0o644)
	}
	cfg := strings.Replace(quickConfig, "backbone: {plugin: pixels, pca_dims: 32}", "backbone: {plugin: precomputed, dir: feats}", 1)
	os.WriteFile(filepath.Join(dir, "pre.yaml"), []byte(cfg), 0o644)

	first := clusterlab(t, dir, nil, "run", "pre.yaml")
	named := clusterlab(t, dir, nil, "run", "pre.yaml", "--set", "trial=named")
	if first.code != 0 || named.code != 0 {
		t.Fatalf("first runs: %d %s\n%d %s", first.code, first.stderr, named.code, named.stderr)
	}
	firstDir := runDirOf(t, dir, first)
	before := bestHeadTest(t, firstDir)

	// The rows of test.npy reversed: the labels no longer match them.
	reverseRows(t, filepath.Join(feats, "test.npy"))
	again := clusterlab(t, dir, nil, "run", "pre.yaml")
	if again.code != 0 {
		t.Fatalf("rerun: %d %s", again.code, again.stderr)
	}
	if strings.Contains(again.stderr, "already finished") {
		t.Fatalf("changed features reused the finished run:\n%s", again.stderr)
	}
	againDir := runDirOf(t, dir, again)
	if againDir == firstDir {
		t.Fatalf("changed features ran in the old trial's directory %s", againDir)
	}
	after := bestHeadTest(t, againDir)
	if after.ACC == before.ACC {
		t.Fatalf("test ACC %.4f unchanged after the test features were reversed", after.ACC)
	}
	// The new figure is the true one: the same as a run from nothing.
	os.RemoveAll(filepath.Join(dir, "runs"))
	fresh := clusterlab(t, dir, nil, "run", "pre.yaml")
	if fresh.code != 0 {
		t.Fatalf("fresh run: %s", fresh.stderr)
	}
	if got := bestHeadTest(t, runDirOf(t, dir, fresh)); got.ACC != after.ACC || got.NMI != after.NMI {
		t.Errorf("rerun after the change gave ACC %.4f NMI %.4f, a run from nothing %.4f %.4f", after.ACC, after.NMI, got.ACC, got.NMI)
	}

	// A named trial: its old directory is moved aside, the trial reruns.
	reverseRows(t, filepath.Join(feats, "test.npy")) // back to the first features
	if r := clusterlab(t, dir, nil, "run", "pre.yaml", "--set", "trial=named"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	reverseRows(t, filepath.Join(feats, "test.npy"))
	r := clusterlab(t, dir, nil, "run", "pre.yaml", "--set", "trial=named")
	if r.code != 0 || strings.Contains(r.stderr, "already finished") || !strings.Contains(r.stderr, "moved it to") {
		t.Fatalf("named trial with changed features (%d):\n%s", r.code, r.stderr)
	}
	if got := bestHeadTest(t, filepath.Join(dir, "runs", "e2e", "named")); got.ACC != after.ACC {
		t.Errorf("named trial: test ACC %.4f, want the changed features' %.4f", got.ACC, after.ACC)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e", rundir.SkippedDir, "named-*", rundir.MetricsFile))
	if len(old) != 1 {
		t.Fatalf("the superseded run was not kept: %v", old)
	}
	// run.json records what the trial read.
	rec, err := rundir.ReadRecord(filepath.Join(dir, "runs", "e2e", "named"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != rundir.StatusFinished || rec.Inputs.Backbone.Name != "precomputed" || !strings.Contains(rec.Inputs.Backbone.Identity, "test.npy=") ||
		rec.Inputs.Embeddings["test"].SHA256 == "" || rec.Inputs.Neighbours == nil {
		t.Errorf("run.json lacks the trial's inputs: %+v", rec)
	}
	// The table of the experiment names each run's inputs and leaves the
	// superseded directory out.
	tr := clusterlab(t, dir, nil, "table", filepath.Join(dir, "runs", "e2e"), "--format", "json")
	if tr.code != 0 || !strings.Contains(tr.stdout, "precomputed@") || strings.Contains(tr.stdout, rundir.SkippedDir) {
		t.Errorf("table of the experiment (%d): %s %s", tr.code, tr.stdout, tr.stderr)
	}
}

// TestSwitchLossByOneKey (item 2): --set loss.plugin=scan on a temi config
// with TEMI options runs scan, listing the TEMI options as unused; an
// option no plugin has is still an error; --unset removes a key.
func TestSwitchLossByOneKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig+"  beta: 0.6\n  pmi: {weight: head}\n"), 0o644)
	r := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "loss.plugin=scan")
	if r.code != 0 {
		t.Fatalf("loss switch: %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"loss.beta (small.yaml:21) is an option of pmi, temi, not of the loss plugin scan: unused", "loss.pmi.weight"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	runDir := runDirOf(t, dir, r)
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil || mf.Loss != "scan" {
		t.Fatalf("metrics: %+v %v", mf, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(runDir, rundir.ConfigFile))
	if strings.Contains(string(cfg), "beta") || !strings.Contains(string(cfg), "plugin: scan") {
		t.Errorf("config.yaml should hold scan's resolved options only:\n%s", cfg)
	}
	rec, _ := rundir.ReadRecord(runDir)
	if len(rec.Unused) != 2 || rec.Unused[0].Key != "loss.beta" {
		t.Errorf("run.json unused: %+v", rec.Unused)
	}
	// The same switch after --unset of the TEMI option: the same trial.
	r2 := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "loss.plugin=scan", "--unset", "loss.beta", "--unset", "loss.pmi")
	if r2.code != 0 || !strings.Contains(r2.stderr, "already finished") || strings.Contains(r2.stderr, "unused") {
		t.Errorf("unused options must not change the trial (%d):\n%s", r2.code, r2.stderr)
	}
	// A misspelt option belongs to no plugin: an error naming its source.
	r3 := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "loss.plugin=scan", "--set", "loss.bta=1")
	if r3.code != 2 || !strings.Contains(r3.stderr, `config --set loss.bta=1: key "loss.bta": unknown option (did you mean beta, an option of pmi, temi?)`) {
		t.Errorf("typo: exit %d\n%s", r3.code, r3.stderr)
	}
}

// readmeSweep is the sweep example of the README, as written.
func readmeSweep(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(sweep:\n.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatal("README has no ```yaml sweep: example")
	}
	return string(m[1])
}

// TestREADMESweepRuns (item 2): the README's sweep example (a loss.beta
// grid crossed with a temi and a scan variant) runs as written: the scan
// trials, for which beta means nothing, are one trial per seed.
func TestREADMESweepRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sweep := readmeSweep(t)
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(quickConfig+sweep), 0o644)
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if r.code != 0 {
		t.Fatalf("README sweep (%d):\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var betas, seeds []string
	for _, l := range strings.Split(sweep, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "loss.beta: ["); ok {
			betas = strings.Split(strings.TrimSuffix(v, "]"), ", ")
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "seeds: ["); ok {
			seeds = strings.Split(strings.TrimSuffix(v, "]"), ", ")
		}
	}
	if len(betas) < 2 || len(seeds) < 1 {
		t.Fatalf("could not read the README grid: %q %q", betas, seeds)
	}
	trials, _ := filepath.Glob(filepath.Join(dir, "runs", "e2e", "*", rundir.MetricsFile))
	if want := (len(betas) + 1) * len(seeds); len(trials) != want {
		t.Errorf("%d finished trials, want %d (temi x %d betas + one scan, x %d seeds): %v", len(trials), want, len(betas), len(seeds), trials)
	}
	if !strings.Contains(r.stderr, "are one variant, scan") {
		t.Errorf("the merge of the scan trials is not reported:\n%s", r.stderr)
	}
	// Rows in config order: temi's betas, then scan, then the baselines.
	var order []string
	for _, b := range betas {
		order = append(order, "temi,beta="+strings.TrimRight(strings.TrimRight(b, "0"), "."))
	}
	order = append(order, "scan", "kmeans (baseline)")
	last := -1
	for _, name := range order {
		i := strings.Index(r.stdout, "│ "+name+" ")
		if i < 0 || i < last {
			t.Fatalf("row %q missing or out of config order:\n%s", name, r.stdout)
		}
		last = i
	}
}

// TestInvalidTrialsRejectedBeforeWork (item 3): a sweep with invalid
// trials is rejected before any embedding, every reason listed with its
// source; coupled settings are derived instead of conflicting.
func TestInvalidTrialsRejectedBeforeWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := quickConfig + `
sweep:
  variants:
    - {name: ok}
    - {name: bigbatch, loss.batch_size: 4096}
    - {name: knn, loss.knn: 50}
    - {name: typo, loss.epoch: 2}
    - {name: pca, backbone.pca_dims: 1000}
    - {name: backend, backend: cuda}
  seeds: [0, 1]
`
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "bad.yaml")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"10 of 12 trials are invalid; nothing was run",
		"trial bigbatch-seed0, bigbatch-seed1:",
		`key "loss.batch_size": 4096 exceeds the 2000 train images of dataset idx`,
		`key "loss.knn": 50 exceeds neighbours.k = 10 (bad.yaml:8); lower loss.knn or raise neighbours.k`,
		`key "loss.epoch": unknown option (did you mean epochs?)`,
		`key "backbone.pca_dims": 1000 exceeds the 784 values of one 28x28x1 image`,
		`key "backend": unknown backend "cuda"`,
		"(sweep variant typo)",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, d := range []string{"runs", "cache"} {
		if _, err := os.Stat(filepath.Join(dir, d)); err == nil {
			t.Errorf("%s/ exists: work started before the trials were checked", d)
		}
	}
	// Unknown backend alone: bad input, exit 2, before any work.
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig), 0o644)
	if r := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "backend=nosuch"); r.code != 2 || !strings.Contains(r.stderr, `config --set backend=nosuch: key "backend"`) {
		t.Errorf("bad backend: exit %d\n%s", r.code, r.stderr)
	}
	// loss.knn is not set: it follows neighbours.k.
	r = clusterlab(t, dir, nil, "run", "small.yaml", "--set", "neighbours.k=5", "--unset", "loss.knn")
	if r.code != 0 {
		t.Fatalf("neighbours.k=5 (%d):\n%s", r.code, r.stderr)
	}
	y, _ := os.ReadFile(filepath.Join(runDirOf(t, dir, r), rundir.ConfigFile))
	if !strings.Contains(string(y), "knn: 5\n") {
		t.Errorf("loss.knn did not follow neighbours.k:\n%s", y)
	}
}

// TestErrorsNameTheirSource (item 4): the same typo from the file, --set
// and the environment is reported with that source, exit 2.
func TestErrorsNameTheirSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig), 0o644)
	os.WriteFile(filepath.Join(dir, "typo.yaml"), []byte(quickConfig+"  epoch: 2\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "emptyidx"), 0o755)
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"run", "typo.yaml"}, `config typo.yaml:21: key "loss.epoch"`},
		{nil, []string{"run", "small.yaml", "--set", "loss.epoch=2"}, `config --set loss.epoch=2: key "loss.epoch"`},
		{[]string{"CLUSTERLAB_LOSS__EPOCH=2"}, []string{"run", "small.yaml"}, `config environment variable CLUSTERLAB_LOSS__EPOCH=2: key "loss.epoch"`},
		{nil, []string{"run", "small.yaml", "--set", "seeds=2"}, `config --set seeds=2: key "seeds": unknown key`},
		{nil, []string{"run", "small.yaml", "--unset", "loss.bta"}, `config --unset loss.bta: key "loss.bta"`},
		// A plugin's error quoting an option's value names that option.
		{nil, []string{"run", "small.yaml", "--set", "dataset.name=idx", "--set", "dataset.root=emptyidx"}, `config --set dataset.root=emptyidx: key "dataset.root": idx: no train-images-idx3-ubyte in emptyidx`},
	} {
		r := clusterlab(t, dir, tc.env, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v %v: exit %d, want 2 and %q:\n%s", tc.env, tc.args, r.code, tc.want, r.stderr)
		}
	}
}

// TestFailedRunInTable (item 5): a trial that fails after its run
// directory exists is in the sweep's table and in `clusterlab table`, with
// its reason; the other trials finish.
func TestFailedRunInTable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeNaNFeatures(t, filepath.Join(dir, "nan"))
	cfg := quickConfig + `
sweep:
  variants:
    - {name: good}
    - {name: broken, backbone.plugin: precomputed, backbone.dir: nan}
  seeds: [0]
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if r.code != 2 {
		t.Fatalf("exit %d, want 2 (the broken trial's features):\n%s", r.code, r.stderr)
	}
	for _, out := range []string{r.stdout} {
		for _, want := range []string{"│ good ", "│ broken ", "failed", "non-finite value at row 5, column 3"} {
			if !strings.Contains(out, want) {
				t.Errorf("sweep table lacks %q:\n%s", want, out)
			}
		}
	}
	expDir := filepath.Join(dir, "runs", "e2e")
	rec, err := rundir.ReadRecord(filepath.Join(expDir, "broken-seed0"))
	if err != nil || rec.Status != rundir.StatusFailed || rec.ExitStatus != 2 || !strings.Contains(rec.Error, "non-finite") {
		t.Fatalf("run.json of the failed trial: %+v %v", rec, err)
	}
	tr := clusterlab(t, dir, nil, "table", expDir)
	if tr.code != 0 || !strings.Contains(tr.stdout, "broken") || !strings.Contains(tr.stdout, "non-finite value") {
		t.Errorf("clusterlab table leaves out the failed trial (%d):\n%s\n%s", tr.code, tr.stdout, tr.stderr)
	}
	one := clusterlab(t, dir, nil, "table", filepath.Join(expDir, "broken-seed0"))
	if one.code != 0 || !strings.Contains(one.stdout, "failed") || strings.Contains(one.stdout, "sweep") {
		t.Errorf("table of the failed run (%d):\n%s\n%s", one.code, one.stdout, one.stderr)
	}
}

// TestTablesAreData (items 6 and 7): CSV parses into floats with one
// header and no caption; JSON carries numbers; best marks compare every
// unsupervised row, k-means included; rows keep config order; a single
// run's table is a run table; score --json has every metric of its text.
func TestTablesAreData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := quickConfig + `
sweep:
  variants:
    - {name: zeta, loss.beta: 1.0}
    - {name: alpha, loss.plugin: scan}
  seeds: [0, 1]
  parallel: 2
`
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(cfg), 0o644)
	r := clusterlab(t, dir, nil, "run", "sweep.yaml")
	if r.code != 0 {
		t.Fatalf("sweep (%d): %s", r.code, r.stderr)
	}
	expDir := filepath.Join(dir, "runs", "e2e")

	// CSV: one header of keys, then records of numbers.
	c := clusterlab(t, dir, nil, "table", expDir, "--format", "csv")
	if c.code != 0 {
		t.Fatalf("csv: %s", c.stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(c.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("encoding/csv cannot read the table: %v\n%s", err, c.stdout)
	}
	header := recs[0]
	col := func(k string) int { return slices.Index(header, k) }
	for _, k := range []string{"variant", "test_acc_mean", "test_acc_std", "test_acc_n", "clusters_used", "clusters", "fit_seconds", "status"} {
		if col(k) < 0 {
			t.Fatalf("csv header lacks %s: %v", k, header)
		}
	}
	if !strings.Contains(c.stderr, "sweep e2e") || strings.Contains(c.stdout, "sweep e2e") {
		t.Errorf("the caption belongs on stderr, not in the csv")
	}
	var names []string
	accs := map[string]float64{}
	for _, rec := range recs[1:] {
		names = append(names, rec[col("variant")])
		for i, k := range header {
			if strings.HasSuffix(k, "_mean") || k == "clusters" || (k == "test_acc_n") {
				if rec[i] == "" {
					continue
				}
				if _, err := strconv.ParseFloat(rec[i], 64); err != nil {
					t.Errorf("csv %s = %q is not a number", k, rec[i])
				}
			}
		}
		v, err := strconv.ParseFloat(rec[col("test_acc_mean")], 64)
		if err != nil || v <= 0 || v > 1 {
			t.Errorf("test_acc_mean %q of %s is not a fraction", rec[col("test_acc_mean")], rec[0])
		}
		accs[rec[col("variant")]] = v
	}
	// Config order, not alphabetical; the same as the sweep's own table.
	if len(names) < 3 || names[0] != "zeta" || names[1] != "alpha" {
		t.Errorf("rows %v, want zeta, alpha (config order), then baselines", names)
	}
	stored, _ := os.ReadFile(filepath.Join(expDir, "sweep_tables.txt"))
	tr := clusterlab(t, dir, nil, "table", expDir)
	if tr.code != 0 || tr.stdout != string(stored) {
		t.Errorf("table from the directories differs from the sweep's:\n%s\n---\n%s", tr.stdout, stored)
	}

	// JSON: numbers, and best marks over every unsupervised row.
	j := clusterlab(t, dir, nil, "table", expDir, "--format", "json")
	var doc struct {
		Tables []struct {
			Name string           `json:"name"`
			Rows []map[string]any `json:"rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, j.stdout)
	}
	bestName, bestACC, marked := "", -1.0, ""
	for _, row := range doc.Tables[0].Rows {
		acc, ok := row["test_acc"].(map[string]any)
		if !ok {
			t.Fatalf("test_acc of %v is not {mean, std, n}", row["variant"])
		}
		mean, ok := acc["mean"].(float64)
		if !ok {
			t.Fatalf("test_acc.mean %v is not a number", acc["mean"])
		}
		if _, ok := row["clusters"].(float64); !ok && row["role"] != tables.RoleSupervised {
			t.Errorf("clusters %v of %v is not a number", row["clusters"], row["variant"])
		}
		if row["role"] != tables.RoleSupervised && mean > bestACC {
			bestName, bestACC = row["variant"].(string), mean
		}
		if best, _ := row["best"].([]any); slices.Contains(best, any("test_acc")) {
			marked = row["variant"].(string)
		}
	}
	if marked == "" || marked != bestName {
		t.Errorf("test_acc marked on %q, the best unsupervised row is %q", marked, bestName)
	}

	// One trial's directory is a run table, not a "sweep: 1 runs".
	one := clusterlab(t, dir, nil, "table", filepath.Join(expDir, "alpha-seed0"))
	if one.code != 0 || strings.Contains(one.stdout, "sweep") || !strings.Contains(one.stdout, "best-head") {
		t.Errorf("single run table (%d):\n%s", one.code, one.stdout)
	}

	// score --json carries every metric of the text form.
	runDir := filepath.Join(expDir, "alpha-seed0")
	sj := clusterlab(t, dir, nil, "score", "--pred", filepath.Join(runDir, "kmeans_test.npy"), "--json")
	st := clusterlab(t, dir, nil, "score", "--pred", filepath.Join(runDir, "kmeans_test.npy"))
	var sc map[string]any
	if err := json.Unmarshal([]byte(sj.stdout), &sc); err != nil {
		t.Fatalf("score --json (%d): %v %s", sj.code, err, sj.stderr)
	}
	for _, k := range []string{"acc", "nmi", "ari", "ami", "majority_acc", "clusters_used", "smallest_cluster", "largest_cluster", "n"} {
		if _, ok := sc[k].(float64); !ok {
			t.Errorf("score --json lacks the number %s: %v", k, sc)
		}
	}
	if !strings.Contains(st.stdout, "majority ACC") || !strings.Contains(st.stdout, strconv.FormatFloat(100*sc["majority_acc"].(float64), 'f', 1, 64)) {
		t.Errorf("score text and json disagree:\n%s\n%v", st.stdout, sc)
	}
}

// TestScoreReadsItsOwnFiles (item 8): score reads a run's
// assign_<split>.npy, the selected head by default or --head; the selected
// head's full [N, K] probabilities are stored.
func TestScoreReadsItsOwnFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig), 0o644)
	r := clusterlab(t, dir, nil, "run", "small.yaml")
	if r.code != 0 {
		t.Fatalf("run: %s", r.stderr)
	}
	runDir := runDirOf(t, dir, r)
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rundir.Result{}
	for _, res := range mf.Results {
		if res.Split == "test" && res.Method == "temi" {
			want[res.Selection] = res
		}
	}
	scoreOf := func(args ...string) map[string]float64 {
		t.Helper()
		s := clusterlab(t, dir, nil, append([]string{"score", "--pred", filepath.Join(runDir, rundir.AssignFile("test")), "--json"}, args...)...)
		if s.code != 0 {
			t.Fatalf("score %v (%d): %s", args, s.code, s.stderr)
		}
		var out map[string]float64
		dec := json.NewDecoder(bytes.NewReader([]byte(s.stdout)))
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		out = map[string]float64{}
		for k, v := range raw {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
		return out
	}
	got := scoreOf() // labels_test.npy beside it, the selected head
	if got["acc"] != want["best-head"].ACC || got["head"] != float64(mf.BestHead) {
		t.Errorf("score of assign_test.npy: acc %v head %v, want the selected head %d's %v", got["acc"], got["head"], mf.BestHead, want["best-head"].ACC)
	}
	if got := scoreOf("--head", "1", "--labels", filepath.Join(runDir, rundir.LabelsFile("test"))); got["acc"] != want["head-1"].ACC || got["nmi"] != want["head-1"].NMI {
		t.Errorf("score --head 1: %v, want %+v", got, want["head-1"])
	}
	if s := clusterlab(t, dir, nil, "score", "--pred", filepath.Join(runDir, rundir.AssignFile("test")), "--head", "9"); s.code != 2 || !strings.Contains(s.stderr, "holds 3 heads") {
		t.Errorf("score --head 9 of 3 heads: %d %s", s.code, s.stderr)
	}
	probs, shape, err := npy.ReadFloat32(filepath.Join(runDir, rundir.ProbsFile("test")))
	if err != nil || len(shape) != 2 || shape[0] != 500 || shape[1] != mf.Clusters {
		t.Fatalf("%s: shape %v, want [500, %d] (%v)", rundir.ProbsFile("test"), shape, mf.Clusters, err)
	}
	assign, ashape, _ := npy.ReadInt32(filepath.Join(runDir, rundir.AssignFile("test")))
	n, k := shape[0], shape[1]
	for i := 0; i < n; i++ {
		row := probs[i*k : (i+1)*k]
		var sum float64
		arg := 0
		for c, p := range row {
			sum += float64(p)
			if p > row[arg] {
				arg = c
			}
		}
		if math.Abs(sum-1) > 1e-4 || int32(arg) != assign[mf.BestHead*ashape[1]+i] {
			t.Fatalf("row %d of the probabilities sums to %v, argmax %d, the selected head assigned %d", i, sum, arg, assign[mf.BestHead*ashape[1]+i])
		}
	}
}

// TestPinnedPluginChecksum: a config that pins a plugin's sha256 runs with
// that file and is refused, before any work, naming the key and both
// checksums, when the file differs.
func TestPinnedPluginChecksum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(buildBinaries(t), "plugins", "clusterlab-loss-temi"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	os.WriteFile(filepath.Join(dir, "small.yaml"), []byte(quickConfig+"  plugin_sha256: "+good+"\n"), 0o644)
	if r := clusterlab(t, dir, nil, "run", "small.yaml"); r.code != 0 {
		t.Fatalf("pinned to the right checksum (%d):\n%s", r.code, r.stderr)
	}
	bad := strings.Repeat("ab", 32)
	r := clusterlab(t, dir, nil, "run", "small.yaml", "--set", "loss.plugin_sha256="+bad)
	if r.code != 2 || !strings.Contains(r.stderr, `config --set loss.plugin_sha256=`+bad+`: key "loss.plugin_sha256"`) ||
		!strings.Contains(r.stderr, good) || !strings.Contains(r.stderr, "but the config pins "+bad) {
		t.Errorf("pinned to another checksum: exit %d\n%s", r.code, r.stderr)
	}
}
