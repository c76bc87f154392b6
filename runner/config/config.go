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
	"regexp"
	"slices"
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
//
//	loss:
//	  plugin: temi          # the one key that selects the plugin
//	  epochs: 12            # options: used by the selected plugin if it has them
//	  temi: {beta: 0.6}     # options of one plugin only, used when it is selected
//	  pmi: {beta: 1.0, weight: head}
//
// An option at the section level that the selected plugin lacks but another
// plugin of the same kind has is unused (listed, not an error), so
// switching plugins is one key; the runner checks this against the
// plugins' schemas.
type Section struct {
	// Name is the section's key: dataset, backbone, loss, or
	// backbones.<space> for one of several representation spaces.
	Name string
	// Space is the name of the representation space a backbone section
	// gives: the key under backbones:, or "" for the single backbone:
	// section (its space is named after its plugin).
	Space string
	// Plugin is a plugin name (found by discovery) or a path to a plugin
	// executable (any value with a '/').
	Plugin string
	// SHA256 pins the plugin executable (key plugin_sha256, hex as
	// sha256sum prints it): a different file is refused. Empty: any.
	SHA256 string
	// Options are the section-level options as given.
	Options core.Options
	// PerPlugin holds the options of named plugin subsections.
	PerPlugin map[string]core.Options
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
	// Backbones are the representation spaces: the one backbone: section,
	// or every section under backbones:, sorted by space name.
	Backbones []Section
	// Space, when set, is the one space of Backbones every method of the
	// run uses; empty: all of them (TURTLE takes them as separate spaces,
	// every other method their concatenation after per-space L2
	// normalisation).
	Space      string
	Loss       Section
	Neighbours struct{ K int }
	Baselines  struct {
		KMeans         bool
		KMeansNInit    int
		KMeansMaxIter  int
		KNNClassifier  bool
		KNNClassifierK int
		LinearProbe    bool
	}
	// Selection is the label-free model selection: TURTLE's generalization
	// score of every method's train assignment.
	Selection struct {
		Generalization bool
		Folds          int
		MaxRows        int
	}
	// Executor says where the trials run (executor: section).
	Executor Executor
	// Sweep is set when the config has a sweep: section (the trials).
	Sweep *Sweep
	// TrialInfo is set on the trials of a sweep.
	TrialInfo *TrialInfo
	// Sources says where each key's value came from (file line, --set,
	// environment variable, sweep entry).
	Sources Sources
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
	{Name: "space", Type: core.TypeString, Default: "", Help: "with several backbones: the one space (a key of backbones) every method of the run uses; empty = all (TURTLE uses them as separate spaces, the other methods and the baselines their concatenation after per-space L2 normalisation)"},
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
	{Name: "linear_probe", Type: core.TypeBool, Default: true, Help: "supervised linear probe (multinomial logistic regression, L2, C = 1, as scikit-learn's LogisticRegression; train labels -> test ACC), an upper reference"},
}

// DefaultSelectionMaxRows bounds the rows the generalization score fits
// on by default (a stratified subsample; see core/selection.Subsample).
const DefaultSelectionMaxRows = 20000

var selectionSchema = []core.Option{
	{Name: "generalization", Type: core.TypeBool, Default: true, Help: "TURTLE's label-free generalization score of each method's train assignment: held-out accuracy of a multinomial logistic regression (L2, C = 1) fitted to the assignment with stratified k-fold cross-validation, averaged over folds and spaces"},
	{Name: "folds", Type: core.TypeInt, Default: 10, Min: core.Bound(2), Max: core.Bound(100), Help: "cross-validation folds of the generalization score (the authors' 10)"},
	{Name: "max_rows", Type: core.TypeInt, Default: DefaultSelectionMaxRows, Min: core.Bound(0), Help: "score a stratified subsample of at most this many train rows (the same rows for every method and seed); 0 = every row, as the authors"},
}

var pluginSections = []string{"dataset", "backbone", "loss"}

// KeyBackbones is the section of several representation spaces, a mapping
// from space name to a backbone section (instead of backbone:).
const KeyBackbones = "backbones"

// KeySHA256 is the reserved key of a plugin section that pins the plugin
// executable's sha256; `plugin` is the other.
const KeySHA256 = "plugin_sha256"

// Overrides are the command line's changes to a config file: --set
// key=value flags (value parsed as YAML; null or ~ unsets the key) and
// --unset key flags, applied after the environment, sets first.
type Overrides struct {
	Sets   []string
	Unsets []string
}

