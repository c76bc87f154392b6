package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/clusterlab/clusterlab/core/rundir"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/runner/config"
)

// runSweep runs every trial of a sweep, `parallel` at a time. Trials share
// the store, so the embeddings and the k-NN graph are computed once (the
// first trial computes them under the entry lock, the others wait and
// reuse). A finished trial is skipped; an interrupted one resumes from its
// checkpoint. At the end it prints the sweep table.
func runSweep(ctx context.Context, cfg *config.Config, stdout io.Writer) (string, error) {
	sw := cfg.Sweep
	expDir := filepath.Join(cfg.RunsDir, cfg.Experiment)
	logf("sweep: %d trials (%d variants x seeds), %d at a time, in %s", len(sw.Trials), len(sw.Trials)/max(1, countSeeds(sw)), sw.Parallel, expDir)
	jobs := make(chan *config.Config)
	var mu sync.Mutex
	var errs []error
	dirs := make([]string, 0, len(sw.Trials))
	var wg sync.WaitGroup
	for w := 0; w < sw.Parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tr := range jobs {
				logf("sweep: trial %s", tr.Trial)
				var out bytes.Buffer
				dir, err := runExperiment(ctx, tr, &out)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("trial %s: %w", tr.Trial, err))
				} else {
					dirs = append(dirs, dir)
					logf("sweep: trial %s done (%s)", tr.Trial, dir)
				}
				mu.Unlock()
			}
		}()
	}
	for _, tr := range sw.Trials {
		if ctx.Err() != nil {
			break
		}
		jobs <- tr
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return expDir, err
	}
	if len(errs) > 0 {
		return expDir, errors.Join(errs...)
	}
	runs, err := loadRuns(dirs)
	if err != nil {
		return expDir, err
	}
	tables := sweepTables(runs, "test")
	for _, f := range []struct{ name, format string }{{"sweep_tables.txt", "text"}, {"sweep_tables.md", "markdown"}} {
		var buf bytes.Buffer
		if err := renderTables(&buf, f.format, tables); err != nil {
			return expDir, err
		}
		if err := writeFileAtomic(filepath.Join(expDir, f.name), buf.Bytes()); err != nil {
			return expDir, err
		}
	}
	return expDir, renderTables(stdout, "text", tables)
}

func countSeeds(sw *config.Sweep) int {
	seeds := map[int64]bool{}
	for _, t := range sw.Trials {
		seeds[t.Seed] = true
	}
	return len(seeds)
}

// loadRuns reads the metrics of run directories; a directory without
// metrics.json is searched one level down (an experiment directory).
func loadRuns(paths []string) ([]rundir.Metrics, error) {
	var out []rundir.Metrics
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(p, "metrics.json")); err == nil {
			mf, err := readMetrics(p)
			if err != nil {
				return nil, err
			}
			out = append(out, mf)
			continue
		}
		subs, _ := filepath.Glob(filepath.Join(p, "*", "metrics.json"))
		if len(subs) == 0 {
			return nil, fmt.Errorf("%s has no metrics.json, nor any trial directory with one", p)
		}
		sort.Strings(subs)
		for _, s := range subs {
			mf, err := readMetrics(filepath.Dir(s))
			if err != nil {
				return nil, err
			}
			out = append(out, mf)
		}
	}
	return out, nil
}

// meanStd formats values (fractions) as percent mean ± sample std.
func meanStd(v []float64) (string, float64) {
	if len(v) == 0 {
		return "-", math.Inf(-1)
	}
	var m float64
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	if len(v) == 1 {
		return pct(m), m
	}
	var ss float64
	for _, x := range v {
		ss += (x - m) * (x - m)
	}
	sd := math.Sqrt(ss / float64(len(v)-1))
	return fmt.Sprintf("%s ± %s", pct(m), pct(sd)), m
}

