package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
)

// Version changes whenever the plugin would serve other counts or labels
// for the same files.
const Version = "1.0.0"

const (
	optDir      = "dir"
	labelsStem  = "_labels"
	classesFile = "classes.txt"
)

// Dataset serves the splits and labels of a folder of features.
type Dataset struct{}

var _ core.Dataset = Dataset{}

var schema = append([]core.Option{
	{Name: optDir, Type: core.TypeString, Default: "",
		Help: "folder holding <split>.npy [N, D] features per split (train required), optional labels <split>_labels.npy or <split>_labels.txt and classes.txt; the precomputed backbone reads the features from the same folder"},
}, core.LimitOptions()...)

type options struct {
	Dir        string `option:"dir"`
	LimitTrain int    `option:"limit_train"`
	LimitTest  int    `option:"limit_test"`
}

func description() core.Description {
	return core.Description{
		Kind: core.KindDataset, Name: "features", Version: Version,
		Summary: "features computed elsewhere: the splits, counts and labels of a folder of <split>.npy files, without images",
		Options: schema,
	}
}

// split is one split as read from the folder.
type split struct {
	name   string
	n      int     // rows served (after limits)
	labels []int32 // [n], -1 unknown
}

// folder is the resolved dataset.
type folder struct {
	splits  []split
	classes []string
	id      []string // identity parts
}

// Describe implements core.Dataset.
func (Dataset) Describe(ctx context.Context, given core.Options) (core.DatasetInfo, error) {
	info := core.DatasetInfo{Description: description()}
	if given == nil {
		return info, nil
	}
	f, resolved, err := load(given)
	if err != nil {
		return info, err
	}
	info.Classes = f.classes
	for _, s := range f.splits {
		info.Splits = append(info.Splits, core.SplitInfo{Name: s.name, Count: s.n})
	}
	info.Identity = "features " + Version + " " + strings.Join(f.id, ",") + " " + resolved.Canonical()
	return info, nil
}

// Read implements core.Dataset: batches of labels, without pixels.
func (Dataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if req.BatchSize <= 0 {
		return fmt.Errorf("%w: batch size %d", core.ErrInvalidInput, req.BatchSize)
	}
	f, _, err := load(req.Options)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.splits, func(s split) bool { return s.name == req.Split })
	if i < 0 {
		return fmt.Errorf("%w: no split %q (the folder has %s)", core.ErrInvalidInput, req.Split, splitNames(f.splits))
	}
	s := f.splits[i]
	for off := 0; off < s.n; off += req.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(req.BatchSize, s.n-off)
		if err := send(core.ImageBatch{Offset: off, Count: n, Pixels: []uint8{}, Labels: s.labels[off : off+n]}); err != nil {
			return err
		}
	}
	return nil
}