// Load reads file, applies the environment and the command-line overrides
// and validates the top level.
func Load(file string, ov Overrides) (*Config, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, &Error{Source: Source{Kind: FromFile, File: file}, Msg: fmt.Sprintf("cannot read: %v", err)}
	}
	return LoadBytes(file, raw, os.Environ(), ov)
}

// LoadBytes is Load with the file content and environment given.
func LoadBytes(file string, raw []byte, environ []string, ov Overrides) (*Config, error) {
	fileSrc := Source{Kind: FromFile, File: file}
	k := koanf.New(".")
	if err := k.Load(rawbytes.Provider(raw), yaml.Parser()); err != nil {
		return nil, &Error{Source: fileSrc, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	sources := fileSources(file, raw)
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
			src := Source{Kind: FromEnv, Detail: key + "=" + v}
			val, err := parseValue(v)
			if err != nil && envErr == nil {
				envErr = &Error{Source: src, Key: path, Msg: err.Error()}
			}
			sources.set(path, val, src)
			return path, val
		},
	}), nil); err != nil {
		return nil, &Error{Source: fileSrc, Msg: fmt.Sprintf("environment: %v", err)}
	}
	if envErr != nil {
		return nil, envErr
	}
	var unsets []string
	for _, s := range ov.Sets {
		key, val, ok := strings.Cut(s, "=")
		key = strings.TrimSpace(key)
		src := Source{Kind: FromSet, Detail: s}
		if !ok || key == "" {
			return nil, &Error{Source: src, Msg: "want key=value (e.g. --set loss.epochs=5; --set key=null or --unset key removes a key)"}
		}
		v, err := parseValue(val)
		if err != nil {
			return nil, &Error{Source: src, Key: key, Msg: err.Error()}
		}
		if v == nil {
			unsets = append(unsets, key)
			continue
		}
		// One key at a time, so a later flag for the same key wins and a
		// section value merges into the file's section.
		if err := k.Load(confmap.Provider(map[string]any{key: v}, "."), nil); err != nil {
			return nil, &Error{Source: src, Key: key, Msg: err.Error()}
		}
		sources.set(key, v, src)
	}
	for _, key := range append(unsets, ov.Unsets...) {
		key = strings.TrimSpace(key)
		if !k.Exists(key) {
			return nil, &Error{Source: Source{Kind: FromUnset, Detail: key}, Key: key, Msg: "the config has no such key to remove"}
		}
		k.Delete(key)
		sources.drop(key)
		sources[key] = Source{Kind: FromUnset, Detail: key}
	}
	if raw := k.Get("sweep"); raw != nil {
		sw, err := parseSweep(file, k, k.Raw()["sweep"], sources)
		if err != nil {
			return nil, err
		}
		base := k.Copy()
		base.Delete("sweep")
		c, err := fromKoanf(file, base, sources)
		if err != nil {
			return nil, err
		}
		c.Sweep = sw
		return c, nil
	}
	return fromKoanf(file, k, sources)
}

// parseValue parses a value from the environment or a --set flag as YAML
// (so 5 is a number and [1, 2] a list). An empty value is the empty
// string; null and ~ are nil (remove the key).
func parseValue(s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var v any
	if err := yamlv3.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("value %q is not valid YAML: %v", s, err)
	}
	return v, nil
}

