package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// The command line, built on cobra: run, embed, table, report, score,
// plugins, version, and cobra's help and completion. Cobra prints nothing
// of its own on errors: mainWithStatus prints "clusterlab: <error>", and
// for a usageError the usage of the command it happened in.

func init() {
	// Commands are listed in the order they are added (the order of the
	// README), not alphabetically.
	cobra.EnableCommandSorting = false
}

// rootLong is the top-level help: what the README says under "Commands"
// and "Configuration".
const rootLong = `clusterlab: deep image clustering on frozen features.

It reads an experiment config, launches the dataset, backbone and loss
plugins as separate processes, caches the embeddings and the k-NN graph,
runs the baselines (k-means, a supervised k-NN classifier), lets the loss
plugin train, scores everything (the head is chosen without labels) and
writes the run directory runs_dir/<experiment>/<trial>.

Configuration:
  A config is a YAML file. CLUSTERLAB_<KEY> environment variables override
  it (double underscore for nesting: CLUSTERLAB_LOSS__EPOCHS=5), and
  --set key=value flags override both (the value is parsed as YAML);
  --unset KEY (or --set KEY=null) removes a key. Errors name the key and
  where its value came from (file:line, --set, the environment variable,
  the sweep entry). The options of each plugin: clusterlab plugins --options.

Environment:
  CLUSTERLAB_<KEY>          config overrides (above)
  CLUSTERLAB_PLUGIN_PATH    directories searched for plugins (executables
                            named clusterlab-<kind>-<name>), before plugins/
                            beside the clusterlab executable and ./bin/plugins
  CLUSTERLAB_DEBUG=1        go-plugin's own logs, in the runner and the plugins
  CLUSTERLAB_XLA_PLUGIN     a PJRT plugin (.so) for the xla backend; backend
                            auto picks xla when it is set and a GPU is present
  ONNXRUNTIME_SHARED_LIBRARY_PATH
                            the ONNX Runtime 1.30.0 library, else
                            .deps/onnxruntime/ above the executable or the
                            working directory (make setup installs it)

Exit status:
  0 success; 1 failure; 2 bad input (config, data files, plugin options, a
  program that is not a plugin, command-line usage); 130 interrupted (the
  first Ctrl-C stops the plugins, the trainer checkpoints; a second exits
  at once; run the same command again to resume).`

const overridesHelp = `Config values come from the YAML file, then CLUSTERLAB_<KEY> environment
variables (double underscore for nesting: CLUSTERLAB_LOSS__EPOCHS=5), then
--set key=value (the value is parsed as YAML); --unset KEY or --set KEY=null
removes a key. An error names the key and where its value came from, exit 2.`

// Command groups of the top-level help.
const (
	groupExperiments = "experiments"
	groupResults     = "results"
	groupTool        = "tool"
)

// executeCLI runs the command line args and returns the command that ran
// (or failed to parse) and its error.
func executeCLI(ctx context.Context, args []string, stdout, stderr io.Writer) (*cobra.Command, error) {
	root := newRootCmd(stdout, stderr)
	if args == nil {
		args = []string{} // nil makes cobra read os.Args
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if cmd == nil {
		cmd = root
	}
	return cmd, err
}

// printUsage writes what follows a usage error on w: the whole help at
// the top level (which lists the commands), else the command's usage.
func printUsage(cmd *cobra.Command, w io.Writer) {
	if !cmd.HasParent() {
		cmd.SetOut(w)
		cmd.Help()
		return
	}
	fmt.Fprint(w, cmd.UsageString())
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "clusterlab",
		Short: "Deep image clustering on frozen features",
		Long:  rootLong,
		Example: `  clusterlab run configs/mnist_temi.yaml
  clusterlab run configs/mnist_temi.yaml --set loss.plugin=scan --set loss.epochs=2
  clusterlab table runs/mnist_temi --format markdown
  clusterlab help run`,
		// The root runs only to say that no command (or an unknown one)
		// was given: exit 2 with the help.
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q", args[0])
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, " or "))
				}
				return usageError{msg}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageError{"no command given"}
		},
		Version:       shortVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SuggestionsMinimumDistance = 2
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("clusterlab {{.Version}}\n")
	// A command with subcommands (the root, completion) runs only to
	// report a missing or unknown one: its usage shows
	// "clusterlab [command]", not also "clusterlab [flags]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	// Bad flags (unknown, missing value, not a number) are usage errors.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError{err.Error()}
	})
	root.AddGroup(
		&cobra.Group{ID: groupExperiments, Title: "Experiments:"},
		&cobra.Group{ID: groupResults, Title: "Results:"},
		&cobra.Group{ID: groupTool, Title: "The tool:"},
	)
	root.SetHelpCommandGroupID(groupTool)
	root.SetCompletionCommandGroupID(groupTool)
	root.AddCommand(
		newRunCmd(), newEmbedCmd(), newPrepareCmd(),
		newTableCmd(), newStatusCmd(), newReportCmd(), newScoreCmd(), newAssignCmd(), newExportCmd(),
		newPluginsCmd(), newVersionCmd(),
	)
	adaptDefaultCommands(root)
	return root
}

