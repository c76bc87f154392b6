//go:build !onnx

package losstest

import (
	"errors"

	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/trainbench"
)

// WriteStepONNX needs the onnx backend; without the build tag it fails.
func WriteStepONNX(train.GraphLoss, trainbench.StepBenchConfig, string) error {
	return errors.New("writing the step's ONNX model needs the onnx backend: build with -tags onnx")
}
