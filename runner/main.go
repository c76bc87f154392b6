// Command clusterlab is the runner: it reads an experiment config, launches
// the dataset, backbone and loss plugins as separate processes, caches
// embeddings and the k-NN graph, runs the baselines, lets the loss plugin
// train, scores everything and writes the run directory.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/clusterlab/clusterlab/core/hostmem"
	"github.com/clusterlab/clusterlab/core/rundir"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// usageError is bad command-line usage (exit 2): an unknown command or
// flag, a missing or extra argument, a flag value out of its choices.
// mainWithStatus prints the command's usage after it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	// Under a memory cgroup or ulimit, the collector reclaims garbage
	// before the bound rather than run out of memory with it; the stages
	// that run in this process check their live need against the same
	// headroom (see hostmem).
	hostmem.LimitGo()
	os.Exit(mainWithStatus(os.Args[1:], os.Stdout, os.Stderr))
}

// mainWithStatus runs the command line args (without the program name),
// printing on stdout and stderr, and returns the exit status: 0 success,
// 1 failure, 2 bad usage or bad input, 130 interrupted.
func mainWithStatus(args []string, stdout, stderr io.Writer) int {
	// Plugins inherit the environment: hand them the ONNX Runtime library
	// the runner found, so they need not find it from their own folder.
	// backend.PrepareOrt also switches ONNX Runtime's telemetry off (it
	// would leave a file in $TMPDIR per process), for plugins built
	// outside this repository too.
	_, _ = backend.PrepareOrt()
	ctx, stop := signalContext()
	defer stop()
	defer plugins.KillAll()
	cmd, err := executeCLI(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "clusterlab: %v\n", err)
	if core.NoSpace(err) {
		fmt.Fprintln(stderr, "clusterlab: the disk is full (or a file size limit was reached). Files are renamed into place only when complete, so nothing half-written is kept; free some space and run the same command again to resume.")
	}
	if oom := (*outOfMemoryError)(nil); errors.As(err, &oom) {
		fmt.Fprintln(stderr, "clusterlab: "+oom.hint())
	}
	if errors.As(err, new(usageError)) {
		fmt.Fprint(stderr, "\n")
		printUsage(cmd, stderr)
	}
	code := exitStatus(ctx, err)
	if code == exitInterrupted {
		fmt.Fprintln(stderr, "clusterlab: interrupted; plugins stopped. Run the same command again to resume.")
	}
	return code
}

// Exit statuses (README "Commands").
const (
	exitFailure     = 1
	exitBadInput    = 2
	exitInterrupted = 130
)

// exitStatus classifies an error: bad usage or bad input (config, data,
// options) 2, an interrupt 130, anything else 1.
func exitStatus(ctx context.Context, err error) int {
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(usageError)):
		return exitBadInput
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err):
		return exitBadInput
	}
	return exitFailure
}

// signalContext is cancelled by the first SIGINT/SIGTERM (the pipeline
// stops and its plugins are killed); a second signal exits at once.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "\nclusterlab: %v received, stopping (again to stop at once)\n", s)
		cancel()
		<-ch
		plugins.KillAll()
		os.Exit(130)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// runOptions are the flags of `clusterlab run` besides the overrides.
type runOptions struct {
	subset trialSubset
	// executor overrides the config's executor.kind ("": keep it).
	executor string
	// submission is the Slurm submission an array task belongs to.
	submission string
}

