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
//                       to resume. With reason "out_of_memory": the work
//                       ran out of memory (host or GPU); the runner names
//                       the stage and the option to lower.
//     CANCELLED         the call's context was cancelled by the runner.
//     UNKNOWN           any other failure of the plugin's work.
//     INTERNAL          a bug (the Go adapters report recovered panics so).
//   A plugin that exits during a call is reported by the runner as a crash
//   together with the tail of its stderr.
//
// Large arrays never travel in these messages: embeddings, neighbour
// graphs and assignments are .npy files whose paths are passed instead.

// Code generated by protoc-gen-go. DO NOT EDIT.
// versions:
// 	protoc-gen-go v1.36.12
// 	protoc        v3.21.12
// source: clusterlab.proto

package clusterlabpb

import (
	protoreflect "google.golang.org/protobuf/reflect/protoreflect"
	protoimpl "google.golang.org/protobuf/runtime/protoimpl"
	anypb "google.golang.org/protobuf/types/known/anypb"
	reflect "reflect"
	sync "sync"
	unsafe "unsafe"
)

const (
	// Verify that this generated code is sufficiently up-to-date.
	_ = protoimpl.EnforceVersion(20 - protoimpl.MinVersion)
	// Verify that runtime/protoimpl is sufficiently up-to-date.
	_ = protoimpl.EnforceVersion(protoimpl.MaxVersion - 20)
)

// DescribeRequest asks a plugin to describe itself for a set of options.
type DescribeRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// JSON object with the plugin's options (its config section). Empty
	// bytes mean "schema only": return name, version, summary and the option
	// schema, leave identity empty, and do not validate anything. "{}" is
	// different: validate, with every option at its default.
	OptionsJson   []byte `protobuf:"bytes,1,opt,name=options_json,json=optionsJson,proto3" json:"options_json,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *DescribeRequest) Reset() {
	*x = DescribeRequest{}
	mi := &file_clusterlab_proto_msgTypes[0]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *DescribeRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*DescribeRequest) ProtoMessage() {}

func (x *DescribeRequest) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[0]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use DescribeRequest.ProtoReflect.Descriptor instead.
func (*DescribeRequest) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{0}
}

func (x *DescribeRequest) GetOptionsJson() []byte {
	if x != nil {
		return x.OptionsJson
	}
	return nil
}

// Option is one entry of a plugin's option schema. The runner validates the
// plugin's config section against it: unknown keys, wrong types and
// out-of-range values are reported to the user naming the key.
type Option struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Key in the config section, e.g. "batch_size".
	Name string `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	// One of "int", "float", "bool", "string".
	Type string `protobuf:"bytes,2,opt,name=type,proto3" json:"type,omitempty"`
	// JSON encoding of the default value (a JSON number, boolean or string of
	// the option's type). Empty: no default; the option is then required
	// unless `optional` is true.
	DefaultJson []byte `protobuf:"bytes,3,opt,name=default_json,json=defaultJson,proto3" json:"default_json,omitempty"`
	// One or two sentences for the user: what it does, its unit.
	Help string `protobuf:"bytes,4,opt,name=help,proto3" json:"help,omitempty"`
	// Inclusive bounds of numeric options, when set.
	Min *float64 `protobuf:"fixed64,5,opt,name=min,proto3,oneof" json:"min,omitempty"`
	Max *float64 `protobuf:"fixed64,6,opt,name=max,proto3,oneof" json:"max,omitempty"`
	// Allowed values of a string option; empty means any string.
	Choices []string `protobuf:"bytes,7,rep,name=choices,proto3" json:"choices,omitempty"`
	// True for an option without default that may be left unset.
	Optional bool `protobuf:"varint,8,opt,name=optional,proto3" json:"optional,omitempty"`
	// A run setting whose value the runner uses as the default when the
	// config does not set the option: "neighbours.k". Empty: the default
	// above.
	DefaultFrom string `protobuf:"bytes,9,opt,name=default_from,json=defaultFrom,proto3" json:"default_from,omitempty"`
	// Run quantities the value must not exceed, checked by the runner
	// before any work: "neighbours.k", "train_samples" (train images),
	// "image_values" (height x width x channels of one image).
	AtMost        []string `protobuf:"bytes,10,rep,name=at_most,json=atMost,proto3" json:"at_most,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Option) Reset() {
	*x = Option{}
	mi := &file_clusterlab_proto_msgTypes[1]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Option) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Option) ProtoMessage() {}

func (x *Option) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[1]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Option.ProtoReflect.Descriptor instead.
func (*Option) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{1}
}

func (x *Option) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *Option) GetType() string {
	if x != nil {
		return x.Type
	}
	return ""
}

func (x *Option) GetDefaultJson() []byte {
	if x != nil {
		return x.DefaultJson
	}
	return nil
}

func (x *Option) GetHelp() string {
	if x != nil {
		return x.Help
	}
	return ""
}

func (x *Option) GetMin() float64 {
	if x != nil && x.Min != nil {
		return *x.Min
	}
	return 0
}

func (x *Option) GetMax() float64 {
	if x != nil && x.Max != nil {
		return *x.Max
	}
	return 0
}

func (x *Option) GetChoices() []string {
	if x != nil {
		return x.Choices
	}
	return nil
}

func (x *Option) GetOptional() bool {
	if x != nil {
		return x.Optional
	}
	return false
}

func (x *Option) GetDefaultFrom() string {
	if x != nil {
		return x.DefaultFrom
	}
	return ""
}

func (x *Option) GetAtMost() []string {
	if x != nil {
		return x.AtMost
	}
	return nil
}

// Description is what every plugin says about itself.
type Description struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// "dataset", "backbone" or "loss": must match the service it serves.
	Kind string `protobuf:"bytes,1,opt,name=kind,proto3" json:"kind,omitempty"`
	// Short name, e.g. "cifar", "dinov2", "temi"; normally the <name> part of
	// the executable's name.
	Name string `protobuf:"bytes,2,opt,name=name,proto3" json:"name,omitempty"`
	// The plugin's version, free form (e.g. "1.2.0" or a commit).
	Version string `protobuf:"bytes,3,opt,name=version,proto3" json:"version,omitempty"`
	// One line for `clusterlab plugins`.
	Summary string `protobuf:"bytes,4,opt,name=summary,proto3" json:"summary,omitempty"`
	// The option schema (see Option).
	Options []*Option `protobuf:"bytes,5,rep,name=options,proto3" json:"options,omitempty"`
	// A string that changes whenever the plugin would produce different
	// output for the options it was described with: for a backbone e.g. the
	// model file's sha256 plus the preprocessing; for a dataset the files'
	// checksums. It enters the cache keys of the embedding store. Empty when
	// described without options.
	Identity string `protobuf:"bytes,6,opt,name=identity,proto3" json:"identity,omitempty"`
	// Loss plugins only: true when the loss does not read the train k-NN
	// graph (FitRequest.neighbours), as TURTLE; the runner then computes
	// none and sends an empty path. False (the default, and what older
	// plugins send) means the graph is computed and sent.
	NoNeighbours  bool `protobuf:"varint,7,opt,name=no_neighbours,json=noNeighbours,proto3" json:"no_neighbours,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Description) Reset() {
	*x = Description{}
	mi := &file_clusterlab_proto_msgTypes[2]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Description) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Description) ProtoMessage() {}

func (x *Description) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[2]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Description.ProtoReflect.Descriptor instead.
func (*Description) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{2}
}

func (x *Description) GetKind() string {
	if x != nil {
		return x.Kind
	}
	return ""
}

func (x *Description) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *Description) GetVersion() string {
	if x != nil {
		return x.Version
	}
	return ""
}

