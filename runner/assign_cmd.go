package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/headmodel"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// `clusterlab assign RUN_DIR INPUT` applies a finished run's head to new
// inputs: images (a folder or a list file, read by the images dataset
// plugin and embedded by the run's own backbone, whose identity must be
// the run's), or features (.npy [N, D] of the run's backbone). The head
// runs in this process, in float64 (core/headmodel); the results stream
// to files batch by batch, written in a staging folder and moved into
// place only when every split is complete.

// imagesPlugin and imagesRoot are the dataset plugin that reads INPUT and
// its option naming it.
const (
	imagesPlugin = "images"
	imagesRoot   = "root"
)

// assignOptions are the flags of `clusterlab assign`.
type assignOptions struct {
	out, head string
	sets      []string
}

// featureBatch bounds the rows of .npy features read at once.
const featureBatch = 1024

// cmdAssign is `clusterlab assign RUN_DIR INPUT`.
func cmdAssign(ctx context.Context, runDir, input string, o assignOptions, stdout io.Writer) error {
	started := time.Now().UTC()
	m, err := headmodel.Load(runDir)
	if err != nil {
		return err
	}
	hd, err := selectHead(m, o.head)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(input)
	if err != nil {
		return core.InvalidInput(err)
	}
	kind, err := inputKind(abs)
	if err != nil {
		return err
	}
	outDir, err := assignOutDir(runDir, abs, o.out)
	if err != nil {
		return err
	}
	out, err := newAssignOutput(outDir, m.K)
	if err != nil {
		return err
	}
	defer out.abort()
	rec := rundir.AssignRecord{
		Format: rundir.AssignFormat, Head: hd.Index, BestHead: m.BestHead(), Input: abs, Kind: kind,
		Backbone: m.Record.Inputs.Backbone, Clusters: m.K, Dim: m.D, TeacherTemp: m.TeacherTemp, Started: started,
		Run: rundir.AssignRun{Dir: absOr(runDir), Experiment: m.Record.Experiment, Trial: m.Record.Trial, Identity: m.Record.Identity},
	}
	log := trialLog{}
	if kind == rundir.AssignFeatures {
		if len(o.sets) > 0 {
			return usageError{"--set applies to images (the images dataset's and the backbone's options); features need none"}
		}
		err = assignFeatures(ctx, m, hd, abs, out, log)
	} else {
		err = assignImages(ctx, m, hd, runDir, abs, o.sets, out, &rec, log)
	}
	if err != nil {
		return err
	}
	b := buildVersion()
	rec.Clusterlab = rundir.Build{Version: b.Version, Commit: b.Commit, Modified: b.Modified, Go: b.Go}
	rec.Finished = time.Now().UTC()
	if err := out.commit(&rec); err != nil {
		return err
	}
	var rows [][]string
	for _, s := range rec.Splits {
		name := s.Split
		if name == "" {
			name = "-"
		}
		rows = append(rows, []string{name, strconv.Itoa(s.N), fmt.Sprintf("%d/%d", s.ClustersUsed, m.K), filepath.Join(outDir, s.CSV)})
	}
	what := fmt.Sprintf("%s assigned by head %d of %s", kind, hd.Index, runDir)
	if hd.Index == m.BestHead() {
		what += " (its selected head)"
	}
	if err := tables.Render(stdout, "text", []tables.Table{textTable("assign", what, []string{"split", "rows", "clusters used", "assignments"}, rows)}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nassignments: %s\n", outDir)
	return nil
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// selectHead is --head: best (the run's selected head, the default) or a
// head's number.
func selectHead(m *headmodel.Model, flag string) (*headmodel.Head, error) {
	if flag == "" || flag == "best" {
		return m.Head(m.BestHead())
	}
	h, err := strconv.Atoi(flag)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--head %q: want best or a head's number, 0 to %d", flag, m.Heads-1)}
	}
	return m.Head(h)
}

// inputKind tells images (a folder, a list file) from features (.npy).
func inputKind(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", core.InvalidInput(fmt.Errorf("INPUT: %w", err))
	}
	if st.IsDir() {
		return rundir.AssignImages, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return rundir.AssignFeatures, nil
	case ".csv", ".tsv", ".txt":
		return rundir.AssignImages, nil
	}
	return "", core.InvalidInput(fmt.Errorf("INPUT %s: want a folder of images, a list file of images (.csv, .tsv, .txt) or features (.npy)", path))
}

