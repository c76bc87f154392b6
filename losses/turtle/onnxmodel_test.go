//go:build onnx

package main

import (
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/core/backend"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// TestWriteIterationModel writes the ONNX model of one outer iteration at
// the speed target's size (MNIST pixels, defaults; rows gathered on the
// host, the gradient products from the transposed batch unless
// $TURTLE_ONNX_PLAIN_GRAD is set) to $TURTLE_ONNX_MODEL, for
// bench/ortprofile; skipped without it. Its scalars input is the last
// one, arg<n> with n = 12 for this one space:
//
//	TURTLE_ONNX_MODEL=/tmp/iter.onnx go test -tags onnx -run WriteIterationModel ./losses/turtle
//	go run -tags onnx ./bench/ortprofile -model /tmp/iter.onnx -threads 1 -runs 5 \
//	  -scalars arg12=0.01,0.0316,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.01,0.0316,0.0316,0.0316,0.0316,0.0316,0.0316,0.0316,0.0316,0.0316,0.0316
func TestWriteIterationModel(t *testing.T) {
	path := os.Getenv("TURTLE_ONNX_MODEL")
	if path == "" {
		t.Skip("set TURTLE_ONNX_MODEL to write the model")
	}
	const D, C, B, M = 784, 10, 10000, 10
	be, err := backend.Open("onnx")
	if err != nil {
		t.Fatal(err)
	}
	ob := be.Backend.(*onnxbackend.Backend)
	ob.SetKeepModelProto(true)
	defer ob.SetKeepModelProto(false)
	ig := &iterGraph{dims: []int{D}, clusters: C, steps: M, gamma: 10, dtype: dtypes.Float32, hostGather: true,
		transposedGrad: os.Getenv("TURTLE_ONNX_PLAIN_GRAD") == ""}
	var in []shapes.Shape
	for _, a := range stateArrays(ig.dims, C, false) {
		in = append(in, shapes.Make(dtypes.Float32, a.Shape...))
	}
	in = append(in, shapes.Make(dtypes.Float32, C, D), shapes.Make(dtypes.Float32, C), shapes.Make(dtypes.Float32, B, D), shapes.Make(dtypes.Float32, ig.numScalars()))
	ex, err := graph.NewExec(be.Backend, ig.build)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Finalize()
	g, err := ex.Compile(in...)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := onnxbackend.SaveModel(be.Backend, g.Executable(), f, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
