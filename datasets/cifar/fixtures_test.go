package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/internal/testarchive"
)

// The committed fixtures (testdata/*.tar.gz) are written by
// testdata/make_fixtures.py; the formulas here mirror it.
const (
	c10PerBatch          = 6 // five train batches and the test batch
	c100Train, c100Test  = 30, 10
	c10Salt, c100Salt    = 0, 101
	testdataDir          = "testdata"
	archiveC10Binary     = "cifar-10-binary.tar.gz"
	archiveC10Python     = "cifar-10-python.tar.gz"
	archiveC100Binary    = "cifar-100-binary.tar.gz"
	archiveC100Python    = "cifar-100-python.tar.gz"
	fixtureGeneratorPath = "testdata/make_fixtures.py"
)

var cifar10Names = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// fineToCoarse is the superclass of each CIFAR-100 fine class.
var fineToCoarse = [100]int32{
	4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
	0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
	10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19,
	18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
}

// fixturePixel is channel c of pixel (y, x) of image k of a fixture
// dataset (train images first, then test images).
func fixturePixel(salt, k, c, y, x int) byte {
	return byte((salt + k*37 + c*85 + y*7 + x*3 + (x*y)%11) % 256)
}

// fixtureImages returns images first..first+n-1 in HWC order.
func fixtureImages(salt, first, n int) []byte {
	out := make([]byte, 0, n*imageBytes)
	for k := first; k < first+n; k++ {
		for y := range side {
			for x := range side {
				for c := range channels {
					out = append(out, fixturePixel(salt, k, c, y, x))
				}
			}
		}
	}
	return out
}

func c10Label(k int) int32  { return int32((k*7 + 3) % 10) }
func c100Fine(k int) int32  { return int32((k*37 + 5) % 100) }
func c20Coarse(k int) int32 { return fineToCoarse[c100Fine(k)] }

// fixtureSpec is what a dataset name must deliver from the fixtures.
type fixtureSpec struct {
	name           string
	archives       []string // binary, python
	salt           int
	trainN, testN  int
	label          func(k int) int32
	classes        int
	first, last    string // first and last class names
	extraClassName [2]any // index and name of one more class to check
}

var fixtureSpecs = []fixtureSpec{
	{name: nameCIFAR10, archives: []string{archiveC10Binary, archiveC10Python}, salt: c10Salt, trainN: 5 * c10PerBatch, testN: c10PerBatch,
		label: c10Label, classes: 10, first: "airplane", last: "truck", extraClassName: [2]any{3, "cat"}},
	{name: nameCIFAR100, archives: []string{archiveC100Binary, archiveC100Python}, salt: c100Salt, trainN: c100Train, testN: c100Test,
		label: c100Fine, classes: 100, first: "apple", last: "worm", extraClassName: [2]any{30, "dolphin"}},
	{name: nameCIFAR20, archives: []string{archiveC100Binary, archiveC100Python}, salt: c100Salt, trainN: c100Train, testN: c100Test,
		label: c20Coarse, classes: 20, first: "aquatic_mammals", last: "vehicles_2", extraClassName: [2]any{9, "large_man-made_outdoor_things"}},
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixtureRoots returns the ways root can point at one fixture archive: the
// archive itself, a directory holding it, the unpacked folder, and a
// directory holding the unpacked folder.
func fixtureRoots(t testing.TB, archive string) map[string]string {
	t.Helper()
	l := layoutOfArchive(t, archive)
	src, err := filepath.Abs(filepath.Join(testdataDir, archive))
	if err != nil {
		t.Fatal(err)
	}
	holder := t.TempDir()
	copyFile(t, src, filepath.Join(holder, archive))
	unpacked := testarchive.ExtractTarGz(t, src, t.TempDir())
	return map[string]string{
		"archive":          src,
		"dir with archive": holder,
		"folder":           filepath.Join(unpacked, l.folder),
		"dir with folder":  unpacked,
	}
}

func layoutOfArchive(t testing.TB, archive string) *layout {
	for _, l := range layouts {
		if l.archive == archive {
			return l
		}
	}
	t.Fatalf("no layout for %s", archive)
	return nil
}

// readSplit reads a whole split, checking the batch framing.
func readSplit(t testing.TB, opts core.Options, split string, batch int) (pixels []byte, labels []int32) {
	t.Helper()
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: split, BatchSize: batch}, func(b core.ImageBatch) error {
		if b.Offset != len(labels) || b.Count <= 0 || b.Count > batch || len(b.Labels) != b.Count ||
			b.Height != 32 || b.Width != 32 || b.Channels != 3 || len(b.Pixels) != b.Count*imageBytes {
			t.Fatalf("bad batch: offset %d (want %d), count %d, %d labels, %dx%dx%d, %d pixels",
				b.Offset, len(labels), b.Count, len(b.Labels), b.Height, b.Width, b.Channels, len(b.Pixels))
		}
		pixels = append(pixels, b.Pixels...)
		labels = append(labels, b.Labels...)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", split, err)
	}
	return pixels, labels
}

