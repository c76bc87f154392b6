//go:build onnx

package losstest

import "github.com/clusterlab/clusterlab/core/train"

// WriteStepONNX writes the ONNX model of the training step of loss at the
// sizes of cfg to path (see train.WriteStepONNX), for bench/ortprofile.
func WriteStepONNX(loss train.GraphLoss, cfg train.StepBenchConfig, path string) error {
	return train.WriteStepONNX(loss, cfg, path)
}
