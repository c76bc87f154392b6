package tables

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/rundir"
)

var testInputs = rundir.Inputs{
	Dataset:  rundir.Plugin{Name: "mnist", Version: "1.0", Identity: "mnist 1.0 sha256:0123456789abcdef", ID: "3f2a1c"},
	Backbone: rundir.Plugin{Name: "pixels", Version: "0.2", Identity: "pixels 0.2 pca=64", ID: "9b0e11"},
	Loss:     rundir.Plugin{Name: "temi", Version: "1.0", Identity: "temi 1.0", ID: "77aa00"},
}

func res(method, sel, split string, acc, nmi float64, used int) rundir.Result {
	r := rundir.Result{Method: method, Selection: sel, Split: split, MajorityACC: acc + 0.01}
	r.ACC, r.NMI, r.ARI, r.AMI = acc, nmi, nmi-0.1, nmi-0.01
	r.ClustersUsed, r.N = used, 100
	r.Silhouette = math.NaN() // as in runs written before it was computed
	r.Generalization = math.NaN()
	return r
}

// finished is a finished trial of experiment "abl": temi's best head has
// the given test ACC and NMI; k-means has NMI 0.9, better than any variant;
// the supervised k-NN classifier has ACC 0.97, better than anything.
func finished(vname string, variant map[string]any, index int, seed int64, acc, nmi float64) rundir.Run {
	trial := fmt.Sprintf("%s-seed%d", vname, seed)
	if vname == "" {
		trial = fmt.Sprintf("seed%d-2a61b801", seed)
	}
	m := &rundir.Metrics{
		Experiment: "abl", Trial: trial, Loss: "temi", Backend: "go",
		BestHead: 1, HeadLosses: []float64{0.5, 0.4, 0.6},
		Classes: 10, Clusters: 10, Variant: variant, VariantName: vname, Seed: seed,
		Results: []rundir.Result{
			res("temi", "best-head", "train", acc-0.01, nmi-0.01, 10),
			res("temi", "best-head", "test", acc, nmi, 10),
			res("temi", "head-0", "test", acc-0.1, nmi, 9),
			res("temi", "head-1", "test", acc, nmi, 10),
			res("temi", "head-2", "test", acc+0.02, nmi, 10),
			res("kmeans", "all", "test", 0.5+0.01*float64(seed), 0.9, 10),
			{Method: "knn-classifier", Selection: "k=20", Split: "test", Scores: scores(0.97), Supervised: true, Generalization: math.NaN()},
		},
		Seconds: map[string]float64{"fit": 70 + float64(seed), "kmeans": 2.2, "knn_classifier": 1.0},
	}
	return rundir.Run{
		Dir: "runs/abl/" + trial,
		Record: rundir.Record{Format: 2, Experiment: "abl", Trial: trial, Status: rundir.StatusFinished, Seed: seed,
			Sweep:  &rundir.SweepInfo{Index: index, Variant: variant, VariantName: vname},
			Inputs: testInputs},
		Metrics: m,
	}
}

func scores(acc float64) (s metrics.Scores) { s.ACC = acc; return s }

func stopped(vname string, variant map[string]any, index int, seed int64, status, reason string) rundir.Run {
	trial := fmt.Sprintf("%s-seed%d", vname, seed)
	return rundir.Run{
		Dir: "runs/abl/" + trial,
		Record: rundir.Record{Format: 2, Experiment: "abl", Trial: trial, Status: status, Error: reason, Seed: seed,
			Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: "lab", PID: 42,
			Sweep:  &rundir.SweepInfo{Index: index, Variant: variant, VariantName: vname},
			Inputs: testInputs},
	}
}

const failReason = "loss plugin temi: NaN loss at epoch 3"

// sweep is 2 variants x 3 seeds in sweep order: beta=1 (all finished,
// test ACC 65.3 ± 6.4), then beta=0.6 (one finished, one failed, one
// interrupted). Names are not in alphabetical order on purpose.
func sweep() []rundir.Run {
	b1 := map[string]any{"loss.beta": 1.0}
	b06 := map[string]any{"loss.beta": 0.6}
	return []rundir.Run{
		finished("beta=1", b1, 0, 0, 0.653-0.064, 0.60),
		finished("beta=1", b1, 1, 1, 0.653, 0.62),
		finished("beta=1", b1, 2, 2, 0.653+0.064, 0.64),
		finished("beta=0.6", b06, 3, 0, 0.70, 0.65),
		stopped("beta=0.6", b06, 4, 1, rundir.StatusFailed, failReason),
		stopped("beta=0.6", b06, 5, 2, rundir.StatusInterrupted, "interrupted by signal"),
	}
}