// TestFixtures reads every dataset name from both versions of its archive,
// packed and unpacked, through every way of pointing root at them, and
// checks that all give the same, exactly known images, labels and class
// names, and share one identity.
func TestFixtures(t *testing.T) {
	for _, spec := range fixtureSpecs {
		t.Run(spec.name, func(t *testing.T) {
			wantTrain := fixtureImages(spec.salt, 0, spec.trainN)
			wantTest := fixtureImages(spec.salt, spec.trainN, spec.testN)
			var wantTrainLabels, wantTestLabels []int32
			for k := range spec.trainN {
				wantTrainLabels = append(wantTrainLabels, spec.label(k))
			}
			for k := range spec.testN {
				wantTestLabels = append(wantTestLabels, spec.label(spec.trainN+k))
			}
			var identity string
			var classes []string
			for _, archive := range spec.archives {
				format := layoutOfArchive(t, archive).format()
				for how, root := range fixtureRoots(t, archive) {
					for _, fopt := range []string{formatAuto, format} {
						opts := core.Options{"name": spec.name, "root": root, "format": fopt}
						info, err := Dataset{}.Describe(context.Background(), opts)
						if err != nil {
							t.Fatalf("%s via %s, format=%s: %v", archive, how, fopt, err)
						}
						if tr, _ := info.Split(core.SplitTrain); tr.Count != spec.trainN {
							t.Errorf("%s via %s: train count %d, want %d", archive, how, tr.Count, spec.trainN)
						}
						if te, _ := info.Split(core.SplitTest); te.Count != spec.testN {
							t.Errorf("%s via %s: test count %d, want %d", archive, how, te.Count, spec.testN)
						}
						if info.Height != 32 || info.Width != 32 || info.Channels != 3 {
							t.Errorf("geometry %dx%dx%d", info.Height, info.Width, info.Channels)
						}
						if classes == nil {
							classes = info.Classes
							identity = info.Identity
						}
						if !slices.Equal(info.Classes, classes) {
							t.Errorf("%s via %s: classes differ from the other versions:\n%q\n%q", archive, how, info.Classes, classes)
						}
						if info.Identity != identity {
							t.Errorf("%s via %s: identity %q differs from %q", archive, how, info.Identity, identity)
						}
						if fopt != formatAuto {
							continue // the data was read with format=auto already
						}
						px, labels := readSplit(t, opts, core.SplitTrain, 7) // 7 straddles the 6-image batch files
						if !bytes.Equal(px, wantTrain) {
							t.Errorf("%s via %s: train pixels differ from the generator's formula", archive, how)
						}
						if !slices.Equal(labels, wantTrainLabels) {
							t.Errorf("%s via %s: train labels %v, want %v", archive, how, labels, wantTrainLabels)
						}
						px, labels = readSplit(t, opts, core.SplitTest, 4)
						if !bytes.Equal(px, wantTest) {
							t.Errorf("%s via %s: test pixels differ from the generator's formula", archive, how)
						}
						if !slices.Equal(labels, wantTestLabels) {
							t.Errorf("%s via %s: test labels %v, want %v", archive, how, labels, wantTestLabels)
						}
					}
				}
			}
			if len(classes) != spec.classes || classes[0] != spec.first || classes[len(classes)-1] != spec.last ||
				classes[spec.extraClassName[0].(int)] != spec.extraClassName[1] {
				t.Errorf("classes %q: want %d names from %q to %q", classes, spec.classes, spec.first, spec.last)
			}
			if spec.name == nameCIFAR10 && !slices.Equal(classes, cifar10Names) {
				t.Errorf("CIFAR-10 classes %q", classes)
			}
			if !strings.HasPrefix(identity, "cifar "+Version+" name="+spec.name+" content=sha256:") ||
				!strings.HasSuffix(identity, " train="+strconv.Itoa(spec.trainN)+" test="+strconv.Itoa(spec.testN)) {
				t.Errorf("identity %q", identity)
			}
		})
	}
}