func (x *Description) GetSummary() string {
	if x != nil {
		return x.Summary
	}
	return ""
}

func (x *Description) GetOptions() []*Option {
	if x != nil {
		return x.Options
	}
	return nil
}

func (x *Description) GetIdentity() string {
	if x != nil {
		return x.Identity
	}
	return ""
}

func (x *Description) GetNoNeighbours() bool {
	if x != nil {
		return x.NoNeighbours
	}
	return false
}

// ImageBatch is a run of consecutive images of one split, uint8 pixels in
// N,H,W,C order (row-major, channels last).
type ImageBatch struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Index of the first image within its split (0-based).
	Offset int64 `protobuf:"varint,1,opt,name=offset,proto3" json:"offset,omitempty"`
	// Number of images in this batch.
	Count int64 `protobuf:"varint,2,opt,name=count,proto3" json:"count,omitempty"`
	// Geometry of every image of the batch. When the dataset's images vary
	// in size (DatasetInfo height and width 0), each batch still holds
	// images of one size: a dataset starts a new batch where the size
	// changes.
	Height   int32 `protobuf:"varint,3,opt,name=height,proto3" json:"height,omitempty"`
	Width    int32 `protobuf:"varint,4,opt,name=width,proto3" json:"width,omitempty"`
	Channels int32 `protobuf:"varint,5,opt,name=channels,proto3" json:"channels,omitempty"`
	// count * height * width * channels bytes.
	Pixels []byte `protobuf:"bytes,6,opt,name=pixels,proto3" json:"pixels,omitempty"`
	// One label per image (class index into DatasetInfo.classes), -1 when
	// unknown. Exactly `count` entries.
	Labels []int32 `protobuf:"varint,7,rep,packed,name=labels,proto3" json:"labels,omitempty"`
	// One name per image (exactly `count` entries), or none: a stable
	// identifier of each image that a user recognises, such as its path
	// relative to the dataset's root. Shown in galleries and written by
	// `clusterlab assign`.
	Names         []string `protobuf:"bytes,8,rep,name=names,proto3" json:"names,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ImageBatch) Reset() {
	*x = ImageBatch{}
	mi := &file_clusterlab_proto_msgTypes[3]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ImageBatch) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ImageBatch) ProtoMessage() {}

func (x *ImageBatch) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[3]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ImageBatch.ProtoReflect.Descriptor instead.
func (*ImageBatch) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{3}
}

func (x *ImageBatch) GetOffset() int64 {
	if x != nil {
		return x.Offset
	}
	return 0
}

func (x *ImageBatch) GetCount() int64 {
	if x != nil {
		return x.Count
	}
	return 0
}

func (x *ImageBatch) GetHeight() int32 {
	if x != nil {
		return x.Height
	}
	return 0
}

func (x *ImageBatch) GetWidth() int32 {
	if x != nil {
		return x.Width
	}
	return 0
}

func (x *ImageBatch) GetChannels() int32 {
	if x != nil {
		return x.Channels
	}
	return 0
}

func (x *ImageBatch) GetPixels() []byte {
	if x != nil {
		return x.Pixels
	}
	return nil
}

func (x *ImageBatch) GetLabels() []int32 {
	if x != nil {
		return x.Labels
	}
	return nil
}

func (x *ImageBatch) GetNames() []string {
	if x != nil {
		return x.Names
	}
	return nil
}

// SplitInfo names one split of a dataset and its number of images.
type SplitInfo struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// "train", "test", or any other name the dataset offers.
	Name string `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	// Number of images in the split; Read sends exactly this many.
	Count         int64 `protobuf:"varint,2,opt,name=count,proto3" json:"count,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *SplitInfo) Reset() {
	*x = SplitInfo{}
	mi := &file_clusterlab_proto_msgTypes[4]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *SplitInfo) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*SplitInfo) ProtoMessage() {}

func (x *SplitInfo) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[4]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use SplitInfo.ProtoReflect.Descriptor instead.
func (*SplitInfo) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{4}
}

func (x *SplitInfo) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *SplitInfo) GetCount() int64 {
	if x != nil {
		return x.Count
	}
	return 0
}

// DatasetInfo is a dataset's answer to Describe.
type DatasetInfo struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Name, version, option schema and identity of the dataset.
	Description *Description `protobuf:"bytes,1,opt,name=description,proto3" json:"description,omitempty"`
	// The splits the dataset offers, with their sizes (empty for a
	// schema-only Describe).
	Splits []*SplitInfo `protobuf:"bytes,2,rep,name=splits,proto3" json:"splits,omitempty"`
	// Class names; the label of an image is an index into this list.
	Classes []string `protobuf:"bytes,3,rep,name=classes,proto3" json:"classes,omitempty"`
	// Geometry shared by every image of the dataset (HWC); 0 when unknown
	// (schema-only Describe). A dataset whose images differ in size gives
	// height and width 0 and its channels; each ImageBatch then carries its
	// own size.
	Height   int32 `protobuf:"varint,4,opt,name=height,proto3" json:"height,omitempty"`
	Width    int32 `protobuf:"varint,5,opt,name=width,proto3" json:"width,omitempty"`
	Channels int32 `protobuf:"varint,6,opt,name=channels,proto3" json:"channels,omitempty"`
	// Files the dataset left out because they could not be read as images
	// (only when its options ask it to skip them rather than fail).
	Skipped       []*SkippedImage `protobuf:"bytes,7,rep,name=skipped,proto3" json:"skipped,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *DatasetInfo) Reset() {
	*x = DatasetInfo{}
	mi := &file_clusterlab_proto_msgTypes[5]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *DatasetInfo) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*DatasetInfo) ProtoMessage() {}

func (x *DatasetInfo) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[5]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use DatasetInfo.ProtoReflect.Descriptor instead.
func (*DatasetInfo) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{5}
}

func (x *DatasetInfo) GetDescription() *Description {
	if x != nil {
		return x.Description
	}
	return nil
}

func (x *DatasetInfo) GetSplits() []*SplitInfo {
	if x != nil {
		return x.Splits
	}
	return nil
}

func (x *DatasetInfo) GetClasses() []string {
	if x != nil {
		return x.Classes
	}
	return nil
}

func (x *DatasetInfo) GetHeight() int32 {
	if x != nil {
		return x.Height
	}
	return 0
}

func (x *DatasetInfo) GetWidth() int32 {
	if x != nil {
		return x.Width
	}
	return 0
}

func (x *DatasetInfo) GetChannels() int32 {
	if x != nil {
		return x.Channels
	}
	return 0
}

func (x *DatasetInfo) GetSkipped() []*SkippedImage {
	if x != nil {
		return x.Skipped
	}
	return nil
}

// SkippedImage is one file a dataset left out.
type SkippedImage struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// The split it would have been in.
	Split string `protobuf:"bytes,1,opt,name=split,proto3" json:"split,omitempty"`
	// The file, as the user gave it (e.g. relative to the dataset's root).
	Name string `protobuf:"bytes,2,opt,name=name,proto3" json:"name,omitempty"`
	// Why it was left out ("truncated JPEG data", "not an image", ...).
	Reason        string `protobuf:"bytes,3,opt,name=reason,proto3" json:"reason,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *SkippedImage) Reset() {
	*x = SkippedImage{}
	mi := &file_clusterlab_proto_msgTypes[6]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *SkippedImage) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*SkippedImage) ProtoMessage() {}

func (x *SkippedImage) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[6]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use SkippedImage.ProtoReflect.Descriptor instead.
func (*SkippedImage) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{6}
}

func (x *SkippedImage) GetSplit() string {
	if x != nil {
		return x.Split
	}
	return ""
}

func (x *SkippedImage) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *SkippedImage) GetReason() string {
	if x != nil {
		return x.Reason
	}
	return ""
}

// ReadRequest asks a dataset for one split.
type ReadRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// JSON object with the dataset's options.
	OptionsJson []byte `protobuf:"bytes,1,opt,name=options_json,json=optionsJson,proto3" json:"options_json,omitempty"`
	// Name of the split to read, one of DatasetInfo.splits.
	Split string `protobuf:"bytes,2,opt,name=split,proto3" json:"split,omitempty"`
	// Maximum number of images per batch (> 0).
	BatchSize     int64 `protobuf:"varint,3,opt,name=batch_size,json=batchSize,proto3" json:"batch_size,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ReadRequest) Reset() {
	*x = ReadRequest{}
	mi := &file_clusterlab_proto_msgTypes[7]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ReadRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ReadRequest) ProtoMessage() {}

