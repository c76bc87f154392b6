package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/clusterlab/clusterlab/core/backend"
)

// The command line (issue item 5). Help, version, completion and usage
// errors run in-process through mainWithStatus: they launch no plugin.

// cli runs `clusterlab args...` in-process.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var so, se bytes.Buffer
	code := mainWithStatus(args, &so, &se)
	return result{code, so.String(), se.String()}
}

func wantIn(t *testing.T, what, out string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(out, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, out)
		}
	}
}

func TestCLIRunHelp(t *testing.T) {
	for _, flag := range []string{"--help", "-h"} {
		r := cli(t, "run", flag)
		if r.code != 0 {
			t.Fatalf("run %s: exit %d\n%s", flag, r.code, r.stderr)
		}
		wantIn(t, "run "+flag, r.stdout, "Usage:", "clusterlab run CONFIG", "--set key=value", "--unset key", "Examples:", "clusterlab run configs/", "CLUSTERLAB_<KEY>")
		if r.stderr != "" {
			t.Errorf("run %s wrote on stderr:\n%s", flag, r.stderr)
		}
	}
}

func TestCLIHelpTable(t *testing.T) {
	r := cli(t, "help", "table")
	if r.code != 0 {
		t.Fatalf("help table: exit %d\n%s", r.code, r.stderr)
	}
	wantIn(t, "help table", r.stdout, "clusterlab table RUN_DIR...", "--format FORMAT", "--table NAME", "--split NAME", "text, markdown, csv, json", "Examples:")
}

// TestCLIEveryCommandHasHelp: every command, cobra's help and completion
// included, answers --help with its usage, its flags and an example.
func TestCLIEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Hidden {
			return
		}
		path := strings.Fields(c.CommandPath())[1:]
		if c.HasParent() {
			n++
			r := cli(t, append(path, "--help")...)
			if r.code != 0 {
				t.Errorf("%s --help: exit %d\n%s", c.CommandPath(), r.code, r.stderr)
			}
			wantIn(t, c.CommandPath()+" --help", r.stdout, "Usage:", "Flags:", "-h, --help", "Examples:\n  ")
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(new(bytes.Buffer), new(bytes.Buffer)))
	// run embed table report score plugins version help completion + 4 shells
	if n < 13 {
		t.Errorf("%d commands checked, want 13 or more", n)
	}
	r := cli(t, "--help")
	if r.code != 0 {
		t.Fatalf("--help: exit %d", r.code)
	}
	wantIn(t, "--help", r.stdout, "run ", "embed ", "table ", "report ", "score ", "plugins ", "version ", "completion ", "help ",
		"CLUSTERLAB_PLUGIN_PATH", "CLUSTERLAB_DEBUG", "CLUSTERLAB_XLA_PLUGIN", "CLUSTERLAB_<KEY>", "Exit status:", "130")
}

// gomlxVersion is the GoMLX version this test binary was built with.
func gomlxVersion(t *testing.T) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in the test binary")
	}
	for _, d := range bi.Deps {
		if d.Path == gomlxModule {
			return d.Version
		}
	}
	t.Skip("the test binary does not record GoMLX's version")
	return ""
}

