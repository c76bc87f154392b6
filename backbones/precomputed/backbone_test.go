package main

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
)

type batches struct {
	list []core.ImageBatch
	i    int
}

func (b *batches) Next() (core.ImageBatch, error) {
	if b.i >= len(b.list) {
		return core.ImageBatch{}, io.EOF
	}
	b.i++
	return b.list[b.i-1], nil
}

func split(n, per int) *batches {
	var out batches
	for off := 0; off < n; off += per {
		c := min(per, n-off)
		out.list = append(out.list, core.ImageBatch{Offset: off, Count: c, Height: 1, Width: 1, Channels: 1, Pixels: make([]uint8, c), Labels: make([]int32, c)})
	}
	return &out
}

func dataset(train, test int) core.DatasetInfo {
	return core.DatasetInfo{Description: core.Description{Name: "toy"}, Splits: []core.SplitInfo{{Name: "train", Count: train}, {Name: "test", Count: test}}}
}

func TestEmbedRowsInOrder(t *testing.T) {
	dir := t.TempDir()
	vals := make([]float32, 7*3)
	for i := range vals {
		vals[i] = float32(i)
	}
	npy.WriteFloat32(filepath.Join(dir, "train.npy"), vals, 7, 3)
	npy.WriteFloat32(filepath.Join(dir, "test.npy"), vals[:6], 2, 3)
	bb := Backbone{}
	opts := core.Options{"dir": dir}
	info, err := bb.Describe(context.Background(), opts)
	if err != nil || info.NeedsFit || !strings.Contains(info.Identity, "train.npy=") {
		t.Fatalf("%+v %v", info, err)
	}
	var got []float32
	err = bb.Embed(context.Background(), core.EmbedRequest{Options: opts, Split: "train", Dataset: dataset(7, 2)}, split(7, 3), func(b core.EmbeddingBatch) error {
		if b.Dim != 3 || len(b.Values) != b.Count*3 {
			t.Fatalf("bad batch %+v", b)
		}
		got = append(got, b.Values...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range vals {
		if got[i] != vals[i] {
			t.Fatalf("row data differs at %d: %v", i, got)
		}
	}
	// Changing a file changes the identity.
	npy.WriteFloat32(filepath.Join(dir, "test.npy"), vals[3:9], 2, 3)
	info2, _ := bb.Describe(context.Background(), opts)
	if info2.Identity == info.Identity {
		t.Fatal("identity must change with the files")
	}
}

func TestFloat16And64(t *testing.T) {
	// numpy-written files of other float types (core/npy/testdata).
	for _, name := range []string{"f8.npy", "f4.npy"} {
		src := filepath.Join("..", "..", "core", "npy", "testdata", name)
		bb := Backbone{}
		var got []float32
		err := bb.Embed(context.Background(), core.EmbedRequest{Options: core.Options{"train": src}, Split: "train", Dataset: dataset(2, 0)}, split(2, 1), func(b core.EmbeddingBatch) error {
			got = append(got, b.Values...)
			return nil
		})
		if err != nil || len(got) != 6 || got[1] != -2.25 {
			t.Fatalf("%s: %v %v", name, got, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	npy.WriteFloat32(filepath.Join(dir, "train.npy"), []float32{1, 2, 3, 4}, 2, 2)
	npy.WriteFloat32(filepath.Join(dir, "nan.npy"), []float32{1, float32(math.NaN()), 3, 4}, 2, 2)
	npy.WriteFloat32(filepath.Join(dir, "flat.npy"), []float32{1, 2}, 2)
	os.WriteFile(filepath.Join(dir, "garbage.npy"), []byte("not numpy"), 0o644)
	bb := Backbone{}
	cases := map[string]struct {
		opts core.Options
		ds   core.DatasetInfo
		want string
	}{
		"count":   {core.Options{"dir": dir}, dataset(3, 0), "has 3 images"},
		"nan":     {core.Options{"train": filepath.Join(dir, "nan.npy")}, dataset(2, 0), "row 0, column 1"},
		"shape":   {core.Options{"train": filepath.Join(dir, "flat.npy")}, dataset(2, 0), "want [N, D]"},
		"garbage": {core.Options{"train": filepath.Join(dir, "garbage.npy")}, dataset(2, 0), "garbage.npy"},
		"missing": {core.Options{"train": filepath.Join(dir, "nope.npy")}, dataset(2, 0), "nope.npy"},
	}
	for name, tc := range cases {
		err := bb.Embed(context.Background(), core.EmbedRequest{Options: tc.opts, Split: "train", Dataset: tc.ds}, split(2, 2), func(core.EmbeddingBatch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: want invalid-input error containing %q, got %v", name, tc.want, err)
		}
	}
	if _, err := bb.Describe(context.Background(), core.Options{}); err == nil {
		t.Error("Describe without dir or train must fail")
	}
	if _, err := bb.Describe(context.Background(), core.Options{"dir": t.TempDir()}); err == nil {
		t.Error("Describe with an empty dir must fail")
	}
}