func splitNames(ss []split) string {
	var names []string
	for _, s := range ss {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}

// load resolves the options and reads the folder: the features' headers,
// the labels and the class names.
func load(given core.Options) (*folder, core.Options, error) {
	var o options
	resolved, err := core.Decode(schema, given, &o)
	if err != nil {
		return nil, nil, err
	}
	if o.Dir == "" {
		return nil, nil, core.OptionFault(optDir, fmt.Errorf("%w: set dir, the folder of <split>.npy features (train.npy, test.npy, ...)", core.ErrInvalidInput))
	}
	f, err := readFolder(o)
	if err != nil {
		return nil, nil, core.OptionFault(optDir, err)
	}
	return f, resolved, nil
}

func readFolder(o options) (*folder, error) {
	entries, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: features folder: %v", core.ErrInvalidInput, err)
	}
	f := &folder{}
	classes, hasClasses, err := readClasses(filepath.Join(o.Dir, classesFile), &f.id)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		stem, ok := strings.CutSuffix(name, ".npy")
		if !ok || e.IsDir() || strings.HasSuffix(stem, labelsStem) || stem == "" {
			continue
		}
		names = append(names, stem)
	}
	if !slices.Contains(names, core.SplitTrain) {
		return nil, fmt.Errorf("%w: %s has no train.npy (it has %d other .npy files); the train split's features are required", core.ErrInvalidInput, o.Dir, len(names))
	}
	rundirOrder(names)
	// Labels given as class names collect the names first.
	type pending struct {
		split split
		text  []string // labels as written, when they are names
	}
	var all []pending
	nameSet := map[string]bool{}
	anyLabels := false
	for _, name := range names {
		path := filepath.Join(o.Dir, name+".npy")
		total, err := rowsOf(path)
		if err != nil {
			return nil, err
		}
		n := total
		limit := map[string]int{core.SplitTrain: o.LimitTrain, core.SplitTest: o.LimitTest}[name]
		if limit > 0 {
			n = min(n, limit)
		}
		if n == 0 {
			return nil, fmt.Errorf("%w: %s has no rows", core.ErrInvalidInput, path)
		}
		f.id = append(f.id, fmt.Sprintf("%s:%d", name, n))
		p := pending{split: split{name: name, n: n}}
		labels, text, found, err := readLabels(o.Dir, name, total, n, &f.id)
		if err != nil {
			return nil, err
		}
		anyLabels = anyLabels || found
		p.split.labels, p.text = labels, text
		for _, t := range text {
			if t != "" {
				nameSet[t] = true
			}
		}
		all = append(all, p)
	}
	if len(nameSet) > 0 && !hasClasses {
		classes = slices.Sorted(func(yield func(string) bool) {
			for k := range nameSet {
				if !yield(k) {
					return
				}
			}
		})
	}
	index := map[string]int32{}
	for i, c := range classes {
		index[c] = int32(i)
	}
	maxLabel := int32(-1)
	for i := range all {
		p := &all[i]
		for j, t := range p.text {
			switch {
			case t == "":
				p.split.labels[j] = -1
			default:
				c, ok := index[t]
				if !ok {
					return nil, fmt.Errorf("%w: %s line %d: class %q is not in %s", core.ErrInvalidInput, labelsPath(o.Dir, p.split.name, ".txt"), j+1, t, filepath.Join(o.Dir, classesFile))
				}
				p.split.labels[j] = c
			}
		}
		for _, l := range p.split.labels {
			maxLabel = max(maxLabel, l)
		}
		f.splits = append(f.splits, p.split)
	}
	if anyLabels && len(classes) == 0 && maxLabel >= 0 {
		for c := range maxLabel + 1 {
			classes = append(classes, strconv.Itoa(int(c)))
		}
	}
	if int(maxLabel) >= len(classes) && maxLabel >= 0 {
		return nil, fmt.Errorf("%w: label %d but %s names only %d classes", core.ErrInvalidInput, maxLabel, filepath.Join(o.Dir, classesFile), len(classes))
	}
	f.classes = classes
	return f, nil
}

// rundirOrder sorts split names as the runner lists them: train, test,
// then the others by name.
func rundirOrder(names []string) {
	rank := func(s string) int {
		switch s {
		case core.SplitTrain:
			return 0
		case core.SplitTest:
			return 1
		}
		return 2
	}
	slices.SortFunc(names, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// rowsOf reads N from the header of a features file [N, D].
func rowsOf(path string) (int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", core.ErrInvalidInput, err)
	}
	defer fh.Close()
	h, err := npy.ReadHeader(fh)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", core.ErrInvalidInput, path, err)
	}
	if len(h.Shape) != 2 || h.Shape[1] == 0 {
		return 0, fmt.Errorf("%w: features %s have shape %v, want [N, D]", core.ErrInvalidInput, path, h.Shape)
	}
	return h.Shape[0], nil
}

func labelsPath(dir, split, ext string) string { return filepath.Join(dir, split+labelsStem+ext) }

