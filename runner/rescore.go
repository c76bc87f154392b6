package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/report"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// rescoreOptions are `clusterlab score RUN_DIR`'s flags.
type rescoreOptions struct {
	labels []string // [SPLIT=]FILE
	save   bool
	format string
}

// cmdRescore is `clusterlab score RUN_DIR --labels [SPLIT=]FILE...`: it
// scores a finished run's stored assignments (every head, the selected
// one, k-means) against labels that arrived after the run, and prints the
// run's tables with them; --save also writes them into the run directory
// (labels_<split>.npy, metrics.json with labels_added, tables, report),
// so that `clusterlab table` and sweep tables show them from then on. The
// label-free results (silhouette, cluster sizes) are kept as they were.
func cmdRescore(dir string, o rescoreOptions, stdout io.Writer) error {
	if len(o.labels) == 0 {
		return usageError{"score RUN_DIR needs --labels [SPLIT=]FILE (one label per sample of the split, or a CSV of name,label)"}
	}
	run, err := rundir.Read(dir)
	if err != nil {
		return core.InvalidInput(fmt.Errorf("%s: %w", dir, err))
	}
	if !run.Finished() {
		return core.InvalidInput(fmt.Errorf("%s is not a finished run (status %s); only a finished run's assignments can be scored", dir, run.Record.Status))
	}
	mf := *run.Metrics
	splits, err := rundir.AssignedSplits(dir)
	if err != nil || len(splits) == 0 {
		return core.InvalidInput(fmt.Errorf("%s holds no assignments (%s files): %v", dir, rundir.AssignFile("<split>"), err))
	}
	ds, _ := rundir.ReadDataset(dir) // without one, class names come from the labels
	given, err := readGivenLabels(dir, splits, o.labels, &ds.Classes)
	if err != nil {
		return err
	}
	// Rescore every result of the relabelled splits: label metrics anew,
	// label-free ones as stored.
	var added []rundir.LabelsAdded
	for _, split := range slices.Sorted(maps.Keys(given)) {
		g := given[split]
		heads, shape, err := npy.ReadInt32(filepath.Join(dir, rundir.AssignFile(split)))
		if err != nil {
			return err
		}
		km, _, kmErr := npy.ReadInt32(filepath.Join(dir, rundir.KMeansFile(split)))
		for i, r := range mf.Results {
			if r.Split != split {
				continue
			}
			pred, ok := storedPrediction(r, mf.Loss, mf.BestHead, heads, shape, km, kmErr == nil)
			if !ok {
				continue // the k-NN classifier needs the embeddings: left as it was
			}
			sc, majority, err := metrics.ScoreKnown(toInts(g.labels), toInts(pred))
			if err != nil {
				return core.InvalidInput(err)
			}
			mf.Results[i].Scores, mf.Results[i].MajorityACC = sc, majority
		}
		added = append(added, rundir.LabelsAdded{Split: split, File: g.file, SHA256: g.sha256, Labelled: labelled(g.labels), Added: time.Now().UTC()})
	}
	if mf.Classes == 0 {
		mf.Classes = len(ds.Classes)
	}
	mf.LabelsAdded = append(slices.DeleteFunc(slices.Clone(mf.LabelsAdded), func(a rundir.LabelsAdded) bool { _, ok := given[a.Split]; return ok }), added...)
	run.Metrics = &mf
	ts, err := tables.Run(run, "")
	if err != nil {
		return err
	}
	if o.save {
		if err := saveRescore(dir, given, ds, mf, ts); err != nil {
			return err
		}
	}
	if o.format == "" {
		o.format = "text"
	}
	return printTables(stdout, o.format, "", ts[:1])
}

// storedPrediction is the stored assignment a result of the run scored:
// a head's row of assign_<split>.npy (heads, of shape shape) or k-means'
// (km, when hasKM). ok is false for a result that has none to rescore.
func storedPrediction(r rundir.Result, loss string, bestHead int, heads []int32, shape []int, km []int32, hasKM bool) (pred []int32, ok bool) {
	switch {
	case r.Method == loss && r.Selection == "best-head":
		return headRow(heads, shape, bestHead)
	case r.Method == loss && strings.HasPrefix(r.Selection, "head-"):
		h, err := strconv.Atoi(strings.TrimPrefix(r.Selection, "head-"))
		if err != nil {
			return nil, false
		}
		return headRow(heads, shape, h)
	case r.Method == "kmeans" && hasKM:
		return km, true
	}
	return nil, false
}