// cmdRun is `clusterlab run CONFIG`: one experiment, or every trial of a
// sweep, here or submitted to Slurm.
func cmdRun(ctx context.Context, configFile string, ov config.Overrides, o runOptions, stdout io.Writer) error {
	cfg, err := config.Load(configFile, ov)
	if err != nil {
		return err
	}
	executor := cfg.Executor.Kind
	if o.executor != "" {
		executor = o.executor
	}
	sub := o.subset
	// Every trial is resolved and validated before any work starts, also
	// when this invocation runs a subset: all invocations see one list.
	all, err := planRun(ctx, cfg, true)
	if err != nil {
		return err
	}
	// --trial-index and --shard run their trials here, whatever the
	// config's executor: they are how the executors run trials.
	if executor == config.ExecutorSlurm && sub.all() {
		return submitSlurm(ctx, cfg, configFile, ov, all, stdout)
	}
	plans, err := sub.pick(all)
	if err != nil {
		return err
	}
	if len(plans) == 0 { // a shard of more shards than trials
		logf("note: this shard has none of the %d trial(s); nothing to run", len(all))
		return nil
	}
	if !sub.all() {
		// A subset: the other trials run elsewhere, maybe on other
		// machines sharing the cache and runs directory.
		warnSharedLocks(all)
	}
	if o.submission != "" {
		for _, p := range plans {
			if err := checkSubmitted(o.submission, p); err != nil {
				return err
			}
		}
	}
	if cfg.Sweep != nil {
		dir, err := runSweep(ctx, cfg, plans, all, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nsweep directory: %s\n", dir)
		return nil
	}
	runDir, err := runExperiment(ctx, plans[0], stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nrun directory: %s\n", runDir)
	return nil
}

// tableOptions are the flags of `clusterlab table`.
type tableOptions struct {
	format, split, table string
	noTiming             bool
}

// cmdTable is `clusterlab table RUN_DIR...`: the stored results of runs,
// re-rendered.
func cmdTable(dirs []string, o tableOptions, stdout io.Writer) error {
	if !slices.Contains(tables.Formats, o.format) {
		return usageError{fmt.Sprintf("unknown table format %q: want one of %s", o.format, strings.Join(tables.Formats, ", "))}
	}
	runs, err := loadRuns(dirs)
	if err != nil {
		return core.InvalidInput(err)
	}
	// One run directory is a run table, whatever it belongs to; several
	// are compared, in the order given (a sweep's trials in config order).
	var ts []tables.Table
	if len(runs) == 1 {
		ts, err = tables.Run(runs[0], o.split)
	} else {
		split := o.split
		if split == "" {
			split = "test"
		}
		ts, err = tables.Compare(runs, split)
	}
	if err != nil {
		return err
	}
	if o.noTiming {
		ts = tables.WithoutUnit(ts, tables.UnitSeconds)
	}
	return printTables(stdout, o.format, o.table, ts)
}

// scoreReport is `clusterlab score --json`: every metric of the text form.
type scoreReport struct {
	metrics.Scores
	MajorityACC float64 `json:"majority_acc"`
	// Head is the row of a [heads, N] assignment that was scored.
	Head   *int   `json:"head,omitempty"`
	Labels string `json:"labels"`
	Pred   string `json:"pred"`
}

// MarshalJSON writes the metrics that are not numbers (no labelled
// sample) as null, as metrics.json does.
func (r scoreReport) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(rundir.Result{Scores: r.Scores, MajorityACC: r.MajorityACC, Silhouette: math.NaN(), Generalization: math.NaN()})
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"method", "selection", "split", "silhouette"} {
		delete(m, k)
	}
	m["labels"], m["pred"] = r.Labels, r.Pred
	if r.Head != nil {
		m["head"] = *r.Head
	}
	return json.Marshal(m)
}

// scoreOptions are the flags of `clusterlab score`: each may be given at
// most once (--pred exactly once).
type scoreOptions struct {
	labels, pred, head []string
	json               bool
}

// scoreUsage is the usage error of a score command line that does not
// name its files once each.
var scoreUsage = usageError{"score needs --pred FILE and --labels FILE (.npy int arrays or text, one integer per line); --head H picks a row of a run's assign_<split>.npy; or score RUN_DIR --labels [SPLIT=]FILE scores a finished run against labels that came later"}