// sweepTables: one row per variant (mean ± std over its seeds) with the
// swept keys as columns, baselines as rows, the best of each metric column
// marked; and the heads table (best head vs mean/min/max over heads).
func sweepTables(runs []rundir.Metrics, split string) []table {
	keySet := map[string]bool{}
	for _, r := range runs {
		for k := range r.Variant {
			keySet[k] = true
		}
	}
	var keys []string
	for k := range keySet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type group struct {
		name  string
		runs  []rundir.Metrics
		order int
	}
	groups := map[string]*group{}
	var names []string
	for i, r := range runs {
		name := r.VariantName
		if name == "" {
			name = r.Experiment + "/" + r.Trial
		}
		if groups[name] == nil {
			groups[name] = &group{name: name, order: i}
			names = append(names, name)
		}
		groups[name].runs = append(groups[name].runs, r)
	}
	metricsCols := []string{"ACC", "NMI", "ARI", "AMI"}
	header := append([]string{"variant"}, keys...)
	for _, m := range metricsCols {
		header = append(header, split+" "+m)
	}
	header = append(header, "seeds", "clusters used", "fit seconds")
	pick := func(r rundir.Result, m string) float64 {
		switch m {
		case "ACC":
			return r.ACC
		case "NMI":
			return r.NMI
		case "ARI":
			return r.ARI
		}
		return r.AMI
	}
	var rows [][]string
	best := make([]float64, len(metricsCols))
	bestRow := make([]int, len(metricsCols))
	for i := range best {
		best[i] = math.Inf(-1)
	}
	var headRows [][]string
	for _, name := range names {
		g := groups[name]
		row := []string{name}
		for _, k := range keys {
			v, ok := g.runs[0].Variant[k]
			if !ok {
				row = append(row, "-")
			} else {
				row = append(row, fmt.Sprint(v))
			}
		}
		var used, secs []float64
		var bestHead, headMean, headMin, headMax []float64
		vals := make([][]float64, len(metricsCols))
		for _, r := range g.runs {
			hmin, hmax, hsum, hn := math.Inf(1), math.Inf(-1), 0.0, 0
			for _, res := range r.Results {
				if res.Split != split || res.Method != r.Loss {
					continue
				}
				if res.Selection == "best-head" {
					for i, m := range metricsCols {
						vals[i] = append(vals[i], pick(res, m))
					}
					used = append(used, float64(res.ClustersUsed))
					bestHead = append(bestHead, res.ACC)
				} else if strings.HasPrefix(res.Selection, "head-") {
					hmin, hmax = math.Min(hmin, res.ACC), math.Max(hmax, res.ACC)
					hsum += res.ACC
					hn++
				}
			}
			if hn > 0 {
				headMean = append(headMean, hsum/float64(hn))
				headMin = append(headMin, hmin)
				headMax = append(headMax, hmax)
			}
			secs = append(secs, r.Seconds["fit"])
		}
		for i := range metricsCols {
			s, m := meanStd(vals[i])
			row = append(row, s)
			if m > best[i] {
				best[i], bestRow[i] = m, len(rows)
			}
		}
		row = append(row, fmt.Sprint(len(g.runs)), fmt.Sprintf("%.1f/%d", mean(used), g.runs[0].Clusters), fmt.Sprintf("%.1f", mean(secs)))
		rows = append(rows, row)
		bh, _ := meanStd(bestHead)
		hm, _ := meanStd(headMean)
		hmi, _ := meanStd(headMin)
		hma, _ := meanStd(headMax)
		headRows = append(headRows, []string{name, bh, hm, hmi, hma})
	}
	for i := range metricsCols {
		if best[i] > math.Inf(-1) && len(rows) > 1 {
			col := 1 + len(keys) + i
			rows[bestRow[i]][col] += " *"
		}
	}
	// Baselines: one row each, mean ± std over the distinct seeds.
	for _, method := range []string{"kmeans", "knn-classifier"} {
		seen := map[int64]bool{}
		vals := make([][]float64, len(metricsCols))
		supervised := false
		for _, r := range runs {
			if seen[r.Seed] {
				continue
			}
			for _, res := range r.Results {
				if res.Method == method && res.Split == split {
					seen[r.Seed] = true
					supervised = res.Supervised
					for i, m := range metricsCols {
						vals[i] = append(vals[i], pick(res, m))
					}
				}
			}
		}
		if len(vals[0]) == 0 {
			continue
		}
		row := []string{method + " (baseline)"}
		for range keys {
			row = append(row, "-")
		}
		for i := range metricsCols {
			s, _ := meanStd(vals[i])
			if supervised && i > 0 {
				s = "-"
			}
			row = append(row, s)
		}
		row = append(row, fmt.Sprint(len(vals[0])), "-", "-")
		rows = append(rows, row)
	}
	return []table{
		{
			Title:  fmt.Sprintf("sweep: %d runs, %s split; best head chosen without labels; mean ± std over seeds (metrics in %%; * = best in column)", len(runs), split),
			Header: header, Rows: rows,
			Note: "knn-classifier is supervised (train labels), an upper reference.",
		},
		{
			Title:  fmt.Sprintf("heads: the label-free best head against all heads (%s ACC %%, mean ± std over seeds)", split),
			Header: []string{"variant", "best head", "mean over heads", "worst head", "best possible head"},
			Rows:   headRows,
		},
	}
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
