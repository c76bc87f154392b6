package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/images/decode"
)

// TestReadAfterHoles reads a folder where images whose header is fine fail
// to decode (on_error: skip): Read plans each image's place in its batch
// before decoding it, and the batches must still be those of the images
// read, in order, full, with each image's own pixels.
func TestReadAfterHoles(t *testing.T) {
	root := t.TempDir()
	bad := map[int]bool{1: true, 4: true, 9: true}
	var want []string
	for i := range 12 {
		p := filepath.Join(root, fmt.Sprintf("%02d.png", i))
		h := 6
		if i >= 7 {
			h = 5 // a size change in the middle
		}
		writePNG(t, p, h, 8, i)
		if bad[i] {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-20] ^= 0xFF // inside the IDAT data: its CRC no longer matches
			writeFile(t, p, string(b))
			continue
		}
		want = append(want, filepath.Base(p))
	}
	opts := core.Options{"root": root, "on_error": "skip"}
	for _, batch := range []int{1, 2, 3, 16} {
		bs, err := readAll(opts, "train", batch)
		if err != nil {
			t.Fatal(err)
		}
		checkBatches(t, root, batch, bs, want)
	}
}

// TestReadBatchesBySize reads images of three sizes: the batches hold the
// images in order, each with its own pixels, a new batch where the size
// changes.
func TestReadBatchesBySize(t *testing.T) {
	root := t.TempDir()
	var want []string
	for i := range 40 {
		name := fmt.Sprintf("%02d.png", i)
		writePNG(t, filepath.Join(root, name), 6+i/15, 8, i)
		want = append(want, name)
	}
	opts := core.Options{"root": root}
	for _, batch := range []int{1, 3, 7, 64} {
		bs, err := readAll(opts, "train", batch)
		if err != nil {
			t.Fatal(err)
		}
		checkBatches(t, root, batch, bs, want)
	}
}

// decodeFile reads and decodes one image file.
func decodeFile(path string) (decode.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return decode.Image{}, err
	}
	return decode.Decode(data)
}

// checkBatches checks that bs hold the images named want, in order, each
// with its own pixels, in full batches of at most batch images of one size.
func checkBatches(t *testing.T, root string, batch int, bs []core.ImageBatch, want []string) {
	t.Helper()
	var names []string
	for _, b := range bs {
		per := b.Height * b.Width * 3
		if b.Offset != len(names) || len(b.Pixels) != b.Count*per || b.Count > batch || b.Count == 0 {
			t.Fatalf("batch %d: a batch of %d at %d with %d bytes of %dx%d", batch, b.Count, b.Offset, len(b.Pixels), b.Height, b.Width)
		}
		for j, name := range b.Names {
			im, err := decodeFile(filepath.Join(root, name))
			if err != nil {
				t.Fatal(err)
			}
			if im.Height != b.Height || !bytes.Equal(im.Pix, b.Pixels[j*per:(j+1)*per]) {
				t.Errorf("batch %d: %s has other pixels than its file", batch, name)
			}
		}
		names = append(names, b.Names...)
	}
	if !slices.Equal(names, want) {
		t.Errorf("batch %d: read %v, want %v", batch, names, want)
	}
	// Full batches: only the size change or the end cuts one short.
	for k, b := range bs[:len(bs)-1] {
		if b.Count < batch && bs[k+1].Height == b.Height {
			t.Errorf("batch %d: batch %d holds %d images, then %d more of its size", batch, k, b.Count, bs[k+1].Count)
		}
	}
}