// TestKnownPixels checks a few pixels by their literal values (computed by
// the generator's formula in Python), so that a mistake shared by the
// formula in Go and the decoder cannot hide: the file's planes become HWC.
func TestKnownPixels(t *testing.T) {
	hwc := func(y, x, c int) int { return (y*side+x)*channels + c }
	cases := []struct {
		archive, name, split string
		image, y, x          int
		rgb                  [3]byte
		label                int32
	}{
		{archiveC10Binary, nameCIFAR10, core.SplitTrain, 0, 0, 0, [3]byte{0, 85, 170}, 3},
		{archiveC10Python, nameCIFAR10, core.SplitTrain, 1, 2, 5, [3]byte{76, 161, 246}, 0},
		{archiveC10Python, nameCIFAR10, core.SplitTest, 0, 31, 31, [3]byte{144, 229, 58}, 3},
		{archiveC100Binary, nameCIFAR100, core.SplitTrain, 29, 0, 1, [3]byte{153, 238, 67}, 78},
		{archiveC100Python, nameCIFAR20, core.SplitTest, 5, 17, 9, [3]byte{16, 101, 186}, fineToCoarse[c100Fine(35)]},
		{archiveC100Binary, nameCIFAR20, core.SplitTrain, 1, 0, 0, [3]byte{138, 223, 52}, fineToCoarse[42]},
	}
	for _, c := range cases {
		opts := core.Options{"name": c.name, "root": filepath.Join(testdataDir, c.archive)}
		px, labels := readSplit(t, opts, c.split, 64)
		img := px[c.image*imageBytes:]
		got := [3]byte{img[hwc(c.y, c.x, 0)], img[hwc(c.y, c.x, 1)], img[hwc(c.y, c.x, 2)]}
		if got != c.rgb {
			t.Errorf("%s %s image %d pixel (%d,%d): RGB %v, want %v", c.archive, c.split, c.image, c.y, c.x, got, c.rgb)
		}
		if labels[c.image] != c.label {
			t.Errorf("%s %s image %d: label %d, want %d", c.archive, c.split, c.image, labels[c.image], c.label)
		}
	}
}

// TestCIFAR20IsCoarseCIFAR100 checks that cifar20 delivers the images of
// cifar100 with the coarse labels of the same records, and its own
// identity.
func TestCIFAR20IsCoarseCIFAR100(t *testing.T) {
	for _, archive := range []string{archiveC100Binary, archiveC100Python} {
		root := filepath.Join(testdataDir, archive)
		fine := core.Options{"name": nameCIFAR100, "root": root}
		coarse := core.Options{"name": nameCIFAR20, "root": root}
		pxF, labF := readSplit(t, fine, core.SplitTrain, 9)
		pxC, labC := readSplit(t, coarse, core.SplitTrain, 9)
		if !bytes.Equal(pxF, pxC) {
			t.Errorf("%s: cifar20 images differ from cifar100's", archive)
		}
		for i := range labF {
			if labC[i] != fineToCoarse[labF[i]] {
				t.Fatalf("%s: image %d has fine label %d and coarse label %d, want %d", archive, i, labF[i], labC[i], fineToCoarse[labF[i]])
			}
		}
		iF, err := Dataset{}.Describe(context.Background(), fine)
		if err != nil {
			t.Fatal(err)
		}
		iC, err := Dataset{}.Describe(context.Background(), coarse)
		if err != nil {
			t.Fatal(err)
		}
		if iF.Identity == iC.Identity || len(iF.Classes) != 100 || len(iC.Classes) != 20 {
			t.Errorf("%s: identities %q and %q, %d and %d classes", archive, iF.Identity, iC.Identity, len(iF.Classes), len(iC.Classes))
		}
	}
}

// TestLimits checks limit_train/limit_test: a prefix of each split, and a
// different identity.
func TestLimits(t *testing.T) {
	root := filepath.Join(testdataDir, archiveC10Binary)
	full, err := Dataset{}.Describe(context.Background(), core.Options{"root": root})
	if err != nil {
		t.Fatal(err)
	}
	opts := core.Options{"root": root, "limit_train": 8, "limit_test": 100}
	info, err := Dataset{}.Describe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := info.Split(core.SplitTrain); tr.Count != 8 {
		t.Errorf("limit_train=8 gave %d train images", tr.Count)
	}
	if te, _ := info.Split(core.SplitTest); te.Count != c10PerBatch {
		t.Errorf("limit_test above the split size gave %d test images, want all %d", te.Count, c10PerBatch)
	}
	if info.Identity == full.Identity || !strings.HasSuffix(info.Identity, "train=8 test=6") {
		t.Errorf("limited identity %q (full %q)", info.Identity, full.Identity)
	}
	px, labels := readSplit(t, opts, core.SplitTrain, 5)
	if len(labels) != 8 || !bytes.Equal(px, fixtureImages(c10Salt, 0, 8)) {
		t.Errorf("limited read gave %d images", len(labels))
	}
}

