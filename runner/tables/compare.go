package tables

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// metricNames are the compared metrics: the four label metrics, then the
// label-free silhouette and generalization score.
var metricNames = []string{"ACC", "NMI", "ARI", "AMI", "silhouette", "gen. score"}

// silhouetteMetric and generalizationMetric are the indices of the
// label-free metrics in metricNames.
const (
	silhouetteMetric     = 4
	generalizationMetric = 5
	nMetrics             = 6
)

func metricOf(r rundir.Result, i int) float64 {
	switch i {
	case 0:
		return r.ACC
	case 1:
		return r.NMI
	case 2:
		return r.ARI
	case 3:
		return r.AMI
	case silhouetteMetric:
		return r.Silhouette
	}
	return r.Generalization
}

// metricColumn is the column of metric i of split.
func metricColumn(split string, i int) Column {
	m := metricNames[i]
	c := Column{Key: snake(split) + "_" + strings.ToLower(m), Title: split + " " + m, Kind: KindStat, Unit: UnitFraction}
	switch i {
	case silhouetteMetric: // in [-1, 1], not a percentage
		c.Unit, c.Decimals = "", 3
	case generalizationMetric: // of the train assignment, whatever the split
		c.Key, c.Title = "generalization", m
	}
	return c
}

// group is the trials of one variant.
type group struct {
	name    string
	variant map[string]any
	runs    []rundir.Run
	// Of the finished trials with a result on the split (len(used) of
	// them):
	vals                [nMetrics][]float64
	used, secs          []float64
	clusters            int
	bestHead, headMean  []float64
	headWorst, headBest []float64
	methods, inputs     []string
}

// baseline is one baseline method over the distinct seeds of the runs.
type baseline struct {
	method, sel, inputs string
	clusters            int
	supervised          bool
	seeds               map[int64]rundir.Result
	order               []int64
	conflict            bool
	name                string
}

