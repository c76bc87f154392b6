package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/clusterlab/clusterlab/backbones/dinov2/preprocess"
	"github.com/clusterlab/clusterlab/core"
)

// The embedding pipeline. Four stages run at once, linked by channels:
//
//	reader      in.Next; cuts the stream of images into model batches of
//	            exactly session.batch images (an input batch may be split
//	            over model batches or a model batch gather several input
//	            batches), each bound to a free input tensor of the ring
//	preprocess  resizes and normalises a model batch into its tensor, the
//	            images spread over GOMAXPROCS goroutines
//	inference   runs the model, pools, hands the tensor back to the ring
//	emitter     (the caller's goroutine) regroups the embeddings by input
//	            batch and calls send, so transport overlaps the rest
//
// Preprocessing of batch k+1 thus overlaps inference of batch k. The ring
// of ringSize tensors bounds the memory and the read-ahead.

// segment is a run of images of one input batch inside a model batch.
type segment struct {
	pixels []uint8 // n images, HWC
	n, at  int     // count, and position of the first in the model batch
}

// job is one model batch.
type job struct {
	in   *ort.Tensor[float32]
	n    int // real images; the rest of the tensor is padding
	segs []segment
}

// span is an input batch, in stream order.
type span struct{ offset, count int }

// geometry is the shape of every image of the stream.
type geometry struct{ h, w, c int }

func (g geometry) String() string { return fmt.Sprintf("%dx%dx%d (HxWxC)", g.h, g.w, g.c) }

func geometryOf(b core.ImageBatch) geometry { return geometry{b.Height, b.Width, b.Channels} }

func (g geometry) check(b core.ImageBatch, first geometry) error {
	if got := geometryOf(b); got != first {
		return invalid("batch at offset %d has images of %v, the first batch %v; a stream's images must all have one size", b.Offset, got, first)
	}
	if b.Count < 0 || len(b.Pixels) != b.Count*g.h*g.w*g.c {
		return invalid("batch at offset %d: %d pixel values for %d images of %v (want %d)", b.Offset, len(b.Pixels), b.Count, g, b.Count*g.h*g.w*g.c)
	}
	return nil
}

// embed runs the pipeline over first and the rest of in.
func (s *session) embed(ctx context.Context, plan *preprocess.Plan, first core.ImageBatch, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// A cancelled context also stops a model run in progress.
	stopRun := context.AfterFunc(ctx, func() { _ = s.runOpts.Terminate() })
	defer stopRun()

	geom := geometryOf(first)
	free := make(chan *ort.Tensor[float32], len(s.ring))
	for _, t := range s.ring {
		free <- t
	}
	spans := make(chan span, 64)
	toPre := make(chan *job, 1)
	toRun := make(chan *job, 1)
	results := make(chan []float32, 4)

	// The reader may be blocked in in.Next when the pipeline stops early;
	// it touches no tensor data, so it is left to finish on its own (the
	// caller cancels what in depends on) and not waited for.
	go s.read(ctx, cancel, geom, first, in, free, spans, toPre)
	var wg sync.WaitGroup
	wg.Go(func() { s.preprocess(ctx, cancel, plan, toPre, toRun) })
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

func (s *session) read(ctx context.Context, fail context.CancelCauseFunc, geom geometry, b core.ImageBatch, in core.BatchReader,
	free <-chan *ort.Tensor[float32], spans chan<- span, toPre chan<- *job) {
	defer close(toPre)
	defer close(spans)
	imgLen := geom.h * geom.w * geom.c
	var cur *job
	for {
		if err := geom.check(b, geom); err != nil {
			fail(fmt.Errorf("dinov2: %w", err))
			return
		}
		select {
		case spans <- span{b.Offset, b.Count}:
		case <-ctx.Done():
			return
		}
		for i := 0; i < b.Count; {
			if cur == nil {
				select {
				case t := <-free:
					cur = &job{in: t}
				case <-ctx.Done():
					return
				}
			}
			k := min(s.batch-cur.n, b.Count-i)
			cur.segs = append(cur.segs, segment{pixels: b.Pixels[i*imgLen : (i+k)*imgLen], n: k, at: cur.n})
			cur.n += k
			i += k
			if cur.n == s.batch {
				select {
				case toPre <- cur:
				case <-ctx.Done():
					return
				}
				cur = nil
			}
		}
		next, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(fmt.Errorf("dinov2: read images: %w", err))
			return
		}
		b = next
	}
	if cur != nil {
		select {
		case toPre <- cur:
		case <-ctx.Done():
		}
	}
}

func (s *session) preprocess(ctx context.Context, fail context.CancelCauseFunc, plan *preprocess.Plan, toPre <-chan *job, toRun chan<- *job) {
	defer close(toRun)
	tl := plan.TensorLen()
	for {
		var j *job
		select {
		case v, ok := <-toPre:
			if !ok {
				return
			}
			j = v
		case <-ctx.Done():
			return
		}
		data := j.in.GetData()
		for _, sg := range j.segs {
			if err := plan.Batch(ctx, sg.pixels, sg.n, data[sg.at*tl:(sg.at+sg.n)*tl], 0); err != nil {
				fail(fmt.Errorf("dinov2: preprocess: %w", err))
				return
			}
		}
		clear(data[j.n*tl:]) // padding of the last batch
		select {
		case toRun <- j:
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
