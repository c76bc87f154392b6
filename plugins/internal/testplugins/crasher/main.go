// Command clusterlab-dataset-crasher is a test dataset plugin that fails
// in the middle of Read, in the way its "mode" option says.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins"
	"github.com/clusterlab/clusterlab/plugins/internal/testplugins/synthdata"
)

func main() { plugins.ServeDataset(crasher{}) }

type crasher struct{}

var schema = []core.Option{
	{Name: "mode", Type: core.TypeString, Default: "exit", Help: "how to fail",
		Choices: []string{"exit", "panic", "goroutine-panic"}},
}

func (crasher) Describe(_ context.Context, opts core.Options) (core.DatasetInfo, error) {
	return core.DatasetInfo{
		Description: core.Description{Kind: core.KindDataset, Name: "crasher", Version: "0", Options: schema},
		Splits:      []core.SplitInfo{{Name: core.SplitTrain, Count: 100}},
		Height:      2, Width: 2, Channels: 1,
	}, nil
}

func (crasher) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	o, err := core.ResolveOptions(schema, req.Options)
	if err != nil {
		return err
	}
	for i := 0; i < 2; i++ {
		if err := send(synthdata.Batch(req.Split, i*10, 10, 2, 2, 1, 3)); err != nil {
			return err
		}
	}
	// Let the batches reach the runner before dying: gRPC sends are
	// asynchronous and an exit drops what is still queued.
	time.Sleep(time.Second)
	// Older lines that must scroll out of the quoted tail.
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(os.Stderr, "crasher: noise line %d\n", i)
	}
	switch o.String("mode") {
	case "panic":
		panic("crasher: deliberate panic in Read")
	case "goroutine-panic":
		go func() { panic("crasher: deliberate panic in a goroutine") }()
		time.Sleep(time.Minute)
	}
	fmt.Fprintln(os.Stderr, "crasher: giving up after 2 batches")
	os.Exit(2)
	return nil
}