func (x *ReadRequest) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[7]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ReadRequest.ProtoReflect.Descriptor instead.
func (*ReadRequest) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{7}
}

func (x *ReadRequest) GetOptionsJson() []byte {
	if x != nil {
		return x.OptionsJson
	}
	return nil
}

func (x *ReadRequest) GetSplit() string {
	if x != nil {
		return x.Split
	}
	return ""
}

func (x *ReadRequest) GetBatchSize() int64 {
	if x != nil {
		return x.BatchSize
	}
	return 0
}

// BackboneInfo is a backbone's answer to Describe.
type BackboneInfo struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Name, version, option schema and identity of the backbone.
	Description *Description `protobuf:"bytes,1,opt,name=description,proto3" json:"description,omitempty"`
	// True for backbones that must see the train split before they can
	// embed (e.g. PCA): the runner then calls Fit once first.
	NeedsFit      bool `protobuf:"varint,2,opt,name=needs_fit,json=needsFit,proto3" json:"needs_fit,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *BackboneInfo) Reset() {
	*x = BackboneInfo{}
	mi := &file_clusterlab_proto_msgTypes[8]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *BackboneInfo) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*BackboneInfo) ProtoMessage() {}

func (x *BackboneInfo) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[8]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use BackboneInfo.ProtoReflect.Descriptor instead.
func (*BackboneInfo) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{8}
}

func (x *BackboneInfo) GetDescription() *Description {
	if x != nil {
		return x.Description
	}
	return nil
}

func (x *BackboneInfo) GetNeedsFit() bool {
	if x != nil {
		return x.NeedsFit
	}
	return false
}

// EmbedRequest configures one Fit or Embed stream.
type EmbedRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// JSON object with the backbone's options.
	OptionsJson []byte `protobuf:"bytes,1,opt,name=options_json,json=optionsJson,proto3" json:"options_json,omitempty"`
	// Directory owned by this backbone configuration in the embedding store:
	// Fit writes its fitted state there, Embed reads it. It exists.
	StateDir string `protobuf:"bytes,2,opt,name=state_dir,json=stateDir,proto3" json:"state_dir,omitempty"`
	// The dataset's Describe answer, so the backbone knows the image shape
	// and may fold the dataset's identity into its state.
	Dataset *DatasetInfo `protobuf:"bytes,3,opt,name=dataset,proto3" json:"dataset,omitempty"`
	// The split whose images follow.
	Split         string `protobuf:"bytes,4,opt,name=split,proto3" json:"split,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *EmbedRequest) Reset() {
	*x = EmbedRequest{}
	mi := &file_clusterlab_proto_msgTypes[9]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *EmbedRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*EmbedRequest) ProtoMessage() {}

func (x *EmbedRequest) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[9]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use EmbedRequest.ProtoReflect.Descriptor instead.
func (*EmbedRequest) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{9}
}

func (x *EmbedRequest) GetOptionsJson() []byte {
	if x != nil {
		return x.OptionsJson
	}
	return nil
}

func (x *EmbedRequest) GetStateDir() string {
	if x != nil {
		return x.StateDir
	}
	return ""
}

func (x *EmbedRequest) GetDataset() *DatasetInfo {
	if x != nil {
		return x.Dataset
	}
	return nil
}

func (x *EmbedRequest) GetSplit() string {
	if x != nil {
		return x.Split
	}
	return ""
}

// BackboneInput is one client message of Backbone.Fit and Backbone.Embed.
type BackboneInput struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Types that are valid to be assigned to Input:
	//
	//	*BackboneInput_Header
	//	*BackboneInput_Batch
	Input         isBackboneInput_Input `protobuf_oneof:"input"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *BackboneInput) Reset() {
	*x = BackboneInput{}
	mi := &file_clusterlab_proto_msgTypes[10]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *BackboneInput) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*BackboneInput) ProtoMessage() {}

func (x *BackboneInput) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[10]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use BackboneInput.ProtoReflect.Descriptor instead.
func (*BackboneInput) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{10}
}

func (x *BackboneInput) GetInput() isBackboneInput_Input {
	if x != nil {
		return x.Input
	}
	return nil
}

func (x *BackboneInput) GetHeader() *EmbedRequest {
	if x != nil {
		if x, ok := x.Input.(*BackboneInput_Header); ok {
			return x.Header
		}
	}
	return nil
}

func (x *BackboneInput) GetBatch() *ImageBatch {
	if x != nil {
		if x, ok := x.Input.(*BackboneInput_Batch); ok {
			return x.Batch
		}
	}
	return nil
}

type isBackboneInput_Input interface {
	isBackboneInput_Input()
}

type BackboneInput_Header struct {
	// First message of the stream only.
	Header *EmbedRequest `protobuf:"bytes,1,opt,name=header,proto3,oneof"`
}

type BackboneInput_Batch struct {
	// Every later message.
	Batch *ImageBatch `protobuf:"bytes,2,opt,name=batch,proto3,oneof"`
}

func (*BackboneInput_Header) isBackboneInput_Input() {}

func (*BackboneInput_Batch) isBackboneInput_Input() {}

// FitBackboneResponse ends a successful Backbone.Fit; it has no fields.
type FitBackboneResponse struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FitBackboneResponse) Reset() {
	*x = FitBackboneResponse{}
	mi := &file_clusterlab_proto_msgTypes[11]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FitBackboneResponse) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FitBackboneResponse) ProtoMessage() {}

func (x *FitBackboneResponse) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[11]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FitBackboneResponse.ProtoReflect.Descriptor instead.
func (*FitBackboneResponse) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{11}
}

// EmbeddingBatch holds the embeddings of consecutive images of a split.
type EmbeddingBatch struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Index of the first image within its split; equals the offset of the
	// image batch it answers (or of the part of it, when split).
	Offset int64 `protobuf:"varint,1,opt,name=offset,proto3" json:"offset,omitempty"`
	// Number of embeddings (rows).
	Count int64 `protobuf:"varint,2,opt,name=count,proto3" json:"count,omitempty"`
	// Embedding dimension (columns); the same for every batch of a stream.
	Dim int32 `protobuf:"varint,3,opt,name=dim,proto3" json:"dim,omitempty"`
	// count * dim values, row-major (row i is the embedding of image
	// offset + i).
	Values        []float32 `protobuf:"fixed32,4,rep,packed,name=values,proto3" json:"values,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *EmbeddingBatch) Reset() {
	*x = EmbeddingBatch{}
	mi := &file_clusterlab_proto_msgTypes[12]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *EmbeddingBatch) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*EmbeddingBatch) ProtoMessage() {}

func (x *EmbeddingBatch) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[12]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use EmbeddingBatch.ProtoReflect.Descriptor instead.
func (*EmbeddingBatch) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{12}
}

func (x *EmbeddingBatch) GetOffset() int64 {
	if x != nil {
		return x.Offset
	}
	return 0
}