// Compare returns the tables of a set of runs (the trials of a sweep, or
// any runs), in the order given: the caller orders them (by sweep index
// for a sweep); Compare does not sort.
//
// "variants" has one row per variant (the trials that share
// Record.Sweep.VariantName; a run outside a sweep is its own row, named
// experiment/trial), the swept keys as columns, the split's ACC, NMI, ARI
// and AMI as mean ± std over the variant's finished trials, their number n,
// clusters used, fit seconds, the trials' status and their inputs; then
// the baselines as rows (mean ± std over the distinct seeds): k-means and
// the supervised k-NN classifier (an upper reference, ACC only). The best
// value of each metric column among the unsupervised rows (variants and
// k-means) is marked. Failed and unfinished trials are counted in the
// status column and listed, with their reason, in the notes.
//
// "heads" compares, per variant, the label-free best head with the mean,
// worst and best head (split ACC).
//
// split "" is the test split. The error is an empty set, or a split that
// no finished run has results for (core.ErrInvalidInput).
func Compare(runs []rundir.Run, split string) ([]Table, error) {
	if len(runs) == 0 {
		return nil, fmt.Errorf("%w: no runs to compare", core.ErrInvalidInput)
	}
	if split == "" {
		split = core.SplitTest
	}
	var notes []string

	// The same directory twice counts once.
	seenDir := map[string]bool{}
	var uniq []rundir.Run
	for _, r := range runs {
		if r.Dir != "" && seenDir[r.Dir] {
			notes = append(notes, fmt.Sprintf("%s was given twice; it counts once.", r.Dir))
			continue
		}
		seenDir[r.Dir] = true
		uniq = append(uniq, r)
	}
	runs = uniq

	var allSplits []string
	anyFinished := false
	for _, r := range runs {
		if r.Finished() {
			anyFinished = true
			for _, s := range splitsOf(r.Metrics.Results) {
				if !slices.Contains(allSplits, s) {
					allSplits = append(allSplits, s)
				}
			}
		}
	}
	if anyFinished && !slices.Contains(allSplits, split) {
		return nil, fmt.Errorf("%w: no finished run has results for split %q (they have %s)", core.ErrInvalidInput, split, strings.Join(allSplits, ", "))
	}

	oneExperiment, isSweep := true, true
	for _, r := range runs {
		oneExperiment = oneExperiment && experiment(r) == experiment(runs[0])
		isSweep = isSweep && r.Record.Sweep != nil
	}
	isSweep = isSweep && oneExperiment && experiment(runs[0]) != ""

	groups, groupNotes := groupRuns(runs, split, oneExperiment)
	notes = append(notes, groupNotes...)
	bases, baseNotes := baselines(runs, split)
	notes = append(notes, baseNotes...)

	t := Table{Name: "variants"}
	what := fmt.Sprintf("%d runs", len(runs))
	if len(runs) == 1 {
		what = "1 run"
	}
	if isSweep {
		what = fmt.Sprintf("sweep %s: %d trials", experiment(runs[0]), len(runs))
		if len(runs) == 1 {
			what = fmt.Sprintf("sweep %s: 1 trial", experiment(runs[0]))
		}
	}
	t.Caption = fmt.Sprintf("%s, %s split; best head chosen without labels; mean ± std over the finished seeds (metrics in %%)", what, split)

	t.Columns = []Column{
		{Key: "variant", Title: "variant", Kind: KindText},
		{Key: "role", Title: "role", Kind: KindText, DataOnly: true},
		{Key: "method", Title: "method", Kind: KindText, DataOnly: true},
		{Key: "selection", Title: "selection", Kind: KindText, DataOnly: true},
	}
	var fixedCols []Column
	for i := range metricNames {
		fixedCols = append(fixedCols, metricColumn(split, i))
	}
	fixedCols = append(fixedCols,
		Column{Key: "n", Title: "n", Kind: KindInt, Unit: UnitCount},
		Column{Key: "clusters_used", Title: "clusters used", Kind: KindRatio, Decimals: 1, DenKey: "clusters", Unit: UnitCount},
		Column{Key: "fit_seconds", Title: "fit seconds", Kind: KindFloat, Decimals: 1, Unit: UnitSeconds},
		Column{Key: "status", Title: "status", Kind: KindText},
		Column{Key: "choice", Title: "choice", Kind: KindText},
		Column{Key: "inputs", Title: "inputs", Kind: KindText},
	)
	taken := map[string]bool{"best": true}
	for _, c := range append(append([]Column{}, t.Columns...), fixedCols...) {
		for _, k := range csvKeys(c) {
			taken[k] = true
		}
	}
	keys := sweptKeys(groups)
	for _, k := range keys {
		t.Columns = append(t.Columns, sweptColumn(k, groups, taken))
	}
	firstMetric := len(t.Columns)
	t.Columns = append(t.Columns, fixedCols...)

	for _, g := range groups {
		row := []Cell{Text(g.name), Text(RoleTrained), textOrMissing(strings.Join(g.methods, ", ")), Text("best-head")}
		for i, k := range keys {
			row = append(row, sweptCell(t.Columns[4+i].Kind, g.variant, k))
		}
		for i := range metricNames {
			row = append(row, StatOf(g.vals[i]))
		}
		row = append(row, Int(int64(len(g.used))))
		if len(g.used) > 0 {
			row = append(row, Ratio(mean(g.used), g.clusters))
		} else {
			row = append(row, Missing())
		}
		if len(g.secs) > 0 {
			row = append(row, Float(mean(g.secs)))
		} else {
			row = append(row, Missing())
		}
		row = append(row, Text(statusText(g.runs)), Missing(), textOrMissing(strings.Join(g.inputs, ", ")))
		t.Rows = append(t.Rows, row)
	}
	var compared, notCompared []string
	for _, b := range bases {
		role := RoleBaseline
		if b.supervised {
			role = RoleSupervised
			if !slices.Contains(notCompared, describe(b.method, true)) {
				notCompared = append(notCompared, describe(b.method, true))
			}
		} else if !slices.Contains(compared, describe(b.method, false)) {
			compared = append(compared, describe(b.method, false))
		}
		row := []Cell{Text(b.name), Text(role), Text(b.method), Text(b.sel)}
		for range keys {
			row = append(row, Missing())
		}
		var vals [nMetrics][]float64
		var used []float64
		for _, seed := range b.order {
			r := b.seeds[seed]
			for i := range metricNames {
				vals[i] = append(vals[i], metricOf(r, i))
			}
			used = append(used, float64(r.ClustersUsed))
		}
		for i := range metricNames {
			if b.supervised && i > 0 {
				row = append(row, Missing())
			} else {
				row = append(row, StatOf(vals[i]))
			}
		}
		row = append(row, Int(int64(len(b.order))))
		if b.supervised {
			row = append(row, Missing())
		} else {
			row = append(row, Ratio(mean(used), b.clusters))
		}
		row = append(row, Missing(), Missing(), Missing(), textOrMissing(b.inputs))
		t.Rows = append(t.Rows, row)
	}
	choiceNote := markChoices(t.Rows, firstMetric, firstMetric+len(metricNames)+4)

	// Mark the best of each metric column among the unsupervised rows.
	marked := false
	for i := range metricNames {
		col := firstMetric + i
		best, n := math.Inf(-1), 0
		for _, row := range t.Rows {
			if row[1].Text == RoleSupervised || row[col].Kind != KindStat {
				continue
			}
			n++
			best = math.Max(best, row[col].Value)
		}
		if n < 2 {
			continue
		}
		for _, row := range t.Rows {
			if row[1].Text != RoleSupervised && row[col].Kind == KindStat && row[col].Value == best {
				row[col].Best = true
				marked = true
			}
		}
	}
	var head []string
	if marked {
		c := "variants"
		if len(compared) > 0 {
			c += " and " + strings.Join(compared, ", ")
		}
		s := "* = best unsupervised row in the column (" + c
		switch len(notCompared) {
		case 0:
		case 1:
			s += "; " + notCompared[0] + " is not compared"
		default:
			s += "; " + strings.Join(notCompared, " and ") + " are not compared"
		}
		head = append(head, s+")")
	}
	var sup []string
	for _, b := range bases {
		if b.supervised && !slices.Contains(sup, b.method) {
			sup = append(sup, b.method)
		}
	}
	if len(sup) > 0 {
		head = append(head, supervisedNote(sup))
	}
	head = append(head, "n = finished trials (seeds) the mean is over; failed and unfinished trials are in the status column and listed below.",
		"silhouette: label-free quality in [-1, 1], higher is better (scikit-learn's silhouette score, Euclidean, of the L2-normalised embeddings on a seeded sample of at most 2000 samples).")
	if hasValues(t.Rows, firstMetric+generalizationMetric) {
		head = append(head, generalizationNote)
	}
	if choiceNote != "" {
		head = append(head, choiceNote)
	}
	t.Notes = append(append(head, notes...), inputsNotes(runs)...)

	return []Table{t, compareHeads(groups, split)}, nil
}

