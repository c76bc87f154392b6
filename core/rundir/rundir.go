// Package rundir owns the run directory: the names of its files and the
// schemas of the two records every reader starts from, metrics.json (the
// scores of a finished run) and run.json (what the run is, what it read and
// where it stands: running, finished, failed or interrupted).
//
// A run directory is runs/<experiment>/<trial>/. Everything in it is written
// through a temporary file and a rename, so a reader never sees half a file.
// Arrays are .npy files (NumPy format), readable with numpy.load.
package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/npy"
)

// File names in a run directory.
const (
	// ConfigFile is the fully resolved config of the trial (plugin defaults
	// filled in, options no plugin of the trial uses left out).
	ConfigFile = "config.yaml"
	// RecordFile is run.json (Record): identity, inputs and status.
	RecordFile = "run.json"
	// MetricsFile is metrics.json (Metrics); it exists only once the run
	// has finished.
	MetricsFile = "metrics.json"
	// HistoryFile has one JSON object per epoch (EpochRecord).
	HistoryFile = "history.jsonl"
	// TensorBoardDir holds the run's TensorBoard event files
	// (core/tbevents): the trainer's per-step and per-epoch scalars, then
	// the runner's end-of-run images, histograms and baselines.
	TensorBoardDir = "tensorboard"
	// ScheduleFile has the trainer's schedules at step resolution (CSV).
	ScheduleFile = "schedule.csv"
	// CheckpointFile is the trainer's checkpoint (.npz).
	CheckpointFile = "checkpoint.npz"
	// TablesText and TablesMarkdown are the rendered run tables.
	TablesText     = "tables.txt"
	TablesMarkdown = "tables.md"
	// DatasetFile is dataset.json (Dataset): the dataset's class names.
	DatasetFile = "dataset.json"
	// SkippedFile lists the files the dataset left out because they could
	// not be read as images (its skip option), as CSV (SkippedHeader);
	// absent when none were.
	SkippedFile  = "skipped.csv"
	MarkdownFile = "report.md"
	HTMLFile     = "report.html"
	LossPlot     = "plot_loss.png"
	SchedulePlot = "plot_schedule.png"
	// SweepTablesText and SweepTablesMarkdown are a sweep's tables, in its
	// experiment directory.
	SweepTablesText     = "sweep_tables.txt"
	SweepTablesMarkdown = "sweep_tables.md"
	// SkippedDir holds run directories a newer run of the same trial name
	// replaced because their identity differed (experiment level).
	SkippedDir = ".superseded"
)

// AssignFile is the [heads, N] int32 cluster of every head of a split.
func AssignFile(split string) string { return "assign_" + split + ".npy" }

// ProbsFile is the selected head's [N, K] float32 cluster probabilities of
// a split (the teacher's softmax at the final teacher temperature).
func ProbsFile(split string) string { return "probs_" + split + ".npy" }

// LegacyProbsFile is what runs before format 2 wrote instead of ProbsFile:
// the selected head's top probability per row, [N] float32.
func LegacyProbsFile(split string) string { return "probs_" + split + "_best.npy" }

// KMeansFile is the [N] int32 k-means cluster of a split.
func KMeansFile(split string) string { return "kmeans_" + split + ".npy" }

// LabelsFile is the [N] int32 ground truth of a split (-1: unknown).
func LabelsFile(split string) string { return "labels_" + split + ".npy" }

// ClustersFile is the spreadsheet view of a split's clustering: a CSV with
// one row per sample (ClustersHeader), in the split's order.
func ClustersFile(split string) string { return "clusters_" + split + ".csv" }

// ClustersHeader is the header of ClustersFile: the sample's index in its
// split, its name (the file, for image folders; empty when the dataset
// names none), its class name (empty when unknown), the selected head's
// cluster and that cluster's probability (empty when the loss gave none).
var ClustersHeader = []string{"index", "name", "label", "cluster", "probability"}

