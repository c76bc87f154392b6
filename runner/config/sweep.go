package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/knadh/koanf/v2"
)

// Sweep is the `sweep:` section of a config: trials over a grid of config
// keys, an explicit list of variants, and seeds.
//
//	sweep:
//	  grid:                 # every combination of these values
//	    loss.beta: [0.5, 0.6, 0.8, 1.0]
//	  variants:             # and/or an explicit list of overrides
//	    - {name: temi, loss.plugin: temi}
//	    - {name: scan, loss.plugin: scan}
//	  seeds: [0, 1, 2]      # every variant with every seed
//	  parallel: 1           # trials run at once
type Sweep struct {
	Keys     []string // the swept keys (grid and variant keys), sorted
	Parallel int
	Trials   []*Config
}

// TrialInfo places a Config in its sweep.
type TrialInfo struct {
	// Index is the trial's position in the sweep, in config order.
	Index int
	// Variant is the value of each swept key in this trial: the variant's
	// overrides and the grid point's.
	Variant map[string]any
	// Name is the variant's explicit name ("" when it has none) and Grid
	// the grid point, from which VariantName is made.
	Name string
	Grid map[string]any
	// VariantName names the variant (all seeds share it).
	VariantName string
}

// TrialName is the name of the trial of a variant and a seed.
func TrialName(variant string, seed int64) string { return fmt.Sprintf("%s-seed%d", variant, seed) }

// VariantName names a variant: its explicit name, followed by the grid
// point's key=value pairs; without a name, every swept key=value pair.
func VariantName(name string, variant, grid map[string]any) string {
	switch {
	case name == "":
		return variantName(variant)
	case len(grid) > 0:
		return name + "," + variantName(grid)
	}
	return name
}

// MaxTrials bounds the trials of one sweep, so a typo in a grid cannot
// expand into millions of runs (or exhaust memory while loading).
const MaxTrials = 10000

