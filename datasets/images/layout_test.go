package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// torchvisionOrder is a layouts/*.order.json file: what torchvision 0.14's
// ImageFolder lists for a folder (scripts/make_image_fixtures.py).
type torchvisionOrder struct {
	Classes []string
	Samples [][2]any
}

func readOrder(t *testing.T, name string) (classes []string, rels []string, labels []int32) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(layoutsDir, name+".order.json"))
	if err != nil {
		t.Fatal(err)
	}
	var o torchvisionOrder
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	for _, s := range o.Samples {
		rels = append(rels, s[0].(string))
		labels = append(labels, int32(s[1].(float64)))
	}
	return o.Classes, rels, labels
}

func mustResolve(t *testing.T, opts core.Options) config {
	t.Helper()
	cfg, err := resolve(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mustScan(t *testing.T, opts core.Options) *scanned {
	t.Helper()
	s, err := scan(mustResolve(t, opts))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// relTo lists the split's samples relative to dir, with their labels.
func relTo(t *testing.T, sp splitFiles, dir string) (rels []string, labels []int32) {
	t.Helper()
	for _, s := range sp.samples {
		r, err := filepath.Rel(dir, s.path)
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, filepath.ToSlash(r))
		labels = append(labels, s.label)
	}
	return rels, labels
}

// TestOrderFollowsTorchvision compares the classes, files, order and labels
// of every folder layout with torchvision's ImageFolder on the same
// folders: classes sorted, os.walk's folders sorted as whole paths, files
// sorted, extensions case-insensitive, other files (notes.txt, .DS_Store,
// readme.md) and files beside the class folders ignored, hidden files
// kept.
func TestOrderFollowsTorchvision(t *testing.T) {
	for _, c := range []struct{ order, root, split string }{
		{"classes", "classes", "train"},
		{"subset", "subset", "train"},
		{"splits_train", "splits", "train"},
		{"splits_test", "splits", "test"},
		{"sizes", "sizes", "train"},
	} {
		t.Run(c.order, func(t *testing.T) {
			wantClasses, wantRels, wantLabels := readOrder(t, c.order)
			s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, c.root)})
			if s.layout != layoutFolders || !slices.Equal(s.classes, wantClasses) {
				t.Errorf("layout %s, classes %q; torchvision: class folders %q", s.layout, s.classes, wantClasses)
			}
			i := slices.IndexFunc(s.splits, func(sp splitFiles) bool { return sp.name == c.split })
			if i < 0 {
				t.Fatalf("no split %s in %+v", c.split, s.splits)
			}
			dir := filepath.Join(layoutsDir, c.root)
			if c.root == "splits" {
				dir = filepath.Join(dir, c.split)
			}
			rels, labels := relTo(t, s.splits[i], dir)
			if !slices.Equal(rels, wantRels) || !slices.Equal(labels, wantLabels) {
				t.Errorf("samples\n got  %q %v\n want %q %v (torchvision)", rels, labels, wantRels, wantLabels)
			}
		})
	}
}

func TestSplitFolders(t *testing.T) {
	s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "splits")})
	var names []string
	for _, sp := range s.splits {
		names = append(names, sp.name)
	}
	if !slices.Equal(names, []string{"train", "test", "val"}) {
		t.Errorf("splits %v, want train, test, val", names)
	}
	// splits: none reads train/ test/ val/ as three classes.
	s = mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "splits"), "splits": "none", "layout": "folders"})
	if len(s.splits) != 1 || !slices.Equal(s.classes, []string{"test", "train", "val"}) || len(s.splits[0].samples) != 20 {
		t.Errorf("splits: none: %d splits, classes %q, %d samples; want 1 split, classes test, train, val, 20 samples", len(s.splits), s.classes, len(s.splits[0].samples))
	}
	// A root with train/ and another folder is class folders.
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "train", "a.png"), 4, 4, 1)
	writePNG(t, filepath.Join(root, "other", "b.png"), 4, 4, 2)
	s = mustScan(t, core.Options{"root": root})
	if len(s.splits) != 1 || !slices.Equal(s.classes, []string{"other", "train"}) {
		t.Errorf("train/ and other/: %d splits, classes %q; want one split, classes other, train", len(s.splits), s.classes)
	}
}

