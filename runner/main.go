// Command clusterlab is the runner: it reads an experiment config, launches
// the dataset, backbone and loss plugins as separate processes, caches
// embeddings and the k-NN graph, runs the baselines, lets the loss plugin
// train, scores everything and writes the run directory.
package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/clusterlab/clusterlab/core/rundir"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/runner/config"
)

const usage = `clusterlab: deep image clustering on frozen features

usage:
  clusterlab run CONFIG [--set key=value ...]   run one experiment
  clusterlab embed CONFIG [--set key=value ...] [--json]
                                                 compute or reuse the embeddings of every split
  clusterlab table RUN_DIR... [--format text|markdown|csv|json] [--split NAME]
                                                 re-render stored results (a sweep's
                                                 trials, or its experiment directory)
  clusterlab report RUN_DIR...                   redraw the plots and report.md/report.html
                                                 of finished runs
  clusterlab score --labels Y --pred P [--json]  metrics of any assignment
  clusterlab plugins [--options] [--format F]    list installed plugins (and their options)

Config keys can also be set with CLUSTERLAB_<KEY> environment variables
(double underscore for nesting: CLUSTERLAB_LOSS__EPOCHS=5).
Exit status: 0 success, 1 failure, 2 bad input (config, data, usage).
`

// usageError is bad command-line usage (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	os.Exit(mainWithStatus(os.Args[1:], os.Stdout, os.Stderr))
}

func mainWithStatus(args []string, stdout, stderr io.Writer) int {
	// Plugins inherit the environment: hand them the ONNX Runtime library
	// the runner found, so they need not find it from their own folder.
	if os.Getenv(backend.OrtLibEnv) == "" {
		if lib, err := backend.FindOrtLibrary(); err == nil {
			os.Setenv(backend.OrtLibEnv, lib)
		}
	}
	ctx, stop := signalContext()
	defer stop()
	defer plugins.KillAll()
	err := dispatch(ctx, args, stdout)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "clusterlab: %v\n", err)
	if diskFull(err) {
		fmt.Fprintln(stderr, "clusterlab: the disk is full (or a file size limit was reached). Files are renamed into place only when complete, so nothing half-written is kept; free some space and run the same command again to resume.")
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprint(stderr, "\n"+usage)
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "clusterlab: interrupted; plugins stopped. Run the same command again to resume.")
		return 130
	case errors.Is(err, core.ErrInvalidInput) || plugins.IsInvalidInput(err):
		return 2
	}
	return 1
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

func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"no command given"}
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout)
	case "embed":
		return cmdEmbed(ctx, args[1:], stdout)
	case "table":
		return cmdTable(args[1:], stdout)
	case "report":
		return cmdReport(args[1:], stdout)
	case "score":
		return cmdScore(args[1:], stdout)
	case "plugins":
		return cmdPlugins(ctx, args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}

// parseArgs splits positional arguments from --flag value pairs; repeated
// flags accumulate. bools lists flags without a value.
func parseArgs(args []string, bools map[string]bool) (pos []string, flags map[string][]string, err error) {
	flags = map[string][]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if n, v, ok := strings.Cut(name, "="); ok {
			flags[n] = append(flags[n], v)
			continue
		}
		if bools[name] {
			flags[name] = append(flags[name], "true")
			continue
		}
		if i+1 >= len(args) {
			return nil, nil, usageError{fmt.Sprintf("flag %s needs a value", a)}
		}
		flags[name] = append(flags[name], args[i+1])
		i++
	}
	return pos, flags, nil
}

func onlyFlags(flags map[string][]string, allowed ...string) error {
	for f := range flags {
		ok := false
		for _, a := range allowed {
			ok = ok || f == a
		}
		if !ok {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, nil)
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "set"); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"run takes exactly one CONFIG file"}
	}
	cfg, err := config.Load(pos[0], flags["set"])
	if err != nil {
		return err
	}
	if cfg.Sweep != nil {
		dir, err := runSweep(ctx, cfg, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nsweep directory: %s\n", dir)
		return nil
	}
	runDir, err := runExperiment(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nrun directory: %s\n", runDir)
	return nil
}

func cmdTable(args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, nil)
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "format", "split"); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"table needs at least one RUN_DIR"}
	}
	format := "text"
	if f := flags["format"]; len(f) > 0 {
		format = f[len(f)-1]
	}
	runs, err := loadRuns(pos)
	if err != nil {
		return fmt.Errorf("%w: %v", core.ErrInvalidInput, err)
	}
	split := "test"
	if sp := flags["split"]; len(sp) > 0 {
		split = sp[len(sp)-1]
	}
	var tables []table
	if len(runs) > 1 || runs[0].VariantName != "" {
		tables = sweepTables(runs, split)
	} else {
		mf := runs[0]
		if sp := flags["split"]; len(sp) > 0 {
			mf.Results = filterSplit(mf.Results, split)
			if len(mf.Results) == 0 {
				return fmt.Errorf("%w: no results for split %q", core.ErrInvalidInput, split)
			}
		}
		tables = append(tables, comparisonTable(mf), headsTable(mf))
	}
	if err := renderTables(stdout, format, tables); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

