// Package config loads an experiment config: a YAML file, then environment
// variables CLUSTERLAB_* (double underscore for nesting), then --set
// key=value flags, merged with koanf. Top-level keys are validated here;
// the options under dataset, backbone and loss are passed to the plugin,
// whose Describe schema validates them.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
	yamlv3 "go.yaml.in/yaml/v3"

	"github.com/clusterlab/clusterlab/core"
)

// EnvPrefix is the prefix of config environment variables.
const EnvPrefix = "CLUSTERLAB_"

// envNotConfig are CLUSTERLAB_* variables that are settings of the tool, not
// config keys.
var envNotConfig = map[string]bool{"PLUGIN_PATH": true, "DEBUG": true, "XLA_PLUGIN": true}

// Section is a plugin section of the config: which plugin, and its options.
type Section struct {
	// Plugin is a plugin name (found by discovery) or a path to a plugin
	// executable (any value with a '/').
	Plugin  string
	Options core.Options
}

// Config is a loaded, validated experiment config.
type Config struct {
	File       string // the YAML file it came from
	Experiment string
	Trial      string // empty: derived from seed and config hash
	Seed       int64
	Backend    string
	Clusters   int // 0: number of classes
	RunsDir    string
	CacheDir   string
	Dataset    Section
	Backbone   Section
	Loss       Section
	Neighbours struct{ K int }
	Baselines  struct {
		KMeans         bool
		KMeansNInit    int
		KMeansMaxIter  int
		KNNClassifier  bool
		KNNClassifierK int
	}
	// Sweep is set when the config has a sweep: section (the trials).
	Sweep *Sweep
	// TrialInfo is set on the trials of a sweep.
	TrialInfo *TrialInfo
	// Resolved is the merged config as a nested map (after env and --set),
	// before plugin defaults are filled in.
	Resolved map[string]any
}

// Top-level scalar keys.
var topSchema = []core.Option{
	{Name: "experiment", Type: core.TypeString, Default: "", Help: "experiment name: runs go to runs_dir/<experiment>/<trial>; default: the config file's name"},
	{Name: "trial", Type: core.TypeString, Default: "", Help: "trial name; default seed<seed>-<hash of the config>"},
	{Name: "seed", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "random seed of training and k-means"},
	{Name: "backend", Type: core.TypeString, Default: "auto", Help: "GoMLX backend: auto, onnx, onnx:cpu, onnx:cuda, go, xla:/path/to/pjrt_plugin.so"},
	{Name: "clusters", Type: core.TypeInt, Default: 0, Min: core.Bound(0), Help: "number of clusters K; 0 = number of classes"},
	{Name: "runs_dir", Type: core.TypeString, Default: "runs", Help: "where run directories are written"},
	{Name: "cache_dir", Type: core.TypeString, Default: "cache", Help: "the embedding store (embeddings, backbone state, k-NN graphs)"},
}

var neighboursSchema = []core.Option{
	{Name: "k", Type: core.TypeInt, Default: 50, Min: core.Bound(1), Help: "neighbours kept per train embedding (cosine, self excluded)"},
}

var baselinesSchema = []core.Option{
	{Name: "kmeans", Type: core.TypeBool, Default: true, Help: "run k-means on the same features"},
	{Name: "kmeans_n_init", Type: core.TypeInt, Default: 10, Min: core.Bound(1), Help: "k-means restarts (k-means++ init each); the lowest inertia wins"},
	{Name: "kmeans_max_iter", Type: core.TypeInt, Default: 300, Min: core.Bound(1), Help: "Lloyd iterations per restart"},
	{Name: "knn_classifier", Type: core.TypeBool, Default: true, Help: "supervised k-NN classifier accuracy (train labels -> test) as an upper reference"},
	{Name: "knn_classifier_k", Type: core.TypeInt, Default: 20, Min: core.Bound(1), Help: "neighbours of the k-NN classifier"},
}

var pluginSections = []string{"dataset", "backbone", "loss"}

