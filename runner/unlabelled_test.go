package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// writeBlobFeatures writes train.npy and test.npy of k well separated
// Gaussian blobs in d dimensions, and returns each split's true blob.
func writeBlobFeatures(t *testing.T, dir string, k, d int, sizes map[string]int) map[string][]int32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(11, 12))
	centres := make([]float64, k*d)
	for i := range centres {
		centres[i] = rng.NormFloat64() * 4
	}
	truth := map[string][]int32{}
	for split, n := range sizes {
		x := make([]float32, n*d)
		y := make([]int32, n)
		for i := range n {
			c := rng.IntN(k)
			y[i] = int32(c)
			for j := range d {
				x[i*d+j] = float32(centres[c*d+j] + 0.3*rng.NormFloat64())
			}
		}
		if err := npy.WriteFloat32(filepath.Join(dir, split+".npy"), x, n, d); err != nil {
			t.Fatal(err)
		}
		truth[split] = y
	}
	return truth
}

const unlabelledConfig = `
experiment: unlabelled
seed: 2
runs_dir: runs
cache_dir: cache
dataset: {plugin: features, dir: feats}
backbone: {plugin: precomputed, dir: feats}
neighbours: {k: 10}
baselines: {kmeans_n_init: 2}
loss:
  plugin: temi
  heads: 2
  epochs: 2
  batch_size: 64
  warmup_epochs: 0
  warmup_teacher_temp_epochs: 0
  knn: 10
  hidden_dim: 32
  bottleneck_dim: 16
`

