package plugins

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/internal/testplugins/synthdata"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// synthSchema is the option schema of the synth plugin as it must arrive:
// defaults in their canonical Go types.
var synthSchema = []core.Option{
	{Name: "count", Type: core.TypeInt, Default: int64(100), Help: "images in the train split", Min: core.Bound(1), Max: core.Bound(1e6)},
	{Name: "height", Type: core.TypeInt, Default: int64(8), Help: "image height", Min: core.Bound(1)},
	{Name: "width", Type: core.TypeInt, Default: int64(8), Help: "image width", Min: core.Bound(1)},
	{Name: "channels", Type: core.TypeInt, Default: int64(3), Help: "channels", Min: core.Bound(1), Max: core.Bound(4)},
	{Name: "classes", Type: core.TypeInt, Default: int64(10), Help: "classes", Min: core.Bound(1)},
	{Name: "jitter", Type: core.TypeFloat, Default: 0.5, Help: "unused float", Min: core.Bound(0), Max: core.Bound(1)},
	{Name: "flavour", Type: core.TypeString, Default: "plain", Help: "unused choice", Choices: []string{"plain", "fancy"}},
	{Name: "shuffle", Type: core.TypeBool, Default: false, Help: "unused bool"},
	{Name: "tag", Type: core.TypeString, Help: "unused optional string", Optional: true},
}

func TestDatasetDescribe(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	want := core.Description{Kind: core.KindDataset, Name: "synth", Version: "0.1.0",
		Summary: "synthetic images for tests", Options: synthSchema}
	if got := c.Description(); !reflect.DeepEqual(got, want) {
		t.Fatalf("description at launch:\n got %#v\nwant %#v", got, want)
	}
	if c.Kind() != core.KindDataset || c.Name() != "synth" || c.Path() != pluginPath("clusterlab-dataset-synth") {
		t.Fatalf("client says kind %q name %q path %q", c.Kind(), c.Name(), c.Path())
	}
	ctx := context.Background()
	info, err := c.Dataset().Describe(ctx, core.Options{"count": 40, "classes": "3", "height": 2.0, "width": 3, "channels": 1})
	if err != nil {
		t.Fatal(err)
	}
	wantInfo := core.DatasetInfo{
		Description: want,
		Splits:      []core.SplitInfo{{Name: "train", Count: 40}, {Name: "test", Count: 10}},
		Classes:     []string{"class0", "class1", "class2"},
		Height:      2, Width: 3, Channels: 1,
	}
	wantInfo.Identity = `synth/v1 {"channels":1,"classes":3,"count":40,"flavour":"plain","height":2,"jitter":0.5,"shuffle":false,"width":3}`
	if !reflect.DeepEqual(info, wantInfo) {
		t.Fatalf("Describe:\n got %#v\nwant %#v", info, wantInfo)
	}
}

// readAll reads a split and checks every byte against synthdata.
func TestDatasetReadSplitsLargeBatches(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	const h, w, ch, count, classes, batch = 64, 64, 3, 600, 7, 256
	opts := core.Options{"count": count, "height": h, "width": w, "channels": ch, "classes": classes}
	var got []core.ImageBatch
	err := c.Dataset().Read(context.Background(), core.ReadRequest{Options: opts, Split: "train", BatchSize: batch},
		func(b core.ImageBatch) error { got = append(got, b); return nil })
	if err != nil {
		t.Fatal(err)
	}
	// 256 images of 12 KiB are 3 MiB: each full batch arrives in two parts.
	var counts []int
	next := 0
	for _, b := range got {
		counts = append(counts, b.Count)
		if b.Offset != next {
			t.Fatalf("batch at offset %d, want %d", b.Offset, next)
		}
		if len(b.Pixels) > maxChunkBytes {
			t.Fatalf("batch at offset %d carries %d bytes, above %d", b.Offset, len(b.Pixels), maxChunkBytes)
		}
		want := synthdata.Batch("train", b.Offset, b.Count, h, w, ch, classes)
		if !reflect.DeepEqual(b, want) {
			t.Fatalf("batch at offset %d differs from the generated images", b.Offset)
		}
		next += b.Count
	}
	if next != count {
		t.Fatalf("read %d images, want %d", next, count)
	}
	if want := []int{170, 86, 170, 86, 88}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("batch sizes %v, want %v (batches above 2 MiB split into whole images)", counts, want)
	}
}

