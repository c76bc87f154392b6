package core

import "context"

// BackboneInfo is what a backbone plugin reports for a set of options.
type BackboneInfo struct {
	Description
	// NeedsFit is true for backbones that must see the train split before
	// they can embed (e.g. PCA). The runner then calls Fit once with the
	// train split and a state directory, before any Embed.
	NeedsFit bool
}

// EmbeddingBatch is the embeddings of one ImageBatch, in the same order.
type EmbeddingBatch struct {
	Offset int
	Count  int
	Dim    int
	Values []float32 // Count x Dim, row-major
}

// EmbedRequest configures one Fit or Embed stream.
type EmbedRequest struct {
	Options Options
	// StateDir is a directory owned by this backbone configuration in the
	// store: Fit writes its fitted state there, Embed reads it. The
	// backbone must write atomically (temporary file, rename).
	StateDir string
	// Dataset is the dataset's info, so a backbone knows the image shape
	// and can fold the dataset identity into its own state if needed.
	Dataset DatasetInfo
	Split   string
}

// Backbone is implemented by backbone plugins (backbones/*).
type Backbone interface {
	// Describe validates opts (nil for schema only) and returns the
	// backbone's description; Identity must cover everything that changes
	// the embeddings (model file hash, preprocessing, fitted dimensions).
	Describe(ctx context.Context, opts Options) (BackboneInfo, error)
	// Fit consumes the train split once and stores the fitted state in
	// req.StateDir. Only called when NeedsFit.
	Fit(ctx context.Context, req EmbedRequest, in BatchReader) error
	// Embed reads image batches from in until io.EOF and sends one
	// EmbeddingBatch per image batch, in order. Implementations may read
	// ahead to overlap preprocessing, inference and transport.
	Embed(ctx context.Context, req EmbedRequest, in BatchReader, send func(EmbeddingBatch) error) error
}