// adaptDefaultCommands creates cobra's help and completion commands now
// (cobra would when executing) and gives them examples and this tool's
// usage errors: an unknown help topic or shell, or a missing shell, is
// exit 2 like any unknown command.
func adaptDefaultCommands(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help":
			c.Example = `  clusterlab help table
  clusterlab help completion bash`
			show := c.Run
			c.Run = nil
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if target, _, err := root.Find(args); err != nil || target == root && len(args) > 0 {
					return usageError{fmt.Sprintf("unknown help topic %q", strings.Join(args, " "))}
				}
				show(cmd, args)
				return nil
			}
		case "completion":
			c.Example = `  source <(clusterlab completion bash)
  clusterlab completion zsh > "${fpath[1]}/_clusterlab"
  clusterlab completion fish > ~/.config/fish/completions/clusterlab.fish
  clusterlab completion powershell | Out-String | Invoke-Expression`
			var shells []string
			for _, sh := range c.Commands() {
				shells = append(shells, sh.Name())
			}
			want := strings.Join(shells, ", ")
			c.Args = func(_ *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usageError{fmt.Sprintf("unknown shell %q: want one of %s", args[0], want)}
				}
				return nil
			}
			c.RunE = func(*cobra.Command, []string) error {
				return usageError{"completion needs a shell: one of " + want}
			}
			for _, sh := range c.Commands() {
				sh.Example = completionExamples[sh.Name()]
			}
		}
	}
}

// completionExamples of `clusterlab completion SHELL --help`.
var completionExamples = map[string]string{
	"bash": `  source <(clusterlab completion bash)                    # this shell
  clusterlab completion bash > /etc/bash_completion.d/clusterlab   # every new one`,
	"zsh": `  source <(clusterlab completion zsh)                     # this shell
  clusterlab completion zsh > "${fpath[1]}/_clusterlab"   # every new one`,
	"fish": `  clusterlab completion fish | source                     # this shell
  clusterlab completion fish > ~/.config/fish/completions/clusterlab.fish`,
	"powershell": `  clusterlab completion powershell | Out-String | Invoke-Expression`,
}

// Argument checks: their errors are usage errors, worded as before cobra.

func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{msg}
		}
		return nil
	}
}

func minArgs(n int, msg string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) < n {
			return usageError{msg}
		}
		return nil
	}
}

func noArgs(msg string) cobra.PositionalArgs { return exactArgs(0, msg) }

// Shell completion of arguments.