// Error is a config error naming the file and key; the runner exits 2.
type Error struct {
	File string
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("config %s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("config %s: key %q: %s", e.File, e.Key, e.Msg)
}

// Is makes config errors invalid input.
func (e *Error) Is(target error) bool { return target == core.ErrInvalidInput }

// Load reads file, applies the environment and the --set overrides
// (each "key=value", value parsed as YAML) and validates the top level.
func Load(file string, sets []string) (*Config, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	return LoadBytes(file, raw, os.Environ(), sets)
}

// LoadBytes is Load with the file content and environment given.
func LoadBytes(file string, raw []byte, environ []string, sets []string) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider(raw), yaml.Parser()); err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	var envErr error
	if err := k.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(key, v string) (string, any) {
			name := strings.TrimPrefix(key, EnvPrefix)
			if envNotConfig[name] {
				return "", nil
			}
			path := strings.ToLower(strings.ReplaceAll(name, "__", "."))
			val, err := parseScalar(v)
			if err != nil && envErr == nil {
				envErr = &Error{File: file, Key: path, Msg: fmt.Sprintf("environment variable %s: %v", key, err)}
			}
			return path, val
		},
	}), nil); err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("environment: %v", err)}
	}
	if envErr != nil {
		return nil, envErr
	}
	overrides := map[string]any{}
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, &Error{File: file, Msg: fmt.Sprintf("--set %q: want key=value (e.g. --set loss.epochs=5)", s)}
		}
		v, err := parseScalar(val)
		if err != nil {
			return nil, &Error{File: file, Key: key, Msg: fmt.Sprintf("--set value %q: %v", val, err)}
		}
		overrides[key] = v
	}
	if err := k.Load(confmap.Provider(overrides, "."), nil); err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("--set: %v", err)}
	}
	if raw := k.Get("sweep"); raw != nil {
		sw, err := parseSweep(file, k, k.Raw()["sweep"])
		if err != nil {
			return nil, err
		}
		base := k.Copy()
		base.Delete("sweep")
		c, err := fromKoanf(file, base)
		if err != nil {
			return nil, err
		}
		c.Sweep = sw
		return c, nil
	}
	return fromKoanf(file, k)
}

func parseScalar(s string) (any, error) {
	var v any
	if err := yamlv3.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if v == nil {
		return "", nil
	}
	return v, nil
}

func fromKoanf(file string, k *koanf.Koanf) (*Config, error) {
	all := k.Raw()
	c := &Config{File: file, Resolved: all}
	top := core.Options{}
	var unknown []string
	for key, v := range all {
		switch {
		case key == "dataset" || key == "backbone" || key == "loss" || key == "neighbours" || key == "baselines":
		default:
			if isSchemaKey(topSchema, key) {
				if _, isMap := v.(map[string]any); isMap {
					return nil, &Error{File: file, Key: key, Msg: "want a single value, got a section"}
				}
				top[key] = v
			} else {
				unknown = append(unknown, key)
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &Error{File: file, Key: unknown[0], Msg: "unknown key; top-level keys are " + strings.Join(knownTop(), ", ")}
	}
	opts, err := core.ResolveOptions(topSchema, top)
	if err != nil {
		return nil, wrapOptErr(file, "", err)
	}
	c.Experiment = opts.String("experiment")
	if c.Experiment == "" {
		c.Experiment = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if strings.ContainsAny(c.Experiment, "/\\") {
		return nil, &Error{File: file, Key: "experiment", Msg: "must not contain a path separator"}
	}
	c.Trial = opts.String("trial")
	if strings.ContainsAny(c.Trial, "/\\") {
		return nil, &Error{File: file, Key: "trial", Msg: "must not contain a path separator"}
	}
	c.Seed = int64(opts.Int("seed"))
	c.Backend = opts.String("backend")
	c.Clusters = opts.Int("clusters")
	c.RunsDir = opts.String("runs_dir")
	c.CacheDir = opts.String("cache_dir")

	for _, name := range pluginSections {
		sec, err := section(file, name, all[name])
		if err != nil {
			return nil, err
		}
		switch name {
		case "dataset":
			c.Dataset = sec
		case "backbone":
			c.Backbone = sec
		case "loss":
			c.Loss = sec
		}
	}
	nb, err := subSection(file, "neighbours", neighboursSchema, all["neighbours"])
	if err != nil {
		return nil, err
	}
	c.Neighbours.K = nb.Int("k")
	bl, err := subSection(file, "baselines", baselinesSchema, all["baselines"])
	if err != nil {
		return nil, err
	}
	c.Baselines.KMeans = bl.Bool("kmeans")
	c.Baselines.KMeansNInit = bl.Int("kmeans_n_init")
	c.Baselines.KMeansMaxIter = bl.Int("kmeans_max_iter")
	c.Baselines.KNNClassifier = bl.Bool("knn_classifier")
	c.Baselines.KNNClassifierK = bl.Int("knn_classifier_k")
	return c, nil
}

func section(file, name string, v any) (Section, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return Section{}, &Error{File: file, Key: name, Msg: fmt.Sprintf("section missing; e.g. %s: {plugin: NAME, ...options}", name)}
		}
		return Section{}, &Error{File: file, Key: name, Msg: "want a section (a mapping with plugin: and the plugin's options)"}
	}
	p, _ := m["plugin"].(string)
	if p == "" {
		return Section{}, &Error{File: file, Key: name + ".plugin", Msg: "missing: name the plugin (e.g. plugin: idx) or give its path"}
	}
	opts := core.Options{}
	for k, val := range m {
		if k == "plugin" {
			continue
		}
		opts[k] = val
	}
	return Section{Plugin: p, Options: opts}, nil
}

func subSection(file, name string, schema []core.Option, v any) (core.Options, error) {
	given := core.Options{}
	if v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, &Error{File: file, Key: name, Msg: "want a section (a mapping)"}
		}
		for k, val := range m {
			given[k] = val
		}
	}
	opts, err := core.ResolveOptions(schema, given)
	if err != nil {
		return nil, wrapOptErr(file, name, err)
	}
	return opts, nil
}