func synthBatches(split string, count, batch, h, w, ch int) []core.ImageBatch {
	var out []core.ImageBatch
	for off := 0; off < count; off += batch {
		out = append(out, synthdata.Batch(split, off, min(batch, count-off), h, w, ch, 5))
	}
	return out
}

func TestBackboneFitAndEmbed(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindBackbone, "clusterlab-backbone-meanpix")
	ctx := context.Background()
	bb := c.Backbone()
	info, err := bb.Describe(ctx, core.Options{"repeat": 600})
	if err != nil {
		t.Fatal(err)
	}
	if !info.NeedsFit || info.Name != "meanpix" || info.Version != "0.2.0" || info.Identity != `meanpix/v1 {"repeat":600}` {
		t.Fatalf("Describe: %#v", info)
	}

	const h, w, ch, count = 40, 40, 3, 700
	dataset := core.DatasetInfo{
		Description: core.Description{Kind: core.KindDataset, Name: "synth", Identity: "x"},
		Splits:      []core.SplitInfo{{Name: "train", Count: count}},
		Height:      h, Width: w, Channels: ch,
	}
	req := core.EmbedRequest{Options: core.Options{"repeat": 600}, StateDir: t.TempDir(), Dataset: dataset, Split: "train"}

	// Batches of 500 images are split on the way in; the plugin checks
	// that the offsets stay consecutive.
	train := synthBatches("train", count, 500, h, w, ch)
	if err := bb.Fit(ctx, req, &plugintest.Batches{List: train}); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(filepath.Join(req.StateDir, "meanpix.json"))
	if err != nil {
		t.Fatalf("Fit left no state: %v", err)
	}
	var st struct {
		Center        []float64
		Images        int
		Batches       int `json:"batches"`
		MaxBatchBytes int `json:"max_batch_bytes"`
	}
	if err := json.Unmarshal(state, &st); err != nil {
		t.Fatal(err)
	}
	// 500 images of 4800 bytes are 2.3 MiB: the plugin got 436 + 64, then 200.
	if st.Batches != 3 || st.MaxBatchBytes != 436*4800 {
		t.Fatalf("the plugin received %d batches of at most %d bytes, want 3 of at most %d", st.Batches, st.MaxBatchBytes, 436*4800)
	}
	sums := make([]int64, ch)
	for _, b := range train {
		synthdata.ChannelSums(b, sums)
	}
	for c := range sums {
		if want := float64(sums[c]) / float64(count*h*w); st.Center[c] != want || st.Images != count {
			t.Fatalf("fitted state %+v, want centre[%d] = %v over %d images", st, c, want, count)
		}
	}
	if !strings.Contains(c.Stderr(), "meanpix: fitted on 700 images") {
		t.Fatalf("plugin stderr not captured: %q", c.Stderr())
	}

	// Embeddings of 256 images x 2400 floats are 2.4 MiB: split on the way
	// back. Every value must be the one synthdata computes, bit for bit.
	test := synthBatches("test", 300, 256, h, w, ch)
	var got []core.EmbeddingBatch
	req.Split = "test"
	err = bb.Embed(ctx, req, &plugintest.Batches{List: test}, func(e core.EmbeddingBatch) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dim := synthdata.Dim(ch, 600)
	var rows []float32
	next, parts := 0, 0
	for _, e := range got {
		if e.Offset != next || e.Dim != dim || len(e.Values) != e.Count*dim {
			t.Fatalf("embedding batch offset %d count %d dim %d, want offset %d dim %d", e.Offset, e.Count, e.Dim, next, dim)
		}
		if 4*len(e.Values) > maxChunkBytes {
			t.Fatalf("embedding batch of %d bytes, above %d", 4*len(e.Values), maxChunkBytes)
		}
		rows = append(rows, e.Values...)
		next += e.Count
		parts++
	}
	if next != 300 || parts <= len(test) {
		t.Fatalf("%d embeddings in %d batches, want 300 in more than %d batches", next, parts, len(test))
	}
	var want []float32
	for _, b := range test {
		want = append(want, synthdata.Embed(b, st.Center, 600)...)
	}
	for i := range want {
		if math.Float32bits(rows[i]) != math.Float32bits(want[i]) {
			t.Fatalf("embedding value %d is %v, want %v", i, rows[i], want[i])
		}
	}
}

