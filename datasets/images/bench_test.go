package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// photoJPEG encodes a size x size photo-like picture (gradients, edges,
// noise) as a 4:2:0 JPEG of quality 90.
func photoJPEG(tb testing.TB, size, seed int) []byte {
	tb.Helper()
	m := image.NewRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			n := (x*7919 + y*104729 + seed*31) % 23
			edge := 0
			if (x/37+y/29+seed)%2 == 0 {
				edge = 60
			}
			m.Set(x, y, color.RGBA{uint8(x + edge + n), uint8(y + n), uint8((x+y)/2 + edge), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkRead reads 256 JPEGs of 256x256 through Read, the images
// decoded on every core, in batches of about 1 MiB as the runner asks.
func BenchmarkRead(b *testing.B) {
	root := b.TempDir()
	for i := range 256 {
		writeFile(b, filepath.Join(root, fmt.Sprintf("%03d.jpg", i)), string(photoJPEG(b, 256, i)))
	}
	opts := core.Options{"root": root}
	b.SetBytes(256 * 256 * 256 * 3)
	for b.Loop() {
		n := 0
		err := Dataset{}.Read(context.Background(), core.ReadRequest{Options: opts, Split: "train", BatchSize: 5}, func(bt core.ImageBatch) error {
			n += bt.Count
			return nil
		})
		if err != nil || n != 256 {
			b.Fatal(n, err)
		}
	}
	b.ReportMetric(float64(256*b.N)/b.Elapsed().Seconds(), "images/s")
}
