package tables

import (
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// Roles of a row (the data-only "role" column).
const (
	RoleTrained    = "trained"    // the trained method (a variant of a comparison)
	RoleBaseline   = "baseline"   // an unsupervised baseline (k-means)
	RoleSupervised = "supervised" // a supervised upper reference (k-NN classifier)
)

// Baseline methods whose seconds metrics.json records under another name.
var secondsKey = map[string]string{"kmeans": "kmeans", "knn-classifier": "knn_classifier", "linear-probe": "linear_probe"}

// supervisedNote says what the supervised rows (methods) are.
func supervisedNote(methods []string) string {
	s := methods[0] + " is supervised (train labels), an upper reference; its row shows ACC only."
	if len(methods) > 1 {
		s = strings.Join(methods, " and ") + " are supervised (train labels), upper references; their rows show ACC only."
	}
	if slices.Contains(methods, "linear-probe") {
		s += " linear-probe: a multinomial logistic regression (L2, C = 1, as scikit-learn's LogisticRegression) on the train embeddings and labels, test ACC."
	}
	return s
}

// Run returns the tables of one run directory.
//
// A finished run gives "run", its trained method (the label-free best
// head) and the baselines, ACC/NMI/ARI/AMI of every split (of split alone
// when it is not empty; majority ACC too when there are more clusters than
// classes), clusters used and seconds; and "heads", every head's training
// loss and per-split ACC and NMI, the selected head marked. A run that did
// not finish (failed, interrupted, still running) gives a "status" table
// with its status and the reason it stopped. The error is a split the run
// has no results for (core.ErrInvalidInput).
func Run(run rundir.Run, split string) ([]Table, error) {
	if !run.Finished() {
		return []Table{statusTable(run)}, nil
	}
	mf := *run.Metrics
	splits := splitsOf(mf.Results)
	if split != "" {
		if !slices.Contains(splits, split) {
			return nil, fmt.Errorf("%w: %s has no results for split %q (it has %s)", core.ErrInvalidInput, runName(run), split, strings.Join(splits, ", "))
		}
		splits = []string{split}
	}
	return []Table{runTable(run, splits), headsTable(run, splits)}, nil
}

func runTable(run rundir.Run, splits []string) Table {
	mf := *run.Metrics
	over := mf.Classes > 0 && mf.Clusters > mf.Classes
	t := Table{
		Name: "run",
		Caption: fmt.Sprintf("%s: %s (best head chosen without labels) vs baselines, %d clusters, %s (metrics in %%)",
			runName(run), mf.Loss, mf.Clusters, classesText(mf.Classes)),
		Columns: []Column{
			{Key: "method", Title: "method", Kind: KindText},
			{Key: "selection", Title: "selection", Kind: KindText},
			{Key: "role", Title: "role", Kind: KindText, DataOnly: true},
		},
	}
	for _, s := range splits {
		k := snake(s)
		t.Columns = append(t.Columns,
			Column{Key: k + "_acc", Title: s + " ACC", Kind: KindPercent, Unit: UnitFraction},
			Column{Key: k + "_nmi", Title: s + " NMI", Kind: KindPercent, Unit: UnitFraction},
			Column{Key: k + "_ari", Title: s + " ARI", Kind: KindPercent, Unit: UnitFraction},
			Column{Key: k + "_ami", Title: s + " AMI", Kind: KindPercent, Unit: UnitFraction})
		if over {
			t.Columns = append(t.Columns, Column{Key: k + "_majority_acc", Title: s + " majority ACC", Kind: KindPercent, Unit: UnitFraction})
		}
		t.Columns = append(t.Columns, silhouetteColumn(s))
	}
	withGen := slices.ContainsFunc(mf.Results, func(r rundir.Result) bool { return finite(r.Generalization) })
	if withGen {
		t.Columns = append(t.Columns, Column{Key: "generalization", Title: "gen. score", Kind: KindPercent, Unit: UnitFraction})
	}
	t.Columns = append(t.Columns,
		Column{Key: "clusters_used", Title: "clusters used", Kind: KindRatio, DenKey: "clusters", Unit: UnitCount},
		Column{Key: "smallest_cluster", Title: "smallest", Kind: KindInt, Unit: UnitCount},
		Column{Key: "largest_cluster", Title: "largest", Kind: KindInt, Unit: UnitCount},
		Column{Key: "loss", Title: "loss", Kind: KindFloat, Decimals: 4},
		Column{Key: "seconds", Title: "seconds", Kind: KindFloat, Decimals: 1, Unit: UnitSeconds})

	type key struct{ method, sel string }
	var order []key
	byKey := map[key]map[string]rundir.Result{}
	for _, r := range mf.Results {
		if strings.HasPrefix(r.Selection, "head-") {
			continue
		}
		k := key{r.Method, r.Selection}
		if byKey[k] == nil {
			byKey[k] = map[string]rundir.Result{}
			order = append(order, k)
		}
		byKey[k][r.Split] = r
	}
	// The trained method first, then the baselines in the order of
	// metrics.json.
	sort.SliceStable(order, func(i, j int) bool { return order[i].method == mf.Loss && order[j].method != mf.Loss })
	var supervised []string
	for _, k := range order {
		role := RoleBaseline
		if k.method == mf.Loss {
			role = RoleTrained
		}
		for _, r := range byKey[k] {
			if r.Supervised {
				role = RoleSupervised
				if !slices.Contains(supervised, k.method) {
					supervised = append(supervised, k.method)
				}
			}
		}
		row := []Cell{Text(k.method), Text(k.sel), Text(role)}
		used, smallest, largest := Missing(), Missing(), Missing()
		for _, s := range splits {
			r, ok := byKey[k][s]
			switch {
			case !ok:
				row = append(row, Missing(), Missing(), Missing(), Missing())
			case r.Supervised:
				row = append(row, Percent(r.ACC), Missing(), Missing(), Missing())
			default:
				row = append(row, Percent(r.ACC), Percent(r.NMI), Percent(r.ARI), Percent(r.AMI))
			}
			if over {
				if ok && !r.Supervised {
					row = append(row, Percent(r.MajorityACC))
				} else {
					row = append(row, Missing())
				}
			}
			if ok && !r.Supervised {
				row = append(row, Float(r.Silhouette))
				used = Ratio(float64(r.ClustersUsed), mf.Clusters)
				smallest, largest = Int(int64(r.Smallest)), Int(int64(r.Largest))
			} else {
				row = append(row, Missing())
			}
		}
		if withGen {
			gen := Missing()
			for _, r := range byKey[k] {
				if finite(r.Generalization) {
					gen = Percent(r.Generalization)
				}
			}
			row = append(row, gen)
		}
		loss := Missing()
		// The rows leave the heads (head-N) out: the trained method's row
		// is the selected head's.
		if k.method == mf.Loss && mf.BestHead >= 0 && mf.BestHead < len(mf.HeadLosses) {
			loss = Float(mf.HeadLosses[mf.BestHead])
		}
		secs := Missing()
		name := "fit"
		if k.method != mf.Loss {
			name = secondsKey[k.method]
		}
		if v, ok := mf.Seconds[name]; ok && name != "" {
			secs = Float(v)
		}
		t.Rows = append(t.Rows, append(row, used, smallest, largest, loss, secs))
	}
	if over {
		t.Notes = append(t.Notes, "More clusters than classes: ACC is the one-to-one matching (surplus clusters count as errors); majority ACC maps each cluster to its most frequent class, as the TEMI authors report over-clustering.")
	}
	if len(splits) > 1 {
		t.Notes = append(t.Notes, fmt.Sprintf("clusters used, smallest and largest cluster: on the %s split.", splits[len(splits)-1]))
	}
	t.Notes = append(t.Notes, labelNotes(mf.Results, splits)...)
	t.Notes = append(t.Notes, silhouetteNote)
	if withGen {
		t.Notes = append(t.Notes, generalizationNote)
	}
	t.Notes = append(t.Notes, "loss: the head's mean training loss in the last epoch (label-free; comparable between runs of the same loss only).")
	if len(supervised) > 0 {
		t.Notes = append(t.Notes, supervisedNote(supervised))
	}
	if s := InputsShort(run.Record.Inputs); s != "" {
		t.Notes = append(t.Notes, "inputs "+inputsNote(run.Record.Inputs))
	}
	return t
}

func headsTable(run rundir.Run, splits []string) Table {
	mf := *run.Metrics
	t := Table{
		Name:    "heads",
		Caption: fmt.Sprintf("%s: every head of %s (* = the selected head, best_head of metrics.json: the lowest training loss, the label-free choice; metrics in %%)", runName(run), mf.Loss),
		Columns: []Column{
			{Key: "head", Title: "head", Kind: KindInt},
			{Key: "selected", Title: "selected", Kind: KindBool, DataOnly: true},
			{Key: "train_loss", Title: "train loss", Kind: KindFloat, Decimals: 4},
		},
	}
	for _, s := range splits {
		k := snake(s)
		t.Columns = append(t.Columns,
			Column{Key: k + "_acc", Title: s + " ACC", Kind: KindPercent, Unit: UnitFraction},
			Column{Key: k + "_nmi", Title: s + " NMI", Kind: KindPercent, Unit: UnitFraction},
			silhouetteColumn(s))
	}
	t.Columns = append(t.Columns, Column{Key: "clusters_used", Title: "clusters used", Kind: KindRatio, DenKey: "clusters", Unit: UnitCount})
	for h, loss := range mf.HeadLosses {
		head := Int(int64(h))
		head.Best = h == mf.BestHead
		row := []Cell{head, Bool(h == mf.BestHead), Float(loss)}
		used := Missing()
		for _, s := range splits {
			r, ok := find(mf.Results, mf.Loss, "head-"+strconv.Itoa(h), s)
			if !ok {
				row = append(row, Missing(), Missing(), Missing())
				continue
			}
			row = append(row, Percent(r.ACC), Percent(r.NMI), Float(r.Silhouette))
			used = Ratio(float64(r.ClustersUsed), mf.Clusters)
		}
		t.Rows = append(t.Rows, append(row, used))
	}
	t.Notes = append(t.Notes, labelNotes(mf.Results, splits)...)
	return t
}

// classesText says how many classes a run's dataset has.
func classesText(n int) string {
	if n == 0 {
		return "no classes (unlabelled)"
	}
	return fmt.Sprintf("%d classes", n)
}

// silhouetteColumn is the label-free quality column of a split.
func silhouetteColumn(split string) Column {
	return Column{Key: snake(split) + "_silhouette", Title: split + " silhouette", Kind: KindFloat, Decimals: 3}
}

// silhouetteNote says what the silhouette columns hold.
const silhouetteNote = "silhouette: label-free quality in [-1, 1], higher is better: scikit-learn's silhouette score (Euclidean) of the L2-normalised embeddings, on the same seeded sample of at most 2000 samples of the split for every method."

// labelNotes says which splits lack labels, wholly or in part.
func labelNotes(rs []rundir.Result, splits []string) []string {
	var none, some []string
	for _, s := range splits {
		for _, r := range rs {
			if r.Split != s || r.Supervised || r.N == 0 {
				continue
			}
			switch {
			case r.Unlabelled == r.N:
				none = append(none, s)
			case r.Unlabelled > 0:
				some = append(some, fmt.Sprintf("%s (%d of %d samples labelled)", s, r.N-r.Unlabelled, r.N))
			}
			break
		}
	}
	var notes []string
	if len(none) > 0 {
		notes = append(notes, fmt.Sprintf("No labels on the %s split(s): ACC, NMI, ARI and AMI need labels and show -; the label-free columns (silhouette, clusters used, smallest, largest, loss) still compare. `clusterlab score RUN_DIR --labels FILE` scores the stored assignments once labels arrive.", strings.Join(none, ", ")))
	}
	if len(some) > 0 {
		notes = append(notes, "Label metrics on the labelled samples only: "+strings.Join(some, ", ")+"; cluster sizes and the silhouette on every sample.")
	}
	return notes
}

// statusTable stands for a run that has no metrics.
func statusTable(run rundir.Run) Table {
	rec := run.Record
	status := orUnknown(rec.Status)
	t := Table{
		Name:    "status",
		Caption: fmt.Sprintf("%s: %s, no results", runName(run), status),
		Columns: []Column{
			{Key: "run", Title: "run", Kind: KindText},
			{Key: "status", Title: "status", Kind: KindText},
			{Key: "seed", Title: "seed", Kind: KindInt},
			{Key: "inputs", Title: "inputs", Kind: KindText},
			{Key: "reason", Title: "reason", Kind: KindText},
		},
	}
	inputs := Missing()
	if s := InputsShort(rec.Inputs); s != "" {
		inputs = Text(s)
		t.Notes = append(t.Notes, "inputs "+inputsNote(rec.Inputs))
	}
	t.Rows = [][]Cell{{Text(runName(run)), Text(status), Int(rec.Seed), inputs, Text(reason(rec))}}
	if status != rundir.StatusFailed { // how to go on
		t.Notes = append(t.Notes, statusNote(run))
	}
	return t
}

// reason is why a run has no metrics, in its record's words when it has
// them.
func reason(rec rundir.Record) string {
	if rec.Error != "" {
		return rec.Error
	}
	switch rec.Status {
	case rundir.StatusRunning:
		return "not finished: still running, or its process died before it could record why"
	case rundir.StatusFinished:
		return "finished but its metrics were not read"
	}
	return "no reason recorded"
}

func statusNote(run rundir.Run) string {
	rec := run.Record
	switch rec.Status {
	case rundir.StatusRunning:
		s := fmt.Sprintf("%s: running", runName(run))
		if !rec.Started.IsZero() {
			s += " since " + rec.Started.UTC().Format("2006-01-02 15:04:05Z")
		}
		if rec.Host != "" || rec.PID != 0 {
			s += fmt.Sprintf(" (host %s, pid %d)", rec.Host, rec.PID)
		}
		return s + "; if that process is gone it died without recording why. Run the same command again to resume."
	case rundir.StatusInterrupted:
		return fmt.Sprintf("%s: interrupted: %s. Run the same command again to resume.", runName(run), reason(rec))
	}
	return fmt.Sprintf("%s: %s: %s", runName(run), orUnknown(rec.Status), reason(rec))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// runName is experiment/trial, from run.json, metrics.json or the
// directory.
func runName(run rundir.Run) string {
	exp, trial := run.Record.Experiment, run.Record.Trial
	if run.Metrics != nil {
		if exp == "" {
			exp = run.Metrics.Experiment
		}
		if trial == "" {
			trial = run.Metrics.Trial
		}
	}
	if exp == "" && trial == "" && run.Dir != "" {
		return filepath.Base(filepath.Dir(run.Dir)) + "/" + filepath.Base(run.Dir)
	}
	return exp + "/" + trial
}

func experiment(run rundir.Run) string {
	if run.Record.Experiment == "" && run.Metrics != nil {
		return run.Metrics.Experiment
	}
	return run.Record.Experiment
}

func find(rs []rundir.Result, method, sel, split string) (rundir.Result, bool) {
	for _, r := range rs {
		if r.Method == method && r.Selection == sel && r.Split == split {
			return r, true
		}
	}
	return rundir.Result{}, false
}

// splitsOf lists the splits of results: train, test, then the rest by
// name.
func splitsOf(rs []rundir.Result) []string {
	var names []string
	for _, r := range rs {
		if !slices.Contains(names, r.Split) {
			names = append(names, r.Split)
		}
	}
	rundir.SortSplits(names)
	return names
}

// snake makes a column key of a name: lower case, runs of anything but
// letters and digits as one underscore.
func snake(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		} else {
			under = true
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

// InputsShort is the short id of a run's features: dataset name@ID and
// backbone name@ID, or for a run of several spaces each space used as
// name=backbone@ID joined by "," (TURTLE takes them as separate spaces, the
// other methods their L2-normalised concatenation); "" when run.json did
// not record them (format 1).
func InputsShort(in rundir.Inputs) string {
	if in.Dataset.Name == "" && in.Backbone.Name == "" && len(in.Spaces) == 0 {
		return ""
	}
	if len(in.Spaces) == 0 {
		return plugShort(in.Dataset) + "+" + plugShort(in.Backbone)
	}
	var used []string
	for _, s := range in.Spaces {
		if s.Used {
			used = append(used, s.Name+"="+plugShort(s.Backbone))
		}
	}
	return plugShort(in.Dataset) + "+" + strings.Join(used, ",")
}

func plugShort(p rundir.Plugin) string {
	name := p.Name
	if name == "" {
		name = "?"
	}
	if p.ID == "" {
		return name
	}
	return name + "@" + p.ID
}

// inputsNote names a short inputs id fully.
func inputsNote(in rundir.Inputs) string {
	full := func(kind string, p rundir.Plugin) string {
		s := kind + " " + orUnknown(p.Name)
		if p.Version != "" {
			s += " " + p.Version
		}
		return s
	}
	backbones := full("backbone", in.Backbone)
	if len(in.Spaces) > 0 {
		var parts []string
		for _, s := range in.Spaces {
			part := "space " + s.Name + ": " + full("backbone", s.Backbone)
			if !s.Used {
				part += " (not used)"
			}
			parts = append(parts, part)
		}
		backbones = strings.Join(parts, ", ")
		if len(in.SpacesUsed()) > 1 {
			backbones += "; turtle uses the spaces separately, every other method and the baselines their concatenation after per-space L2 normalisation"
		}
	}
	return InputsShort(in) + " = " + full("dataset", in.Dataset) + ", " + backbones + " (their identities, with the sha256 of every file read, are in run.json)"
}