// assignOutDir is --out, or RUN_DIR/assigned/<INPUT's name without its
// extension>. It refuses the run directory itself and a folder that holds
// other files than an earlier assignment's.
func assignOutDir(runDir, input, flag string) (string, error) {
	out := flag
	if out == "" {
		name := filepath.Base(input)
		if ext := filepath.Ext(name); ext != "" && ext != name {
			name = strings.TrimSuffix(name, ext)
		}
		out = filepath.Join(runDir, rundir.AssignedDir, name)
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return "", core.InvalidInput(err)
	}
	if absOut == absOr(runDir) {
		return "", core.InvalidInput(fmt.Errorf("--out %s is the run directory: assign never writes among the run's own files; choose another folder", out))
	}
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return "", core.InvalidInput(fmt.Errorf("--out %s: %w", out, err))
	}
	ours := false
	var other []string
	for _, e := range entries {
		switch {
		case e.Name() == rundir.AssignRecordFile:
			ours = true
		case strings.HasPrefix(e.Name(), stagePrefix):
		default:
			other = append(other, e.Name())
		}
	}
	if len(other) > 0 && !ours {
		return "", core.InvalidInput(fmt.Errorf("%s holds files that are not an assignment (%s, ...): assign writes only into an empty folder or one it wrote before; choose another --out", out, other[0]))
	}
	return out, nil
}

// stagePrefix names the folder an assignment is written in until it is
// complete.
const stagePrefix = ".assign-"

// assignOutput writes the files of an assignment into a staging folder
// inside the output folder, and moves them into place at the end.
type assignOutput struct {
	dir, stage string
	created    bool // the output folder did not exist
	k          int
	splits     []*splitOutput
	done       bool
}

func newAssignOutput(dir string, k int) (*assignOutput, error) {
	_, err := os.Stat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(dir, stagePrefix+"*")
	if err != nil {
		return nil, err
	}
	return &assignOutput{dir: dir, stage: stage, created: created, k: k}, nil
}

// abort removes what an unfinished assignment wrote (nothing once
// committed).
func (o *assignOutput) abort() {
	if o.done {
		return
	}
	for _, s := range o.splits {
		s.close()
	}
	os.RemoveAll(o.stage)
	if o.created {
		os.Remove(o.dir) // only if empty
	}
}

// splitOutput is one split being written: the clusters in memory (4 bytes
// a row), the probabilities and the CSV streamed to the staging folder.
type splitOutput struct {
	name, sub string // the split, and its folder ("" for the only one)
	n, k      int
	paths     bool
	clusters  []int32
	sizes     []int
	probs     *npy.RowWriter
	csvFile   *os.File
	csvBuf    *bufio.Writer
	csv       *csv.Writer
	got       int
	dir       string // in the staging folder
}

// split starts the output of a split of n rows; sub is its folder.
func (o *assignOutput) split(name, sub string, n int, paths bool) (*splitOutput, error) {
	s := &splitOutput{name: name, sub: sub, n: n, k: o.k, paths: paths, clusters: make([]int32, n), sizes: make([]int, o.k),
		dir: filepath.Join(o.stage, sub)}
	o.splits = append(o.splits, s)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	if err := store.CheckFree(s.dir, uint64(n)*uint64(o.k+40)*4, fmt.Sprintf("the assignments of %d rows", n)); err != nil {
		return nil, err
	}
	var err error
	if s.probs, err = npy.CreateFloat32Rows(filepath.Join(s.dir, rundir.AssignProbsFile), n, o.k); err != nil {
		return nil, err
	}
	if s.csvFile, err = os.Create(filepath.Join(s.dir, rundir.AssignCSVFile)); err != nil {
		return nil, err
	}
	s.csvBuf = bufio.NewWriterSize(s.csvFile, 1<<20)
	s.csv = csv.NewWriter(s.csvBuf)
	header := rundir.AssignCSVHeader
	if !paths {
		header = slices.DeleteFunc(slices.Clone(header), func(h string) bool { return h == "path" })
	}
	return s, s.csv.Write(header)
}

