// Package testbin builds the project's executables for tests that run them
// as separate processes (the runner, the plugins, test plugins): each
// package once per test binary, with the test binary's own build tags
// (and -race when it has it), into one temporary directory laid out as
// `make build` lays out bin/: DIR/clusterlab and
// DIR/plugins/clusterlab-<kind>-<name>.
//
// A package that uses it runs its tests through Main, which removes that
// directory when they end (Build refuses to build otherwise):
//
//	func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
//
// A TestMain that needs executables before the tests start builds them
// with Make.
package testbin

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// modulePath is the module whose packages Build builds.
const modulePath = "github.com/clusterlab/clusterlab"

// Target is one executable: the package Pkg (a folder relative to the
// module root, e.g. "datasets/idx") built to Out (a path relative to the
// directory, e.g. "plugins/clusterlab-dataset-idx").
type Target struct {
	Pkg, Out string
}

// Runner is the runner, DIR/clusterlab.
var Runner = Target{Pkg: "runner", Out: "clusterlab"}

// Plugin is the plugin in folder pkg (e.g. "datasets/idx", kind from the
// first element as make build names it) at DIR/plugins/clusterlab-<kind>-<name>.
func Plugin(pkg string) Target {
	kind, name, _ := strings.Cut(pkg, "/")
	switch kind {
	case "datasets":
		kind = "dataset"
	case "backbones":
		kind = "backbone"
	case "losses":
		kind = "loss"
	}
	return PluginAs(pkg, kind, path.Base(name))
}

// PluginAs is the package pkg installed as the plugin kind/name (several
// names may share one package: it is built once, the others are links).
func PluginAs(pkg, kind, name string) Target {
	return Target{Pkg: pkg, Out: "plugins/clusterlab-" + kind + "-" + name}
}

// PluginDirs are the plugin folders `make build` builds (the Makefile's
// PLUGIN_DIRS).
var PluginDirs = []string{
	"datasets/idx", "datasets/cifar", "datasets/images", "datasets/stl10", "datasets/features", "backbones/dinov2", "backbones/pixels", "backbones/precomputed",
	"losses/temi", "losses/pmi", "losses/scan", "losses/turtle",
}

// All is what `make build` builds: the runner and every plugin.
func All() []Target {
	ts := []Target{Runner}
	for _, p := range PluginDirs {
		ts = append(ts, Plugin(p))
	}
	return ts
}

// state is the process's build directory and what has been built in it.
var state struct {
	mu   sync.Mutex
	dir  string
	err  error                 // of creating dir
	pkgs map[string]*build     // by package
	outs map[string]*sync.Once // by Out
	errs map[string]error      // of installing an Out
}

// build is one package's build, done once.
type build struct {
	done chan struct{} // closed when exe and err are set
	exe  string        // the built executable
	err  error
}

// mainRuns is set by Main: Build refuses to build for a test binary whose
// TestMain would not remove what it builds.
var mainRuns atomic.Bool

// Main runs the tests, then each of after (say, killing the plugins the
// tests left running), then removes the build directory; it returns
// m.Run's exit code.
func Main(m *testing.M, after ...func()) int {
	mainRuns.Store(true)
	code := m.Run()
	for _, f := range after {
		f()
	}
	Cleanup()
	return code
}

