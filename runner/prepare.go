package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/runner/config"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// cmdPrepare is `clusterlab prepare CONFIG`: it fills the cache with what
// every trial reads before it trains (the embeddings of every space it
// uses, their concatenation, the k-NN graph), each distinct input once,
// so that trials run elsewhere (Slurm array tasks, shards on other
// machines) find them ready instead of computing them side by side. It is
// what a Slurm submission's prepare job runs.
func cmdPrepare(ctx context.Context, configFile string, ov config.Overrides, stdout io.Writer) error {
	cfg, err := config.Load(configFile, ov)
	if err != nil {
		return err
	}
	plans, err := planRun(ctx, cfg, true)
	if err != nil {
		return err
	}
	embeddedFor := map[string]embedded{} // inputs key -> embeddings
	graphs := map[string]bool{}
	stores := map[string]*store.Store{} // by cache_dir, opened (probed) once
	var rows [][]string
	for _, p := range plans {
		st := stores[p.cfg.CacheDir]
		if st == nil {
			if st, err = store.Open(p.cfg.CacheDir); err != nil {
				return err
			}
			stores[p.cfg.CacheDir] = st
		}
		in := p.inputs()
		in.Loss = rundir.Plugin{}
		label := tables.InputsShort(in)
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		key := p.cfg.CacheDir + "\x00" + string(b)
		data, seen := embeddedFor[key]
		if !seen {
			logf("prepare: embeddings of %s for %s", label, p.trial)
			if data, err = embedStage(ctx, embedInput{Plan: p, Store: st, Log: trialLog{}}); err != nil {
				return fmt.Errorf("trial %s: %w", p.trial, err)
			}
			embeddedFor[key] = data
			var splits []string
			for _, name := range data.Names {
				sd := data.Splits[name]
				splits = append(splits, fmt.Sprintf("%s %dx%d", name, sd.N, sd.D))
			}
			rows = append(rows, []string{"embeddings", label, strings.Join(splits, ", "), p.trial})
		}
		if p.loss.desc.NoNeighbours {
			continue
		}
		gkey := p.cfg.CacheDir + "\x00" + data.Splits["train"].SHA256 + "\x00" + strconv.Itoa(p.cfg.Neighbours.K)
		if graphs[gkey] {
			continue
		}
		graphs[gkey] = true
		if err := prepareNeighbours(ctx, p, st, data); err != nil {
			return fmt.Errorf("trial %s: %w", p.trial, err)
		}
		rows = append(rows, []string{"k-NN graph", label, fmt.Sprintf("k=%d", p.cfg.Neighbours.K), p.trial})
	}
	logf("prepare: the cache holds what the %d trial(s) read before training", len(plans))
	return printTables(stdout, "text", "", []tables.Table{textTable("prepared", "cache filled for every trial (first trial that reads each input)", []string{"what", "inputs", "size", "first trial"}, rows)})
}

// prepareNeighbours computes (or finds) the k-NN graph a trial reads.
func prepareNeighbours(ctx context.Context, p *trialPlan, st *store.Store, data embedded) error {
	be, err := backend.Open(p.cfg.Backend)
	if err != nil {
		return err
	}
	train, unmap, err := mapTrain(data)
	if err != nil {
		return err
	}
	defer unmap()
	_, err = neighboursStage(ctx, neighboursInput{Store: st, Backend: be.Backend, Train: train, K: p.cfg.Neighbours.K, Log: trialLog{}})
	return err
}
