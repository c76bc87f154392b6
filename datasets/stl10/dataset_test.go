package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// layouts writes the small fixture in every form root may take and
// returns root for each: the unpacked folder, the archive, and
// torchvision's root holding the archive (and, in "torchvision root", the
// folder too, which is preferred).
func layouts(t *testing.T, ms []member) map[string]string {
	t.Helper()
	dir := t.TempDir()
	tv := filepath.Join(dir, "tv")
	writeFolder(t, filepath.Join(tv, folderName), ms)
	writeArchive(t, tv, ms)
	return map[string]string{
		"folder":           writeFolder(t, filepath.Join(dir, "unpacked", folderName), ms),
		"archive":          writeArchive(t, filepath.Join(dir, "packed"), ms),
		"dir with archive": filepath.Dir(writeArchive(t, filepath.Join(dir, "root"), ms)),
		"torchvision root": tv,
	}
}

// readAll reads a split and returns its pixels and labels.
func readAll(t *testing.T, opts core.Options, split string, batch int) ([]byte, []int) {
	t.Helper()
	var px []byte
	var labels []int
	next := 0
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: split, BatchSize: batch}, func(b core.ImageBatch) error {
		if b.Offset != next || b.Count > batch || len(b.Pixels) != b.Count*imageBytes || b.Height != side || b.Width != side || b.Channels != channels {
			t.Fatalf("split %s: batch at %d of %d images, %d bytes, %dx%dx%d (want offset %d)", split, b.Offset, b.Count, len(b.Pixels), b.Height, b.Width, b.Channels, next)
		}
		next += b.Count
		px = append(px, b.Pixels...)
		for _, l := range b.Labels {
			labels = append(labels, int(l))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", split, err)
	}
	return px, labels
}

