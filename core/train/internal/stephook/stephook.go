// Package stephook gives the benchmark harness (core/train/trainbench)
// the trainer's own training step without core/train exporting it: a loss
// author sees none of this. core/train sets the hooks in its init
// functions; nothing else may set them, and only packages under core/train
// can import this one.
package stephook

import (
	"time"

	"github.com/clusterlab/clusterlab/core"
)

// Sizes are the sizes of a benchmarked training step.
type Sizes struct {
	D, Heads, Clusters, Batch, Layers, Hidden, Bottleneck int
	// Rows is the number of random train embeddings on the device.
	Rows int
}

// Run is a compiled training step of a loss with its state on a backend,
// Rows random train embeddings on the device and a random k-NN table, set
// up as Fit sets up a run.
type Run interface {
	// Backend is the resolved backend name, e.g. "onnx:cpu".
	Backend() string
	// Iters is the length of the run's schedules: the global iterations
	// 0..Iters()-1 have step scalars.
	Iters() int
	// Step runs global iteration it (0 <= it < Iters()) on the 2B rows
	// of one batch (anchors, then partners), exactly as Fit runs a step,
	// and returns the per-head losses.
	Step(it int, rows []int32) ([]float32, error)
	// EpochRows draws the batches of epoch as Fit draws them, from the
	// run's seed and k-NN table: Rows/Batch steps.
	EpochRows(epoch int) [][]int32
	// Phases is the time spent so far in each part of the steps.
	Phases() Phases
	// Close releases the state, the train embeddings and the graph.
	Close()
}

// Phases adds up the time of each part of the steps a Run has run.
type Phases struct {
	Steps      int
	Layer0     time.Duration // host: the first layer's forward products (oneDNN; 0 without)
	Graph      time.Duration // the step graph on the backend
	WeightGrad time.Duration // host: the first layer's weight gradient (oneDNN; 0 without)
	Optimizer  time.Duration // host: AdamW and the teacher EMA (0 where the graph runs them)
}

// NewRun builds the training step of loss (a train.GraphLoss) at the sizes
// sz on the backend backendSpec (see backend.Open), with sz.Rows x sz.D
// standard normal embeddings and a k-NN table of random rows (as many
// neighbours per row as the knn option, capped at the rows), drawn from
// seed. The schedules are those of a run without warm-up or frozen last
// layer unless options say otherwise; the sizes win over the matching
// trainer options. Set by core/train.
var NewRun func(loss any, backendSpec string, sz Sizes, seed int64, options core.Options) (Run, error)

// WriteStepONNX writes the ONNX model of the training step of loss (a
// train.GraphLoss) at the sizes sz (Rows unused) with the rows gathered on
// the host, as the onnx backend compiles it for Fit, to path. Set by
// core/train when built with the onnx tag; nil otherwise.
var WriteStepONNX func(loss any, sz Sizes, options core.Options, path string) error