// cmdScore is `clusterlab score`: the metrics of any assignment.
func cmdScore(o scoreOptions, stdout io.Writer) error {
	if len(o.labels) > 1 || len(o.pred) != 1 || len(o.head) > 1 {
		return scoreUsage
	}
	last := func(v []string) string {
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	predPath := o.pred[0]
	heads, err := metrics.ReadHeads(predPath)
	if err != nil {
		return err
	}
	rep := scoreReport{Pred: predPath}
	p := heads[0]
	if len(heads) > 1 || len(o.head) > 0 {
		h, err := pickHead(predPath, len(heads), last(o.head))
		if err != nil {
			return err
		}
		p, rep.Head = heads[h], &h
	}
	rep.Labels = last(o.labels)
	if rep.Labels == "" {
		// A run's own assignment: its labels are beside it.
		split, ok := runSplitOf(predPath)
		if !ok {
			return usageError{"score needs --labels FILE (the true classes, one per sample)"}
		}
		rep.Labels = filepath.Join(filepath.Dir(predPath), rundir.LabelsFile(split))
	}
	y, err := metrics.ReadAssignment(rep.Labels)
	if err != nil {
		return err
	}
	if len(y) != len(p) {
		return fmt.Errorf("%w: %s has %d labels but %s has %d predictions", core.ErrInvalidInput, rep.Labels, len(y), predPath, len(p))
	}
	rep.Scores, rep.MajorityACC, err = metrics.ScoreKnown(y, p)
	if err != nil {
		return core.InvalidInput(err)
	}
	if o.json {
		return writeJSON(stdout, rep)
	}
	caption := fmt.Sprintf("%d samples, %d clusters used (sizes %d..%d)", rep.N, rep.ClustersUsed, rep.Smallest, rep.Largest)
	if rep.Unlabelled > 0 {
		caption += fmt.Sprintf("; %d samples without a label (-1) left out of the label metrics", rep.Unlabelled)
	}
	if rep.Head != nil {
		caption += fmt.Sprintf(", head %d of %s", *rep.Head, predPath)
	}
	t := tables.Table{Name: "score", Caption: caption, Columns: []tables.Column{
		{Key: "acc", Title: "ACC", Kind: tables.KindPercent, Unit: tables.UnitFraction},
		{Key: "nmi", Title: "NMI", Kind: tables.KindPercent, Unit: tables.UnitFraction},
		{Key: "ari", Title: "ARI", Kind: tables.KindPercent, Unit: tables.UnitFraction},
		{Key: "ami", Title: "AMI", Kind: tables.KindPercent, Unit: tables.UnitFraction},
		{Key: "majority_acc", Title: "majority ACC", Kind: tables.KindPercent, Unit: tables.UnitFraction},
	}, Rows: [][]tables.Cell{{tables.Percent(rep.ACC), tables.Percent(rep.NMI), tables.Percent(rep.ARI), tables.Percent(rep.AMI), tables.Percent(rep.MajorityACC)}},
		Notes: []string{"metrics in %; ACC: one-to-one Hungarian matching; majority ACC maps each cluster to its most frequent class."}}
	return tables.Render(stdout, "text", []tables.Table{t})
}

// pickHead chooses the row of a [heads, N] assignment: --head when given,
// else the head the run selected (best_head of the metrics.json beside it).
func pickHead(predPath string, n int, flag string) (int, error) {
	if flag != "" {
		h, err := strconv.Atoi(flag)
		if err != nil || h < 0 || h >= n {
			return 0, usageError{fmt.Sprintf("--head %q: want a head from 0 to %d (%s holds %d heads)", flag, n-1, predPath, n)}
		}
		return h, nil
	}
	mf, err := rundir.ReadMetrics(filepath.Dir(predPath))
	if err != nil {
		return 0, core.InvalidInput(fmt.Errorf("%s holds %d heads and no finished run beside it says which was selected (%v); choose one with --head", predPath, n, err))
	}
	if mf.BestHead < 0 || mf.BestHead >= n {
		return 0, core.InvalidInput(fmt.Errorf("%s says head %d was selected, but %s holds %d heads; choose one with --head", filepath.Join(filepath.Dir(predPath), rundir.MetricsFile), mf.BestHead, predPath, n))
	}
	return mf.BestHead, nil
}

// runSplitOf tells the split of a run directory's assignment file
// (assign_<split>.npy or kmeans_<split>.npy) that has its labels beside it.
func runSplitOf(path string) (string, bool) {
	_, split, ok := rundir.SplitFile(filepath.Base(path))
	if !ok {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), rundir.LabelsFile(split))); err != nil {
		return "", false
	}
	return split, true
}

// cmdPlugins is `clusterlab plugins`: the installed plugins, launched to
// describe themselves, and with options their option schemas.
func cmdPlugins(ctx context.Context, options bool, format string, stdout io.Writer) error {
	list, err := plugins.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no plugins found; build them with `make build` or set CLUSTERLAB_PLUGIN_PATH")
		return nil
	}
	var rows [][]string
	for _, p := range list {
		summary := p.Summary
		if p.Err != nil {
			summary = "ERROR: " + p.Err.Error()
		}
		rows = append(rows, []string{p.Kind, p.Name, p.Version, summary, p.Path})
	}
	ts := []tables.Table{textTable("plugins", "installed plugins", []string{"kind", "name", "version", "summary", "path"}, rows)}
	if options {
		for _, p := range list {
			if p.Err != nil {
				continue
			}
			c, err := plugins.Launch(ctx, p.Kind, p.Path)
			if err != nil {
				return err
			}
			ts = append(ts, optionsTable(p.Kind, p.Name, c.Description().Options))
			c.Kill()
		}
	}
	if err := tables.Render(stdout, format, ts); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// optionsTable documents a plugin's option schema: the keys of its config
// section.
func optionsTable(kind, name string, opts []core.Option) tables.Table {
	var rows [][]string
	for _, o := range opts {
		def := "(required)"
		switch {
		case o.DefaultFrom != "":
			def = "= " + o.DefaultFrom
		case o.Default != nil:
			def = fmt.Sprint(o.Default)
		case o.Optional:
			def = "(unset)"
		}
		rng := ""
		switch {
		case len(o.Choices) > 0:
			rng = strings.Join(o.Choices, "|")
		case o.Min != nil && o.Max != nil:
			rng = fmt.Sprintf("[%g, %g]", *o.Min, *o.Max)
		case o.Min != nil:
			rng = fmt.Sprintf(">= %g", *o.Min)
		case o.Max != nil:
			rng = fmt.Sprintf("<= %g", *o.Max)
		}
		for _, ref := range o.AtMost {
			if rng != "" {
				rng += ", "
			}
			rng += "<= " + ref
		}
		rows = append(rows, []string{o.Name, o.Type, def, rng, o.Help})
	}
	return textTable("options", fmt.Sprintf("options of %s plugin %s (config section %q)", kind, name, kind), []string{"key", "type", "default", "range", "help"}, rows)
}
