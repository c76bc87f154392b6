package main

import (
	"archive/zip"
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/internal/testarchive"
)

// The golden fixture, written by testdata/make_fixture.py: a 6 train / 4
// test / 5 unlabeled STL-10 archive in the official layout and member
// order, and expected.npz, what torchvision 0.14.1's STL10 itself (Debian
// bookworm's python3-torchvision) delivers for it.
const (
	goldenArchive  = "testdata/stl10_binary.tar.gz"
	goldenExpected = "testdata/expected.npz"
)

// readNPZ reads every array of an .npz file: its raw data (C order) and
// shape.
func readNPZ(t *testing.T, path string) map[string]struct {
	h    npy.Header
	data []byte
} {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	out := map[string]struct {
		h    npy.Header
		data []byte
	}{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		h, data, err := npy.Decode(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s in %s: %v", f.Name, path, err)
		}
		out[strings.TrimSuffix(f.Name, ".npy")] = struct {
			h    npy.Header
			data []byte
		}{h, data}
	}
	return out
}

// TestTorchvisionGolden: for the archive and for its unpacked folder,
// every split, and the train split of folds 0 and 9, are byte for byte the
// images (HWC, upright) and labels torchvision's STL10 gave for the same
// files; and train followed by unlabeled is its split "train+unlabeled",
// with and without a fold.
func TestTorchvisionGolden(t *testing.T) {
	want := readNPZ(t, goldenExpected)
	folder := filepath.Join(testarchive.ExtractTarGz(t, goldenArchive, t.TempDir()), folderName)
	for name, root := range map[string]string{"archive": goldenArchive, "folder": folder} {
		t.Run(name, func(t *testing.T) {
			read := func(t *testing.T, fold int, split string) ([]byte, []int64) {
				px, labels := readAll(t, core.Options{"root": root, "fold": fold, "unlabeled": true}, split, 4)
				l64 := make([]int64, len(labels))
				for i, l := range labels {
					l64[i] = int64(l)
				}
				return px, l64
			}
			check := func(t *testing.T, key string, px []byte, labels []int64) {
				t.Helper()
				img, lab := want[key+"_images"], want[key+"_labels"]
				if img.h.DType != "|u1" || len(img.h.Shape) != 4 || img.h.Shape[1] != 96 || img.h.Shape[2] != 96 || img.h.Shape[3] != 3 {
					t.Fatalf("%s: expected.npz holds %+v", key, img.h)
				}
				wantLabels, err := npy.ToInt64(lab.h, lab.data)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(px, img.data) {
					t.Errorf("%s: %d image bytes differ from torchvision's %d", key, len(px), len(img.data))
				}
				if !slices.Equal(labels, wantLabels) {
					t.Errorf("%s: labels %v, torchvision's %v", key, labels, wantLabels)
				}
			}
			for _, c := range []struct {
				key   string
				fold  int
				split string
			}{
				{"train", noFold, core.SplitTrain},
				{"test", noFold, core.SplitTest},
				{"unlabeled", noFold, splitUnlab},
				{"train_fold0", 0, core.SplitTrain},
				{"train_fold9", 9, core.SplitTrain},
			} {
				px, labels := read(t, c.fold, c.split)
				check(t, c.key, px, labels)
			}
			for key, fold := range map[string]int{"train+unlabeled": noFold, "train+unlabeled_fold3": 3} {
				px, labels := read(t, fold, core.SplitTrain)
				upx, ulabels := read(t, fold, splitUnlab)
				check(t, key, append(px, upx...), append(labels, ulabels...))
			}
			info, err := Dataset{}.Describe(context.Background(), core.Options{"root": root})
			if err != nil || !slices.Equal(info.Classes, officialNames) {
				t.Errorf("classes %v, %v", info.Classes, err)
			}
		})
	}
}