func (x *EmbeddingBatch) GetCount() int64 {
	if x != nil {
		return x.Count
	}
	return 0
}

func (x *EmbeddingBatch) GetDim() int32 {
	if x != nil {
		return x.Dim
	}
	return 0
}

func (x *EmbeddingBatch) GetValues() []float32 {
	if x != nil {
		return x.Values
	}
	return nil
}

// FitRequest is everything a loss plugin needs to train its heads. Arrays
// are .npy files (NumPy format, little-endian, C order) in the store.
type FitRequest struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// JSON object with the loss section of the config (trainer and loss
	// options), to be validated against the Describe schema.
	OptionsJson []byte `protobuf:"bytes,1,opt,name=options_json,json=optionsJson,proto3" json:"options_json,omitempty"`
	// Path of the train embeddings, float32 [N, D].
	Train string `protobuf:"bytes,2,opt,name=train,proto3" json:"train,omitempty"`
	// Path of the train k-NN graph, int32 [N, k], most similar first, self
	// excluded.
	Neighbours string `protobuf:"bytes,3,opt,name=neighbours,proto3" json:"neighbours,omitempty"`
	// Split name -> path of the float32 [N_split, D] embeddings to assign
	// after training (every split, train included).
	Assign map[string]string `protobuf:"bytes,4,rep,name=assign,proto3" json:"assign,omitempty" protobuf_key:"bytes,1,opt,name=key" protobuf_val:"bytes,2,opt,name=value"`
	// K, the number of clusters of every head.
	Clusters int64 `protobuf:"varint,5,opt,name=clusters,proto3" json:"clusters,omitempty"`
	// Seed of every random choice of the run.
	Seed int64 `protobuf:"varint,6,opt,name=seed,proto3" json:"seed,omitempty"`
	// GoMLX backend to use: "auto", "onnx", "go" or "xla[:...]".
	Backend string `protobuf:"bytes,7,opt,name=backend,proto3" json:"backend,omitempty"`
	// Directory where the plugin writes assignments, history and checkpoints
	// (the trial's run directory). It exists.
	OutDir string `protobuf:"bytes,8,opt,name=out_dir,json=outDir,proto3" json:"out_dir,omitempty"`
	// The run's representation spaces, one per backbone, in config order,
	// each as its backbone gave it (not normalised). A single-space run has
	// one, whose files are train and assign above. With several, train and
	// assign are their concatenation after per-space L2 normalisation (what
	// single-space losses train on); a loss that uses spaces separately
	// (TURTLE) reads them here.
	Spaces []*Space `protobuf:"bytes,9,rep,name=spaces,proto3" json:"spaces,omitempty"`
	// The split to evaluate after every epoch for live monitoring
	// (TensorBoard); absent: none.
	Monitor       *Monitor `protobuf:"bytes,10,opt,name=monitor,proto3" json:"monitor,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FitRequest) Reset() {
	*x = FitRequest{}
	mi := &file_clusterlab_proto_msgTypes[13]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FitRequest) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FitRequest) ProtoMessage() {}

func (x *FitRequest) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[13]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FitRequest.ProtoReflect.Descriptor instead.
func (*FitRequest) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{13}
}

func (x *FitRequest) GetOptionsJson() []byte {
	if x != nil {
		return x.OptionsJson
	}
	return nil
}

func (x *FitRequest) GetTrain() string {
	if x != nil {
		return x.Train
	}
	return ""
}

func (x *FitRequest) GetNeighbours() string {
	if x != nil {
		return x.Neighbours
	}
	return ""
}

func (x *FitRequest) GetAssign() map[string]string {
	if x != nil {
		return x.Assign
	}
	return nil
}

func (x *FitRequest) GetClusters() int64 {
	if x != nil {
		return x.Clusters
	}
	return 0
}

func (x *FitRequest) GetSeed() int64 {
	if x != nil {
		return x.Seed
	}
	return 0
}

func (x *FitRequest) GetBackend() string {
	if x != nil {
		return x.Backend
	}
	return ""
}

func (x *FitRequest) GetOutDir() string {
	if x != nil {
		return x.OutDir
	}
	return ""
}

func (x *FitRequest) GetSpaces() []*Space {
	if x != nil {
		return x.Spaces
	}
	return nil
}

func (x *FitRequest) GetMonitor() *Monitor {
	if x != nil {
		return x.Monitor
	}
	return nil
}

// Monitor names the split a trainer evaluates after every epoch, for the
// run's TensorBoard files. Its labels serve the display alone, never
// training or the choice of head.
type Monitor struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// A key of FitRequest.assign.
	Split string `protobuf:"bytes,1,opt,name=split,proto3" json:"split,omitempty"`
	// Path of the split's labels, int32 [N_split] (negative: unknown), or
	// empty for an unlabelled split.
	Labels string `protobuf:"bytes,2,opt,name=labels,proto3" json:"labels,omitempty"`
	// At most this many rows are evaluated (a seeded subset); 0: all.
	MaxRows       int64 `protobuf:"varint,3,opt,name=max_rows,json=maxRows,proto3" json:"max_rows,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Monitor) Reset() {
	*x = Monitor{}
	mi := &file_clusterlab_proto_msgTypes[14]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Monitor) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Monitor) ProtoMessage() {}

func (x *Monitor) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[14]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Monitor.ProtoReflect.Descriptor instead.
func (*Monitor) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{14}
}

func (x *Monitor) GetSplit() string {
	if x != nil {
		return x.Split
	}
	return ""
}

func (x *Monitor) GetLabels() string {
	if x != nil {
		return x.Labels
	}
	return ""
}

func (x *Monitor) GetMaxRows() int64 {
	if x != nil {
		return x.MaxRows
	}
	return 0
}

// Space is one representation space of a run: one backbone's embeddings of
// the train split and of every split to assign.
type Space struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Name of the space (the backbone's name, or the config's name for it).
	Name string `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	// Path of the train embeddings, float32 [N, D_s].
	Train string `protobuf:"bytes,2,opt,name=train,proto3" json:"train,omitempty"`
	// Split name -> path of the float32 [N_split, D_s] embeddings.
	Assign        map[string]string `protobuf:"bytes,3,rep,name=assign,proto3" json:"assign,omitempty" protobuf_key:"bytes,1,opt,name=key" protobuf_val:"bytes,2,opt,name=value"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Space) Reset() {
	*x = Space{}
	mi := &file_clusterlab_proto_msgTypes[15]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Space) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Space) ProtoMessage() {}

func (x *Space) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[15]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Space.ProtoReflect.Descriptor instead.
func (*Space) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{15}
}

func (x *Space) GetName() string {
	if x != nil {
		return x.Name
	}
	return ""
}

func (x *Space) GetTrain() string {
	if x != nil {
		return x.Train
	}
	return ""
}

func (x *Space) GetAssign() map[string]string {
	if x != nil {
		return x.Assign
	}
	return nil
}

