package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

func describe(opts core.Options) (core.DatasetInfo, error) {
	return Dataset{}.Describe(context.Background(), opts)
}

// readAll reads a split and returns its batches.
func readAll(opts core.Options, split string, batch int) ([]core.ImageBatch, error) {
	var out []core.ImageBatch
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: split, BatchSize: batch}, func(b core.ImageBatch) error {
		out = append(out, b)
		return nil
	})
	return out, err
}

// pngBytes is a small valid PNG.
func pngBytes(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.png")
	writePNG(t, p, 6, 8, 3)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadFiles: every unreadable image is invalid input naming the file,
// from Describe (option root) when its header shows it, else from Read.
func TestBadFiles(t *testing.T) {
	good := pngBytes(t)
	jpeg, err := os.ReadFile(filepath.Join(fixturesDir, "jpeg_420.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	corrupt := slices.Clone(good)
	corrupt[len(corrupt)-20] ^= 0xFF // inside the IDAT data: its CRC no longer matches
	cases := []struct {
		name     string
		content  []byte
		describe bool     // Describe fails (else Read)
		parts    []string // the error mentions
	}{
		{"notes.png", []byte("hello, not an image\n"), true, []string{"not an image"}},
		{"empty.png", nil, true, []string{"empty"}},
		{"header.png", good[:20], true, []string{"truncated"}},
		{"half.png", good[:len(good)*6/10], true, []string{"truncated PNG"}},
		{"half.jpg", jpeg[:len(jpeg)/2], true, []string{"truncated JPEG"}},
		{"crc.png", corrupt, false, []string{"PNG", "checksum"}},
		{"garbage.jpg", append(slices.Clone(jpeg[:2]), []byte("\xff\xc0\x00\x02garbage garbage garbage")...), true, []string{"JPEG"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			writePNG(t, filepath.Join(root, "a", "ok.png"), 6, 8, 1)
			bad := filepath.Join(root, "b", c.name)
			writeFile(t, bad, string(c.content))
			writePNG(t, filepath.Join(root, "b", "ok.png"), 6, 8, 2)
			opts := core.Options{"root": root}
			_, err := describe(opts)
			if c.describe {
				wantFault(t, "Describe", err, "root", append([]string{bad}, c.parts...)...)
				return
			}
			if err != nil {
				t.Fatalf("Describe: %v (the header is fine: Read should fail)", err)
			}
			_, err = readAll(opts, "train", 16)
			wantInvalid(t, "Read", err, append([]string{bad}, c.parts...)...)
			// on_error: skip leaves it out.
			opts["on_error"] = "skip"
			info, err := describe(opts)
			if err != nil {
				t.Fatal(err)
			}
			if tr, _ := info.Split("train"); tr.Count != 2 || len(info.Skipped) != 1 || info.Skipped[0].Name != "b/"+c.name || !strings.Contains(info.Identity, "skipped=1") {
				t.Errorf("on_error skip: %d train images, skipped %+v, identity %q; want 2, b/%s, skipped=1", tr.Count, info.Skipped, info.Identity, c.name)
			}
		})
	}
}

func TestUnreadableFiles(t *testing.T) {
	t.Run("broken symlink", func(t *testing.T) {
		root := t.TempDir()
		writePNG(t, filepath.Join(root, "a", "ok.png"), 6, 8, 1)
		link := filepath.Join(root, "a", "gone.png")
		mustSymlink(t, filepath.Join(root, "nowhere.png"), link)
		_, err := describe(core.Options{"root": root})
		wantFault(t, "Describe", err, "root", link, "no such file")
	})
	t.Run("permission", func(t *testing.T) {
		root := t.TempDir()
		p := filepath.Join(root, "a", "secret.png")
		writePNG(t, p, 6, 8, 1)
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o644) })
		if f, err := os.Open(p); err == nil {
			f.Close()
			t.Skip("running as a user who reads files without permission (root); the broken link and folder cases cover unreadable files")
		}
		_, err := describe(core.Options{"root": root})
		wantFault(t, "Describe", err, "root", p, "permission denied")
	})
	t.Run("folder listed as a file", func(t *testing.T) {
		dir := t.TempDir()
		writePNG(t, filepath.Join(dir, "ok.png"), 6, 8, 1)
		if err := os.Mkdir(filepath.Join(dir, "folder.png"), 0o755); err != nil {
			t.Fatal(err)
		}
		list := filepath.Join(dir, "list.csv")
		writeFile(t, list, "path\nok.png\nfolder.png\n")
		_, err := describe(core.Options{"root": list})
		wantFault(t, "Describe", err, "root", filepath.Join(dir, "folder.png"), "list.csv line 3", "is a folder")
	})
	t.Run("missing file in a list", func(t *testing.T) {
		dir := t.TempDir()
		list := filepath.Join(dir, "list.csv")
		writeFile(t, list, "path\nmissing.png\n")
		_, err := describe(core.Options{"root": list})
		wantFault(t, "Describe", err, "root", filepath.Join(dir, "missing.png"), "list.csv line 2", "no such file")
	})
}