func TestCLIVersion(t *testing.T) {
	gomlx := gomlxVersion(t)
	r := cli(t, "version")
	if r.code != 0 {
		t.Fatalf("version: exit %d\n%s", r.code, r.stderr)
	}
	wantIn(t, "version", r.stdout, "clusterlab ", "commit ", "go ", "go1.", "gomlx ", gomlx, "onnxruntime ", "plugins ")
	if lib, err := backend.FindOrtLibrary(); err == nil {
		wantIn(t, "version", r.stdout, lib)
	}

	j := cli(t, "version", "--json")
	if j.code != 0 {
		t.Fatalf("version --json: exit %d\n%s", j.code, j.stderr)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(j.stdout), &v); err != nil {
		t.Fatalf("version --json: %v\n%s", err, j.stdout)
	}
	if v.Version == "" || v.Commit == "" || !strings.HasPrefix(v.Go, "go1.") || v.GoMLX != gomlx || v.Plugins == nil || len(v.PluginDirs) == 0 {
		t.Errorf("version --json: %+v", v)
	}
	if lib, err := backend.FindOrtLibrary(); err == nil && v.ONNXRuntime.Path != lib {
		t.Errorf("version --json: onnxruntime %+v, want path %s", v.ONNXRuntime, lib)
	}
	if r := cli(t, "--version"); r.code != 0 || !strings.HasPrefix(r.stdout, "clusterlab ") || !strings.Contains(r.stdout, "commit ") {
		t.Errorf("--version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCLIVersionBinary: the built runner lists the plugins beside it.
func TestCLIVersionBinary(t *testing.T) {
	t.Parallel()
	bin := buildBinaries(t)
	r := clusterlab(t, t.TempDir(), nil, "version")
	if r.code != 0 {
		t.Fatalf("version: exit %d\n%s", r.code, r.stderr)
	}
	wantIn(t, "version", r.stdout, "clusterlab ", "commit ", "go1.", "gomlx ", "onnxruntime ",
		"dataset", "idx", filepath.Join(bin, "plugins", "clusterlab-dataset-idx"),
		"backbone", "pixels", filepath.Join(bin, "plugins", "clusterlab-backbone-pixels"),
		"loss", "temi", filepath.Join(bin, "plugins", "clusterlab-loss-temi"))
	j := clusterlab(t, t.TempDir(), nil, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(j.stdout), &v); j.code != 0 || err != nil {
		t.Fatalf("version --json: exit %d, %v\n%s%s", j.code, err, j.stdout, j.stderr)
	}
	found := map[string]string{}
	for _, p := range v.Plugins {
		found[p.Kind+"/"+p.Name] = p.Path
	}
	for _, k := range []string{"dataset/idx", "dataset/cifar", "backbone/pixels", "backbone/dinov2", "loss/temi", "loss/pmi", "loss/scan"} {
		kind, name, _ := strings.Cut(k, "/")
		if found[k] != filepath.Join(bin, "plugins", "clusterlab-"+kind+"-"+name) {
			t.Errorf("version --json: plugin %s at %q", k, found[k])
		}
	}
	if lib, err := backend.FindOrtLibrary(); err == nil {
		if v.ONNXRuntime.Path != lib {
			t.Errorf("version --json: onnxruntime %+v, want path %s", v.ONNXRuntime, lib)
		}
		if v.ONNXRuntime.Version != "" && !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v.ONNXRuntime.Version) {
			t.Errorf("onnxruntime version %q", v.ONNXRuntime.Version)
		}
	}
}

func TestORTLibraryVersion(t *testing.T) {
	dir := t.TempDir()
	named := filepath.Join(dir, "libonnxruntime.so.1.2.3")
	os.WriteFile(named, []byte("not an ELF file"), 0o644)
	if v, from := ortLibraryVersion(named); v != "1.2.3" || !strings.Contains(from, "file name") {
		t.Errorf("from the file name: %q (%s)", v, from)
	}
	link := filepath.Join(dir, "libonnxruntime.so")
	os.Symlink(named, link)
	if v, _ := ortLibraryVersion(link); v != "1.2.3" {
		t.Errorf("through a symlink: %q", v)
	}
	other := filepath.Join(t.TempDir(), "libonnxruntime.so")
	os.WriteFile(other, []byte("not an ELF file"), 0o644)
	if v, from := ortLibraryVersion(other); v != "" || from != "" {
		t.Errorf("unreadable: %q (%s), want nothing", v, from)
	}
	os.WriteFile(filepath.Join(filepath.Dir(other), "VERSION"), []byte("1.30.0\n"), 0o644)
	if v, from := ortLibraryVersion(other); v != "1.30.0" || !strings.Contains(from, "make setup") {
		t.Errorf("from the VERSION stamp: %q (%s)", v, from)
	}
	// The real library: official builds tag their exports VERS_<version>.
	if lib, err := backend.FindOrtLibrary(); err == nil {
		v, from := ortLibraryVersion(lib)
		t.Logf("%s: %q from %s", lib, v, from)
		if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
			t.Errorf("%s: version %q (%s)", lib, v, from)
		}
	}
}

func TestCLICompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "bash completion", "zsh": "#compdef clusterlab", "fish": "complete -c clusterlab", "powershell": "Register-ArgumentCompleter"} {
		r := cli(t, "completion", shell)
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("completion %s: exit %d, want %q in the script\n%.500s%s", shell, r.code, want, r.stdout, r.stderr)
		}
	}
	// The hidden completion request answers with the commands.
	r := cli(t, "__complete", "ta")
	wantIn(t, "__complete ta", r.stdout, "table")
	r = cli(t, "__complete", "table", "x", "--format", "")
	wantIn(t, "__complete table --format", r.stdout, "markdown", "csv", "json")
}