// TestTorchvisionPixels: every split of every layout, with and without a
// fold, is pixel for pixel what torchvision's STL10 gives (reimplemented
// operation by operation on NumPy's view semantics), and upright: the
// images the fixture drew.
func TestTorchvisionPixels(t *testing.T) {
	f := smallFixture()
	ms := f.members()
	for name, root := range layouts(t, ms) {
		for _, fold := range []int{noFold, 0, 3, 9} {
			t.Run(fmt.Sprintf("%s fold %d", name, fold), func(t *testing.T) {
				opts := core.Options{"root": root, "fold": fold, "unlabeled": true}
				info, err := Dataset{}.Describe(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(info.Classes, officialNames) || info.Height != 96 || info.Width != 96 || info.Channels != 3 {
					t.Errorf("classes %v, geometry %dx%dx%d", info.Classes, info.Height, info.Width, info.Channels)
				}
				for _, sp := range []struct {
					name  string
					x, y  string
					salt  int
					fold  int
					count int
				}{
					{core.SplitTrain, fileTrainX, fileTrainY, saltTrain, fold, f.train},
					{core.SplitTest, fileTestX, fileTestY, saltTest, noFold, f.test},
					{splitUnlab, fileUnlabeledX, "", saltUnlabeled, noFold, f.unlabeled},
				} {
					var y []byte
					if sp.y != "" {
						y = memberData(ms, sp.y)
					}
					wantPx, wantLabels := torchvisionSTL10(memberData(ms, sp.x), y, memberData(ms, fileFolds), sp.fold)
					px, labels := readAll(t, opts, sp.name, 7)
					if s, _ := info.Split(sp.name); s.Count != len(wantLabels) {
						t.Errorf("%s: Describe says %d images, torchvision has %d", sp.name, s.Count, len(wantLabels))
					}
					if !bytes.Equal(px, wantPx) {
						t.Errorf("%s: pixels differ from torchvision's (%d vs %d bytes)", sp.name, len(px), len(wantPx))
					}
					if !slices.Equal(labels, wantLabels) {
						t.Errorf("%s: labels %v, torchvision's %v", sp.name, labels, wantLabels)
					}
					// Upright: the images as drawn, in the fold's order.
					upright := uprightImages(sp.salt, sp.count)
					order := make([]int, sp.count)
					for i := range order {
						order[i] = i
					}
					if sp.fold >= 0 {
						order = f.folds[sp.fold]
					}
					for i, k := range order {
						if !bytes.Equal(px[i*imageBytes:(i+1)*imageBytes], upright[k*imageBytes:(k+1)*imageBytes]) {
							t.Errorf("%s: image %d (stored image %d) is not the upright image drawn", sp.name, i, k)
							break
						}
					}
				}
			})
		}
	}
}

// TestToHWC pins the layout on one pixel: byte x*96+y of a stored channel
// plane is row y, column x.
func TestToHWC(t *testing.T) {
	src := make([]byte, imageBytes)
	src[1*planeBytes+5*side+2] = 200 // green plane, column 5, row 2
	dst := make([]byte, imageBytes)
	toHWC(dst, src)
	if got := dst[(2*side+5)*channels+1]; got != 200 {
		t.Errorf("row 2, column 5, green: %d, want 200", got)
	}
}

// TestLimits: limits take the first images of a split (of a fold, in its
// order), and Describe counts them.
func TestLimits(t *testing.T) {
	f := smallFixture()
	ms := f.members()
	root := writeFolder(t, filepath.Join(t.TempDir(), folderName), ms)
	opts := core.Options{"root": root, "fold": 2, "unlabeled": true, "limit_train": 3, "limit_test": 5, "limit_unlabeled": 4}
	info, err := Dataset{}.Describe(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range info.Splits {
		counts[s.Name] = s.Count
	}
	if want := map[string]int{"train": 3, "test": 5, "unlabeled": 4}; fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	px, labels := readAll(t, opts, core.SplitTrain, 2)
	full, fullLabels := torchvisionSTL10(memberData(ms, fileTrainX), memberData(ms, fileTrainY), memberData(ms, fileFolds), 2)
	if !bytes.Equal(px, full[:3*imageBytes]) || !slices.Equal(labels, fullLabels[:3]) {
		t.Errorf("limited fold: not the fold's first 3 images")
	}
	px, _ = readAll(t, opts, splitUnlab, 3)
	if !bytes.Equal(px, uprightImages(saltUnlabeled, 4)) {
		t.Errorf("limited unlabeled split: not the first 4 images")
	}
	// Default options: train and test only.
	info, err = Dataset{}.Describe(context.Background(), core.Options{"root": root})
	if err != nil || len(info.Splits) != 2 || info.Splits[0].Count != 20 || info.Splits[1].Count != 12 {
		t.Errorf("default splits %+v, %v", info.Splits, err)
	}
}

// TestIdentity: the identity is the content's, shared by the archive and
// the folder, and changes with everything delivered and nothing else.
func TestIdentity(t *testing.T) {
	f := smallFixture()
	ms := f.members()
	roots := layouts(t, ms)
	id := func(t *testing.T, opts core.Options) string {
		t.Helper()
		info, err := Dataset{}.Describe(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		return info.Identity
	}
	base := id(t, core.Options{"root": roots["folder"]})
	for name, root := range roots {
		if got := id(t, core.Options{"root": root}); got != base {
			t.Errorf("%s: identity %q, folder's %q", name, got, base)
		}
	}
	if !strings.HasPrefix(base, "stl10 "+Version+" content=sha256:") || !strings.HasSuffix(base, " fold=all train=20 test=12") {
		t.Errorf("identity %q", base)
	}
	unl := id(t, core.Options{"root": roots["folder"], "unlabeled": true})
	seen := map[string]string{"base": base, "unlabeled": unl}
	for name, opts := range map[string]core.Options{
		"fold 0":     {"fold": 0},
		"fold 1":     {"fold": 1},
		"limit":      {"limit_test": 3},
		"unl. limit": {"unlabeled": true, "limit_unlabeled": 3},
	} {
		opts["root"] = roots["archive"]
		got := id(t, opts)
		for other, o := range seen {
			if o == got {
				t.Errorf("%s and %s share identity %q", name, other, got)
			}
		}
		seen[name] = got
	}

	// One pixel changed in the middle of a file delivered changes the
	// identity; in a file not delivered it does not.
	dir := t.TempDir()
	changed := func(name string) string {
		data := append([]byte(nil), memberData(ms, name)...)
		data[len(data)/2] ^= 1
		return writeFolder(t, filepath.Join(dir, name, folderName), replace(ms, name, data))
	}
	if got := id(t, core.Options{"root": changed(fileTrainX)}); got == base {
		t.Errorf("a train pixel changed, identity unchanged")
	}
	if got := id(t, core.Options{"root": changed(fileUnlabeledX)}); got != base {
		t.Errorf("an unlabeled pixel changed with unlabeled=false: identity changed")
	}
	if got := id(t, core.Options{"root": changed(fileUnlabeledX), "unlabeled": true}); got == unl {
		t.Errorf("an unlabeled pixel changed with unlabeled=true: identity unchanged")
	}
	// A file rewritten in place (same size, later mtime) is hashed again.
	root := writeFolder(t, filepath.Join(dir, "rewritten", folderName), ms)
	before := id(t, core.Options{"root": root, "unlabeled": true})
	p := filepath.Join(root, fileUnlabeledX)
	data := append([]byte(nil), memberData(ms, fileUnlabeledX)...)
	data[100] ^= 0xff
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	if after := id(t, core.Options{"root": root, "unlabeled": true}); after == before {
		t.Errorf("rewritten unlabeled_X.bin: identity unchanged")
	}
}

func describeErr(opts core.Options) error {
	_, err := Dataset{}.Describe(context.Background(), opts)
	return err
}

// wantRootFault checks an invalid-input error that names the root option
// and holds every one of parts.
func wantRootFault(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	plugintest.WantInvalid(t, what, err, parts...)
	var oe *core.OptionError
	if err != nil && (!errors.As(err, &oe) || oe.Key != "root") {
		t.Errorf("%s: error does not name option root: %v", what, err)
	}
}

func TestFolderErrors(t *testing.T) {
	f := smallFixture()
	good := f.members()
	folder := func(t *testing.T, ms []member) string {
		return writeFolder(t, filepath.Join(t.TempDir(), folderName), ms)
	}
	trainX := memberData(good, fileTrainX)
	t.Run("truncated images", func(t *testing.T) {
		dir := folder(t, replace(good, fileTrainX, trainX[:len(trainX)-1000]))
		wantRootFault(t, "cut", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, fileTrainX), "at byte offset 525312", "not a whole number of 27648-byte images", "the last image is cut after 26648 bytes")
	})
	t.Run("fewer images than labels", func(t *testing.T) {
		dir := folder(t, replace(good, fileTrainX, trainX[:18*imageBytes]))
		wantRootFault(t, "18 images", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, fileTrainY), "at byte offset 18", "holds 20 labels, but "+filepath.Join(dir, fileTrainX)+" holds 18 images")
	})
	t.Run("fewer labels than images", func(t *testing.T) {
		dir := folder(t, replace(good, fileTestY, memberData(good, fileTestY)[:11]))
		wantRootFault(t, "11 labels", describeErr(core.Options{"root": dir}),
			filepath.Join(dir, fileTestX), "at byte offset 304128", "holds 12 images, but "+filepath.Join(dir, fileTestY)+" holds only 11 labels")
	})
	for _, bad := range []byte{0, 11} {
		t.Run(fmt.Sprintf("label %d", bad), func(t *testing.T) {
			y := append([]byte(nil), memberData(good, fileTestY)...)
			y[7] = bad
			dir := folder(t, replace(good, fileTestY, y))
			wantRootFault(t, "label", describeErr(core.Options{"root": dir}),
				filepath.Join(dir, fileTestY), "at byte offset 7", fmt.Sprintf("label %d of image 7 is not in 1..10", bad), "STL-10 labels count from 1", fileNames)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		dir := folder(t, replace(good, fileTestX, nil))
		wantRootFault(t, "missing", describeErr(core.Options{"root": dir}), "folder "+dir+" has no test_X.bin (the test images)", archiveName)
	})
	t.Run("empty image file", func(t *testing.T) {
		dir := folder(t, replace(good, fileTestX, []byte{}))
		wantRootFault(t, "empty", describeErr(core.Options{"root": dir}), filepath.Join(dir, fileTestX), "at byte offset 0", "the file is empty")
	})
	t.Run("missing class names", func(t *testing.T) {
		dir := folder(t, replace(good, fileNames, nil))
		wantRootFault(t, "names", describeErr(core.Options{"root": dir}), "has no class_names.txt (the class names)")
	})
	t.Run("blank class name", func(t *testing.T) {
		dir := folder(t, replace(good, fileNames, []byte("airplane\nbird\n\ncat\n")))
		wantRootFault(t, "blank", describeErr(core.Options{"root": dir}), filepath.Join(dir, fileNames), "at byte offset 14", "line 3 is blank")
	})
	t.Run("unlabeled images only when offered", func(t *testing.T) {
		dir := folder(t, replace(good, fileUnlabeledX, nil))
		if err := describeErr(core.Options{"root": dir}); err != nil {
			t.Errorf("no unlabeled_X.bin, unlabeled=false: %v", err)
		}
		wantRootFault(t, "unlabeled", describeErr(core.Options{"root": dir, "unlabeled": true}),
			"has no unlabeled_X.bin (the unlabeled images, which unlabeled=true needs)")
		cut := memberData(good, fileUnlabeledX)
		dir = folder(t, replace(good, fileUnlabeledX, cut[:len(cut)-5]))
		wantRootFault(t, "cut unlabeled", describeErr(core.Options{"root": dir, "unlabeled": true}),
			filepath.Join(dir, fileUnlabeledX), "at byte offset 801792", "the last image is cut after 27643 bytes")
	})
	t.Run("file shrinks after Describe", func(t *testing.T) {
		dir := folder(t, good)
		opts := core.Options{"root": dir, "unlabeled": true}
		if err := describeErr(opts); err != nil {
			t.Fatal(err)
		}
		// Read indexes the folder again, so a shorter file is caught
		// before any image is sent.
		p := filepath.Join(dir, fileUnlabeledX)
		if err := os.Truncate(p, 10*imageBytes+100); err != nil {
			t.Fatal(err)
		}
		err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: splitUnlab, BatchSize: 4}, func(core.ImageBatch) error { return nil })
		plugintest.WantInvalid(t, "shrunk", err, p, "at byte offset 276480", "the last image is cut after 100 bytes")
	})
}

