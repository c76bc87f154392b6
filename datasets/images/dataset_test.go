package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
)

func mustDescribe(t *testing.T, opts core.Options) core.DatasetInfo {
	t.Helper()
	info, err := describe(opts)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestIdentity: the identity covers the file list, each file's size and
// modification time (or content), the labels and the options that change
// them; not where the folder is.
func TestIdentity(t *testing.T) {
	root := t.TempDir()
	for i := range 4 {
		writePNG(t, filepath.Join(root, fmt.Sprintf("c%d", i%2), fmt.Sprintf("%d.png", i)), 6, 8, i)
	}
	old := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	touchAll := func(dir string, tm time.Time) {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				os.Chtimes(p, tm, tm)
			}
			return nil
		})
	}
	touchAll(root, old)
	opts := core.Options{"root": root}
	base := mustDescribe(t, opts).Identity
	if !strings.Contains(base, "images "+Version) || !strings.Contains(base, "train=4") || !strings.Contains(base, "size=6x8") {
		t.Errorf("identity %q lacks the version, the counts or the size", base)
	}
	differs := func(what string, o core.Options) {
		t.Helper()
		if id := mustDescribe(t, o).Identity; id == base {
			t.Errorf("%s: identity unchanged (%s)", what, id)
		}
	}
	same := func(what string, o core.Options) {
		t.Helper()
		if id := mustDescribe(t, o).Identity; id != base {
			t.Errorf("%s: identity changed:\n%s\n%s", what, base, id)
		}
	}
	// A copy elsewhere with the same times: the same data.
	cp := t.TempDir()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			r, _ := filepath.Rel(root, p)
			copyFile(t, p, filepath.Join(cp, r))
		}
		return nil
	})
	touchAll(cp, old)
	same("a copy in another folder", core.Options{"root": cp})
	same("fingerprint is not an input", core.Options{"root": root, "on_error": "fail"})

	// Touched: another modification time.
	p := filepath.Join(root, "c0", "0.png")
	os.Chtimes(p, old.Add(time.Second), old.Add(time.Second))
	differs("a file touched", opts)
	os.Chtimes(p, old, old)
	same("touched back", opts)

	// Rewritten with other pixels of the same size and time: stat cannot
	// tell, sha256 can.
	b, _ := os.ReadFile(p)
	byStat := core.Options{"root": root, "fingerprint": "sha256"}
	before := mustDescribe(t, byStat).Identity
	writePNG(t, p, 6, 8, 99)
	if b2, _ := os.ReadFile(p); len(b2) != len(b) {
		t.Skip("the rewritten PNG has another size; the stat case is covered above")
	}
	os.Chtimes(p, old, old)
	same("same size and time", opts)
	if mustDescribe(t, byStat).Identity == before {
		t.Errorf("fingerprint sha256: identity unchanged after the content changed")
	}

	// Added files and other options.
	q := filepath.Join(root, "c1", "9.png")
	writePNG(t, q, 6, 8, 9)
	os.Chtimes(q, old, old)
	differs("a file added", opts)
	os.Remove(q)
	same("the file removed", opts)
	writeFile(t, filepath.Join(root, "c1", "notes.txt"), "not an image")
	same("a file that is not an image added", opts)
	differs("limit_train", core.Options{"root": root, "limit_train": 3})
	differs("extensions", core.Options{"root": root, "extensions": ".png,.gif"})
}