// TestCLIUsageErrors: exit 2, the error, then the command's usage, all on
// stderr.
func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("experiment: x\nseed: 1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"clusterlab: no command given", "Usage:\n  clusterlab [command]", "run ", "plugins "}},
		{[]string{"frobnicate"}, []string{`clusterlab: unknown command "frobnicate"`, "Usage:\n  clusterlab [command]"}},
		{[]string{"rn"}, []string{`unknown command "rn" (did you mean run?)`}},
		{[]string{"run"}, []string{"clusterlab: run takes exactly one CONFIG file", "Usage:\n  clusterlab run CONFIG", "--set key=value", "Examples:"}},
		{[]string{"run", cfg, "other.yaml"}, []string{"run takes exactly one CONFIG file"}},
		{[]string{"run", cfg, "--bogus"}, []string{"clusterlab: unknown flag: --bogus", "Usage:\n  clusterlab run CONFIG"}},
		{[]string{"run", cfg, "--set"}, []string{"flag needs an argument: --set", "Usage:\n  clusterlab run CONFIG"}},
		{[]string{"embed"}, []string{"embed takes exactly one CONFIG file", "Usage:\n  clusterlab embed CONFIG", "--json"}},
		{[]string{"table"}, []string{"table needs at least one RUN_DIR", "Usage:\n  clusterlab table RUN_DIR..."}},
		{[]string{"table", dir, "--format", "yaml"}, []string{`unknown table format "yaml"`, "Usage:\n  clusterlab table"}},
		{[]string{"report"}, []string{"report needs at least one run directory", "Usage:\n  clusterlab report RUN_DIR..."}},
		{[]string{"report", dir, "--bogus"}, []string{"unknown flag: --bogus"}},
		{[]string{"score", "--labels", "y.txt"}, []string{"score needs --pred FILE", "Usage:\n  clusterlab score"}},
		{[]string{"score", "--pred", "a", "--pred", "b"}, []string{"score needs --pred FILE"}},
		{[]string{"score", "x", "--pred", "a"}, []string{"score RUN_DIR scores the run's own assignments"}},
		{[]string{"score", "x", "y"}, []string{"score needs --pred FILE"}},
		{[]string{"score", "--pred", "a", "--save"}, []string{"--save and --format go with score RUN_DIR"}},
		{[]string{"plugins", "x"}, []string{"plugins takes no arguments", "Usage:\n  clusterlab plugins"}},
		{[]string{"version", "x"}, []string{"version takes no arguments"}},
		{[]string{"help", "frobnicate"}, []string{`unknown help topic "frobnicate"`}},
		{[]string{"completion"}, []string{"completion needs a shell: one of bash, zsh, fish, powershell"}},
		{[]string{"completion", "tcsh"}, []string{`unknown shell "tcsh"`}},
	} {
		r := cli(t, tc.args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", tc.args, r.code, r.stderr)
			continue
		}
		wantIn(t, strings.Join(tc.args, " ")+" stderr", r.stderr, tc.want...)
		if r.stdout != "" {
			t.Errorf("%q wrote on stdout:\n%s", tc.args, r.stdout)
		}
	}
}

// TestCLIFlagForms: --set=x and --set x both work, repeat, and keep commas;
// --unset repeats. The config errors prove what reached the config.
func TestCLIFlagForms(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("experiment: x\nseed: 1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--set=seeds=2"}, `config --set seeds=2: key "seeds"`},
		{[]string{"--set", "seeds=2"}, `config --set seeds=2: key "seeds"`},
		{[]string{"--set", "seed=2", "--set=seeds=[1,2]"}, `config --set seeds=[1,2]: key "seeds"`},
		{[]string{"--unset", "seed", "--unset=nosuch"}, `config --unset nosuch: key "nosuch"`},
		{[]string{"--set", "seed=null", "--unset", "seed"}, `config --unset seed: key "seed"`},
	} {
		for _, cmd := range []string{"run", "embed"} {
			args := append([]string{cmd, cfg}, tc.args...)
			r := cli(t, args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%q: exit %d, want 2 and %q\n%s", args, r.code, tc.want, r.stderr)
			}
			if strings.Contains(r.stderr, "Usage:") {
				t.Errorf("%q: a config error printed the usage\n%s", args, r.stderr)
			}
		}
	}
}

// TestCLIScoreJSONFlag: --json is a boolean, in any position.
func TestCLIScoreJSONFlag(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "y.txt")
	p := filepath.Join(dir, "p.txt")
	os.WriteFile(y, []byte("0\n0\n1\n1\n2\n2\n"), 0o644)
	os.WriteFile(p, []byte("1\n1\n0\n0\n2\n2\n"), 0o644)
	for _, args := range [][]string{
		{"score", "--json", "--labels", y, "--pred", p},
		{"score", "--labels=" + y, "--pred=" + p, "--json"},
		{"score", "--labels", y, "--json=true", "--pred", p},
	} {
		r := cli(t, args...)
		var rep scoreReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); r.code != 0 || err != nil || rep.ACC != 1 || rep.N != 6 {
			t.Errorf("%q: exit %d, %v, %+v\n%s%s", args, r.code, err, rep, r.stdout, r.stderr)
		}
	}
	r := cli(t, "score", "--labels", y, "--pred", p, "--json=false")
	if r.code != 0 || !strings.Contains(r.stdout, "majority ACC") || strings.HasPrefix(r.stdout, "{") {
		t.Errorf("--json=false: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