func compare(t *testing.T, runs []rundir.Run) []Table {
	t.Helper()
	ts, err := Compare(runs, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "variants" || ts[1].Name != "heads" {
		t.Fatalf("Compare gave %d tables %v, want variants and heads", len(ts), names(ts))
	}
	return ts
}

func names(ts []Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return out
}

func render(t *testing.T, format string, ts []Table) string {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, format, ts); err != nil {
		t.Fatalf("render %s: %v", format, err)
	}
	return b.String()
}

func col(t *testing.T, tb Table, key string) int {
	t.Helper()
	for i, c := range tb.Columns {
		if c.Key == key {
			return i
		}
	}
	t.Fatalf("table %s has no column %s", tb.Name, key)
	return -1
}

func TestCompareRowsStatusAndMarks(t *testing.T) {
	v := compare(t, sweep())[0]
	var got []string
	for _, r := range v.Rows {
		got = append(got, r[0].Text)
	}
	want := []string{"beta=1", "beta=0.6", "kmeans (baseline)", "knn-classifier (baseline)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %q, want %q (input order, baselines last)", got, want)
	}
	status, n := col(t, v, "status"), col(t, v, "n")
	if s := v.Rows[0][status].Text; s != "3/3 finished" {
		t.Errorf("beta=1 status %q", s)
	}
	if s := v.Rows[1][status].Text; s != "1/3 finished, 1 failed, 1 interrupted" {
		t.Errorf("beta=0.6 status %q", s)
	}
	if v.Rows[0][n].Int != 3 || v.Rows[1][n].Int != 1 || v.Rows[2][n].Int != 3 || v.Rows[3][n].Int != 3 {
		t.Errorf("n = %d %d %d %d, want 3 1 3 3", v.Rows[0][n].Int, v.Rows[1][n].Int, v.Rows[2][n].Int, v.Rows[3][n].Int)
	}
	acc, nmi := col(t, v, "test_acc"), col(t, v, "test_nmi")
	if c := v.Rows[0][acc]; c.Kind != KindStat || math.Abs(c.Value-0.653) > 1e-12 || math.Abs(c.Std-0.064) > 1e-12 || c.N != 3 {
		t.Errorf("beta=1 test ACC %+v, want mean 0.653 std 0.064 n 3", c)
	}
	// The mean is over the finished trial only.
	if c := v.Rows[1][acc]; c.Value != 0.70 || c.N != 1 {
		t.Errorf("beta=0.6 test ACC %+v, want 0.70 over 1 trial", c)
	}
	// ACC: beta=0.6 (0.70) is best; the supervised 0.97 is not compared.
	// NMI: k-means (0.9) beats every variant and carries the mark.
	marks := func(c int) []bool {
		var m []bool
		for _, r := range v.Rows {
			m = append(m, r[c].Best)
		}
		return m
	}
	if m := marks(acc); fmt.Sprint(m) != "[false true false false]" {
		t.Errorf("ACC marks %v, want only beta=0.6", m)
	}
	if m := marks(nmi); fmt.Sprint(m) != "[false false true false]" {
		t.Errorf("NMI marks %v, want only the k-means row", m)
	}
	if v.Rows[3][nmi].Kind != KindMissing || v.Rows[3][acc].Kind != KindStat {
		t.Errorf("k-NN classifier row should have ACC only: %+v", v.Rows[3])
	}
	notes := strings.Join(v.Notes, "\n")
	for _, want := range []string{
		"* = best unsupervised row in the column (variants and k-means; the supervised k-NN classifier is not compared)",
		"abl/beta=0.6-seed1: failed: " + failReason,
		"abl/beta=0.6-seed2: interrupted: interrupted by signal",
		"inputs mnist@3f2a1c+pixels@9b0e11 = dataset mnist 1.0, backbone pixels 0.2 (their identities, with the sha256 of every file read, are in run.json)",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	if !strings.HasPrefix(v.Caption, "sweep abl: 6 trials, test split") {
		t.Errorf("caption %q", v.Caption)
	}
	if c := v.Rows[0][col(t, v, "inputs")]; c.Text != "mnist@3f2a1c+pixels@9b0e11" {
		t.Errorf("inputs %+v", c)
	}
	if c := v.Rows[0][col(t, v, "loss_beta")]; c.Kind != KindFloat || c.Value != 1 {
		t.Errorf("swept loss.beta %+v", c)
	}
	// Heads: best head vs mean, worst and best possible head.
	h := compare(t, sweep())[1]
	if c := h.Rows[0][col(t, h, "test_acc_worst_head")]; math.Abs(c.Value-(0.653-0.1)) > 1e-12 {
		t.Errorf("worst head %+v", c)
	}
	if h.Rows[1][1].N != 1 || len(h.Rows) != 2 {
		t.Errorf("heads rows %+v", h.Rows)
	}
}