// TestFixturesMatchGenerator regenerates the fixtures with the committed
// script and checks that the committed archives hold the same members, so
// that the script stays the true source of the files.
func TestFixturesMatchGenerator(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import numpy").Run(); err != nil {
		t.Skipf("SKIPPED: %s with NumPy is not available (%v); install python3-numpy to check the fixtures against their generator", py, err)
	}
	out := t.TempDir()
	cmd := exec.Command(py, fixtureGeneratorPath, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", fixtureGeneratorPath, err, b)
	}
	for _, l := range layouts {
		committed := tarMembers(t, filepath.Join(testdataDir, l.archive))
		fresh := tarMembers(t, filepath.Join(out, l.archive))
		if len(committed) != len(fresh) {
			t.Errorf("%s: %d members committed, the generator writes %d", l.archive, len(committed), len(fresh))
		}
		for name, data := range fresh {
			if !bytes.Equal(committed[name], data) {
				t.Errorf("%s: member %s differs from the generator's; rerun %s", l.archive, name, fixtureGeneratorPath)
			}
		}
	}
	entries, err := os.ReadDir(filepath.Join(out, "pickles"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fresh, _ := os.ReadFile(filepath.Join(out, "pickles", e.Name()))
		committed, err := os.ReadFile(filepath.Join(testdataDir, "pickles", e.Name()))
		if err != nil || !bytes.Equal(fresh, committed) {
			t.Errorf("pickles/%s differs from the generator's (%v); rerun %s", e.Name(), err, fixtureGeneratorPath)
		}
	}
}

func tarMembers(t *testing.T, archive string) map[string][]byte {
	t.Helper()
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = data
	}
}

// TestRealCIFAR reads full CIFAR data a user brings: set
// CLUSTERLAB_TEST_CIFAR10 and/or CLUSTERLAB_TEST_CIFAR100 to a root (an
// archive as distributed, its folder, or a directory holding either).
func TestRealCIFAR(t *testing.T) {
	ran := false
	for _, c := range []struct {
		env   string
		names []string
	}{
		{"CLUSTERLAB_TEST_CIFAR10", []string{nameCIFAR10}},
		{"CLUSTERLAB_TEST_CIFAR100", []string{nameCIFAR100, nameCIFAR20}},
	} {
		root := os.Getenv(c.env)
		if root == "" {
			continue
		}
		ran = true
		for _, name := range c.names {
			start := time.Now()
			opts := core.Options{"name": name, "root": root}
			info, err := Dataset{}.Describe(context.Background(), opts)
			if err != nil {
				t.Fatalf("%s from %s: %v", name, root, err)
			}
			t.Logf("%s: describe (decode + sha256) took %v; identity %s", name, time.Since(start), info.Identity)
			if tr, _ := info.Split(core.SplitTrain); tr.Count != 50000 {
				t.Errorf("%s: train count %d, want 50000", name, tr.Count)
			}
			if te, _ := info.Split(core.SplitTest); te.Count != 10000 {
				t.Errorf("%s: test count %d, want 10000", name, te.Count)
			}
			want := map[string]int{nameCIFAR10: 10, nameCIFAR100: 100, nameCIFAR20: 20}[name]
			if len(info.Classes) != want {
				t.Errorf("%s: %d classes, want %d", name, len(info.Classes), want)
			}
			start = time.Now()
			for _, split := range []string{core.SplitTrain, core.SplitTest} {
				px, labels := readSplit(t, opts, split, 1000)
				hist := make([]int, want)
				for _, l := range labels {
					hist[l]++
				}
				for k, n := range hist {
					if n < len(labels)/want/2 {
						t.Errorf("%s %s: class %d (%s) has only %d images", name, split, k, info.Classes[k], n)
					}
				}
				var sum int
				for _, p := range px {
					sum += int(p)
				}
				if mean := float64(sum) / float64(len(px)); mean < 60 || mean > 190 {
					t.Errorf("%s %s: mean pixel %.1f is implausible", name, split, mean)
				}
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			t.Logf("%s: reading both splits took %v; heap obtained from the OS so far %d MiB", name, time.Since(start), ms.HeapSys>>20)
		}
	}
	if !ran {
		t.Skip("SKIPPED: set CLUSTERLAB_TEST_CIFAR10 and/or CLUSTERLAB_TEST_CIFAR100 to the CIFAR archive or folder to test on the real data")
	}
}
