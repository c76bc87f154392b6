// Package tbevents writes and reads TensorBoard event files, so that a run
// directory can be watched live with `tensorboard --logdir`.
//
// An event file is a TFRecord file (each record: uint64 little-endian
// length, masked CRC32C of those 8 bytes, the data, masked CRC32C of the
// data) of serialized tensorboard.Event messages (TensorFlow's
// tensorflow/core/util/event.proto and framework/summary.proto). The first
// record holds file_version "brain.Event:2". The messages are encoded by
// hand with protowire, without generated code, so that the tests can check
// the files with a reader that protoc generates from TensorBoard's published
// .proto files: an independent check of the format, not of this package
// against itself.
//
// What TensorBoard shows for each kind of record:
//
//   - Scalar: Summary.Value.simple_value (float32, as TensorBoard stores it).
//     The Scalars dashboard (and Time Series) draws one line per tag against
//     the step, with wall time and relative time as alternative x axes.
//   - Text: a DT_STRING rank-0 TensorProto with plugin_data "text". The Text
//     dashboard renders it as Markdown, one entry per step.
//   - Image: Summary.Image with the PNG bytes. The Images dashboard shows it
//     with a slider over the steps written for the tag.
//   - Histogram: a HistogramProto with equal-width buckets (see
//     Writer.Histogram). The Histograms dashboard stacks one histogram per
//     step; the Distributions dashboard draws its percentiles over steps.
//
// Durability: records are encoded in memory and written to the file with
// one write call per flush, at the latest FlushInterval after they were
// added (a background goroutine), when a megabyte is buffered, and on Flush
// and Close. A killed process therefore loses at most the last interval,
// and the file ends on a record boundary; if it does not (a full disk, a
// machine crash), readers — TensorBoard's and this package's — stop at the
// last complete record.
//
// Resume: a run resumed from a checkpoint taken after step S must show no
// step after S from the attempt that was killed, or TensorBoard draws two
// values per step (and its own "purge orphaned data" heuristic, keyed on
// SessionLog START or out-of-order steps, is not something to rely on). Resume
// therefore rewrites the directory: it reads every event file there with
// this package's reader (a truncated or corrupt tail ends that file), keeps
// the events with step <= S (dropping byte-identical duplicates), writes them
// into one new event file under a temporary name, renames it into place and
// removes the old files; new records are appended to that file. Rewriting
// rather than appending a purge marker keeps the directory correct for any
// reader, including TensorBoard started after the fact. The new file is
// named to sort after the old ones, because TensorBoard reads a directory's
// files in name order. If the process dies between the rename and the
// removal, both old and new files remain; the next Resume drops the copies
// again because they are byte-identical.
//
// One directory, one writer: two processes writing event files into the
// same directory would remove each other's files on Resume, and
// TensorBoard may follow only the last file of a directory (its Python
// loader does, unless started with --reload_multifile). Give each writing
// process its own directory; TensorBoard shows each as a run of its own.
// Writers must be closed (Close stops their background flush goroutine).
package tbevents