// Progress is a training progress report.
type Progress struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// 1-based epoch being run, and the number of epochs.
	Epoch  int64 `protobuf:"varint,1,opt,name=epoch,proto3" json:"epoch,omitempty"`
	Epochs int64 `protobuf:"varint,2,opt,name=epochs,proto3" json:"epochs,omitempty"`
	// Global step, and the total number of steps.
	Step  int64 `protobuf:"varint,3,opt,name=step,proto3" json:"step,omitempty"`
	Steps int64 `protobuf:"varint,4,opt,name=steps,proto3" json:"steps,omitempty"`
	// Mean loss over heads of the latest step or epoch.
	Loss float64 `protobuf:"fixed64,5,opt,name=loss,proto3" json:"loss,omitempty"`
	// Free text (backend chosen, warnings); may be empty.
	Message       string `protobuf:"bytes,6,opt,name=message,proto3" json:"message,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Progress) Reset() {
	*x = Progress{}
	mi := &file_clusterlab_proto_msgTypes[16]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Progress) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Progress) ProtoMessage() {}

func (x *Progress) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[16]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Progress.ProtoReflect.Descriptor instead.
func (*Progress) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{16}
}

func (x *Progress) GetEpoch() int64 {
	if x != nil {
		return x.Epoch
	}
	return 0
}

func (x *Progress) GetEpochs() int64 {
	if x != nil {
		return x.Epochs
	}
	return 0
}

func (x *Progress) GetStep() int64 {
	if x != nil {
		return x.Step
	}
	return 0
}

func (x *Progress) GetSteps() int64 {
	if x != nil {
		return x.Steps
	}
	return 0
}

func (x *Progress) GetLoss() float64 {
	if x != nil {
		return x.Loss
	}
	return 0
}

func (x *Progress) GetMessage() string {
	if x != nil {
		return x.Message
	}
	return ""
}

// FitResult says where the plugin put its outputs.
type FitResult struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// The backend actually used, e.g. "onnx:cpu".
	Backend string `protobuf:"bytes,1,opt,name=backend,proto3" json:"backend,omitempty"`
	// The label-free choice of head: the one with the lowest mean loss in the
	// last epoch (0-based).
	BestHead int64 `protobuf:"varint,2,opt,name=best_head,json=bestHead,proto3" json:"best_head,omitempty"`
	// Per-head mean losses of the last epoch.
	HeadLosses []float64 `protobuf:"fixed64,3,rep,packed,name=head_losses,json=headLosses,proto3" json:"head_losses,omitempty"`
	// Split name -> path of the .npy cluster ids, int32 [H, N] (teacher
	// argmax per head), for every split of FitRequest.assign.
	Assignments map[string]string `protobuf:"bytes,4,rep,name=assignments,proto3" json:"assignments,omitempty" protobuf_key:"bytes,1,opt,name=key" protobuf_val:"bytes,2,opt,name=value"`
	// Path of history.jsonl (one JSON object per epoch).
	History string `protobuf:"bytes,5,opt,name=history,proto3" json:"history,omitempty"`
	// Wall-clock seconds of the fit.
	Seconds float64 `protobuf:"fixed64,6,opt,name=seconds,proto3" json:"seconds,omitempty"`
	// Split name -> path of the .npy cluster probabilities of the selected
	// head, float32 [N, K] (rows sum to 1; their argmax is that head's row of
	// the assignments). Optional: without them the runner's galleries cannot
	// rank images by confidence and say so.
	Probabilities map[string]string `protobuf:"bytes,7,rep,name=probabilities,proto3" json:"probabilities,omitempty" protobuf_key:"bytes,1,opt,name=key" protobuf_val:"bytes,2,opt,name=value"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FitResult) Reset() {
	*x = FitResult{}
	mi := &file_clusterlab_proto_msgTypes[17]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FitResult) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FitResult) ProtoMessage() {}

func (x *FitResult) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[17]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FitResult.ProtoReflect.Descriptor instead.
func (*FitResult) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{17}
}

func (x *FitResult) GetBackend() string {
	if x != nil {
		return x.Backend
	}
	return ""
}

func (x *FitResult) GetBestHead() int64 {
	if x != nil {
		return x.BestHead
	}
	return 0
}

func (x *FitResult) GetHeadLosses() []float64 {
	if x != nil {
		return x.HeadLosses
	}
	return nil
}

func (x *FitResult) GetAssignments() map[string]string {
	if x != nil {
		return x.Assignments
	}
	return nil
}

func (x *FitResult) GetHistory() string {
	if x != nil {
		return x.History
	}
	return ""
}

func (x *FitResult) GetSeconds() float64 {
	if x != nil {
		return x.Seconds
	}
	return 0
}

func (x *FitResult) GetProbabilities() map[string]string {
	if x != nil {
		return x.Probabilities
	}
	return nil
}

// FitEvent is one message of the Loss.Fit stream.
type FitEvent struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// Types that are valid to be assigned to Event:
	//
	//	*FitEvent_Progress
	//	*FitEvent_Result
	Event         isFitEvent_Event `protobuf_oneof:"event"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *FitEvent) Reset() {
	*x = FitEvent{}
	mi := &file_clusterlab_proto_msgTypes[18]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *FitEvent) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*FitEvent) ProtoMessage() {}

func (x *FitEvent) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[18]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use FitEvent.ProtoReflect.Descriptor instead.
func (*FitEvent) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{18}
}

func (x *FitEvent) GetEvent() isFitEvent_Event {
	if x != nil {
		return x.Event
	}
	return nil
}

func (x *FitEvent) GetProgress() *Progress {
	if x != nil {
		if x, ok := x.Event.(*FitEvent_Progress); ok {
			return x.Progress
		}
	}
	return nil
}

func (x *FitEvent) GetResult() *FitResult {
	if x != nil {
		if x, ok := x.Event.(*FitEvent_Result); ok {
			return x.Result
		}
	}
	return nil
}

type isFitEvent_Event interface {
	isFitEvent_Event()
}

type FitEvent_Progress struct {
	// Any number of these, while training.
	Progress *Progress `protobuf:"bytes,1,opt,name=progress,proto3,oneof"`
}

type FitEvent_Result struct {
	// Last message of a successful stream.
	Result *FitResult `protobuf:"bytes,2,opt,name=result,proto3,oneof"`
}

func (*FitEvent_Progress) isFitEvent_Event() {}

func (*FitEvent_Result) isFitEvent_Event() {}

// ErrorDetail is attached to an error status (as a detail of
// google.rpc.Status) to say what kind of error it is: the runner reads
// these fields, never the message text. It names the option at fault of an
// INVALID_ARGUMENT status, so that the runner can point at the config key
// and where its value came from, and marks a RESOURCE_EXHAUSTED status
// caused by a full disk.
//
// From a language whose gRPC library has no helper for status details, send
// the serialized Status below, with the ErrorDetail packed into a
// google.protobuf.Any (type URL
// "type.googleapis.com/clusterlab.v1.ErrorDetail"), as the binary trailing
// metadata "grpc-status-details-bin" along with the status code and message.
type ErrorDetail struct {
	state protoimpl.MessageState `protogen:"open.v1"`
	// The option's key in the plugin's config section.
	Option string `protobuf:"bytes,1,opt,name=option,proto3" json:"option,omitempty"`
	// What is wrong with it, without the key (e.g. "5 is above the maximum 3").
	Message string `protobuf:"bytes,2,opt,name=message,proto3" json:"message,omitempty"`
	// Why the call failed, when the status code alone does not say:
	// "no_space" (RESOURCE_EXHAUSTED: disk full, quota, file size limit).
	Reason        string `protobuf:"bytes,3,opt,name=reason,proto3" json:"reason,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *ErrorDetail) Reset() {
	*x = ErrorDetail{}
	mi := &file_clusterlab_proto_msgTypes[19]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *ErrorDetail) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*ErrorDetail) ProtoMessage() {}

func (x *ErrorDetail) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[19]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use ErrorDetail.ProtoReflect.Descriptor instead.
func (*ErrorDetail) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{19}
}

func (x *ErrorDetail) GetOption() string {
	if x != nil {
		return x.Option
	}
	return ""
}

func (x *ErrorDetail) GetMessage() string {
	if x != nil {
		return x.Message
	}
	return ""
}

func (x *ErrorDetail) GetReason() string {
	if x != nil {
		return x.Reason
	}
	return ""
}

