//go:build onnx

package train

import (
	"fmt"
	"os"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/train/internal/stephook"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

func init() { stephook.WriteStepONNX = writeStepONNX }

// writeStepONNX is stephook.WriteStepONNX: it writes the ONNX model of the
// training step of loss at the sizes cfg, exactly as the onnx backend
// compiles it for Fit (rows gathered and the optimizer run on the host:
// inputs student[P], teacher[P], loss state[S], batch [2B, D], scalars
// [9]; outputs the gradients, the loss state and the per-head losses; in
// a binary with host products, zs and zt [H*out0, 2B] replace batch and
// dz replaces the first gradient, see stepBuilder), to
// path: for profiling it with ONNX Runtime's own profiler
// (bench/ortprofile, through trainbench.WriteStepONNX).
func writeStepONNX(loss any, cfg stephook.Sizes, options core.Options, path string) error {
	gl, ok := loss.(GraphLoss)
	if !ok {
		return fmt.Errorf("step model: %T is not a train.GraphLoss", loss)
	}
	given := core.Options{OptHeads: cfg.Heads, OptBatchSize: cfg.Batch, OptNLayers: cfg.Layers,
		OptHiddenDim: cfg.Hidden, OptBottleneckDim: cfg.Bottleneck}
	for k, v := range options {
		given[k] = v
	}
	p, err := prepare(gl, given)
	if err != nil {
		return fmt.Errorf("step model: %w", err)
	}
	desc := p.desc
	stateVars, err := p.step.State(cfg.Heads, cfg.Clusters)
	if err != nil {
		return fmt.Errorf("loss %q state: %w", desc.Name, err)
	}
	be, err := backend.Open("onnx")
	if err != nil {
		return err
	}
	ob, ok := be.Backend.(*onnxbackend.Backend)
	if !ok {
		return fmt.Errorf("step model: backend %s is not ONNX Runtime", be.Name)
	}
	ob.SetKeepModelProto(true)
	defer ob.SetKeepModelProto(false)
	a := arch{D: cfg.D, Heads: cfg.Heads, Clusters: cfg.Clusters, Layers: cfg.Layers, Hidden: cfg.Hidden, Bottle: cfg.Bottleneck}
	// The step as Fit runs it on onnx:cpu in this binary: with host
	// products (the dnnl tag) the first layer's products are inputs/outputs.
	sb := newStepBuilder(a, p, nil)
	sb.hostGather, sb.hostOptimizer, sb.hostLayer0 = true, true, sb.wantHostLayer0
	var in []shapes.Shape
	for range 2 {
		for _, s := range sb.specs {
			in = append(in, shapes.Make(dtypes.Float32, s.Shape...))
		}
	}
	for _, s := range stateVars {
		sb.stateShapes = append(sb.stateShapes, s.Shape)
		in = append(in, shapes.Make(dtypes.Float32, s.Shape...))
	}
	if sb.hostLayer0 {
		z := shapes.Make(dtypes.Float32, sb.specs[0].Shape[0], 2*cfg.Batch)
		in = append(in, z, z)
	} else {
		in = append(in, shapes.Make(dtypes.Float32, 2*cfg.Batch, cfg.D))
	}
	in = append(in, shapes.Make(dtypes.Float32, numScalars))
	ex, err := graph.NewExec(be.Backend, sb.build)
	if err != nil {
		return err
	}
	defer ex.Finalize()
	g, err := ex.Compile(in...)
	if err != nil {
		return fmt.Errorf("compile the step: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("step model: %w", err)
	}
	if err := onnxbackend.SaveModel(be.Backend, g.Executable(), f, nil, nil); err != nil {
		f.Close()
		return fmt.Errorf("save the step model: %w", err)
	}
	return f.Close()
}
