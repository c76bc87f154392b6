// clusterlab plugin protocol, version 1.
//
// clusterlab runs every dataset, backbone and loss as a separate executable
// and talks to it over gRPC, using HashiCorp go-plugin
// (https://github.com/hashicorp/go-plugin) to start it and connect. Go
// plugins get all of this from plugins.ServeDataset / ServeBackbone /
// ServeLoss. This file is the whole contract for a plugin written in any
// other language; read the section "Writing a plugin without Go" first.
//
// ## Writing a plugin without Go
//
// 1. Name the executable clusterlab-<kind>-<name>, kind being "dataset",
//    "backbone" or "loss", and put it in a directory the runner searches
//    (CLUSTERLAB_PLUGIN_PATH, plugins/ beside the clusterlab executable,
//    ./bin/plugins) or give its path in the experiment config.
//
// 2. The runner starts it with no arguments, stdin at /dev/null and these
//    environment variables added to its own:
//      CLUSTERLAB_PLUGIN=clusterlab-plugin-v1-5f0c2e8a
//          the handshake cookie. When it is missing or different, a person
//          ran the program by hand: print one line saying so on stderr and
//          exit with status 1.
//      PLUGIN_PROTOCOL_VERSIONS=1   protocol versions the runner speaks.
//      PLUGIN_UNIX_SOCKET_DIR=DIR   where to create the Unix socket.
//      PLUGIN_CLIENT_CERT=PEM       the runner's one-time TLS certificate
//                                   (go-plugin's AutoMTLS, always on).
//      GOMLX_NO_AUTO_INSTALL=1      never download anything at run time.
//
// 3. Make a one-time self-signed certificate for "localhost" (subject
//    alternative name DNS:localhost; go-plugin uses ECDSA P-521) and start
//    a gRPC server with TLS on a Unix socket in PLUGIN_UNIX_SOCKET_DIR (or
//    on 127.0.0.1:<port>), presenting that certificate and requiring and
//    verifying a client certificate against PLUGIN_CLIENT_CERT: then only
//    the runner that started the plugin can talk to it. Register on it
//      - the one service of your kind below (Dataset, Backbone or Loss);
//      - grpc.health.v1.Health, with service name "plugin" SERVING;
//      - optionally go-plugin's plugin.GRPCController (Shutdown: exit
//        promptly) and plugin.GRPCStdio; when they are absent the runner
//        kills the process instead of asking it to stop.
//    Then print exactly one line on stdout and flush it:
//        1|1|unix|/path/to/socket|grpc|CERT
//    (go-plugin core version 1 | clusterlab protocol version 1 | network
//    "unix" or "tcp" | address | "grpc" | your certificate, DER encoded in
//    base64 with the standard alphabet and no padding). Print nothing else
//    on stdout before that line. examples/backbone-python does all of this
//    in Python.
//
// 4. Write diagnostics to stderr: when the plugin fails, the runner quotes
//    the last lines of its stderr to the user.
//
// 5. Exit within a few seconds when the runner goes away, even when it was
//    killed: poll your parent process id and exit when it changes. The
//    runner also stops plugins by closing the connection, by the
//    GRPCController Shutdown call, or by SIGKILL.
//
// ## Conventions of every service
//
// - Options travel as JSON objects in `bytes options_json` fields: the
//   plugin's section of the experiment config, e.g. {"model": "x.onnx",
//   "batch": 64}. Empty bytes mean "no options". Numbers may arrive as
//   integers or floats; validate them against your own schema (the Option
//   messages you return from Describe) and report violations as
//   INVALID_ARGUMENT.
// - Describe is called right after the start with empty options_json (the
//   schema only: answer quickly, do not load models) and later with the
//   config's options (validate them and fill in Identity). The runner
//   waits 60 s by default for an answer to Describe, then gives up.
// - Streams are ordered. Batches carry Offset, the index of their first
//   item within the split, so that a receiver can check continuity.
// - Message size: keep every message below 4 MiB (the gRPC default limit).
//   Senders split an image or embedding batch whose payload exceeds 2 MiB
//   into consecutive smaller batches of whole images/rows (offsets stay
//   consistent); receivers treat each part as a batch of its own. The Go
//   side accepts messages up to 64 MiB, for single images above 2 MiB.
// - Errors are gRPC status codes with a readable message, which the
//   runner shows to the user as is:
//     INVALID_ARGUMENT  bad options or input the user can fix (unknown
//                       option, value out of range, file not found, wrong
//                       image shape); add an ErrorDetail naming the option
//                       when one option is at fault. The runner exits with
//                       status 2 ("bad input") on these.
//     RESOURCE_EXHAUSTED with an ErrorDetail whose reason is "no_space":
//                       a write failed for lack of disk space (or a
//                       quota, or a file size limit); the runner says how
//                       to resume.
//     CANCELLED         the call's context was cancelled by the runner.
//     UNKNOWN           any other failure of the plugin's work.
//     INTERNAL          a bug (the Go adapters report recovered panics so).
//   A plugin that exits during a call is reported by the runner as a crash
//   together with the tail of its stderr.
//
// Large arrays never travel in these messages: embeddings, neighbour
// graphs and assignments are .npy files whose paths are passed instead.