// Status has the fields of google.rpc.Status (same numbers, same wire
// format), for plugins that build "grpc-status-details-bin" themselves.
// The runner never sends it and Go plugins never need it.
type Status struct {
	state         protoimpl.MessageState `protogen:"open.v1"`
	Code          int32                  `protobuf:"varint,1,opt,name=code,proto3" json:"code,omitempty"`
	Message       string                 `protobuf:"bytes,2,opt,name=message,proto3" json:"message,omitempty"`
	Details       []*anypb.Any           `protobuf:"bytes,3,rep,name=details,proto3" json:"details,omitempty"`
	unknownFields protoimpl.UnknownFields
	sizeCache     protoimpl.SizeCache
}

func (x *Status) Reset() {
	*x = Status{}
	mi := &file_clusterlab_proto_msgTypes[20]
	ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
	ms.StoreMessageInfo(mi)
}

func (x *Status) String() string {
	return protoimpl.X.MessageStringOf(x)
}

func (*Status) ProtoMessage() {}

func (x *Status) ProtoReflect() protoreflect.Message {
	mi := &file_clusterlab_proto_msgTypes[20]
	if x != nil {
		ms := protoimpl.X.MessageStateOf(protoimpl.Pointer(x))
		if ms.LoadMessageInfo() == nil {
			ms.StoreMessageInfo(mi)
		}
		return ms
	}
	return mi.MessageOf(x)
}

// Deprecated: Use Status.ProtoReflect.Descriptor instead.
func (*Status) Descriptor() ([]byte, []int) {
	return file_clusterlab_proto_rawDescGZIP(), []int{20}
}

func (x *Status) GetCode() int32 {
	if x != nil {
		return x.Code
	}
	return 0
}

func (x *Status) GetMessage() string {
	if x != nil {
		return x.Message
	}
	return ""
}

func (x *Status) GetDetails() []*anypb.Any {
	if x != nil {
		return x.Details
	}
	return nil
}

var File_clusterlab_proto protoreflect.FileDescriptor

