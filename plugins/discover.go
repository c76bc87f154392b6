package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/core"
)

// PathEnv names the environment variable with extra plugin directories
// (separated by os.PathListSeparator, ':' on Unix), searched first.
const PathEnv = "CLUSTERLAB_PLUGIN_PATH"

// SearchDir is one directory where plugins are looked for.
type SearchDir struct {
	Dir    string // absolute
	Origin string // why it is searched, for messages
}

// SearchDirs returns the plugin directories in search order: those of
// $CLUSTERLAB_PLUGIN_PATH, plugins/ beside the running executable (the
// runner), and ./bin/plugins (where `make build` installs them).
func SearchDirs() []SearchDir {
	var dirs []SearchDir
	for _, d := range filepath.SplitList(os.Getenv(PathEnv)) {
		if d == "" {
			continue
		}
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		dirs = append(dirs, SearchDir{Dir: d, Origin: "from $" + PathEnv})
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dirs = append(dirs, SearchDir{Dir: filepath.Join(filepath.Dir(exe), "plugins"), Origin: "beside the executable"})
	}
	local := filepath.Join("bin", "plugins")
	if abs, err := filepath.Abs(local); err == nil {
		local = abs
	}
	dirs = append(dirs, SearchDir{Dir: local, Origin: "./bin/plugins"})
	return dirs
}

// FileName returns the executable name of a plugin: clusterlab-<kind>-<name>.
func FileName(kind, name string) string {
	f := "clusterlab-" + kind + "-" + name
	if runtime.GOOS == "windows" {
		f += ".exe"
	}
	return f
}

// parseFileName splits clusterlab-<kind>-<name>; the name may hold dashes.
func parseFileName(file string) (kind, name string, ok bool) {
	if runtime.GOOS == "windows" {
		var isExe bool
		if file, isExe = strings.CutSuffix(file, ".exe"); !isExe {
			return "", "", false
		}
	}
	rest, ok := strings.CutPrefix(file, "clusterlab-")
	if !ok {
		return "", "", false
	}
	kind, name, ok = strings.Cut(rest, "-")
	if !ok || name == "" || !isKind(kind) {
		return "", "", false
	}
	return kind, name, true
}

// isPath reports whether nameOrPath is an explicit path rather than a name.
func isPath(nameOrPath string) bool {
	return strings.ContainsRune(nameOrPath, '/') || strings.ContainsRune(nameOrPath, filepath.Separator)
}

// executable reports whether path is a regular file (after symlinks) that
// can be executed.
func executable(path string) (exists, isExec bool) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() {
		return err == nil, false
	}
	if runtime.GOOS == "windows" {
		return true, true
	}
	return true, st.Mode().Perm()&0o111 != 0
}

// NotFoundError says that a plugin was not found, and where it was looked
// for. It counts as invalid input (see IsInvalidInput).
type NotFoundError struct {
	Kind, Name string
	Searched   []SearchDir
	// NotExecutable lists files with the right name that cannot be run.
	NotExecutable []string
}

// Is makes a missing plugin invalid input (the config names it).
func (e *NotFoundError) Is(target error) bool { return target == core.ErrInvalidInput }

func (e *NotFoundError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no %s plugin %q: %s is not in any plugin directory; searched", e.Kind, e.Name, FileName(e.Kind, e.Name))
	for _, d := range e.Searched {
		note := ""
		if _, err := os.Stat(d.Dir); errors.Is(err, fs.ErrNotExist) {
			note = ", missing"
		}
		fmt.Fprintf(&b, "\n  %s (%s%s)", d.Dir, d.Origin, note)
	}
	for _, p := range e.NotExecutable {
		fmt.Fprintf(&b, "\nfound %s but it is not executable (chmod +x it)", p)
	}
	fmt.Fprintf(&b, "\nbuild and install the plugins with `make build` (into ./bin/plugins), add the plugin's directory to $%s, or give the plugin's path", PathEnv)
	return b.String()
}

func (e *NotFoundError) Unwrap() error { return core.ErrInvalidInput }

