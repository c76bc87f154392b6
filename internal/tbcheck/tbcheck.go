// Package tbcheck reads TensorBoard event files for tests with a reader
// independent of core/tbevents, the package that writes them: Python
// classes that protoc generates, at test time, from TensorBoard's own
// vendored protos (core/tbevents/testdata/proto), driven by
// core/tbevents/testdata/read_events.py, which checks the TFRecord framing
// and its masked CRC32C checksums with a CRC written from the definition.
// A test that checks event files through it checks the format TensorBoard
// reads, not this repository's code against itself.
//
// It needs protoc (Debian's protobuf-compiler) and Debian's
// /usr/bin/python3 with python3-protobuf; without them the calling test
// fails, naming the packages (scripts/setup-debian.sh installs them with
// the test packages).
//
//	files := tbcheck.ReadClean(t, dir) // every event file of dir, read to a clean end
//	loss := tbcheck.Series(t, files, "step/loss_mean")
package tbcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// Python is Debian's interpreter, the one python3-protobuf installs for
// (a pyenv or virtualenv python3 on $PATH usually lacks the package).
const Python = "/usr/bin/python3"

// testdata is where the protos and read_events.py live, relative to the
// module root.
const testdata = "core/tbevents/testdata"

// File is what read_events.py reports for one event file.
type File struct {
	Path    string   `json:"path"`
	Records []Record `json:"records"`
	// End says how reading ended: "eof" (clean), "truncated" (cut short
	// mid-record, what a killed writer leaves) or "corrupt" (a checksum
	// mismatch, or data that is not an Event); Detail says where.
	End    string `json:"end"`
	Detail string `json:"detail"`
}

// Record is one Event of a file.
type Record struct {
	Offset   int64   `json:"offset"` // of its TFRecord in the file
	WallTime float64 `json:"wall_time"`
	Step     int64   `json:"step"`
	// What is the Event's oneof: "file_version", "summary", ...
	What string `json:"what"`
	// UnknownFields counts the fields, in the Event and its messages, that
	// the protos do not define: a wrong field number or wire type.
	UnknownFields int     `json:"unknown_fields"`
	FileVersion   string  `json:"file_version"`
	SourceWriter  string  `json:"source_writer"`
	Values        []Value `json:"values"` // of a summary
}

// Value is one Summary.Value.
type Value struct {
	Tag string `json:"tag"`
	// Kind is the Value's oneof: "simple_value", "image", "histo",
	// "tensor", ...
	Kind          string   `json:"kind"`
	PluginName    string   `json:"plugin_name"`
	PluginContent []byte   `json:"plugin_content"`
	DataClass     string   `json:"data_class"`
	SimpleValue   *float64 `json:"simple_value"` // a float32 widened
	Image         *Image   `json:"image"`
	Histo         *Histo   `json:"histo"`
	Tensor        *Tensor  `json:"tensor"`
}

// Image is a Summary.Image.
type Image struct {
	Height     int    `json:"height"`
	Width      int    `json:"width"`
	Colorspace int    `json:"colorspace"`
	PNG        []byte `json:"png"` // encoded_image_string
}

// Histo is a HistogramProto.
type Histo struct {
	Min         float64   `json:"min"`
	Max         float64   `json:"max"`
	Num         float64   `json:"num"`
	Sum         float64   `json:"sum"`
	SumSquares  float64   `json:"sum_squares"`
	BucketLimit []float64 `json:"bucket_limit"`
	Bucket      []float64 `json:"bucket"`
	// TensorBoardBuckets is what TensorBoard draws: [left, right, count]
	// per bucket.
	TensorBoardBuckets [][3]float64 `json:"tensorboard_buckets"`
}

// Tensor is a TensorProto (what text summaries hold).
type Tensor struct {
	Dtype     string   `json:"dtype"`
	HasShape  bool     `json:"has_shape"`
	Shape     []int64  `json:"shape"`
	StringVal []string `json:"string_val"`
}

// Reader holds the generated Python classes.
type Reader struct {
	script string // read_events.py
	gen    string // protoc's output
}