func parseSweep(file string, k *koanf.Koanf, raw any, sources Sources) (*Sweep, error) {
	errAt := func(key, format string, args ...any) error {
		return &Error{Source: sources.Of(file, key), Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	tooMany := func(n int) error {
		return errAt("sweep", "expands to at least %d trials, more than %d; split it into several sweeps", n, MaxTrials)
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, errAt("sweep", "want a section with grid, variants, seeds, parallel")
	}
	sw := &Sweep{Parallel: 1}
	var grid []map[string]any
	var variants []map[string]any
	var names []string
	// overrideSrc says where each swept value comes from: the grid key or
	// the variant's entry.
	var variantSrc []map[string]Source
	gridSrc := map[string]Source{}
	seeds := []int64{}
	for key, v := range m {
		switch key {
		case "grid":
			g, ok := v.(map[string]any)
			if !ok {
				return nil, errAt("sweep.grid", "want a mapping of config keys to lists of values")
			}
			flat := map[string]any{}
			flatten("", g, flat)
			gkeys := sortedKeys(flat)
			grid = []map[string]any{{}}
			for _, gk := range gkeys {
				vals, ok := flat[gk].([]any)
				if !ok || len(vals) == 0 {
					return nil, errAt("sweep.grid."+gk, "want a non-empty list of values")
				}
				if len(grid)*len(vals) > MaxTrials {
					return nil, tooMany(len(grid) * len(vals))
				}
				src := sources.Of(file, "sweep.grid."+gk)
				gridSrc[gk] = Source{Kind: FromSweep, File: src.File, Line: src.Line, Detail: "sweep.grid " + gk}
				if src.Kind != FromFile {
					gridSrc[gk] = src
				}
				var next []map[string]any
				for _, point := range grid {
					for _, val := range vals {
						p := copyMap(point)
						p[gk] = val
						next = append(next, p)
					}
				}
				grid = next
			}
		case "variants":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, errAt("sweep.variants", "want a non-empty list of mappings (config key: value, and an optional name)")
			}
			for i, item := range list {
				vm, ok := item.(map[string]any)
				if !ok {
					return nil, errAt(fmt.Sprintf("sweep.variants.%d", i), "want a mapping of config keys to values")
				}
				flat := map[string]any{}
				flatten("", vm, flat)
				name, _ := flat["name"].(string)
				delete(flat, "name")
				if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
					return nil, errAt(fmt.Sprintf("sweep.variants.%d.name", i), "want a plain name (no path separator, not starting with '.')")
				}
				srcs := map[string]Source{}
				for key := range flat {
					src := sources.Of(file, fmt.Sprintf("sweep.variants.%d.%s", i, key))
					label := name
					if label == "" {
						label = fmt.Sprintf("%d", i+1)
					}
					srcs[key] = Source{Kind: FromSweep, File: src.File, Line: src.Line, Detail: "sweep variant " + label}
				}
				variants = append(variants, flat)
				names = append(names, name)
				variantSrc = append(variantSrc, srcs)
			}
		case "seeds":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, errAt("sweep.seeds", "want a non-empty list of integers")
			}
			for _, s := range list {
				n, ok := s.(int)
				if !ok || n < 0 {
					return nil, errAt("sweep.seeds", "want non-negative integers, got %v", s)
				}
				seeds = append(seeds, int64(n))
			}
		case "parallel":
			n, ok := v.(int)
			if !ok || n < 1 {
				return nil, errAt("sweep.parallel", "want an integer >= 1, got %v", v)
			}
			sw.Parallel = n
		default:
			return nil, errAt("sweep."+key, "unknown key; sweep keys are grid, variants, seeds, parallel")
		}
	}
	if len(variants) == 0 {
		variants, names, variantSrc = []map[string]any{{}}, []string{""}, []map[string]Source{{}}
	}
	if len(grid) == 0 {
		grid = []map[string]any{{}}
	}
	if len(seeds) == 0 {
		s, _ := k.Get("seed").(int)
		seeds = []int64{int64(s)}
	}
	if n := len(variants) * len(grid) * len(seeds); n > MaxTrials {
		return nil, tooMany(n)
	}
	keySet := map[string]bool{}
	for _, v := range variants {
		for key := range v {
			keySet[key] = true
		}
	}
	for _, p := range grid {
		for key := range p {
			keySet[key] = true
		}
	}
	for key := range keySet {
		if key == "seed" || key == "trial" || key == "experiment" {
			return nil, errAt("sweep", "%s cannot be swept (use sweep.seeds for seeds)", key)
		}
		if key == "executor" || strings.HasPrefix(key, "executor.") {
			return nil, errAt("sweep", "%s cannot be swept: every trial of a sweep runs on the same executor with the same resources; set it outside sweep:", key)
		}
		sw.Keys = append(sw.Keys, key)
	}
	sort.Strings(sw.Keys)
	seen := map[string]bool{}
	for vi, variant := range variants {
		for _, point := range grid {
			over := copyMap(variant)
			srcs := Sources{}
			for key := range variant {
				srcs[key] = variantSrc[vi][key]
			}
			for key, val := range point {
				over[key] = val
				srcs[key] = gridSrc[key]
			}
			vname := VariantName(names[vi], over, point)
			for _, seed := range seeds {
				tk := k.Copy()
				tk.Delete("sweep")
				trialSources := sources.clone()
				for _, key := range sortedKeys(over) {
					if err := tk.Set(key, over[key]); err != nil {
						return nil, &Error{Source: srcs[key], Key: key, Msg: err.Error()}
					}
					trialSources.set(key, over[key], srcs[key])
				}
				trial := TrialName(vname, seed)
				if seen[trial] {
					return nil, errAt("sweep", "two trials are both named %q; give the variants distinct names", trial)
				}
				seen[trial] = true
				tk.Set("seed", int(seed))
				tk.Set("trial", trial)
				seedSrc := sources.Of(file, "sweep.seeds")
				if _, ok := m["seeds"]; ok {
					trialSources["seed"] = Source{Kind: FromSweep, File: seedSrc.File, Line: seedSrc.Line, Detail: "sweep.seeds"}
				}
				c, err := fromKoanf(file, tk, trialSources)
				if err != nil {
					return nil, err
				}
				c.TrialInfo = &TrialInfo{Index: len(sw.Trials), Variant: over, Name: names[vi], Grid: point, VariantName: vname}
				sw.Trials = append(sw.Trials, c)
			}
		}
	}
	return sw, nil
}

// variantName renders swept values as key=value pairs (the last part of
// each key), sorted by key, safe as a directory name.
func variantName(over map[string]any) string {
	if len(over) == 0 {
		return "base"
	}
	var parts []string
	for _, key := range sortedKeys(over) {
		short := key[strings.LastIndex(key, ".")+1:]
		if short == "plugin" {
			short = key[:strings.Index(key, ".")]
		}
		parts = append(parts, short+"="+formatValue(over[key]))
	}
	return strings.NewReplacer("/", "_", " ", "_").Replace(strings.Join(parts, ","))
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func flatten(prefix string, m map[string]any, out map[string]any) {
	for key, v := range m {
		full := key
		if prefix != "" {
			full = prefix + "." + key
		}
		if sub, ok := v.(map[string]any); ok {
			flatten(full, sub, out)
			continue
		}
		out[full] = v
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	return keys
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for key, v := range m {
		out[key] = v
	}
	return out
}