// Code generated by protoc-gen-go-grpc. DO NOT EDIT.
// versions:
// - protoc-gen-go-grpc v1.6.2
// - protoc             v3.21.12
// source: clusterlab.proto

package clusterlabpb

import (
	context "context"
	grpc "google.golang.org/grpc"
	codes "google.golang.org/grpc/codes"
	status "google.golang.org/grpc/status"
)

// This is a compile-time assertion to ensure that this generated file
// is compatible with the grpc package it is being compiled against.
// Requires gRPC-Go v1.64.0 or later.
const _ = grpc.SupportPackageIsVersion9

const (
	Dataset_Describe_FullMethodName = "/clusterlab.v1.Dataset/Describe"
	Dataset_Read_FullMethodName     = "/clusterlab.v1.Dataset/Read"
)

// DatasetClient is the client API for Dataset service.
//
// For semantics around ctx use and closing/ending streaming RPCs, please refer to https://pkg.go.dev/google.golang.org/grpc/?tab=doc#ClientConn.NewStream.
type DatasetClient interface {
	// Describe validates the options (when given) and returns the dataset's
	// description, splits, classes and image geometry.
	Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*DatasetInfo, error)
	// Read streams one split in order, in batches of at most batch_size
	// images (smaller when a batch is split for size): offsets start at 0
	// and are consecutive. The stream ends after the last image.
	Read(ctx context.Context, in *ReadRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[ImageBatch], error)
}

type datasetClient struct {
	cc grpc.ClientConnInterface
}

func NewDatasetClient(cc grpc.ClientConnInterface) DatasetClient {
	return &datasetClient{cc}
}