// Find returns the absolute path of the kind's plugin. A nameOrPath that
// contains a path separator is an explicit path (relative to the working
// directory); otherwise clusterlab-<kind>-<name> is searched in
// SearchDirs() order and the first executable file wins. A plugin that is
// not found gives a *NotFoundError.
func Find(kind, nameOrPath string) (string, error) {
	if !isKind(kind) {
		return "", fmt.Errorf("unknown plugin kind %q; want one of %s", kind, strings.Join(core.Kinds, ", "))
	}
	if nameOrPath == "" {
		return "", fmt.Errorf("%w: no %s plugin given", core.ErrInvalidInput, kind)
	}
	if isPath(nameOrPath) {
		path, err := filepath.Abs(nameOrPath)
		if err != nil {
			return "", fmt.Errorf("%s plugin %s: %w", kind, nameOrPath, err)
		}
		exists, isExec := executable(path)
		switch {
		case !exists:
			return "", fmt.Errorf("%w: %s plugin %s: no such file", core.ErrInvalidInput, kind, path)
		case !isExec:
			return "", fmt.Errorf("%w: %s plugin %s is not an executable file", core.ErrInvalidInput, kind, path)
		}
		return path, nil
	}
	nf := &NotFoundError{Kind: kind, Name: nameOrPath, Searched: SearchDirs()}
	file := FileName(kind, nameOrPath)
	for _, d := range nf.Searched {
		path := filepath.Join(d.Dir, file)
		exists, isExec := executable(path)
		if isExec {
			return path, nil
		}
		if exists {
			nf.NotExecutable = append(nf.NotExecutable, path)
		}
	}
	return "", nf
}

// Found is a plugin executable found by Discover.
type Found struct {
	Kind, Name string
	Path       string // absolute
}

// Discover lists every plugin executable in SearchDirs(), the first one of
// each kind and name (as Find would pick it), ordered by kind (as in
// core.Kinds) and name. Missing directories are skipped; unreadable ones
// are reported in the error, next to what was found elsewhere.
func Discover() ([]Found, error) {
	var (
		found []Found
		errs  []error
		seen  = map[string]bool{}
	)
	for _, d := range SearchDirs() {
		entries, err := os.ReadDir(d.Dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("list plugins in %s (%s): %w", d.Dir, d.Origin, err))
			continue
		}
		for _, e := range entries {
			kind, name, ok := parseFileName(e.Name())
			if !ok || seen[kind+"/"+name] {
				continue
			}
			path := filepath.Join(d.Dir, e.Name())
			if _, isExec := executable(path); !isExec {
				continue
			}
			seen[kind+"/"+name] = true
			found = append(found, Found{Kind: kind, Name: name, Path: path})
		}
	}
	order := map[string]int{}
	for i, k := range core.Kinds {
		order[k] = i
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].Kind != found[j].Kind {
			return order[found[i].Kind] < order[found[j].Kind]
		}
		return found[i].Name < found[j].Name
	})
	return found, errors.Join(errs...)
}

// Listed is one line of `clusterlab plugins`.
type Listed struct {
	Found
	Version, Summary string
	// Err is set when the plugin could not be launched or described; the
	// other plugins are listed all the same.
	Err error
}

// listParallel bounds how many plugins List starts at once.
const listParallel = 4

// List launches every discovered plugin, asks for its description and
// stops it again. A plugin that fails is listed with its error; the error
// returned is Discover's.
func List(ctx context.Context, opts ...LaunchOption) ([]Listed, error) {
	found, err := Discover()
	out := make([]Listed, len(found))
	sem := make(chan struct{}, listParallel)
	var wg sync.WaitGroup
	for i, f := range found {
		out[i].Found = f
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, lerr := Launch(ctx, f.Kind, f.Path, opts...)
			if lerr != nil {
				out[i].Err = lerr
				return
			}
			defer c.Kill()
			d := c.Description()
			out[i].Version, out[i].Summary = d.Version, d.Summary
		}()
	}
	wg.Wait()
	return out, err
}