// Cleanup removes the build directory (Main calls it). Later Builds start
// a new one.
func Cleanup() {
	state.mu.Lock()
	dir := state.dir
	state.dir, state.err, state.pkgs, state.outs, state.errs = "", nil, nil, nil, nil
	state.mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Build builds the targets not built yet (the packages of one call in one
// go build, which compiles them in parallel; concurrent calls wait for each
// other's packages) and returns the directory. It fails tb when a build
// fails.
func Build(tb testing.TB, targets ...Target) string {
	tb.Helper()
	if !mainRuns.Load() {
		tb.Fatal("testbin: the package's TestMain must run the tests with os.Exit(testbin.Main(m)), which removes what Build builds")
	}
	dir, err := Make(targets...)
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// Path builds target and returns its executable's path.
func Path(tb testing.TB, target Target) string {
	tb.Helper()
	return filepath.Join(Build(tb, target), filepath.FromSlash(target.Out))
}

// Make is Build for a TestMain, which has no testing.TB: it returns the
// directory, or the error of a build that failed.
func Make(targets ...Target) (string, error) {
	state.mu.Lock()
	if state.dir == "" && state.err == nil {
		state.dir, state.err = os.MkdirTemp("", "clusterlab-testbin-")
		state.pkgs, state.outs, state.errs = map[string]*build{}, map[string]*sync.Once{}, map[string]error{}
	}
	dir, err := state.dir, state.err
	if err != nil {
		state.mu.Unlock()
		return "", err
	}
	// Claim the packages nobody builds yet; wait for the others below.
	var mine []string
	builds := map[string]*build{}
	for _, t := range targets {
		b, ok := state.pkgs[t.Pkg]
		if !ok {
			b = &build{done: make(chan struct{})}
			state.pkgs[t.Pkg] = b
			mine = append(mine, t.Pkg)
		}
		builds[t.Pkg] = b
	}
	state.mu.Unlock()

	if len(mine) > 0 {
		goBuild(dir, mine, builds)
	}
	var errs []error
	for _, t := range targets {
		b := builds[t.Pkg]
		<-b.done
		if b.err != nil {
			errs = append(errs, b.err)
			continue
		}
		if err := install(dir, t, b.exe); err != nil {
			errs = append(errs, err)
		}
	}
	return dir, errors.Join(errs...)
}

// goBuild builds pkgs with one go build per group of distinct base names
// (go build -o DIR/ names each executable after its folder) and sets each
// package's build.
func goBuild(dir string, pkgs []string, builds map[string]*build) {
	for len(pkgs) > 0 {
		var batch, rest []string
		seen := map[string]bool{}
		for _, p := range pkgs {
			if seen[path.Base(p)] {
				rest = append(rest, p)
				continue
			}
			seen[path.Base(p)] = true
			batch = append(batch, p)
		}
		stage, err := os.MkdirTemp(dir, ".build-")
		if err == nil {
			err = goBuildInto(stage, batch)
		}
		for _, p := range batch {
			b := builds[p]
			b.exe, b.err = filepath.Join(stage, path.Base(p)), err
			close(b.done)
		}
		pkgs = rest
	}
}

func goBuildInto(stage string, pkgs []string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := append([]string{"build"}, Flags()...)
	args = append(args, "-o", stage+string(filepath.Separator))
	for _, p := range pkgs {
		args = append(args, "./"+p)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s (in %s): %v\n%s", strings.Join(args, " "), root, err, out)
	}
	return nil
}

// install puts the built executable exe at t.Out, once per Out.
func install(dir string, t Target, exe string) error {
	state.mu.Lock()
	once, ok := state.outs[t.Out]
	if !ok {
		once = new(sync.Once)
		state.outs[t.Out] = once
	}
	state.mu.Unlock()
	once.Do(func() {
		out := filepath.Join(dir, filepath.FromSlash(t.Out))
		err := os.MkdirAll(filepath.Dir(out), 0o755)
		if err == nil {
			// A link, not a rename: the same package may be installed
			// under several names.
			err = os.Link(exe, out)
		}
		state.mu.Lock()
		state.errs[t.Out] = err
		state.mu.Unlock()
	})
	state.mu.Lock()
	defer state.mu.Unlock()
	if err := state.errs[t.Out]; err != nil {
		return fmt.Errorf("install %s as %s: %w", t.Pkg, t.Out, err)
	}
	return nil
}

// Flags are the go build flags that give executables built like this test
// binary: its -tags, and -race when it has the race detector.
func Flags() []string {
	var flags []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch {
			case s.Key == "-tags" && s.Value != "":
				flags = append(flags, "-tags", s.Value)
			case s.Key == "-race" && s.Value == "true":
				flags = append(flags, "-race")
			}
		}
	}
	return flags
}

// moduleRoot is the folder of this module's go.mod, found from the working
// directory (go test runs a test binary in its package's folder).
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod of module %s in %s or above it", modulePath, wd)
		}
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == modulePath
		}
	}
	return false
}

// ModuleRoot is the folder of this module's go.mod (the repository root),
// found from the working directory: for tests that run the repository's
// scripts.
func ModuleRoot() (string, error) { return moduleRoot() }