// completeConfig offers YAML files for the CONFIG argument.
func completeConfig(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// completeDirs offers directories (RUN_DIR...).
func completeDirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

func completeFormats(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return tables.Formats, cobra.ShellCompDirectiveNoFileComp
}

// addOverrideFlags adds --set and --unset, repeatable, values kept as
// given (no splitting at commas: --set loss.temperatures=[0.1,0.2]).
func addOverrideFlags(cmd *cobra.Command, ov *config.Overrides) {
	cmd.Flags().StringArrayVar(&ov.Sets, "set", nil, "override a config key (`key=value`, the value parsed as YAML; key=null removes it); repeatable, wins over the file and CLUSTERLAB_<KEY>")
	cmd.Flags().StringArrayVar(&ov.Unsets, "unset", nil, "remove a config `key` (repeatable)")
	cmd.RegisterFlagCompletionFunc("set", cobra.NoFileCompletions)
	cmd.RegisterFlagCompletionFunc("unset", cobra.NoFileCompletions)
}

func newRunCmd() *cobra.Command {
	var ov config.Overrides
	var trialIndex int
	var shard, executor, submission string
	cmd := &cobra.Command{
		Use:     "run CONFIG",
		GroupID: groupExperiments,
		Short:   "Run one experiment, or every trial of a sweep",
		Long: `Run one experiment, or every trial of a sweep (a config with a sweep:
section).

Every trial is resolved and checked before any work starts (each plugin
section against its plugin's options, the coupled settings, the backend);
a config with bad trials is rejected at once with every reason, exit 2,
nothing written. Then the runner launches the dataset, backbone and loss
plugins, computes or reuses the embeddings and the k-NN graph (cache_dir),
runs the baselines, lets the loss plugin train, scores every split and
writes the run directory runs_dir/<experiment>/<trial> (metrics.json,
tables, plots, report.md and report.html), and prints its table. A sweep
runs each trial in its own directory and prints the comparison table.

Running the same command again skips finished trials and resumes an
interrupted one from its checkpoint; a changed input or key is a new trial.
Ctrl-C stops the run (exit 130), a second Ctrl-C at once.

With --executor slurm (or executor: {kind: slurm} in the config) the
trials go to Slurm instead: a prepare job fills the cache (embeddings,
k-NN graphs), then an array job runs a task per trial (task i runs
clusterlab run CONFIG --trial-index i), each logging into its trial's run
directory. The command prints the job ids and returns; clusterlab status
follows them, and running it again resubmits only the trials that are not
done, queued or running.

` + overridesHelp,
		Example: `  clusterlab run configs/mnist_temi.yaml
  clusterlab run configs/mnist_temi.yaml --set loss.plugin=scan --unset loss.beta
  clusterlab run configs/mnist_temi.yaml --set loss.epochs=2 --set baselines.kmeans=false
  CLUSTERLAB_LOSS__EPOCHS=5 clusterlab run configs/mnist_temi.yaml
  clusterlab run configs/ablations/mnist_losses.yaml     # a sweep
  clusterlab run configs/ablations/mnist_losses.yaml --trial-index 4   # its fifth trial only
  clusterlab run configs/ablations/mnist_losses.yaml --shard 1/3       # trials 1, 4, 7
  clusterlab run configs/ablations/mnist_losses.yaml --executor slurm  # on a Slurm cluster`,
		Args:              exactArgs(1, "run takes exactly one CONFIG file"),
		ValidArgsFunction: completeConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			sub, err := parseSubset(trialIndex, cmd.Flags().Changed("trial-index"), shard)
			if err != nil {
				return err
			}
			if executor != "" && executor != config.ExecutorLocal && executor != config.ExecutorSlurm {
				return usageError{fmt.Sprintf("--executor %q: want local or slurm", executor)}
			}
			if executor == config.ExecutorSlurm && !sub.all() {
				return usageError{"--trial-index and --shard run trials here; they do not go with --executor slurm"}
			}
			return cmdRun(cmd.Context(), args[0], ov, runOptions{subset: sub, executor: executor, submission: submission}, cmd.OutOrStdout())
		},
	}
	addOverrideFlags(cmd, &ov)
	cmd.Flags().StringVar(&executor, "executor", "", "where the trials run: `local` (here) or slurm (submitted as a prepare job and an array job); default: the config's executor.kind, else local")
	cmd.RegisterFlagCompletionFunc("executor", cobra.FixedCompletions([]string{config.ExecutorLocal, config.ExecutorSlurm}, cobra.ShellCompDirectiveNoFileComp))
	// The submission a Slurm array task belongs to: the task checks that
	// its trial is the one submitted. Written into the batch script.
	cmd.Flags().StringVar(&submission, "submission", "", "the Slurm submission `DIR` this array task belongs to (set by the batch script)")
	cmd.Flags().MarkHidden("submission")
	cmd.Flags().IntVar(&trialIndex, "trial-index", 0, "run only the trial of this 0-based `INDEX` in the sweep's order (a Slurm array task: --trial-index $SLURM_ARRAY_TASK_ID); every trial is still checked")
	cmd.Flags().StringVar(&shard, "shard", "", "run only shard `i/n` of the trials: those whose index is i modulo n, 0 <= i < n (Kubernetes indexed Jobs, GNU parallel, a loop over machines)")
	return cmd
}