// readLabels reads a split's labels: from <split>_labels.npy (integers),
// or <split>_labels.txt (integers or class names, returned in text for
// the caller to index), or none (every label -1, found false). Only the
// file must hold total labels, one per row of the features; the first n
// are kept (limits).
func readLabels(dir, split string, total, n int, id *[]string) (labels []int32, text []string, found bool, err error) {
	labels = make([]int32, n)
	for i := range labels {
		labels[i] = -1
	}
	npyPath, txtPath := labelsPath(dir, split, ".npy"), labelsPath(dir, split, ".txt")
	_, errN := os.Stat(npyPath)
	_, errT := os.Stat(txtPath)
	switch {
	case errN == nil && errT == nil:
		return nil, nil, false, fmt.Errorf("%w: both %s and %s exist; keep one", core.ErrInvalidInput, npyPath, txtPath)
	case errN == nil:
		if err := addHash(npyPath, id); err != nil {
			return nil, nil, false, err
		}
		fh, err := os.Open(npyPath)
		if err != nil {
			return nil, nil, false, err
		}
		h, data, err := npy.Decode(fh)
		fh.Close()
		if err != nil {
			return nil, nil, false, fmt.Errorf("%w: %s: %v", core.ErrInvalidInput, npyPath, err)
		}
		vals, err := npy.ToInt64(h, data)
		if err != nil || len(h.Shape) != 1 {
			return nil, nil, false, fmt.Errorf("%w: labels %s hold %s %v, want [N] integers", core.ErrInvalidInput, npyPath, h.DType, h.Shape)
		}
		if len(vals) != total {
			return nil, nil, false, fmt.Errorf("%w: %s has %d labels for the %d rows of %s.npy", core.ErrInvalidInput, npyPath, len(vals), total, split)
		}
		for i := range n {
			if vals[i] < -1 || vals[i] > 1<<30 {
				return nil, nil, false, fmt.Errorf("%w: %s: label %d of row %d (use -1 for unknown)", core.ErrInvalidInput, npyPath, vals[i], i)
			}
			labels[i] = int32(vals[i])
		}
		return labels, nil, true, nil
	case errT == nil:
		if err := addHash(txtPath, id); err != nil {
			return nil, nil, false, err
		}
		lines, err := readLines(txtPath)
		if err != nil {
			return nil, nil, false, err
		}
		if len(lines) != total {
			return nil, nil, false, fmt.Errorf("%w: %s has %d lines for the %d rows of %s.npy (one label per row)", core.ErrInvalidInput, txtPath, len(lines), total, split)
		}
		lines = lines[:n]
		numeric := true
		for _, l := range lines {
			if _, err := strconv.Atoi(l); err != nil && l != "" {
				numeric = false
				break
			}
		}
		if !numeric {
			return labels, lines, true, nil
		}
		for i, l := range lines {
			if l == "" {
				continue
			}
			v, _ := strconv.Atoi(l)
			if v < -1 {
				return nil, nil, false, fmt.Errorf("%w: %s line %d: label %d (use -1 or an empty line for unknown)", core.ErrInvalidInput, txtPath, i+1, v)
			}
			labels[i] = int32(v)
		}
		return labels, nil, true, nil
	}
	return labels, nil, false, nil
}

func readClasses(path string, id *[]string) ([]string, bool, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err := addHash(path, id); err != nil {
		return nil, false, err
	}
	lines, err := readLines(path)
	if err != nil {
		return nil, false, err
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	seen := map[string]int{}
	for i, l := range lines {
		if l == "" {
			return nil, false, fmt.Errorf("%w: %s line %d is empty; every line names a class", core.ErrInvalidInput, path, i+1)
		}
		if j, ok := seen[l]; ok {
			return nil, false, fmt.Errorf("%w: %s names class %q twice (lines %d and %d)", core.ErrInvalidInput, path, l, j+1, i+1)
		}
		seen[l] = i
	}
	return lines, true, nil
}

// readLines reads a text file's lines, trimmed of surrounding space; a
// final newline adds no line.
func readLines(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", core.ErrInvalidInput, err)
	}
	defer fh.Close()
	var lines []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", core.ErrInvalidInput, path, err)
	}
	return lines, nil
}

func addHash(path string, id *[]string) error {
	h, err := store.FileSHA256(path)
	if err != nil {
		return fmt.Errorf("%w: %v", core.ErrInvalidInput, err)
	}
	*id = append(*id, filepath.Base(path)+"="+h)
	return nil
}
