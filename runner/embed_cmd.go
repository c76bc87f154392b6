package main

import (
	"context"
	"fmt"
	"io"

	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// cmdEmbed computes (or finds in the store) the embeddings of every split
// of a config's dataset and backbone, and prints where they are.
// With jsonOut it prints {split: embeddings file} as JSON.
func cmdEmbed(ctx context.Context, configFile string, ov config.Overrides, jsonOut bool, stdout io.Writer) error {
	cfg, err := config.Load(configFile, ov)
	if err != nil {
		return err
	}
	if cfg.Sweep != nil {
		logf("note: embed ignores the sweep: section; it embeds the base config (set swept backbone keys with --set)")
		base := *cfg
		base.Sweep = nil
		cfg = &base
	}
	plans, err := planRun(ctx, cfg, false)
	if err != nil {
		return err
	}
	p := plans[0]
	st, err := store.Open(cfg.CacheDir)
	if err != nil {
		return err
	}
	var pl launched
	defer pl.kill()
	if err := launchDataset(ctx, p, &pl); err != nil {
		return err
	}
	spaces, err := embedSpaces(ctx, st, p, p.spaces, &pl, trialLog{})
	if err != nil {
		return err
	}
	if jsonOut {
		// One space: split -> path, as before spaces; several: space ->
		// split -> path.
		several := map[string]map[string]string{}
		for _, sp := range spaces {
			out := map[string]string{}
			for name, sd := range sp.Splits {
				out[name] = sd.Embeddings
			}
			several[sp.Name] = out
		}
		if !p.several() {
			return writeJSON(stdout, several[spaces[0].Name])
		}
		return writeJSON(stdout, several)
	}
	var ts []tables.Table
	for i, sp := range spaces {
		var rows [][]string
		for _, name := range sortedSplits(sp.Splits) {
			sd := sp.Splits[name]
			cached := "no"
			if sd.Cached {
				cached = "yes"
			}
			rows = append(rows, []string{name, fmt.Sprint(sd.N), fmt.Sprint(sd.D), cached, sd.Embeddings, sd.Labels})
		}
		caption := fmt.Sprintf("embeddings of %s with %s", p.dsInfo.Name, p.spaces[i].info.Name)
		if p.several() {
			caption += ", space " + sp.Name
		}
		ts = append(ts, textTable("embeddings", caption, []string{"split", "images", "dims", "cached", "embeddings", "labels"}, rows))
	}
	return tables.Render(stdout, "text", ts)
}
