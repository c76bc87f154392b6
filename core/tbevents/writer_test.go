package tbevents_test

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// fakeClock returns a clock that advances one second per call from a
// fixed start, and the wall_time of its n-th reading.
func fakeClock() (now func() time.Time, nth func(n int) float64) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 250_000_000, time.UTC)
	var mu sync.Mutex
	calls := 0
	now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return start.Add(time.Duration(calls-1) * time.Second)
	}
	nth = func(n int) float64 {
		return float64(start.Add(time.Duration(n)*time.Second).UnixNano()) / 1e9
	}
	return now, nth
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// noisePNG is a w x h RGBA image of random pixels with alpha below 255,
// so that image/png writes colour type 6 (RGBA).
func noisePNG(t testing.TB, w, h int, seed uint64) []byte {
	return encodePNG(t, noiseImage(w, h, seed))
}

func noiseImage(w, h int, seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = uint8(r.IntN(255))
	}
	return img
}

func grayPNG(t testing.TB, w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	return encodePNG(t, img)
}

func opaquePNG(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 40), uint8(y * 40), 99, 255})
		}
	}
	return encodePNG(t, img)
}

var nameRE = regexp.MustCompile(`^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)$`)

// checkHistogram checks a HistogramProto against the values it was made
// of, computing the statistics and bucket membership here.
func checkHistogram(t *testing.T, v tbcheck.Value, values []float64, buckets int) {
	t.Helper()
	h := v.Histo
	if v.Kind != "histo" || h == nil {
		t.Fatalf("histogram %q is %q", v.Tag, v.Kind)
	}
	var finite []float64
	for _, x := range values {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			finite = append(finite, x)
		}
	}
	lo, hi, sum, sq := math.Inf(1), math.Inf(-1), 0.0, 0.0
	for _, x := range finite {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
		sum += x
		sq += x * x
	}
	if h.Min != lo || h.Max != hi || h.Num != float64(len(finite)) {
		t.Errorf("%q: min %v max %v num %v, want %v %v %d", v.Tag, h.Min, h.Max, h.Num, lo, hi, len(finite))
	}
	if math.Abs(h.Sum-sum) > 1e-9*math.Max(1, math.Abs(sum)) || math.Abs(h.SumSquares-sq) > 1e-9*math.Max(1, sq) {
		t.Errorf("%q: sum %v sum_squares %v, want %v %v", v.Tag, h.Sum, h.SumSquares, sum, sq)
	}
	if len(h.BucketLimit) != buckets+1 || len(h.Bucket) != buckets+1 {
		t.Fatalf("%q: %d limits and %d counts, want %d each", v.Tag, len(h.BucketLimit), len(h.Bucket), buckets+1)
	}
	if h.Bucket[0] != 0 {
		t.Errorf("%q: the bucket below the first edge counts %v", v.Tag, h.Bucket[0])
	}
	if h.BucketLimit[0] != lo || h.BucketLimit[buckets] != hi {
		t.Errorf("%q: edges run from %v to %v, want %v to %v", v.Tag, h.BucketLimit[0], h.BucketLimit[buckets], lo, hi)
	}
	for i := 1; i <= buckets; i++ {
		if !(h.BucketLimit[i] > h.BucketLimit[i-1]) && lo != hi {
			t.Fatalf("%q: edges not increasing at %d: %v", v.Tag, i, h.BucketLimit)
		}
	}
	// Bucket i (i >= 1) holds [limit(i-1), limit(i)), the last one closed.
	want := make([]float64, buckets+1)
	for _, x := range finite {
		for i := 1; i <= buckets; i++ {
			if x >= h.BucketLimit[i-1] && (x < h.BucketLimit[i] || i == buckets && x <= h.BucketLimit[i]) {
				want[i]++
				break
			}
		}
	}
	for i := range want {
		if h.Bucket[i] != want[i] {
			t.Errorf("%q: bucket %d [%v, %v] counts %v, want %v", v.Tag, i, h.BucketLimit[max(i-1, 0)], h.BucketLimit[i], h.Bucket[i], want[i])
		}
	}
	// What TensorBoard draws: every bucket with its true edges (none
	// backwards), from the first to the last non-empty one.
	first, last := 1, buckets
	for want[first] == 0 {
		first++
	}
	for want[last] == 0 {
		last--
	}
	tb := h.TensorBoardBuckets
	if len(tb) != last-first+1 {
		t.Fatalf("%q: TensorBoard would draw %d buckets, want %d: %v", v.Tag, len(tb), last-first+1, tb)
	}
	for j, b := range tb {
		i := first + j
		if b[0] != h.BucketLimit[i-1] || b[1] != h.BucketLimit[i] || b[2] != want[i] {
			t.Errorf("%q: TensorBoard would draw bucket %v, want [%v %v %v]", v.Tag, b, h.BucketLimit[i-1], h.BucketLimit[i], want[i])
		}
	}
}