func (c *datasetClient) Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*DatasetInfo, error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	out := new(DatasetInfo)
	err := c.cc.Invoke(ctx, Dataset_Describe_FullMethodName, in, out, cOpts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *datasetClient) Read(ctx context.Context, in *ReadRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[ImageBatch], error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	stream, err := c.cc.NewStream(ctx, &Dataset_ServiceDesc.Streams[0], Dataset_Read_FullMethodName, cOpts...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[ReadRequest, ImageBatch]{ClientStream: stream}
	if err := x.ClientStream.SendMsg(in); err != nil {
		return nil, err
	}
	if err := x.ClientStream.CloseSend(); err != nil {
		return nil, err
	}
	return x, nil
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Dataset_ReadClient = grpc.ServerStreamingClient[ImageBatch]

// DatasetServer is the server API for Dataset service.
// All implementations must embed UnimplementedDatasetServer
// for forward compatibility.
type DatasetServer interface {
	// Describe validates the options (when given) and returns the dataset's
	// description, splits, classes and image geometry.
	Describe(context.Context, *DescribeRequest) (*DatasetInfo, error)
	// Read streams one split in order, in batches of at most batch_size
	// images (smaller when a batch is split for size): offsets start at 0
	// and are consecutive. The stream ends after the last image.
	Read(*ReadRequest, grpc.ServerStreamingServer[ImageBatch]) error
	mustEmbedUnimplementedDatasetServer()
}

// UnimplementedDatasetServer must be embedded to have
// forward compatible implementations.
//
// NOTE: this should be embedded by value instead of pointer to avoid a nil
// pointer dereference when methods are called.
type UnimplementedDatasetServer struct{}

func (UnimplementedDatasetServer) Describe(context.Context, *DescribeRequest) (*DatasetInfo, error) {
	return nil, status.Error(codes.Unimplemented, "method Describe not implemented")
}
func (UnimplementedDatasetServer) Read(*ReadRequest, grpc.ServerStreamingServer[ImageBatch]) error {
	return status.Error(codes.Unimplemented, "method Read not implemented")
}
func (UnimplementedDatasetServer) mustEmbedUnimplementedDatasetServer() {}
func (UnimplementedDatasetServer) testEmbeddedByValue()                 {}

// UnsafeDatasetServer may be embedded to opt out of forward compatibility for this service.
// Use of this interface is not recommended, as added methods to DatasetServer will
// result in compilation errors.
type UnsafeDatasetServer interface {
	mustEmbedUnimplementedDatasetServer()
}

func RegisterDatasetServer(s grpc.ServiceRegistrar, srv DatasetServer) {
	// If the following call panics, it indicates UnimplementedDatasetServer was
	// embedded by pointer and is nil.  This will cause panics if an
	// unimplemented method is ever invoked, so we test this at initialization
	// time to prevent it from happening at runtime later due to I/O.
	if t, ok := srv.(interface{ testEmbeddedByValue() }); ok {
		t.testEmbeddedByValue()
	}
	s.RegisterService(&Dataset_ServiceDesc, srv)
}

func _Dataset_Describe_Handler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(DescribeRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(DatasetServer).Describe(ctx, in)
	}
	info := &grpc.UnaryServerInfo{
		Server:     srv,
		FullMethod: Dataset_Describe_FullMethodName,
	}
	handler := func(ctx context.Context, req interface{}) (interface{}, error) {
		return srv.(DatasetServer).Describe(ctx, req.(*DescribeRequest))
	}
	return interceptor(ctx, in, info, handler)
}

func _Dataset_Read_Handler(srv interface{}, stream grpc.ServerStream) error {
	m := new(ReadRequest)
	if err := stream.RecvMsg(m); err != nil {
		return err
	}
	return srv.(DatasetServer).Read(m, &grpc.GenericServerStream[ReadRequest, ImageBatch]{ServerStream: stream})
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Dataset_ReadServer = grpc.ServerStreamingServer[ImageBatch]

// Dataset_ServiceDesc is the grpc.ServiceDesc for Dataset service.
// It's only intended for direct use with grpc.RegisterService,
// and not to be introspected or modified (even as a copy)
var Dataset_ServiceDesc = grpc.ServiceDesc{
	ServiceName: "clusterlab.v1.Dataset",
	HandlerType: (*DatasetServer)(nil),
	Methods: []grpc.MethodDesc{
		{
			MethodName: "Describe",
			Handler:    _Dataset_Describe_Handler,
		},
	},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Read",
			Handler:       _Dataset_Read_Handler,
			ServerStreams: true,
		},
	},
	Metadata: "clusterlab.proto",
}

const (
	Backbone_Describe_FullMethodName = "/clusterlab.v1.Backbone/Describe"
	Backbone_Fit_FullMethodName      = "/clusterlab.v1.Backbone/Fit"
	Backbone_Embed_FullMethodName    = "/clusterlab.v1.Backbone/Embed"
)

// BackboneClient is the client API for Backbone service.
//
// For semantics around ctx use and closing/ending streaming RPCs, please refer to https://pkg.go.dev/google.golang.org/grpc/?tab=doc#ClientConn.NewStream.
type BackboneClient interface {
	// Describe validates the options (when given) and says whether the
	// backbone must be fitted first.
	Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*BackboneInfo, error)
	// Fit consumes the train split once and stores the fitted state (e.g. a
	// PCA basis) in EmbedRequest.state_dir, written atomically (temporary
	// file, then rename). Called only when BackboneInfo.needs_fit, before any
	// Embed. The first client message carries `header`, every following one
	// carries `batch`; the client then closes its side and the plugin
	// answers once the state is stored.
	Fit(ctx context.Context, opts ...grpc.CallOption) (grpc.ClientStreamingClient[BackboneInput, FitBackboneResponse], error)
	// Embed turns images into embeddings. The first client message carries
	// `header`, every following one an image batch; the client closes its
	// side after the last batch. The plugin sends exactly one EmbeddingBatch
	// per image batch received, in the same order, with the same offset and
	// count (split further only when it exceeds 2 MiB), and may read ahead
	// to overlap decoding, inference and transport. The stream ends when all
	// embeddings were sent.
	Embed(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[BackboneInput, EmbeddingBatch], error)
}