func fromKoanf(file string, k *koanf.Koanf, sources Sources) (*Config, error) {
	all := k.Raw()
	c := &Config{File: file, Sources: sources}
	top := core.Options{}
	var unknown []string
	for key, v := range all {
		switch {
		case key == "dataset" || key == "backbone" || key == KeyBackbones || key == "loss" || key == "neighbours" || key == "baselines" || key == "selection" || key == "executor":
		default:
			if isSchemaKey(topSchema, key) {
				if _, isMap := v.(map[string]any); isMap {
					return nil, c.ErrorAt(key, "want a single value, got a section")
				}
				top[key] = v
			} else {
				unknown = append(unknown, key)
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, c.ErrorAt(unknown[0], "unknown key; top-level keys are %s", strings.Join(knownTop(), ", "))
	}
	opts, err := core.ResolveOptions(topSchema, top)
	if err != nil {
		return nil, c.optionError("", err)
	}
	c.Experiment = opts.String("experiment")
	if c.Experiment == "" {
		c.Experiment = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if strings.ContainsAny(c.Experiment, "/\\") || c.Experiment == "." || c.Experiment == ".." {
		return nil, c.ErrorAt("experiment", "must not contain a path separator")
	}
	c.Trial = opts.String("trial")
	if strings.ContainsAny(c.Trial, "/\\") || c.Trial == "." || c.Trial == ".." || strings.HasPrefix(c.Trial, ".") {
		return nil, c.ErrorAt("trial", "must be a plain name (no path separator, not starting with '.')")
	}
	c.Seed = int64(opts.Int("seed"))
	c.Backend = opts.String("backend")
	c.Clusters = opts.Int("clusters")
	c.RunsDir = opts.String("runs_dir")
	c.CacheDir = opts.String("cache_dir")
	c.Space = opts.String("space")

	for _, name := range pluginSections {
		if name == "backbone" {
			if err := c.backbones(all["backbone"], all[KeyBackbones]); err != nil {
				return nil, err
			}
			continue
		}
		sec, err := c.section(name, all[name])
		if err != nil {
			return nil, err
		}
		switch name {
		case "dataset":
			c.Dataset = sec
		case "loss":
			c.Loss = sec
		}
	}
	nb, err := c.subSection("neighbours", neighboursSchema, all["neighbours"])
	if err != nil {
		return nil, err
	}
	c.Neighbours.K = nb.Int("k")
	bl, err := c.subSection("baselines", baselinesSchema, all["baselines"])
	if err != nil {
		return nil, err
	}
	c.Baselines.KMeans = bl.Bool("kmeans")
	c.Baselines.KMeansNInit = bl.Int("kmeans_n_init")
	c.Baselines.KMeansMaxIter = bl.Int("kmeans_max_iter")
	c.Baselines.KNNClassifier = bl.Bool("knn_classifier")
	c.Baselines.KNNClassifierK = bl.Int("knn_classifier_k")
	c.Baselines.LinearProbe = bl.Bool("linear_probe")
	sel, err := c.subSection("selection", selectionSchema, all["selection"])
	if err != nil {
		return nil, err
	}
	c.Selection.Generalization = sel.Bool("generalization")
	c.Selection.Folds = sel.Int("folds")
	c.Selection.MaxRows = sel.Int("max_rows")
	if err := c.executor(all["executor"]); err != nil {
		return nil, err
	}
	return c, nil
}

// spaceName is what a representation space may be called: it names files
// and table columns.
var spaceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// backbones reads the representation spaces: either the one backbone:
// section or the backbones: mapping of space name to section.
func (c *Config) backbones(single, several any) error {
	switch {
	case single != nil && several != nil:
		return c.ErrorAt(KeyBackbones, "give either backbone: (one representation space) or backbones: (several, by name), not both")
	case several == nil:
		sec, err := c.section("backbone", single)
		if err != nil {
			return err
		}
		c.Backbones = []Section{sec}
		if c.Space != "" {
			return c.ErrorAt("space", "%q picks one of several spaces, but the config has one backbone: section; remove space or list the spaces under backbones:", c.Space)
		}
		return nil
	}
	m, ok := several.(map[string]any)
	if !ok || len(m) == 0 {
		return c.ErrorAt(KeyBackbones, "want a mapping from space name to backbone section, e.g. backbones: {clip: {plugin: dinov2, preset: clip, model: clip.onnx}, dinov2: {plugin: dinov2, model: dinov2.onnx}}")
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !spaceName.MatchString(name) {
			return c.ErrorAt(KeyBackbones+"."+name, "a space name is letters, digits, '_', '-' or '.', starting with a letter or digit")
		}
		sec, err := c.section(KeyBackbones+"."+name, m[name])
		if err != nil {
			return err
		}
		sec.Space = name
		c.Backbones = append(c.Backbones, sec)
	}
	if c.Space != "" && !slices.Contains(names, c.Space) {
		return c.ErrorAt("space", "no space %q; the backbones are %s", c.Space, strings.Join(names, ", "))
	}
	return nil
}

// SpacesUsed are the backbone sections the methods of the run use: the
// one named by space, or all.
func (c *Config) SpacesUsed() []Section {
	if c.Space == "" {
		return c.Backbones
	}
	for _, b := range c.Backbones {
		if b.Space == c.Space {
			return []Section{b}
		}
	}
	return nil
}

func (c *Config) section(name string, v any) (Section, error) {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil {
			return Section{}, c.ErrorAt(name, "section missing; e.g. %s: {plugin: NAME, ...options}", name)
		}
		return Section{}, c.ErrorAt(name, "want a section (a mapping with plugin: and the plugin's options)")
	}
	p, _ := m["plugin"].(string)
	if strings.TrimSpace(p) == "" {
		return Section{}, c.ErrorAt(name+".plugin", "missing: name the plugin (e.g. plugin: idx) or give its path")
	}
	sec := Section{Name: name, Plugin: p, Options: core.Options{}}
	if v, ok := m[KeySHA256]; ok {
		s, isString := v.(string)
		if !isString || strings.TrimSpace(s) == "" {
			return Section{}, c.ErrorAt(name+"."+KeySHA256, "want the plugin executable's sha256 in hex (as sha256sum prints it)")
		}
		sec.SHA256 = strings.TrimSpace(s)
	}
	for k, val := range m {
		if k == "plugin" || k == KeySHA256 {
			continue
		}
		sub, isMap := val.(map[string]any)
		if !isMap {
			sec.Options[k] = val
			continue
		}
		// A mapping inside a plugin section holds the options of the
		// plugin it is named after.
		opts := core.Options{}
		for ok, ov := range sub {
			if _, nested := ov.(map[string]any); nested {
				return Section{}, c.ErrorAt(name+"."+k+"."+ok, "want a value: the subsection %s.%s holds the options of plugin %s", name, k, k)
			}
			opts[ok] = ov
		}
		if sec.PerPlugin == nil {
			sec.PerPlugin = map[string]core.Options{}
		}
		sec.PerPlugin[k] = opts
	}
	return sec, nil
}

func (c *Config) subSection(name string, schema []core.Option, v any) (core.Options, error) {
	given := core.Options{}
	if v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, c.ErrorAt(name, "want a section (a mapping)")
		}
		for k, val := range m {
			given[k] = val
		}
	}
	opts, err := core.ResolveOptions(schema, given)
	if err != nil {
		return nil, c.optionError(name, err)
	}
	return opts, nil
}

