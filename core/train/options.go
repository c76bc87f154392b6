package train

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
)

// Trainer option names (the loss adds its own; a clash is an error).
const (
	OptHeads                   = "heads"
	OptEpochs                  = "epochs"
	OptBatchSize               = "batch_size"
	OptLR                      = "lr"
	OptMinLR                   = "min_lr"
	OptWarmupEpochs            = "warmup_epochs"
	OptWeightDecay             = "weight_decay"
	OptWeightDecayEnd          = "weight_decay_end"
	OptMomentumTeacher         = "momentum_teacher"
	OptMaxMomentumTeacher      = "max_momentum_teacher"
	OptFreezeLastLayer         = "freeze_last_layer"
	OptNLayers                 = "nlayers"
	OptHiddenDim               = "hidden_dim"
	OptBottleneckDim           = "bottleneck_dim"
	OptStudentTemp             = "student_temp"
	OptTeacherTemp             = "teacher_temp"
	OptWarmupTeacherTemp       = "warmup_teacher_temp"
	OptWarmupTeacherTempEpochs = "warmup_teacher_temp_epochs"
	OptKNN                     = "knn"
	OptEmbedNorm               = "embed_norm"
	OptL2Norm                  = "l2_norm"
	OptCheckpointEvery         = "checkpoint_every"
	OptPrecision               = "precision"
)

// Values of OptPrecision.
const (
	PrecisionFP32 = "fp32"
	PrecisionBF16 = "bf16"
)

// TrainerVersion changes whenever the trainer would compute different
// numbers for the same options; it enters the loss plugin's identity.
const TrainerVersion = "3"

// TrainerOptions is the trainer's option schema. The defaults are the
// authors' reference recipe for CIFAR-10/100 (docs/TEMI.md, "Reference recipe"):
// batch 1024, lr 1e-4, min_lr 1e-4, 20 warm-up epochs, 100 epochs, 16 heads,
// k = 50; the rest are the defaults of the authors' main_args.py with
// docs/TEMI.md's values (teacher momentum 0.996 constant, temperatures 0.1).
func TrainerOptions() []core.Option {
	pos := core.Bound(1e-12) // a strictly positive float (Min is inclusive)
	return []core.Option{
		{Name: OptHeads, Type: core.TypeInt, Default: 16, Min: core.Bound(1), Max: core.Bound(1024),
			Help: "number of independent clustering heads trained together; the best is chosen by its loss"},
		{Name: OptEpochs, Type: core.TypeInt, Default: 100, Min: core.Bound(1),
			Help: "training epochs (one epoch = every train embedding once as an anchor)"},
		{Name: OptBatchSize, Type: core.TypeInt, Default: 1024, Min: core.Bound(2), AtMost: []string{core.RefTrainSamples},
			Help: "anchors per step (each with one k-NN partner); must not exceed the number of train embeddings"},
		{Name: OptLR, Type: core.TypeFloat, Default: 1e-4, Min: core.Bound(0),
			Help: "peak AdamW learning rate for batch 256; scaled by batch_size/256"},
		{Name: OptMinLR, Type: core.TypeFloat, Default: 1e-4, Min: core.Bound(0),
			Help: "learning rate at the end of the cosine decay, for batch 256; scaled by batch_size/256"},
		{Name: OptWarmupEpochs, Type: core.TypeInt, Default: 20, Min: core.Bound(0),
			Help: "epochs of linear learning-rate warm-up from 0 (must not exceed epochs)"},
		{Name: OptWeightDecay, Type: core.TypeFloat, Default: 1e-4, Min: core.Bound(0),
			Help: "AdamW weight decay at the start (weights, V and g; never biases)"},
		{Name: OptWeightDecayEnd, Type: core.TypeFloat, Default: 1e-4, Min: core.Bound(0),
			Help: "AdamW weight decay at the end of its cosine schedule"},
		{Name: OptMomentumTeacher, Type: core.TypeFloat, Default: 0.996, Min: core.Bound(0), Max: core.Bound(1),
			Help: "EMA momentum of the teacher at the start of training"},
		{Name: OptMaxMomentumTeacher, Type: core.TypeFloat, Default: 0.996, Min: core.Bound(0), Max: core.Bound(1),
			Help: "EMA momentum of the teacher at the end of its cosine schedule"},
		{Name: OptFreezeLastLayer, Type: core.TypeInt, Default: 1, Min: core.Bound(0),
			Help: "epochs during which the last (weight-normalised) layer gets no update"},
		{Name: OptNLayers, Type: core.TypeInt, Default: 2, Min: core.Bound(1), Max: core.Bound(16),
			Help: "linear layers of each head before the weight-normalised last layer"},
		{Name: OptHiddenDim, Type: core.TypeInt, Default: 512, Min: core.Bound(1),
			Help: "width of the hidden layers of each head"},
		{Name: OptBottleneckDim, Type: core.TypeInt, Default: 256, Min: core.Bound(1),
			Help: "width of the L2-normalised bottleneck before the last layer"},
		{Name: OptStudentTemp, Type: core.TypeFloat, Default: 0.1, Min: pos,
			Help: "softmax temperature of the student"},
		{Name: OptTeacherTemp, Type: core.TypeFloat, Default: 0.1, Min: pos,
			Help: "softmax temperature of the teacher after its warm-up (also used for the assignment probabilities)"},
		{Name: OptWarmupTeacherTemp, Type: core.TypeFloat, Default: 0.1, Min: pos,
			Help: "softmax temperature of the teacher in the first epoch"},
		{Name: OptWarmupTeacherTempEpochs, Type: core.TypeInt, Default: 30, Min: core.Bound(0),
			Help: "epochs over which the teacher temperature rises linearly to teacher_temp"},
		{Name: OptKNN, Type: core.TypeInt, Default: 50, Min: core.Bound(1),
			DefaultFrom: core.RefNeighboursK, AtMost: []string{core.RefNeighboursK},
			Help: "partners are drawn uniformly from the first knn neighbours; default: all neighbours.k neighbours of the graph"},
		{Name: OptEmbedNorm, Type: core.TypeBool, Default: false,
			Help: "standardise the embeddings with the per-dimension train mean and (unbiased) std before the heads"},
		{Name: OptL2Norm, Type: core.TypeBool, Default: false,
			Help: "L2-normalise each embedding before the heads (after embed_norm)"},
		{Name: OptCheckpointEvery, Type: core.TypeInt, Default: 1, Min: core.Bound(1),
			Help: "write a checkpoint every this many epochs (and always after the last one)"},
		{Name: OptPrecision, Type: core.TypeString, Default: PrecisionFP32, Choices: []string{PrecisionFP32, PrecisionBF16},
			Help: "precision of the first layer's products (about two thirds of the work): fp32, or bf16 (bfloat16 inputs, float32 accumulation, weights and optimiser state; several times faster on CPUs with AMX or AVX512-BF16; onnx and go backends)"},
	}
}