// add appends the next rows: their clusters, probabilities [n, K] and,
// for images, their paths.
func (s *splitOutput) add(clusters []int32, probs []float32, names []string) error {
	if s.got+len(clusters) > s.n {
		return fmt.Errorf("%d rows for a split of %d", s.got+len(clusters), s.n)
	}
	if err := s.probs.Append(probs); err != nil {
		return err
	}
	rec := make([]string, 0, 4)
	for i, c := range clusters {
		idx := s.got + i
		s.clusters[idx] = c
		s.sizes[c]++
		rec = append(rec[:0], strconv.Itoa(idx))
		if s.paths {
			name := ""
			if i < len(names) {
				name = names[i]
			}
			rec = append(rec, name)
		}
		rec = append(rec, strconv.Itoa(int(c)), strconv.FormatFloat(float64(probs[i*s.k+int(c)]), 'g', -1, 32))
		if err := s.csv.Write(rec); err != nil {
			return err
		}
	}
	s.got += len(clusters)
	return nil
}

// finish completes the split's files in the staging folder.
func (s *splitOutput) finish() (rundir.AssignedSplit, error) {
	if s.got != s.n {
		return rundir.AssignedSplit{}, fmt.Errorf("%d of %d rows assigned", s.got, s.n)
	}
	if err := s.probs.Commit(); err != nil {
		return rundir.AssignedSplit{}, err
	}
	s.probs = nil
	s.csv.Flush()
	err := s.csv.Error()
	if err == nil {
		err = s.csvBuf.Flush()
	}
	if err == nil {
		err = s.csvFile.Sync()
	}
	if cerr := s.csvFile.Close(); err == nil {
		err = cerr
	}
	s.csvFile = nil
	if err != nil {
		return rundir.AssignedSplit{}, fmt.Errorf("write %s: %w", rundir.AssignCSVFile, err)
	}
	if err := npy.WriteInt32(filepath.Join(s.dir, rundir.AssignClustersFile), s.clusters, s.n); err != nil {
		return rundir.AssignedSplit{}, err
	}
	used := 0
	for _, c := range s.sizes {
		if c > 0 {
			used++
		}
	}
	return rundir.AssignedSplit{Split: s.name, N: s.n, ClusterSizes: s.sizes, ClustersUsed: used,
		Clusters: filepath.Join(s.sub, rundir.AssignClustersFile), Probs: filepath.Join(s.sub, rundir.AssignProbsFile),
		CSV: filepath.Join(s.sub, rundir.AssignCSVFile)}, nil
}

func (s *splitOutput) close() {
	if s.probs != nil {
		s.probs.Abort()
	}
	if s.csvFile != nil {
		s.csvFile.Close()
	}
}

// commit finishes every split, moves the files into the output folder,
// removes the files of an earlier assignment there that this one does
// not have, and writes assign.json last.
func (o *assignOutput) commit(rec *rundir.AssignRecord) error {
	rec.Splits = nil
	for _, s := range o.splits {
		as, err := s.finish()
		if err != nil {
			return fmt.Errorf("assign %s: %w", s.name, err)
		}
		rec.Splits = append(rec.Splits, as)
	}
	old := readOldAssign(o.dir)
	keep := map[string]bool{}
	for _, s := range rec.Splits {
		for _, f := range []string{s.Clusters, s.Probs, s.CSV} {
			keep[f] = true
			to := filepath.Join(o.dir, f)
			if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
				return err
			}
			if err := os.Rename(filepath.Join(o.stage, f), to); err != nil {
				return err
			}
		}
	}
	for _, f := range old {
		if !keep[f] && filepath.IsLocal(f) {
			os.Remove(filepath.Join(o.dir, f))
			if d := filepath.Dir(f); d != "." {
				os.Remove(filepath.Join(o.dir, d)) // if empty
			}
		}
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(o.dir, rundir.AssignRecordFile), append(b, '\n')); err != nil {
		return err
	}
	o.done = true
	os.RemoveAll(o.stage)
	return nil
}

// readOldAssign lists the files an earlier assign.json in dir names.
func readOldAssign(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, rundir.AssignRecordFile))
	if err != nil {
		return nil
	}
	var old rundir.AssignRecord
	if json.Unmarshal(b, &old) != nil {
		return nil
	}
	var files []string
	for _, s := range old.Splits {
		files = append(files, s.Clusters, s.Probs, s.CSV)
	}
	return files
}

