package metrics

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
)

// npyBytes assembles a .npy file by hand (format version major.0): magic,
// version, header length, the header dict padded with spaces to a multiple
// of 64 bytes and ended by a newline, then data.
func npyBytes(major byte, header string, data []byte) []byte {
	lenBytes := 2
	if major >= 2 {
		lenBytes = 4
	}
	pre := 6 + 2 + lenBytes
	total := pre + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	out := append([]byte("\x93NUMPY"), major, 0)
	if lenBytes == 2 {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(header)))
	} else {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(header)))
	}
	out = append(out, header...)
	return append(out, data...)
}

// encodeInts writes vals little-endian with the given item size.
func encodeInts(vals []int, size int) []byte {
	var out []byte
	for _, v := range vals {
		switch size {
		case 1:
			out = append(out, byte(v))
		case 2:
			out = binary.LittleEndian.AppendUint16(out, uint16(v))
		case 4:
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		case 8:
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadAssignmentNpy(t *testing.T) {
	signed := []int{3, 0, -2, 7, 1, -128}
	unsigned := []int{3, 0, 200, 7, 1, 255}
	cases := []struct {
		descr string
		size  int
		vals  []int
		shape string
		major byte
	}{
		{"|i1", 1, signed, "(6,)", 1},
		{"|u1", 1, unsigned, "(6,)", 1},
		{"<i2", 2, []int{-300, 5, 30000}, "(3,)", 1},
		{"<u2", 2, []int{65535, 5, 0}, "(3,)", 1},
		{"<i4", 4, signed, "(6,)", 1},
		{"<u4", 4, unsigned, "(6,)", 1},
		{"<i8", 8, signed, "(6,)", 1},
		{"<i8", 8, signed, "(6, 1)", 1}, // a column vector
		{"<i4", 4, signed, "(6,)", 2},   // format 2.0: 4-byte header length
	}
	for _, c := range cases {
		header := "{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': " + c.shape + ", }"
		p := writeFile(t, "pred.npy", npyBytes(c.major, header, encodeInts(c.vals, c.size)))
		got, err := ReadAssignment(p)
		if err != nil {
			t.Errorf("%s %s v%d: %v", c.descr, c.shape, c.major, err)
			continue
		}
		if !reflect.DeepEqual(got, c.vals) {
			t.Errorf("%s %s: got %v want %v", c.descr, c.shape, got, c.vals)
		}
	}
}

func TestReadAssignmentNpyErrors(t *testing.T) {
	hdr := func(descr, shape string, fortran bool) string {
		f := "False"
		if fortran {
			f = "True"
		}
		return "{'descr': '" + descr + "', 'fortran_order': " + f + ", 'shape': " + shape + ", }"
	}
	cases := []struct {
		name, want string
		file       []byte
	}{
		{"matrix", "shape", npyBytes(1, hdr("<i4", "(2, 3)", false), encodeInts([]int{1, 2, 3, 4, 5, 6}, 4))},
		{"truncated", "truncated", npyBytes(1, hdr("<i4", "(4,)", false), encodeInts([]int{1, 2, 3}, 4))},
		{"float", "integer", npyBytes(1, hdr("<f4", "(2,)", false), encodeInts([]int{0, 0}, 4))},
		{"big-endian", "integer", npyBytes(1, hdr(">i4", "(2,)", false), encodeInts([]int{1, 2}, 4))},
		{"fortran", "Fortran", npyBytes(1, hdr("<i4", "(2,)", true), encodeInts([]int{1, 2}, 4))},
		{"empty", "no labels", npyBytes(1, hdr("<i4", "(0,)", false), nil)},
		{"too big for int32", "int32", npyBytes(1, hdr("<i8", "(1,)", false), encodeInts([]int{1 << 40}, 8))},
		{"bad header", "npy", append([]byte("\x93NUMPY\x01\x00\x05\x00"), "{abc}"...)},
	}
	for _, c := range cases {
		p := writeFile(t, c.name+".npy", c.file)
		_, err := ReadAssignment(p)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: error %q does not wrap core.ErrInvalidInput", c.name, err)
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name+".npy") {
			t.Errorf("%s: error %q should mention %q and the file", c.name, err, c.want)
		}
	}
}

func TestReadAssignmentText(t *testing.T) {
	p := writeFile(t, "pred.txt", []byte("3\n0\n\n  -2 \r\n7\n\n"))
	got, err := ReadAssignment(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 0, -2, 7}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
	// No trailing newline, and a .npy name does not make a text file binary.
	p = writeFile(t, "labels.npy", []byte("5\n6"))
	if got, err := ReadAssignment(p); err != nil || !reflect.DeepEqual(got, []int{5, 6}) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestReadAssignmentTextErrors(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"float.txt", "1\n2\n3.5\n", "float.txt:3: \"3.5\" is not an integer"},
		{"words.txt", "1\n\ncat dog\n", "words.txt:3:"},
		{"two.txt", "1 2\n", "two.txt:1:"},
		{"blank.txt", "\n \n", "no labels"},
		{"nothing.txt", "", "no labels"},
	}
	for _, c := range cases {
		_, err := ReadAssignment(writeFile(t, c.name, []byte(c.content)))
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("%s: error %v, want it to contain %q and wrap core.ErrInvalidInput", c.name, err, c.want)
		}
	}
	_, err := ReadAssignment(filepath.Join(t.TempDir(), "missing.npy"))
	if err == nil || !strings.Contains(err.Error(), "missing.npy") {
		t.Errorf("missing file: %v", err)
	}
}

// TestReadAndScore runs the path of `clusterlab score --labels Y --pred P`:
// labels from a text file, predictions from a .npy file.
func TestReadAndScore(t *testing.T) {
	c := loadGolden(t)[2]
	var sb strings.Builder
	for _, v := range c.LabelsTrue {
		// Some lines indented: surrounding spaces are allowed.
		sb.WriteString(strings.Repeat(" ", v%3) + strconv.Itoa(v) + "\n")
	}
	labels, err := ReadAssignment(writeFile(t, "labels.txt", []byte(sb.String())))
	if err != nil {
		t.Fatal(err)
	}
	hdr := "{'descr': '<i8', 'fortran_order': False, 'shape': (" + strconv.Itoa(len(c.LabelsPred)) + ",), }"
	pred, err := ReadAssignment(writeFile(t, "pred.npy", npyBytes(1, hdr, encodeInts(c.LabelsPred, 8))))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Score(labels, pred)
	if err != nil {
		t.Fatal(err)
	}
	if !near(s.ACC, c.ACC) || !near(s.NMI, c.NMI) || !near(s.ARI, c.ARI) || !near(s.AMI, c.AMI) {
		t.Errorf("%s from files: %+v", c.Name, s)
	}
}

func TestReadHeads(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "assign_test.npy")
	if err := npy.WriteInt32(p, []int32{0, 1, 2, 2, 1, 0}, 2, 3); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadHeads(p)
	if err != nil || len(rows) != 2 || !slices.Equal(rows[1], []int{2, 1, 0}) {
		t.Fatalf("ReadHeads = %v, %v", rows, err)
	}
	one := filepath.Join(dir, "p.txt")
	os.WriteFile(one, []byte("3\n4\n"), 0o644)
	rows, err = ReadHeads(one)
	if err != nil || len(rows) != 1 || !slices.Equal(rows[0], []int{3, 4}) {
		t.Fatalf("ReadHeads(text) = %v, %v", rows, err)
	}
	if _, err := ReadHeads(filepath.Join(dir, "missing.npy")); !errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("missing file: %v", err)
	}
}
