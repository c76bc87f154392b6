package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The test fixtures are written by the helpers below: a small STL-10 in
// the official binary layout, packed (stl10_binary.tar.gz, members under
// stl10_binary/ in the official archive's order) or unpacked.

// officialNames are the class names of STL-10's class_names.txt.
var officialNames = []string{"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"}

// Salts make the images of each split distinct.
const (
	saltTrain     = 1
	saltTest      = 2
	saltUnlabeled = 3
)

// fixture describes a small STL-10.
type fixture struct {
	train, test, unlabeled int
	names                  []string
	folds                  [][]int // one line per fold
}

// smallFixture: 20 train, 12 test and 30 unlabeled images, the official
// class names, and 10 folds of 5 train images each, listed out of order.
func smallFixture() fixture {
	f := fixture{train: 20, test: 12, unlabeled: 30, names: officialNames}
	for i := range 10 {
		var line []int
		for j := range 5 {
			line = append(line, (i*7+j*13+11)%20) // 13 is coprime with 20: distinct
		}
		f.folds = append(f.folds, line)
	}
	return f
}

// uprightPixel is channel c of row y, column x of the upright image k of
// a split: distinct per split and image, and asymmetric (rows and columns
// have different slopes, per channel too), so that a transposition or a
// flip is caught.
func uprightPixel(salt, k, y, x, c int) byte {
	v := salt*53 + k*29 + y*7 + x*3*(c+1) + c*85 + (x*y)%13
	if y < 4 && x < 12 { // a bar in the top-left corner
		v = 255 - c*40
	}
	return byte(v % 256)
}

// uprightImages returns images 0..n-1 of a split upright, HWC.
func uprightImages(salt, n int) []byte {
	out := make([]byte, 0, n*imageBytes)
	for k := range n {
		for y := range side {
			for x := range side {
				for c := range channels {
					out = append(out, uprightPixel(salt, k, y, x, c))
				}
			}
		}
	}
	return out
}

// storedImages returns images 0..n-1 of a split as STL-10 stores them:
// per image the red, green and blue planes, each column after column.
func storedImages(salt, n int) []byte {
	out := make([]byte, 0, n*imageBytes)
	for k := range n {
		for c := range channels {
			for x := range side {
				for y := range side {
					out = append(out, uprightPixel(salt, k, y, x, c))
				}
			}
		}
	}
	return out
}

// Stored labels (1..10) of image k.
func trainLabel(k int) byte { return byte((k*3+1)%10 + 1) }
func testLabel(k int) byte  { return byte((k*7+4)%10 + 1) }

func labelFile(n int, label func(int) byte) []byte {
	out := make([]byte, n)
	for k := range out {
		out[k] = label(k)
	}
	return out
}

// member is one file of the folder or archive a test writes.
type member struct {
	name string
	data []byte
}

// members are the files of f in the official archive's order.
func (f fixture) members() []member {
	var folds strings.Builder
	for _, line := range f.folds {
		for _, i := range line {
			folds.WriteString(strconv.Itoa(i) + " ")
		}
		folds.WriteString("\n")
	}
	return []member{
		{fileTestX, storedImages(saltTest, f.test)},
		{fileTestY, labelFile(f.test, testLabel)},
		{fileTrainX, storedImages(saltTrain, f.train)},
		{fileTrainY, labelFile(f.train, trainLabel)},
		{fileUnlabeledX, storedImages(saltUnlabeled, f.unlabeled)},
		{fileNames, []byte(strings.Join(f.names, "\n") + "\n")},
		{fileFolds, []byte(folds.String())},
	}
}

// replace returns ms with the member called name replaced (or removed when
// data is nil).
func replace(ms []member, name string, data []byte) []member {
	var out []member
	for _, m := range ms {
		if m.name == name {
			if data == nil {
				continue
			}
			m.data = data
		}
		out = append(out, m)
	}
	return out
}

func memberData(ms []member, name string) []byte {
	for _, m := range ms {
		if m.name == name {
			return m.data
		}
	}
	panic("no member " + name)
}