// TestClassSubset: the classes file selects folders in its order (SCAN's
// ImageNetSubset: labels and image order follow the file) or sorted; the
// first word of a line names the folder.
func TestClassSubset(t *testing.T) {
	root := filepath.Join(layoutsDir, "subset")
	file := filepath.Join(layoutsDir, "subset_classes.txt")
	s := mustScan(t, core.Options{"root": root, "classes": file})
	rels, labels := relTo(t, s.splits[0], root)
	want := []string{"n03/n03_0.png", "n03/n03_1.png", "n03/n03_2.png", "n01/n01_0.png", "n01/n01_1.png", "n01/n01_2.png"}
	if !slices.Equal(s.classes, []string{"n03", "n01"}) || !slices.Equal(rels, want) || !slices.Equal(labels, []int32{0, 0, 0, 1, 1, 1}) {
		t.Errorf("file order: classes %q, samples %q %v", s.classes, rels, labels)
	}
	s = mustScan(t, core.Options{"root": root, "classes": file, "classes_order": "sorted"})
	rels, labels = relTo(t, s.splits[0], root)
	want = append(want[3:], want[:3]...)
	if !slices.Equal(s.classes, []string{"n01", "n03"}) || !slices.Equal(rels, want) || !slices.Equal(labels, []int32{0, 0, 0, 1, 1, 1}) {
		t.Errorf("sorted: classes %q, samples %q %v", s.classes, rels, labels)
	}
	// A whole line naming a folder wins over its first word.
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "golden retriever", "a.png"), 4, 4, 1)
	writePNG(t, filepath.Join(dir, "golden", "b.png"), 4, 4, 2)
	writePNG(t, filepath.Join(dir, "pug", "c.png"), 4, 4, 3)
	cf := filepath.Join(t.TempDir(), "c.txt")
	writeFile(t, cf, "golden retriever\npug dogs are small\n")
	s = mustScan(t, core.Options{"root": dir, "classes": cf})
	if !slices.Equal(s.classes, []string{"golden retriever", "pug"}) {
		t.Errorf("classes %q, want golden retriever, pug", s.classes)
	}
}

// TestSCANSubsetFile reads a classes file in the format of SCAN's
// imagenet_50.txt ("wnid readable name, synonyms"), over train/ and val/
// split folders as ImageNet is laid out: the class index is the line's
// order (SCAN's ImageNetSubset), the class names are the folder names
// (wnids), the readable part of a line is ignored, and other folders are
// left out.
func TestSCANSubsetFile(t *testing.T) {
	root := t.TempDir()
	wnids := []string{"n01558993", "n01601694", "n01669191", "n01751748"}
	for _, sp := range []string{"train", "val"} {
		for i, w := range wnids {
			for j := range 2 {
				writePNG(t, filepath.Join(root, sp, w, fmt.Sprintf("%s_%d.JPEG.png", w, j)), 4, 5, i*10+j)
			}
		}
	}
	cf := filepath.Join(t.TempDir(), "imagenet_3.txt")
	writeFile(t, cf, "n01751748 sea snake\nn01558993 robin, American robin, Turdus migratorius\n"+
		"n01669191 box turtle, box tortoise\n")
	s := mustScan(t, core.Options{"root": root, "classes": cf})
	if want := []string{"n01751748", "n01558993", "n01669191"}; !slices.Equal(s.classes, want) {
		t.Errorf("classes %q, want %q (the file's order)", s.classes, want)
	}
	if len(s.splits) != 2 || s.splits[0].name != "train" || s.splits[1].name != "val" {
		t.Fatalf("splits %+v, want train and val", s.splits)
	}
	for _, sp := range s.splits {
		rels, labels := relTo(t, sp, filepath.Join(root, sp.name))
		want := []string{"n01751748/n01751748_0.JPEG.png", "n01751748/n01751748_1.JPEG.png", "n01558993/n01558993_0.JPEG.png",
			"n01558993/n01558993_1.JPEG.png", "n01669191/n01669191_0.JPEG.png", "n01669191/n01669191_1.JPEG.png"}
		if !slices.Equal(rels, want) || !slices.Equal(labels, []int32{0, 0, 1, 1, 2, 2}) {
			t.Errorf("%s: samples %q, labels %v", sp.name, rels, labels)
		}
	}
	// A line naming a missing folder, and two lines naming one folder.
	writeFile(t, cf, "n01558993 robin\nn09999999 no such class\n")
	_, err := scan(mustResolve(t, core.Options{"root": root, "classes": cf}))
	wantFault(t, "missing class", err, "classes", filepath.Join(root, "train", "n09999999"), "do not exist")
	writeFile(t, cf, "n01558993 robin\nn01558993 American robin\n")
	_, err = scan(mustResolve(t, core.Options{"root": root, "classes": cf}))
	wantFault(t, "class named twice", err, "classes", `"n01558993" twice`)
}