// TestVariableSizes: images of several sizes give a geometry of 0x0 and
// batches of one size each, cut where the size changes.
func TestVariableSizes(t *testing.T) {
	opts := core.Options{"root": filepath.Join(layoutsDir, "sizes")}
	info := mustDescribe(t, opts)
	if info.Height != 0 || info.Width != 0 || info.Channels != 3 || !strings.Contains(info.Identity, "size=mixed") {
		t.Errorf("geometry %dx%dx%d, identity %q; want 0x0x3, size=mixed", info.Height, info.Width, info.Channels, info.Identity)
	}
	batches, err := readAll(opts, "train", 64)
	if err != nil {
		t.Fatal(err)
	}
	// Order a/0 6x8, a/2 10x7, a/4 5x5, b/1 6x8, b/3 6x8.
	var got []string
	for _, b := range batches {
		got = append(got, fmt.Sprintf("%d:%dx%d %v", b.Offset, b.Height, b.Width, b.Names))
	}
	want := []string{"0:6x8 [a/0.png]", "1:10x7 [a/2.png]", "2:5x5 [a/4.png]", "3:6x8 [b/1.png b/3.png]"}
	if !slices.Equal(got, want) {
		t.Errorf("batches %q, want %q", got, want)
	}
}

// TestBatches: batches hold at most BatchSize images and maxBatchBytes of
// pixels (one image at least), each image exactly as decoded, with labels
// and names, in order.
func TestBatches(t *testing.T) {
	opts := core.Options{"root": filepath.Join(layoutsDir, "splits")}
	batches, err := readAll(opts, "train", 3)
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	var labels []int32
	var names []string
	for _, b := range batches {
		counts = append(counts, b.Count)
		labels = append(labels, b.Labels...)
		names = append(names, b.Names...)
		for j := range b.Count {
			im, err := decodeFile(filepath.Join(layoutsDir, "splits", b.Names[j]))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.Pixels[j*6*8*3:(j+1)*6*8*3], im.Pix) {
				t.Errorf("image %s: other pixels than decoded", b.Names[j])
			}
		}
	}
	if !slices.Equal(counts, []int{3, 3, 3, 1}) || !slices.Equal(labels, []int32{0, 0, 0, 0, 0, 1, 1, 1, 1, 1}) || names[5] != "train/dog/00.png" {
		t.Errorf("counts %v, labels %v, names %q", counts, labels, names)
	}
	// Large images: maxBatchBytes cuts batches.
	root := t.TempDir()
	for i := range 5 {
		writePNG(t, filepath.Join(root, fmt.Sprintf("%d.png", i)), 700, 1000, i) // 2.1 MB of RGB each
	}
	batches, err = readAll(core.Options{"root": root}, "train", 64)
	if err != nil {
		t.Fatal(err)
	}
	counts = counts[:0]
	for _, b := range batches {
		counts = append(counts, b.Count)
	}
	if !slices.Equal(counts, []int{1, 1, 1, 1, 1}) {
		t.Errorf("batches of %v images of 2.1 MB, want one each (4 MiB at most)", counts)
	}
}

// TestLimitsAndSkip: limits take the first N images; with on_error: skip
// the first N readable ones, in Describe and in Read alike.
func TestLimitsAndSkip(t *testing.T) {
	root := t.TempDir()
	for i := range 6 {
		writePNG(t, filepath.Join(root, "train", "a", fmt.Sprintf("%d.png", i)), 6, 8, i)
	}
	writePNG(t, filepath.Join(root, "test", "a", "0.png"), 6, 8, 10)
	writeFile(t, filepath.Join(root, "train", "a", "1.png"), "not an image")
	writeFile(t, filepath.Join(root, "train", "a", "3.png"), "not an image either")
	opts := core.Options{"root": root, "on_error": "skip", "limit_train": 3}
	info := mustDescribe(t, opts)
	tr, _ := info.Split("train")
	if tr.Count != 3 || len(info.Skipped) != 2 || info.Skipped[1] != (core.SkippedImage{Split: "train", Name: "train/a/3.png", Reason: info.Skipped[1].Reason}) ||
		!strings.Contains(info.Skipped[1].Reason, "not an image") {
		t.Errorf("train %d, skipped %+v; want 3 and train/a/1.png, train/a/3.png", tr.Count, info.Skipped)
	}
	batches, err := readAll(opts, "train", 2)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range batches {
		names = append(names, b.Names...)
	}
	if !slices.Equal(names, []string{"train/a/0.png", "train/a/2.png", "train/a/4.png"}) {
		t.Errorf("read %q", names)
	}
	// Without skip, a limit that stops before the bad file never sees it.
	info = mustDescribe(t, core.Options{"root": root, "limit_train": 1})
	if tr, _ := info.Split("train"); tr.Count != 1 {
		t.Errorf("limit_train 1: %d images", tr.Count)
	}
	// Every image of a split unreadable: an error, even with skip.
	writeFile(t, filepath.Join(root, "test", "a", "0.png"), "broken")
	_, err = describe(core.Options{"root": root, "on_error": "skip"})
	wantFault(t, "no readable test image", err, "root", "split test", "none of its 1 images")
}

