// Command ortprofile runs a saved ONNX model with ONNX Runtime's profiler
// on filler inputs and prints where the time goes, by operator type and by
// node: the tool behind the optimisation notes of bench/README.md.
//
//	go run ./bench/ortprofile -model step.onnx -runs 3 -threads 2
//
// Float inputs are filled with small values, int inputs with 0, 1, 2, ...
// modulo -index-mod (they are row indices in the training step), except
// that a float input named by -scalars gets those values.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/core/backend"
)

func main() {
	model := flag.String("model", "", "ONNX model file")
	runs := flag.Int("runs", 3, "profiled runs (after one untimed run)")
	threads := flag.Int("threads", 0, "intra-op threads (0 = ONNX Runtime's default)")
	indexMod := flag.Int("index-mod", 1024, "int inputs are i mod this")
	scalars := flag.String("scalars", "", "input=v1,v2,... values of one float input")
	top := flag.Int("top", 25, "nodes to list")
	optimized := flag.String("optimized", "", "also write ONNX Runtime's optimised model there")
	lib := flag.String("lib", "", "ONNX Runtime shared library (default: $ONNXRUNTIME_SHARED_LIBRARY_PATH or the project's .deps/onnxruntime)")
	flag.Parse()
	if err := run(*model, *runs, *threads, *indexMod, *scalars, *top, *lib, *optimized); err != nil {
		fmt.Fprintln(os.Stderr, "ortprofile:", err)
		os.Exit(1)
	}
}

func run(model string, runs, threads, indexMod int, scalars string, top int, lib, optimized string) error {
	if model == "" {
		return fmt.Errorf("no -model given")
	}
	if lib != "" {
		os.Setenv(backend.OrtLibEnv, lib)
	}
	// Telemetry off, as everywhere ONNX Runtime is loaded.
	lib, err := backend.PrepareOrt()
	if err != nil {
		return err
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("initialise ONNX Runtime from %s: %w", lib, err)
	}
	ins, outs, err := ort.GetInputOutputInfo(model)
	if err != nil {
		return err
	}
	fixed := map[string][]float32{}
	if scalars != "" {
		name, vals, _ := strings.Cut(scalars, "=")
		for _, v := range strings.Split(vals, ",") {
			f, err := strconv.ParseFloat(v, 32)
			if err != nil {
				return fmt.Errorf("-scalars: %w", err)
			}
			fixed[name] = append(fixed[name], float32(f))
		}
	}
	for name, vals := range fixed {
		found := false
		for _, in := range ins {
			if in.Name == name {
				found = true
				if n := int(in.Dimensions.FlattenedSize()); n != len(vals) || in.DataType != ort.TensorElementDataTypeFloat {
					return fmt.Errorf("-scalars: input %s holds %d values of type %v; %d floats given", name, n, in.DataType, len(vals))
				}
			}
		}
		if !found {
			return fmt.Errorf("-scalars: the model has no input %q (its last input is %q)", name, ins[len(ins)-1].Name)
		}
	}
	var inNames, outNames []string
	var inVals []ort.Value
	for _, in := range ins {
		inNames = append(inNames, in.Name)
		n := in.Dimensions.FlattenedSize()
		var v ort.Value
		switch in.DataType {
		case ort.TensorElementDataTypeInt32:
			d := make([]int32, n)
			for i := range d {
				d[i] = int32(i % indexMod)
			}
			v, err = ort.NewTensor(in.Dimensions, d)
		case ort.TensorElementDataTypeFloat:
			d := make([]float32, n)
			if f, ok := fixed[in.Name]; ok {
				copy(d, f)
			} else {
				for i := range d {
					d[i] = 0.01 * float32(i%97-48) / 48
				}
			}
			v, err = ort.NewTensor(in.Dimensions, d)
		default:
			return fmt.Errorf("input %s: unsupported type %v", in.Name, in.DataType)
		}
		if err != nil {
			return err
		}
		inVals = append(inVals, v)
	}
	for _, o := range outs {
		outNames = append(outNames, o.Name)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return err
	}
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			return err
		}
	}
	if optimized != "" {
		if err := opts.SetOptimizedModelFilePath(optimized); err != nil {
			return err
		}
	}
	prefix := filepath.Join(os.TempDir(), "ortprofile")
	if err := opts.EnableProfiling(prefix); err != nil {
		return err
	}
	sess, err := ort.NewDynamicAdvancedSession(model, inNames, outNames, opts)
	if err != nil {
		return err
	}
	for i := 0; i <= runs; i++ {
		outVals := make([]ort.Value, len(outNames))
		if err := sess.Run(inVals, outVals); err != nil {
			return err
		}
		for _, v := range outVals {
			v.Destroy()
		}
	}
	if err := sess.Destroy(); err != nil {
		return err
	}
	// The profile is prefix_<date>.json; take the newest.
	matches, _ := filepath.Glob(prefix + "_*.json")
	if len(matches) == 0 {
		return fmt.Errorf("no profile %s_*.json written", prefix)
	}
	sort.Strings(matches)
	return summarise(matches[len(matches)-1], runs, top)
}

type event struct {
	Cat  string `json:"cat"`
	Name string `json:"name"`
	Ts   int64  `json:"ts"`  // microseconds since the session started
	Dur  int64  `json:"dur"` // microseconds
	Args struct {
		OpName      string `json:"op_name"`
		OutputSize  string `json:"output_size"`
		ActivationS string `json:"activation_size"`
	} `json:"args"`
}

func summarise(path string, runs, top int) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var evs []event
	if err := json.Unmarshal(b, &evs); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	byOp := map[string]int64{}
	byNode := map[string]int64{}
	nodeOp := map[string]string{}
	// The first run is a warm-up (allocations, weight packing): leave out
	// everything up to its end.
	var skipUntil int64 = -1
	for _, e := range evs {
		if e.Cat == "Session" && e.Name == "model_run" {
			skipUntil = e.Ts + e.Dur
			break
		}
	}
	var total, runTotal int64
	var nRuns int
	for _, e := range evs {
		if e.Ts <= skipUntil {
			continue
		}
		switch {
		case e.Cat == "Node" && strings.HasSuffix(e.Name, "_kernel_time"):
			node := strings.TrimSuffix(e.Name, "_kernel_time")
			byOp[e.Args.OpName] += e.Dur
			byNode[node] += e.Dur
			nodeOp[node] = e.Args.OpName + " out " + e.Args.OutputSize + "B"
			total += e.Dur
		case e.Cat == "Session" && e.Name == "model_run":
			runTotal += e.Dur
			nRuns++
		}
	}
	div := float64(max(nRuns, 1)) * 1000
	fmt.Printf("profile %s: %d runs, model_run %.1f ms/run, kernels %.1f ms/run\n", path, nRuns, float64(runTotal)/div, float64(total)/div)
	type kv struct {
		k string
		v int64
	}
	sorted := func(m map[string]int64) []kv {
		var s []kv
		for k, v := range m {
			s = append(s, kv{k, v})
		}
		sort.Slice(s, func(i, j int) bool { return s[i].v > s[j].v })
		return s
	}
	fmt.Println("\nby operator type (ms/run, share of kernel time):")
	for _, x := range sorted(byOp) {
		fmt.Printf("  %-22s %8.1f  %5.1f%%\n", x.k, float64(x.v)/div, 100*float64(x.v)/float64(total))
	}
	fmt.Printf("\ntop %d nodes:\n", top)
	for i, x := range sorted(byNode) {
		if i >= top {
			break
		}
		fmt.Printf("  %-40s %8.1f  %s\n", x.k, float64(x.v)/div, nodeOp[x.k])
	}
	return nil
}