// assignFeatures assigns the rows of a .npy [N, D] (float32; float64 and
// float16 are converted), read a block of rows at a time.
func assignFeatures(ctx context.Context, m *headmodel.Model, hd *headmodel.Head, path string, out *assignOutput, log trialLog) error {
	f, err := os.Open(path)
	if err != nil {
		return core.InvalidInput(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	h, err := npy.ReadHeader(br)
	if err != nil {
		return core.InvalidInput(fmt.Errorf("%s: %w", path, err))
	}
	switch {
	case len(h.Shape) != 2:
		return core.InvalidInput(fmt.Errorf("%s has shape %v; features are [N, D], one row per sample", path, h.Shape))
	case h.FortranOrder:
		return core.InvalidInput(fmt.Errorf("%s is in Fortran order; save it with numpy.ascontiguousarray", path))
	case !slices.Contains([]string{"<f4", "=f4", "<f8", "=f8", "<f2", "=f2"}, h.DType):
		return core.InvalidInput(fmt.Errorf("%s holds %s values; features are float32 (float64 and float16 are converted)", path, h.DType))
	}
	n, d := h.Shape[0], h.Shape[1]
	if d != m.D {
		return core.InvalidInput(fmt.Errorf("%s holds features of dimension %d, but the run's heads take the %d-dimensional embeddings of its backbone %s (%s)", path, d, m.D, m.Record.Inputs.Backbone.Name, m.Record.Inputs.Backbone.Identity))
	}
	if err := checkFeatureBackbone(path, m); err != nil {
		return err
	}
	size, _ := h.DataSize()
	if h.DataOffset+size != st.Size() {
		return core.InvalidInput(fmt.Errorf("%s: its header announces %d bytes of data, the file has %d (truncated or damaged)", path, size, st.Size()-h.DataOffset))
	}
	item, _ := h.ItemSize()
	so, err := out.split("", "", n, false)
	if err != nil {
		return err
	}
	p := log.Progress("assign features", "row", n)
	defer p.Stop()
	buf := make([]byte, featureBatch*d*item)
	clusters, probs := make([]int32, featureBatch), make([]float32, featureBatch*m.K)
	for done := 0; done < n; {
		if err := ctx.Err(); err != nil {
			return err
		}
		rows := min(featureBatch, n-done)
		if _, err := io.ReadFull(br, buf[:rows*d*item]); err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		x, err := npy.ToFloat32(npy.Header{DType: h.DType, Shape: []int{rows, d}}, buf[:rows*d*item])
		if err != nil {
			return err
		}
		if i := firstNonFinite(x); i >= 0 {
			return core.InvalidInput(fmt.Errorf("%s: row %d holds a non-finite value", path, done+i/d))
		}
		if err := hd.Assign(x, rows, clusters[:rows], probs[:rows*m.K]); err != nil {
			return err
		}
		if err := so.add(clusters[:rows], probs[:rows*m.K], nil); err != nil {
			return err
		}
		done += rows
		p.Set(done, "")
	}
	p.Done(fmt.Sprintf("%d rows, head %d", n, hd.Index))
	return nil
}

// firstNonFinite is the index of x's first NaN or infinity, -1 when all
// are finite: the head would turn one into a cluster silently.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i
		}
	}
	return -1
}

// checkFeatureBackbone compares the backbone identity a store meta.json
// beside the features records (the cache writes one next to its arrays)
// with the run's.
func checkFeatureBackbone(path string, m *headmodel.Model) error {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), store.MetaFile))
	if err != nil {
		return nil // features from elsewhere: only their dimension is checked
	}
	var meta store.Meta
	if json.Unmarshal(b, &meta) != nil {
		return nil
	}
	if _, ok := meta.Arrays[strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))]; !ok {
		return nil // a meta.json about other files
	}
	got, ok := meta.Identity["backbone_identity"]
	if want := m.Record.Inputs.Backbone.Identity; ok && got != want {
		return core.InvalidInput(fmt.Errorf("%s was computed by backbone %s (%s, says the meta.json beside it), but the run's heads were trained on backbone %s (%s): assign features of the run's own backbone",
			path, meta.Identity["backbone"], got, m.Record.Inputs.Backbone.Name, want))
	}
	return nil
}