// TestManyImages streams a few thousand files: Describe and Read agree on
// every image, and Read keeps the order.
func TestManyImages(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3000 files")
	}
	root := t.TempDir()
	const n = 3000
	for i := range n {
		writePNG(t, filepath.Join(root, fmt.Sprintf("c%d", i%3), fmt.Sprintf("%05d.png", i)), 4+i%3, 5, i)
	}
	opts := core.Options{"root": root}
	info := mustDescribe(t, opts)
	if tr, _ := info.Split("train"); tr.Count != n || info.Height != 0 {
		t.Fatalf("%d images, height %d", tr.Count, info.Height)
	}
	next := 0
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: "train", BatchSize: 64}, func(b core.ImageBatch) error {
		if b.Offset != next {
			return fmt.Errorf("batch at %d, want %d", b.Offset, next)
		}
		for j, name := range b.Names {
			i := next + j
			want := fmt.Sprintf("c%d/%05d.png", i/(n/3), (i/(n/3))+3*(i%(n/3)))
			if name != want || b.Height != 4+(i/(n/3)) {
				return fmt.Errorf("image %d is %s (%dx%d), want %s", i, name, b.Height, b.Width, want)
			}
		}
		next += b.Count
		return nil
	})
	if err != nil || next != n {
		t.Errorf("read %d images: %v", next, err)
	}
}

func TestOrderedPool(t *testing.T) {
	ctx := context.Background()
	for _, workers := range []int{1, 3, 8} {
		var inflight, peak atomic.Int64
		var got []int
		err := ordered(ctx, 200, workers, 2*workers, func(i int) int {
			n := inflight.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Duration((i*7919)%5) * 100 * time.Microsecond)
			return i * i
		}, func(i, r int) (bool, error) {
			inflight.Add(-1)
			if r != i*i {
				return false, fmt.Errorf("result %d for %d", r, i)
			}
			got = append(got, i)
			return true, nil
		})
		if err != nil || len(got) != 200 || !slices.IsSorted(got) {
			t.Errorf("%d workers: %v, %d results in order %v", workers, err, len(got), slices.IsSorted(got))
		}
		// Results computed but not yet emitted stay within ahead (+1 being emitted).
		if p := peak.Load(); p > int64(2*workers)+1 {
			t.Errorf("%d workers: %d results in flight, want at most %d", workers, p, 2*workers+1)
		}
	}
	// Early stop and errors leave no goroutine running.
	before := runtime.NumGoroutine()
	n := 0
	err := ordered(ctx, 1000, 4, 8, func(i int) int { return i }, func(i, r int) (bool, error) { n++; return i < 10, nil })
	if err != nil || n != 11 {
		t.Errorf("stop after 11: %v, %d emitted", err, n)
	}
	boom := errors.New("boom")
	if err := ordered(ctx, 1000, 4, 8, func(i int) int { return i }, func(i, r int) (bool, error) { return true, boom }); !errors.Is(err, boom) {
		t.Errorf("emit error: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	err = ordered(cctx, 1000, 4, 8, func(i int) int {
		if i == 5 {
			cancel()
		}
		return i
	}, func(i, r int) (bool, error) { time.Sleep(time.Millisecond); return true, nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after", before, after)
	}
}
