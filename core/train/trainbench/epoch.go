package trainbench

import (
	"context"
	"fmt"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/internal/stephook"
)

// EpochBenchConfig sizes a timing run of whole training epochs (see
// NewEpochBench): the data path of Fit (the epoch's shuffled anchors and
// their k-NN partners drawn on the host, the 2B rows gathered in the step
// graph from the train matrix kept on the device) and every step of it.
type EpochBenchConfig struct {
	D        int // embedding dimension
	Heads    int // H
	Clusters int // K
	Batch    int // B pairs per step
	Layers   int // nlayers
	// Hidden and Bottleneck are the widths of the hidden layers and of the
	// L2-normalised bottleneck.
	Hidden, Bottleneck int
	// Rows is N, the number of random train embeddings; an epoch has
	// Rows/Batch steps (the last incomplete batch dropped, as in Fit). The
	// k-NN table holds knn (the trainer option, 50 by default) random
	// neighbours per row.
	Rows int
	// Steps is the number of steps of each epoch that Run times; 0 (or
	// anything above Rows/Batch) means the whole epoch. With fewer, Run
	// extrapolates the epoch (see EpochTiming).
	Steps int
	// Warmup untimed steps run in NewEpochBench, in an epoch of their own
	// (the first compiles the graph).
	Warmup int
	// Seed draws the weights, the embeddings, the k-NN table and the pairs.
	Seed int64
	// Options overrides the trainer's and the loss's options; the sizes
	// above win over the matching trainer options.
	Options core.Options
}

// DefaultEpochBenchConfig is an epoch at TEMI's reference sizes on a
// CIFAR-sized train set: N = 50,000 embeddings of dimension d, H = 16,
// K = 100, batch pairs per step, and the trainer's default heads (nlayers,
// hidden_dim and bottleneck_dim of TrainerOptions: 2 layers, 512, 256),
// two warm-up steps, every step of the epoch timed.
func DefaultEpochBenchConfig(d, batch int) EpochBenchConfig {
	def := map[string]int{}
	for _, o := range train.TrainerOptions() {
		if v, ok := o.Default.(int); ok {
			def[o.Name] = v
		}
	}
	return EpochBenchConfig{D: d, Heads: def[train.OptHeads], Clusters: 100, Batch: batch, Layers: def[train.OptNLayers],
		Hidden: def[train.OptHiddenDim], Bottleneck: def[train.OptBottleneckDim], Rows: 50_000, Warmup: 2, Seed: 1}
}

// StepConfig is the step benchmark at the same sizes.
func (cfg EpochBenchConfig) StepConfig() StepBenchConfig {
	return StepBenchConfig{D: cfg.D, Heads: cfg.Heads, Clusters: cfg.Clusters, Batch: cfg.Batch, Layers: cfg.Layers,
		Hidden: cfg.Hidden, Bottleneck: cfg.Bottleneck, Rows: cfg.Rows, Warmup: cfg.Warmup, Steps: cfg.Steps,
		Seed: cfg.Seed, Options: cfg.Options}
}

// EpochBench holds a compiled training step with its state, the train
// embeddings on the device and a k-NN table, ready to run epochs as Fit
// runs them. Close releases it.
type EpochBench struct {
	s     *StepBench
	rows  int // N
	batch int
	epoch int // next epoch (0 holds the warm-up steps)
}

// NewEpochBench builds the training step of gl at the sizes of cfg on the
// backend backendSpec (see backend.Open), uploads the random train
// embeddings and runs cfg.Warmup untimed steps as the start of epoch 0;
// the timed epochs are 1, 2, ...
func NewEpochBench(ctx context.Context, gl train.GraphLoss, backendSpec string, cfg EpochBenchConfig) (*EpochBench, error) {
	if err := cfg.StepConfig().check(); err != nil {
		return nil, fmt.Errorf("epoch %w", err)
	}
	r, err := stephook.NewRun(gl, backendSpec, cfg.StepConfig().sizes(), cfg.Seed, cfg.Options)
	if err != nil {
		return nil, err
	}
	e := &EpochBench{s: &StepBench{backend: r.Backend(), run: r}, rows: cfg.Rows, batch: cfg.Batch}
	warm := r.EpochRows(0)
	for i := range cfg.Warmup {
		if err := ctx.Err(); err != nil {
			e.Close()
			return nil, fmt.Errorf("epoch benchmark stopped during warm-up: %w", err)
		}
		start := time.Now()
		if _, err := e.s.stepRows(warm[i%len(warm)]); err != nil {
			e.Close()
			return nil, err
		}
		if i == 0 {
			e.s.firstStep = time.Since(start)
		}
	}
	e.epoch = 1
	e.s.it = e.epoch * e.StepsPerEpoch()
	return e, nil
}

// Backend is the resolved name of the backend the steps run on.
func (e *EpochBench) Backend() string { return e.s.backend }