// saveRescore is score --save: it writes the given labels, dataset.json
// with their class names, metrics.json, the tables, the label column of
// clusters_<split>.csv and the report into the run directory.
func saveRescore(dir string, given map[string]givenLabels, ds rundir.Dataset, mf rundir.Metrics, ts []tables.Table) error {
	for split, g := range given {
		if err := npy.WriteInt32(filepath.Join(dir, rundir.LabelsFile(split)), g.labels, len(g.labels)); err != nil {
			return err
		}
	}
	if err := rundir.WriteDataset(dir, ds); err != nil {
		return err
	}
	if err := rundir.WriteMetrics(dir, mf); err != nil {
		return err
	}
	if err := writeTableFiles(dir, rundir.TablesText, rundir.TablesMarkdown, ts); err != nil {
		return err
	}
	if err := refreshClustersCSV(dir, given, ds.Classes); err != nil {
		return err
	}
	if _, err := report.Build(dir); err != nil {
		logf("warning: report: %v; rebuild it with: clusterlab report %s", err, dir)
	}
	logf("saved: %s now scores split(s) %s against the given labels (metrics.json labels_added)", dir, strings.Join(slices.Sorted(maps.Keys(given)), ", "))
	return nil
}

// givenLabels are the labels of one split given after the run.
type givenLabels struct {
	labels       []int32
	file, sha256 string
}

// readGivenLabels reads the --labels arguments: SPLIT=FILE, or FILE alone
// for a run of one split or a CSV matched by name. A file is .npy or text
// of one label per sample in the split's order (integers, or class names;
// -1 or an empty line = unknown), or a CSV/TSV with a header naming a
// name column (name, path or file) and a label column (label, class or
// target), matched against the names in the run's clusters_<split>.csv.
// Class names are mapped to classes (the run's dataset.json, extended by
// the names it lacks: each file's (each split's, for a CSV matched by
// name) in sorted order, in the order the files come).
func readGivenLabels(dir string, splits []string, args []string, classes *[]string) (map[string]givenLabels, error) {
	out := map[string]givenLabels{}
	for _, a := range args {
		split, file, hasSplit := strings.Cut(a, "=")
		if !hasSplit {
			split, file = "", a
		} else if !slices.Contains(splits, split) {
			return nil, usageError{fmt.Sprintf("--labels %s: the run has no split %q (it has %s)", a, split, strings.Join(splits, ", "))}
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			return nil, err
		}
		sum, err := store.FileSHA256(abs)
		if err != nil {
			return nil, core.InvalidInput(fmt.Errorf("--labels %s: %w", a, err))
		}
		if ext := strings.ToLower(filepath.Ext(file)); ext == ".csv" || ext == ".tsv" {
			bySplit, err := matchNamedLabels(dir, a, file, ext, split, splits, classes)
			if err != nil {
				return nil, err
			}
			for s, labels := range bySplit {
				out[s] = givenLabels{labels: labels, file: abs, sha256: sum}
			}
			continue
		}
		if split == "" {
			if len(splits) != 1 {
				return nil, usageError{fmt.Sprintf("--labels %s: the run has splits %s; say which with --labels SPLIT=%s", a, strings.Join(splits, ", "), file)}
			}
			split = splits[0]
		}
		vals, err := readLabelLines(file)
		if err != nil {
			return nil, err
		}
		n, err := splitSize(dir, split)
		if err != nil {
			return nil, err
		}
		if len(vals) != n {
			return nil, core.InvalidInput(fmt.Errorf("--labels %s: %d labels for the %d samples of split %s (one per sample, in the split's order)", a, len(vals), n, split))
		}
		labels, err := labelIndices(vals, classes)
		if err != nil {
			return nil, fmt.Errorf("--labels %s: %w", a, err)
		}
		out[split] = givenLabels{labels: labels, file: abs, sha256: sum}
	}
	return out, nil
}

// matchNamedLabels matches the labels of a CSV/TSV of names (the --labels
// argument arg: FILE, or SPLIT=FILE for split) against the names of the
// run's samples in clusters_<split>.csv: the labels of every split with a
// named sample in it.
func matchNamedLabels(dir, arg, file, ext, split string, splits []string, classes *[]string) (map[string][]int32, error) {
	byName, err := readNamedLabels(file, ext)
	if err != nil {
		return nil, err
	}
	out := map[string][]int32{}
	targets := splits
	if split != "" {
		targets = []string{split}
	}
	matched := 0
	for _, s := range targets {
		names, err := runNames(dir, s)
		if err != nil {
			return nil, err
		}
		if names == nil {
			if split != "" {
				return nil, core.InvalidInput(fmt.Errorf("--labels %s: the run's %s names no samples, so a CSV of names cannot be matched; give one label per sample in order (.npy or .txt)", arg, rundir.ClustersFile(s)))
			}
			continue
		}
		vals := make([]string, len(names))
		hit := 0
		for i, n := range names {
			if v, ok := byName[n]; ok {
				vals[i], hit = v, hit+1
			}
		}
		if hit == 0 {
			continue
		}
		matched += hit
		labels, err := labelIndices(vals, classes)
		if err != nil {
			return nil, fmt.Errorf("--labels %s: %w", arg, err)
		}
		out[s] = labels
	}
	if matched == 0 {
		return nil, core.InvalidInput(fmt.Errorf("--labels %s: none of its names is a sample of the run (names as in the name column of %s)", arg, rundir.ClustersFile(splits[0])))
	}
	if matched < len(byName) {
		logf("note: %d of the %d names of %s are not samples of the run; they are ignored", len(byName)-matched, len(byName), file)
	}
	return out, nil
}

