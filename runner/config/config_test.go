package config

import (
	"errors"
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

func TestLoadLayers(t *testing.T) {
	env := []string{"CLUSTERLAB_LOSS__EPOCHS=7", "CLUSTERLAB_PLUGIN_PATH=/x", "CLUSTERLAB_SEED=5", "OTHER=1"}
	c, err := LoadBytes("exp.yaml", []byte(base), env, []string{"loss.beta=0.8", "backbone.pca_dims=32"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Experiment != "exp" || c.Seed != 5 || c.Backend != "auto" || c.Neighbours.K != 20 {
		t.Fatalf("%+v", c)
	}
	if c.Loss.Plugin != "temi" || c.Loss.Options["epochs"] != int64(7) && c.Loss.Options["epochs"] != 7 {
		t.Fatalf("env did not override loss.epochs: %v", c.Loss.Options)
	}
	if c.Loss.Options["beta"] != 0.8 || c.Backbone.Options["pca_dims"] != 32 {
		t.Fatalf("--set did not apply: %v %v", c.Loss.Options, c.Backbone.Options)
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
		_, err := LoadBytes("my.yaml", []byte(tc.yaml), nil, tc.sets)
		if err == nil {
			t.Errorf("%s: want error", name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "my.yaml") {
			t.Errorf("%s: error %q does not contain %q and the file", name, err, tc.want)
		}
		if !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: not ErrInvalidInput", name)
		}
	}
}

func TestPluginOptionError(t *testing.T) {
	err := PluginOptionError("f.yaml", "loss", errors.New(`option "beta": -1 is below the minimum 0`))
	if err.Error() != `config f.yaml: key "loss.beta": -1 is below the minimum 0` {
		t.Fatal(err)
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
		c, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.Contains(f, "ablations") && (c.Sweep == nil || len(c.Sweep.Trials) < 9) {
			t.Errorf("%s: want a sweep of at least 9 trials", f)
		}
		if c.Dataset.Plugin == "" || c.Backbone.Plugin == "" || c.Loss.Plugin != "temi" {
			t.Errorf("%s: sections %+v %+v %+v", f, c.Dataset, c.Backbone, c.Loss)
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
	c, err := LoadBytes("s.yaml", []byte(y), nil, nil)
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
		_, err := LoadBytes("s.yaml", []byte(base+s+"\n"), nil, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want error containing %q, got %v", s, want, err)
		}
	}
}