// assignConfig is the run's config with its dataset replaced by the images
// dataset reading input (and the --set dataset.* options), the backbone's
// options changed by --set backbone.* (which must leave its identity as
// it was). Errors name config.yaml's lines, the --set flags, or INPUT.
func assignConfig(runDir, input string, sets []string) (*config.Config, error) {
	var dsSets, bbSets []string
	for _, s := range sets {
		key, _, _ := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		switch {
		case key == "dataset."+imagesRoot || key == "dataset.plugin" || key == "dataset":
			return nil, usageError{fmt.Sprintf("--set %s: INPUT gives the images (the images dataset's %s)", s, imagesRoot)}
		case strings.HasPrefix(key, "dataset."):
			dsSets = append(dsSets, s)
		case strings.HasPrefix(key, "backbone.") && key != "backbone.plugin":
			bbSets = append(bbSets, s)
		default:
			return nil, usageError{fmt.Sprintf("--set %s: assign takes options of the images dataset (dataset.KEY=VALUE) and of the run's backbone (backbone.KEY=VALUE; its identity must stay the run's)", s)}
		}
	}
	path := filepath.Join(runDir, rundir.ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, core.InvalidInput(fmt.Errorf("read the run's config: %w", err))
	}
	// The environment's CLUSTERLAB_* variables are left out: the run's
	// config is complete as it ran.
	cfg, err := config.LoadBytes(path, raw, []string{}, config.Overrides{Sets: bbSets})
	if err != nil {
		return nil, err
	}
	// The --set dataset.* flags, parsed as config values are, with their
	// sources.
	ds, err := config.LoadBytes("INPUT", []byte("dataset: {plugin: images}\nbackbone: {plugin: none}\nloss: {plugin: none}\n"), []string{}, config.Overrides{Sets: dsSets})
	if err != nil {
		return nil, err
	}
	for k := range cfg.Sources {
		if k == "dataset" || strings.HasPrefix(k, "dataset.") {
			delete(cfg.Sources, k)
		}
	}
	inputSrc := config.Source{Kind: config.FromFile, File: "INPUT " + input}
	cfg.Sources["dataset"], cfg.Sources["dataset.plugin"], cfg.Sources["dataset."+imagesRoot] = inputSrc, inputSrc, inputSrc
	opts := core.Options{imagesRoot: input}
	for k, v := range ds.Dataset.Options {
		opts[k] = v
		cfg.Sources["dataset."+k] = ds.SourceOf("dataset." + k)
	}
	cfg.Dataset = config.Section{Name: "dataset", Plugin: imagesPlugin, Options: opts}
	// Nothing here runs on a backend; the run's may be absent.
	cfg.Backend = "go"
	return cfg, nil
}

// assignImages embeds INPUT's images with the run's backbone, split by
// split, and assigns them as the embeddings come back.
func assignImages(ctx context.Context, m *headmodel.Model, hd *headmodel.Head, runDir, input string, sets []string,
	out *assignOutput, rec *rundir.AssignRecord, log trialLog) error {
	cfg, err := assignConfig(runDir, input, sets)
	if err != nil {
		return err
	}
	p, err := planAssign(ctx, cfg)
	if err != nil {
		return err
	}
	space := p.spaces[0]
	if got, want := space.info.Identity, m.Record.Inputs.Backbone.Identity; got != want {
		return core.InvalidInput(fmt.Errorf("the backbone as configured now (%s, %s) is not the one the run trained on (%s, %s): its model, options or version changed; assign needs the run's own backbone",
			space.info.Name, got, m.Record.Inputs.Backbone.Name, want))
	}
	ds := p.ds.ref()
	rec.Dataset = &ds
	for _, s := range p.dsInfo.Skipped {
		rec.Skipped = append(rec.Skipped, rundir.AssignSkipped{Split: s.Split, Name: s.Name, Reason: s.Reason})
	}
	if n := len(p.dsInfo.Skipped); n > 0 {
		log.Logf("note: %d unreadable images left out (listed in %s)", n, rundir.AssignRecordFile)
	}
	stateDir := ""
	if space.info.NeedsFit {
		if stateDir, err = fittedState(m, cfg, space.info.Name); err != nil {
			return err
		}
	}
	var pl launched
	defer pl.kill()
	if err := launchDataset(ctx, p, &pl); err != nil {
		return err
	}
	if pl.bb, err = launch(ctx, core.KindBackbone, space.bb); err != nil {
		return err
	}
	names := make([]string, 0, len(p.dsInfo.Splits))
	counts := map[string]int{}
	for _, s := range p.dsInfo.Splits {
		names, counts[s.Name] = append(names, s.Name), s.Count
	}
	rundir.SortSplits(names)
	for _, split := range names {
		sub := ""
		if len(names) > 1 {
			sub = split
		}
		so, err := out.split(split, sub, counts[split], true)
		if err != nil {
			return err
		}
		if err := assignSplit(ctx, p, pl, hd, m, stateDir, split, counts[split], so, log); err != nil {
			return err
		}
	}
	return nil
}