// writeFolder writes ms into dir (created) and returns dir.
func writeFolder(t testing.TB, dir string, ms []member) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := os.WriteFile(filepath.Join(dir, m.name), m.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarGz packs ms as the official archive does: a directory entry
// stl10_binary/, then each file under it.
func tarGz(t testing.TB, ms []member) []byte {
	t.Helper()
	return tarGzIn(t, folderName, ms)
}

// tarGzIn packs ms under the folder dir instead.
func tarGzIn(t testing.TB, dir string, ms []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeArchive writes ms as stl10_binary.tar.gz into dir and returns its
// path.
func writeArchive(t testing.TB, dir string, ms []member) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, archiveName)
	if err := os.WriteFile(p, tarGz(t, ms), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ndarray is a uint8 NumPy array as NumPy views one: a shape and strides
// (in bytes) over a flat buffer. It is the independent reference of the
// tests: torchvision's STL10 class, operation for operation.
type ndarray struct {
	data    []byte
	offset  int
	shape   []int
	strides []int
}

// fromfile is np.fromfile(f, dtype=np.uint8).
func fromfile(b []byte) ndarray {
	return ndarray{data: b, shape: []int{len(b)}, strides: []int{1}}
}

// reshape is np.reshape of a C-contiguous array; one dimension may be -1.
func (a ndarray) reshape(shape ...int) ndarray {
	size, known := 1, 1
	for _, n := range a.shape {
		size *= n
	}
	for _, n := range shape {
		if n != -1 {
			known *= n
		}
	}
	out := ndarray{data: a.data, offset: a.offset, shape: append([]int(nil), shape...)}
	for i, n := range out.shape {
		if n == -1 {
			out.shape[i] = size / known
		}
	}
	out.strides = make([]int, len(shape))
	stride := 1
	for i := len(shape) - 1; i >= 0; i-- {
		out.strides[i] = stride
		stride *= out.shape[i]
	}
	if stride != size {
		panic(fmt.Sprintf("cannot reshape array of size %d into shape %v", size, shape))
	}
	return out
}

// transpose is np.transpose(a, axes): a view with permuted axes.
func (a ndarray) transpose(axes ...int) ndarray {
	out := ndarray{data: a.data, offset: a.offset}
	for _, ax := range axes {
		out.shape = append(out.shape, a.shape[ax])
		out.strides = append(out.strides, a.strides[ax])
	}
	return out
}

// at is a[i], a view of one entry along the first axis.
func (a ndarray) at(i int) ndarray {
	return ndarray{data: a.data, offset: a.offset + i*a.strides[0], shape: a.shape[1:], strides: a.strides[1:]}
}

// bytes returns the elements in C order (what PIL's Image.fromarray
// reads of an HxWxC array).
func (a ndarray) bytes() []byte {
	var out []byte
	var walk func(off, dim int)
	walk = func(off, dim int) {
		if dim == len(a.shape) {
			out = append(out, a.data[off])
			return
		}
		for i := range a.shape[dim] {
			walk(off+i*a.strides[dim], dim+1)
		}
	}
	walk(a.offset, 0)
	return out
}

// torchvisionSTL10 is what torchvision 0.14's STL10 gives for one split:
// __loadfile (images reshaped to (-1, 3, 96, 96) and transposed (0, 1, 3,
// 2); labels minus 1, as uint8), __load_folds (line `fold` of the fold
// file, np.fromstring(line, dtype=np.int64, sep=" "), then
// data[list_idx], labels[list_idx]; fold < 0: None) and __getitem__
// (np.transpose(img, (1, 2, 0)), an HWC image). It returns the images
// concatenated and the labels as int (unlabeled: -1).
func torchvisionSTL10(x, y, folds []byte, fold int) ([]byte, []int) {
	images := fromfile(x).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
	var labels []int
	if y != nil {
		for _, l := range y {
			labels = append(labels, int(l-1)) // uint8 arithmetic, as numpy's
		}
	}
	order := make([]int, images.shape[0])
	for i := range order {
		order[i] = i
	}
	if fold >= 0 {
		line := strings.Split(strings.ReplaceAll(string(folds), "\r\n", "\n"), "\n")[fold]
		order = order[:0]
		for _, f := range strings.Fields(line) {
			i, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				panic(err)
			}
			order = append(order, int(i))
		}
	}
	var out []byte
	var outLabels []int
	for _, i := range order {
		out = append(out, images.at(i).transpose(1, 2, 0).bytes()...)
		if labels != nil {
			outLabels = append(outLabels, labels[i])
		} else {
			outLabels = append(outLabels, -1)
		}
	}
	return out, outLabels
}