func TestRoundTripWithProtocReader(t *testing.T) {
	pr := tbcheck.New(t)
	dir := filepath.Join(t.TempDir(), "run", "tb") // Create makes it
	now, wallOf := fakeClock()
	w, err := tbevents.Create(dir, tbevents.FlushInterval(time.Hour), tbevents.WallClock(now), tbevents.HistogramBuckets(7))
	if err != nil {
		t.Fatal(err)
	}

	// Call order, which is also the fake clock's reading order (the file
	// version record took reading 0).
	scalars := []struct {
		step  int64
		value float64
	}{{0, 0}, {1, 2.5}, {2, -1e-3}, {3, math.Pi}, {1 << 40, 1e30}, {-3, 7}}
	for _, s := range scalars {
		if err := w.Scalar("train/loss", s.step, s.value); err != nil {
			t.Fatal(err)
		}
	}
	text := "# Report\n\n*cluster* 3: ünïcode ✓, `code`"
	rgba, gray, opaque := noisePNG(t, 5, 3, 1), grayPNG(t, 4, 2), opaquePNG(t, 3, 3)
	weights := []float64{0.1, -0.2, 0.3, 0.3, 0.05, 1.5, -2, math.NaN(), math.Inf(1), 0}
	constant := []float64{4, 4, 4}
	steps := []error{
		w.Text("notes", 7, text),
		w.Image("samples/rgba", 8, rgba, 5, 3),
		w.Image("samples/gray", 8, gray, 4, 2),
		w.Image("samples/rgb", 9, opaque, 3, 3),
		w.Histogram("weights", 10, weights),
		w.Histogram("constant", 11, constant),
	}
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	paths, err := tbevents.Files(dir)
	if err != nil || len(paths) != 1 || paths[0] != w.Path() {
		t.Fatalf("event files %v (%v), want [%s]", paths, err, w.Path())
	}
	m := nameRE.FindStringSubmatch(filepath.Base(w.Path()))
	host, _ := os.Hostname()
	if m == nil || m[1] != fmt.Sprintf("%010d", int64(wallOf(0))) || m[2] != host || m[3] != strconv.Itoa(os.Getpid()) {
		t.Errorf("file name %s does not follow events.out.tfevents.<seconds>.<host>.<pid>.<counter> for host %s pid %d", filepath.Base(w.Path()), host, os.Getpid())
	}

	f := pr.ReadCleanFiles(t, w.Path())[0]
	if got, want := len(f.Records), 1+len(scalars)+len(steps); got != want {
		t.Fatalf("%d records, want %d: %+v", got, want, f.Records)
	}
	if f.Records[0].WallTime != wallOf(0) || f.Records[0].SourceWriter == "" {
		t.Errorf("file_version record: wall time %v, want %v; writer %q", f.Records[0].WallTime, wallOf(0), f.Records[0].SourceWriter)
	}
	for i, rec := range f.Records[1:] {
		if rec.What != "summary" || len(rec.Values) != 1 {
			t.Fatalf("record %d: %+v, want a summary of one value", i+1, rec)
		}
		if rec.WallTime != wallOf(i+1) {
			t.Errorf("record %d: wall time %v, want %v", i+1, rec.WallTime, wallOf(i+1))
		}
	}

	loss := tbcheck.Series(t, []tbcheck.File{f}, "train/loss")
	for _, s := range scalars {
		v, ok := loss[s.step]
		if !ok || v.Kind != "simple_value" || v.SimpleValue == nil {
			t.Errorf("loss at step %d: %+v, want a simple_value", s.step, v)
			continue
		}
		if want := float64(float32(s.value)); *v.SimpleValue != want {
			t.Errorf("loss at step %d = %v, want %v (float32 of %v)", s.step, *v.SimpleValue, want, s.value)
		}
	}

	notes := tbcheck.Series(t, []tbcheck.File{f}, "notes")[7]
	if notes.Kind != "tensor" || notes.Tensor == nil || notes.Tensor.Dtype != "DT_STRING" || !notes.Tensor.HasShape ||
		len(notes.Tensor.Shape) != 0 || len(notes.Tensor.StringVal) != 1 || notes.Tensor.StringVal[0] != text {
		t.Errorf("text value %+v (tensor %+v), want a rank-0 DT_STRING tensor holding %q", notes, notes.Tensor, text)
	}
	if notes.PluginName != "text" || notes.DataClass != "DATA_CLASS_TENSOR" || len(notes.PluginContent) != 0 {
		t.Errorf("text metadata: plugin %q content %x class %s, want text, empty (TextPluginData version 0), DATA_CLASS_TENSOR", notes.PluginName, notes.PluginContent, notes.DataClass)
	}

	for _, c := range []struct {
		tag              string
		step             int64
		png              []byte
		w, h, colorspace int
	}{{"samples/rgba", 8, rgba, 5, 3, 4}, {"samples/gray", 8, gray, 4, 2, 1}, {"samples/rgb", 9, opaque, 3, 3, 3}} {
		v := tbcheck.Series(t, []tbcheck.File{f}, c.tag)[c.step]
		if v.Kind != "image" || v.Image == nil {
			t.Errorf("%s: %+v, want an image", c.tag, v)
			continue
		}
		if v.Image.Width != c.w || v.Image.Height != c.h || v.Image.Colorspace != c.colorspace || !bytes.Equal(v.Image.PNG, c.png) {
			t.Errorf("%s: %dx%d colorspace %d, %d bytes; want %dx%d colorspace %d, the %d PNG bytes", c.tag,
				v.Image.Width, v.Image.Height, v.Image.Colorspace, len(v.Image.PNG), c.w, c.h, c.colorspace, len(c.png))
		}
		if _, err := png.Decode(bytes.NewReader(v.Image.PNG)); err != nil {
			t.Errorf("%s: stored PNG does not decode: %v", c.tag, err)
		}
	}

	checkHistogram(t, tbcheck.Series(t, []tbcheck.File{f}, "weights")[10], weights, 7)
	// All values equal: one bucket of zero width at the value.
	checkHistogram(t, tbcheck.Series(t, []tbcheck.File{f}, "constant")[11], constant, 1)

	// The package's own reader agrees with protoc's.
	recs, err := tbevents.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(f.Records) {
		t.Fatalf("ReadFile: %d records, protoc reader %d", len(recs), len(f.Records))
	}
	for i, r := range recs {
		p := f.Records[i]
		if r.Step != p.Step || r.WallTime != p.WallTime {
			t.Errorf("ReadFile record %d: step %d wall %v, protoc reader %d %v", i, r.Step, r.WallTime, p.Step, p.WallTime)
		}
		switch r.Kind {
		case tbevents.KindFileVersion:
			if r.Text != p.FileVersion {
				t.Errorf("ReadFile file version %q", r.Text)
			}
		case tbevents.KindScalar:
			if r.Value != *p.Values[0].SimpleValue || r.Tag != p.Values[0].Tag {
				t.Errorf("ReadFile record %d: %s=%v, protoc reader %s=%v", i, r.Tag, r.Value, p.Values[0].Tag, *p.Values[0].SimpleValue)
			}
		case tbevents.KindText:
			if r.Text != text || r.Plugin != "text" {
				t.Errorf("ReadFile text %q plugin %q", r.Text, r.Plugin)
			}
		case tbevents.KindImage:
			if !bytes.Equal(r.Image.Encoded, p.Values[0].Image.PNG) || r.Image.Colorspace != p.Values[0].Image.Colorspace {
				t.Errorf("ReadFile image %d differs", i)
			}
		case tbevents.KindHistogram:
			if fmt.Sprint(r.Histogram.Bucket) != fmt.Sprint(p.Values[0].Histo.Bucket) || r.Histogram.Min != p.Values[0].Histo.Min {
				t.Errorf("ReadFile histogram %d differs", i)
			}
		default:
			t.Errorf("ReadFile record %d has kind %v", i, r.Kind)
		}
	}
}

