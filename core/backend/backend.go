// Package backend opens the GoMLX compute backend named by the `backend`
// config key (auto, onnx[:cpu|:cuda], go, xla:PLUGIN) under clusterlab's
// rules: nothing is ever downloaded at run time, a missing library is a
// clear error saying how to install it, and `auto` says what it picked.
package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // registers "go"
	"github.com/gomlx/go-xla/compute/xla"

	"github.com/clusterlab/clusterlab/core"
)

// Env names honoured by Open.
const (
	// OrtLibEnv points at the ONNX Runtime shared library (1.30.0).
	OrtLibEnv = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
	// XLAPluginEnv points at a PJRT plugin (.so) for the xla backend, e.g.
	// the CUDA plugin a JAX CUDA install ships. `auto` uses it when a GPU
	// is present.
	XLAPluginEnv     = "CLUSTERLAB_XLA_PLUGIN"
	noAutoInstallEnv = "GOMLX_NO_AUTO_INSTALL"
)

// OrtRelPath is where scripts/setup-onnxruntime.sh installs the library,
// relative to the project root.
const OrtRelPath = ".deps/onnxruntime/libonnxruntime.so"

// goConfig avoids the go backend's parallel executor, which deadlocks on
// graphs of the trainer's size (GoMLX v0.28.2).
const goConfig = "go:ops_sequential"

func init() {
	// The libraries also read this variable in their own init, which ran
	// before this one; set it anyway for child processes and switch off
	// the xla installer explicitly.
	_ = os.Setenv(noAutoInstallEnv, "1")
	xla.EnableAutoInstall(false)
}

// Opened is an opened backend and how it was chosen.
type Opened struct {
	Backend compute.Backend
	// Name is the resolved spec, e.g. "onnx:cpu", "go", "xla:/path/plugin.so".
	Name string
	// Why explains the choice for `auto` (empty otherwise).
	Why string
}

// Option changes how Open opens a backend.
type Option func(*openConfig)

type openConfig struct{ quietThreads bool }

// QuietThreads asks for a backend whose worker threads leave the cores as
// soon as a run ends (ONNX Runtime on the CPU: no spinning), for a caller
// that does its own work on the same cores between runs, such as the
// trainer's oneDNN products. By default ONNX Runtime's workers spin for a
// while after each run, which serves back-to-back runs best.
func QuietThreads() Option { return func(c *openConfig) { c.quietThreads = true } }

// Open resolves spec and opens the backend.
func Open(spec string, opts ...Option) (*Opened, error) {
	var oc openConfig
	for _, o := range opts {
		o(&oc)
	}
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = "auto"
	}
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "auto":
		return openAuto(oc)
	case "onnx":
		if cfg == "" {
			cfg = "cpu"
		}
		return openONNX(cfg, oc)
	case "go":
		b, err := compute.NewWithConfig(goConfig)
		if err != nil {
			return nil, fmt.Errorf("open go backend: %w", err)
		}
		return &Opened{Backend: b, Name: "go"}, nil
	case "xla":
		if cfg == "" {
			cfg = os.Getenv(XLAPluginEnv)
		}
		return openXLA(cfg)
	}
	return nil, fmt.Errorf("unknown backend %q: want auto, onnx, onnx:cpu, onnx:cuda, go or xla:/path/to/pjrt_plugin.so", spec)
}

func openAuto(oc openConfig) (*Opened, error) {
	if p := os.Getenv(XLAPluginEnv); p != "" && hasGPU() {
		o, err := openXLA(p)
		if err == nil {
			o.Why = fmt.Sprintf("auto: GPU found and $%s set", XLAPluginEnv)
			return o, nil
		}
		return nil, fmt.Errorf("auto backend: $%s is set and a GPU is present, but: %w", XLAPluginEnv, err)
	}
	if onnxCompiledIn {
		if _, err := FindOrtLibrary(); err == nil {
			o, err := openONNX("cpu", oc)
			if err != nil {
				return nil, err
			}
			o.Why = "auto: ONNX Runtime library found"
			return o, nil
		}
	}
	b, err := compute.NewWithConfig(goConfig)
	if err != nil {
		return nil, fmt.Errorf("open go backend: %w", err)
	}
	why := "auto: no ONNX Runtime library found (run `make setup` or set $" + OrtLibEnv + "); using the slow pure-Go backend"
	if !onnxCompiledIn {
		why = "auto: this binary was built without the onnx tag; using the slow pure-Go backend"
	}
	return &Opened{Backend: b, Name: "go", Why: why}, nil
}