func filterSplit(rs []rundir.Result, split string) []rundir.Result {
	var out []rundir.Result
	for _, r := range rs {
		if r.Split == split {
			out = append(out, r)
		}
	}
	return out
}

func cmdScore(args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, map[string]bool{"json": true})
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "labels", "pred", "json"); err != nil {
		return err
	}
	if len(pos) > 0 || len(flags["labels"]) != 1 || len(flags["pred"]) != 1 {
		return usageError{"score needs --labels FILE and --pred FILE (.npy int arrays or text, one integer per line)"}
	}
	y, err := metrics.ReadAssignment(flags["labels"][0])
	if err != nil {
		return err
	}
	p, err := metrics.ReadAssignment(flags["pred"][0])
	if err != nil {
		return err
	}
	if len(y) != len(p) {
		return fmt.Errorf("%w: %s has %d labels but %s has %d predictions", core.ErrInvalidInput, flags["labels"][0], len(y), flags["pred"][0], len(p))
	}
	sc, err := metrics.Score(y, p)
	if err != nil {
		return err
	}
	if len(flags["json"]) > 0 {
		return writeJSON(stdout, sc)
	}
	t := table{
		Title:  fmt.Sprintf("%d samples, %d clusters used (sizes %d..%d)", sc.N, sc.ClustersUsed, sc.Smallest, sc.Largest),
		Header: []string{"ACC", "NMI", "ARI", "AMI", "majority ACC"},
		Rows:   [][]string{{pct(sc.ACC), pct(sc.NMI), pct(sc.ARI), pct(sc.AMI), pct(metrics.MajorityACC(y, p))}},
		Note:   "metrics in %; ACC: one-to-one Hungarian matching; majority ACC maps each cluster to its most frequent class.",
	}
	return renderTables(stdout, "text", []table{t})
}

func cmdPlugins(ctx context.Context, args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, map[string]bool{"options": true})
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "options", "format"); err != nil {
		return err
	}
	format := "text"
	if f := flags["format"]; len(f) > 0 {
		format = f[len(f)-1]
	}
	if len(pos) > 0 {
		return usageError{"plugins takes no arguments"}
	}
	list, err := plugins.List(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no plugins found; build them with `make build` or set CLUSTERLAB_PLUGIN_PATH")
		return nil
	}
	t := table{Title: "installed plugins", Header: []string{"kind", "name", "version", "summary", "path"}}
	for _, p := range list {
		summary := p.Summary
		if p.Err != nil {
			summary = "ERROR: " + p.Err.Error()
		}
		t.Rows = append(t.Rows, []string{p.Kind, p.Name, p.Version, summary, p.Path})
	}
	tables := []table{t}
	if len(flags["options"]) > 0 {
		for _, p := range list {
			if p.Err != nil {
				continue
			}
			c, err := plugins.Launch(ctx, p.Kind, p.Path)
			if err != nil {
				return err
			}
			tables = append(tables, optionsTable(p.Kind, p.Name, c.Description().Options))
			c.Kill()
		}
	}
	if err := renderTables(stdout, format, tables); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// optionsTable documents a plugin's option schema: the keys of its config
// section.
func optionsTable(kind, name string, opts []core.Option) table {
	t := table{Title: fmt.Sprintf("options of %s plugin %s (config section %q)", kind, name, kind), Header: []string{"key", "type", "default", "range", "help"}}
	for _, o := range opts {
		def := "(required)"
		if o.Default != nil {
			def = fmt.Sprint(o.Default)
		} else if o.Optional {
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
		t.Rows = append(t.Rows, []string{o.Name, o.Type, def, rng, o.Help})
	}
	return t
}

// diskFull reports whether err comes from a full disk, a quota or a file
// size limit, in this process or (as text, through gRPC) in a plugin.
func diskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) || errors.Is(err, store.ErrNoSpace) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"no space left on device", "disk quota exceeded", "file too large"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
