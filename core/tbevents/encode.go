package tbevents

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers and enum values from TensorBoard's copies of TensorFlow's
// protos (testdata/proto/tensorboard/compat/proto/*.proto). Fields are
// written in field-number order, as protobuf's own serializers do.
const (
	// Event (event.proto)
	eventWallTime       = 1 // double
	eventStep           = 2 // int64
	eventFileVersion    = 3 // string, oneof what
	eventSummary        = 5 // Summary, oneof what
	eventSourceMetadata = 10
	sourceWriter        = 1 // SourceMetadata.writer

	// Summary (summary.proto)
	summaryValue = 1 // repeated Value

	// Summary.Value
	valueTag         = 1
	valueSimpleValue = 2 // float, oneof value
	valueImage       = 4 // Summary.Image, oneof value
	valueHisto       = 5 // HistogramProto, oneof value
	valueTensor      = 8 // TensorProto, oneof value
	valueMetadata    = 9 // SummaryMetadata

	// Summary.Image
	imageHeight     = 1
	imageWidth      = 2
	imageColorspace = 3
	imageEncoded    = 4

	// HistogramProto (histogram.proto)
	histoMin         = 1
	histoMax         = 2
	histoNum         = 3
	histoSum         = 4
	histoSumSquares  = 5
	histoBucketLimit = 6 // repeated double, packed
	histoBucket      = 7 // repeated double, packed

	// TensorProto (tensor.proto)
	tensorDtype     = 1
	tensorShape     = 2 // TensorShapeProto; empty = rank 0
	tensorStringVal = 8

	// SummaryMetadata and its PluginData
	metadataPluginData = 1
	metadataDataClass  = 4
	pluginName         = 1

	// DataType (types.proto) and DataClass (summary.proto)
	dtString        = 7
	dataClassTensor = 2
)

// fileVersion is what TensorBoard expects in the first record; every
// version it reads starts with "brain.Event:".
const fileVersion = "brain.Event:2"

// writerName goes into the first event's source_metadata.writer, which
// TensorBoard and TensorFlow use to tell writers apart.
const writerName = "clusterlab/tbevents"

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendDouble(b []byte, num protowire.Number, v float64) []byte {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendPackedDoubles(b []byte, num protowire.Number, vs []float64) []byte {
	packed := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		packed = protowire.AppendFixed64(packed, math.Float64bits(v))
	}
	return appendMessage(b, num, packed)
}

// eventHeader starts an Event with its wall time and step. A zero step is
// left out, as proto3 leaves out default values.
func eventHeader(wall float64, step int64) []byte {
	b := appendDouble(nil, eventWallTime, wall)
	if step != 0 {
		b = appendVarint(b, eventStep, uint64(step))
	}
	return b
}

// fileVersionEvent is the first record of every event file.
func fileVersionEvent(wall float64) []byte {
	b := eventHeader(wall, 0)
	b = appendString(b, eventFileVersion, fileVersion)
	return appendMessage(b, eventSourceMetadata, appendString(nil, sourceWriter, writerName))
}

// summaryEvent wraps one encoded Summary.Value in an Event.
func summaryEvent(wall float64, step int64, value []byte) []byte {
	return appendMessage(eventHeader(wall, step), eventSummary, appendMessage(nil, summaryValue, value))
}

// scalarValue is a Summary.Value with simple_value. A oneof member is
// written even when zero: that is what marks which member is set.
func scalarValue(tag string, v float32) []byte {
	b := appendString(nil, valueTag, tag)
	b = protowire.AppendTag(b, valueSimpleValue, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, math.Float32bits(v))
}

// textValue is a Summary.Value as TensorBoard's text plugin writes it
// (tensorboard/plugins/text/summary_v2.py): a rank-0 DT_STRING tensor with
// plugin_data "text" (empty content: TextPluginData version 0) and data
// class DATA_CLASS_TENSOR. The metadata goes on every value, not only the
// first of a tag, so that a file rewritten by Resume keeps it.
func textValue(tag, text string) []byte {
	tensor := appendVarint(nil, tensorDtype, dtString)
	tensor = appendMessage(tensor, tensorShape, nil)
	tensor = appendString(tensor, tensorStringVal, text)
	plugin := appendString(nil, pluginName, "text")
	meta := appendMessage(nil, metadataPluginData, plugin)
	meta = appendVarint(meta, metadataDataClass, dataClassTensor)

	b := appendString(nil, valueTag, tag)
	b = appendMessage(b, valueTensor, tensor)
	return appendMessage(b, valueMetadata, meta)
}

// imageValue is a Summary.Value with a Summary.Image, the form
// TensorBoard's image dashboard reads for legacy image summaries.
func imageValue(tag string, width, height, colorspace int, encoded []byte) []byte {
	img := appendVarint(nil, imageHeight, uint64(height))
	img = appendVarint(img, imageWidth, uint64(width))
	img = appendVarint(img, imageColorspace, uint64(colorspace))
	img = protowire.AppendTag(img, imageEncoded, protowire.BytesType)
	img = protowire.AppendBytes(img, encoded)
	b := appendString(nil, valueTag, tag)
	return appendMessage(b, valueImage, img)
}

// histoValue is a Summary.Value with a HistogramProto.
func histoValue(tag string, h *Histogram) []byte {
	p := appendDouble(nil, histoMin, h.Min)
	p = appendDouble(p, histoMax, h.Max)
	p = appendDouble(p, histoNum, h.Num)
	p = appendDouble(p, histoSum, h.Sum)
	p = appendDouble(p, histoSumSquares, h.SumSquares)
	p = appendPackedDoubles(p, histoBucketLimit, h.BucketLimit)
	p = appendPackedDoubles(p, histoBucket, h.Bucket)
	b := appendString(nil, valueTag, tag)
	return appendMessage(b, valueHisto, p)
}