// SkippedHeader is the header of SkippedFile.
var SkippedHeader = []string{"split", "name", "reason"}

// SizesPlot, ConfusionPlot and GalleryFile are a split's pictures.
func SizesPlot(split string) string     { return "plot_cluster_sizes_" + split + ".png" }
func ConfusionPlot(split string) string { return "plot_confusion_" + split + ".png" }
func GalleryFile(split string) string   { return "gallery_" + split + ".png" }

// Format is the version of run.json and of the directory's layout. 1 was
// the layout without run.json; 2 added run.json and probs_<split>.npy.
const Format = 2

// Run states in run.json.
const (
	StatusRunning     = "running"
	StatusFinished    = "finished"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Record is run.json: what the trial is, what it read and where it stands.
// It is written when the run starts and rewritten when it finishes, fails
// or is interrupted.
type Record struct {
	Format     int    `json:"format"`
	Experiment string `json:"experiment"`
	Trial      string `json:"trial"`
	// Identity is the sha256 of the resolved config and the identities of
	// every input (see Inputs): the same identity means the same numbers.
	Identity string `json:"identity"`
	Status   string `json:"status"`
	// Error is the reason a failed or interrupted run stopped.
	Error string `json:"error,omitempty"`
	// ExitStatus is the status the runner exited with for this run (0, 1,
	// 2 or 130), once it stopped.
	ExitStatus int       `json:"exit_status,omitempty"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	Host       string    `json:"host,omitempty"`
	PID        int       `json:"pid,omitempty"`
	Seed       int64     `json:"seed"`
	// Sweep is set for the trials of a sweep.
	Sweep *SweepInfo `json:"sweep,omitempty"`
	// Inputs are the identities of everything the trial reads.
	Inputs Inputs `json:"inputs"`
	// Unused lists options the config gave that no plugin of this trial
	// uses (options of another plugin of the same kind).
	Unused []Unused `json:"unused,omitempty"`
}

// SweepInfo places a trial in its sweep.
type SweepInfo struct {
	// Index is the trial's position in the sweep, in config order.
	Index int `json:"index"`
	// Variant is the value of each swept key in this trial; VariantName
	// names the variant (every seed of it shares the name).
	Variant     map[string]any `json:"variant,omitempty"`
	VariantName string         `json:"variant_name"`
}

// Inputs are the identities of everything a trial reads.
type Inputs struct {
	Dataset Plugin `json:"dataset"`
	// Backbone is the backbone of a single-space run (config backbone:);
	// a run of several spaces (backbones:) lists them in Spaces instead.
	Backbone Plugin  `json:"backbone"`
	Spaces   []Space `json:"spaces,omitempty"`
	Loss     Plugin  `json:"loss"`
	// Embeddings and Neighbours are filled in once computed or found in
	// the store: their checksums, so a reader can tell two runs' features
	// apart even across machines.
	Embeddings map[string]Array `json:"embeddings,omitempty"`
	Neighbours *Array           `json:"neighbours,omitempty"`
}

// Space is one representation space of a run of several (config
// backbones:): its name, its backbone, and whether the run's methods used
// it (config space: picks one; by default all are used).
type Space struct {
	Name     string `json:"name"`
	Backbone Plugin `json:"backbone"`
	Used     bool   `json:"used"`
}

// SpacesUsed names the spaces a run's methods used, in order: those of
// Spaces marked used, or, for a single-space run, its backbone's name.
func (in Inputs) SpacesUsed() []string {
	if len(in.Spaces) == 0 {
		if in.Backbone.Name == "" {
			return nil
		}
		return []string{in.Backbone.Name}
	}
	var out []string
	for _, s := range in.Spaces {
		if s.Used {
			out = append(out, s.Name)
		}
	}
	return out
}

// UsedBackbone is the backbone of a run whose methods used one space: its
// Backbone, or the one space of Spaces marked used; false when they used
// several.
func (in Inputs) UsedBackbone() (Plugin, bool) {
	if len(in.Spaces) == 0 {
		return in.Backbone, true
	}
	var used []Plugin
	for _, s := range in.Spaces {
		if s.Used {
			used = append(used, s.Backbone)
		}
	}
	if len(used) != 1 {
		return Plugin{}, false
	}
	return used[0], true
}

// Plugin is one plugin of a trial as it described itself.
type Plugin struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Identity string `json:"identity"`
	// ID is a short digest of Identity, for tables.
	ID string `json:"id"`
}

// Array is an array of the store a trial read.
type Array struct {
	Path   string `json:"path"`
	Shape  []int  `json:"shape"`
	SHA256 string `json:"sha256"`
}

// Unused is an option the config gave that the trial's plugin does not
// have, and the plugins of the same kind that do.
type Unused struct {
	Key    string   `json:"key"`
	Source string   `json:"source"`
	Of     []string `json:"of"`
}

// Result is one row of metrics.json: one method, one selection of its
// heads, one split.
type Result struct {
	Method    string `json:"method"`    // temi, kmeans, knn-classifier, ...
	Selection string `json:"selection"` // best-head, head-3, all (baselines), k=20
	Split     string `json:"split"`
	metrics.Scores
	// MajorityACC maps each cluster to its most frequent class (many to
	// one), as the TEMI authors report over-clustering; ACC is always the
	// one-to-one Hungarian matching.
	MajorityACC float64 `json:"majority_acc"`
	// Silhouette is the label-free quality of the assignment: scikit-learn's
	// silhouette score (Euclidean) of the split's L2-normalised embeddings
	// on a seeded sample of at most SilhouetteRows rows. NaN when it was
	// not computed or is undefined (one cluster used).
	Silhouette float64 `json:"silhouette"`
	// Generalization is TURTLE's label-free generalization score of the
	// method's TRAIN assignment (the same value on every split's result of
	// that method and selection): the held-out accuracy of a multinomial
	// logistic regression (L2, C = 1) fitted to the assignment with 10-fold
	// stratified cross-validation, averaged over the folds and the spaces
	// the run used (core/selection). A higher score is a labelling a
	// linear classifier learns better. NaN when not computed.
	Generalization float64 `json:"generalization"`
	Supervised     bool    `json:"supervised,omitempty"` // uses labels (upper reference)
}

// SilhouetteRows bounds the rows of a split the silhouette is computed on.
const SilhouetteRows = 2000

// Labelled reports whether the label metrics of r were computed: some
// sample of its split had a label.
func (r Result) Labelled() bool { return r.Unlabelled < r.N }

// Metrics is metrics.json of a finished run.
type Metrics struct {
	// Format is the run directory's format (Format); 0 in runs written
	// before it was recorded.
	Format int `json:"format,omitempty"`
	// Provenance says what produced the results.
	Provenance *Provenance `json:"provenance,omitempty"`
	Experiment string      `json:"experiment"`
	Trial      string      `json:"trial"`
	Loss       string      `json:"loss"`
	Backend    string      `json:"backend"`
	BestHead   int         `json:"best_head"`
	HeadLosses []float64   `json:"head_losses"`
	Classes    int         `json:"classes"`
	Clusters   int         `json:"clusters"`
	// Variant and VariantName are set for the trials of a sweep (a copy
	// of run.json's, so metrics.json alone still re-renders a table).
	Variant     map[string]any     `json:"variant,omitempty"`
	VariantName string             `json:"variant_name,omitempty"`
	Seed        int64              `json:"seed"`
	Results     []Result           `json:"results"`
	Seconds     map[string]float64 `json:"seconds"`
	Finished    time.Time          `json:"finished"`
	// LabelsAdded records labels given after the run (`clusterlab score
	// RUN_DIR --labels ... --save`): the label metrics of those splits
	// are against them.
	LabelsAdded []LabelsAdded `json:"labels_added,omitempty"`
}

// LabelsAdded is one labels file given after a run.
type LabelsAdded struct {
	Split    string    `json:"split"`
	File     string    `json:"file"` // as given, made absolute
	SHA256   string    `json:"sha256"`
	Labelled int       `json:"labelled"` // samples of the split it labelled
	Added    time.Time `json:"added"`
}

// Provenance says what produced a run's results: the clusterlab build,
// the backend and each plugin as it described itself.
type Provenance struct {
	Clusterlab Build  `json:"clusterlab"`
	Backend    string `json:"backend"`
	Dataset    Plugin `json:"dataset"`
	Backbone   Plugin `json:"backbone"`
	Loss       Plugin `json:"loss"`
}

// Build identifies the clusterlab runner that wrote a run.
type Build struct {
	// Version is the module version ("devel" for a build from a working
	// tree); Commit the VCS revision ("unknown" without VCS information),
	// Modified whether the tree had changes.
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// Run is a run directory as read back: its record, and its metrics when it
// finished.
type Run struct {
	Dir     string
	Record  Record
	Metrics *Metrics // nil unless finished
}

// Finished reports whether the run finished and its metrics were read.
func (r Run) Finished() bool { return r.Metrics != nil && r.Record.Status == StatusFinished }

// ErrNotRun marks a directory that holds neither run.json nor metrics.json.
var ErrNotRun = errors.New("not a run directory")

// Read reads a run directory. A directory of format 1 (metrics.json
// without run.json) reads as a finished run without identity. A run.json
// that says finished while metrics.json is missing or damaged is an error.
func Read(dir string) (Run, error) {
	run := Run{Dir: dir}
	rb, rerr := os.ReadFile(filepath.Join(dir, RecordFile))
	mb, merr := os.ReadFile(filepath.Join(dir, MetricsFile))
	if errors.Is(rerr, fs.ErrNotExist) && errors.Is(merr, fs.ErrNotExist) {
		return run, fmt.Errorf("%s: %w (no %s, no %s)", dir, ErrNotRun, RecordFile, MetricsFile)
	}
	if rerr == nil {
		if err := json.Unmarshal(rb, &run.Record); err != nil {
			return run, fmt.Errorf("%s is damaged: %w; delete the run directory to rerun the trial", filepath.Join(dir, RecordFile), err)
		}
	} else if !errors.Is(rerr, fs.ErrNotExist) {
		return run, fmt.Errorf("read %s: %w", filepath.Join(dir, RecordFile), rerr)
	}
	if merr == nil {
		var m Metrics
		if err := json.Unmarshal(mb, &m); err != nil {
			return run, fmt.Errorf("%s is damaged: %w; delete the run directory to rerun the trial", filepath.Join(dir, MetricsFile), err)
		}
		run.Metrics = &m
		if rerr != nil { // format 1
			run.Record = Record{Format: 1, Experiment: m.Experiment, Trial: m.Trial, Status: StatusFinished,
				Seed: m.Seed, Updated: m.Finished}
			if m.VariantName != "" {
				run.Record.Sweep = &SweepInfo{Index: -1, Variant: m.Variant, VariantName: m.VariantName}
			}
		}
	} else if !errors.Is(merr, fs.ErrNotExist) {
		return run, fmt.Errorf("read %s: %w", filepath.Join(dir, MetricsFile), merr)
	}
	if run.Record.Status == StatusFinished && run.Metrics == nil {
		return run, fmt.Errorf("%s says the run finished but %s is missing; delete the run directory to rerun the trial", filepath.Join(dir, RecordFile), MetricsFile)
	}
	if run.Record.Status != StatusFinished {
		run.Metrics = nil // a rerun that failed after an earlier finish: its metrics are not this run's
	}
	return run, nil
}

// ReadMetrics reads metrics.json of a finished run.
func ReadMetrics(dir string) (Metrics, error) {
	run, err := Read(dir)
	if err != nil {
		return Metrics{}, err
	}
	if !run.Finished() {
		return Metrics{}, fmt.Errorf("%s has not finished (status %s)", dir, run.Record.Status)
	}
	return *run.Metrics, nil
}

// ReadRecord reads run.json alone; a missing file is fs.ErrNotExist.
func ReadRecord(dir string) (Record, error) {
	var r Record
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s is damaged: %w", filepath.Join(dir, RecordFile), err)
	}
	return r, nil
}

// MarshalRecord renders run.json.
func MarshalRecord(r Record) ([]byte, error) {
	r.Format = Format
	b, err := json.MarshalIndent(r, "", "  ")
	return append(b, '\n'), err
}

// MarshalMetrics renders metrics.json, of this Format.
func MarshalMetrics(m Metrics) ([]byte, error) {
	m.Format = Format
	b, err := json.MarshalIndent(m, "", "  ")
	return append(b, '\n'), err
}

// WriteRecord writes run.json atomically.
func WriteRecord(dir string, r Record) error {
	b, err := MarshalRecord(r)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, RecordFile), b)
}