// TestUnlabelledRun (issue 13, item 4): features without labels and
// without images run end to end once the number of clusters is given:
// label metrics are null ("-" in tables, with a note), the label-free
// columns are there, each sample's cluster is in clusters_<split>.csv,
// galleries are skipped with a note; labels that arrive later are scored
// by `clusterlab score RUN_DIR --labels`, and saved into the run with
// --save.
func TestUnlabelledRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	feats := filepath.Join(dir, "feats")
	os.MkdirAll(feats, 0o755)
	truth := writeBlobFeatures(t, feats, 3, 16, map[string]int{"train": 300, "test": 90})
	os.WriteFile(filepath.Join(dir, "u.yaml"), []byte(unlabelledConfig), 0o644)

	// Without labels the number of clusters must be given.
	r := clusterlab(t, dir, nil, "run", "u.yaml")
	if r.code != 2 || !strings.Contains(r.stderr, `"clusters"`) || !strings.Contains(r.stderr, "has no labels") || !strings.Contains(r.stderr, "set clusters") {
		t.Fatalf("no clusters for an unlabelled dataset: want exit 2 naming clusters, got %d:\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); err == nil {
		t.Error("the refused run left a run directory")
	}

	r = clusterlab(t, dir, nil, "run", "u.yaml", "--set", "clusters=3")
	if r.code != 0 {
		t.Fatalf("unlabelled run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	runDir := runDirOf(t, dir, r)
	for _, want := range []string{"no galleries: dataset features has no images", "k-NN classifier skipped"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the run does not say %q:\n%s", want, r.stderr)
		}
	}
	raw, err := os.ReadFile(filepath.Join(runDir, rundir.MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Classes int              `json:"classes"`
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Classes != 0 || len(doc.Results) == 0 {
		t.Fatalf("metrics.json: %d classes, %d results", doc.Classes, len(doc.Results))
	}
	for _, res := range doc.Results {
		if res["method"] == "knn-classifier" {
			t.Errorf("a k-NN classifier result without labels: %v", res)
		}
		if res["acc"] != nil || res["nmi"] != nil || res["majority_acc"] != nil {
			t.Errorf("label metrics without labels: %v", res)
		}
		if sil, ok := res["silhouette"].(float64); !ok || sil < 0.3 {
			t.Errorf("silhouette of well separated blobs: %v", res["silhouette"])
		}
		if res["unlabelled"] != res["n"] {
			t.Errorf("unlabelled %v of n %v", res["unlabelled"], res["n"])
		}
	}
	tablesTxt, _ := os.ReadFile(filepath.Join(runDir, rundir.TablesText))
	for _, want := range []string{"No labels on the train, test split(s)", "test silhouette", "smallest", "largest", "loss"} {
		if !strings.Contains(string(tablesTxt), want) {
			t.Errorf("tables.txt lacks %q:\n%s", want, tablesTxt)
		}
	}
	if _, err := os.Stat(filepath.Join(runDir, rundir.GalleryFile("test"))); err == nil {
		t.Error("a gallery without images")
	}
	if _, err := os.Stat(filepath.Join(runDir, rundir.MarkdownFile)); err != nil {
		t.Errorf("no report: %v", err)
	}
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	assign, shape, err := npy.ReadInt32(filepath.Join(runDir, rundir.AssignFile("test")))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(runDir, rundir.ClustersFile("test")))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(recs) != 91 || strings.Join(recs[0], ",") != "index,name,label,cluster,probability" {
		t.Fatalf("clusters_test.csv: %d records (%v), header %v", len(recs), err, recs[0])
	}
	for i, rec := range recs[1:] {
		if rec[0] != strconv.Itoa(i) || rec[3] != strconv.Itoa(int(assign[mf.BestHead*shape[1]+i])) || rec[2] != "" {
			t.Fatalf("clusters_test.csv row %d: %v", i, rec)
		}
		if p, err := strconv.ParseFloat(rec[4], 64); err != nil || p <= 0 || p > 1 {
			t.Fatalf("row %d probability %q", i, rec[4])
		}
	}

	// Labels arrive: score prints, and changes nothing without --save.
	var lines []string
	for _, y := range truth["test"] {
		lines = append(lines, "blob"+strconv.Itoa(int(y)))
	}
	os.WriteFile(filepath.Join(dir, "test_labels.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	before, _ := os.ReadFile(filepath.Join(runDir, rundir.MetricsFile))
	r = clusterlab(t, dir, nil, "score", runDir, "--labels", "test=test_labels.txt", "--format", "json")
	if r.code != 0 {
		t.Fatalf("score RUN_DIR: %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(runDir, rundir.MetricsFile)); string(after) != string(before) {
		t.Error("score without --save changed metrics.json")
	}
	var out struct {
		Tables []struct {
			Rows []map[string]any `json:"rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Tables) == 0 {
		t.Fatalf("score --format json: %v\n%s", err, r.stdout)
	}
	row := out.Tables[0].Rows[0]
	if acc, ok := row["test_acc"].(float64); !ok || acc < 0.9 {
		t.Errorf("test ACC of well separated blobs with the late labels: %v", row["test_acc"])
	}
	if row["train_acc"] != nil {
		t.Errorf("train ACC without train labels: %v", row["train_acc"])
	}
	// Bad labels: another length, an unknown split.
	os.WriteFile(filepath.Join(dir, "short.txt"), []byte("1\n2\n"), 0o644)
	if r := clusterlab(t, dir, nil, "score", runDir, "--labels", "test=short.txt"); r.code != 2 || !strings.Contains(r.stderr, "2 labels for the 90 samples of split test") {
		t.Errorf("short labels: %d %s", r.code, r.stderr)
	}
	if r := clusterlab(t, dir, nil, "score", runDir, "--labels", "val=short.txt"); r.code != 2 || !strings.Contains(r.stderr, `no split "val"`) {
		t.Errorf("unknown split: %d %s", r.code, r.stderr)
	}

	// --save: the run now scores against them, in every table.
	r = clusterlab(t, dir, nil, "score", runDir, "--labels", "test=test_labels.txt", "--save")
	if r.code != 0 {
		t.Fatalf("score --save: %d\n%s", r.code, r.stderr)
	}
	mf, err = rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mf.LabelsAdded) != 1 || mf.LabelsAdded[0].Split != "test" || mf.LabelsAdded[0].Labelled != 90 || mf.Classes != 3 {
		t.Errorf("labels_added %+v, classes %d", mf.LabelsAdded, mf.Classes)
	}
	for _, res := range mf.Results {
		if res.Split == "test" && (math.IsNaN(res.ACC) || math.IsNaN(res.Silhouette)) {
			t.Errorf("after --save: %+v", res)
		}
		if res.Split == "train" && !math.IsNaN(res.ACC) {
			t.Errorf("train scored without train labels: %+v", res)
		}
	}
	r = clusterlab(t, dir, nil, "table", runDir)
	if r.code != 0 || !strings.Contains(r.stdout, "test ACC") {
		t.Errorf("table after --save: %d\n%s", r.code, r.stdout)
	}
	recs = readCSV(t, filepath.Join(runDir, rundir.ClustersFile("test")))
	if recs[1][2] != "blob"+strconv.Itoa(int(truth["test"][0])) {
		t.Errorf("clusters_test.csv label column after --save: %v", recs[1])
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