func TestListFiles(t *testing.T) {
	t.Run("names", func(t *testing.T) {
		s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "list_names.csv")})
		rels, labels := relTo(t, s.splits[0], layoutsDir)
		if s.layout != layoutList || !slices.Equal(s.classes, []string{"cat", "dog"}) ||
			!slices.Equal(rels, []string{"flat/img1.png", "flat/img2.png", "classes/a_cat/1.png", "flat/img3.png"}) ||
			!slices.Equal(labels, []int32{1, 0, 0, -1}) {
			t.Errorf("classes %q, samples %q %v", s.classes, rels, labels)
		}
		if w := s.splits[0].samples[2].where; w != "list_names.csv line 4" {
			t.Errorf("where %q, want list_names.csv line 4", w)
		}
	})
	t.Run("integers, TSV, columns in any order", func(t *testing.T) {
		s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "list_ints.tsv")})
		_, labels := relTo(t, s.splits[0], layoutsDir)
		if !slices.Equal(s.classes, []string{"0", "1", "2"}) || !slices.Equal(labels, []int32{2, 0, 1}) {
			t.Errorf("classes %q, labels %v", s.classes, labels)
		}
	})
	t.Run("no labels", func(t *testing.T) {
		s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "list_nolabel.csv")})
		rels, labels := relTo(t, s.splits[0], layoutsDir)
		if len(s.classes) != 0 || !slices.Equal(rels, []string{"flat/img2.png", "flat/img1.png"}) || !slices.Equal(labels, []int32{-1, -1}) {
			t.Errorf("classes %q, samples %q %v", s.classes, rels, labels)
		}
	})
	t.Run("split column", func(t *testing.T) {
		s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "list_splits.csv")})
		if len(s.splits) != 2 || s.splits[0].name != "train" || s.splits[1].name != "test" ||
			len(s.splits[0].samples) != 4 || len(s.splits[1].samples) != 2 {
			t.Fatalf("splits %+v", s.splits)
		}
		_, labels := relTo(t, s.splits[0], layoutsDir)
		if !slices.Equal(labels, []int32{1, 1, 0, 0}) {
			t.Errorf("train labels %v, want dog dog cat cat = 1 1 0 0", labels)
		}
	})
	t.Run("classes file", func(t *testing.T) {
		cf := filepath.Join(t.TempDir(), "c.txt")
		writeFile(t, cf, "dog\n")
		s := mustScan(t, core.Options{"root": filepath.Join(layoutsDir, "list_names.csv"), "classes": cf})
		rels, labels := relTo(t, s.splits[0], layoutsDir)
		if !slices.Equal(s.classes, []string{"dog"}) || !slices.Equal(rels, []string{"flat/img1.png"}) || !slices.Equal(labels, []int32{0}) {
			t.Errorf("classes %q, samples %q %v", s.classes, rels, labels)
		}
	})
	t.Run("other columns", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "img", "a b.png"), 4, 4, 1)
		lf := filepath.Join(dir, "files.txt") // neither .csv nor .tsv: a tab in the header makes it TSV
		writeFile(t, lf, "\ufeffFile\tClass\tnote\nimg/a b.png\tx\t\"quoted, comma\"\n")
		s := mustScan(t, core.Options{"root": lf, "path_column": "file", "label_column": "class"})
		if !slices.Equal(s.classes, []string{"x"}) || len(s.splits[0].samples) != 1 || s.splits[0].samples[0].path != filepath.Join(dir, "img", "a b.png") {
			t.Errorf("classes %q, samples %+v", s.classes, s.splits[0].samples)
		}
	})
}

