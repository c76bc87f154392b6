// Command temi_recipe_run times clusterlab's TEMI training epochs at any
// recipe size (bench/temi_recipe_compare.sh): the epoch benchmark of
// core/train/trainbench (NewEpochBench: the very step graph, state
// handling and pair drawing Fit runs) at D, H, K, B and N of the flags,
// which BenchmarkTrainEpoch of losses/temi fixes at K = 100, N = 50,000.
//
//	temi_recipe_run -d 784 -k 10 -batch 256 -rows 60000 -steps 12 [-epochs 1] [-backend onnx]
//	temi_recipe_run -d 784 -k 10 -batch 256 -write-onnx step.onnx   # the step's model, for bench/ortprofile
//
// It prints one JSON line: s/epoch (extrapolated from -steps timed steps
// when -steps > 0, as trainbench.EpochTiming says), ms/step (mean), the
// median and every timed step's wall time, CPU time and thread figures.
//
// The TEMI loss is a copy of losses/temi's (a main package, which cannot
// be imported): tempLoss below must build the same graph as
// losses/temi/loss.go; it only calls package lossgraph, as that does.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/core/train/trainbench"
	"github.com/clusterlab/clusterlab/losses/lossgraph"
	"github.com/gomlx/gomlx/core/graph"
)

// temiLoss is losses/temi's Loss (see the package comment).
type temiLoss struct{}

func (temiLoss) Describe() core.Description {
	return core.Description{Kind: core.KindLoss, Name: "temi", Version: "1.0.0",
		Summary: "TEMI (copy of losses/temi for timing)",
		Options: lossgraph.PMIOptions("the plain weighted PMI", "the per-head cluster prior")}
}

type temiStep struct{ lossgraph.PMIParams }

func (l temiLoss) Prepare(opts core.Options) (train.Step, error) {
	var s temiStep
	if _, err := core.Decode(l.Describe().Options, opts, &s.PMIParams); err != nil {
		return nil, err
	}
	return s, s.Check()
}

func (temiStep) State(heads, clusters int) ([]train.StateVar, error) {
	return lossgraph.UniformPrior("temi", heads, clusters)
}

func (s temiStep) Loss(in train.LossInputs) (*graph.Node, []*graph.Node) {
	c := lossgraph.NewCrossedPMI("temi", in.Student, in.Teacher, in.StudentTemp, in.TeacherTemp,
		lossgraph.OneState("temi", in.State), s.Beta, s.Momentum, s.PositivePMI)
	weight := graph.ReduceMean(c.Agreement, 0)
	perHead := graph.Neg(graph.ReduceMean(graph.Mul(graph.ExpandAxes(weight, 0), c.PMI), 1))
	return perHead, []*graph.Node{c.Prior}
}

// gemmRate is one product's best time and rate (-gemm).
type gemmRate struct {
	Shape  string  `json:"shape"`
	GFLOP  float64 `json:"gflop"`
	MS     float64 `json:"ms"`
	GFLOPS float64 `json:"gflops"`
}