func TestFoldErrors(t *testing.T) {
	good := smallFixture().members()
	folder := func(t *testing.T, folds string) string {
		ms := good
		if folds != "" {
			ms = replace(good, fileFolds, []byte(folds))
		}
		return writeFolder(t, filepath.Join(t.TempDir(), folderName), ms)
	}
	t.Run("missing file only when a fold is asked for", func(t *testing.T) {
		dir := writeFolder(t, filepath.Join(t.TempDir(), folderName), replace(good, fileFolds, nil))
		if err := describeErr(core.Options{"root": dir}); err != nil {
			t.Errorf("no fold_indices.txt, fold=-1: %v", err)
		}
		wantRootFault(t, "no folds", describeErr(core.Options{"root": dir, "fold": 4}), "has no fold_indices.txt (the fold indices, which fold=4 needs)")
	})
	t.Run("too few lines", func(t *testing.T) {
		dir := folder(t, "1 2\r\n3 4\r\n")
		wantRootFault(t, "2 lines", describeErr(core.Options{"root": dir, "fold": 2}), filepath.Join(dir, fileFolds), "has 2 lines, but fold=2 needs line 3")
		if err := describeErr(core.Options{"root": dir, "fold": 1}); err != nil {
			t.Errorf("CRLF lines: %v", err)
		}
	})
	t.Run("not a number", func(t *testing.T) {
		dir := folder(t, "1 2\n3 x4 5\n")
		wantRootFault(t, "x4", describeErr(core.Options{"root": dir, "fold": 1}), filepath.Join(dir, fileFolds), "at byte offset 6", `line 2 (fold 1): "x4" is not an image index`)
	})
	t.Run("index out of range", func(t *testing.T) {
		dir := folder(t, "1 2\n3 20 5\n")
		wantRootFault(t, "20", describeErr(core.Options{"root": dir, "fold": 1}), filepath.Join(dir, fileFolds), "at byte offset 6", "index 20 is not below the 20 train images of")
		dir = folder(t, "1 -1\n")
		wantRootFault(t, "-1", describeErr(core.Options{"root": dir, "fold": 0}), "at byte offset 2", "index -1 is not below")
	})
	t.Run("empty line", func(t *testing.T) {
		dir := folder(t, "1 2\n  \n")
		wantRootFault(t, "empty", describeErr(core.Options{"root": dir, "fold": 1}), "at byte offset 4", "line 2 (fold 1) lists no train images")
	})
}

