package lossopts

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
)

// Option names shared by the prior-normalised beta-PMI losses (TEMI, PMI).
const (
	OptBeta          = "beta"
	OptProbsMomentum = "probs_momentum"
	OptPositivePMI   = "positive_pmi"
)

// StatePrior names the per-head cluster prior pi [H, K].
const StatePrior = "prior"

// PMIOptions is the schema of beta, probs_momentum and positive_pmi.
// priorHelp says whose prior the momentum drives.
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

// PMI holds the resolved shared options.
type PMI struct {
	Beta, Momentum float64
	PositivePMI    bool
}

// ResolvePMI resolves schema (which includes PMIOptions) from opts and
// checks the bounds the schema cannot express (beta > 0, momentum < 1).
// It returns the shared values and every resolved option of schema.
func ResolvePMI(loss string, schema []core.Option, opts core.Options) (PMI, core.Options, error) {
	resolved, err := Resolve(loss, schema, opts)
	if err != nil {
		return PMI{}, nil, err
	}
	p := PMI{Beta: resolved.Float(OptBeta), Momentum: resolved.Float(OptProbsMomentum), PositivePMI: resolved.Bool(OptPositivePMI)}
	if p.Beta <= 0 {
		return PMI{}, nil, fmt.Errorf("%s loss: %w", loss, &core.OptionError{Key: OptBeta, Msg: fmt.Sprintf("must be > 0, got %v (0.6 is the paper's value)", p.Beta)})
	}
	if p.Momentum >= 1 {
		return PMI{}, nil, fmt.Errorf("%s loss: %w", loss, &core.OptionError{Key: OptProbsMomentum, Msg: fmt.Sprintf("must be < 1, got %v (1 would freeze the prior at uniform)", p.Momentum)})
	}
	return p, resolved, nil
}

// UniformPrior is the state of a prior-normalised loss: one uniform cluster
// prior per head.
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