const file_clusterlab_proto_rawDesc = "" +
	"\n" +
	"\x10clusterlab.proto\x12\rclusterlab.v1\x1a\x19google/protobuf/any.proto\"4\n" +
	"\x0fDescribeRequest\x12!\n" +
	"\foptions_json\x18\x01 \x01(\fR\voptionsJson\"\x97\x02\n" +
	"\x06Option\x12\x12\n" +
	"\x04name\x18\x01 \x01(\tR\x04name\x12\x12\n" +
	"\x04type\x18\x02 \x01(\tR\x04type\x12!\n" +
	"\fdefault_json\x18\x03 \x01(\fR\vdefaultJson\x12\x12\n" +
	"\x04help\x18\x04 \x01(\tR\x04help\x12\x15\n" +
	"\x03min\x18\x05 \x01(\x01H\x00R\x03min\x88\x01\x01\x12\x15\n" +
	"\x03max\x18\x06 \x01(\x01H\x01R\x03max\x88\x01\x01\x12\x18\n" +
	"\achoices\x18\a \x03(\tR\achoices\x12\x1a\n" +
	"\boptional\x18\b \x01(\bR\boptional\x12!\n" +
	"\fdefault_from\x18\t \x01(\tR\vdefaultFrom\x12\x17\n" +
	"\aat_most\x18\n" +
	" \x03(\tR\x06atMostB\x06\n" +
	"\x04_minB\x06\n" +
	"\x04_max\"\xdb\x01\n" +
	"\vDescription\x12\x12\n" +
	"\x04kind\x18\x01 \x01(\tR\x04kind\x12\x12\n" +
	"\x04name\x18\x02 \x01(\tR\x04name\x12\x18\n" +
	"\aversion\x18\x03 \x01(\tR\aversion\x12\x18\n" +
	"\asummary\x18\x04 \x01(\tR\asummary\x12/\n" +
	"\aoptions\x18\x05 \x03(\v2\x15.clusterlab.v1.OptionR\aoptions\x12\x1a\n" +
	"\bidentity\x18\x06 \x01(\tR\bidentity\x12#\n" +
	"\rno_neighbours\x18\a \x01(\bR\fnoNeighbours\"\xca\x01\n" +
	"\n" +
	"ImageBatch\x12\x16\n" +
	"\x06offset\x18\x01 \x01(\x03R\x06offset\x12\x14\n" +
	"\x05count\x18\x02 \x01(\x03R\x05count\x12\x16\n" +
	"\x06height\x18\x03 \x01(\x05R\x06height\x12\x14\n" +
	"\x05width\x18\x04 \x01(\x05R\x05width\x12\x1a\n" +
	"\bchannels\x18\x05 \x01(\x05R\bchannels\x12\x16\n" +
	"\x06pixels\x18\x06 \x01(\fR\x06pixels\x12\x16\n" +
	"\x06labels\x18\a \x03(\x05R\x06labels\x12\x14\n" +
	"\x05names\x18\b \x03(\tR\x05names\"5\n" +
	"\tSplitInfo\x12\x12\n" +
	"\x04name\x18\x01 \x01(\tR\x04name\x12\x14\n" +
	"\x05count\x18\x02 \x01(\x03R\x05count\"\x98\x02\n" +
	"\vDatasetInfo\x12<\n" +
	"\vdescription\x18\x01 \x01(\v2\x1a.clusterlab.v1.DescriptionR\vdescription\x120\n" +
	"\x06splits\x18\x02 \x03(\v2\x18.clusterlab.v1.SplitInfoR\x06splits\x12\x18\n" +
	"\aclasses\x18\x03 \x03(\tR\aclasses\x12\x16\n" +
	"\x06height\x18\x04 \x01(\x05R\x06height\x12\x14\n" +
	"\x05width\x18\x05 \x01(\x05R\x05width\x12\x1a\n" +
	"\bchannels\x18\x06 \x01(\x05R\bchannels\x125\n" +
	"\askipped\x18\a \x03(\v2\x1b.clusterlab.v1.SkippedImageR\askipped\"P\n" +
	"\fSkippedImage\x12\x14\n" +
	"\x05split\x18\x01 \x01(\tR\x05split\x12\x12\n" +
	"\x04name\x18\x02 \x01(\tR\x04name\x12\x16\n" +
	"\x06reason\x18\x03 \x01(\tR\x06reason\"e\n" +
	"\vReadRequest\x12!\n" +
	"\foptions_json\x18\x01 \x01(\fR\voptionsJson\x12\x14\n" +
	"\x05split\x18\x02 \x01(\tR\x05split\x12\x1d\n" +
	"\n" +
	"batch_size\x18\x03 \x01(\x03R\tbatchSize\"i\n" +
	"\fBackboneInfo\x12<\n" +
	"\vdescription\x18\x01 \x01(\v2\x1a.clusterlab.v1.DescriptionR\vdescription\x12\x1b\n" +
	"\tneeds_fit\x18\x02 \x01(\bR\bneedsFit\"\x9a\x01\n" +
	"\fEmbedRequest\x12!\n" +
	"\foptions_json\x18\x01 \x01(\fR\voptionsJson\x12\x1b\n" +
	"\tstate_dir\x18\x02 \x01(\tR\bstateDir\x124\n" +
	"\adataset\x18\x03 \x01(\v2\x1a.clusterlab.v1.DatasetInfoR\adataset\x12\x14\n" +
	"\x05split\x18\x04 \x01(\tR\x05split\"\x82\x01\n" +
	"\rBackboneInput\x125\n" +
	"\x06header\x18\x01 \x01(\v2\x1b.clusterlab.v1.EmbedRequestH\x00R\x06header\x121\n" +
	"\x05batch\x18\x02 \x01(\v2\x19.clusterlab.v1.ImageBatchH\x00R\x05batchB\a\n" +
	"\x05input\"\x15\n" +
	"\x13FitBackboneResponse\"h\n" +
	"\x0eEmbeddingBatch\x12\x16\n" +
	"\x06offset\x18\x01 \x01(\x03R\x06offset\x12\x14\n" +
	"\x05count\x18\x02 \x01(\x03R\x05count\x12\x10\n" +
	"\x03dim\x18\x03 \x01(\x05R\x03dim\x12\x16\n" +
	"\x06values\x18\x04 \x03(\x02R\x06values\"\xa2\x03\n" +
	"\n" +
	"FitRequest\x12!\n" +
	"\foptions_json\x18\x01 \x01(\fR\voptionsJson\x12\x14\n" +
	"\x05train\x18\x02 \x01(\tR\x05train\x12\x1e\n" +
	"\n" +
	"neighbours\x18\x03 \x01(\tR\n" +
	"neighbours\x12=\n" +
	"\x06assign\x18\x04 \x03(\v2%.clusterlab.v1.FitRequest.AssignEntryR\x06assign\x12\x1a\n" +
	"\bclusters\x18\x05 \x01(\x03R\bclusters\x12\x12\n" +
	"\x04seed\x18\x06 \x01(\x03R\x04seed\x12\x18\n" +
	"\abackend\x18\a \x01(\tR\abackend\x12\x17\n" +
	"\aout_dir\x18\b \x01(\tR\x06outDir\x12,\n" +
	"\x06spaces\x18\t \x03(\v2\x14.clusterlab.v1.SpaceR\x06spaces\x120\n" +
	"\amonitor\x18\n" +
	" \x01(\v2\x16.clusterlab.v1.MonitorR\amonitor\x1a9\n" +
	"\vAssignEntry\x12\x10\n" +
	"\x03key\x18\x01 \x01(\tR\x03key\x12\x14\n" +
	"\x05value\x18\x02 \x01(\tR\x05value:\x028\x01\"R\n" +
	"\aMonitor\x12\x14\n" +
	"\x05split\x18\x01 \x01(\tR\x05split\x12\x16\n" +
	"\x06labels\x18\x02 \x01(\tR\x06labels\x12\x19\n" +
	"\bmax_rows\x18\x03 \x01(\x03R\amaxRows\"\xa6\x01\n" +
	"\x05Space\x12\x12\n" +
	"\x04name\x18\x01 \x01(\tR\x04name\x12\x14\n" +
	"\x05train\x18\x02 \x01(\tR\x05train\x128\n" +
	"\x06assign\x18\x03 \x03(\v2 .clusterlab.v1.Space.AssignEntryR\x06assign\x1a9\n" +
	"\vAssignEntry\x12\x10\n" +
	"\x03key\x18\x01 \x01(\tR\x03key\x12\x14\n" +
	"\x05value\x18\x02 \x01(\tR\x05value:\x028\x01\"\x90\x01\n" +
	"\bProgress\x12\x14\n" +
	"\x05epoch\x18\x01 \x01(\x03R\x05epoch\x12\x16\n" +
	"\x06epochs\x18\x02 \x01(\x03R\x06epochs\x12\x12\n" +
	"\x04step\x18\x03 \x01(\x03R\x04step\x12\x14\n" +
	"\x05steps\x18\x04 \x01(\x03R\x05steps\x12\x12\n" +
	"\x04loss\x18\x05 \x01(\x01R\x04loss\x12\x18\n" +
	"\amessage\x18\x06 \x01(\tR\amessage\"\xb9\x03\n" +
	"\tFitResult\x12\x18\n" +
	"\abackend\x18\x01 \x01(\tR\abackend\x12\x1b\n" +
	"\tbest_head\x18\x02 \x01(\x03R\bbestHead\x12\x1f\n" +
	"\vhead_losses\x18\x03 \x03(\x01R\n" +
	"headLosses\x12K\n" +
	"\vassignments\x18\x04 \x03(\v2).clusterlab.v1.FitResult.AssignmentsEntryR\vassignments\x12\x18\n" +
	"\ahistory\x18\x05 \x01(\tR\ahistory\x12\x18\n" +
	"\aseconds\x18\x06 \x01(\x01R\aseconds\x12Q\n" +
	"\rprobabilities\x18\a \x03(\v2+.clusterlab.v1.FitResult.ProbabilitiesEntryR\rprobabilities\x1a>\n" +
	"\x10AssignmentsEntry\x12\x10\n" +
	"\x03key\x18\x01 \x01(\tR\x03key\x12\x14\n" +
	"\x05value\x18\x02 \x01(\tR\x05value:\x028\x01\x1a@\n" +
	"\x12ProbabilitiesEntry\x12\x10\n" +
	"\x03key\x18\x01 \x01(\tR\x03key\x12\x14\n" +
	"\x05value\x18\x02 \x01(\tR\x05value:\x028\x01\"~\n" +
	"\bFitEvent\x125\n" +
	"\bprogress\x18\x01 \x01(\v2\x17.clusterlab.v1.ProgressH\x00R\bprogress\x122\n" +
	"\x06result\x18\x02 \x01(\v2\x18.clusterlab.v1.FitResultH\x00R\x06resultB\a\n" +
	"\x05event\"W\n" +
	"\vErrorDetail\x12\x16\n" +
	"\x06option\x18\x01 \x01(\tR\x06option\x12\x18\n" +
	"\amessage\x18\x02 \x01(\tR\amessage\x12\x16\n" +
	"\x06reason\x18\x03 \x01(\tR\x06reason\"f\n" +
	"\x06Status\x12\x12\n" +
	"\x04code\x18\x01 \x01(\x05R\x04code\x12\x18\n" +
	"\amessage\x18\x02 \x01(\tR\amessage\x12.\n" +
	"\adetails\x18\x03 \x03(\v2\x14.google.protobuf.AnyR\adetails2\x92\x01\n" +
	"\aDataset\x12F\n" +
	"\bDescribe\x12\x1e.clusterlab.v1.DescribeRequest\x1a\x1a.clusterlab.v1.DatasetInfo\x12?\n" +
	"\x04Read\x12\x1a.clusterlab.v1.ReadRequest\x1a\x19.clusterlab.v1.ImageBatch0\x012\xe8\x01\n" +
	"\bBackbone\x12G\n" +
	"\bDescribe\x12\x1e.clusterlab.v1.DescribeRequest\x1a\x1b.clusterlab.v1.BackboneInfo\x12I\n" +
	"\x03Fit\x12\x1c.clusterlab.v1.BackboneInput\x1a\".clusterlab.v1.FitBackboneResponse(\x01\x12H\n" +
	"\x05Embed\x12\x1c.clusterlab.v1.BackboneInput\x1a\x1d.clusterlab.v1.EmbeddingBatch(\x010\x012\x8b\x01\n" +
	"\x04Loss\x12F\n" +
	"\bDescribe\x12\x1e.clusterlab.v1.DescribeRequest\x1a\x1a.clusterlab.v1.Description\x12;\n" +
	"\x03Fit\x12\x19.clusterlab.v1.FitRequest\x1a\x17.clusterlab.v1.FitEvent0\x01B=Z;github.com/clusterlab/clusterlab/plugins/proto;clusterlabpbb\x06proto3"

var (
	file_clusterlab_proto_rawDescOnce sync.Once
	file_clusterlab_proto_rawDescData []byte
)

func file_clusterlab_proto_rawDescGZIP() []byte {
	file_clusterlab_proto_rawDescOnce.Do(func() {
		file_clusterlab_proto_rawDescData = protoimpl.X.CompressGZIP(unsafe.Slice(unsafe.StringData(file_clusterlab_proto_rawDesc), len(file_clusterlab_proto_rawDesc)))
	})
	return file_clusterlab_proto_rawDescData
}

