package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/plugins/plugintest"
)

// writeFeatures writes <split>.npy of n rows of d values.
func writeFeatures(t *testing.T, dir, split string, n, d int) {
	t.Helper()
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(i%13) / 3
	}
	if err := npy.WriteFloat32(filepath.Join(dir, split+".npy"), x, n, d); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceUnlabelled(t *testing.T) {
	dir := t.TempDir()
	writeFeatures(t, dir, "train", 30, 4)
	writeFeatures(t, dir, "test", 7, 4)
	plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{
		Options: core.Options{"dir": dir}, Unlabelled: true, NoImages: true,
		Bad: []plugintest.BadOption{
			{Options: core.Options{}, Key: "dir"},
			{Options: core.Options{"dir": t.TempDir()}, Key: "dir"}, // no train.npy
			{Options: core.Options{"dir": filepath.Join(dir, "nope")}, Key: "dir"},
		},
	})
}

func TestConformanceLabelled(t *testing.T) {
	dir := t.TempDir()
	writeFeatures(t, dir, "train", 6, 3)
	writeFeatures(t, dir, "test", 3, 3)
	write(t, filepath.Join(dir, "train_labels.txt"), "cat\ndog\n\ncat\nbird\ndog\n")
	if err := npy.WriteInt32(filepath.Join(dir, "test_labels.npy"), []int32{2, -1, 0}, 3); err != nil {
		t.Fatal(err)
	}
	plugintest.Dataset(t, Dataset{}, plugintest.DatasetCase{Options: core.Options{"dir": dir}, NoImages: true})
	info, err := Dataset{}.Describe(context.Background(), core.Options{"dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Classes, []string{"bird", "cat", "dog"}) {
		t.Errorf("classes %v, want the sorted names", info.Classes)
	}
	if got := labelsOf(t, dir, "train"); !slices.Equal(got, []int32{1, 2, -1, 1, 0, 2}) {
		t.Errorf("train labels %v", got)
	}
	if got := labelsOf(t, dir, "test"); !slices.Equal(got, []int32{2, -1, 0}) {
		t.Errorf("test labels %v", got)
	}
	// classes.txt fixes the order and the names.
	write(t, filepath.Join(dir, "classes.txt"), "dog\ncat\nbird\n")
	if got := labelsOf(t, dir, "train"); !slices.Equal(got, []int32{1, 0, -1, 1, 2, 0}) {
		t.Errorf("train labels with classes.txt %v", got)
	}
	// Changing a labels file changes the identity.
	write(t, filepath.Join(dir, "train_labels.txt"), "cat\ndog\ncat\ncat\nbird\ndog\n")
	again, err := Dataset{}.Describe(context.Background(), core.Options{"dir": dir})
	if err != nil || again.Identity == info.Identity {
		t.Errorf("identity unchanged after the labels changed (%v)", err)
	}
}

func labelsOf(t *testing.T, dir, split string) []int32 {
	t.Helper()
	var out []int32
	err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: core.Options{"dir": dir}, Split: split, BatchSize: 4}, func(b core.ImageBatch) error {
		if len(b.Pixels) != 0 || b.Height != 0 || b.Channels != 0 {
			t.Errorf("a batch with pixels: %dx%dx%d, %d bytes", b.Height, b.Width, b.Channels, len(b.Pixels))
		}
		out = append(out, b.Labels...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestBadFolders(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"labels too short", func(dir string) { write(t, filepath.Join(dir, "train_labels.txt"), "1\n2\n") }, "has 2 lines for the 5 rows"},
		{"both labels files", func(dir string) {
			write(t, filepath.Join(dir, "train_labels.txt"), "1\n1\n1\n1\n1\n")
			_ = npy.WriteInt32(filepath.Join(dir, "train_labels.npy"), []int32{1, 1, 1, 1, 1}, 5)
		}, "keep one"},
		{"unknown class", func(dir string) {
			write(t, filepath.Join(dir, "classes.txt"), "a\nb\n")
			write(t, filepath.Join(dir, "train_labels.txt"), "a\nb\nc\na\na\n")
		}, `class "c" is not in`},
		{"label beyond classes", func(dir string) {
			write(t, filepath.Join(dir, "classes.txt"), "a\nb\n")
			_ = npy.WriteInt32(filepath.Join(dir, "train_labels.npy"), []int32{0, 1, 2, 0, 0}, 5)
		}, "label 2 but"},
		{"not features", func(dir string) { _ = npy.WriteInt32(filepath.Join(dir, "train.npy"), []int32{1, 2}, 2) }, "want [N, D]"},
		{"duplicate class", func(dir string) { write(t, filepath.Join(dir, "classes.txt"), "a\nb\na\n") }, `names class "a" twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFeatures(t, dir, "train", 5, 2)
			c.setup(dir)
			_, err := Dataset{}.Describe(context.Background(), core.Options{"dir": dir})
			plugintest.WantInvalid(t, c.name, err, c.want)
			if err != nil && !strings.Contains(err.Error(), dir) {
				t.Errorf("the error does not name the folder or file: %v", err)
			}
		})
	}
}
