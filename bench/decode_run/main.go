// Command decode_run measures how fast clusterlab decodes a folder of
// images, for bench/decode_compare.sh, and how far its pixels are from
// Pillow's.
//
//	decode_run -mode decode -root DIR [-ref pillow.npy] [-repeat 3]
//	decode_run -mode plugin -plugin PATH -root DIR [-ref pillow.npy] [-repeat 3]
//	decode_run -mode gostd -root DIR [-ref pillow.npy] [-repeat 3]
//
// decode: datasets/images/decode in this process, on a pool of GOMAXPROCS
// workers each reading a file and decoding it (Probe, then DecodeInto its
// own buffer), as the images dataset plugin's Read does, without the
// batching and the plugin protocol. plugin: launches the images dataset
// plugin and reads the train split over the plugin protocol exactly as the
// runner does (Describe once, then Read in batches of about 1 MiB; the
// plugin decodes on all cores), timing Describe and each Read apart.
// gostd: the standard library's image/jpeg (the pure-Go alternative) in
// this process on GOMAXPROCS workers.
//
// Each timed run reads every file once and does nothing with the pixels,
// as a consumer that keeps up would; the pixels are checked in one more,
// untimed pass. Prints one JSON line: images, the seconds of each run, the
// best and median images per second, the CPU seconds per image of the
// decoding process over the timed runs (this one; with -mode plugin the
// plugin's, and this receiving process's apart), the sha256 of every pixel
// in name order (equal to Pillow's when bit-exact), and, with -ref (a uint8 [n, h, w, 3] .npy of Pillow's pixels of the first
// n files, in name order), the largest and mean absolute difference and
// the fraction of values that differ over those n images.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"image"
	"image/color"
	"image/jpeg"
	"log"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clusterlab/clusterlab/bench/internal/benchutil"
	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/datasets/images/decode"
	"github.com/clusterlab/clusterlab/plugins"
)

type result struct {
	Mode            string    `json:"mode"`
	Images          int       `json:"images"`
	DescribeSeconds float64   `json:"describe_seconds,omitempty"`
	RunSeconds      []float64 `json:"run_seconds"`
	BestPerSecond   float64   `json:"best_images_per_second"`
	MedianPerSecond float64   `json:"median_images_per_second"`
	CPUPerImage     float64   `json:"cpu_seconds_per_image"`
	RunnerCPU       float64   `json:"runner_cpu_seconds_per_image,omitempty"`
	Cores           int       `json:"cores"`
	SHA256          string    `json:"sha256"`
	Identity        string    `json:"identity,omitempty"`
	RefImages       int       `json:"ref_images,omitempty"`
	MaxAbsDiff      int       `json:"max_abs_diff"`
	MeanAbsDiff     float64   `json:"mean_abs_diff"`
	DifferFraction  float64   `json:"differ_fraction"`
}

// finish sets the rates from the runs' seconds and the CPU seconds they
// took.
func (r *result) finish(cpu float64) {
	if len(r.RunSeconds) == 0 || r.Images == 0 {
		return
	}
	s := slices.Sorted(slices.Values(r.RunSeconds))
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	r.BestPerSecond = float64(r.Images) / s[0]
	r.MedianPerSecond = float64(r.Images) / med
	r.CPUPerImage = cpu / float64(r.Images*len(s))
}

// comparer holds Pillow's pixels of the first images and accumulates the
// differences.
type comparer struct {
	ref         []byte
	per, n      int
	max, differ int
	sum, values float64
}

func loadRef(path string) (*comparer, error) {
	if path == "" {
		return nil, nil
	}
	h, data, err := npy.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if h.DType != "|u1" || len(h.Shape) != 4 || h.Shape[3] != 3 {
		return nil, fmt.Errorf("%s: %s %v, want uint8 [n, h, w, 3]", path, h.DType, h.Shape)
	}
	return &comparer{ref: data, n: h.Shape[0], per: h.Shape[1] * h.Shape[2] * 3}, nil
}

func (c *comparer) add(i int, px []byte) error {
	if c == nil || i >= c.n {
		return nil
	}
	if len(px) != c.per {
		return fmt.Errorf("image %d has %d values, Pillow's %d", i, len(px), c.per)
	}
	ref := c.ref[i*c.per : (i+1)*c.per]
	for k, v := range px {
		d := int(v) - int(ref[k])
		if d < 0 {
			d = -d
		}
		if d > 0 {
			c.differ++
			c.sum += float64(d)
		}
		c.max = max(c.max, d)
	}
	c.values += float64(len(px))
	return nil
}

func (c *comparer) fill(r *result) {
	if c == nil || c.values == 0 {
		return
	}
	r.RefImages = int(c.values) / c.per
	r.MaxAbsDiff, r.MeanAbsDiff, r.DifferFraction = c.max, c.sum/c.values, float64(c.differ)/c.values
}

