package tbcheck

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The events here are encoded by hand from event.proto and summary.proto
// (field numbers below), not with core/tbevents: the reader is checked
// against the definition.

// event encodes an Event: wall_time (1, double), step (2, int64), then
// either file_version (3, string) or a summary (5) of one simple_value
// (Summary.value 1: Value.tag 1, Value.simple_value 2, float).
func event(wall float64, step int64, fileVersion, tag string, value float32) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(wall))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(step))
	if fileVersion != "" {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		return protowire.AppendString(b, fileVersion)
	}
	var v []byte
	v = protowire.AppendTag(v, 1, protowire.BytesType)
	v = protowire.AppendString(v, tag)
	v = protowire.AppendTag(v, 2, protowire.Fixed32Type)
	v = protowire.AppendFixed32(v, math.Float32bits(value))
	var s []byte
	s = protowire.AppendTag(s, 1, protowire.BytesType)
	s = protowire.AppendBytes(s, v)
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	return protowire.AppendBytes(b, s)
}

// tfrecord frames data: length, masked CRC32C of the length, data, masked
// CRC32C of the data.
func tfrecord(data []byte) []byte {
	table := crc32.MakeTable(crc32.Castagnoli)
	masked := func(b []byte) uint32 {
		c := crc32.Checksum(b, table)
		return ((c >> 15) | (c << 17)) + 0xa282ead8
	}
	var out []byte
	out = binary.LittleEndian.AppendUint64(out, uint64(len(data)))
	out = binary.LittleEndian.AppendUint32(out, masked(out[:8]))
	out = append(out, data...)
	return binary.LittleEndian.AppendUint32(out, masked(data))
}

func writeFile(t *testing.T, path string, events ...[]byte) []byte {
	t.Helper()
	var b []byte
	for _, e := range events {
		b = append(b, tfrecord(e)...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder collects a test's failures instead of failing it, to check
// that the checks fail where they must.
type recorder struct {
	testing.TB
	failures []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func TestReadsEventFilesInNameOrder(t *testing.T) {
	r := New(t)
	dir := t.TempDir()
	const version = "brain.Event:2"
	writeFile(t, filepath.Join(dir, "events.out.tfevents.0000000002.host.1.1"), event(2, 0, version, "", 0), event(2.5, 4, "", "loss", 0.5))
	writeFile(t, filepath.Join(dir, "events.out.tfevents.0000000001.host.1.1"), event(1, 0, version, "", 0), event(1.5, 3, "", "loss", 0.25))
	// Not event files, or another run's.
	writeFile(t, filepath.Join(dir, "notes.txt"), event(1, 0, version, "", 0))
	writeFile(t, filepath.Join(dir, "sub", "events.out.tfevents.0000000000.host.1.1"), event(1, 0, version, "", 0))

	files := r.ReadClean(t, dir)
	if len(files) != 2 || !strings.HasSuffix(files[0].Path, ".0000000001.host.1.1") || !strings.HasSuffix(files[1].Path, ".0000000002.host.1.1") {
		t.Fatalf("read %d files, want the two event files of dir in name order: %+v", len(files), files)
	}
	loss := Series(t, files, "loss")
	if len(loss) != 2 || Scalar(t, loss[3]) != 0.25 || Scalar(t, loss[4]) != 0.5 {
		t.Errorf("loss series %+v, want 0.25 at step 3 and 0.5 at step 4", loss)
	}
	if rec := files[0].Records[1]; rec.WallTime != 1.5 || rec.What != "summary" || rec.UnknownFields != 0 {
		t.Errorf("record %+v, want the summary at wall time 1.5 with no unknown field", rec)
	}
	if got := Steps(files)["loss"]; !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("Steps: loss at %v, want [3 4]", got)
	}
}

func TestReportsTruncatedAndCorruptEnds(t *testing.T) {
	r := New(t)
	dir := t.TempDir()
	full := writeFile(t, filepath.Join(dir, "full"), event(1, 0, "brain.Event:2", "", 0), event(2, 1, "", "loss", 1))
	cut := filepath.Join(dir, "cut.tfevents")
	if err := os.WriteFile(cut, full[:len(full)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.tfevents")
	flipped := slices.Clone(full)
	flipped[len(flipped)-6] ^= 0xff // in the last record's data
	if err := os.WriteFile(bad, flipped, 0o644); err != nil {
		t.Fatal(err)
	}
	files := r.ReadFiles(t, cut, bad)
	if f := files[0]; f.End != "truncated" || len(f.Records) != 1 {
		t.Errorf("cut file: ended %s after %d records, want truncated after 1", f.End, len(f.Records))
	}
	if f := files[1]; f.End != "corrupt" || !strings.Contains(f.Detail, "crc") || len(f.Records) != 1 {
		t.Errorf("flipped byte: ended %s (%s) after %d records, want corrupt (crc) after 1", f.End, f.Detail, len(f.Records))
	}
}

func TestChecksFail(t *testing.T) {
	r := New(t)
	dir := t.TempDir()
	unknown := protowire.AppendTag(event(2, 1, "", "loss", 1), 99, protowire.VarintType)
	unknown = protowire.AppendVarint(unknown, 7)
	p := filepath.Join(dir, "events.out.tfevents.1")
	writeFile(t, p, event(1, 0, "brain.Event:2", "", 0), unknown, event(3, 1, "", "loss", 2), event(4, 2, "brain.Event:2", "", 0))
	files := r.ReadFiles(t, p)

	rec := &recorder{TB: t}
	CheckWellFormed(rec, files[0])
	if len(rec.failures) != 2 || !strings.Contains(rec.failures[0], "fields the protos do not define") || !strings.Contains(rec.failures[1], "second file_version") {
		t.Errorf("CheckWellFormed reported %q, want the unknown field and the second file_version", rec.failures)
	}
	rec = &recorder{TB: t}
	Series(rec, files, "loss")
	if len(rec.failures) != 1 || !strings.Contains(rec.failures[0], "step 1 twice") {
		t.Errorf("Series reported %q, want step 1 twice", rec.failures)
	}
}