// planAssign resolves the dataset and backbone sections of an assign as
// planning resolves a trial's (runner/plan.go: the options each plugin
// has picked from its section, described by the plugin, its defaults
// filled in, errors naming the key and its source), without the checks
// that concern training: the input needs no train split, and the bounds
// of options against the input's images do not apply (a backbone fitted
// on the run's train split is not fitted again).
func planAssign(ctx context.Context, cfg *config.Config) (*trialPlan, error) {
	b := newPluginBook(ctx)
	defer b.close()
	var errs []error
	section := func(sec config.Section, kind string) (plannedPlugin, describeResult) {
		pp, r, _, es := b.planSection(cfg, sec, kind, nil)
		errs = append(errs, es...)
		return pp, r
	}
	p := &trialPlan{cfg: cfg}
	var dr describeResult
	p.ds, dr = section(cfg.Dataset, core.KindDataset)
	// The run's backbone: its one backbone: section, or the space it used.
	bb, br := section(cfg.SpacesUsed()[0], core.KindBackbone)
	p.dsInfo = dr.ds
	p.spaces = []plannedSpace{{name: br.bb.Name, bb: bb, info: br.bb, used: true}}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, &planError{trials: 1, bad: []trialErrors{{trial: "assign", errs: errs}}}
	}
	return p, nil
}

// fittedState is the store entry of the backbone state the run's backbone
// was fitted to (the run's dataset and backbone identities key it, in the
// store the run used).
func fittedState(m *headmodel.Model, cfg *config.Config, backbone string) (string, error) {
	root := cfg.CacheDir
	if a, ok := m.Record.Inputs.Embeddings[core.SplitTrain]; ok && filepath.IsAbs(a.Path) {
		// The run's store, wherever the command runs.
		root = store.RootOf(a.Path)
	}
	ds, bb := m.Record.Inputs.Dataset, m.Record.Inputs.Backbone
	e := backboneStateEntry(&store.Store{Root: root}, ds.Name, ds.Identity, backbone, bb.Identity)
	if _, err := e.Load(); err != nil {
		return "", core.InvalidInput(fmt.Errorf("backbone %s was fitted on the run's train split, and that fitted state is not in the cache (%s: %v): run `clusterlab embed %s` from the folder the run was started in, which fits it again",
			backbone, e.Dir, err, filepath.Join(m.Dir, rundir.ConfigFile)))
	}
	return e.Dir, nil
}

// namedDataset keeps the names of the images read and not yet assigned
// (the dataset reads ahead of the backbone).
type namedDataset struct {
	core.Dataset
	mu    sync.Mutex
	names map[int]string
}

func (d *namedDataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	return d.Dataset.Read(ctx, req, func(b core.ImageBatch) error {
		d.mu.Lock()
		for i, n := range b.Names {
			d.names[b.Offset+i] = n
		}
		d.mu.Unlock()
		return send(b)
	})
}

// take returns the names of rows offset .. offset+n-1 and forgets them.
func (d *namedDataset) take(offset, n int) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, n)
	for i := range out {
		out[i] = d.names[offset+i]
		delete(d.names, offset+i)
	}
	return out
}

