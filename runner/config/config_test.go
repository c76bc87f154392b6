package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

const base = `
seed: 3
dataset: {plugin: idx, name: mnist}
backbone: {plugin: pixels, pca_dims: 50}
loss:
  plugin: temi
  epochs: 10
neighbours: {k: 20}
`

// lossLast is base with the loss section last, so tests can append its
// options; its line 8 is the first line after it.
const lossLast = `
seed: 3
dataset: {plugin: idx, name: mnist}
backbone: {plugin: pixels, pca_dims: 50}
neighbours: {k: 20}
loss:
  plugin: temi
`

func TestLoadLayers(t *testing.T) {
	env := []string{"CLUSTERLAB_LOSS__EPOCHS=7", "CLUSTERLAB_PLUGIN_PATH=/x", "CLUSTERLAB_SEED=5", "OTHER=1"}
	c, err := LoadBytes("exp.yaml", []byte(base), env, Overrides{Sets: []string{"loss.beta=0.8", "backbone.pca_dims=32"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Experiment != "exp" || c.Seed != 5 || c.Backend != "auto" || c.Neighbours.K != 20 {
		t.Fatalf("%+v", c)
	}
	if c.Loss.Plugin != "temi" || c.Loss.Options["epochs"] != int64(7) && c.Loss.Options["epochs"] != 7 {
		t.Fatalf("env did not override loss.epochs: %v", c.Loss.Options)
	}
	if c.Loss.Options["beta"] != 0.8 || c.Backbones[0].Options["pca_dims"] != 32 {
		t.Fatalf("--set did not apply: %v %v", c.Loss.Options, c.Backbones[0].Options)
	}
	if !c.Baselines.KMeans || c.Baselines.KMeansNInit != 10 {
		t.Fatalf("baseline defaults: %+v", c.Baselines)
	}
	y, err := c.YAML(nil)
	if err != nil || !strings.Contains(string(y), "pca_dims: 32") {
		t.Fatalf("%s %v", y, err)
	}
}

func TestErrorsNameKeyAndFile(t *testing.T) {
	cases := map[string]struct {
		yaml string
		sets []string
		want string
	}{
		"unknown top":    {base + "epochs: 3\n", nil, `key "epochs": unknown key`},
		"wrong type":     {base, []string{"seed=abc"}, `key "seed": want an integer`},
		"negative":       {base, []string{"clusters=-1"}, `key "clusters"`},
		"unknown nested": {base + "baselines: {kmeans_ninit: 3}\n", nil, `key "baselines.kmeans_ninit": unknown option`},
		"bad nested":     {base, []string{"neighbours.k=0"}, `key "neighbours.k"`},
		"no plugin":      {"dataset: {name: x}\nbackbone: {plugin: p}\nloss: {plugin: l}\n", nil, `key "dataset.plugin"`},
		"missing":        {"dataset: {plugin: x}\nbackbone: {plugin: p}\n", nil, `key "loss": section missing`},
		"bad yaml":       {"a: [", nil, "not valid YAML"},
		"bad set":        {base, []string{"novalue"}, "want key=value"},
	}
	for name, tc := range cases {
		_, err := LoadBytes("my.yaml", []byte(tc.yaml), nil, Overrides{Sets: tc.sets})
		if err == nil {
			t.Errorf("%s: want error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || (tc.sets == nil && !strings.Contains(err.Error(), "my.yaml")) {
			t.Errorf("%s: error %q does not contain %q and the file", name, err, tc.want)
		}
		if !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: not ErrInvalidInput", name)
		}
	}
}

func TestPluginOptionError(t *testing.T) {
	c, err := LoadBytes("f.yaml", []byte(lossLast+"  beta: -1\n"), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	got := c.OptionError("loss", fmt.Errorf("loss options: %w", &core.OptionError{Key: "beta", Msg: "-1 is below the minimum 0"}))
	if got.Error() != `config f.yaml:8: key "loss.beta": -1 is below the minimum 0` {
		t.Fatal(got)
	}
	// A message that reads like an option error is not one: errors are
	// told apart by type, never by their text.
	text := errors.New(`option "beta": -1 is below the minimum 0`)
	if got := c.OptionError("loss", text); got != text {
		t.Fatalf("a plain error was classified by its text: %v", got)
	}
}

// TestErrorSources: every error names where the offending value came
// from: the file and line, the --set flag, or the environment variable.
func TestErrorSources(t *testing.T) {
	cases := []struct {
		name  string
		yaml  string
		env   []string
		sets  []string
		key   string
		want  string
		isSet bool
	}{
		{"file line", lossLast + "  epoch: 2\n", nil, nil, "loss.epoch", "config my.yaml:8: ", false},
		{"set", base, nil, []string{"loss.epoch=2"}, "loss.epoch", "config --set loss.epoch=2: ", true},
		{"env", base, []string{"CLUSTERLAB_LOSS__EPOCH=2"}, nil, "loss.epoch", "config environment variable CLUSTERLAB_LOSS__EPOCH=2: ", false},
		{"set beats env", base, []string{"CLUSTERLAB_LOSS__EPOCH=2"}, []string{"loss.epoch=3"}, "loss.epoch", "config --set loss.epoch=3: ", true},
		{"top-level typo in env", base, []string{"CLUSTERLAB_SEEDS=2"}, nil, "", `config environment variable CLUSTERLAB_SEEDS=2: key "seeds": unknown key`, false},
	}
	for _, tc := range cases {
		c, err := LoadBytes("my.yaml", []byte(tc.yaml), tc.env, Overrides{Sets: tc.sets})
		if tc.key == "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The runner reports plugin option errors this way.
		got := c.OptionError("loss", &core.OptionError{Key: "epoch", Msg: "unknown option"})
		if !strings.HasPrefix(got.Error(), tc.want) {
			t.Errorf("%s: %q does not start with %q", tc.name, got, tc.want)
		}
	}
}

func TestUnsetAndPerPluginSections(t *testing.T) {
	y := lossLast + "  beta: 0.6\n  pmi: {beta: 1.0, weight: head}\n"
	c, err := LoadBytes("u.yaml", []byte(y), nil, Overrides{Unsets: []string{"loss.beta"}, Sets: []string{"backbone.pca_dims=null", "loss.temi.beta=0.7"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Loss.Options["beta"]; ok {
		t.Errorf("--unset loss.beta left %v", c.Loss.Options)
	}
	if _, ok := c.Backbones[0].Options["pca_dims"]; ok {
		t.Errorf("--set backbone.pca_dims=null left %v", c.Backbones[0].Options)
	}
	if c.Loss.PerPlugin["pmi"]["weight"] != "head" || c.Loss.PerPlugin["temi"]["beta"] != 0.7 {
		t.Errorf("per-plugin sections: %v", c.Loss.PerPlugin)
	}
	if src := c.SourceOf("loss.temi.beta"); src.Kind != FromSet {
		t.Errorf("source of loss.temi.beta: %v", src)
	}
	_, err = LoadBytes("u.yaml", []byte(base), nil, Overrides{Unsets: []string{"loss.bta"}})
	if err == nil || !strings.Contains(err.Error(), "--unset loss.bta") {
		t.Errorf("unset of a missing key: %v", err)
	}
	_, err = LoadBytes("u.yaml", []byte(lossLast+"  pmi: {weight: {a: 1}}\n"), nil, Overrides{})
	if err == nil || !strings.Contains(err.Error(), `u.yaml:8: key "loss.pmi.weight"`) {
		t.Errorf("nested value in a plugin subsection: %v", err)
	}
}

// Every shipped config must load (plugin options are checked by the
// plugins; the end-to-end tests run the MNIST ones).
func TestShippedConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../configs/*.yaml")
	more, _ := filepath.Glob("../../configs/ablations/*.yaml")
	files = append(files, more...)
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		c, err := Load(f, Overrides{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.Contains(f, "ablations") && (c.Sweep == nil || len(c.Sweep.Trials) < 9) {
			t.Errorf("%s: want a sweep of at least 9 trials", f)
		}
		if c.Dataset.Plugin == "" || len(c.Backbones) == 0 || c.Backbones[0].Plugin == "" || c.Loss.Plugin == "" {
			t.Errorf("%s: sections %+v %+v %+v", f, c.Dataset, c.Backbones, c.Loss)
		}
	}
}

func TestSweepTrials(t *testing.T) {
	y := base + `
sweep:
  grid:
    loss.beta: [0.5, 1.0]
  variants:
    - {name: temi, loss.plugin: temi}
    - {loss.plugin: pmi, loss.epochs: 2}
  seeds: [0, 1]
  parallel: 2
`
	c, err := LoadBytes("s.yaml", []byte(y), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	sw := c.Sweep
	if sw == nil || sw.Parallel != 2 || len(sw.Trials) != 8 {
		t.Fatalf("%+v", sw)
	}
	if strings.Join(sw.Keys, " ") != "loss.beta loss.epochs loss.plugin" {
		t.Fatalf("keys %v", sw.Keys)
	}
	names := map[string]bool{}
	for _, tr := range sw.Trials {
		names[tr.Trial] = true
		if tr.TrialInfo == nil || tr.Loss.Options["beta"] == nil {
			t.Fatalf("trial %+v", tr)
		}
	}
	for _, want := range []string{"temi,beta=0.5-seed0", "temi,beta=1-seed1", "beta=0.5,epochs=2,loss=pmi-seed1"} {
		if !names[want] {
			t.Errorf("no trial %q in %v", want, names)
		}
	}
	for _, tr := range sw.Trials {
		if tr.Trial == "beta=0.5,epochs=2,loss=pmi-seed1" && (tr.Loss.Plugin != "pmi" || tr.Seed != 1 || tr.Loss.Options["epochs"] != 2) {
			t.Errorf("overrides not applied: %+v %v", tr, tr.Loss.Options)
		}
	}
	bad := map[string]string{
		"sweep: {grid: {loss.beta: 3}}":   "sweep.grid.loss.beta",
		"sweep: {seeds: [a]}":             "sweep.seeds",
		"sweep: {parallel: 0}":            "sweep.parallel",
		"sweep: {grids: {}}":              "sweep.grids",
		"sweep: {grid: {epochs: [1, 2]}}": `key "epochs": unknown key`,
		"sweep: {variants: [{seed: 1}]}":  "cannot be swept",
	}
	for s, want := range bad {
		_, err := LoadBytes("s.yaml", []byte(base+s+"\n"), nil, Overrides{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error containing %q, got %v", s, want, err)
		}
	}
}

func TestPluginSHA256(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	c, err := LoadBytes("p.yaml", []byte(lossLast+"  plugin_sha256: "+sum+"\n"), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Loss.SHA256 != sum || c.Loss.Options[KeySHA256] != nil {
		t.Fatalf("pin %q, options %v", c.Loss.SHA256, c.Loss.Options)
	}
	if y, _ := c.YAML(nil); !strings.Contains(string(y), "plugin_sha256: "+sum) {
		t.Errorf("config.yaml lacks the pin:\n%s", y)
	}
	_, err = LoadBytes("p.yaml", []byte(lossLast+"  plugin_sha256: 12\n"), nil, Overrides{})
	if err == nil || !strings.Contains(err.Error(), `p.yaml:8: key "loss.plugin_sha256"`) {
		t.Errorf("a number as pin: %v", err)
	}
}

const twoSpaces = `
seed: 3
dataset: {plugin: idx, name: mnist}
backbones:
  dinov2: {plugin: dinov2, model: d.onnx}
  clip: {plugin: dinov2, model: c.onnx, mean: "0.5,0.5,0.5"}
loss: {plugin: turtle}
`

// Several representation spaces: backbones: maps space names to sections,
// sorted by name; space: picks one; keys reach them with --set; the
// rendered config keeps the mapping.
func TestSeveralSpaces(t *testing.T) {
	c, err := LoadBytes("two.yaml", []byte(twoSpaces), nil, Overrides{Sets: []string{"backbones.clip.model=other.onnx"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Backbones) != 2 || c.Backbones[0].Space != "clip" || c.Backbones[1].Space != "dinov2" ||
		c.Backbones[0].Name != "backbones.clip" || c.Backbones[0].Options["model"] != "other.onnx" {
		t.Fatalf("backbones %+v", c.Backbones)
	}
	if c.Space != "" || len(c.SpacesUsed()) != 2 {
		t.Fatalf("space %q, used %v", c.Space, c.SpacesUsed())
	}
	m := c.Map(nil)
	several, _ := m[KeyBackbones].(map[string]any)
	if _, single := m["backbone"]; single || len(several) != 2 || several["clip"].(map[string]any)["model"] != "other.onnx" {
		t.Fatalf("map %v", m)
	}
	if _, ok := m["space"]; ok {
		t.Fatalf("an unset space entered the config map (and every trial's identity): %v", m)
	}
	c, err = LoadBytes("two.yaml", []byte(twoSpaces+"space: dinov2\n"), nil, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if used := c.SpacesUsed(); len(used) != 1 || used[0].Space != "dinov2" || c.Map(nil)["space"] != "dinov2" {
		t.Fatalf("space dinov2: used %+v", used)
	}

	bad := map[string]struct {
		yaml string
		want string
	}{
		"both":          {twoSpaces + "backbone: {plugin: pixels}\n", `key "backbones": give either backbone:`},
		"unknown space": {twoSpaces + "space: dino\n", `two.yaml:8: key "space": no space "dino"; the backbones are clip, dinov2`},
		"space of one":  {base + "space: pixels\n", `key "space": "pixels" picks one of several spaces`},
		"empty":         {"dataset: {plugin: idx}\nbackbones: {}\nloss: {plugin: temi}\n", `key "backbones": want a mapping from space name`},
		"no plugin":     {"dataset: {plugin: idx}\nbackbones: {a: {model: x}}\nloss: {plugin: temi}\n", `key "backbones.a.plugin": missing`},
		"bad name":      {"dataset: {plugin: idx}\nbackbones: {\"a b\": {plugin: pixels}}\nloss: {plugin: temi}\n", `key "backbones.a b": a space name is`},
	}
	for name, tc := range bad {
		_, err := LoadBytes("two.yaml", []byte(tc.yaml), nil, Overrides{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