// generalizationNote says what the gen. score columns hold.
const generalizationNote = "gen. score: TURTLE's label-free generalization score of the method's train assignment, higher is better: held-out accuracy of a multinomial logistic regression (L2, C = 1) fitted to the assignment, stratified k-fold cross-validation (selection.folds, 10; on at most selection.max_rows train rows), averaged over the folds and the spaces used. k-means's clusters are cells of a linear partition of the same features, which a linear classifier recovers almost perfectly: its score is high by construction, and the label-free choice is made among the trained variants."

// markChoices fills the choice column of the trained rows (variants): the
// label-free choice is the row of the highest mean generalization score,
// the choice by labels the row of the highest mean ACC. It returns the
// note that says so, or "" when fewer than two variants have both.
func markChoices(rows [][]Cell, firstMetric, choiceCol int) string {
	acc, gen := firstMetric, firstMetric+generalizationMetric
	var trained []int // indices of the rows that can be chosen
	for i, row := range rows {
		if row[1].Text == RoleTrained && row[acc].Kind == KindStat && row[gen].Kind == KindStat {
			trained = append(trained, i)
		}
	}
	if len(trained) < 2 {
		return ""
	}
	best := func(col int) int {
		b := trained[0]
		for _, i := range trained[1:] {
			if rows[i][col].Value > rows[b][col].Value {
				b = i
			}
		}
		return b
	}
	free, byLabels := best(gen), best(acc)
	rows[free][choiceCol] = Text("label-free")
	if free == byLabels {
		rows[free][choiceCol] = Text("label-free = by labels")
	} else {
		rows[byLabels][choiceCol] = Text("by labels")
	}
	return "choice: label-free = the variant with the highest gen. score, the choice one can make without labels; by labels = the variant with the highest ACC, which needs the labels (an optimistic reference, not a choice one can make in practice)."
}

