// Command knn_run times clusterlab's exact cosine k-NN graph
// (core/neighbours) on a .npy file and reports its time and peak memory,
// for bench/knn_compare.sh (against numpy) and for the large-N memory
// check of docs/PERFORMANCE.md.
//
//	knn_run gen -n 200000 -d 768 -out x.npy     # clustered random float32 rows, streamed to disk
//	knn_run knn -in x.npy -k 50 [-mmap] [-rows 0:20000] [-out-idx i.npy -out-sim s.npy]
//
// knn prints one JSON line: seconds (the search alone), load_seconds,
// cpu_seconds (all threads, the search alone), peak_rss_mb (VmHWM of
// /proc/self/status: the most resident memory the process ever had,
// file-backed pages of a mapped input included) and the resident memory
// at the end split into anonymous and file-backed.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/bench/internal/benchutil"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/neighbours"
	"github.com/clusterlab/clusterlab/core/npy"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "knn":
		err = knn(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "knn_run:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: knn_run gen -n N -d D -out x.npy | knn_run knn -in x.npy [-k 50] [-mmap] [-rows lo:hi] [-backend auto] [-out-idx f] [-out-sim f]")
	os.Exit(2)
}

// gen writes n rows around `clusters` random unit-variance centres with
// noise (roughly how image features cluster), row by row, so that files
// larger than memory can be made.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	n := fs.Int("n", 60000, "rows")
	d := fs.Int("d", 768, "columns")
	clusters := fs.Int("clusters", 100, "number of cluster centres")
	noise := fs.Float64("noise", 0.8, "noise standard deviation around a centre")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output .npy path")
	_ = fs.Parse(args)
	if *out == "" || *n < 1 || *d < 1 || *clusters < 1 {
		return errors.New("gen needs -out, and positive -n, -d and -clusters")
	}
	rng := rand.New(rand.NewPCG(*seed, 7))
	centres := make([]float32, *clusters**d)
	for i := range centres {
		centres[i] = float32(rng.NormFloat64())
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(npy.EncodeHeader("<f4", []int{*n, *d})); err != nil {
		f.Close()
		return err
	}
	buf := make([]byte, 4**d)
	for range *n {
		c := centres[rng.IntN(*clusters)**d:]
		for j := range *d {
			v := c[j] + float32(*noise*rng.NormFloat64())
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return f.Close()
}

type report struct {
	N           int     `json:"n"`
	D           int     `json:"d"`
	K           int     `json:"k"`
	RowsLo      int     `json:"rows_lo"`
	RowsHi      int     `json:"rows_hi"`
	Backend     string  `json:"backend"`
	Mmap        bool    `json:"mmap"`
	LoadSeconds float64 `json:"load_seconds"`
	Seconds     float64 `json:"seconds"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	RSSAnonMB   float64 `json:"rss_anon_mb_end"`
	RSSFileMB   float64 `json:"rss_file_mb_end"`
	InputMB     float64 `json:"input_mb"`
	OutputMB    float64 `json:"output_mb"`
}

func knn(args []string) error {
	fs := flag.NewFlagSet("knn", flag.ExitOnError)
	in := fs.String("in", "", "input .npy [n, d] float32")
	k := fs.Int("k", 50, "neighbours per row")
	mmap := fs.Bool("mmap", false, "memory-map the input instead of reading it into the heap")
	rows := fs.String("rows", "", "lo:hi, search only the query rows [lo, hi) against all rows")
	be := fs.String("backend", "auto", "GoMLX backend: auto, onnx, go")
	outIdx := fs.String("out-idx", "", "write the neighbour indices [rows, k] int32 here")
	outSim := fs.String("out-sim", "", "write the similarities [rows, k] float32 here")
	_ = fs.Parse(args)
	if *in == "" {
		return errors.New("knn needs -in")
	}

	t0 := time.Now()
	var (
		x     []float32
		shape []int
		err   error
	)
	if *mmap {
		var unmap func() error
		x, shape, unmap, err = npy.MapFloat32(*in)
		if err == nil {
			defer unmap()
		}
	} else {
		x, shape, err = npy.ReadFloat32(*in)
	}
	if err != nil {
		return err
	}
	if len(shape) != 2 {
		return fmt.Errorf("%s has shape %v, want [n, d]", *in, shape)
	}
	n, d := shape[0], shape[1]
	lo, hi := 0, n
	if *rows != "" {
		a, b, ok := strings.Cut(*rows, ":")
		lo, err = strconv.Atoi(a)
		if err == nil {
			hi, err = strconv.Atoi(b)
		}
		if !ok || err != nil {
			return fmt.Errorf("-rows %q: want lo:hi", *rows)
		}
	}
	load := time.Since(t0)

	o, err := backend.Open(*be)
	if err != nil {
		return err
	}
	t1, c1 := time.Now(), benchutil.CPUSeconds()
	idx, sim, err := neighbours.KNNRows(context.Background(), o.Backend, x, n, d, *k, lo, hi, nil)
	if err != nil {
		return err
	}
	secs := time.Since(t1).Seconds()
	r := report{N: n, D: d, K: *k, RowsLo: lo, RowsHi: hi, Backend: o.Name, Mmap: *mmap,
		LoadSeconds: load.Seconds(), Seconds: secs, CPUSeconds: benchutil.CPUSeconds() - c1,
		InputMB: float64(len(x)) * 4 / 1e6, OutputMB: float64(len(idx)+len(sim)) * 4 / 1e6}
	r.PeakRSSMB, r.RSSAnonMB, r.RSSFileMB = memory()
	if *outIdx != "" {
		if err := npy.WriteInt32(*outIdx, idx, hi-lo, *k); err != nil {
			return err
		}
	}
	if *outSim != "" {
		if err := npy.WriteFloat32(*outSim, sim, hi-lo, *k); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// memory reads VmHWM, RssAnon and RssFile (MB) from /proc/self/status; NaN
// where the kernel does not report them.
func memory() (peak, anon, file float64) {
	peak, anon, file = math.NaN(), math.NaN(), math.NaN()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmHWM":
			peak = kb * 1024 / 1e6
		case "RssAnon":
			anon = kb * 1024 / 1e6
		case "RssFile":
			file = kb * 1024 / 1e6
		}
	}
	return
}
