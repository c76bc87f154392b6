package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strconv"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// toHWC turns one image as STL-10 stores it (three channel planes, each
// 96x96 in column-major order: byte x*96+y of a plane is row y, column x)
// into upright interleaved pixels: exactly torchvision's
// np.transpose(np.reshape(raw, (3, 96, 96)), (0, 2, 1)) followed by its
// __getitem__'s np.transpose(img, (1, 2, 0)).
func toHWC(dst, src []byte) {
	for c := range channels {
		plane := src[c*planeBytes : (c+1)*planeBytes]
		for x := range side {
			col := plane[x*side : (x+1)*side]
			for y, v := range col {
				dst[(y*side+x)*channels+c] = v
			}
		}
	}
}

// batcher assembles the images of a split into batches and sends them.
type batcher struct {
	s    *splitView
	size int
	send func(core.ImageBatch) error
	cur  core.ImageBatch
	next int // index within the split of the next image
}

func newBatcher(s *splitView, size int, send func(core.ImageBatch) error) *batcher {
	return &batcher{s: s, size: size, send: send}
}

// add appends image raw (as stored) to the current batch, sending it when
// it is full.
func (b *batcher) add(raw []byte) error {
	if b.cur.Count == 0 {
		n := min(b.size, b.s.n-b.next)
		// Fresh slices: a consumer may keep or modify its batch.
		b.cur = core.ImageBatch{
			Offset: b.next, Height: side, Width: side, Channels: channels,
			Pixels: make([]uint8, n*imageBytes), Labels: make([]int32, 0, n),
		}
	}
	i := b.cur.Count
	toHWC(b.cur.Pixels[i*imageBytes:(i+1)*imageBytes], raw)
	label := int32(-1)
	if b.s.labels != nil {
		label = b.s.labels[b.next]
	}
	b.cur.Labels = append(b.cur.Labels, label)
	b.cur.Count++
	b.next++
	if b.cur.Count*imageBytes == len(b.cur.Pixels) {
		batch := b.cur
		b.cur = core.ImageBatch{}
		return b.send(batch)
	}
	return nil
}

// stream delivers the images of split s from src in batches of at most
// size images.
func stream(ctx context.Context, src source, s *splitView, size int, send func(core.ImageBatch) error) error {
	b := newBatcher(s, size, send)
	if src.archive != "" {
		return streamArchive(ctx, src.archive, s, b)
	}
	return streamFolder(ctx, s, b)
}

// streamFolder reads the images of s from its file by seeking: the first n
// images in one sequential read, or a fold's images one by one.
func streamFolder(ctx context.Context, s *splitView, b *batcher) error {
	f, err := os.Open(s.x.loc.file)
	if err != nil {
		return err
	}
	defer f.Close()
	raw := make([]byte, imageBytes)
	short := func(i int, n int, err error) error {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return &FormatError{Dataset: datasetName, File: s.x.loc.file, Offset: int64(i)*imageBytes + int64(n), Err: err,
			Msg: "data ends inside image " + strconv.Itoa(i) + ": " + distfile.StreamProblem(err, false)}
	}
	if s.sel == nil {
		br := bufio.NewReaderSize(f, 1<<20)
		for i := range s.n {
			if err := ctx.Err(); err != nil {
				return err
			}
			if n, err := io.ReadFull(br, raw); err != nil {
				return short(i, n, err)
			}
			if err := b.add(raw); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range s.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		img := s.sel[i]
		if n, err := f.ReadAt(raw, int64(img)*imageBytes); n < imageBytes {
			return short(img, n, err)
		}
		if err := b.add(raw); err != nil {
			return err
		}
	}
	return nil
}

// streamArchive reads the images of s by decompressing the archive from its
// start to the split's member (random access into a gzip stream is
// impossible), then the member's images in order. A fold, which lists its
// images out of order, is gathered first (its images only: 1000 x 27 KB
// for a fold as distributed) and sent in the fold's order.
func streamArchive(ctx context.Context, p string, s *splitView, b *batcher) error {
	as, err := openArchive(ctx, p)
	if err != nil {
		return err
	}
	defer as.Close()
	for {
		hdr, base, err := as.next()
		if err == io.EOF {
			return distfile.Invalidf("archive %s changed since it was indexed: member %s/%s is gone", p, folderName, s.x.base)
		}
		if err != nil {
			return err
		}
		if base != s.x.base {
			continue
		}
		if hdr.Size != s.x.size {
			return distfile.Invalidf("archive %s changed since it was indexed: member %s is %d bytes, was %d", p, hdr.Name, hdr.Size, s.x.size)
		}
		break
	}
	loc := s.x.loc
	raw := make([]byte, imageBytes)
	read := func(i int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.ReadFull(as.tr, raw)
		if err != nil {
			return as.memberError(loc, int64(i)*imageBytes+int64(n), s.x.size, err)
		}
		return nil
	}
	if s.sel == nil {
		for i := range s.n {
			if err := read(i); err != nil {
				return err
			}
			if err := b.add(raw); err != nil {
				return err
			}
		}
		return nil
	}
	slot := map[int]int{} // image index -> place in held
	last := 0
	for _, img := range s.sel {
		if _, ok := slot[img]; !ok {
			slot[img] = len(slot)
		}
		last = max(last, img)
	}
	held := make([][]byte, len(slot))
	for i := 0; i <= last; i++ {
		if err := read(i); err != nil {
			return err
		}
		if j, ok := slot[i]; ok {
			held[j] = append([]byte(nil), raw...)
		}
	}
	for _, img := range s.sel {
		if err := b.add(held[slot[img]]); err != nil {
			return err
		}
	}
	return nil
}
