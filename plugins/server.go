package plugins

import (
	"context"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clusterlab/clusterlab/core"
	pb "github.com/clusterlab/clusterlab/plugins/proto"
)

// The plugin-side adapters: gRPC servers that call a core implementation.

// serveDescribe answers the Describe RPC of any plugin kind: decode the
// options, call the implementation, fill in the kind, encode.
func serveDescribe[T any, P any](ctx context.Context, req *pb.DescribeRequest, kind string,
	describe func(context.Context, core.Options) (T, error), desc func(*T) *core.Description, toPB func(T) (P, error)) (P, error) {
	var zero P
	opts, err := decodeOptions(req.GetOptionsJson())
	if err != nil {
		return zero, invalidOptions(err)
	}
	info, err := describe(ctx, opts)
	if err != nil {
		return zero, toStatus(err)
	}
	fillDescription(desc(&info), kind)
	p, err := toPB(info)
	if err != nil {
		return zero, status.Errorf(codes.Internal, "%s description: %v", kind, err)
	}
	return p, nil
}

type datasetServer struct {
	pb.UnimplementedDatasetServer
	impl core.Dataset
}

func (s *datasetServer) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DatasetInfo, error) {
	return serveDescribe(ctx, req, core.KindDataset, s.impl.Describe,
		func(i *core.DatasetInfo) *core.Description { return &i.Description }, datasetInfoToPB)
}

func (s *datasetServer) Read(req *pb.ReadRequest, stream pb.Dataset_ReadServer) error {
	opts, err := decodeOptions(req.GetOptionsJson())
	if err != nil {
		return invalidOptions(err)
	}
	if req.GetBatchSize() <= 0 {
		return status.Errorf(codes.InvalidArgument, "batch size must be positive, got %d", req.GetBatchSize())
	}
	var mu sync.Mutex // in case the implementation sends from several goroutines
	send := func(b core.ImageBatch) error {
		if err := checkImageBatch(b); err != nil {
			return fmt.Errorf("dataset produced a malformed batch: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, part := range splitImages(b, maxChunkBytes) {
			if err := stream.Send(imageBatchToPB(part)); err != nil {
				return err
			}
		}
		return nil
	}
	r := core.ReadRequest{Options: opts, Split: req.GetSplit(), BatchSize: int(req.GetBatchSize())}
	return toStatus(s.impl.Read(stream.Context(), r, send))
}

type backboneServer struct {
	pb.UnimplementedBackboneServer
	impl core.Backbone
}

func (s *backboneServer) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.BackboneInfo, error) {
	return serveDescribe(ctx, req, core.KindBackbone, s.impl.Describe,
		func(i *core.BackboneInfo) *core.Description { return &i.Description }, backboneInfoToPB)
}

// backboneStream is what Fit and Embed streams have in common.
type backboneStream interface {
	Recv() (*pb.BackboneInput, error)
	Context() context.Context
}

// recvHeader reads the first message of a Fit or Embed stream.
func recvHeader(stream backboneStream) (core.EmbedRequest, error) {
	m, err := stream.Recv()
	if err == io.EOF {
		return core.EmbedRequest{}, status.Error(codes.InvalidArgument, "the stream ended before its header (EmbedRequest)")
	}
	if err != nil {
		return core.EmbedRequest{}, err
	}
	h := m.GetHeader()
	if h == nil {
		return core.EmbedRequest{}, status.Error(codes.InvalidArgument, "the first message of the stream must carry the header (EmbedRequest)")
	}
	req, err := embedRequestFromPB(h)
	if err != nil {
		return core.EmbedRequest{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return req, nil
}

// streamReader is the core.BatchReader over the image batches of a Fit or
// Embed stream.
type streamReader struct {
	mu     sync.Mutex
	stream backboneStream
}

func (r *streamReader) Next() (core.ImageBatch, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.stream.Recv()
	if err != nil {
		return core.ImageBatch{}, err // io.EOF at the end
	}
	b := m.GetBatch()
	if b == nil {
		return core.ImageBatch{}, fmt.Errorf("%w: expected an image batch after the stream's header", core.ErrInvalidInput)
	}
	ib, err := imageBatchFromPB(b)
	if err != nil {
		return core.ImageBatch{}, fmt.Errorf("%w: %w", core.ErrInvalidInput, err)
	}
	return ib, nil
}

func (s *backboneServer) Fit(stream pb.Backbone_FitServer) error {
	req, err := recvHeader(stream)
	if err != nil {
		return err
	}
	if err := s.impl.Fit(stream.Context(), req, &streamReader{stream: stream}); err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&pb.FitBackboneResponse{})
}

func (s *backboneServer) Embed(stream pb.Backbone_EmbedServer) error {
	req, err := recvHeader(stream)
	if err != nil {
		return err
	}
	var mu sync.Mutex // Send may not be called concurrently
	send := func(b core.EmbeddingBatch) error {
		if err := checkEmbeddingBatch(b); err != nil {
			return fmt.Errorf("backbone produced a malformed batch: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, part := range splitEmbeddings(b, maxChunkBytes) {
			if err := stream.Send(embeddingBatchToPB(part)); err != nil {
				return err
			}
		}
		return nil
	}
	return toStatus(s.impl.Embed(stream.Context(), req, &streamReader{stream: stream}, send))
}

type lossServer struct {
	pb.UnimplementedLossServer
	impl core.Loss
}

func (s *lossServer) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.Description, error) {
	return serveDescribe(ctx, req, core.KindLoss, s.impl.Describe,
		func(d *core.Description) *core.Description { return d }, descriptionToPB)
}

func (s *lossServer) Fit(req *pb.FitRequest, stream pb.Loss_FitServer) error {
	r, err := fitRequestFromPB(req)
	if err != nil {
		return invalidOptions(err)
	}
	var (
		mu      sync.Mutex
		sendErr error
	)
	progress := func(p core.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil {
			// A failed send means the runner went away; the stream's
			// context is cancelled then and the trainer stops by itself.
			sendErr = stream.Send(&pb.FitEvent{Event: &pb.FitEvent_Progress{Progress: progressToPB(p)}})
		}
	}
	res, err := s.impl.Fit(stream.Context(), r, progress)
	if err != nil {
		return toStatus(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		return sendErr
	}
	if err := stream.Send(&pb.FitEvent{Event: &pb.FitEvent_Result{Result: fitResultToPB(res)}}); err != nil {
		return err
	}
	return nil
}
