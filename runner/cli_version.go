package main

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/plugins"
)

// gomlxModule is the module whose version `clusterlab version` reports.
const gomlxModule = "github.com/gomlx/gomlx"

// versionInfo is `clusterlab version` (--json as is).
type versionInfo struct {
	// Version is the main module's version ("devel" when the build does
	// not know it); Commit the VCS revision ("unknown" without VCS
	// information), Modified whether the working tree had changes.
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commit_time,omitempty"`
	Modified   bool   `json:"modified"`
	Go         string `json:"go"`
	Platform   string `json:"platform"`
	BuildTags  string `json:"build_tags"`
	GoMLX      string `json:"gomlx"`

	ONNXRuntime ortInfo `json:"onnxruntime"`

	Plugins     []pluginInfo `json:"plugins"`
	PluginDirs  []pluginDir  `json:"plugin_dirs"`
	PluginError string       `json:"plugin_error,omitempty"`
}

// ortInfo is the ONNX Runtime library the runner found (and hands to its
// plugins).
type ortInfo struct {
	Path string `json:"path,omitempty"`
	// Version is read from the library file without loading it; empty
	// when it could not be read. VersionFrom says where it was read.
	Version     string `json:"version,omitempty"`
	VersionFrom string `json:"version_from,omitempty"`
	Error       string `json:"error,omitempty"`
}

type pluginInfo struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Path string `json:"path"`
}

type pluginDir struct {
	Dir    string `json:"dir"`
	Origin string `json:"origin"`
}

// buildVersion reads the version, commit and GoMLX version from the build
// information.
func buildVersion() versionInfo {
	v := versionInfo{
		Version:  "devel",
		Commit:   "unknown",
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		GoMLX:    "unknown",
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
		v.Version = mv
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "-tags":
			v.BuildTags = s.Value
		}
	}
	for _, d := range bi.Deps {
		if d.Path != gomlxModule {
			continue
		}
		v.GoMLX = d.Version
		if d.Replace != nil {
			v.GoMLX += " => " + d.Replace.Path
			if d.Replace.Version != "" {
				v.GoMLX += " " + d.Replace.Version
			}
		}
	}
	return v
}

// shortVersion is `clusterlab --version`: the version and the commit.
func shortVersion() string {
	v := buildVersion()
	return v.Version + " (commit " + v.commitText() + ")"
}

func (v versionInfo) commitText() string {
	c := v.Commit
	if v.Modified {
		c += ", modified"
	}
	return c
}

// collectVersion is buildVersion plus what this machine has: the ONNX
// Runtime library and the plugins (found, not launched).
func collectVersion() versionInfo {
	v := buildVersion()
	if lib, err := backend.FindOrtLibrary(); err != nil {
		v.ONNXRuntime.Error = err.Error()
	} else {
		v.ONNXRuntime.Path = lib
		v.ONNXRuntime.Version, v.ONNXRuntime.VersionFrom = ortLibraryVersion(lib)
	}
	found, err := plugins.Discover()
	if err != nil {
		v.PluginError = err.Error()
	}
	v.Plugins = []pluginInfo{}
	for _, f := range found {
		v.Plugins = append(v.Plugins, pluginInfo{Kind: f.Kind, Name: f.Name, Path: f.Path})
	}
	for _, d := range plugins.SearchDirs() {
		v.PluginDirs = append(v.PluginDirs, pluginDir{Dir: d.Dir, Origin: d.Origin})
	}
	return v
}

var semverRE = regexp.MustCompile(`\d+\.\d+\.\d+`)

// ortLibraryVersion reads an ONNX Runtime library's version without
// loading it: from the ELF symbol version its exports are tagged with
// (VERS_<version>, in every official Linux build), else from the file
// name (libonnxruntime.so.1.30.0, libonnxruntime.1.30.0.dylib, also of a
// symlink's target), else from the VERSION file `make setup` writes
// beside it. It returns the version and where it was read, or two empty
// strings.
func ortLibraryVersion(path string) (version, from string) {
	if f, err := elf.Open(path); err == nil {
		vs, err := f.DynamicVersions()
		f.Close()
		if err == nil {
			for _, dv := range vs {
				if rest, ok := strings.CutPrefix(dv.Name, "VERS_"); ok && semverRE.MatchString(rest) {
					return rest, "the library's symbol version " + dv.Name
				}
			}
		}
	}
	names := []string{filepath.Base(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		names = append(names, filepath.Base(real))
	}
	for _, n := range names {
		if m := semverRE.FindString(n); m != "" {
			return m, "its file name " + n
		}
	}
	stamp := filepath.Join(filepath.Dir(path), "VERSION")
	if b, err := os.ReadFile(stamp); err == nil {
		if s := strings.TrimSpace(string(b)); semverRE.MatchString(s) && len(s) < 40 {
			return s, stamp + ", written by make setup"
		}
	}
	return "", ""
}

// write prints v as aligned lines.
func (v versionInfo) write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	commit := v.commitText()
	if v.CommitTime != "" {
		commit += ", " + v.CommitTime
	}
	tags := v.BuildTags
	if tags == "" {
		tags = "(none)"
	}
	fmt.Fprintf(tw, "clusterlab\t%s\n", v.Version)
	fmt.Fprintf(tw, "commit\t%s\n", commit)
	fmt.Fprintf(tw, "go\t%s %s\n", v.Go, v.Platform)
	fmt.Fprintf(tw, "build tags\t%s\n", tags)
	fmt.Fprintf(tw, "gomlx\t%s\n", v.GoMLX)
	switch o := v.ONNXRuntime; {
	case o.Error != "":
		fmt.Fprintf(tw, "onnxruntime\tnot found: %s\n", o.Error)
	case o.Version == "":
		fmt.Fprintf(tw, "onnxruntime\tversion not read\n\t%s\n", o.Path)
	default:
		fmt.Fprintf(tw, "onnxruntime\t%s (read from %s)\n\t%s\n", o.Version, o.VersionFrom, o.Path)
	}
	if len(v.Plugins) == 0 {
		fmt.Fprintf(tw, "plugins\tnone found; build them with `make build` or set %s\n", plugins.PathEnv)
	} else {
		fmt.Fprintf(tw, "plugins\t%d found (not launched; `clusterlab plugins` describes them)\n", len(v.Plugins))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range v.Plugins {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Kind, p.Name, p.Path)
	}
	if v.PluginError != "" {
		fmt.Fprintf(tw, "  error: %s\n", v.PluginError)
	}
	if len(v.Plugins) == 0 {
		fmt.Fprintln(tw, "plugin directories searched:")
		for _, d := range v.PluginDirs {
			fmt.Fprintf(tw, "  %s\t(%s)\n", d.Dir, d.Origin)
		}
	}
	return tw.Flush()
}
