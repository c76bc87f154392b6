package rundir

import "time"

// What `clusterlab assign RUN_DIR INPUT` writes: by default into
// RUN_DIR/assigned/<name of INPUT>/ (AssignedDir), for each split of the
// input (in a folder named after the split when the input has several):
//
//	clusters.npy      [N] int32: the head's cluster of every row
//	probs.npy         [N, K] float32: the head's probabilities (softmax at teacher_temp)
//	assignments.csv   index,path,cluster,probability (path only for images)
//
// and assign.json (AssignRecord), written last.
const (
	// AssignedDir is the folder of a run directory that holds the
	// assignments of new inputs, one folder per input.
	AssignedDir = "assigned"
	// AssignClustersFile is [N] int32, the cluster of every row.
	AssignClustersFile = "clusters.npy"
	// AssignProbsFile is [N, K] float32, every row's probabilities.
	AssignProbsFile = "probs.npy"
	// AssignCSVFile has one row per input row: AssignCSVHeader (images),
	// or the same without the path column (features).
	AssignCSVFile = "assignments.csv"
	// AssignRecordFile is assign.json (AssignRecord).
	AssignRecordFile = "assign.json"
)

// AssignCSVHeader is the header of AssignCSVFile for images: the row's
// index in its split, the image's path relative to the input, its
// cluster and the probability of that cluster. Features have no path
// column.
var AssignCSVHeader = []string{"index", "path", "cluster", "probability"}

// AssignFormat is the version of assign.json.
const AssignFormat = 1

// Kinds of input of an assignment.
const (
	AssignImages   = "images"
	AssignFeatures = "features"
)

// AssignRecord is assign.json: what was assigned, with which run and
// head, and where the results are.
type AssignRecord struct {
	Format int `json:"format"`
	// Run is the run whose heads assigned the input.
	Run AssignRun `json:"run"`
	// Head is the head applied; BestHead the one the run selected.
	Head     int `json:"head"`
	BestHead int `json:"best_head"`
	// Input is the folder, list file or .npy given (absolute), Kind
	// AssignImages or AssignFeatures.
	Input string `json:"input"`
	Kind  string `json:"kind"`
	// Dataset is the images dataset plugin as it described the input
	// (images only); Backbone the run's backbone, whose identity the
	// embeddings' matched.
	Dataset  *Plugin `json:"dataset,omitempty"`
	Backbone Plugin  `json:"backbone"`
	// Clusters is K, Dim the embeddings' dimension, TeacherTemp the
	// temperature of the probabilities.
	Clusters    int             `json:"clusters"`
	Dim         int             `json:"dim"`
	TeacherTemp float64         `json:"teacher_temp"`
	Splits      []AssignedSplit `json:"splits"`
	// Skipped lists the images the dataset left out as unreadable (its
	// option asked it to skip them).
	Skipped    []AssignSkipped `json:"skipped,omitempty"`
	Started    time.Time       `json:"started"`
	Finished   time.Time       `json:"finished"`
	Clusterlab Build           `json:"clusterlab"`
}

// AssignRun identifies a run directory.
type AssignRun struct {
	Dir        string `json:"dir"`
	Experiment string `json:"experiment"`
	Trial      string `json:"trial"`
	Identity   string `json:"identity"`
}

// AssignedSplit is one split of an assignment: its rows, cluster sizes
// and files (relative to the folder of assign.json).
type AssignedSplit struct {
	Split        string `json:"split,omitempty"` // empty for features
	N            int    `json:"n"`
	ClusterSizes []int  `json:"cluster_sizes"` // [K]
	ClustersUsed int    `json:"clusters_used"`
	Clusters     string `json:"clusters"`
	Probs        string `json:"probs"`
	CSV          string `json:"csv"`
}

// AssignSkipped is an input file left out.
type AssignSkipped struct {
	Split  string `json:"split"`
	Name   string `json:"name"`
	Reason string `json:"reason"`
}
