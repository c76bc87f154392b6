package plugins

import (
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/status"

	"github.com/clusterlab/clusterlab/core"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
)

// The host-side adapters: core interfaces implemented over gRPC.

// Dataset returns the plugin as a core.Dataset; its calls fail when the
// plugin is not a dataset plugin.
func (c *Client) Dataset() core.Dataset { return &datasetClient{c: c} }

// Backbone returns the plugin as a core.Backbone; its calls fail when the
// plugin is not a backbone plugin.
func (c *Client) Backbone() core.Backbone { return &backboneClient{c: c} }

// Loss returns the plugin as a core.Loss; its calls fail when the plugin
// is not a loss plugin.
func (c *Client) Loss() core.Loss { return &lossClient{c: c} }

// ready checks that the client is of the wanted kind and connected.
func (c *Client) ready(kind, op string) error {
	if c.kind != kind {
		return fmt.Errorf("%s plugin %q (%s) cannot %s: it is not a %s plugin", c.kind, c.name, c.path, op, kind)
	}
	if c.grpcConn() == nil {
		return c.pluginError("is not running", nil)
	}
	return nil
}

// describeCall runs the Describe RPC of any plugin kind with the options
// encoded, under the Describe timeout, and converts the answer.
func describeCall[R any, T any](ctx context.Context, c *Client, kind, op string, opts core.Options,
	call func(context.Context, *pb.DescribeRequest) (R, error), fromPB func(R) (T, error)) (T, error) {
	var zero T
	if err := c.ready(kind, op); err != nil {
		return zero, err
	}
	raw, err := encodeOptions(opts)
	if err != nil {
		return zero, err
	}
	var resp R
	err = c.describe(ctx, func(ctx context.Context) (err error) {
		resp, err = call(ctx, &pb.DescribeRequest{OptionsJson: raw})
		return err
	})
	if err != nil {
		return zero, err
	}
	info, err := fromPB(resp)
	if err != nil {
		return zero, c.protocolError("Describe", err)
	}
	return info, nil
}

type datasetClient struct{ c *Client }

func (d *datasetClient) Describe(ctx context.Context, opts core.Options) (core.DatasetInfo, error) {
	return describeCall(ctx, d.c, core.KindDataset, "describe a dataset", opts,
		func(ctx context.Context, req *pb.DescribeRequest) (*pb.DatasetInfo, error) {
			return pb.NewDatasetClient(d.c.grpcConn()).Describe(ctx, req)
		}, datasetInfoFromPB)
}

func (d *datasetClient) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if err := d.c.ready(core.KindDataset, "read a dataset"); err != nil {
		return err
	}
	if req.BatchSize <= 0 {
		return fmt.Errorf("read %s from dataset %q: batch size must be positive, got %d", req.Split, d.c.name, req.BatchSize)
	}
	raw, err := encodeOptions(req.Options)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // also ends the stream when send fails
	stream, err := pb.NewDatasetClient(d.c.grpcConn()).Read(sctx, &pb.ReadRequest{
		OptionsJson: raw,
		Split:       req.Split,
		BatchSize:   int64(req.BatchSize),
	})
	if err != nil {
		return d.c.callError(ctx, "Read", err)
	}
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return d.c.callError(ctx, "Read", err)
		}
		b, err := imageBatchFromPB(m)
		if err != nil {
			return d.c.protocolError("Read", err)
		}
		if err := send(b); err != nil {
			return err
		}
	}
}

type backboneClient struct{ c *Client }

func (b *backboneClient) Describe(ctx context.Context, opts core.Options) (core.BackboneInfo, error) {
	return describeCall(ctx, b.c, core.KindBackbone, "describe a backbone", opts,
		func(ctx context.Context, req *pb.DescribeRequest) (*pb.BackboneInfo, error) {
			return pb.NewBackboneClient(b.c.grpcConn()).Describe(ctx, req)
		}, backboneInfoFromPB)
}

// sendAll sends the header of a Fit or Embed stream, then every batch of
// in. readErr is the reader's error or a malformed batch it gave;
// streamErr means the plugin ended or broke the stream (its status comes
// with the receive side).
func sendAll(send func(*pb.BackboneInput) error, header *pb.EmbedRequest, in core.BatchReader) (readErr, streamErr error) {
	if err := send(&pb.BackboneInput{Input: &pb.BackboneInput_Header{Header: header}}); err != nil {
		return nil, err
	}
	for {
		ib, err := in.Next()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
		if err := sendImages(send, ib); err != nil {
			if err != io.EOF && !isStreamError(err) {
				return err, nil
			}
			return nil, err
		}
	}
}

// sendImages sends one image batch as one or more messages.
func sendImages(send func(*pb.BackboneInput) error, ib core.ImageBatch) error {
	if err := checkImageBatch(ib); err != nil {
		return fmt.Errorf("%w: %w", core.ErrInvalidInput, err)
	}
	for _, part := range splitImages(ib, maxChunkBytes) {
		if err := send(&pb.BackboneInput{Input: &pb.BackboneInput_Batch{Batch: imageBatchToPB(part)}}); err != nil {
			return err
		}
	}
	return nil
}