// New generates the Python classes for TensorBoard's protos into a
// temporary directory of tb. Missing tools fail tb, naming the Debian
// packages.
func New(tb testing.TB) *Reader {
	tb.Helper()
	root, err := testbin.ModuleRoot()
	if err != nil {
		tb.Fatalf("tbcheck: %v (run the tests inside the repository)", err)
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		tb.Fatalf("protoc is needed to check the event file format (%v): install Debian's protobuf-compiler (scripts/setup-debian.sh installs it with the test packages)", err)
	}
	if out, err := exec.Command(Python, "-I", "-c", "import google.protobuf").CombinedOutput(); err != nil {
		tb.Fatalf("%s cannot import google.protobuf (%v: %s): install Debian's python3 and python3-protobuf (scripts/setup-debian.sh installs them with the test packages)", Python, err, bytes.TrimSpace(out))
	}
	protoDir := filepath.Join(root, testdata, "proto")
	protos, err := filepath.Glob(filepath.Join(protoDir, "tensorboard", "compat", "proto", "*.proto"))
	if err != nil || len(protos) == 0 {
		tb.Fatalf("tbcheck: no .proto files in %s (%v)", protoDir, err)
	}
	gen := tb.TempDir()
	args := []string{"-I", protoDir, "--python_out=" + gen}
	for _, p := range protos {
		rel, err := filepath.Rel(protoDir, p)
		if err != nil {
			tb.Fatal(err)
		}
		args = append(args, rel)
	}
	cmd := exec.Command(protoc, args...)
	cmd.Dir = protoDir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("protoc %v: %v\n%s", args, err, out)
	}
	// Regular packages, so that these classes win over an installed
	// tensorboard package.
	for _, d := range []string{"tensorboard", "tensorboard/compat", "tensorboard/compat/proto"} {
		if err := os.WriteFile(filepath.Join(gen, d, "__init__.py"), nil, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return &Reader{script: filepath.Join(root, testdata, "read_events.py"), gen: gen}
}

// ReadFiles reads the event files at paths, whatever their end.
func (r *Reader) ReadFiles(tb testing.TB, paths ...string) []File {
	tb.Helper()
	if len(paths) == 0 {
		return nil
	}
	cmd := exec.Command(Python, append([]string{"-I", r.script, r.gen}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("read_events.py: %v\n%s", err, stderr.Bytes())
	}
	var files []File
	if err := json.Unmarshal(out, &files); err != nil {
		tb.Fatalf("read_events.py output: %v\n%s", err, out)
	}
	if len(files) != len(paths) {
		tb.Fatalf("read_events.py reported %d files, want %d", len(files), len(paths))
	}
	return files
}

// ReadCleanFiles reads the files and checks what every well-formed event
// file satisfies: read to a clean end (no truncated or corrupt tail), a
// first record with file_version "brain.Event:2" and no other, no field
// the protos do not define.
func (r *Reader) ReadCleanFiles(tb testing.TB, paths ...string) []File {
	tb.Helper()
	files := r.ReadFiles(tb, paths...)
	for _, f := range files {
		if f.End != "eof" {
			tb.Fatalf("%s: reading ended %s (%s), want a clean end", f.Path, f.End, f.Detail)
		}
		CheckWellFormed(tb, f)
	}
	return files
}

// Read reads every event file of dir (see EventFiles), whatever their end.
func (r *Reader) Read(tb testing.TB, dir string) []File {
	tb.Helper()
	return r.ReadFiles(tb, EventFiles(tb, dir)...)
}

// ReadClean reads every event file of dir as ReadCleanFiles does; a
// directory without one fails tb.
func (r *Reader) ReadClean(tb testing.TB, dir string) []File {
	tb.Helper()
	paths := EventFiles(tb, dir)
	if len(paths) == 0 {
		tb.Fatalf("%s holds no event file", dir)
	}
	return r.ReadCleanFiles(tb, paths...)
}

// ReadClean is New(tb).ReadClean(tb, dir).
func ReadClean(tb testing.TB, dir string) []File {
	tb.Helper()
	return New(tb).ReadClean(tb, dir)
}

// EventFiles lists the event files of dir as TensorBoard finds them:
// regular files whose name contains "tfevents", in name order (the order
// TensorBoard reads them in), not looking into subdirectories (runs of
// their own).
func EventFiles(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatalf("list event files: %v", err)
	}
	var paths []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.Contains(e.Name(), "tfevents") {
			paths = append(paths, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(paths)
	return paths
}

// CheckWellFormed checks that f starts with one file_version record
// "brain.Event:2", has no other, and holds no field the protos do not
// define.
func CheckWellFormed(tb testing.TB, f File) {
	tb.Helper()
	if len(f.Records) == 0 || f.Records[0].What != "file_version" || f.Records[0].FileVersion != "brain.Event:2" {
		tb.Fatalf("%s: first record is not file_version brain.Event:2: %+v", f.Path, f.Records)
	}
	for i, rec := range f.Records {
		if rec.UnknownFields != 0 {
			tb.Errorf("%s: record %d has %d fields the protos do not define", f.Path, i, rec.UnknownFields)
		}
		if i > 0 && rec.What == "file_version" {
			tb.Errorf("%s: record %d is a second file_version", f.Path, i)
		}
	}
}

// Series collects one tag's values by step from the summary records of
// files, failing tb on a step written twice (TensorBoard would draw both).
func Series(tb testing.TB, files []File, tag string) map[int64]Value {
	tb.Helper()
	out := map[int64]Value{}
	for _, f := range files {
		for _, rec := range f.Records {
			for _, v := range rec.Values {
				if v.Tag != tag {
					continue
				}
				if _, dup := out[rec.Step]; dup {
					tb.Errorf("%s: tag %q has step %d twice", f.Path, tag, rec.Step)
				}
				out[rec.Step] = v
			}
		}
	}
	return out
}

// Steps lists, for every tag of files' summaries, the steps of its values
// in file order, duplicates included.
func Steps(files []File) map[string][]int64 {
	out := map[string][]int64{}
	for _, f := range files {
		for _, rec := range f.Records {
			for _, v := range rec.Values {
				out[v.Tag] = append(out[v.Tag], rec.Step)
			}
		}
	}
	return out
}

// Scalar is the simple_value of v; it fails tb when v is not a scalar.
func Scalar(tb testing.TB, v Value) float64 {
	tb.Helper()
	if v.Kind != "simple_value" || v.SimpleValue == nil {
		tb.Fatalf("%q is %q, want a simple_value", v.Tag, v.Kind)
	}
	return *v.SimpleValue
}