type report struct {
	Backend       string    `json:"backend"`
	Precision     string    `json:"precision"`
	D             int       `json:"dim"`
	Heads         int       `json:"heads"`
	K             int       `json:"clusters"`
	Batch         int       `json:"batch"`
	Rows          int       `json:"rows"`
	StepsPerEpoch int       `json:"steps_per_epoch"`
	StepsTimed    int       `json:"steps_timed"`
	SPerEpoch     float64   `json:"s_per_epoch"`
	CPUSPerEpoch  float64   `json:"cpu_s_per_epoch"`
	MedianSEpoch  float64   `json:"s_per_epoch_median_step"`
	MSPerStep     float64   `json:"ms_per_step"`
	MedianMS      float64   `json:"median_ms_per_step"`
	StepMS        []float64 `json:"step_ms"`
	CPUMSPerStep  float64   `json:"cpu_ms_per_step"`
	PairsMS       float64   `json:"pairs_ms_per_epoch"`
	BusyThreads   int       `json:"busy_threads"`
	Runnable      float64   `json:"runnable_threads"`
	FirstStepS    float64   `json:"first_step_s"`
	MeanLoss      float64   `json:"mean_loss"`
	// PhaseMS is the mean time per timed step of each part of the step
	// (host_layer0: the first layer's forward products on the host;
	// graph: the step graph; host_wgrad: dW0 on the host; optimizer:
	// AdamW and the EMA on the host).
	PhaseMS map[string]float64 `json:"phase_ms"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "temi_recipe_run:", err)
		os.Exit(1)
	}
}

func run() error {
	d := flag.Int("d", 784, "embedding dimension D")
	k := flag.Int("k", 10, "clusters K")
	heads := flag.Int("heads", 16, "heads H")
	batch := flag.Int("batch", 256, "pairs per step B")
	rows := flag.Int("rows", 60000, "train embeddings N")
	steps := flag.Int("steps", 12, "steps timed per epoch (0 = the whole epoch)")
	epochs := flag.Int("epochs", 1, "timed epochs")
	be := flag.String("backend", "onnx", "backend: onnx, go, xla:PLUGIN")
	precision := flag.String("precision", "fp32", "the trainer's precision option: fp32 or bf16")
	gemm := flag.Bool("gemm", false, "instead of timing the step, time oneDNN's float32 GEMM on the first layer's products (JSON)")
	writeONNX := flag.String("write-onnx", "", "instead of timing, write the ONNX model of the step here (for bench/ortprofile)")
	flag.Parse()
	cfg := trainbench.DefaultEpochBenchConfig(*d, *batch)
	if *gemm {
		version, rates, err := gemmPeak(*d, 2**batch, *heads*cfg.Hidden, 5)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"library": version, "gemm": rates})
	}
	cfg.Clusters, cfg.Heads, cfg.Rows = *k, *heads, *rows
	cfg.Options = core.Options{train.OptPrecision: *precision}
	if *writeONNX != "" {
		return trainbench.WriteStepONNX(temiLoss{}, cfg.StepConfig(), *writeONNX)
	}
	ctx := context.Background()
	e, err := trainbench.NewEpochBench(ctx, temiLoss{}, *be, cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	before := e.Phases()
	t, err := e.Run(ctx, *epochs, *steps)
	if err != nil {
		return err
	}
	after := e.Phases()
	perStep := func(a, b time.Duration) float64 {
		return float64((b - a).Microseconds()) / 1000 / float64(after.Steps-before.Steps)
	}
	phases := map[string]float64{
		"host_layer0": perStep(before.Layer0, after.Layer0), "graph": perStep(before.Graph, after.Graph),
		"host_wgrad": perStep(before.WeightGrad, after.WeightGrad), "optimizer": perStep(before.Optimizer, after.Optimizer),
	}
	// Run reports the mean step; for a median, time 7 more single steps,
	// each the first of a fresh epoch, its pair drawing subtracted.
	var per []float64
	for range 7 {
		start := time.Now()
		pairs, _, err := e.Epoch(ctx, 1)
		if err != nil {
			return err
		}
		per = append(per, float64((time.Since(start)-pairs).Microseconds())/1000)
	}
	sort.Float64s(per)
	med := per[len(per)/2]
	r := report{Backend: t.Backend, Precision: *precision, D: *d, Heads: *heads, K: *k, Batch: *batch, Rows: *rows,
		StepsPerEpoch: t.StepsPerEpoch, StepsTimed: t.Timed, SPerEpoch: t.EpochWallS, CPUSPerEpoch: t.EpochCPUS,
		MSPerStep: t.WallMS, MedianMS: med, StepMS: per, CPUMSPerStep: t.CPUMS, PairsMS: t.PairsMS,
		BusyThreads: t.BusyThreads, Runnable: t.Runnable, FirstStepS: t.FirstStep.Seconds(), MeanLoss: t.MeanLoss, PhaseMS: phases}
	r.MedianSEpoch = t.PairsMS/1000 + med/1000*float64(t.StepsPerEpoch)
	return json.NewEncoder(os.Stdout).Encode(r)
}