func TestArchiveErrors(t *testing.T) {
	good := smallFixture().members()
	dir := t.TempDir()
	n := 0
	write := func(t *testing.T, data []byte) string {
		n++
		p := filepath.Join(dir, fmt.Sprint(n), archiveName)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gz := tarGz(t, good)
	t.Run("truncated in the unlabeled images", func(t *testing.T) {
		// The unlabeled images come after test and train: cut at 85%
		// of the compressed archive, the cut is inside them.
		p := write(t, gz[:len(gz)*85/100])
		err := describeErr(core.Options{"root": p})
		wantRootFault(t, "truncated", err, p+", member stl10_binary/unlabeled_X.bin", "at byte offset (uncompressed)", "the archive is truncated", "download it again")
	})
	t.Run("truncated at the very end", func(t *testing.T) {
		p := write(t, gz[:len(gz)-4]) // the gzip trailer's size field
		wantRootFault(t, "cut trailer", describeErr(core.Options{"root": p}), p, "download it again")
	})
	t.Run("corrupt", func(t *testing.T) {
		data := append([]byte(nil), gz...)
		for i := len(data) / 2; i < len(data)/2+16; i++ {
			data[i] ^= 0x5a
		}
		p := write(t, data)
		wantRootFault(t, "corrupt", describeErr(core.Options{"root": p}), p, "the archive is corrupt", "download it again")
	})
	t.Run("missing member", func(t *testing.T) {
		p := write(t, tarGz(t, replace(good, fileTrainY, nil)))
		wantRootFault(t, "missing", describeErr(core.Options{"root": p}), "archive "+p+" has no member stl10_binary/train_y.bin (the train labels)")
	})
	t.Run("member count mismatch", func(t *testing.T) {
		y := memberData(good, fileTrainY)
		p := write(t, tarGz(t, replace(good, fileTrainY, append(append([]byte(nil), y...), 3))))
		wantRootFault(t, "21 labels", describeErr(core.Options{"root": p}),
			p+", member stl10_binary/train_y.bin", "at byte offset (uncompressed) 20", "holds 21 labels, but stl10_binary/train_X.bin holds 20 images")
	})
	t.Run("member label out of range", func(t *testing.T) {
		y := append([]byte(nil), memberData(good, fileTrainY)...)
		y[19] = 12
		p := write(t, tarGz(t, replace(good, fileTrainY, y)))
		wantRootFault(t, "label 12", describeErr(core.Options{"root": p}),
			p+", member stl10_binary/train_y.bin", "at byte offset (uncompressed) 19", "label 12 of image 19 is not in 1..10", "stl10_binary/class_names.txt names 10 classes")
	})
	t.Run("member cut", func(t *testing.T) {
		x := memberData(good, fileTestX)
		p := write(t, tarGz(t, replace(good, fileTestX, x[:5*imageBytes+7])))
		wantRootFault(t, "cut", describeErr(core.Options{"root": p}),
			p+", member stl10_binary/test_X.bin", "at byte offset (uncompressed) 138240", "the last image is cut after 7 bytes")
	})
	t.Run("duplicate member", func(t *testing.T) {
		p := write(t, tarGz(t, append(append([]member(nil), good...), good[1])))
		wantRootFault(t, "dup", describeErr(core.Options{"root": p}), "holds test_y.bin twice")
	})
	t.Run("not STL-10", func(t *testing.T) {
		// The right files, in another folder than the distribution's.
		p := write(t, tarGzIn(t, "stl10", good))
		wantRootFault(t, "other", describeErr(core.Options{"root": p}), "archive "+p+" holds no STL-10 data", "stl10_binary/")
	})
	t.Run("not a tar", func(t *testing.T) {
		p := write(t, bytes.Repeat([]byte("junk"), 300))
		wantRootFault(t, "junk", describeErr(core.Options{"root": p}), p, "not a tar archive")
	})
	t.Run("plain tar", func(t *testing.T) {
		raw := gunzip(t, gz)
		p := write(t, raw)
		if err := describeErr(core.Options{"root": p}); err != nil {
			t.Errorf("uncompressed tar: %v", err)
		}
	})
	t.Run("archive changed before a read", func(t *testing.T) {
		p := write(t, gz)
		opts := core.Options{"root": p}
		if err := describeErr(opts); err != nil {
			t.Fatal(err)
		}
		cut := gz[:len(gz)/10] // inside test_X.bin, the first member
		if err := os.WriteFile(p, cut, 0o644); err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour)
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
		err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 4}, func(core.ImageBatch) error { return nil })
		plugintest.WantInvalid(t, "changed", err, p+", member stl10_binary/test_X.bin", "the archive is truncated")
	})
}

func TestOptionErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	wantRootFault(t, "missing root", describeErr(core.Options{"root": missing}), missing+" does not exist", archiveName)
	var oe *core.OptionError
	if err := describeErr(core.Options{}); !errors.As(err, &oe) || oe.Key != "root" {
		t.Errorf("unset root: %v", err)
	}
	for _, fold := range []int{-2, 10} {
		if err := describeErr(core.Options{"root": missing, "fold": fold}); !errors.As(err, &oe) || oe.Key != "fold" {
			t.Errorf("fold %d: %v", fold, err)
		}
	}
	empty := t.TempDir()
	wantRootFault(t, "empty dir", describeErr(core.Options{"root": empty}), "holds no STL-10 data", "stl10_binary/", archiveName)
	info, err := Dataset{}.Describe(context.Background(), nil)
	if err != nil || info.Kind != core.KindDataset || info.Name != "stl10" || info.Identity != "" || len(info.Options) != 6 {
		t.Errorf("schema-only describe: %+v, %v", info.Description, err)
	}
}

func TestReadRequests(t *testing.T) {
	ctx := context.Background()
	roots := layouts(t, smallFixture().members())
	for _, name := range []string{"folder", "archive"} {
		t.Run(name, func(t *testing.T) {
			opts := core.Options{"root": roots[name]}
			send := func(core.ImageBatch) error { return nil }
			plugintest.WantInvalid(t, "unknown split", Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: "val", BatchSize: 2}, send), `unknown split "val"`)
			plugintest.WantInvalid(t, "unlabeled not offered", Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: splitUnlab, BatchSize: 2}, send),
				`split "unlabeled" is not offered`, "unlabeled=true")
			plugintest.WantInvalid(t, "batch size", Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTrain}, send), "batch size must be positive")
			cctx, cancel := context.WithCancel(ctx)
			calls := 0
			err := Dataset{}.Read(cctx, core.ReadRequest{Options: opts, Split: core.SplitTrain, BatchSize: 2}, func(core.ImageBatch) error {
				calls++
				cancel()
				return nil
			})
			if !errors.Is(err, context.Canceled) || calls != 1 {
				t.Errorf("cancelled read: %v after %d batches", err, calls)
			}
			stop := errors.New("consumer stopped")
			if err := (Dataset{}).Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 2}, func(core.ImageBatch) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("send error not returned: %v", err)
			}
			// Batches are fresh: changing one does not change the next.
			var first []byte
			_ = Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: core.SplitTest, BatchSize: 5}, func(b core.ImageBatch) error {
				first = append(first, b.Pixels[:1]...)
				b.Pixels[0] ^= 0xff
				return nil
			})
			again, _ := readAll(t, opts, core.SplitTest, 5)
			if first[0] != again[0] {
				t.Errorf("a consumer's change reached the next read")
			}
		})
	}
	// A cancelled context stops indexing an archive not indexed yet.
	p := writeArchive(t, t.TempDir(), smallFixture().members())
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (Dataset{}).Describe(cctx, core.Options{"root": p}); !errors.Is(err, context.Canceled) {
		t.Errorf("describe with a cancelled context: %v", err)
	}
}
