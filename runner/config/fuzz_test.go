package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadBytes feeds arbitrary config files, --set flags and CLUSTERLAB_*
// variables to LoadBytes: it must never panic, and every error must be a
// *Error naming the file, so the runner reports it and exits 2.
//
//	go test ./runner/config -run '^$' -fuzz FuzzLoadBytes -fuzztime 60s
func FuzzLoadBytes(f *testing.F) {
	var files []string
	for _, pattern := range []string{"../../configs/*.yaml", "../../configs/ablations/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		f.Fatalf("found %d seed configs under ../../configs; run from runner/config", len(files))
	}
	sets := []string{
		"",
		"loss.epochs=5",
		"loss.beta=0.8\nbackbone.pca_dims=32",
		"seed=-1",
		"sweep.seeds=[0, 1]",
		"sweep=3",
		"dataset=mnist",
		"loss.plugin=",
		"=1",
		"neighbours.k={a: 1}",
		"trial=a/b",
		"clusters=[1, 2]",
		"baselines.kmeans=maybe",
		"experiment=: [",
	}
	envs := []string{"", "SEED=5", "LOSS__EPOCHS=7\nBACKBONE__PCA_DIMS=x: [", "SWEEP__SEEDS=[1]", "NEIGHBOURS=3"}
	for i, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, sets[i%len(sets)], envs[i%len(envs)])
		f.Add(raw, sets[(i+5)%len(sets)], envs[(i+2)%len(envs)])
	}
	for _, s := range sets {
		f.Add([]byte(base), s, "")
	}
	f.Add([]byte("sweep: {grid: {loss.beta: [1, 2]}, variants: [{name: a, loss.plugin: scan}]}\n"+base), "", "")
	f.Add([]byte("{"), "", "")
	f.Add([]byte("- 1\n- 2\n"), "", "")
	f.Add([]byte("dataset: &a {plugin: idx}\nbackbone: *a\nloss: *a\n"), "", "")

	f.Fuzz(func(t *testing.T, raw []byte, set, env string) {
		const file = "fuzz.yaml"
		var sets []string
		if set != "" {
			sets = strings.Split(set, "\n")
		}
		var environ []string
		if env != "" {
			for _, e := range strings.Split(env, "\n") {
				environ = append(environ, EnvPrefix+e)
			}
		}
		c, err := LoadBytes(file, raw, environ, Overrides{Sets: sets})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			// The error names where the bad value came from: the file, a
			// --set flag or an environment variable.
			switch ce.Source.Kind {
			case FromFile, FromSweep:
				if ce.Source.File != file || !strings.Contains(err.Error(), file) {
					t.Fatalf("error does not name the file: %v", err)
				}
			case FromSet, FromUnset, FromEnv:
				if ce.Source.Detail == "" || !strings.Contains(err.Error(), ce.Source.Detail) {
					t.Fatalf("error does not name its flag or variable: %v", err)
				}
			default:
				t.Fatalf("error with source kind %q: %v", ce.Source.Kind, err)
			}
			return
		}
		check := func(c *Config) {
			if c.File != file || c.Dataset.Plugin == "" || c.Backbones[0].Plugin == "" || c.Loss.Plugin == "" {
				t.Fatalf("loaded config lacks its file or a plugin: %+v", c)
			}
			if strings.ContainsAny(c.Experiment, `/\`) || strings.ContainsAny(c.Trial, `/\`) {
				t.Fatalf("experiment %q or trial %q holds a path separator", c.Experiment, c.Trial)
			}
			if c.Neighbours.K < 1 || c.Seed < 0 || c.Clusters < 0 {
				t.Fatalf("out-of-range value accepted: k=%d seed=%d clusters=%d", c.Neighbours.K, c.Seed, c.Clusters)
			}
			if _, err := c.YAML(nil); err != nil {
				t.Fatalf("a loaded config does not render: %v", err)
			}
		}
		check(c)
		if c.Sweep != nil {
			if len(c.Sweep.Trials) == 0 {
				t.Fatalf("sweep with no trials accepted")
			}
			for _, tr := range c.Sweep.Trials {
				check(tr)
			}
		}
	})
}
