package lossgraph

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/gomlx/gomlx/core/graph"
)

// Option names of the prior-normalised beta-PMI (CrossedPMI), shared by
// the losses built on it (TEMI, PMI/WMI).
const (
	OptBeta          = "beta"
	OptProbsMomentum = "probs_momentum"
	OptPositivePMI   = "positive_pmi"
)

// StatePrior names the per-head cluster prior pi [H, K].
const StatePrior = "prior"

// PMIOptions is the schema of beta, probs_momentum and positive_pmi.
// betaOneMeans says what beta = 1 gives; priorHelp whose prior the
// momentum drives.
func PMIOptions(betaOneMeans, priorHelp string) []core.Option {
	return []core.Option{
		{
			Name: OptBeta, Type: core.TypeFloat, Default: 0.6, Min: core.Bound(0),
			Help: "exponent of p_student*p_teacher in the PMI, > 0; 1 gives " + betaOneMeans,
		},
		{
			Name: OptProbsMomentum, Type: core.TypeFloat, Default: 0.9, Min: core.Bound(0), Max: core.Bound(1),
			Help: "EMA momentum of " + priorHelp + ", in [0, 1); 0 uses the current batch only",
		},
		{
			Name: OptPositivePMI, Type: core.TypeBool, Default: false,
			Help: "clip each pointwise PMI at 0 from below (use max(pmi, 0)), the authors' positive_pmi option",
		},
	}
}

// PMIParams are the resolved PMIOptions; embed it in a loss's options
// struct and core.Decode fills it.
type PMIParams struct {
	Beta        float64 `option:"beta"`
	Momentum    float64 `option:"probs_momentum"`
	PositivePMI bool    `option:"positive_pmi"`
}

// Check checks the bounds the schema cannot express (beta > 0, momentum <
// 1), naming the option at fault.
func (p PMIParams) Check() error {
	if p.Beta <= 0 {
		return &core.OptionError{Key: OptBeta, Msg: fmt.Sprintf("must be > 0, got %v (0.6 is the paper's value)", p.Beta)}
	}
	if p.Momentum >= 1 {
		return &core.OptionError{Key: OptProbsMomentum, Msg: fmt.Sprintf("must be < 1, got %v (1 would freeze the prior at uniform)", p.Momentum)}
	}
	return nil
}

// UniformPrior is the state of a prior-normalised loss: one uniform cluster
// prior per head, named StatePrior.
func UniformPrior(loss string, heads, clusters int) ([]train.StateVar, error) {
	if heads < 1 || clusters < 2 {
		return nil, fmt.Errorf("%s loss: need at least 1 head and 2 clusters, got heads=%d clusters=%d", loss, heads, clusters)
	}
	init := make([]float32, heads*clusters)
	for i := range init {
		init[i] = 1 / float32(clusters)
	}
	return []train.StateVar{{Name: StatePrior, Shape: []int{heads, clusters}, Init: init}}, nil
}

// OneState returns the single state variable of a loss that declared one
// (such as UniformPrior's prior); it panics, the GoMLX convention while
// building a graph, when the trainer handed another number.
func OneState(loss string, state []*graph.Node) *graph.Node {
	if len(state) != 1 {
		panic(fmt.Errorf("%s loss: want 1 state variable (%s), got %d", loss, StatePrior, len(state)))
	}
	return state[0]
}
