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
func cmdEmbed(ctx context.Context, args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, map[string]bool{"json": true})
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "set", "unset", "json"); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"embed takes exactly one CONFIG file"}
	}
	cfg, err := config.Load(pos[0], config.Overrides{Sets: flags["set"], Unsets: flags["unset"]})
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
	if len(flags["json"]) > 0 {
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
