package main

import (
	"context"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// The benchmarks compare the plugin's throughput with ONNX Runtime alone on
// the same model and batch size:
//
//	go test ./backbones/dinov2 -run '^$' -bench . -benchtime 3x
//
// BenchmarkBareSession runs the session on ready tensors (no reading, no
// preprocessing, no pooling); BenchmarkEmbed runs Backbone.Embed on 32x32
// uint8 images (CIFAR-sized, resized to 224); BenchmarkEmbedPlugin does the
// same through the plugin process and its gRPC stream, as the runner does;
// BenchmarkEmbedVsBare interleaves the three to compare them on a busy
// machine.
// Each reports images/s; with preprocessing and transport overlapped with
// inference the plugin should stay within 10% of the bare session.

const (
	benchModel  = "dinov2_tiny.onnx"
	benchBatch  = 64
	benchImages = 4 * benchBatch // per operation: a stream, as a split is
)

// benchImageSet tiles the 32x32 test images into benchImages images, in
// input batches of benchBatch images.
func benchImageSet(tb testing.TB) *plugintest.Batches {
	im := readImages(tb, "images_rgb32.npy")
	px := make([]uint8, 0, benchImages*im.imgSize)
	for len(px) < cap(px) {
		px = append(px, im.px...)
	}
	return images{n: benchImages, g: im.g, px: px[:benchImages*im.imgSize], imgSize: im.imgSize}.reader(benchBatch)
}

func reportImagesPerSecond(b *testing.B, start time.Time) {
	b.ReportMetric(float64(benchImages*b.N)/time.Since(start).Seconds(), "images/s")
}

// bareSession is the model alone in ONNX Runtime, with the session options
// the plugin uses by default (sessionOptions), fed one ready input tensor.
type bareSession struct {
	s       *ort.DynamicAdvancedSession
	in, out *ort.Tensor[float32]
}

func newBareSession(b *testing.B) *bareSession {
	if err := initORT(); err != nil {
		b.Fatal(err)
	}
	opts, err := sessionOptions(0, -1)
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	bs := &bareSession{}
	b.Cleanup(bs.destroy)
	if bs.s, err = ort.NewDynamicAdvancedSession(testdataPath(b, benchModel), []string{"pixel_values"}, []string{"last_hidden_state"}, opts); err != nil {
		b.Fatal(err)
	}
	if bs.in, err = ort.NewEmptyTensor[float32](ort.NewShape(benchBatch, 3, 224, 224)); err != nil {
		b.Fatal(err)
	}
	for i := range bs.in.GetData() {
		bs.in.GetData()[i] = float32(i%251)/125 - 1
	}
	if bs.out, err = ort.NewEmptyTensor[float32](ort.NewShape(benchBatch, 257, 64)); err != nil {
		b.Fatal(err)
	}
	bs.run(b) // warm-up
	return bs
}

// run embeds benchImages images' worth of batches.
func (bs *bareSession) run(b *testing.B) {
	for range benchImages / benchBatch {
		if err := bs.s.Run([]ort.Value{bs.in}, []ort.Value{bs.out}); err != nil {
			b.Fatal(err)
		}
	}
}

func (bs *bareSession) destroy() {
	for _, t := range []*ort.Tensor[float32]{bs.in, bs.out} {
		if t != nil {
			t.Destroy()
		}
	}
	if bs.s != nil {
		bs.s.Destroy()
	}
}

func BenchmarkBareSession(b *testing.B) {
	bs := newBareSession(b)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		bs.run(b)
	}
	reportImagesPerSecond(b, start)
}

// embedStream embeds benchImages images with bb.
func embedStream(b *testing.B, bb core.Backbone) {
	opts := core.Options{optModel: testdataPath(b, benchModel), optBatchSize: benchBatch, optPooling: poolCLSPatchMean}
	got, _, err := embedAll(context.Background(), bb, opts, benchImageSet(b))
	if err != nil {
		b.Fatal(err)
	}
	if len(got) != benchImages*128 {
		b.Fatalf("%d values", len(got))
	}
}

func benchEmbed(b *testing.B, bb core.Backbone) {
	embedStream(b, bb) // warm-up
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		embedStream(b, bb)
	}
	reportImagesPerSecond(b, start)
}

func BenchmarkEmbed(b *testing.B) { benchEmbed(b, Backbone{}) }

func BenchmarkEmbedPlugin(b *testing.B) { benchEmbed(b, launch(b).Backbone()) }

// BenchmarkEmbedVsBare alternates the bare session, Backbone.Embed and the
// plugin process within each iteration, so that other load on the machine
// affects all three alike, and reports each one's images/s and the ratios
// to the bare session (1 = as fast). Use -benchtime 5x or more.
func BenchmarkEmbedVsBare(b *testing.B) {
	bs := newBareSession(b)
	plugin := launch(b).Backbone()
	embedStream(b, Backbone{}) // warm-up
	embedStream(b, plugin)
	var bare, inProc, viaPlugin time.Duration
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		bs.run(b)
		bare += time.Since(t)
		t = time.Now()
		embedStream(b, Backbone{})
		inProc += time.Since(t)
		t = time.Now()
		embedStream(b, plugin)
		viaPlugin += time.Since(t)
	}
	rate := func(d time.Duration) float64 { return float64(benchImages*b.N) / d.Seconds() }
	b.ReportMetric(rate(bare), "bare_images/s")
	b.ReportMetric(rate(inProc), "embed_images/s")
	b.ReportMetric(rate(viaPlugin), "plugin_images/s")
	b.ReportMetric(rate(inProc)/rate(bare), "embed/bare")
	b.ReportMetric(rate(viaPlugin)/rate(bare), "plugin/bare")
}
