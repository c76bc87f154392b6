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
	}
}

// config is the resolved trainer configuration of one Fit.
type config struct {
	Heads, Epochs, BatchSize, WarmupEpochs    int
	LR, MinLR, WeightDecay, WeightDecayEnd    float64
	MomentumTeacher, MaxMomentumTeacher       float64
	FreezeLastLayer, NLayers, Hidden, Bottle  int
	StudentTemp, TeacherTemp, WarmupTeachTemp float64
	WarmupTeacherTempEpochs, KNN              int
	EmbedNorm, L2Norm                         bool
	CheckpointEvery                           int
}

// newConfig reads the trainer options out of resolved options and checks
// the constraints the schema cannot express.
func newConfig(o core.Options) (config, error) {
	c := config{
		Heads: o.Int(OptHeads), Epochs: o.Int(OptEpochs), BatchSize: o.Int(OptBatchSize),
		WarmupEpochs: o.Int(OptWarmupEpochs),
		LR:           o.Float(OptLR), MinLR: o.Float(OptMinLR),
		WeightDecay: o.Float(OptWeightDecay), WeightDecayEnd: o.Float(OptWeightDecayEnd),
		MomentumTeacher: o.Float(OptMomentumTeacher), MaxMomentumTeacher: o.Float(OptMaxMomentumTeacher),
		FreezeLastLayer: o.Int(OptFreezeLastLayer), NLayers: o.Int(OptNLayers),
		Hidden: o.Int(OptHiddenDim), Bottle: o.Int(OptBottleneckDim),
		StudentTemp: o.Float(OptStudentTemp), TeacherTemp: o.Float(OptTeacherTemp),
		WarmupTeachTemp:         o.Float(OptWarmupTeacherTemp),
		WarmupTeacherTempEpochs: o.Int(OptWarmupTeacherTempEpochs),
		KNN:                     o.Int(OptKNN),
		EmbedNorm:               o.Bool(OptEmbedNorm), L2Norm: o.Bool(OptL2Norm),
		CheckpointEvery: o.Int(OptCheckpointEvery),
	}
	if c.WarmupEpochs > c.Epochs {
		return c, &core.OptionError{Key: OptWarmupEpochs, Msg: fmt.Sprintf("%d warm-up epochs exceed the %d epochs; lower warmup_epochs or raise epochs", c.WarmupEpochs, c.Epochs)}
	}
	return c, nil
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
