// Package synthdata generates the deterministic images and embeddings the
// test plugins serve, so that the tests can check every byte that crossed
// the plugin boundary.
package synthdata

import "github.com/clusterlab/clusterlab/core"

// Pixel is the value of channel c at (y, x) of image i of split.
func Pixel(split string, i, y, x, c int) uint8 {
	salt := 0
	if split == core.SplitTest {
		salt = 101
	}
	return uint8(i*7 + y*3 + x*5 + c*11 + salt)
}

// Label is the label of image i: -1 (unknown) for every 13th image.
func Label(i, classes int) int32 {
	if i%13 == 0 {
		return -1
	}
	return int32(i % classes)
}

// Batch returns images offset..offset+count-1 of split.
func Batch(split string, offset, count, h, w, ch, classes int) core.ImageBatch {
	b := core.ImageBatch{
		Offset: offset, Count: count, Height: h, Width: w, Channels: ch,
		Pixels: make([]uint8, 0, count*h*w*ch),
		Labels: make([]int32, 0, count),
	}
	for i := offset; i < offset+count; i++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < ch; c++ {
					b.Pixels = append(b.Pixels, Pixel(split, i, y, x, c))
				}
			}
		}
		b.Labels = append(b.Labels, Label(i, classes))
	}
	return b
}

// ChannelSums adds the pixels of every image of b per channel into sums.
func ChannelSums(b core.ImageBatch, sums []int64) {
	for i, v := range b.Pixels {
		sums[i%b.Channels] += int64(v)
	}
}

// Dim is the embedding dimension of the meanpix backbone.
func Dim(channels, repeat int) int { return (channels + 1) * repeat }

// Embed returns the meanpix embeddings of b: per image, the mean of each
// channel minus center, then the image's index, all repeated repeat times.
func Embed(b core.ImageBatch, center []float64, repeat int) []float32 {
	per := b.Height * b.Width * b.Channels
	row := make([]float32, b.Channels+1)
	out := make([]float32, 0, b.Count*Dim(b.Channels, repeat))
	for i := 0; i < b.Count; i++ {
		sums := make([]int64, b.Channels)
		for j, v := range b.Pixels[i*per : (i+1)*per] {
			sums[j%b.Channels] += int64(v)
		}
		for c := range sums {
			row[c] = float32(float64(sums[c])/float64(b.Height*b.Width) - center[c])
		}
		row[b.Channels] = float32(b.Offset + i)
		for r := 0; r < repeat; r++ {
			out = append(out, row...)
		}
	}
	return out
}
