package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
)

// Version changes whenever the plugin would compute different numbers for
// the same options and data; it enters the identity and the checkpoint key.
const Version = "1.0.0"

// Option names.
const (
	OptGamma           = "gamma"
	OptIterations      = "iterations"
	OptInnerSteps      = "inner_steps"
	OptInnerLR         = "inner_lr"
	OptOuterLR         = "outer_lr"
	OptBatchSize       = "batch_size"
	OptWarmStart       = "warm_start"
	OptCheckpointEvery = "checkpoint_every"
)

// maxInnerSteps bounds inner_steps: the inner steps are unrolled in the
// one compiled graph of an outer iteration, whose size (and compile time)
// grows with them.
const maxInnerSteps = 100

// Options is the plugin's option schema; the defaults are the authors'
// recipe (TURTLE.md, "Defaults").
func Options() []core.Option {
	pos := core.Bound(1e-12) // a strictly positive float (Min is inclusive)
	return []core.Option{
		{Name: OptGamma, Type: core.TypeFloat, Default: 10.0, Min: core.Bound(0), Max: core.Bound(1e6),
			Help: "weight of the entropy of the mean cluster distribution (higher: more balanced clusters; too low collapses them)"},
		{Name: OptIterations, Type: core.TypeInt, Default: 6000, Min: core.Bound(1), Max: core.Bound(1e8),
			Help: "outer iterations T (one batch, one inner fit and one task-encoder update each)"},
		{Name: OptInnerSteps, Type: core.TypeInt, Default: 10, Min: core.Bound(1), Max: core.Bound(maxInnerSteps),
			Help: "Adam steps M of the inner linear classifiers per outer iteration"},
		{Name: OptInnerLR, Type: core.TypeFloat, Default: 1e-3, Min: pos, Max: core.Bound(10),
			Help: "Adam learning rate of the inner classifiers"},
		{Name: OptOuterLR, Type: core.TypeFloat, Default: 1e-3, Min: pos, Max: core.Bound(10),
			Help: "Adam learning rate of the task encoder"},
		{Name: OptBatchSize, Type: core.TypeInt, Default: 10000, Min: core.Bound(2), Max: core.Bound(1e8),
			Help: "train rows per outer iteration, drawn without replacement; all of them when the train split is smaller"},
		{Name: OptWarmStart, Type: core.TypeBool, Default: false,
			Help: "keep the inner classifiers and their Adam state from one iteration to the next instead of starting them afresh"},
		{Name: OptCheckpointEvery, Type: core.TypeInt, Default: 500, Min: core.Bound(1),
			Help: "write a checkpoint every this many iterations (and after the last one); does not change the results"},
	}
}

// config is the resolved options of one Fit.
type config struct {
	Gamma           float64 `option:"gamma"`
	Iterations      int     `option:"iterations"`
	InnerSteps      int     `option:"inner_steps"`
	InnerLR         float64 `option:"inner_lr"`
	OuterLR         float64 `option:"outer_lr"`
	BatchSize       int     `option:"batch_size"`
	WarmStart       bool    `option:"warm_start"`
	CheckpointEvery int     `option:"checkpoint_every"`
}

// decode resolves given against the schema; errors name the option.
func decode(given core.Options) (config, core.Options, error) {
	var c config
	opts, err := core.Decode(Options(), given, &c)
	if err != nil {
		return c, nil, fmt.Errorf("loss \"turtle\" options: %w", err)
	}
	return c, opts, nil
}

// trajectoryOptions drops the options that cannot change the numbers
// (how often to checkpoint), so that changing them neither changes the
// identity nor prevents a resume.
func trajectoryOptions(o core.Options) core.Options { return o.Without(OptCheckpointEvery) }

// Loss is TURTLE as a clusterlab loss plugin with its own training loop
// (it does not use the shared trainer of core/train). The zero value is
// ready to use.
type Loss struct{}

var _ core.Loss = Loss{}

// New returns the loss.
func New() Loss { return Loss{} }

// Describe implements core.Loss. With opts it validates them and sets the
// identity, which covers every option but checkpoint_every.
func (Loss) Describe(_ context.Context, opts core.Options) (core.Description, error) {
	d := core.Description{
		Kind:    core.KindLoss,
		Name:    "turtle",
		Version: Version,
		Summary: "TURTLE: the labelling a linear classifier on frozen features learns best, on one or more spaces (Gadetsky et al., ICML 2024)",
		Options: Options(),
		// TURTLE reads the embeddings alone: the runner computes no k-NN graph.
		NoNeighbours: true,
	}
	if opts == nil {
		return d, nil
	}
	_, resolved, err := decode(opts)
	if err != nil {
		return core.Description{}, err
	}
	sum := sha256.Sum256([]byte(trajectoryOptions(resolved).Canonical()))
	d.Identity = fmt.Sprintf("turtle@%s:%s", Version, hex.EncodeToString(sum[:8]))
	return d, nil
}
