// Command clusterlab-backbone-slowstop is a test backbone plugin whose
// Embed, once cancelled, takes its time to clean up, as a trainer writing
// its checkpoint does: it returns only when the file named by
// $SLOWSTOP_RELEASE exists, so that a test decides when the cleanup ends.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
)

func main() { plugins.ServeBackbone(slowstop{}) }

type slowstop struct{}

func (slowstop) Describe(context.Context, core.Options) (core.BackboneInfo, error) {
	return core.BackboneInfo{Description: core.Description{Kind: core.KindBackbone, Name: "slowstop", Version: "0"}}, nil
}

func (slowstop) Fit(context.Context, core.EmbedRequest, core.BatchReader) error { return nil }

func (slowstop) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	fmt.Fprintln(os.Stderr, "slowstop: embedding, waiting for cancellation")
	<-ctx.Done()
	fmt.Fprintf(os.Stderr, "slowstop: cancelled (%v), cleaning up\n", context.Cause(ctx))
	release := os.Getenv("SLOWSTOP_RELEASE")
	for {
		if _, err := os.Stat(release); err == nil || release == "" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Fprintln(os.Stderr, "slowstop: cleanup done")
	return ctx.Err()
}
