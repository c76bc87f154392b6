package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/clusterlab/clusterlab/backbones/internal/imageprep"
	"github.com/clusterlab/clusterlab/core"
)

// Backbone embeds images with a DINOv2 ONNX model on ONNX Runtime. The zero
// value is ready to use.
type Backbone struct{}

var _ core.Backbone = Backbone{}

// Describe implements core.Backbone. With options it loads the model's
// description (not its weights) to check that its inputs and outputs fit
// the options, and hashes the model file for the identity.
func (Backbone) Describe(ctx context.Context, opts core.Options) (core.BackboneInfo, error) {
	d := description()
	if opts == nil {
		return core.BackboneInfo{Description: d}, nil
	}
	p, err := resolve(opts)
	if err != nil {
		return core.BackboneInfo{}, err
	}
	d.Options = schemaOf(opts)
	// A model file that is missing or is not a DINOv2 export is the
	// model option's fault: the runner names that key.
	m, err := loadModel(p.model)
	if err != nil {
		return core.BackboneInfo{}, modelFault(fmt.Errorf("dinov2: %w", err))
	}
	if _, err := m.checkIO(p); err != nil {
		return core.BackboneInfo{}, modelFault(fmt.Errorf("dinov2: %w", err))
	}
	d.Identity = p.identity(m.sha256)
	return core.BackboneInfo{Description: d}, nil
}

// Fit implements core.Backbone. The model is frozen: there is nothing to
// fit, and the runner does not call Fit since NeedsFit is false.
func (Backbone) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	return nil
}

// Embed implements core.Backbone: one EmbeddingBatch per image batch, in
// order. The model session is created when the first images give the
// model input size; later batches may hold images of other sizes as long
// as they preprocess to that size (see stream.go). See pipeline.go for how
// reading, preprocessing, inference and sending overlap.
func (Backbone) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	p, err := resolve(req.Options)
	if err != nil {
		return err
	}
	m, err := loadModel(p.model)
	if err != nil {
		return fmt.Errorf("dinov2: %w", err)
	}
	st := newStream(p, req.Dataset)
	// Read up to the first batch with images: their size fixes the model
	// input size, and so the session.
	var head []core.ImageBatch
	var plan *imageprep.Plan
	for plan == nil {
		b, err := in.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("dinov2: read images: %w", err)
		}
		if err := st.check(b); err != nil {
			return err
		}
		head = append(head, b)
		if b.Count > 0 {
			if plan, err = st.plan(b); err != nil {
				return err
			}
		}
	}
	if plan == nil {
		// No images: each empty batch gets its empty answer, no model runs.
		for _, b := range head {
			if err := send(core.EmbeddingBatch{Offset: b.Offset}); err != nil {
				return err
			}
		}
		return nil
	}
	oh, ow := plan.OutputSize()
	s, err := takeSession(m, p, oh, ow)
	if err != nil {
		return fmt.Errorf("dinov2: %w", err)
	}
	if err := s.embed(ctx, st, head, in, send); err != nil {
		s.destroy()
		return err
	}
	release(s)
	return nil
}

// modelFault attributes an invalid-input error of the model to the model
// option; other errors (the runtime failing) stay as they are.
func modelFault(err error) error {
	if errors.Is(err, core.ErrInvalidInput) {
		return core.OptionFault(optModel, err)
	}
	return err
}