func TestLayoutErrors(t *testing.T) {
	empty := t.TempDir()
	notes := t.TempDir()
	writeFile(t, filepath.Join(notes, "notes.txt"), "no images here\n")
	writeFile(t, filepath.Join(notes, ".DS_Store"), "\x00")
	emptyClass := t.TempDir()
	writePNG(t, filepath.Join(emptyClass, "cat", "a.png"), 6, 8, 1)
	writeFile(t, filepath.Join(emptyClass, "dog", "notes.txt"), "no images\n")
	if err := os.Mkdir(filepath.Join(emptyClass, "bird"), 0o755); err != nil {
		t.Fatal(err)
	}
	splitsMismatch := t.TempDir()
	writePNG(t, filepath.Join(splitsMismatch, "train", "cat", "a.png"), 6, 8, 1)
	writePNG(t, filepath.Join(splitsMismatch, "train", "dog", "a.png"), 6, 8, 2)
	writePNG(t, filepath.Join(splitsMismatch, "test", "cat", "a.png"), 6, 8, 3)
	writePNG(t, filepath.Join(splitsMismatch, "test", "cow", "a.png"), 6, 8, 4)
	mixedLayouts := t.TempDir()
	writePNG(t, filepath.Join(mixedLayouts, "train", "cat", "a.png"), 6, 8, 1)
	writePNG(t, filepath.Join(mixedLayouts, "test", "a.png"), 6, 8, 2)
	classesFile := filepath.Join(t.TempDir(), "classes.txt")
	writeFile(t, classesFile, "cat\nzebra extra words\nyak\n")
	noTrain := filepath.Join(t.TempDir(), "l.csv")
	writeFile(t, noTrain, "path,split\nx.png,test\n")
	badSplit := filepath.Join(t.TempDir(), "l.csv")
	writeFile(t, badSplit, "path,split\nx.png,holdout\n")

	for _, c := range []struct {
		name  string
		opts  core.Options
		key   string
		parts []string
	}{
		{"empty folder", core.Options{"root": empty}, "root", []string{empty, "no image files"}},
		{"no images, only other files", core.Options{"root": notes}, "root", []string{notes, "no image files", ".jpg"}},
		{"class folders without images", core.Options{"root": emptyClass}, "root", []string{filepath.Join(emptyClass, "dog"), filepath.Join(emptyClass, "bird"), "no image file", "FileNotFoundError"}},
		{"no class folders", core.Options{"root": notes, "layout": "folders"}, "root", []string{"couldn't find any class folder", notes}},
		{"splits with other classes", core.Options{"root": splitsMismatch}, "root", []string{"split test", "missing dog", "extra cow"}},
		{"splits in two layouts", core.Options{"root": mixedLayouts}, "root", []string{"train/ folders", "test/ flat"}},
		{"missing class folders", core.Options{"root": emptyClass, "classes": classesFile}, "classes", []string{"2 class folders that do not exist", filepath.Join(emptyClass, "zebra"), filepath.Join(emptyClass, "yak")}},
		{"classes file missing", core.Options{"root": emptyClass, "classes": classesFile + ".nope"}, "classes", []string{classesFile + ".nope"}},
		{"classes of a flat folder", core.Options{"root": filepath.Join(layoutsDir, "flat"), "classes": classesFile}, "classes", []string{"flat folder"}},
		{"classes of integer labels", core.Options{"root": filepath.Join(layoutsDir, "list_ints.tsv"), "classes": classesFile}, "classes", []string{"integers"}},
		{"classes not in a list", core.Options{"root": filepath.Join(layoutsDir, "list_names.csv"), "classes": classesFile}, "classes", []string{"zebra", "yak"}},
		{"no path column", core.Options{"root": filepath.Join(layoutsDir, "list_names.csv"), "path_column": "file"}, "path_column", []string{`no column "file"`, "path, label"}},
		{"list with no train row", core.Options{"root": noTrain}, "root", []string{"no row in the train split"}},
		{"list with an unknown split", core.Options{"root": badSplit}, "root", []string{"line 2", `"holdout"`}},
		{"list layout on a folder", core.Options{"root": empty, "layout": "list"}, "layout", []string{"CSV or TSV"}},
		{"folder layout on a file", core.Options{"root": filepath.Join(layoutsDir, "list_names.csv"), "layout": "flat"}, "layout", []string{"is a file"}},
		{"root missing", core.Options{"root": filepath.Join(empty, "nope")}, "root", []string{"does not exist"}},
		{"root unset", core.Options{}, "root", []string{"required"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := describe(c.opts)
			wantFault(t, c.name, err, c.key, c.parts...)
		})
	}
}

func TestReadErrors(t *testing.T) {
	opts := core.Options{"root": filepath.Join(layoutsDir, "splits")}
	_, err := readAll(opts, "holdout", 8)
	wantInvalid(t, "unknown split", err, `"holdout"`, "train, test, val")
	_, err = readAll(opts, "train", 0)
	wantInvalid(t, "batch size 0", err, "batch size")
	// A send error stops the read and comes back.
	stop := errors.New("stop here")
	err = Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: "train", BatchSize: 2}, func(core.ImageBatch) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("send error: got %v", err)
	}
	// A cancelled context stops it too.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = Dataset{}.Read(ctx, core.ReadRequest{Options: opts, Split: "train", BatchSize: 2}, func(core.ImageBatch) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled read: got %v", err)
	}
}
