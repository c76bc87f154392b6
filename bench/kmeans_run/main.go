// Command kmeans_run times clusterlab's k-means baseline (core/baselines:
// greedy k-means++, Lloyd steps as matrix products on the GoMLX backend,
// best of n_init) on a .npy file, for bench/kmeans_compare.sh.
//
//	kmeans_run -in x.npy [-k 10] [-n-init 10] [-seed 0] [-backend auto] [-out-labels l.npy]
//
// It prints one JSON line: seconds and cpu_seconds (all threads) of the
// KMeans call alone, the inertia of the best run (float64, exact), its
// Lloyd iterations, and the Lloyd iterations of all runs together.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/clusterlab/clusterlab/bench/internal/benchutil"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/baselines"
	"github.com/clusterlab/clusterlab/core/npy"
)

type report struct {
	N          int     `json:"n"`
	D          int     `json:"d"`
	K          int     `json:"k"`
	NInit      int     `json:"n_init"`
	Backend    string  `json:"backend"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Inertia    float64 `json:"inertia"`
	BestIters  int     `json:"best_run_iters"`
	LloydIters int     `json:"lloyd_iters_all_runs"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kmeans_run:", err)
		os.Exit(1)
	}
}

func run() error {
	in := flag.String("in", "", "input .npy [n, d] float32")
	k := flag.Int("k", 10, "clusters")
	nInit := flag.Int("n-init", 10, "k-means++ initialisations (best inertia wins)")
	seed := flag.Int64("seed", 0, "random seed")
	be := flag.String("backend", "auto", "GoMLX backend: auto, onnx, go")
	outLabels := flag.String("out-labels", "", "write the labels [n] int32 here")
	flag.Parse()
	if *in == "" {
		return errors.New("-in is required")
	}
	x, shape, err := npy.ReadFloat32(*in)
	if err != nil {
		return err
	}
	if len(shape) != 2 {
		return fmt.Errorf("%s has shape %v, want [n, d]", *in, shape)
	}
	n, d := shape[0], shape[1]
	o, err := backend.Open(*be)
	if err != nil {
		return err
	}
	iters := 0
	opts := baselines.DefaultKMeansOptions()
	opts.NInit, opts.Seed = *nInit, *seed
	opts.Progress = func(baselines.KMeansProgress) { iters++ }
	t0, c0 := time.Now(), benchutil.CPUSeconds()
	res, err := baselines.KMeans(context.Background(), o.Backend, x, n, d, *k, opts)
	if err != nil {
		return err
	}
	r := report{N: n, D: d, K: *k, NInit: *nInit, Backend: o.Name,
		Seconds: time.Since(t0).Seconds(), CPUSeconds: benchutil.CPUSeconds() - c0,
		Inertia: res.Inertia, BestIters: res.Iters, LloydIters: iters}
	if *outLabels != "" {
		if err := npy.WriteInt32(*outLabels, res.Labels, n); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}