func main() {
	mode := flag.String("mode", "decode", "decode (datasets/images/decode in process), plugin (the images dataset plugin, over the protocol) or gostd (image/jpeg in process)")
	plugin := flag.String("plugin", "bin/plugins/clusterlab-dataset-images", "the images dataset plugin executable (-mode plugin)")
	root := flag.String("root", "", "a flat folder of images")
	refPath := flag.String("ref", "", "Pillow's pixels of the first images (uint8 [n, h, w, 3] .npy)")
	repeat := flag.Int("repeat", 3, "timed runs over all the files")
	flag.Parse()
	if *root == "" || *repeat < 1 {
		log.Fatal("-root is required, and -repeat must be at least 1")
	}
	cmp, err := loadRef(*refPath)
	if err != nil {
		log.Fatal(err)
	}
	var r result
	switch *mode {
	case "decode":
		r, err = runInProcess(*root, *repeat, cmp, decodeClusterlab)
	case "gostd":
		r, err = runInProcess(*root, *repeat, cmp, decodeStd)
	case "plugin":
		r, err = runPlugin(*plugin, *root, *repeat, cmp)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
	cmp.fill(&r)
	r.Mode, r.Cores = *mode, runtime.GOMAXPROCS(0)
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}

// readBatchSize is the runner's: about 1 MiB of pixels per batch.
func readBatchSize(info core.DatasetInfo) int {
	per := info.Height * info.Width * info.Channels
	if per <= 0 {
		return 64
	}
	return max(1, min((1<<20)/per, 1024))
}

func runPlugin(exe, root string, repeat int, cmp *comparer) (result, error) {
	var r result
	ctx := context.Background()
	c, err := plugins.Launch(ctx, core.KindDataset, exe)
	if err != nil {
		return r, err
	}
	defer c.Kill()
	abs, err := filepath.Abs(root)
	if err != nil {
		return r, err
	}
	opts := core.Options{"root": abs, "layout": "flat"}
	t0 := time.Now()
	info, err := c.Dataset().Describe(ctx, opts)
	if err != nil {
		return r, err
	}
	r.DescribeSeconds = time.Since(t0).Seconds()
	r.Identity = info.Identity
	req := core.ReadRequest{Options: opts, Split: core.SplitTrain, BatchSize: readBatchSize(info)}
	cpu0, self0 := procCPUSeconds(c.Pid()), benchutil.CPUSeconds()
	for range repeat {
		n := 0
		t1 := time.Now()
		err = c.Dataset().Read(ctx, req, func(b core.ImageBatch) error {
			n += b.Count
			return nil
		})
		r.RunSeconds = append(r.RunSeconds, time.Since(t1).Seconds())
		if err != nil {
			return r, err
		}
		r.Images = n
	}
	r.finish(procCPUSeconds(c.Pid()) - cpu0)
	// The receiving side's share: gRPC, TLS, protobuf, copies.
	r.RunnerCPU = (benchutil.CPUSeconds() - self0) / float64(r.Images*repeat)
	h := sha256.New()
	err = c.Dataset().Read(ctx, req, func(b core.ImageBatch) error {
		per := b.Height * b.Width * b.Channels
		h.Write(b.Pixels)
		for j := range b.Count {
			if err := cmp.add(b.Offset+j, b.Pixels[j*per:(j+1)*per]); err != nil {
				return err
			}
		}
		return nil
	})
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	return r, err
}

// procCPUSeconds is the user and system CPU time of process pid so far
// (Linux /proc; NaN elsewhere).
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return math.NaN()
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// decoder decodes one file's bytes to RGB, into buf when it is large
// enough, and returns the pixels.
type decoder func(data, buf []byte) ([]byte, error)

// decodeClusterlab is what the images plugin does per file at Read: the
// header (Probe), then DecodeInto a buffer of that size.
func decodeClusterlab(data, buf []byte) ([]byte, error) {
	hdr, err := decode.Probe(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	n := hdr.Width * hdr.Height * 3
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	return buf, decode.DecodeInto(data, buf, hdr.Width, hdr.Height)
}

// runInProcess reads and decodes every file of root on GOMAXPROCS workers,
// repeat times, timed, then once more in name order to check the pixels.
func runInProcess(root string, repeat int, cmp *comparer, dec decoder) (result, error) {
	var r result
	entries, err := os.ReadDir(root)
	if err != nil {
		return r, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() {
			files = append(files, filepath.Join(root, e.Name()))
		}
	}
	slices.Sort(files)
	r.Images = len(files)
	cpu0 := benchutil.CPUSeconds()
	for range repeat {
		t0 := time.Now()
		if err := decodeAll(files, dec); err != nil {
			return r, err
		}
		r.RunSeconds = append(r.RunSeconds, time.Since(t0).Seconds())
	}
	r.finish(benchutil.CPUSeconds() - cpu0)
	h := sha256.New()
	for i, f := range files {
		if err := checkFile(h, cmp, i, f, dec); err != nil {
			return r, err
		}
	}
	r.SHA256 = hex.EncodeToString(h.Sum(nil))
	return r, nil
}

// decodeAll decodes files on a pool of GOMAXPROCS workers, each reusing
// its own pixel buffer, and drops the pixels.
func decodeAll(files []string, dec decoder) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var buf []byte
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				data, err := os.ReadFile(files[i])
				if err == nil {
					buf, err = dec(data, buf)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", files[i], err)
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func checkFile(h hash.Hash, cmp *comparer, i int, path string, dec decoder) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	px, err := dec(data, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	h.Write(px)
	return cmp.add(i, px)
}

// decodeStd decodes with image/jpeg, each image converted to RGB by the
// standard library (color.YCbCrToRGB, nearest chroma sample).
func decodeStd(data, _ []byte) ([]byte, error) {
	m, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	b := m.Bounds()
	px := make([]byte, 0, b.Dx()*b.Dy()*3)
	switch m := m.(type) {
	case *image.YCbCr:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.YCbCrAt(x, y)
				rr, g, bb := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				px = append(px, rr, g, bb)
			}
		}
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for _, v := range m.Pix[(y-b.Min.Y)*m.Stride : (y-b.Min.Y)*m.Stride+b.Dx()] {
				px = append(px, v, v, v)
			}
		}
	default:
		return nil, fmt.Errorf("decoded to %T", m)
	}
	return px, nil
}