func TestCompareKeepsInputOrder(t *testing.T) {
	runs := sweep()
	rev := []rundir.Run{runs[3], runs[4], runs[0], runs[1], runs[2]}
	v := compare(t, rev)[0]
	if v.Rows[0][0].Text != "beta=0.6" || v.Rows[1][0].Text != "beta=1" {
		t.Errorf("Compare reordered the variants: %s, %s", v.Rows[0][0].Text, v.Rows[1][0].Text)
	}
}

func TestCompareCSV(t *testing.T) {
	out := render(t, "csv", compare(t, sweep()))
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v\n%s", err, out)
	}
	header := strings.Join(recs[0], ",")
	want := "variant,role,method,selection,loss_beta," +
		"test_acc_mean,test_acc_std,test_acc_n,test_nmi_mean,test_nmi_std,test_nmi_n," +
		"test_ari_mean,test_ari_std,test_ari_n,test_ami_mean,test_ami_std,test_ami_n," +
		"test_silhouette_mean,test_silhouette_std,test_silhouette_n," +
		"generalization_mean,generalization_std,generalization_n," +
		"n,clusters_used,clusters,fit_seconds,status,choice,inputs"
	if header != want {
		t.Fatalf("csv header\n%s\nwant\n%s", header, want)
	}
	if len(recs) != 5 {
		t.Fatalf("csv has %d records, want a header and 4 rows (one table):\n%s", len(recs), out)
	}
	text := map[string]bool{"variant": true, "role": true, "method": true, "selection": true, "status": true, "inputs": true}
	row := map[string]map[string]string{}
	for _, r := range recs[1:] {
		row[r[0]] = map[string]string{}
		for i, f := range r {
			k := recs[0][i]
			row[r[0]][k] = f
			if text[k] || f == "" {
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				t.Errorf("%s %s = %q is not a number: %v", r[0], k, f, err)
			}
			if strings.HasPrefix(k, "test_") && !strings.HasSuffix(k, "_n") && (v < 0 || v > 1) {
				t.Errorf("%s %s = %v is not a fraction", r[0], k, v)
			}
		}
		if strings.ContainsAny(strings.Join(r[1:], ","), "*±%") {
			t.Errorf("display formatting in csv data: %q", r)
		}
	}
	b1 := row["beta=1"]
	if b1["test_acc_mean"] != strconv.FormatFloat(0.653, 'g', -1, 64) || b1["test_acc_n"] != "3" || b1["clusters_used"] != "10" || b1["clusters"] != "10" || b1["loss_beta"] != "1" || b1["status"] != "3/3 finished" {
		t.Errorf("beta=1 row %v", b1)
	}
	if sd, _ := strconv.ParseFloat(b1["test_acc_std"], 64); math.Abs(sd-0.064) > 1e-12 {
		t.Errorf("beta=1 test_acc_std %q", b1["test_acc_std"])
	}
	if b06 := row["beta=0.6"]; b06["test_acc_std"] != "" || b06["test_acc_n"] != "1" || b06["loss_beta"] != "0.6" {
		t.Errorf("beta=0.6 row (one finished trial: no std) %v", b06)
	}
	if k := row["knn-classifier (baseline)"]; k["test_nmi_mean"] != "" || k["clusters_used"] != "" || k["role"] != "supervised" || k["test_acc_mean"] != "0.97" {
		t.Errorf("knn row %v", k)
	}
	if strings.HasPrefix(out, "#") {
		t.Errorf("csv starts with a comment line")
	}
	// Pick chooses the other table.
	h, err := Pick(compare(t, sweep()), "heads")
	if err != nil {
		t.Fatal(err)
	}
	recs, err = csv.NewReader(strings.NewReader(render(t, "csv", []Table{h}))).ReadAll()
	if err != nil || recs[0][0] != "variant" || recs[0][1] != "test_acc_best_head_mean" || len(recs) != 3 {
		t.Errorf("heads csv %v %v", recs, err)
	}
}

