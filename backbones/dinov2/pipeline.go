package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// The embedding pipeline. Four stages run at once, linked by channels:
//
//	reader      in.Next; cuts the stream of images into model batches of
//	            exactly session.batch images (an input batch may be split
//	            over model batches or a model batch gather several input
//	            batches, of different sizes), each bound to a free input
//	            tensor of the ring, and hands them to preprocessing in
//	            chunks
//	preprocess  resizes and normalises each chunk into its part of the
//	            tensor, every image with the plan of its own input size,
//	            the images spread over GOMAXPROCS goroutines
//	inference   runs the model, pools, hands the tensor back to the ring
//	emitter     (the caller's goroutine) regroups the embeddings by input
//	            batch and calls send, so transport overlaps the rest
//
// Preprocessing of batch k+1 thus overlaps inference of batch k. The ring
// of ringSize tensors bounds the tensor memory and the read-ahead; the
// pixels waiting for preprocessing are bounded too: a model batch goes to
// preprocessing as soon as it is full, or in chunks of about chunkBytes
// when its images are large (a model batch of 32 photos of 12 megapixels
// would otherwise hold over a gigabyte of pixels).

// chunkBytes is the amount of input pixels after which the reader hands
// the part of a model batch it has gathered to preprocessing. Small images
// never reach it: a model batch is then one chunk.
var chunkBytes = 64 << 20 // a variable for the test of chunked batches

// segment is a run of images of one input batch inside a model batch.
type segment struct {
	plan   *imageprep.Plan // for the images' size
	pixels []uint8         // n images, HWC
	n, at  int             // count, and position of the first in the model batch
}

// job is one model batch.
type job struct {
	in *ort.Tensor[float32]
	n  int // real images; the rest of the tensor is padding
}

// chunk is the part of a model batch handed to preprocessing at once; the
// last chunk of a job sends it on to inference.
type chunk struct {
	j    *job
	segs []segment
	last bool
}

// span is an input batch, in stream order.
type span struct{ offset, count int }

