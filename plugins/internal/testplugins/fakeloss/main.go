// Command clusterlab-loss-fake is a test loss plugin served through
// ServeLoss: it streams progress, writes small result files and
// returns a FitResult derived from its request.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
)

func main() { plugins.ServeLoss(fake{}) }

type fake struct{}

var schema = []core.Option{
	{Name: "epochs", Type: core.TypeInt, Default: 3, Help: "epochs", Min: core.Bound(1), Max: core.Bound(100)},
	{Name: "steps", Type: core.TypeInt, Default: 2, Help: "steps per epoch", Min: core.Bound(1)},
}

func (fake) Describe(_ context.Context, opts core.Options) (core.Description, error) {
	d := core.Description{Kind: core.KindLoss, Name: "fake", Version: "1.0.0", Summary: "a loss that only pretends", Options: schema, NoNeighbours: true}
	if opts == nil {
		return d, nil
	}
	o, err := core.ResolveOptions(schema, opts)
	if err != nil {
		return core.Description{}, err
	}
	d.Identity = "fake " + o.Canonical()
	return d, nil
}

func (fake) Fit(ctx context.Context, req core.FitRequest, progress func(core.Progress)) (core.FitResult, error) {
	o, err := core.ResolveOptions(schema, req.Options)
	if err != nil {
		return core.FitResult{}, err
	}
	train, err := os.ReadFile(req.Train)
	if err != nil {
		return core.FitResult{}, fmt.Errorf("open train embeddings: %w", err)
	}
	epochs, steps := o.Int("epochs"), o.Int("steps")
	step := 0
	for e := 1; e <= epochs; e++ {
		for s := 0; s < steps; s++ {
			if err := ctx.Err(); err != nil {
				return core.FitResult{}, err
			}
			step++
			progress(core.Progress{Epoch: e, Epochs: epochs, Step: step, Steps: epochs * steps,
				Loss: 1 / float64(step), Message: fmt.Sprintf("backend %s", req.Backend)})
		}
	}
	res := core.FitResult{
		Backend:     "fake:" + req.Backend,
		BestHead:    1,
		HeadLosses:  []float64{0.5, 0.25, 0.75},
		Assignments: map[string]string{},
		History:     filepath.Join(req.OutDir, "history.jsonl"),
		Seconds:     0.125,
	}
	spaces, err := json.Marshal(req.Spaces)
	if err != nil {
		return core.FitResult{}, err
	}
	history := fmt.Sprintf("{\"train_bytes\":%d,\"neighbours\":%q,\"clusters\":%d,\"seed\":%d,\"spaces\":%s}\n",
		len(train), req.Neighbours, req.Clusters, req.Seed, spaces)
	if err := os.WriteFile(res.History, []byte(history), 0o644); err != nil {
		return core.FitResult{}, err
	}
	splits := make([]string, 0, len(req.Assign))
	for s := range req.Assign {
		splits = append(splits, s)
	}
	sort.Strings(splits)
	for _, s := range splits {
		p := filepath.Join(req.OutDir, "assign-"+s+".txt")
		if err := os.WriteFile(p, []byte(s+" <- "+req.Assign[s]+"\n"), 0o644); err != nil {
			return core.FitResult{}, err
		}
		res.Assignments[s] = p
	}
	return res, nil
}