var file_clusterlab_proto_msgTypes = make([]protoimpl.MessageInfo, 25)
var file_clusterlab_proto_goTypes = []any{
	(*DescribeRequest)(nil),     // 0: clusterlab.v1.DescribeRequest
	(*Option)(nil),              // 1: clusterlab.v1.Option
	(*Description)(nil),         // 2: clusterlab.v1.Description
	(*ImageBatch)(nil),          // 3: clusterlab.v1.ImageBatch
	(*SplitInfo)(nil),           // 4: clusterlab.v1.SplitInfo
	(*DatasetInfo)(nil),         // 5: clusterlab.v1.DatasetInfo
	(*SkippedImage)(nil),        // 6: clusterlab.v1.SkippedImage
	(*ReadRequest)(nil),         // 7: clusterlab.v1.ReadRequest
	(*BackboneInfo)(nil),        // 8: clusterlab.v1.BackboneInfo
	(*EmbedRequest)(nil),        // 9: clusterlab.v1.EmbedRequest
	(*BackboneInput)(nil),       // 10: clusterlab.v1.BackboneInput
	(*FitBackboneResponse)(nil), // 11: clusterlab.v1.FitBackboneResponse
	(*EmbeddingBatch)(nil),      // 12: clusterlab.v1.EmbeddingBatch
	(*FitRequest)(nil),          // 13: clusterlab.v1.FitRequest
	(*Monitor)(nil),             // 14: clusterlab.v1.Monitor
	(*Space)(nil),               // 15: clusterlab.v1.Space
	(*Progress)(nil),            // 16: clusterlab.v1.Progress
	(*FitResult)(nil),           // 17: clusterlab.v1.FitResult
	(*FitEvent)(nil),            // 18: clusterlab.v1.FitEvent
	(*ErrorDetail)(nil),         // 19: clusterlab.v1.ErrorDetail
	(*Status)(nil),              // 20: clusterlab.v1.Status
	nil,                         // 21: clusterlab.v1.FitRequest.AssignEntry
	nil,                         // 22: clusterlab.v1.Space.AssignEntry
	nil,                         // 23: clusterlab.v1.FitResult.AssignmentsEntry
	nil,                         // 24: clusterlab.v1.FitResult.ProbabilitiesEntry
	(*anypb.Any)(nil),           // 25: google.protobuf.Any
}
var file_clusterlab_proto_depIdxs = []int32{
	1,  // 0: clusterlab.v1.Description.options:type_name -> clusterlab.v1.Option
	2,  // 1: clusterlab.v1.DatasetInfo.description:type_name -> clusterlab.v1.Description
	4,  // 2: clusterlab.v1.DatasetInfo.splits:type_name -> clusterlab.v1.SplitInfo
	6,  // 3: clusterlab.v1.DatasetInfo.skipped:type_name -> clusterlab.v1.SkippedImage
	2,  // 4: clusterlab.v1.BackboneInfo.description:type_name -> clusterlab.v1.Description
	5,  // 5: clusterlab.v1.EmbedRequest.dataset:type_name -> clusterlab.v1.DatasetInfo
	9,  // 6: clusterlab.v1.BackboneInput.header:type_name -> clusterlab.v1.EmbedRequest
	3,  // 7: clusterlab.v1.BackboneInput.batch:type_name -> clusterlab.v1.ImageBatch
	21, // 8: clusterlab.v1.FitRequest.assign:type_name -> clusterlab.v1.FitRequest.AssignEntry
	15, // 9: clusterlab.v1.FitRequest.spaces:type_name -> clusterlab.v1.Space
	14, // 10: clusterlab.v1.FitRequest.monitor:type_name -> clusterlab.v1.Monitor
	22, // 11: clusterlab.v1.Space.assign:type_name -> clusterlab.v1.Space.AssignEntry
	23, // 12: clusterlab.v1.FitResult.assignments:type_name -> clusterlab.v1.FitResult.AssignmentsEntry
	24, // 13: clusterlab.v1.FitResult.probabilities:type_name -> clusterlab.v1.FitResult.ProbabilitiesEntry
	16, // 14: clusterlab.v1.FitEvent.progress:type_name -> clusterlab.v1.Progress
	17, // 15: clusterlab.v1.FitEvent.result:type_name -> clusterlab.v1.FitResult
	25, // 16: clusterlab.v1.Status.details:type_name -> google.protobuf.Any
	0,  // 17: clusterlab.v1.Dataset.Describe:input_type -> clusterlab.v1.DescribeRequest
	7,  // 18: clusterlab.v1.Dataset.Read:input_type -> clusterlab.v1.ReadRequest
	0,  // 19: clusterlab.v1.Backbone.Describe:input_type -> clusterlab.v1.DescribeRequest
	10, // 20: clusterlab.v1.Backbone.Fit:input_type -> clusterlab.v1.BackboneInput
	10, // 21: clusterlab.v1.Backbone.Embed:input_type -> clusterlab.v1.BackboneInput
	0,  // 22: clusterlab.v1.Loss.Describe:input_type -> clusterlab.v1.DescribeRequest
	13, // 23: clusterlab.v1.Loss.Fit:input_type -> clusterlab.v1.FitRequest
	5,  // 24: clusterlab.v1.Dataset.Describe:output_type -> clusterlab.v1.DatasetInfo
	3,  // 25: clusterlab.v1.Dataset.Read:output_type -> clusterlab.v1.ImageBatch
	8,  // 26: clusterlab.v1.Backbone.Describe:output_type -> clusterlab.v1.BackboneInfo
	11, // 27: clusterlab.v1.Backbone.Fit:output_type -> clusterlab.v1.FitBackboneResponse
	12, // 28: clusterlab.v1.Backbone.Embed:output_type -> clusterlab.v1.EmbeddingBatch
	2,  // 29: clusterlab.v1.Loss.Describe:output_type -> clusterlab.v1.Description
	18, // 30: clusterlab.v1.Loss.Fit:output_type -> clusterlab.v1.FitEvent
	24, // [24:31] is the sub-list for method output_type
	17, // [17:24] is the sub-list for method input_type
	17, // [17:17] is the sub-list for extension type_name
	17, // [17:17] is the sub-list for extension extendee
	0,  // [0:17] is the sub-list for field type_name
}

func init() { file_clusterlab_proto_init() }
func file_clusterlab_proto_init() {
	if File_clusterlab_proto != nil {
		return
	}
	file_clusterlab_proto_msgTypes[1].OneofWrappers = []any{}
	file_clusterlab_proto_msgTypes[10].OneofWrappers = []any{
		(*BackboneInput_Header)(nil),
		(*BackboneInput_Batch)(nil),
	}
	file_clusterlab_proto_msgTypes[18].OneofWrappers = []any{
		(*FitEvent_Progress)(nil),
		(*FitEvent_Result)(nil),
	}
	type x struct{}
	out := protoimpl.TypeBuilder{
		File: protoimpl.DescBuilder{
			GoPackagePath: reflect.TypeOf(x{}).PkgPath(),
			RawDescriptor: unsafe.Slice(unsafe.StringData(file_clusterlab_proto_rawDesc), len(file_clusterlab_proto_rawDesc)),
			NumEnums:      0,
			NumMessages:   25,
			NumExtensions: 0,
			NumServices:   3,
		},
		GoTypes:           file_clusterlab_proto_goTypes,
		DependencyIndexes: file_clusterlab_proto_depIdxs,
		MessageInfos:      file_clusterlab_proto_msgTypes,
	}.Build()
	File_clusterlab_proto = out.File
	file_clusterlab_proto_goTypes = nil
	file_clusterlab_proto_depIdxs = nil
}