// sameValue is a == b, with NaN (a metric not computed) equal to NaN.
func sameValue(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// hasValues says whether any row has a number in column col.
func hasValues(rows [][]Cell, col int) bool {
	for _, row := range rows {
		if row[col].Kind == KindStat && !math.IsNaN(row[col].Value) {
			return true
		}
	}
	return false
}

// describe names a baseline in the note on marks.
func describe(method string, supervised bool) string {
	switch {
	case method == "kmeans":
		return "k-means"
	case method == "knn-classifier":
		return "the supervised k-NN classifier"
	case method == "linear-probe":
		return "the supervised linear probe"
	case supervised:
		return "the supervised " + method
	}
	return method
}

func groupRuns(runs []rundir.Run, split string, oneExperiment bool) ([]*group, []string) {
	var notes []string
	byKey := map[string]*group{}
	var groups []*group
	for _, r := range runs {
		name, variant := runName(r), map[string]any(nil)
		if r.Record.Sweep != nil {
			variant = r.Record.Sweep.Variant
		} else if r.Metrics != nil {
			variant = r.Metrics.Variant
		}
		vname := ""
		if r.Record.Sweep != nil {
			vname = r.Record.Sweep.VariantName
		} else if r.Metrics != nil {
			vname = r.Metrics.VariantName
		}
		key := "run\x00" + name
		if vname != "" {
			key = "variant\x00" + experiment(r) + "\x00" + vname
			name = vname
			if !oneExperiment {
				name = experiment(r) + "/" + vname
			}
		}
		g := byKey[key]
		if g == nil {
			g = &group{name: name, variant: variant}
			byKey[key] = g
			groups = append(groups, g)
		}
		if g.variant == nil {
			g.variant = variant
		}
		g.runs = append(g.runs, r)
		if id := InputsShort(r.Record.Inputs); id != "" && !slices.Contains(g.inputs, id) {
			g.inputs = append(g.inputs, id)
		}
		if !r.Finished() {
			notes = append(notes, statusNote(r))
			continue
		}
		mf := r.Metrics
		if !slices.Contains(g.methods, mf.Loss) {
			g.methods = append(g.methods, mf.Loss)
		}
		res, ok := find(mf.Results, mf.Loss, "best-head", split)
		if !ok {
			notes = append(notes, fmt.Sprintf("%s finished without a best-head result of %s on the %s split; it is not in the means.", runName(r), mf.Loss, split))
			continue
		}
		for i := range metricNames {
			g.vals[i] = append(g.vals[i], metricOf(res, i))
		}
		g.used = append(g.used, float64(res.ClustersUsed))
		if g.clusters == 0 {
			g.clusters = mf.Clusters
		}
		if v, ok := mf.Seconds["fit"]; ok {
			g.secs = append(g.secs, v)
		}
		g.bestHead = append(g.bestHead, res.ACC)
		lo, hi, sum, n := math.Inf(1), math.Inf(-1), 0.0, 0
		for _, h := range mf.Results {
			if h.Method == mf.Loss && h.Split == split && strings.HasPrefix(h.Selection, "head-") {
				lo, hi, sum, n = math.Min(lo, h.ACC), math.Max(hi, h.ACC), sum+h.ACC, n+1
			}
		}
		if n > 0 {
			g.headMean = append(g.headMean, sum/float64(n))
			g.headWorst = append(g.headWorst, lo)
			g.headBest = append(g.headBest, hi)
		}
	}
	for _, g := range groups {
		if len(g.inputs) > 1 {
			notes = append(notes, fmt.Sprintf("%s mixes trials of different inputs (%s): its mean is over different features.", g.name, strings.Join(g.inputs, ", ")))
		}
	}
	return groups, notes
}

// baselines gathers every baseline result of the split, one per distinct
// seed for each method, selection, inputs and (unsupervised) number of
// clusters.
func baselines(runs []rundir.Run, split string) ([]*baseline, []string) {
	var notes []string
	byKey := map[string]*baseline{}
	var out []*baseline
	for _, r := range runs {
		if !r.Finished() {
			continue
		}
		mf := r.Metrics
		in := InputsShort(r.Record.Inputs)
		for _, res := range mf.Results {
			if res.Method == mf.Loss || res.Split != split || strings.HasPrefix(res.Selection, "head-") {
				continue
			}
			k := 0
			if !res.Supervised {
				k = mf.Clusters
			}
			key := fmt.Sprintf("%s\x00%s\x00%s\x00%d", res.Method, res.Selection, in, k)
			b := byKey[key]
			if b == nil {
				b = &baseline{method: res.Method, sel: res.Selection, inputs: in, clusters: k, supervised: res.Supervised, seeds: map[int64]rundir.Result{}}
				byKey[key] = b
				out = append(out, b)
			}
			seed := mf.Seed
			if prev, ok := b.seeds[seed]; ok {
				if !b.conflict && (!sameValue(prev.ACC, res.ACC) || !sameValue(prev.NMI, res.NMI)) {
					b.conflict = true
					notes = append(notes, fmt.Sprintf("%s gave different results for seed %d in different trials (for instance %s); the row keeps the first.", res.Method, seed, runName(r)))
				}
				continue
			}
			b.seeds[seed] = res
			b.order = append(b.order, seed)
		}
	}
	// Name the rows; qualify a method that has several.
	for _, b := range out {
		var same []*baseline
		for _, o := range out {
			if o.method == b.method {
				same = append(same, o)
			}
		}
		var q []string
		differ := func(f func(*baseline) string) bool {
			for _, o := range same {
				if f(o) != f(same[0]) {
					return true
				}
			}
			return false
		}
		if differ(func(o *baseline) string { return o.sel }) {
			q = append(q, b.sel)
		}
		if differ(func(o *baseline) string { return strconv.Itoa(o.clusters) }) {
			q = append(q, fmt.Sprintf("K=%d", b.clusters))
		}
		if differ(func(o *baseline) string { return o.inputs }) {
			q = append(q, orUnknown(b.inputs))
		}
		b.name = b.method + " (baseline)"
		if len(q) > 0 {
			b.name = b.method + " (baseline, " + strings.Join(q, ", ") + ")"
		}
	}
	return out, notes
}

// compareHeads: per variant, the label-free best head against all heads.
func compareHeads(groups []*group, split string) Table {
	t := Table{
		Name:    "heads",
		Caption: fmt.Sprintf("heads: the label-free best head against all heads (%s ACC %%, mean ± std over the finished seeds)", split),
		Columns: []Column{{Key: "variant", Title: "variant", Kind: KindText}},
	}
	sk := snake(split)
	for _, c := range []struct{ key, title string }{
		{"best_head", "best head"}, {"mean_head", "mean over heads"},
		{"worst_head", "worst head"}, {"best_possible_head", "best possible head"},
	} {
		t.Columns = append(t.Columns, Column{Key: sk + "_acc_" + c.key, Title: c.title, Kind: KindStat, Unit: UnitFraction})
	}
	for _, g := range groups {
		t.Rows = append(t.Rows, []Cell{Text(g.name), StatOf(g.bestHead), StatOf(g.headMean), StatOf(g.headWorst), StatOf(g.headBest)})
	}
	return t
}

// statusText summarises the trials of a variant: "3/3 finished",
// "2/3 finished, 1 failed", or the status of a variant's only trial.
func statusText(runs []rundir.Run) string {
	count := map[string]int{}
	var others []string
	finished := 0
	for _, r := range runs {
		if r.Finished() {
			finished++
			continue
		}
		s := orUnknown(r.Record.Status)
		if s == rundir.StatusFinished {
			s = "unread" // says finished but its metrics were not read
		}
		if count[s] == 0 && !slices.Contains([]string{rundir.StatusFailed, rundir.StatusInterrupted, rundir.StatusRunning}, s) {
			others = append(others, s)
		}
		count[s]++
	}
	if len(runs) == 1 && finished == 0 {
		for s := range count {
			return s
		}
	}
	parts := []string{fmt.Sprintf("%d/%d finished", finished, len(runs))}
	for _, s := range append([]string{rundir.StatusFailed, rundir.StatusInterrupted, rundir.StatusRunning}, others...) {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	return strings.Join(parts, ", ")
}

// inputsNotes names every distinct inputs id fully.
func inputsNotes(runs []rundir.Run) []string {
	var ids, out []string
	unknown := 0
	for _, r := range runs {
		id := InputsShort(r.Record.Inputs)
		if id == "" {
			unknown++
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
			out = append(out, "inputs "+inputsNote(r.Record.Inputs))
		}
	}
	if unknown > 0 {
		out = append(out, fmt.Sprintf("inputs of %d run(s) unknown: no run.json (written before format 2).", unknown))
	}
	return out
}

func sweptKeys(groups []*group) []string {
	set := map[string]bool{}
	for _, g := range groups {
		for k := range g.variant {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sweptColumn is the column of a swept config key: integers, numbers or
// text, whichever holds every value.
func sweptColumn(key string, groups []*group, taken map[string]bool) Column {
	kind := KindInt
	seen := false
	for _, g := range groups {
		v, ok := g.variant[key]
		if !ok {
			continue
		}
		seen = true
		f, num := toFloat(v)
		switch {
		case !num:
			kind = KindText
		case kind == KindInt && f != math.Trunc(f):
			kind = KindFloat
		}
		if kind == KindText {
			break
		}
	}
	if !seen {
		kind = KindText
	}
	k := snake(key)
	if taken[k] {
		k = "swept_" + k
	}
	for i := 2; taken[k]; i++ {
		k = snake(key) + "_" + strconv.Itoa(i)
	}
	taken[k] = true
	return Column{Key: k, Title: key, Kind: kind, Decimals: -1}
}

func sweptCell(kind Kind, variant map[string]any, key string) Cell {
	v, ok := variant[key]
	if !ok || v == nil {
		return Missing()
	}
	f, _ := toFloat(v)
	switch kind {
	case KindInt:
		return Int(int64(f))
	case KindFloat:
		return Float(f)
	}
	return Text(fmt.Sprint(v))
}

// toFloat reads a swept value as a number (YAML gives ints and floats).
func toFloat(v any) (float64, bool) {
	if _, isText := v.(string); isText {
		return 0, false
	}
	f, err := core.ToFloat(v)
	return f, err == nil
}

func textOrMissing(s string) Cell {
	if s == "" {
		return Missing()
	}
	return Text(s)
}
