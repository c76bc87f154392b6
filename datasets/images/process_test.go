package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testbin"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestPluginProcess builds clusterlab-dataset-images and runs the
// conformance suite over the plugin protocol, as the runner talks to it:
// images of several sizes, their names and the skipped files cross the
// wire; a bad file is invalid input naming it.
func TestPluginProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: builds the plugin executable")
	}
	exe := testbin.Path(t, testbin.Plugin("datasets/images"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := plugins.Launch(ctx, core.KindDataset, exe)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	for _, opts := range []core.Options{
		{"root": abs(t, filepath.Join(layoutsDir, "sizes"))},
		{"root": abs(t, filepath.Join(layoutsDir, "list_splits.csv"))},
	} {
		plugintest.Dataset(t, c.Dataset(), plugintest.DatasetCase{Options: opts})
		remote, err := c.Dataset().Describe(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		local := mustDescribe(t, opts)
		if remote.Identity != local.Identity || remote.Height != local.Height {
			t.Errorf("over the protocol: identity %q, height %d; locally %q, %d", remote.Identity, remote.Height, local.Identity, local.Height)
		}
	}
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "a", "ok.png"), 6, 8, 1)
	bad := filepath.Join(root, "a", "bad.png")
	writeFile(t, bad, "not an image")
	_, err = c.Dataset().Describe(ctx, core.Options{"root": root})
	if err == nil || !plugins.IsInvalidInput(err) || !strings.Contains(err.Error(), bad) {
		t.Errorf("a bad file over the protocol: %v (invalid input: %v)", err, plugins.IsInvalidInput(err))
	}
	info, err := c.Dataset().Describe(ctx, core.Options{"root": root, "on_error": "skip"})
	if err != nil || len(info.Skipped) != 1 || info.Skipped[0].Name != "a/bad.png" || info.Skipped[0].Split != "train" {
		t.Errorf("skipped over the protocol: %+v, %v", info.Skipped, err)
	}
}

// writeClassImages writes a class-folder dataset of photos of assorted
// sizes, PNG and JPEG: class c is tinted towards one primary colour.
func writeClassImages(t *testing.T, root string, classes, perClass, seed int) {
	t.Helper()
	for c := range classes {
		for i := range perClass {
			h, w := 18+(i*5)%13, 20+(i*7)%17
			m := image.NewRGBA(image.Rect(0, 0, w, h))
			for y := range h {
				for x := range w {
					v := [3]int{40, 40, 40}
					v[c%3] = 200
					n := (x*13 + y*7 + i*31 + seed*17) % 50
					m.Set(x, y, color.RGBA{uint8(v[0] + n), uint8(v[1] + n), uint8(v[2] + n), 255})
				}
			}
			p := filepath.Join(root, fmt.Sprintf("class_%d", c), fmt.Sprintf("img_%02d", i))
			if i%2 == 0 {
				writeImageFile(t, p+".png", m, "png")
			} else {
				writeImageFile(t, p+".jpg", m, "jpeg")
			}
		}
	}
}

func writeImageFile(t *testing.T, path string, m image.Image, kind string) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if kind == "jpeg" {
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90})
	} else {
		err = png.Encode(&buf, m)
	}
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.String())
}