func openONNX(cfg string, oc openConfig) (*Opened, error) {
	if !onnxCompiledIn {
		return nil, errors.New("backend onnx: this binary was built without the `onnx` build tag; rebuild with `make build` (go build -tags onnx)")
	}
	if cfg != "cpu" && cfg != "cuda" && cfg != "gpu" {
		return nil, fmt.Errorf("backend onnx:%s: want onnx:cpu or onnx:cuda", cfg)
	}
	// compute-onnx reads $ONNXRUNTIME_SHARED_LIBRARY_PATH, which
	// PrepareOrt sets, when it first initialises ONNX Runtime; with it
	// set, its installer is never reached.
	lib, err := PrepareOrt()
	if err != nil {
		return nil, fmt.Errorf("backend onnx: %w", err)
	}
	// With QuietThreads, ONNX Runtime's worker threads on the CPU sleep
	// as soon as a run ends instead of spinning for work (about 30 ms of a
	// core after each run): the trainer runs oneDNN products and its
	// optimizer on the same cores between the step graph's runs, and a
	// product started while they spin ran at half speed. Small step graphs
	// run back to back gain from the spinning (a D 64 step: 20 ms against
	// 23), so it stays the default. (A clusterlab patch of compute-onnx,
	// third_party/compute-onnx.)
	// A program that imports clusterlab as a library builds with upstream
	// compute-onnx (go.mod's replace directive is ours alone), which does
	// not know the option: it then runs with ORT's default.
	var b compute.Backend
	if cfg == "cpu" && oc.quietThreads {
		b, err = compute.NewWithConfig("onnx:cpu,spin=0")
		if err != nil && strings.Contains(err.Error(), "unknown config option") {
			b, err = compute.NewWithConfig("onnx:cpu")
		}
	} else {
		b, err = compute.NewWithConfig("onnx:" + cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open onnx backend with %s: %w", lib, err)
	}
	return &Opened{Backend: b, Name: "onnx:" + cfg}, nil
}

// openXLA opens the xla backend with a PJRT plugin, cfg being the
// plugin's path optionally followed by go-xla's options after a comma
// (xla:/path/xla_cuda_plugin.so,tf32=false: on CUDA go-xla computes
// float32 products in TF32 unless told otherwise).
func openXLA(cfg string) (*Opened, error) {
	plugin, opts, _ := strings.Cut(cfg, ",")
	if plugin == "" {
		return nil, fmt.Errorf("backend xla: name the PJRT plugin, e.g. backend: xla:/path/to/xla_cuda_plugin.so, or set $%s (nothing is downloaded)", XLAPluginEnv)
	}
	if !filepath.IsAbs(plugin) {
		if abs, err := filepath.Abs(plugin); err == nil && fileExists(abs) {
			plugin = abs
		} else {
			return nil, fmt.Errorf("backend xla:%s: give the absolute path of a PJRT plugin .so (nothing is downloaded)", plugin)
		}
	}
	if !fileExists(plugin) {
		return nil, fmt.Errorf("backend xla: PJRT plugin %s not found", plugin)
	}
	spec := plugin
	if opts != "" {
		spec += "," + opts
	}
	b, err := compute.NewWithConfig("xla:" + spec)
	if err != nil {
		return nil, fmt.Errorf("open xla backend with plugin %s: %w", spec, err)
	}
	return &Opened{Backend: b, Name: "xla:" + spec}, nil
}

// OrtTelemetryEnv, set to 1, keeps ONNX Runtime's telemetry from starting
// (PrepareOrt sets it).
const OrtTelemetryEnv = "ORT_DISABLE_TELEMETRY"

// PrepareOrt finds the ONNX Runtime library (see FindOrtLibrary) and
// readies this process to load it: it sets $ONNXRUNTIME_SHARED_LIBRARY_PATH
// to the library, for compute-onnx and for child processes, and switches
// ONNX Runtime's telemetry off. Every user of ONNX Runtime calls it before
// it loads the library (the onnx backend here, the dinov2 backbone).
//
// Why the telemetry: the Linux build of ONNX Runtime 1.30 links
// Microsoft's 1DS telemetry SDK, which starts when the first ONNX Runtime
// environment is created. It then creates an empty trace file
// $TMPDIR/mat-debug-<pid>.log that nothing removes (one per process: the
// runner, each loss plugin, the dinov2 backbone, each test binary), reads
// $TMPDIR/.ses and keeps an event database under
// ~/.cache/Microsoft/DeveloperTools/.onnxruntime. The C API's
// DisableTelemetryEvents only acts on an environment that exists, after
// the file is there; the library reads ORT_DISABLE_TELEMETRY when it
// creates the environment, and with it set to 1 none of this happens.
// Children inherit it.
func PrepareOrt() (string, error) {
	lib, err := FindOrtLibrary()
	if err != nil {
		return "", err
	}
	// os.Setenv reaches the C environment, where the library reads it
	// (the ONNX Runtime bindings use cgo).
	if err := os.Setenv(OrtTelemetryEnv, "1"); err != nil {
		return "", err
	}
	if err := os.Setenv(OrtLibEnv, lib); err != nil {
		return "", err
	}
	return lib, nil
}

// FindOrtLibrary returns the ONNX Runtime library: $ONNXRUNTIME_SHARED_LIBRARY_PATH,
// else .deps/onnxruntime/libonnxruntime.so in the first of the executable's
// directory, the working directory, or any of their parents that has one.
func FindOrtLibrary() (string, error) {
	if p := os.Getenv(OrtLibEnv); p != "" {
		if fileExists(p) {
			return p, nil
		}
		return "", fmt.Errorf("$%s=%s does not exist; install ONNX Runtime 1.30.0 with `make setup`", OrtLibEnv, p)
	}
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, s := range starts {
		for dir := s; ; dir = filepath.Dir(dir) {
			p := filepath.Join(dir, OrtRelPath)
			if fileExists(p) {
				return p, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("ONNX Runtime library not found: run `make setup` (installs %s from the npm package onnxruntime-node@1.30.0) or set $%s", OrtRelPath, OrtLibEnv)
}

func hasGPU() bool {
	m, _ := filepath.Glob("/dev/nvidia[0-9]*")
	return len(m) > 0
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Check validates spec without opening a backend, so that a config naming
// an unknown or unavailable backend is rejected before any work starts.
// Its errors are invalid input.
func Check(spec string) error {
	spec = strings.TrimSpace(spec)
	name, cfg, _ := strings.Cut(spec, ":")
	switch name {
	case "", "auto":
		if cfg != "" {
			return core.InvalidInput(fmt.Errorf("backend %q: auto takes no setting", spec))
		}
		return nil
	case "go":
		if cfg != "" && "go:"+cfg != goConfig {
			return core.InvalidInput(fmt.Errorf("backend %q: go takes no setting", spec))
		}
		return nil
	case "onnx":
		if cfg != "" && cfg != "cpu" && cfg != "cuda" && cfg != "gpu" {
			return core.InvalidInput(fmt.Errorf("backend onnx:%s: want onnx, onnx:cpu or onnx:cuda", cfg))
		}
		if !onnxCompiledIn {
			return core.InvalidInput(errors.New("backend onnx: this binary was built without the `onnx` build tag; rebuild with `make build` (go build -tags onnx) or use backend: go"))
		}
		if _, err := FindOrtLibrary(); err != nil {
			return core.InvalidInput(fmt.Errorf("backend onnx: %w", err))
		}
		return nil
	case "xla":
		if cfg == "" {
			cfg = os.Getenv(XLAPluginEnv)
		}
		if cfg == "" {
			return core.InvalidInput(fmt.Errorf("backend xla: name the PJRT plugin, e.g. backend: xla:/path/to/xla_cuda_plugin.so, or set $%s (nothing is downloaded)", XLAPluginEnv))
		}
		if plugin, _, _ := strings.Cut(cfg, ","); !fileExists(plugin) {
			return core.InvalidInput(fmt.Errorf("backend xla: PJRT plugin %s not found", plugin))
		}
		return nil
	}
	return core.InvalidInput(fmt.Errorf("unknown backend %q: want auto, onnx, onnx:cpu, onnx:cuda, go or xla:/path/to/pjrt_plugin.so", spec))
}
