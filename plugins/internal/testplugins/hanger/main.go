// Command clusterlab-backbone-hanger is a test backbone plugin that never
// answers Describe with options, and whose Embed waits for cancellation.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
)

func main() { plugins.ServeBackbone(hanger{}) }

type hanger struct{}

func (hanger) Describe(_ context.Context, opts core.Options) (core.BackboneInfo, error) {
	if opts != nil {
		fmt.Fprintln(os.Stderr, "hanger: Describe will never answer")
		select {} // ignores its context on purpose
	}
	return core.BackboneInfo{Description: core.Description{Kind: core.KindBackbone, Name: "hanger", Version: "0"}}, nil
}

func (hanger) Fit(context.Context, core.EmbedRequest, core.BatchReader) error { return nil }

func (hanger) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	fmt.Fprintln(os.Stderr, "hanger: embedding, waiting for cancellation")
	<-ctx.Done()
	fmt.Fprintf(os.Stderr, "hanger: embed cancelled: %v\n", ctx.Err())
	return ctx.Err()
}