// config is the resolved trainer configuration of one Fit (core.Decode
// fills it from the trainer's options).
type config struct {
	Heads                   int     `option:"heads"`
	Epochs                  int     `option:"epochs"`
	BatchSize               int     `option:"batch_size"`
	WarmupEpochs            int     `option:"warmup_epochs"`
	LR                      float64 `option:"lr"`
	MinLR                   float64 `option:"min_lr"`
	WeightDecay             float64 `option:"weight_decay"`
	WeightDecayEnd          float64 `option:"weight_decay_end"`
	MomentumTeacher         float64 `option:"momentum_teacher"`
	MaxMomentumTeacher      float64 `option:"max_momentum_teacher"`
	FreezeLastLayer         int     `option:"freeze_last_layer"`
	NLayers                 int     `option:"nlayers"`
	Hidden                  int     `option:"hidden_dim"`
	Bottle                  int     `option:"bottleneck_dim"`
	StudentTemp             float64 `option:"student_temp"`
	TeacherTemp             float64 `option:"teacher_temp"`
	WarmupTeachTemp         float64 `option:"warmup_teacher_temp"`
	WarmupTeacherTempEpochs int     `option:"warmup_teacher_temp_epochs"`
	KNN                     int     `option:"knn"`
	EmbedNorm               bool    `option:"embed_norm"`
	L2Norm                  bool    `option:"l2_norm"`
	CheckpointEvery         int     `option:"checkpoint_every"`
	Precision               string  `option:"precision"`
}

// newConfig reads the trainer's options out of options resolved against
// the merged schema and checks the constraints the schema cannot express.
func newConfig(o core.Options) (config, error) {
	var c config
	if _, err := core.Decode(TrainerOptions(), pick(o, TrainerOptions()), &c); err != nil {
		return c, err
	}
	if c.Precision == PrecisionBF16 && !hostProducts {
		return c, &core.OptionError{Key: OptPrecision, Msg: "bf16 runs the first layer's products with oneDNN, which this binary lacks (built without the dnnl build tag; `make build` sets it); use fp32"}
	}
	if c.WarmupEpochs > c.Epochs {
		return c, &core.OptionError{Key: OptWarmupEpochs, Msg: fmt.Sprintf("%d warm-up epochs exceed the %d epochs; lower warmup_epochs or raise epochs", c.WarmupEpochs, c.Epochs)}
	}
	return c, nil
}

// pick returns the options of o that schema declares.
func pick(o core.Options, schema []core.Option) core.Options {
	out := make(core.Options, len(schema))
	for _, s := range schema {
		if v, ok := o[s.Name]; ok {
			out[s.Name] = v
		}
	}
	return out
}

// prepared is a loss ready to train: every option resolved once, the
// trainer's configuration and the loss's step.
type prepared struct {
	desc core.Description // the loss's own (its options only)
	// schema is the trainer's options followed by the loss's, the schema
	// the runner sees; opts are given resolved against it.
	schema []core.Option
	opts   core.Options
	cfg    config
	step   Step
}

// prepare resolves given against the trainer's and the loss's schemas,
// reads the trainer's configuration and prepares the loss with its own
// options. Option errors name their key.
func prepare(gl GraphLoss, given core.Options) (*prepared, error) {
	d := gl.Describe()
	schema, err := mergeSchemas(TrainerOptions(), d.Options, d.Name)
	if err != nil {
		return nil, err
	}
	opts, err := core.ResolveOptions(schema, given)
	if err != nil {
		return nil, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	step, err := gl.Prepare(pick(opts, d.Options))
	if err != nil {
		return nil, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	if step == nil {
		return nil, fmt.Errorf("loss %q: Prepare returned no step", d.Name)
	}
	return &prepared{desc: d, schema: schema, opts: opts, cfg: cfg, step: step}, nil
}

// mergeSchemas appends the loss's options to the trainer's, refusing a
// name used by both: the runner sees one flat section per loss.
func mergeSchemas(trainer, loss []core.Option, lossName string) ([]core.Option, error) {
	seen := make(map[string]bool, len(trainer))
	for _, o := range trainer {
		seen[o.Name] = true
	}
	out := append([]core.Option(nil), trainer...)
	for _, o := range loss {
		if seen[o.Name] {
			return nil, fmt.Errorf("loss %q declares option %q, which the trainer already defines; rename the loss option", lossName, o.Name)
		}
		seen[o.Name] = true
		out = append(out, o)
	}
	return out, nil
}