func newEmbedCmd() *cobra.Command {
	var (
		ov      config.Overrides
		jsonOut bool
	)
	cmd := &cobra.Command{
		Use:     "embed CONFIG",
		GroupID: groupExperiments,
		Short:   "Compute or reuse the embeddings of every split",
		Long: `Compute (or find in the embedding store, cache_dir) the embeddings of
every split of a config's dataset and backbone, and print where they are:
split, images, dimensions, whether they were cached, the embeddings and
labels files. A later run of the same dataset and backbone reuses them;
the precomputed backbone plugin reads them as features.

The config's loss section is not needed for embedding, but the config is
checked as for run; a sweep: section is ignored (the base config is
embedded; set swept backbone keys with --set).

` + overridesHelp,
		Example: `  clusterlab embed configs/cifar100_dinov2_temi.yaml
  clusterlab embed configs/mnist_temi.yaml --json
  clusterlab embed configs/mnist_temi.yaml --set backbone.pca_dims=32`,
		Args:              exactArgs(1, "embed takes exactly one CONFIG file"),
		ValidArgsFunction: completeConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdEmbed(cmd.Context(), args[0], ov, jsonOut, cmd.OutOrStdout())
		},
	}
	addOverrideFlags(cmd, &ov)
	cmd.Flags().BoolVar(&jsonOut, "json", false, `print {"split": "embeddings file"} as JSON instead of the table`)
	return cmd
}

func newPrepareCmd() *cobra.Command {
	var ov config.Overrides
	cmd := &cobra.Command{
		Use:     "prepare CONFIG",
		GroupID: groupExperiments,
		Short:   "Fill the cache with every trial's embeddings and k-NN graph",
		Long: `Fill the cache (cache_dir) with what every trial of a config reads before
it trains: the embeddings of every split in every representation space it
uses, their concatenation, and the k-NN graph (not for losses that read
none, such as turtle). Each distinct input is computed once; what is
already cached is reused. Trials run afterwards, anywhere that shares the
cache (shards on other machines, Slurm array tasks), then find their
inputs ready instead of computing them side by side. A Slurm submission's
prepare job runs this command.

The config is checked as for run (every trial), exit 2 on bad input.

` + overridesHelp,
		Example: `  clusterlab prepare configs/ablations/mnist_losses.yaml
  clusterlab prepare configs/ablations/mnist_losses.yaml && parallel clusterlab run configs/ablations/mnist_losses.yaml --shard {}/4 ::: 0 1 2 3`,
		Args:              exactArgs(1, "prepare takes exactly one CONFIG file"),
		ValidArgsFunction: completeConfig,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdPrepare(cmd.Context(), args[0], ov, cmd.OutOrStdout())
		},
	}
	addOverrideFlags(cmd, &ov)
	return cmd
}