// WriteMetrics writes metrics.json atomically.
func WriteMetrics(dir string, m Metrics) error {
	b, err := MarshalMetrics(m)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, MetricsFile), b)
}

func writeAtomic(path string, b []byte) error {
	return npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// Dataset is dataset.json: the dataset's name and its class names, index =
// label, so that a report can be redrawn from the directory alone.
type Dataset struct {
	Name    string   `json:"name"`
	Classes []string `json:"classes"`
}

// WriteDataset writes ds as dir's dataset.json, atomically.
func WriteDataset(dir string, ds Dataset) error {
	b, err := json.MarshalIndent(ds, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, DatasetFile), append(b, '\n'))
}

// ReadDataset reads dir's dataset.json. An error reading the file is
// returned as the file system gave it (fs.ErrNotExist when there is none);
// content that is not JSON says so.
func ReadDataset(dir string) (Dataset, error) {
	var ds Dataset
	path := filepath.Join(dir, DatasetFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return ds, err
	}
	if err := json.Unmarshal(b, &ds); err != nil {
		return Dataset{}, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	return ds, nil
}

// SortSplits orders split names as every table and report shows them:
// train, test, then the others by name.
func SortSplits(names []string) {
	rank := func(s string) int {
		switch s {
		case "train":
			return 0
		case "test":
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
}

// AssignedSplits lists the splits that have an assignment file in dir, in
// SortSplits order.
func AssignedSplits(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, AssignFile("*")))
	if err != nil {
		return nil, err
	}
	var splits []string
	for _, p := range m {
		if kind, split, ok := SplitFile(filepath.Base(p)); ok && kind == "assign" {
			splits = append(splits, split)
		}
	}
	SortSplits(splits)
	return splits, nil
}

// SplitFile tells a split's assignment file apart: "assign" for
// AssignFile(split), "kmeans" for KMeansFile(split).
func SplitFile(name string) (kind, split string, ok bool) {
	for _, k := range []struct {
		kind string
		file func(string) string
	}{{"assign", AssignFile}, {"kmeans", KMeansFile}} {
		prefix, suffix, _ := strings.Cut(k.file("\x00"), "\x00")
		if s, found := strings.CutPrefix(name, prefix); found {
			if s, found = strings.CutSuffix(s, suffix); found && s != "" {
				return k.kind, s, true
			}
		}
	}
	return "", "", false
}

// IsRunnerTensorBoardTag reports whether a TensorBoard tag is one the
// runner writes at the end of a run (report/..., baselines/...), after the
// trainer: a resumed trainer drops these, and the runner writes them again.
func IsRunnerTensorBoardTag(tag string) bool {
	return strings.HasPrefix(tag, "report/") || strings.HasPrefix(tag, "baselines/")
}