// splitSize is the number of samples of a split of the run.
func splitSize(dir, split string) (int, error) {
	f, err := os.Open(filepath.Join(dir, rundir.AssignFile(split)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	h, err := npy.ReadHeader(f)
	if err != nil || len(h.Shape) != 2 {
		return 0, fmt.Errorf("%s: %v (shape %v)", rundir.AssignFile(split), err, h.Shape)
	}
	return h.Shape[1], nil
}

// runNames reads the sample names of a split from clusters_<split>.csv;
// nil when the run names none.
func runNames(dir, split string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, rundir.ClustersFile(split)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, fmt.Errorf("%s: %v", rundir.ClustersFile(split), err)
	}
	col := slices.Index(recs[0], "name")
	if col < 0 {
		return nil, nil
	}
	names := make([]string, 0, len(recs)-1)
	named := false
	for _, r := range recs[1:] {
		names = append(names, r[col])
		named = named || r[col] != ""
	}
	if !named {
		return nil, nil
	}
	return names, nil
}

// readNamedLabels reads a CSV/TSV with a header: name -> label.
func readNamedLabels(path, ext string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, core.InvalidInput(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	if ext == ".tsv" {
		r.Comma = '\t'
	}
	recs, err := r.ReadAll()
	if err != nil {
		return nil, core.InvalidInput(fmt.Errorf("%s: %w", path, err))
	}
	if len(recs) < 2 {
		return nil, core.InvalidInput(fmt.Errorf("%s: want a header (name,label) and one row per sample", path))
	}
	find := func(names ...string) int {
		for i, h := range recs[0] {
			if slices.Contains(names, strings.ToLower(strings.TrimSpace(h))) {
				return i
			}
		}
		return -1
	}
	nc, lc := find("name", "path", "file", "filename"), find("label", "class", "target")
	if nc < 0 || lc < 0 {
		return nil, core.InvalidInput(fmt.Errorf("%s: its header %q needs a name column (name, path or file) and a label column (label, class or target)", path, recs[0]))
	}
	out := map[string]string{}
	for i, rec := range recs[1:] {
		name := filepath.ToSlash(strings.TrimSpace(rec[nc]))
		if prev, dup := out[name]; dup && prev != strings.TrimSpace(rec[lc]) {
			return nil, core.InvalidInput(fmt.Errorf("%s line %d: %q has two labels (%q and %q)", path, i+2, name, prev, rec[lc]))
		}
		out[name] = strings.TrimSpace(rec[lc])
	}
	return out, nil
}

// readLabelLines reads one label per sample: an integer .npy, or text
// lines.
func readLabelLines(path string) ([]string, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		ints, err := metrics.ReadAssignment(path)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(ints))
		for i, v := range ints {
			out[i] = strconv.Itoa(v)
		}
		return out, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, core.InvalidInput(err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return lines, nil
}

// labelIndices maps labels as written to class indices: all integers are
// taken as they are (-1 unknown); otherwise each is a class name, looked
// up in classes, new names appended in sorted order; "" and "-1" are
// unknown.
func labelIndices(vals []string, classes *[]string) ([]int32, error) {
	out := make([]int32, len(vals))
	numeric := true
	for _, v := range vals {
		if _, err := strconv.Atoi(v); err != nil && v != "" {
			numeric = false
			break
		}
	}
	if numeric {
		for i, v := range vals {
			if v == "" {
				out[i] = -1
				continue
			}
			n, _ := strconv.Atoi(v)
			if n < -1 || n > math.MaxInt32 {
				return nil, core.InvalidInput(fmt.Errorf("label %d of sample %d (use -1 for unknown)", n, i))
			}
			out[i] = int32(n)
		}
		return out, nil
	}
	index := map[string]int32{}
	for i, c := range *classes {
		index[c] = int32(i)
	}
	var fresh []string
	for _, v := range vals {
		if _, ok := index[v]; !ok && v != "" && v != "-1" && !slices.Contains(fresh, v) {
			fresh = append(fresh, v)
		}
	}
	slices.Sort(fresh)
	for _, c := range fresh {
		index[c] = int32(len(*classes))
		*classes = append(*classes, c)
	}
	for i, v := range vals {
		if v == "" || v == "-1" {
			out[i] = -1
			continue
		}
		out[i] = index[v]
	}
	return out, nil
}

// refreshClustersCSV rewrites the label column of clusters_<split>.csv for
// the relabelled splits.
func refreshClustersCSV(dir string, given map[string]givenLabels, classes []string) error {
	for split, g := range given {
		path := filepath.Join(dir, rundir.ClustersFile(split))
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		col := slices.Index(recs[0], "label")
		if col < 0 || len(recs)-1 != len(g.labels) {
			continue
		}
		for i, rec := range recs[1:] {
			rec[col] = ""
			if l := g.labels[i]; l >= 0 {
				rec[col] = labelName(classes, int(l))
			}
		}
		err = npy.WriteAtomic(path, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			if err := cw.WriteAll(recs); err != nil {
				return err
			}
			return cw.Error()
		})
		if err != nil {
			return err
		}
	}
	return nil
}