// flipped returns a copy of the file at src with byte at off inverted.
func flipped(t *testing.T, src string, off int64, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestFlippedByteFailsTheChecksum(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()
	w, err := tbevents.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(0); s < 5; s++ {
		if err := w.Scalar("loss", s, float64(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	clean := pr.ReadCleanFiles(t, w.Path())[0]
	if len(clean.Records) != 6 {
		t.Fatalf("%d records, want 6", len(clean.Records))
	}
	third := clean.Records[3].Offset // the third scalar, preceded by 3 good records
	out := t.TempDir()
	cases := []struct {
		name   string
		off    int64
		detail string
	}{
		{"length", third + 2, "length crc"},
		{"length checksum", third + 9, "length crc"},
		{"data", third + 12 + 3, "data crc"},
		{"data checksum", clean.Records[4].Offset - 1, "data crc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := flipped(t, w.Path(), c.off, filepath.Join(out, "events.out.tfevents."+c.name))
			f := pr.ReadFiles(t, p)[0]
			if f.End != "corrupt" || !regexp.MustCompile(c.detail).MatchString(f.Detail) {
				t.Errorf("reading ended %s (%s), want corrupt: %s", f.End, f.Detail, c.detail)
			}
			if len(f.Records) != 3 {
				t.Errorf("protoc reader kept %d records before the damage, want 3", len(f.Records))
			}
			recs, err := tbevents.ReadFile(p)
			if !errors.Is(err, tbevents.ErrCorrupt) || len(recs) != 3 {
				t.Errorf("ReadFile: %d records, error %v; want 3 and ErrCorrupt", len(recs), err)
			}
		})
	}
}

func TestTruncatedTailReadsToLastFullRecord(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()
	w, err := tbevents.Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	for s := int64(0); s < 4; s++ {
		if err := w.Scalar("loss", s, float64(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Image("sample", 4, noisePNG(t, 8, 8, 2), 8, 8); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	full, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	clean := pr.ReadCleanFiles(t, w.Path())[0]
	last := clean.Records[len(clean.Records)-1].Offset
	out := t.TempDir()
	for _, cut := range []int64{last + 5, last + 12, last + 40, int64(len(full)) - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			p := filepath.Join(out, fmt.Sprintf("events.out.tfevents.cut%d", cut))
			if err := os.WriteFile(p, full[:cut], 0o644); err != nil {
				t.Fatal(err)
			}
			f := pr.ReadFiles(t, p)[0]
			if f.End != "truncated" || len(f.Records) != len(clean.Records)-1 {
				t.Errorf("protoc reader: ended %s (%s) after %d records; want truncated after %d", f.End, f.Detail, len(f.Records), len(clean.Records)-1)
			}
			tbcheck.CheckWellFormed(t, f)
			recs, err := tbevents.ReadFile(p)
			if err != nil || len(recs) != len(clean.Records)-1 {
				t.Errorf("ReadFile: %d records, error %v; want %d and no error", len(recs), err, len(clean.Records)-1)
			}
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	pr := tbcheck.New(t)
	dir := t.TempDir()
	// A short interval, so that background flushes interleave with writes.
	w, err := tbevents.Create(dir, tbevents.FlushInterval(3*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, steps = 8, 150
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img := noisePNG(t, 6, 6, uint64(g))
			for s := int64(0); s < steps; s++ {
				tag := fmt.Sprintf("worker%d/loss", g)
				err := w.Scalar(tag, s, float64(g*1000)+float64(s))
				if err == nil && s%50 == 0 {
					err = w.Image(fmt.Sprintf("worker%d/img", g), s, img, 6, 6)
				}
				if err == nil && s%30 == 0 {
					err = w.Histogram(fmt.Sprintf("worker%d/h", g), s, []float64{float64(s), float64(g)})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files := pr.ReadCleanFiles(t, w.Path())
	for g := 0; g < goroutines; g++ {
		loss := tbcheck.Series(t, files, fmt.Sprintf("worker%d/loss", g))
		if len(loss) != steps {
			t.Errorf("worker %d: %d steps, want %d", g, len(loss), steps)
		}
		for s, v := range loss {
			if v.SimpleValue == nil || *v.SimpleValue != float64(g*1000)+float64(s) {
				t.Errorf("worker %d step %d: %+v", g, s, v)
			}
		}
		if n := len(tbcheck.Series(t, files, fmt.Sprintf("worker%d/img", g))); n != 3 {
			t.Errorf("worker %d: %d images, want 3", g, n)
		}
		if n := len(tbcheck.Series(t, files, fmt.Sprintf("worker%d/h", g))); n != 5 {
			t.Errorf("worker %d: %d histograms, want 5", g, n)
		}
	}
}

// onDisk counts the scalar records of tag that the file holds now.
func onDisk(t *testing.T, path, tag string) int {
	t.Helper()
	recs, err := tbevents.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Kind == tbevents.KindScalar && r.Tag == tag {
			n++
		}
	}
	return n
}

func TestFlushInterval(t *testing.T) {
	t.Run("buffered until Flush", func(t *testing.T) {
		w, err := tbevents.Create(t.TempDir(), tbevents.FlushInterval(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Scalar("loss", 1, 1); err != nil {
			t.Fatal(err)
		}
		if n := onDisk(t, w.Path(), "loss"); n != 0 {
			t.Fatalf("%d records on disk before the interval or a Flush, want 0 (buffered)", n)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := onDisk(t, w.Path(), "loss"); n != 1 {
			t.Fatalf("%d records on disk after Flush, want 1", n)
		}
	})
	t.Run("on disk within the interval", func(t *testing.T) {
		const interval = 150 * time.Millisecond
		w, err := tbevents.Create(t.TempDir(), tbevents.FlushInterval(interval))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for i := int64(0); i < 3; i++ {
			start := time.Now()
			if err := w.Scalar("loss", i, 1); err != nil {
				t.Fatal(err)
			}
			// No further write comes to trigger the flush: the background
			// flusher must. The limit leaves room for a loaded machine; a
			// writer that only flushes on Close never gets there.
			waitFor(t, 10*time.Second, "record on disk", func() bool { return onDisk(t, w.Path(), "loss") == int(i+1) })
			t.Logf("record %d on disk after %v (interval %v)", i, time.Since(start).Round(time.Millisecond), interval)
		}
	})
}

func TestInvalidInput(t *testing.T) {
	for _, opt := range []tbevents.Option{tbevents.FlushInterval(0), tbevents.HistogramBuckets(0), tbevents.WallClock(nil)} {
		if _, err := tbevents.Create(t.TempDir(), opt); err == nil {
			t.Error("Create accepted an invalid option")
		}
	}
	w, err := tbevents.Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"empty tag":              w.Scalar("", 1, 1),
		"not a PNG":              w.Image("img", 1, []byte("GIF89a............................"), 1, 1),
		"PNG of another size":    w.Image("img", 1, grayPNG(t, 4, 2), 2, 4),
		"no finite value":        w.Histogram("h", 1, []float64{math.NaN(), math.Inf(-1)}),
		"histogram of nothing":   w.Histogram("h", 1, nil),
		"text with an empty tag": w.Text("", 1, "x"),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Scalar("loss", 1, 1); !errors.Is(err, tbevents.ErrClosed) {
		t.Errorf("Scalar after Close: %v, want ErrClosed", err)
	}
	if err := w.Flush(); !errors.Is(err, tbevents.ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
	recs, err := tbevents.ReadFile(w.Path())
	if err != nil || len(recs) != 1 {
		t.Errorf("the file holds %d records (%v), want only the file version: rejected values must not be written", len(recs), err)
	}
}