// TestSymlinksFollowed: os.walk(followlinks=True) and DirEntry.is_dir()
// follow links to folders; a link back up is an error here.
func TestSymlinksFollowed(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	writePNG(t, filepath.Join(elsewhere, "cls", "x.png"), 4, 4, 1)
	writePNG(t, filepath.Join(elsewhere, "deep", "y.png"), 4, 4, 2)
	writePNG(t, filepath.Join(root, "a", "z.png"), 4, 4, 3)
	mustSymlink(t, filepath.Join(elsewhere, "cls"), filepath.Join(root, "b"))
	mustSymlink(t, filepath.Join(elsewhere, "deep"), filepath.Join(root, "a", "linked"))
	s := mustScan(t, core.Options{"root": root})
	rels, labels := relTo(t, s.splits[0], root)
	if !slices.Equal(s.classes, []string{"a", "b"}) || !slices.Equal(rels, []string{"a/z.png", "a/linked/y.png", "b/x.png"}) || !slices.Equal(labels, []int32{0, 0, 1}) {
		t.Errorf("classes %q, samples %q %v", s.classes, rels, labels)
	}
	mustSymlink(t, filepath.Join(root, "a"), filepath.Join(root, "a", "loop"))
	_, err := Dataset{}.Describe(context.Background(), core.Options{"root": root})
	wantFault(t, "symlink cycle", err, "root", filepath.Join(root, "a", "loop"), "cycle")
}

func TestPythonStringOrder(t *testing.T) {
	in := []string{"b", "B", "a b", "a-b", "a/x", "a", "é", "z", "\xff", "\xc3"}
	slices.SortFunc(in, pyCompare)
	// Python: sorted(["b", "B", "a b", "a-b", "a/x", "a", "é", "z",
	// b"\xff".decode(errors="surrogateescape"), b"\xc3".decode(...)])
	want := []string{"B", "a", "a b", "a-b", "a/x", "b", "z", "é", "\xc3", "\xff"}
	if !slices.Equal(in, want) {
		t.Errorf("sorted %q, want %q", in, want)
	}
}

func TestExtensions(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{{"a.JPG", true}, {"a.jpeg", true}, {"a.Webp", true}, {"a.gif", false}, {"a.txt", false}, {".DS_Store", false}, {"jpg", false}, {"a.tiff", true}, {"a.pgm", true}} {
		if got := hasExtension(c.name, strings.Split(torchvisionExtensions, ",")); got != c.want {
			t.Errorf("hasExtension(%q) = %v, want %v", c.name, got, c.want)
		}
	}
	// GIFs are read by default; torchvision's list leaves them out.
	root := t.TempDir()
	copyFile(t, filepath.Join(fixturesDir, "gif_p.gif"), filepath.Join(root, "c", "x.gif"))
	writePNG(t, filepath.Join(root, "c", "y.png"), 4, 4, 1)
	s := mustScan(t, core.Options{"root": root})
	if len(s.splits[0].samples) != 2 {
		t.Errorf("default extensions read %d files, want 2 (.gif included)", len(s.splits[0].samples))
	}
	s = mustScan(t, core.Options{"root": root, "extensions": torchvisionExtensions})
	if len(s.splits[0].samples) != 1 {
		t.Errorf("with torchvision's extensions: %d files, want 1 (no .gif)", len(s.splits[0].samples))
	}
}