func newStatusCmd() *cobra.Command {
	o := statusOptions{interval: 10 * time.Second}
	cmd := &cobra.Command{
		Use:     "status EXPERIMENT",
		GroupID: groupResults,
		Short:   "Where each trial of an experiment stands (Slurm jobs included)",
		Long: `Show every trial of an experiment as done, running, queued or failed (or
not submitted), with its Slurm job (<array job>_<task>) and Slurm's state,
and the end of each failed trial's log. EXPERIMENT is an experiment
directory (runs_dir/<experiment>) or a config file.

The states join the trials' run directories (run.json) with what squeue
says of their Slurm tasks; Slurm forgets finished jobs after MinJobAge,
and the run directories say the rest. Running the submitting command
again resubmits the failed and unsubmitted trials only.

With --wait it polls until no trial is queued or running, then prints the
states; it exits 1 unless every trial is done.`,
		Example: `  clusterlab status runs/mnist_losses
  clusterlab status configs/ablations/mnist_losses.yaml --wait
  clusterlab status runs/mnist_losses --format json`,
		Args:              exactArgs(1, "status takes exactly one EXPERIMENT directory (or config file)"),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(tables.Formats, o.format) {
				return usageError{fmt.Sprintf("--format %q: want one of %s", o.format, strings.Join(tables.Formats, ", "))}
			}
			if o.interval <= 0 {
				return usageError{"--interval must be positive"}
			}
			return cmdStatus(cmd.Context(), args[0], o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: "+strings.Join(tables.Formats, ", "))
	f.BoolVar(&o.wait, "wait", false, "wait until no trial is queued or running; exit 1 unless every trial is done")
	f.DurationVar(&o.interval, "interval", o.interval, "how often --wait asks Slurm (a `DURATION` such as 10s)")
	cmd.RegisterFlagCompletionFunc("format", completeFormats)
	return cmd
}

func newTableCmd() *cobra.Command {
	var o tableOptions
	cmd := &cobra.Command{
		Use:     "table RUN_DIR...",
		GroupID: groupResults,
		Short:   "Re-render the stored results of runs and sweeps",
		Long: `Re-render the tables of finished (or failed, or interrupted) runs from
their directories alone.

One run directory gives its run table (every split, or --split), its heads
table, and a status table when it did not finish. Several directories, or
an experiment directory (a sweep's trials, in the order the sweep ran
them), are compared: one row per variant (mean ± std over seeds, the best
unsupervised row of each column marked, k-means and the supervised k-NN
classifier as baseline rows, each row's status) on the test split unless
--split says otherwise, and a heads table. A trial that failed stays in the
table with its reason.

Formats: text (the default), markdown, csv and json. CSV and JSON are data:
metrics as fractions, mean, std and n in separate columns. CSV is one table
(--table, else the first) with one header row; its caption and notes go to
stderr.`,
		Example: `  clusterlab table runs/mnist_temi/seed0-70f5a2ee
  clusterlab table runs/mnist_losses --format markdown
  clusterlab table runs/mnist_losses --format csv --table heads > heads.csv
  clusterlab table runs/a/seed0-x runs/b/seed0-y --split train --format json`,
		Args:              minArgs(1, "table needs at least one RUN_DIR"),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdTable(args, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "text", "output `FORMAT`: "+strings.Join(tables.Formats, ", "))
	f.StringVar(&o.split, "split", "", "the `NAME` of the split to show (one run: all its splits by default; several: test)")
	f.StringVar(&o.table, "table", "", "show only the table `NAME` (run, heads, status; variants, heads)")
	f.BoolVar(&o.noTiming, "no-timing", false, "leave out the columns of seconds, which differ between machines and runs, so that the tables of two runs of the same trials compare byte for byte")
	cmd.RegisterFlagCompletionFunc("format", completeFormats)
	cmd.RegisterFlagCompletionFunc("split", cobra.FixedCompletions([]string{"train", "test"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("table", cobra.FixedCompletions([]string{"run", "heads", "status", "variants"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "report RUN_DIR...",
		GroupID: groupResults,
		Short:   "Redraw the plots and report.md/report.html of finished runs",
		Long: `Redraw the plots (training loss of every head, schedules, cluster sizes,
confusion matrices) and report.md and the self-contained report.html of
finished runs, from their directories alone, and print the files written.
The galleries, which need the dataset's images, are kept as the run drew
them. A directory without metrics.json is not a finished run: exit 2.`,
		Example: `  clusterlab report runs/mnist_temi/seed0-70f5a2ee
  clusterlab report runs/mnist_losses/*-seed0`,
		Args:              minArgs(1, "report needs at least one run directory"),
		ValidArgsFunction: completeDirs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdReport(args, cmd.OutOrStdout())
		},
	}
}

func newScoreCmd() *cobra.Command {
	var (
		o      scoreOptions
		save   bool
		format string
	)
	cmd := &cobra.Command{
		Use:     "score [RUN_DIR] --labels FILE [--pred FILE] [--head H]",
		GroupID: groupResults,
		Short:   "Metrics of any assignment, or of a run against labels that came later",
		Long: `Score a cluster assignment against the true classes: ACC (one-to-one
Hungarian matching), NMI, ARI, AMI and majority ACC (each cluster mapped to
its most frequent class), the number of clusters used and their sizes.
Samples whose label is -1 (unknown) are left out of the label metrics.

With --pred: the files are .npy integer arrays or text files with one
integer per line. A run's own assign_<split>.npy ([heads, N]) is scored on
the head the run selected unless --head says otherwise, against the run's
labels_<split>.npy unless --labels is given (also for kmeans_<split>.npy).
--json prints every metric of the text form.

With RUN_DIR (labels that arrive after the run, e.g. of an unlabelled
folder of images): every stored assignment of the finished run (each head,
the selected one, k-means) is scored against --labels [SPLIT=]FILE, and
the run's table is printed. FILE is one label per sample in the split's
order (.npy integers, or text lines of integers or class names; -1 or an
empty line = unknown), or a CSV/TSV with a name column (name, path or
file) and a label column (label, class or target), matched by name
against the run's clusters_<split>.csv. --save writes the labels into the
run (labels_<split>.npy, metrics.json, tables, report) so that tables of
the run and its sweep show them from then on.`,
		Example: `  clusterlab score --pred pred.txt --labels labels.txt
  clusterlab score --pred runs/mnist_temi/seed0-70f5a2ee/assign_test.npy --json
  clusterlab score --pred runs/mnist_temi/seed0-70f5a2ee/assign_test.npy --head 2
  clusterlab score runs/photos/seed0-1a2b3c4d --labels my_labels.csv --save`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return scoreUsage
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if len(o.pred) > 0 || len(o.head) > 0 || o.json {
					return usageError{"score RUN_DIR scores the run's own assignments: --pred, --head and --json are for scoring one file (use --format json)"}
				}
				return cmdRescore(args[0], rescoreOptions{labels: o.labels, save: save, format: format}, cmd.OutOrStdout())
			}
			if save || format != "" {
				return usageError{"--save and --format go with score RUN_DIR"}
			}
			return cmdScore(o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	// Arrays, so that a file given twice is an error rather than a guess.
	f.StringArrayVar(&o.pred, "pred", nil, "the assignment `FILE` to score")
	f.StringArrayVar(&o.labels, "labels", nil, "the `FILE` of true classes, one per sample (default with --pred: labels_<split>.npy beside a run's file); with RUN_DIR, [SPLIT=]FILE, repeatable")
	f.StringArrayVar(&o.head, "head", nil, "the head `H` of a [heads, N] assignment to score (default: the run's selected head)")
	f.BoolVar(&o.json, "json", false, "print the metrics as JSON")
	f.BoolVar(&save, "save", false, "with RUN_DIR: write the labels and the new scores into the run directory")
	f.StringVar(&format, "format", "", "with RUN_DIR: text (default), markdown, csv or json")
	cmd.RegisterFlagCompletionFunc("head", cobra.NoFileCompletions)
	return cmd
}

func newPluginsCmd() *cobra.Command {
	var (
		options bool
		format  string
	)
	cmd := &cobra.Command{
		Use:     "plugins",
		GroupID: groupTool,
		Short:   "List the installed plugins (and their options)",
		Long: `List the installed plugins: kind, name, version, summary and path. Each
plugin is launched to describe itself; one that fails is listed with its
error. With --options, every plugin's option schema follows: the keys of
its config section, their types, defaults, ranges and help
(docs/CONFIG.md is this output in Markdown).

A plugin is an executable named clusterlab-<kind>-<name> (kind dataset,
backbone or loss), found in the directories of CLUSTERLAB_PLUGIN_PATH,
plugins/ beside the clusterlab executable, and ./bin/plugins, in that
order; a config can also give a plugin's path.`,
		Example: `  clusterlab plugins
  clusterlab plugins --options
  clusterlab plugins --options --format markdown > docs/CONFIG.md
  CLUSTERLAB_PLUGIN_PATH=$HOME/my-plugins clusterlab plugins`,
		Args: noArgs("plugins takes no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmdPlugins(cmd.Context(), options, format, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&options, "options", false, "also list every plugin's options")
	cmd.Flags().StringVar(&format, "format", "text", "output `FORMAT`: "+strings.Join(tables.Formats, ", "))
	cmd.RegisterFlagCompletionFunc("format", completeFormats)
	return cmd
}

func newVersionCmd() *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:     "version",
		GroupID: groupTool,
		Short:   "Print the versions of clusterlab and what it found",
		Long: `Print the clusterlab version and commit (from the build information), the
Go version it was built with, the GoMLX version, the ONNX Runtime library
it found (its path and version) and the plugins it found (kind, name,
path; they are not launched: clusterlab plugins describes them).`,
		Example: `  clusterlab version
  clusterlab version --json`,
		Args: noArgs("version takes no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := collectVersion()
			if jsonOut {
				return writeJSON(cmd.OutOrStdout(), v)
			}
			return v.write(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the versions as JSON")
	return cmd
}