func TestCompareJSON(t *testing.T) {
	out := render(t, "json", compare(t, sweep()))
	var doc struct {
		Tables []struct {
			Name    string           `json:"name"`
			Caption string           `json:"caption"`
			Notes   []string         `json:"notes"`
			Columns []map[string]any `json:"columns"`
			Rows    []map[string]any `json:"rows"`
		} `json:"tables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if len(doc.Tables) != 2 || doc.Tables[0].Name != "variants" || doc.Tables[1].Name != "heads" {
		t.Fatalf("json tables %+v", doc.Tables)
	}
	v := doc.Tables[0]
	if len(v.Notes) == 0 || !strings.Contains(v.Caption, "sweep abl") {
		t.Errorf("caption %q notes %q", v.Caption, v.Notes)
	}
	units := map[string]any{}
	for _, c := range v.Columns {
		units[c["key"].(string)] = c["unit"]
	}
	if units["test_acc"] != "fraction" || units["clusters"] != "count" || units["fit_seconds"] != "seconds" {
		t.Errorf("column units %v", units)
	}
	var order []string
	for _, r := range v.Rows {
		order = append(order, r["variant"].(string))
	}
	if strings.Join(order, "|") != "beta=1|beta=0.6|kmeans (baseline)|knn-classifier (baseline)" {
		t.Errorf("json row order %q", order)
	}
	b1 := v.Rows[0]
	acc, ok := b1["test_acc"].(map[string]any)
	if !ok {
		t.Fatalf("test_acc is %T, want an object", b1["test_acc"])
	}
	for _, k := range []string{"mean", "std", "n"} {
		if _, ok := acc[k].(float64); !ok {
			t.Errorf("test_acc.%s is %T (%v), want a number", k, acc[k], acc[k])
		}
	}
	if acc["n"] != 3.0 || math.Abs(acc["mean"].(float64)-0.653) > 1e-12 {
		t.Errorf("test_acc %v", acc)
	}
	for _, k := range []string{"clusters_used", "clusters", "fit_seconds", "n", "loss_beta"} {
		if _, ok := b1[k].(float64); !ok {
			t.Errorf("%s is %T (%v), want a number", k, b1[k], b1[k])
		}
	}
	if acc06 := v.Rows[1]["test_acc"].(map[string]any); acc06["std"] != nil || acc06["n"] != 1.0 {
		t.Errorf("beta=0.6 test_acc %v: one trial, std null", acc06)
	}
	if fmt.Sprint(v.Rows[1]["best"]) != "[test_acc]" {
		t.Errorf("beta=0.6 best %v", v.Rows[1]["best"])
	}
	km := v.Rows[2]
	if best, _ := km["best"].([]any); len(best) == 0 || !containsAny(best, "test_nmi") {
		t.Errorf("the k-means row wins NMI but its best is %v", km["best"])
	}
	knn := v.Rows[3]
	if _, has := knn["best"]; has {
		t.Errorf("the supervised row has marks: %v", knn["best"])
	}
	if knn["test_nmi"] != nil || knn["clusters_used"] != nil || knn["role"] != "supervised" {
		t.Errorf("knn row %v", knn)
	}
	if _, has := b1["best"]; has {
		t.Errorf("beta=1 has marks %v", b1["best"])
	}
}

func containsAny(xs []any, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestCompareText(t *testing.T) {
	ts := compare(t, sweep())
	out := render(t, "text", ts)
	for _, want := range []string{
		"sweep abl: 6 trials, test split",
		"65.3 ± 6.4", "70.0 *", "90.0 ± 0.0 *", "97.0 ± 0.0",
		"10.0/10", "3/3 finished", "1/3 finished, 1 failed, 1 interrupted",
		"kmeans (baseline)", "knn-classifier (baseline)", "mnist@3f2a1c+pixels@9b0e11",
		"* = best unsupervised row in the column (variants and k-means; the supervised k-NN classifier is not compared)",
		failReason, "best possible head",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "97.0 ± 0.0 *") {
		t.Errorf("the supervised row is marked:\n%s", out)
	}
	for _, hidden := range []string{"supervised │", "best-head"} {
		if strings.Contains(out, hidden) {
			t.Errorf("data-only column shown in text (%q):\n%s", hidden, out)
		}
	}
	md := render(t, "markdown", ts)
	for _, want := range []string{"**sweep abl: 6 trials", "65.3 ± 6.4", `90.0 ± 0.0 \*`, `\* = best unsupervised row`} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestCompareNotASweep(t *testing.T) {
	a, b := finished("", nil, 0, 0, 0.6, 0.5), finished("", nil, 0, 1, 0.7, 0.5)
	a.Record.Sweep, b.Record.Sweep = nil, nil
	a.Record.Trial, b.Record.Trial = "first", "second"
	a.Metrics.VariantName, b.Metrics.VariantName = "", ""
	v := compare(t, []rundir.Run{b, a})[0]
	if strings.Contains(v.Caption, "sweep") || !strings.HasPrefix(v.Caption, "2 runs, test split") {
		t.Errorf("caption %q", v.Caption)
	}
	if v.Rows[0][0].Text != "abl/second" || v.Rows[1][0].Text != "abl/first" {
		t.Errorf("rows %q %q, want experiment/trial in input order", v.Rows[0][0].Text, v.Rows[1][0].Text)
	}
	if _, err := Compare([]rundir.Run{a}, "validation"); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("unknown split: %v", err)
	}
	if _, err := Compare(nil, "test"); err == nil {
		t.Errorf("no runs: no error")
	}
}

func TestCompareAllFailed(t *testing.T) {
	runs := []rundir.Run{stopped("temi", nil, 0, 0, rundir.StatusFailed, failReason), stopped("scan", nil, 1, 0, rundir.StatusRunning, "")}
	v := compare(t, runs)[0]
	if len(v.Rows) != 2 {
		t.Fatalf("rows %v", v.Rows)
	}
	st := col(t, v, "status")
	if v.Rows[0][st].Text != "failed" || v.Rows[1][st].Text != "running" {
		t.Errorf("statuses %q %q", v.Rows[0][st].Text, v.Rows[1][st].Text)
	}
	if v.Rows[0][col(t, v, "test_acc")].Kind != KindMissing {
		t.Errorf("a failed variant has a value")
	}
	out := render(t, "text", []Table{v})
	if !strings.Contains(out, failReason) || !strings.Contains(out, "host lab, pid 42") {
		t.Errorf("text lacks the reasons:\n%s", out)
	}
	for _, f := range Formats {
		render(t, f, compare(t, runs))
	}
}

func TestNoMarkForALoneRow(t *testing.T) {
	r := finished("temi", nil, 0, 0, 0.6, 0.5)
	var keep []rundir.Result
	for _, x := range r.Metrics.Results {
		if x.Method != "kmeans" {
			keep = append(keep, x)
		}
	}
	r.Metrics.Results = keep
	v := compare(t, []rundir.Run{r})[0]
	for _, row := range v.Rows {
		for _, c := range row {
			if c.Best {
				t.Errorf("marked with one unsupervised row: %+v", row)
			}
		}
	}
	if strings.Contains(strings.Join(v.Notes, "\n"), "* =") {
		t.Errorf("mark note without marks: %q", v.Notes)
	}
	if !strings.HasPrefix(v.Caption, "sweep abl: 1 trial,") {
		t.Errorf("caption %q", v.Caption)
	}
}

func TestRunFinished(t *testing.T) {
	r := finished("", nil, 0, 0, 0.702, 0.673)
	r.Record.Sweep = nil
	ts, err := Run(r, "")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(names(ts)) != "[run heads]" {
		t.Fatalf("tables %v", names(ts))
	}
	run := ts[0]
	if strings.Contains(run.Caption, "sweep") || !strings.HasPrefix(run.Caption, "abl/seed0-2a61b801: temi") {
		t.Errorf("caption %q", run.Caption)
	}
	var methods []string
	for _, row := range run.Rows {
		methods = append(methods, row[0].Text)
	}
	if fmt.Sprint(methods) != "[temi kmeans knn-classifier]" {
		t.Errorf("methods %v", methods)
	}
	if c := run.Rows[0][col(t, run, "test_acc")]; c.Kind != KindPercent || c.Value != 0.702 {
		t.Errorf("test ACC %+v", c)
	}
	col(t, run, "train_acc")
	out := render(t, "text", ts)
	for _, want := range []string{"70.2", "10/10", "train ACC", "test AMI", "* = the selected head", "1 *"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "majority") {
		t.Errorf("majority ACC without over-clustering")
	}
	recs, err := csv.NewReader(strings.NewReader(render(t, "csv", ts))).ReadAll()
	if err != nil || len(recs) != 4 || recs[1][0] != "temi" {
		t.Fatalf("run csv %v %v", recs, err)
	}
	h := ts[1]
	sel := col(t, h, "selected")
	if !h.Rows[1][sel].Bool || h.Rows[0][sel].Bool || !h.Rows[1][0].Best {
		t.Errorf("selected head not marked: %+v", h.Rows)
	}

	// One split; over-clustering adds majority ACC.
	r.Metrics.Clusters = 15
	ts, err = Run(r, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ts[0].Columns {
		if strings.HasPrefix(c.Key, "train_") {
			t.Errorf("split test kept column %s", c.Key)
		}
	}
	col(t, ts[0], "test_majority_acc")
	if out := render(t, "text", ts); !strings.Contains(out, "test majority ACC") || !strings.Contains(out, "10/15") {
		t.Errorf("over-clustering table:\n%s", out)
	}
	if _, err := Run(r, "validation"); !errors.Is(err, core.ErrInvalidInput) {
		t.Errorf("unknown split: %v", err)
	}
}

func TestRunNotFinished(t *testing.T) {
	for _, tc := range []struct{ status, reason, want string }{
		{rundir.StatusFailed, failReason, failReason},
		{rundir.StatusInterrupted, "interrupted by signal", "interrupted by signal"},
		{rundir.StatusRunning, "", "still running"},
	} {
		ts, err := Run(stopped("temi", nil, 0, 3, tc.status, tc.reason), "test")
		if err != nil {
			t.Fatalf("%s: %v", tc.status, err)
		}
		if len(ts) != 1 || ts[0].Name != "status" {
			t.Fatalf("%s: tables %v", tc.status, names(ts))
		}
		out := render(t, "text", ts)
		if !strings.Contains(out, tc.status) || !strings.Contains(out, tc.want) || strings.Contains(out, "sweep") {
			t.Errorf("%s run table:\n%s", tc.status, out)
		}
		for _, f := range Formats {
			render(t, f, ts)
		}
	}
}

// unescapedPipes counts the cell separators of a markdown table line.
func unescapedPipes(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '|':
			n++
		}
	}
	return n
}

func TestMarkdownEscapes(t *testing.T) {
	runs := sweep()[:3]
	for i := range runs {
		runs[i].Record.Sweep.VariantName = "a|b_*c*"
	}
	md := render(t, "markdown", compare(t, runs))
	if !strings.Contains(md, `a\|b\_\*c\*`) {
		t.Errorf("markdown cell not escaped:\n%s", md)
	}
	pipes := -1
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") {
			pipes = -1 // the next table
			continue
		}
		n := unescapedPipes(line)
		if pipes >= 0 && n != pipes {
			t.Errorf("markdown line has %d cell separators, its table %d: %s", n, pipes, line)
		}
		pipes = n
	}
	if got := MarkdownEscape("x|y\nz`w`"); got != "x\\|y z\\`w\\`" {
		t.Errorf("MarkdownEscape = %q", got)
	}
}

func TestRenderChecks(t *testing.T) {
	bad := Table{Name: "bad", Columns: []Column{{Key: "x", Title: "x", Kind: KindPercent}}, Rows: [][]Cell{{Text("40.8 *")}}}
	for _, f := range Formats {
		if err := Render(&bytes.Buffer{}, f, []Table{bad}); err == nil {
			t.Errorf("%s: a text cell in a percent column rendered", f)
		}
	}
	short := Table{Name: "short", Columns: []Column{{Key: "x", Title: "x", Kind: KindInt}, {Key: "y", Title: "y", Kind: KindInt}}, Rows: [][]Cell{{Int(1)}}}
	if err := Render(&bytes.Buffer{}, "text", []Table{short}); err == nil {
		t.Errorf("a short row rendered")
	}
	dup := Table{Name: "dup", Columns: []Column{{Key: "a_mean", Title: "a", Kind: KindFloat}, {Key: "a", Title: "a", Kind: KindStat}}}
	if err := Render(&bytes.Buffer{}, "csv", []Table{dup}); err == nil {
		t.Errorf("a csv key used twice rendered")
	}
	if err := Render(&bytes.Buffer{}, "html", nil); err == nil || !strings.Contains(err.Error(), "text, markdown, csv, json") {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := Pick([]Table{{Name: "run"}}, "heads"); err == nil {
		t.Errorf("Pick found a missing table")
	}
	if c := Percent(math.NaN()); c.Kind != KindMissing {
		t.Errorf("NaN percent is %v", c.Kind)
	}
	if c := StatOf([]float64{0.5}); display(Column{Unit: UnitFraction}, c) != "50.0" {
		t.Errorf("one value shows %q", display(Column{Unit: UnitFraction}, c))
	}
	if c := StatOf([]float64{0.25, 0.75}); display(Column{Decimals: 3}, c) != "0.500 ± 0.354" {
		t.Errorf("a statistic that is no fraction shows %q", display(Column{Decimals: 3}, c))
	}
	if s := display(Column{Decimals: 1}, Ratio(9.5, 10)); s != "9.5/10" {
		t.Errorf("ratio shows %q", s)
	}
}

// TestRunUnlabelled: a run without labels shows "-" for the label metrics,
// says why, and keeps the label-free columns.
func TestRunUnlabelled(t *testing.T) {
	r := finished("", nil, 0, 0, 0.7, 0.6)
	r.Record.Sweep = nil
	r.Metrics.Classes = 0
	var keep []rundir.Result
	for _, x := range r.Metrics.Results {
		if x.Supervised {
			continue // no labels: no k-NN classifier
		}
		x.ACC, x.NMI, x.ARI, x.AMI, x.MajorityACC = math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()
		x.Unlabelled, x.Silhouette, x.Smallest, x.Largest = x.N, 0.25, 3, 17
		keep = append(keep, x)
	}
	r.Metrics.Results = keep
	ts, err := Run(r, "")
	if err != nil {
		t.Fatal(err)
	}
	run := ts[0]
	row := run.Rows[0]
	for _, k := range []string{"test_acc", "test_nmi", "test_ari", "test_ami"} {
		if c := row[col(t, run, k)]; c.Kind != KindMissing {
			t.Errorf("%s of an unlabelled run: %+v", k, c)
		}
	}
	if _, ok := colIndex(run, "test_majority_acc"); ok {
		t.Error("majority ACC column without classes")
	}
	if c := row[col(t, run, "test_silhouette")]; c.Value != 0.25 {
		t.Errorf("silhouette %+v", c)
	}
	if c := row[col(t, run, "loss")]; c.Value != 0.4 {
		t.Errorf("the selected head's loss %+v, want 0.4 (head 1)", c)
	}
	if c := row[col(t, run, "smallest_cluster")]; c.Int != 3 {
		t.Errorf("smallest %+v", c)
	}
	notes := strings.Join(run.Notes, "\n")
	if !strings.Contains(notes, "No labels on the train, test split(s)") || !strings.Contains(notes, "clusterlab score RUN_DIR --labels") {
		t.Errorf("notes do not say the labels are missing:\n%s", notes)
	}
	out := render(t, "text", ts)
	if !strings.Contains(out, "0.250") {
		t.Errorf("text lacks the silhouette:\n%s", out)
	}
	// JSON: null metrics, which read back as NaN.
	b, err := json.Marshal(keep[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"acc":null`) || !strings.Contains(string(b), `"silhouette":0.25`) || !strings.Contains(string(b), `"unlabelled":100`) {
		t.Errorf("json %s", b)
	}
	var back rundir.Result
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(back.ACC) || back.Silhouette != 0.25 || back.Labelled() {
		t.Errorf("read back %+v (%v)", back, err)
	}
}