// isStreamError tells the errors of a stream's Send (a gRPC status; io.EOF
// is checked apart) from those of the images given to it.
func isStreamError(err error) bool {
	_, ok := status.FromError(err)
	return ok
}

func (b *backboneClient) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	if err := b.c.ready(core.KindBackbone, "fit a backbone"); err != nil {
		return err
	}
	header, err := embedRequestToPB(req)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewBackboneClient(b.c.grpcConn()).Fit(sctx)
	if err != nil {
		return b.c.callError(ctx, "Fit", err)
	}
	readErr, err := sendAll(stream.Send, header, in)
	if readErr != nil {
		return readErr // the reader's own error (e.g. the dataset's)
	}
	// io.EOF from Send means the plugin ended the stream: its status comes
	// with CloseAndRecv.
	_, rerr := stream.CloseAndRecv()
	if rerr != nil {
		return b.c.callError(ctx, "Fit", rerr)
	}
	if err != nil && err != io.EOF {
		return b.c.callError(ctx, "Fit", err)
	}
	return nil
}

// Embed sends the images of in from its own goroutine while it receives
// the embeddings, so that reading, transport and inference overlap. When
// it fails it does not wait for an in.Next in progress: cancel the context
// the reader depends on.
func (b *backboneClient) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	if err := b.c.ready(core.KindBackbone, "embed with a backbone"); err != nil {
		return err
	}
	header, err := embedRequestToPB(req)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewBackboneClient(b.c.grpcConn()).Embed(sctx)
	if err != nil {
		return b.c.callError(ctx, "Embed", err)
	}

	// The images go out from their own goroutine, so that the backbone
	// can work on one batch while the next is read and sent and the
	// previous embeddings come back.
	var (
		pumpMu  sync.Mutex
		pumpErr error // an error of the reader or of the images it gave
	)
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		fail := func(err error) {
			pumpMu.Lock()
			pumpErr = err
			pumpMu.Unlock()
			cancel() // unblocks Recv below
		}
		readErr, streamErr := sendAll(stream.Send, header, in)
		switch {
		case readErr != nil:
			fail(readErr)
		case streamErr == nil:
			_ = stream.CloseSend()
		} // a broken stream: Recv reports why
	}()
	failed := func() error {
		pumpMu.Lock()
		defer pumpMu.Unlock()
		return pumpErr
	}

	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			if perr := failed(); perr != nil {
				return perr
			}
			return b.c.callError(ctx, "Embed", err)
		}
		eb, err := embeddingBatchFromPB(m)
		if err != nil {
			return b.c.protocolError("Embed", err)
		}
		if err := send(eb); err != nil {
			return err
		}
	}
	// The backbone has answered everything; wait for the sender (it has
	// normally finished: the backbone reads its input to the end first).
	select {
	case <-pumpDone:
	case <-ctx.Done():
		return b.c.callError(ctx, "Embed", ctx.Err())
	}
	return failed()
}

type lossClient struct{ c *Client }

func (l *lossClient) Describe(ctx context.Context, opts core.Options) (core.Description, error) {
	return describeCall(ctx, l.c, core.KindLoss, "describe a loss", opts,
		func(ctx context.Context, req *pb.DescribeRequest) (*pb.Description, error) {
			return pb.NewLossClient(l.c.grpcConn()).Describe(ctx, req)
		}, descriptionFromPB)
}

func (l *lossClient) Fit(ctx context.Context, req core.FitRequest, progress func(core.Progress)) (core.FitResult, error) {
	if err := l.c.ready(core.KindLoss, "fit a loss"); err != nil {
		return core.FitResult{}, err
	}
	preq, err := fitRequestToPB(req)
	if err != nil {
		return core.FitResult{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := pb.NewLossClient(l.c.grpcConn()).Fit(sctx, preq)
	if err != nil {
		return core.FitResult{}, l.c.callError(ctx, "Fit", err)
	}
	var result *pb.FitResult
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return core.FitResult{}, l.c.callError(ctx, "Fit", err)
		}
		switch e := ev.GetEvent().(type) {
		case *pb.FitEvent_Progress:
			if result != nil {
				return core.FitResult{}, l.c.protocolError("Fit", fmt.Errorf("progress after the result"))
			}
			if progress != nil {
				progress(progressFromPB(e.Progress))
			}
		case *pb.FitEvent_Result:
			if result != nil {
				return core.FitResult{}, l.c.protocolError("Fit", fmt.Errorf("a second result"))
			}
			result = e.Result
		default:
			return core.FitResult{}, l.c.protocolError("Fit", fmt.Errorf("an empty event"))
		}
	}
	if result == nil {
		return core.FitResult{}, l.c.protocolError("Fit", fmt.Errorf("the stream ended without a result"))
	}
	return fitResultFromPB(result), nil
}
