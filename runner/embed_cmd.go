package main

import (
	"context"
	"fmt"
	"io"

	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/config"
)

// cmdEmbed computes (or finds in the store) the embeddings of every split
// of a config's dataset and backbone, and prints where they are.
func cmdEmbed(ctx context.Context, args []string, stdout io.Writer) error {
	pos, flags, err := parseArgs(args, map[string]bool{"json": true})
	if err != nil {
		return err
	}
	if err := onlyFlags(flags, "set", "json"); err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"embed takes exactly one CONFIG file"}
	}
	cfg, err := config.Load(pos[0], flags["set"])
	if err != nil {
		return err
	}
	st, err := store.Open(cfg.CacheDir)
	if err != nil {
		return err
	}
	var pl launched
	defer pl.kill()
	src, err := launchSources(ctx, cfg, &pl)
	if err != nil {
		return err
	}
	splits, err := src.embed(ctx, st)
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
	t := table{Title: fmt.Sprintf("embeddings of %s with %s", src.dsInfo.Name, src.bbInfo.Name), Header: []string{"split", "images", "dims", "cached", "embeddings", "labels"}}
	for _, name := range sortedSplits(splits) {
		sd := splits[name]
		cached := "no"
		if sd.Cached {
			cached = "yes"
		}
		t.Rows = append(t.Rows, []string{name, fmt.Sprint(sd.N), fmt.Sprint(sd.D), cached, sd.Embeddings, sd.Labels})
	}
	return renderTables(stdout, "text", []table{t})
}