// PluginOptionError turns an option error reported by a plugin's Describe
// into a config error naming the file and the key.
func PluginOptionError(file, sectionName string, err error) error {
	return wrapOptErr(file, sectionName, err)
}

func wrapOptErr(file, prefix string, err error) error {
	var oe *core.OptionError
	if errors.As(err, &oe) {
		key := oe.Key
		if prefix != "" {
			key = prefix + "." + key
		}
		return &Error{File: file, Key: key, Msg: oe.Msg}
	}
	msg := err.Error()
	// Errors that crossed a plugin boundary arrive as text: option "x": msg.
	if strings.HasPrefix(msg, "option \"") {
		rest := strings.TrimPrefix(msg, "option \"")
		if key, m, ok := strings.Cut(rest, "\": "); ok {
			if prefix != "" {
				key = prefix + "." + key
			}
			return &Error{File: file, Key: key, Msg: m}
		}
	}
	return &Error{File: file, Key: prefix, Msg: msg}
}

func isSchemaKey(schema []core.Option, key string) bool {
	for _, o := range schema {
		if o.Name == key {
			return true
		}
	}
	return false
}

func knownTop() []string {
	names := []string{"dataset", "backbone", "loss", "neighbours", "baselines"}
	for _, o := range topSchema {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}

// YAML renders the resolved config (with the plugins' resolved options
// when given) for the run directory's config.yaml.
func (c *Config) YAML(resolved map[string]core.Options) ([]byte, error) {
	out := map[string]any{
		"experiment": c.Experiment,
		"trial":      c.Trial,
		"seed":       c.Seed,
		"backend":    c.Backend,
		"clusters":   c.Clusters,
		"runs_dir":   c.RunsDir,
		"cache_dir":  c.CacheDir,
		"neighbours": map[string]any{"k": c.Neighbours.K},
		"baselines": map[string]any{
			"kmeans":           c.Baselines.KMeans,
			"kmeans_n_init":    c.Baselines.KMeansNInit,
			"kmeans_max_iter":  c.Baselines.KMeansMaxIter,
			"knn_classifier":   c.Baselines.KNNClassifier,
			"knn_classifier_k": c.Baselines.KNNClassifierK,
		},
	}
	for name, sec := range map[string]Section{"dataset": c.Dataset, "backbone": c.Backbone, "loss": c.Loss} {
		m := map[string]any{"plugin": sec.Plugin}
		opts := sec.Options
		if r, ok := resolved[name]; ok {
			opts = r
		}
		for k, v := range opts {
			m[k] = v
		}
		out[name] = m
	}
	return yamlv3.Marshal(out)
}