// TestEndToEnd runs `clusterlab run` on a class-folder dataset of photos
// of assorted sizes (train/ and test/ folders) through real plugin
// processes: dataset images, backbone pixels resizing and cropping them
// to one size, loss temi. A truncated JPEG fails the run with exit status
// 2 naming the file; with on_error: skip the run leaves it out and lists
// it in skipped.csv. An unlabelled flat folder runs once clusters is set.
// Every kind of bad input (not an image, empty folder, class folder
// without images, unreadable file) is exit status 2 naming it.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short mode: builds the runner and plugins")
	}
	if runtime.GOOS != "linux" {
		t.Skip("end-to-end test runs on Linux")
	}
	t.Parallel()
	bin := testbin.Build(t, testbin.Runner, testbin.Plugin("datasets/images"), testbin.Plugin("backbones/pixels"), testbin.Plugin("losses/temi"))
	dir := t.TempDir()
	data := filepath.Join(dir, "photos")
	writeClassImages(t, filepath.Join(data, "train"), 3, 16, 1)
	writeClassImages(t, filepath.Join(data, "test"), 3, 6, 2)
	// configAt reads the dataset at root; extra adds dataset options.
	configAt := func(root, extra string) string {
		return fmt.Sprintf(`
experiment: images_e2e
seed: 3
runs_dir: runs
cache_dir: cache
dataset: {plugin: images, root: %q%s}
backbone: {plugin: pixels, resize: 12, center_crop: 12, pca_dims: 8}
neighbours: {k: 5}
baselines: {kmeans_n_init: 2, knn_classifier_k: 5}
loss: {plugin: temi, heads: 2, epochs: 3, batch_size: 8, warmup_epochs: 1, hidden_dim: 32, bottleneck_dim: 16}
`, root, extra)
	}
	config := func(extra string) string { return configAt(data, extra) }
	tmp := t.TempDir()
	run := func(cfg string, args ...string) (int, string, string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "images.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		r := testbin.Run(t, testbin.RunnerCmd(bin, dir, tmp, append([]string{"run", "images.yaml"}, args...)...))
		return r.Code, r.Stdout, r.Stderr
	}
	runDirOf := func(stdout string) string { return testbin.RunDir(dir, stdout) }

	code, stdout, stderr := run(config(""))
	if code != 0 {
		t.Fatalf("run failed (%d):\n%s\n%s", code, stdout, stderr)
	}
	runDir := runDirOf(stdout)
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if mf.Clusters != 3 || mf.Classes != 3 || mf.Provenance == nil || mf.Provenance.Dataset.Name != "images" ||
		!strings.Contains(mf.Provenance.Dataset.Identity, "train=48 test=18 size=mixed") {
		t.Errorf("clusters %d, classes %d, provenance %+v", mf.Clusters, mf.Classes, mf.Provenance)
	}
	n := map[string]int{}
	for _, r := range mf.Results {
		if r.Method == "temi" && r.Selection == "best-head" {
			n[r.Split] = r.N
		}
	}
	if fmt.Sprint(n) != fmt.Sprint(map[string]int{"test": 18, "train": 48}) {
		t.Errorf("best-head results cover %v images", n)
	}
	for _, f := range []string{"gallery_train.png", "gallery_test.png", "report.html"} {
		if _, err := os.Stat(filepath.Join(runDir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}

	// A truncated JPEG: exit status 2, naming the file.
	bad := filepath.Join(data, "train", "class_1", "img_03.jpg")
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = run(config(""))
	if code != 2 || !strings.Contains(stderr, bad) || !strings.Contains(stderr, "truncated") {
		t.Errorf("truncated JPEG: exit %d, want 2 naming %s:\n%s\n%s", code, bad, stdout, stderr)
	}
	code, stdout, stderr = run(config(", on_error: skip"))
	if code != 0 {
		t.Fatalf("on_error skip: run failed (%d):\n%s\n%s", code, stdout, stderr)
	}
	mf, err = rundir.ReadMetrics(runDirOf(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if id := mf.Provenance.Dataset.Identity; !strings.Contains(id, "train=47 test=18") || !strings.Contains(id, "skipped=1") {
		t.Errorf("on_error skip: identity %q, want train=47 and skipped=1", id)
	}
	skipDir := runDirOf(stdout)
	csv, err := os.ReadFile(filepath.Join(skipDir, rundir.SkippedFile))
	if err != nil || !strings.Contains(string(csv), "train/class_1/img_03.jpg") || !strings.Contains(string(csv), "truncated") {
		t.Errorf("on_error skip: %s in the run directory: %q, %v; want it to list train/class_1/img_03.jpg", rundir.SkippedFile, csv, err)
	}
	if !strings.Contains(stdout+stderr, "left out 1 file(s)") {
		t.Errorf("on_error skip: the run's output does not count the skipped file:\n%s\n%s", stdout, stderr)
	}

	// An unlabelled flat folder (the train images, their class folders
	// read as plain subfolders): the number of clusters must be given.
	flat := configAt(filepath.Join(data, "test"), ", layout: flat")
	code, stdout, stderr = run(flat)
	if code != 2 || !strings.Contains(stderr, "has no labels") || !strings.Contains(stderr, "set clusters") {
		t.Errorf("unlabelled without clusters: exit %d, want 2 asking for clusters:\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(flat, "--set", "clusters=3")
	if code != 0 {
		t.Fatalf("unlabelled flat folder: run failed (%d):\n%s\n%s", code, stdout, stderr)
	}
	mf, err = rundir.ReadMetrics(runDirOf(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if id := mf.Provenance.Dataset.Identity; mf.Clusters != 3 || mf.Classes != 0 || !strings.Contains(id, "layout=flat") || !strings.Contains(id, "train=18") {
		t.Errorf("unlabelled flat folder: clusters %d, classes %d, identity %q; want 3, 0, layout=flat train=18", mf.Clusters, mf.Classes, id)
	}

	// Bad inputs: exit status 2 and a message naming the file or folder.
	small := func(name string) string {
		root := filepath.Join(dir, "bad", name)
		writeClassImages(t, root, 2, 3, 5)
		return root
	}
	badCases := []struct {
		name  string
		setup func(root string) (cfgRoot, names string)
		want  string
	}{
		{"not an image", func(root string) (string, string) {
			p := filepath.Join(root, "class_0", "notes.png")
			writeFile(t, p, "hello, not an image\n")
			return root, p
		}, "not an image"},
		{"empty folder", func(root string) (string, string) {
			p := filepath.Join(dir, "bad", "empty")
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p, p
		}, "holds no image files"},
		{"class folder without images", func(root string) (string, string) {
			p := filepath.Join(root, "class_2")
			writeFile(t, filepath.Join(p, "readme.txt"), "no images here\n")
			return root, p
		}, "found no image file in the class folders"},
		{"dangling symbolic link", func(root string) (string, string) {
			p := filepath.Join(root, "class_1", "gone.png")
			if err := os.Symlink(filepath.Join(root, "nowhere.png"), p); err != nil {
				t.Fatal(err)
			}
			return root, p
		}, "no such file"},
		{"folder in a list file", func(root string) (string, string) {
			p := filepath.Join(root, "class_1", "folder.png")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			list := filepath.Join(root, "list.csv")
			writeFile(t, list, "path,label\nclass_0/img_00.png,a\nclass_1/folder.png,b\n")
			return list, p
		}, "is a folder"},
	}
	for _, c := range badCases {
		root, names := c.setup(small(strings.ReplaceAll(c.name, " ", "_")))
		code, stdout, stderr := run(configAt(root, ""))
		t.Logf("%s: exit %d: %s", c.name, code, strings.TrimSpace(stderr))
		if code != 2 || !strings.Contains(stderr, names) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, want 2 naming %s and saying %q:\n%s\n%s", c.name, code, names, c.want, stdout, stderr)
		}
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("the runs left %d files in their TMPDIR", len(entries))
	}
}
