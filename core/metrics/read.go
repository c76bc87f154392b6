package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
)

// npyMagic starts every NumPy .npy file.
var npyMagic = []byte("\x93NUMPY")

// ReadAssignment reads integer labels (true classes or cluster ids) from a
// NumPy .npy file (any integer dtype, little-endian, C order, shape [N] or
// [N, 1]) or from a text file with one integer per line (blank lines and
// surrounding spaces ignored). The format is told by the file's first bytes,
// not its name. Errors wrap core.ErrInvalidInput.
func ReadAssignment(path string) ([]int, error) {
	rows, err := readRows(path, false)
	if err != nil {
		return nil, err
	}
	return rows[0], nil
}

// ReadHeads reads a [heads, N] integer .npy array, such as a run's
// assign_<split>.npy (one row of cluster ids per head), as rows; any file
// ReadAssignment reads is one row. Errors wrap core.ErrInvalidInput.
func ReadHeads(path string) ([][]int, error) { return readRows(path, true) }

// readRows reads the file once for both: heads lets a [H, N] array with
// N > 1 be H rows; otherwise the file is one row.
func readRows(path string, heads bool) ([][]int, error) {
	rows, err := readLabelRows(path, heads)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", core.ErrInvalidInput, err)
	}
	return rows, nil
}

func readLabelRows(path string, heads bool) ([][]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read assignment: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(npyMagic))
	k, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, fmt.Errorf("read assignment %s: %w", path, err)
	}
	var rows [][]int
	if k == len(npyMagic) && bytes.Equal(head, npyMagic) {
		rows, err = readNpyLabels(path, heads)
	} else {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read assignment %s: %w", path, err)
		}
		var out []int
		out, err = readTextLabels(path, f)
		rows = [][]int{out}
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, fmt.Errorf("read assignment %s: the file holds no labels", path)
	}
	return rows, nil
}

func readNpyLabels(path string, heads bool) ([][]int, error) {
	vals, shape, err := npy.ReadInt32(path)
	if err != nil {
		return nil, fmt.Errorf("read assignment: %w; expected a 1-D array of integer ids saved with numpy.save", err)
	}
	if heads && len(shape) == 2 && shape[1] > 1 {
		rows := make([][]int, shape[0])
		for h := range rows {
			rows[h] = ints(vals[h*shape[1] : (h+1)*shape[1]])
		}
		return rows, nil
	}
	if !(len(shape) == 1 || (len(shape) == 2 && shape[1] == 1)) {
		return nil, fmt.Errorf("read assignment %s: array of shape %v, expected [N] or [N, 1] integer ids (one per sample)", path, shape)
	}
	return [][]int{ints(vals)}, nil
}

func ints(vals []int32) []int {
	out := make([]int, len(vals))
	for i, v := range vals {
		out[i] = int(v)
	}
	return out
}

func readTextLabels(path string, r io.Reader) ([]int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var out []int
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("read assignment %s:%d: %q is not an integer; a text assignment holds one integer label per line", path, line, truncate(s, 40))
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read assignment %s: after line %d: %w", path, line, err)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
