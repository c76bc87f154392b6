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
	if err := launchSources(ctx, p, &pl); err != nil {
		return err
	}
	splits, err := embed(ctx, st, p, &pl)
	if err != nil {
		return err
	}
	if jsonOut {
		out := map[string]string{}
		for name, sd := range splits {
			out[name] = sd.Embeddings
		}
		return writeJSON(stdout, out)
	}
	var rows [][]string
	for _, name := range sortedSplits(splits) {
		sd := splits[name]
		cached := "no"
		if sd.Cached {
			cached = "yes"
		}
		rows = append(rows, []string{name, fmt.Sprint(sd.N), fmt.Sprint(sd.D), cached, sd.Embeddings, sd.Labels})
	}
	t := textTable("embeddings", fmt.Sprintf("embeddings of %s with %s", p.dsInfo.Name, p.bbInfo.Name), []string{"split", "images", "dims", "cached", "embeddings", "labels"}, rows)
	return tables.Render(stdout, "text", []tables.Table{t})
}