type backboneClient struct {
	cc grpc.ClientConnInterface
}

func NewBackboneClient(cc grpc.ClientConnInterface) BackboneClient {
	return &backboneClient{cc}
}

func (c *backboneClient) Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*BackboneInfo, error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	out := new(BackboneInfo)
	err := c.cc.Invoke(ctx, Backbone_Describe_FullMethodName, in, out, cOpts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *backboneClient) Fit(ctx context.Context, opts ...grpc.CallOption) (grpc.ClientStreamingClient[BackboneInput, FitBackboneResponse], error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	stream, err := c.cc.NewStream(ctx, &Backbone_ServiceDesc.Streams[0], Backbone_Fit_FullMethodName, cOpts...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[BackboneInput, FitBackboneResponse]{ClientStream: stream}
	return x, nil
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Backbone_FitClient = grpc.ClientStreamingClient[BackboneInput, FitBackboneResponse]

func (c *backboneClient) Embed(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[BackboneInput, EmbeddingBatch], error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	stream, err := c.cc.NewStream(ctx, &Backbone_ServiceDesc.Streams[1], Backbone_Embed_FullMethodName, cOpts...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[BackboneInput, EmbeddingBatch]{ClientStream: stream}
	return x, nil
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Backbone_EmbedClient = grpc.BidiStreamingClient[BackboneInput, EmbeddingBatch]

// BackboneServer is the server API for Backbone service.
// All implementations must embed UnimplementedBackboneServer
// for forward compatibility.
type BackboneServer interface {
	// Describe validates the options (when given) and says whether the
	// backbone must be fitted first.
	Describe(context.Context, *DescribeRequest) (*BackboneInfo, error)
	// Fit consumes the train split once and stores the fitted state (e.g. a
	// PCA basis) in EmbedRequest.state_dir, written atomically (temporary
	// file, then rename). Called only when BackboneInfo.needs_fit, before any
	// Embed. The first client message carries `header`, every following one
	// carries `batch`; the client then closes its side and the plugin
	// answers once the state is stored.
	Fit(grpc.ClientStreamingServer[BackboneInput, FitBackboneResponse]) error
	// Embed turns images into embeddings. The first client message carries
	// `header`, every following one an image batch; the client closes its
	// side after the last batch. The plugin sends exactly one EmbeddingBatch
	// per image batch received, in the same order, with the same offset and
	// count (split further only when it exceeds 2 MiB), and may read ahead
	// to overlap decoding, inference and transport. The stream ends when all
	// embeddings were sent.
	Embed(grpc.BidiStreamingServer[BackboneInput, EmbeddingBatch]) error
	mustEmbedUnimplementedBackboneServer()
}

// UnimplementedBackboneServer must be embedded to have
// forward compatible implementations.
//
// NOTE: this should be embedded by value instead of pointer to avoid a nil
// pointer dereference when methods are called.
type UnimplementedBackboneServer struct{}

func (UnimplementedBackboneServer) Describe(context.Context, *DescribeRequest) (*BackboneInfo, error) {
	return nil, status.Error(codes.Unimplemented, "method Describe not implemented")
}
func (UnimplementedBackboneServer) Fit(grpc.ClientStreamingServer[BackboneInput, FitBackboneResponse]) error {
	return status.Error(codes.Unimplemented, "method Fit not implemented")
}
func (UnimplementedBackboneServer) Embed(grpc.BidiStreamingServer[BackboneInput, EmbeddingBatch]) error {
	return status.Error(codes.Unimplemented, "method Embed not implemented")
}
func (UnimplementedBackboneServer) mustEmbedUnimplementedBackboneServer() {}
func (UnimplementedBackboneServer) testEmbeddedByValue()                  {}

// UnsafeBackboneServer may be embedded to opt out of forward compatibility for this service.
// Use of this interface is not recommended, as added methods to BackboneServer will
// result in compilation errors.
type UnsafeBackboneServer interface {
	mustEmbedUnimplementedBackboneServer()
}

func RegisterBackboneServer(s grpc.ServiceRegistrar, srv BackboneServer) {
	// If the following call panics, it indicates UnimplementedBackboneServer was
	// embedded by pointer and is nil.  This will cause panics if an
	// unimplemented method is ever invoked, so we test this at initialization
	// time to prevent it from happening at runtime later due to I/O.
	if t, ok := srv.(interface{ testEmbeddedByValue() }); ok {
		t.testEmbeddedByValue()
	}
	s.RegisterService(&Backbone_ServiceDesc, srv)
}

func _Backbone_Describe_Handler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(DescribeRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(BackboneServer).Describe(ctx, in)
	}
	info := &grpc.UnaryServerInfo{
		Server:     srv,
		FullMethod: Backbone_Describe_FullMethodName,
	}
	handler := func(ctx context.Context, req interface{}) (interface{}, error) {
		return srv.(BackboneServer).Describe(ctx, req.(*DescribeRequest))
	}
	return interceptor(ctx, in, info, handler)
}

func _Backbone_Fit_Handler(srv interface{}, stream grpc.ServerStream) error {
	return srv.(BackboneServer).Fit(&grpc.GenericServerStream[BackboneInput, FitBackboneResponse]{ServerStream: stream})
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Backbone_FitServer = grpc.ClientStreamingServer[BackboneInput, FitBackboneResponse]

func _Backbone_Embed_Handler(srv interface{}, stream grpc.ServerStream) error {
	return srv.(BackboneServer).Embed(&grpc.GenericServerStream[BackboneInput, EmbeddingBatch]{ServerStream: stream})
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Backbone_EmbedServer = grpc.BidiStreamingServer[BackboneInput, EmbeddingBatch]

// Backbone_ServiceDesc is the grpc.ServiceDesc for Backbone service.
// It's only intended for direct use with grpc.RegisterService,
// and not to be introspected or modified (even as a copy)
var Backbone_ServiceDesc = grpc.ServiceDesc{
	ServiceName: "clusterlab.v1.Backbone",
	HandlerType: (*BackboneServer)(nil),
	Methods: []grpc.MethodDesc{
		{
			MethodName: "Describe",
			Handler:    _Backbone_Describe_Handler,
		},
	},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Fit",
			Handler:       _Backbone_Fit_Handler,
			ClientStreams: true,
		},
		{
			StreamName:    "Embed",
			Handler:       _Backbone_Embed_Handler,
			ServerStreams: true,
			ClientStreams: true,
		},
	},
	Metadata: "clusterlab.proto",
}

const (
	Loss_Describe_FullMethodName = "/clusterlab.v1.Loss/Describe"
	Loss_Fit_FullMethodName      = "/clusterlab.v1.Loss/Fit"
)

// LossClient is the client API for Loss service.
//
// For semantics around ctx use and closing/ending streaming RPCs, please refer to https://pkg.go.dev/google.golang.org/grpc/?tab=doc#ClientConn.NewStream.
type LossClient interface {
	// Describe validates the options (when given); the schema covers both
	// the trainer's options (epochs, lr, heads, ...) and the loss's own.
	Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*Description, error)
	// Fit trains the heads and assigns every requested split. It streams
	// progress events while training and ends with exactly one `result`
	// event, the last message of the stream.
	Fit(ctx context.Context, in *FitRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[FitEvent], error)
}

type lossClient struct {
	cc grpc.ClientConnInterface
}

func NewLossClient(cc grpc.ClientConnInterface) LossClient {
	return &lossClient{cc}
}

func (c *lossClient) Describe(ctx context.Context, in *DescribeRequest, opts ...grpc.CallOption) (*Description, error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	out := new(Description)
	err := c.cc.Invoke(ctx, Loss_Describe_FullMethodName, in, out, cOpts...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (c *lossClient) Fit(ctx context.Context, in *FitRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[FitEvent], error) {
	cOpts := append([]grpc.CallOption{grpc.StaticMethod()}, opts...)
	stream, err := c.cc.NewStream(ctx, &Loss_ServiceDesc.Streams[0], Loss_Fit_FullMethodName, cOpts...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[FitRequest, FitEvent]{ClientStream: stream}
	if err := x.ClientStream.SendMsg(in); err != nil {
		return nil, err
	}
	if err := x.ClientStream.CloseSend(); err != nil {
		return nil, err
	}
	return x, nil
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Loss_FitClient = grpc.ServerStreamingClient[FitEvent]

// LossServer is the server API for Loss service.
// All implementations must embed UnimplementedLossServer
// for forward compatibility.
type LossServer interface {
	// Describe validates the options (when given); the schema covers both
	// the trainer's options (epochs, lr, heads, ...) and the loss's own.
	Describe(context.Context, *DescribeRequest) (*Description, error)
	// Fit trains the heads and assigns every requested split. It streams
	// progress events while training and ends with exactly one `result`
	// event, the last message of the stream.
	Fit(*FitRequest, grpc.ServerStreamingServer[FitEvent]) error
	mustEmbedUnimplementedLossServer()
}

// UnimplementedLossServer must be embedded to have
// forward compatible implementations.
//
// NOTE: this should be embedded by value instead of pointer to avoid a nil
// pointer dereference when methods are called.
type UnimplementedLossServer struct{}

func (UnimplementedLossServer) Describe(context.Context, *DescribeRequest) (*Description, error) {
	return nil, status.Error(codes.Unimplemented, "method Describe not implemented")
}
func (UnimplementedLossServer) Fit(*FitRequest, grpc.ServerStreamingServer[FitEvent]) error {
	return status.Error(codes.Unimplemented, "method Fit not implemented")
}
func (UnimplementedLossServer) mustEmbedUnimplementedLossServer() {}
func (UnimplementedLossServer) testEmbeddedByValue()              {}

// UnsafeLossServer may be embedded to opt out of forward compatibility for this service.
// Use of this interface is not recommended, as added methods to LossServer will
// result in compilation errors.
type UnsafeLossServer interface {
	mustEmbedUnimplementedLossServer()
}

func RegisterLossServer(s grpc.ServiceRegistrar, srv LossServer) {
	// If the following call panics, it indicates UnimplementedLossServer was
	// embedded by pointer and is nil.  This will cause panics if an
	// unimplemented method is ever invoked, so we test this at initialization
	// time to prevent it from happening at runtime later due to I/O.
	if t, ok := srv.(interface{ testEmbeddedByValue() }); ok {
		t.testEmbeddedByValue()
	}
	s.RegisterService(&Loss_ServiceDesc, srv)
}

func _Loss_Describe_Handler(srv interface{}, ctx context.Context, dec func(interface{}) error, interceptor grpc.UnaryServerInterceptor) (interface{}, error) {
	in := new(DescribeRequest)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(LossServer).Describe(ctx, in)
	}
	info := &grpc.UnaryServerInfo{
		Server:     srv,
		FullMethod: Loss_Describe_FullMethodName,
	}
	handler := func(ctx context.Context, req interface{}) (interface{}, error) {
		return srv.(LossServer).Describe(ctx, req.(*DescribeRequest))
	}
	return interceptor(ctx, in, info, handler)
}

func _Loss_Fit_Handler(srv interface{}, stream grpc.ServerStream) error {
	m := new(FitRequest)
	if err := stream.RecvMsg(m); err != nil {
		return err
	}
	return srv.(LossServer).Fit(m, &grpc.GenericServerStream[FitRequest, FitEvent]{ServerStream: stream})
}

// This type alias is provided for backwards compatibility with existing code that references the prior non-generic stream type by name.
type Loss_FitServer = grpc.ServerStreamingServer[FitEvent]

// Loss_ServiceDesc is the grpc.ServiceDesc for Loss service.
// It's only intended for direct use with grpc.RegisterService,
// and not to be introspected or modified (even as a copy)
var Loss_ServiceDesc = grpc.ServiceDesc{
	ServiceName: "clusterlab.v1.Loss",
	HandlerType: (*LossServer)(nil),
	Methods: []grpc.MethodDesc{
		{
			MethodName: "Describe",
			Handler:    _Loss_Describe_Handler,
		},
	},
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Fit",
			Handler:       _Loss_Fit_Handler,
			ServerStreams: true,
		},
	},
	Metadata: "clusterlab.proto",
}
