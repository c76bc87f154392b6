//go:build onnx

package losstest

import (
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/trainbench"
)

// WriteStepONNX writes the ONNX model of the training step of loss at the
// sizes of cfg to path (see trainbench.WriteStepONNX), for bench/ortprofile.
func WriteStepONNX(loss train.GraphLoss, cfg trainbench.StepBenchConfig, path string) error {
	return trainbench.WriteStepONNX(loss, cfg, path)
}
