package core

import "context"

// FitRequest is everything a loss plugin needs to train its heads. Large
// arrays travel as file paths in the store, never inside messages.
type FitRequest struct {
	// Options are the loss section of the config (trainer and loss options,
	// validated against the loss plugin's Describe schema).
	Options Options
	// Train is the .npy path of the train embeddings [N, D] float32.
	Train string
	// Neighbours is the .npy path of the train k-NN graph [N, k] int32,
	// most similar first, self excluded.
	Neighbours string
	// Assign maps split name to the .npy path of the embeddings to assign
	// after training (every split, train included).
	Assign map[string]string
	// Clusters is K, the number of clusters of every head.
	Clusters int
	Seed     int64
	// Backend selects the GoMLX backend: "auto", "onnx", "go", "xla[:...]".
	Backend string
	// OutDir is where the trainer writes assignments, history and
	// checkpoints (the trial's run directory).
	OutDir string
	// Monitor, when set, asks the trainer to evaluate its heads on one
	// split after every epoch for live monitoring (TensorBoard). Optional.
	Monitor *Monitor
	// Spaces are the run's representation spaces, one per backbone in
	// config order, each as its backbone gave it (not normalised). A
	// single-space run has one, whose files are Train and Assign. With
	// several, Train and Assign hold their concatenation after per-space
	// L2 normalisation (what a single-space loss trains on); a loss that
	// uses the spaces separately (TURTLE) reads them here. Empty from a
	// runner older than this field: then Train and Assign are the one space.
	Spaces []Space
}

// Monitor names the split a trainer evaluates after every epoch, for the
// run's TensorBoard files: the clusters each head uses and, where labels
// exist, the selected head's ACC, NMI and ARI. Labels serve this display
// alone: they never reach training or the (label-free) choice of head.
type Monitor struct {
	// Split is a key of FitRequest.Assign.
	Split string
	// Labels is the .npy path of the split's labels [N_split] int32
	// (negative: unknown), or empty for an unlabelled split.
	Labels string
	// MaxRows bounds the rows evaluated (the first MaxRows of a seeded
	// permutation); 0 evaluates all.
	MaxRows int
}

// Space is one representation space of a run: one backbone's embeddings
// of the train split and of every split to assign, as .npy paths.
type Space struct {
	// Name is the space's name in tables and reports: the backbone's
	// plugin name, or the name the config gives it.
	Name string
	// Train is the .npy path of the train embeddings [N, D_s] float32.
	Train string
	// Assign maps split name to the .npy path of that split's
	// embeddings [N_split, D_s] float32 (every split, train included).
	Assign map[string]string
}

// SpacesOf returns the spaces of a request: req.Spaces, or, from a runner
// that does not send them, the one space of Train and Assign.
func SpacesOf(req FitRequest) []Space {
	if len(req.Spaces) > 0 {
		return req.Spaces
	}
	return []Space{{Name: "embeddings", Train: req.Train, Assign: req.Assign}}
}

// Progress is streamed by the trainer while it fits.
type Progress struct {
	Epoch, Epochs int // 1-based epoch being run
	Step, Steps   int // global step, total steps
	Loss          float64
	Message       string // free text (backend chosen, warnings)
}

// FitResult says where the trainer put its outputs.
type FitResult struct {
	Backend string // the backend actually used, e.g. "onnx:cpu"
	// BestHead is the label-free choice: the head with the lowest mean
	// loss in the last epoch.
	BestHead int
	// HeadLosses are the per-head mean losses of the last epoch.
	HeadLosses []float64
	// Assignments maps split to the .npy path of the cluster ids
	// [H, N] int32 (teacher argmax per head).
	Assignments map[string]string
	// Probabilities maps split to the .npy path of the selected head's
	// cluster probabilities [N, K] float32 (rows sum to 1; their argmax is
	// that head's assignment). Optional: the galleries rank images by
	// them and say so when a loss does not provide them.
	Probabilities map[string]string
	// History is the path of history.jsonl (one JSON object per epoch).
	History string
	Seconds float64
}

// Loss is the runner's view of a loss plugin: the shared trainer of
// core/train around a graph loss (see lossplugin.Serve).
type Loss interface {
	Describe(ctx context.Context, opts Options) (Description, error)
	Fit(ctx context.Context, req FitRequest, progress func(Progress)) (FitResult, error)
}