// OptionError turns an option error of the schema of section prefix (a
// plugin's, reported by its Describe or Fit, typed on the wire; "" for the
// top level) into a config error naming the key and the source of its
// value. Other errors are returned as they are.
func (c *Config) OptionError(prefix string, err error) error {
	var oe *core.OptionError
	if errors.As(err, &oe) {
		return c.optionError(prefix, err)
	}
	return err
}

func (c *Config) optionError(prefix string, err error) error {
	var oe *core.OptionError
	if errors.As(err, &oe) {
		return c.ErrorAt(joinKey(prefix, oe.Key), "%s", oe.Msg)
	}
	return &Error{Source: c.SourceOf(prefix), Key: prefix, Msg: err.Error()}
}

func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
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
	names := []string{"dataset", "backbone", KeyBackbones, "loss", "neighbours", "baselines", "selection", "executor"}
	for _, o := range topSchema {
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names
}

// Map renders the resolved config as a nested map: the top-level keys, and
// for each plugin section its plugin and the given options (resolved[name]
// when given: the plugin's options with its defaults filled in).
func (c *Config) Map(resolved map[string]core.Options) map[string]any {
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
			"linear_probe":     c.Baselines.LinearProbe,
		},
		"selection": map[string]any{
			"generalization": c.Selection.Generalization,
			"folds":          c.Selection.Folds,
			"max_rows":       c.Selection.MaxRows,
		},
	}
	if c.Space != "" {
		out["space"] = c.Space
	}
	for _, sec := range append([]Section{c.Dataset, c.Loss}, c.Backbones...) {
		m := map[string]any{"plugin": sec.Plugin}
		if sec.SHA256 != "" {
			m[KeySHA256] = sec.SHA256
		}
		opts := sec.Options
		if r, ok := resolved[sec.Name]; ok {
			opts = r
		}
		for k, v := range opts {
			m[k] = v
		}
		if sec.Space == "" {
			out[sec.Name] = m
			continue
		}
		several, _ := out[KeyBackbones].(map[string]any)
		if several == nil {
			several = map[string]any{}
			out[KeyBackbones] = several
		}
		several[sec.Space] = m
	}
	return out
}

// YAML renders Map as YAML, for the run directory's config.yaml.
func (c *Config) YAML(resolved map[string]core.Options) ([]byte, error) {
	return yamlv3.Marshal(c.Map(resolved))
}