// assignSplit streams one split through the dataset and backbone plugins
// and the head.
func assignSplit(ctx context.Context, p *trialPlan, pl launched, hd *headmodel.Head, m *headmodel.Model, stateDir, split string, n int,
	so *splitOutput, log trialLog) error {
	ds := &namedDataset{Dataset: pl.ds.Dataset(), names: map[int]string{}}
	bar := log.Progress("assign "+split, "img", n)
	defer bar.Stop()
	rd := newDatasetReader(ctx, ds, p.ds.resolved, split, readBatchSize(p.dsInfo), n, nil)
	defer rd.Close()
	var clusters []int32
	var probs []float32
	got := 0
	err := pl.bb.Backbone().Embed(ctx, core.EmbedRequest{Options: p.spaces[0].bb.resolved, StateDir: stateDir, Dataset: p.dsInfo, Split: split}, rd, func(b core.EmbeddingBatch) error {
		if b.Dim != m.D {
			return core.InvalidInput(fmt.Errorf("backbone %s gave embeddings of dimension %d, the run's heads take %d", p.spaces[0].info.Name, b.Dim, m.D))
		}
		if b.Offset != got || b.Offset+b.Count > n || len(b.Values) != b.Count*b.Dim {
			return fmt.Errorf("backbone %s sent a bad batch (offset %d, count %d, %d values; expected offset %d)", p.spaces[0].info.Name, b.Offset, b.Count, len(b.Values), got)
		}
		names := ds.take(b.Offset, b.Count)
		if i := firstNonFinite(b.Values); i >= 0 {
			return core.InvalidInput(fmt.Errorf("backbone %s produced a non-finite feature for image %d of split %s (%s)", p.spaces[0].info.Name, b.Offset+i/b.Dim, split, names[i/b.Dim]))
		}
		if cap(clusters) < b.Count {
			clusters, probs = make([]int32, b.Count), make([]float32, b.Count*m.K)
		}
		c, pr := clusters[:b.Count], probs[:b.Count*m.K]
		if err := hd.Assign(b.Values, b.Count, c, pr); err != nil {
			return err
		}
		if err := so.add(c, pr, names); err != nil {
			return err
		}
		got += b.Count
		bar.Set(got, "")
		return nil
	})
	if err != nil {
		return fmt.Errorf("assign split %s: %w", split, err)
	}
	if got != n {
		return fmt.Errorf("backbone %s returned %d embeddings for %d images of split %s", p.spaces[0].info.Name, got, n, split)
	}
	bar.Done(fmt.Sprintf("%d images, head %d", n, hd.Index))
	return nil
}

func newAssignCmd() *cobra.Command {
	var o assignOptions
	cmd := &cobra.Command{
		Use:     "assign RUN_DIR INPUT",
		GroupID: groupResults,
		Short:   "Apply a finished run's head to new images or features",
		Long: `Apply the selected head of a finished run (or --head N) to new inputs:

  images     a folder (class folders, a flat folder, train/ test/ val/
             split folders) or a list file (.csv, .tsv, .txt), read by the
             images dataset plugin (option root = INPUT; its other options
             with --set dataset.KEY=VALUE) and embedded by the run's own
             backbone, whose identity must be the run's;
  features   a .npy [N, D] of the run's backbone's embeddings (float32;
             float64 and float16 are converted), e.g. from clusterlab embed.

A backbone fitted on the run's train split (pixels with PCA) uses the
fitted state the run used, from the run's cache. The head runs on the CPU
in float64, a batch at a time: on the run's own embeddings it reproduces
assign_<split>.npy and probs_<split>.npy.

For each split of the input (in a folder named after the split when there
are several) it writes clusters.npy ([N] int32), probs.npy ([N, K]
float32, softmax of the logits over teacher_temp) and assignments.csv
(index,path,cluster,probability; no path for features), then assign.json
(the run, head, input, backbone, cluster sizes, times). The default folder
is RUN_DIR/assigned/<INPUT's name>; files appear only once complete, and
an interrupted assign leaves nothing behind.`,
		Example: `  clusterlab assign runs/photos_temi/seed0-1a2b3c4d new_photos/
  clusterlab assign runs/photos_temi/seed0-1a2b3c4d list.csv --out assigned_list
  clusterlab assign runs/mnist_temi/seed0-70f5a2ee features.npy --head 2
  clusterlab assign RUN_DIR photos/ --set dataset.on_error=skip --set backbone.device=cuda`,
		Args:              exactArgs(2, "assign takes a RUN_DIR and an INPUT (a folder or list file of images, or a .npy of features)"),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdAssign(cmd.Context(), args[0], args[1], o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.out, "out", "", "the `DIR` to write into (default RUN_DIR/assigned/<INPUT's name>)")
	f.StringVar(&o.head, "head", "best", "the head to apply: best (the run's selected head) or its number `H`")
	f.StringArrayVar(&o.sets, "set", nil, "an option of the images dataset (`dataset.KEY=VALUE`) or of the run's backbone (backbone.KEY=VALUE, such as device or batch_size; the identity must stay the run's); repeatable")
	cmd.RegisterFlagCompletionFunc("head", cobra.NoFileCompletions)
	cmd.RegisterFlagCompletionFunc("set", cobra.NoFileCompletions)
	return cmd
}