func colIndex(t Table, key string) (int, bool) {
	for i, c := range t.Columns {
		if c.Key == key {
			return i, true
		}
	}
	return 0, false
}

// withGeneralization sets the generalization score of every result of
// method in a finished run.
func withGeneralization(r rundir.Run, method string, score float64) rundir.Run {
	for i := range r.Metrics.Results {
		if r.Metrics.Results[i].Method == method {
			r.Metrics.Results[i].Generalization = score
		}
	}
	return r
}

// With generalization scores, the variants table marks the variant of the
// highest mean score as the label-free choice and the variant of the
// highest ACC as the choice by labels, each said for what it is; the run
// table shows the score of each method.
func TestGeneralizationChoice(t *testing.T) {
	b1 := map[string]any{"loss.beta": 1.0}
	b06 := map[string]any{"loss.beta": 0.6}
	runs := []rundir.Run{
		withGeneralization(withGeneralization(finished("beta=1", b1, 0, 0, 0.60, 0.6), "temi", 0.91), "kmeans", 0.95),
		withGeneralization(withGeneralization(finished("beta=1", b1, 1, 1, 0.62, 0.6), "temi", 0.93), "kmeans", 0.95),
		withGeneralization(withGeneralization(finished("beta=0.6", b06, 2, 0, 0.70, 0.6), "temi", 0.80), "kmeans", 0.95),
	}
	v := compare(t, runs)[0]
	choice, gen := col(t, v, "choice"), col(t, v, "generalization")
	got := map[string]string{}
	for _, row := range v.Rows {
		got[row[0].Text] = row[choice].Text
	}
	if got["beta=1"] != "label-free" || got["beta=0.6"] != "by labels" || got["kmeans (baseline)"] != "" {
		t.Errorf("choices %q", got)
	}
	if c := v.Rows[0][gen]; c.Kind != KindStat || math.Abs(c.Value-0.92) > 1e-12 || c.N != 2 {
		t.Errorf("beta=1 gen. score %+v, want the mean 0.92 of 2", c)
	}
	if !v.Rows[2][gen].Best {
		t.Error("k-means has the best gen. score and is not marked")
	}
	notes := strings.Join(v.Notes, "\n")
	if !strings.Contains(notes, "label-free = the variant with the highest gen. score") || !strings.Contains(notes, "gen. score: TURTLE's label-free generalization score") {
		t.Errorf("notes do not say what the choices and the score are:\n%s", notes)
	}

	// One variant: nothing to choose between.
	one := compare(t, runs[:2])[0]
	for _, row := range one.Rows {
		if c := row[col(t, one, "choice")]; c.Text != "" {
			t.Errorf("a lone variant is marked %q", c.Text)
		}
	}

	rt, err := Run(runs[0], "")
	if err != nil {
		t.Fatal(err)
	}
	g := col(t, rt[0], "generalization")
	if rt[0].Rows[0][g].Value != 0.91 || rt[0].Rows[1][g].Value != 0.95 || rt[0].Rows[2][g].Kind != KindMissing {
		t.Errorf("run table gen. score: %+v %+v %+v", rt[0].Rows[0][g], rt[0].Rows[1][g], rt[0].Rows[2][g])
	}
}