// chanReader turns a dataset's Read into a BatchReader, as the runner does.
type chanReader struct {
	batches <-chan core.ImageBatch
	errc    <-chan error
}

func (r *chanReader) Next() (core.ImageBatch, error) {
	b, ok := <-r.batches
	if !ok {
		if err := <-r.errc; err != nil {
			return core.ImageBatch{}, err
		}
		return core.ImageBatch{}, io.EOF
	}
	return b, nil
}

func readInto(ctx context.Context, ds core.Dataset, req core.ReadRequest) *chanReader {
	batches := make(chan core.ImageBatch, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		errc <- ds.Read(ctx, req, func(b core.ImageBatch) error {
			select {
			case batches <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return &chanReader{batches: batches, errc: errc}
}

// The runner's pipeline: dataset Read streamed straight into the
// backbone's Fit and Embed, with the plugins working concurrently.
func TestDatasetIntoBackbone(t *testing.T) {
	t.Parallel()
	ds := launch(t, core.KindDataset, "clusterlab-dataset-synth")
	bb := launch(t, core.KindBackbone, "clusterlab-backbone-meanpix")
	ctx := context.Background()
	dsOpts := core.Options{"count": 1000, "height": 16, "width": 16, "channels": 3, "classes": 4}
	info, err := ds.Dataset().Describe(ctx, dsOpts)
	if err != nil {
		t.Fatal(err)
	}
	req := core.EmbedRequest{Options: core.Options{}, StateDir: t.TempDir(), Dataset: info, Split: "train"}
	if err := bb.Backbone().Fit(ctx, req, readInto(ctx, ds.Dataset(), core.ReadRequest{Options: dsOpts, Split: "train", BatchSize: 128})); err != nil {
		t.Fatal(err)
	}
	var center []float64
	sums := make([]int64, 3)
	synthdata.ChannelSums(synthdata.Batch("train", 0, 1000, 16, 16, 3, 4), sums)
	for _, s := range sums {
		center = append(center, float64(s)/float64(1000*16*16))
	}
	n := 0
	err = bb.Backbone().Embed(ctx, req, readInto(ctx, ds.Dataset(), core.ReadRequest{Options: dsOpts, Split: "train", BatchSize: 100}),
		func(e core.EmbeddingBatch) error {
			want := synthdata.Embed(synthdata.Batch("train", e.Offset, e.Count, 16, 16, 3, 4), center, 1)
			if !reflect.DeepEqual(e.Values, want) || e.Offset != n {
				t.Errorf("embeddings at offset %d (expected offset %d) differ", e.Offset, n)
			}
			n += e.Count
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Fatalf("embedded %d images, want 1000", n)
	}
}

func TestLossFit(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindLoss, "clusterlab-loss-fake")
	ctx := context.Background()
	d, err := c.Loss().Describe(ctx, core.Options{"epochs": 2})
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != core.KindLoss || d.Name != "fake" || d.Identity != `fake {"epochs":2,"steps":2}` || len(d.Options) != 2 || !d.NoNeighbours {
		t.Fatalf("Describe: %#v", d)
	}
	dir := t.TempDir()
	train := filepath.Join(dir, "train.npy")
	if err := os.WriteFile(train, make([]byte, 1234), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	req := core.FitRequest{
		Options:    core.Options{"epochs": 2, "steps": 3},
		Train:      train,
		Neighbours: filepath.Join(dir, "knn.npy"),
		Assign:     map[string]string{"train": train, "test": filepath.Join(dir, "test.npy")},
		Clusters:   10, Seed: -42, Backend: "go", OutDir: out,
		Spaces: []core.Space{
			{Name: "dinov2", Train: train, Assign: map[string]string{"train": train}},
			{Name: "clip", Train: filepath.Join(dir, "clip.npy")},
		},
	}
	var progress []core.Progress
	res, err := c.Loss().Fit(ctx, req, func(p core.Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 6 {
		t.Fatalf("%d progress reports, want 6", len(progress))
	}
	for i, p := range progress {
		want := core.Progress{Epoch: i/3 + 1, Epochs: 2, Step: i + 1, Steps: 6, Loss: 1 / float64(i+1), Message: "backend go"}
		if p != want {
			t.Fatalf("progress %d: %+v, want %+v", i, p, want)
		}
	}
	want := core.FitResult{
		Backend: "fake:go", BestHead: 1, HeadLosses: []float64{0.5, 0.25, 0.75},
		Assignments: map[string]string{"train": filepath.Join(out, "assign-train.txt"), "test": filepath.Join(out, "assign-test.txt")},
		History:     filepath.Join(out, "history.jsonl"), Seconds: 0.125,
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result\n got %#v\nwant %#v", res, want)
	}
	history, err := os.ReadFile(res.History)
	if err != nil {
		t.Fatal(err)
	}
	wantHistory := `{"train_bytes":1234,"neighbours":"` + req.Neighbours + `","clusters":10,"seed":-42,"spaces":[{"Name":"dinov2","Train":"` + train + `","Assign":{"train":"` + train + `"}},{"Name":"clip","Train":"` + filepath.Join(dir, "clip.npy") + `","Assign":null}]}` + "\n"
	if string(history) != wantHistory {
		t.Fatalf("history %q, want %q", history, wantHistory)
	}
	for split, p := range res.Assignments {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != split+" <- "+req.Assign[split]+"\n" {
			t.Fatalf("assignment file of %s: %q, %v", split, b, err)
		}
	}
}

// The plugin runs with the runner's environment, GOMLX_NO_AUTO_INSTALL=1,
// the handshake cookie and WithEnv's additions.
func TestPluginEnvironment(t *testing.T) {
	t.Parallel()
	c := launch(t, core.KindLoss, "clusterlab-loss-fake", WithEnv("CLUSTERLAB_TEST_EXTRA=yes"))
	data, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid()) + "/environ")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	env := strings.Split(string(data), "\x00")
	for _, want := range []string{"GOMLX_NO_AUTO_INSTALL=1", "CLUSTERLAB_TEST_EXTRA=yes",
		Handshake.MagicCookieKey + "=" + Handshake.MagicCookieValue, "PATH=" + os.Getenv("PATH")} {
		if !slices.Contains(env, want) {
			t.Errorf("plugin environment lacks %s", want)
		}
	}
}

// Launch must not take long: the tests launch many plugins.
func TestLaunchAndKillAreQuick(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := launch(t, core.KindLoss, "clusterlab-loss-fake")
	pid := c.Pid()
	c.Kill()
	c.Kill()
	if !processGone(pid) {
		t.Fatalf("plugin %d still runs after Kill", pid)
	}
	// go-plugin stays quiet on both sides through a normal life.
	if s := c.Stderr(); s != "" {
		t.Fatalf("plugin wrote to stderr: %q", s)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("launch and kill took %v", d)
	}
	_, err := c.Loss().Describe(context.Background(), nil)
	var pe *PluginError
	if err == nil || !strings.Contains(err.Error(), "stopped by Kill") || !asPluginError(err, &pe) {
		t.Fatalf("Describe after Kill: %v", err)
	}
}