// embed runs the pipeline over head (batches already read and checked by
// Embed) and the rest of in.
func (s *session) embed(ctx context.Context, st *stream, head []core.ImageBatch, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A cancelled context also stops a model run in progress.
	stopRun := context.AfterFunc(ctx, func() { _ = s.runOpts.Terminate() })
	defer stopRun()

	free := make(chan *ort.Tensor[float32], len(s.ring))
	for _, t := range s.ring {
		free <- t
	}
	spans := make(chan span, 64)
	toPre := make(chan *chunk, 1)
	toRun := make(chan *job, 1)
	results := make(chan []float32, 4)

	// The reader may be blocked in in.Next when the pipeline stops early;
	// it touches no tensor data, so it is left to finish on its own (the
	// caller cancels what in depends on) and not waited for.
	go s.read(ctx, cancel, st, head, in, free, spans, toPre)
	var wg sync.WaitGroup
	wg.Go(func() { s.preprocess(ctx, cancel, toPre, toRun) })
	wg.Go(func() { s.infer(ctx, cancel, toRun, free, results) })
	defer wg.Wait() // before the caller frees the tensors

	var queue []span
	var pending []float32 // embeddings not yet sent, in stream order
	e := s.lay.embedDim()
	// flush sends every input batch whose embeddings are all there.
	flush := func() error {
		for len(queue) > 0 && len(pending) >= queue[0].count*e {
			sp := queue[0]
			queue = queue[1:]
			n := sp.count * e
			vals := pending[:n:n]
			pending = pending[n:]
			if err := send(core.EmbeddingBatch{Offset: sp.offset, Count: sp.count, Dim: e, Values: vals}); err != nil {
				cancel(err)
				return err
			}
		}
		return nil
	}
	for spans != nil || results != nil {
		if err := flush(); err != nil {
			return err
		}
		select {
		case sp, ok := <-spans:
			if !ok {
				spans = nil
				continue
			}
			queue = append(queue, sp)
		case r, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			pending = append(pending, r...)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if len(queue) > 0 || len(pending) > 0 {
		return fmt.Errorf("dinov2: internal error: %d input batches and %d embedding values left over", len(queue), len(pending))
	}
	return nil
}

func (s *session) read(ctx context.Context, fail context.CancelCauseFunc, st *stream, head []core.ImageBatch, in core.BatchReader,
	free <-chan *ort.Tensor[float32], spans chan<- span, toPre chan<- *chunk) {
	defer close(toPre)
	defer close(spans)
	var cur *job
	var segs []segment
	held := 0 // pixel bytes in segs
	// hand passes the gathered segments of cur on; the last chunk of a
	// job completes it.
	hand := func(last bool) bool {
		select {
		case toPre <- &chunk{j: cur, segs: segs, last: last}:
		case <-ctx.Done():
			return false
		}
		segs, held = nil, 0
		if last {
			cur = nil
		}
		return true
	}
	// add cuts one batch into segments of model batches.
	add := func(b core.ImageBatch) bool {
		if err := st.check(b); err != nil {
			fail(err)
			return false
		}
		var plan *imageprep.Plan
		if b.Count > 0 {
			var err error
			if plan, err = st.plan(b); err != nil {
				fail(err)
				return false
			}
		}
		select {
		case spans <- span{b.Offset, b.Count}:
		case <-ctx.Done():
			return false
		}
		imgLen := b.Height * b.Width * b.Channels
		for i := 0; i < b.Count; {
			if cur == nil {
				select {
				case t := <-free:
					cur = &job{in: t}
				case <-ctx.Done():
					return false
				}
			}
			k := min(s.batch-cur.n, b.Count-i)
			segs = append(segs, segment{plan: plan, pixels: b.Pixels[i*imgLen : (i+k)*imgLen], n: k, at: cur.n})
			held += k * imgLen
			cur.n += k
			i += k
			switch {
			case cur.n == s.batch:
				if !hand(true) {
					return false
				}
			case held >= chunkBytes:
				if !hand(false) {
					return false
				}
			}
		}
		return true
	}
	for _, b := range head {
		if !add(b) {
			return
		}
	}
	for {
		b, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(fmt.Errorf("dinov2: read images: %w", err))
			return
		}
		if !add(b) {
			return
		}
	}
	if cur != nil {
		hand(true)
	}
}

func (s *session) preprocess(ctx context.Context, fail context.CancelCauseFunc, toPre <-chan *chunk, toRun chan<- *job) {
	defer close(toRun)
	tl := 3 * s.h * s.w // every plan of the stream makes tensors of this size
	for {
		var c *chunk
		select {
		case v, ok := <-toPre:
			if !ok {
				return
			}
			c = v
		case <-ctx.Done():
			return
		}
		data := c.j.in.GetData()
		works := make([]imageprep.Work, 0, len(c.segs))
		for _, sg := range c.segs {
			works = append(works, imageprep.Work{Plan: sg.plan, Pixels: sg.pixels, N: sg.n, Dst: data[sg.at*tl : (sg.at+sg.n)*tl]})
		}
		if err := imageprep.Run(ctx, works, 0); err != nil {
			fail(fmt.Errorf("dinov2: preprocess: %w", err))
			return
		}
		if !c.last {
			continue
		}
		clear(data[c.j.n*tl:]) // padding of the last batch
		select {
		case toRun <- c.j:
		case <-ctx.Done():
			return
		}
	}
}

func (s *session) infer(ctx context.Context, fail context.CancelCauseFunc, toRun <-chan *job, free chan<- *ort.Tensor[float32], results chan<- []float32) {
	acc := make([]float64, s.lay.dim)
	e := s.lay.embedDim()
	done := 0
	for {
		var j *job
		select {
		case v, ok := <-toRun:
			if !ok {
				close(results)
				return
			}
			j = v
		case <-ctx.Done():
			return
		}
		if err := s.sess.RunWithOptions([]ort.Value{j.in}, s.outputs, s.runOpts); err != nil {
			if ctx.Err() == nil {
				fail(fmt.Errorf("dinov2: run model %s on images %d to %d of the stream: %w", s.m.path, done, done+j.n-1, err))
			}
			return
		}
		emb := make([]float32, j.n*e)
		s.lay.pool(s.out, s.cls, j.n, emb, acc)
		done += j.n
		free <- j.in // never blocks: the ring fits in free
		select {
		case results <- emb:
		case <-ctx.Done():
			return
		}
	}
}