// A supervised baseline whose other metrics are not computed (NaN) is the
// same result in every trial of a seed: no conflict is reported.
func TestNaNMetricsAreNoConflict(t *testing.T) {
	probe := rundir.Result{Method: "linear-probe", Selection: "C=1", Split: "test", Supervised: true, Silhouette: math.NaN(), Generalization: math.NaN()}
	probe.ACC, probe.NMI = 0.9, math.NaN()
	var runs []rundir.Run
	for i, v := range []string{"a", "b"} {
		r := finished(v, map[string]any{"loss.beta": float64(i)}, i, 0, 0.6, 0.6)
		r.Metrics.Results = append(r.Metrics.Results, probe)
		runs = append(runs, r)
	}
	v := compare(t, runs)[0]
	if notes := strings.Join(v.Notes, "\n"); strings.Contains(notes, "gave different results") {
		t.Errorf("NaN metrics read as a conflict:\n%s", notes)
	}
}

func TestWithoutUnit(t *testing.T) {
	ts := []Table{{Name: "x", Columns: []Column{{Key: "a", Kind: KindText}, {Key: "s", Kind: KindFloat, Unit: UnitSeconds}, {Key: "m", Kind: KindPercent, Unit: UnitFraction}},
		Rows: [][]Cell{{Text("r1"), Float(1.5), Percent(0.5)}, {Text("r2"), Float(2), Percent(0.25)}}}}
	got := WithoutUnit(ts, UnitSeconds)
	if len(got[0].Columns) != 2 || got[0].Columns[1].Key != "m" || got[0].Rows[1][1].Value != 0.25 || got[0].Rows[0][0].Text != "r1" {
		t.Errorf("%+v", got[0])
	}
	if len(ts[0].Columns) != 3 || len(ts[0].Rows[0]) != 3 {
		t.Error("WithoutUnit changed its argument")
	}
}