// StepsPerEpoch is Rows/Batch, the steps of a whole epoch.
func (e *EpochBench) StepsPerEpoch() int { return e.rows / e.batch }

// Close releases the step's state, the train embeddings and the graph.
func (e *EpochBench) Close() { e.s.Close() }

// Phases is where the steps' time went: the step graph, and the host's
// parts (the first layer's products where oneDNN runs them, the
// optimizer where the backend shares its buffers).
type Phases = stephook.Phases

// Phases adds up the time of each part of every step run so far (warm-up
// included): subtract two readings for the steps between them.
func (e *EpochBench) Phases() Phases { return e.s.run.Phases() }

// Epoch runs the next epoch as Fit does: it draws the epoch's pairs
// (shuffled anchors, one partner each from its first knn neighbours), then
// runs its first steps steps (all of them when steps is 0 or larger than
// the epoch), summing the per-head losses. It returns the time spent
// drawing the pairs and the mean loss over heads and steps.
func (e *EpochBench) Epoch(ctx context.Context, steps int) (pairs time.Duration, meanLoss float64, err error) {
	ipe := e.StepsPerEpoch()
	if steps <= 0 || steps > ipe {
		steps = ipe
	}
	start := time.Now()
	batches := e.s.run.EpochRows(e.epoch)
	pairs = time.Since(start)
	e.s.it = e.epoch * ipe
	var sums []float64
	for b := range steps {
		if err := ctx.Err(); err != nil {
			return pairs, 0, fmt.Errorf("epoch benchmark stopped at epoch %d step %d: %w", e.epoch, b+1, err)
		}
		perHead, err := e.s.stepRows(batches[b])
		if err != nil {
			return pairs, 0, fmt.Errorf("epoch %d step %d: %w", e.epoch, b+1, err)
		}
		if sums == nil {
			sums = make([]float64, len(perHead))
		}
		for h, l := range perHead {
			sums[h] += float64(l)
		}
	}
	for _, s := range sums {
		meanLoss += s / float64(len(sums)*steps)
	}
	e.epoch++
	return pairs, meanLoss, nil
}

// EpochTiming is the measured cost of the timed epochs.
type EpochTiming struct {
	StepTiming // per step, over all timed steps (pair drawing included)
	// Epochs timed, StepsPerEpoch of a whole epoch, and Timed steps of each.
	Epochs, StepsPerEpoch, Timed int
	// PairsMS is the mean time per epoch of drawing the pairs (host).
	PairsMS float64
	// EpochWallS and EpochCPUS are seconds per whole epoch: measured when
	// every step ran; otherwise the pair drawing plus StepsPerEpoch times
	// the mean time of the timed steps (which leaves out nothing a step
	// of the rest of the epoch does).
	EpochWallS, EpochCPUS float64
	// MeanLoss is the mean loss of the last epoch's timed steps.
	MeanLoss float64
}

// Run times epochs epochs of steps steps each (0 = whole epochs).
func (e *EpochBench) Run(ctx context.Context, epochs, steps int) (EpochTiming, error) {
	ipe := e.StepsPerEpoch()
	if steps <= 0 || steps > ipe {
		steps = ipe
	}
	if epochs < 1 {
		return EpochTiming{}, fmt.Errorf("epoch benchmark: %d epochs; want at least 1", epochs)
	}
	var pairs time.Duration
	var loss float64
	c := e.s.StartClock()
	for i := range epochs {
		p, l, err := e.Epoch(ctx, steps)
		if err != nil {
			c.Stop(i * steps)
			return EpochTiming{}, err
		}
		pairs += p
		loss = l
	}
	st := c.Stop(epochs * steps)
	t := EpochTiming{StepTiming: st, Epochs: epochs, StepsPerEpoch: ipe, Timed: steps, MeanLoss: loss,
		PairsMS: float64(pairs.Microseconds()) / 1000 / float64(epochs)}
	// Per-step figures without the pair drawing, scaled to a whole epoch.
	total := float64(epochs * steps)
	pairsS := t.PairsMS / 1000
	stepWall := (st.WallMS*total/1000 - pairsS*float64(epochs)) / total
	stepCPU := (st.CPUMS*total/1000 - pairsS*float64(epochs)) / total // pair drawing is one thread
	t.EpochWallS = pairsS + stepWall*float64(ipe)
	t.EpochCPUS = pairsS + stepCPU*float64(ipe)
	return t, nil
}

// Report passes the figures to report, e.g. testing.B's ReportMetric:
// s/epoch, cpu-s/epoch, ms/step, pairs-ms/epoch and those of
// StepTiming.Report.
func (t EpochTiming) Report(report func(value float64, unit string)) {
	report(t.EpochWallS, "s/epoch")
	report(t.EpochCPUS, "cpu-s/epoch")
	report(t.PairsMS, "pairs-ms/epoch")
	report(float64(t.Timed), "steps-timed/epoch")
	report(float64(t.StepsPerEpoch), "steps/epoch")
	t.StepTiming.Report(report)
}
