package main

import (
	"fmt"
	"strings"
)

// The python version: each data file is a pickled dict with 'data', a uint8
// NumPy array of shape (N, 3072) holding the images channel-planar like the
// binary version, and the labels as a list of ints: 'labels' (CIFAR-10), or
// 'fine_labels' and 'coarse_labels' (CIFAR-100). The meta file is a dict
// with 'label_names' (CIFAR-10, with 'num_cases_per_batch'), or
// 'fine_label_names' and 'coarse_label_names' (CIFAR-100).

// pyError is a problem with the content of a pickle that decoded fine (a
// missing entry, a wrong shape); it has no single offset.
type pyError struct{ msg string }

func (e *pyError) Error() string { return e.msg }

func pyErrorf(format string, args ...any) error { return &pyError{msg: fmt.Sprintf(format, args...)} }

// loadPickleDict unpickles data and checks that it is a dict.
func loadPickleDict(data []byte) (*pyDict, error) {
	v, err := unpickle(data)
	if err != nil {
		return nil, err
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, pyErrorf("the pickle holds a %s; a CIFAR python file holds a dict", pyTypeName(v))
	}
	return d, nil
}

func entry(d *pyDict, key string) (any, error) {
	v, ok := d.get(key)
	if !ok {
		return nil, pyErrorf("the pickled dict has no %q entry (it has %s); not a CIFAR python file of this kind", key, d.keyNames())
	}
	return v, nil
}

// decodePyBatch decodes a data file of the python version.
func decodePyBatch(data []byte, c100 bool) (*batch, error) {
	d, err := loadPickleDict(data)
	if err != nil {
		return nil, err
	}
	v, err := entry(d, "data")
	if err != nil {
		return nil, err
	}
	arr, ok := v.(*ndArray)
	if !ok || !arr.built {
		return nil, pyErrorf("'data' is a %s; want a NumPy uint8 array of shape (N, 3072)", pyTypeName(v))
	}
	if arr.dtype.kind != 'u' || arr.dtype.size != 1 {
		return nil, pyErrorf("'data' has dtype %s; want uint8", arr.dtype)
	}
	n, err := imageCount(arr)
	if err != nil {
		return nil, err
	}
	b := &batch{n: n, pixels: make([]byte, n*imageBytes)}
	if arr.fortran && len(arr.shape) == 2 {
		// Column-major (N, 3072): element (i, j) is at j*N + i.
		img := make([]byte, imageBytes)
		for i := range n {
			for j := range imageBytes {
				img[j] = arr.data[j*n+i]
			}
			planarToHWC(b.pixels[i*imageBytes:(i+1)*imageBytes], img)
		}
	} else {
		for i := range n {
			planarToHWC(b.pixels[i*imageBytes:(i+1)*imageBytes], arr.data[i*imageBytes:(i+1)*imageBytes])
		}
	}
	labelKeys := []string{"labels"}
	if c100 {
		labelKeys = []string{"fine_labels", "coarse_labels"}
	}
	for k, key := range labelKeys {
		v, err := entry(d, key)
		if err != nil {
			return nil, err
		}
		labels, err := labelList(v, key)
		if err != nil {
			return nil, err
		}
		if len(labels) != n {
			return nil, pyErrorf("%q holds %d labels but 'data' holds %d images; every image needs one label", key, len(labels), n)
		}
		if k == 0 {
			b.labels = labels
		} else {
			b.coarse = labels
		}
	}
	return b, nil
}

// imageCount checks the shape of the 'data' array: (N, 3072) as
// distributed, or (N, 3, 32, 32) as some re-pickled copies have it (same
// bytes in C order).
func imageCount(a *ndArray) (int, error) {
	s := a.shape
	switch {
	case len(s) == 2 && s[1] == imageBytes:
	case len(s) == 4 && s[1] == channels && s[2] == side && s[3] == side && !a.fortran:
	default:
		return 0, pyErrorf("'data' has shape %v; want (N, %d): N images of %d channel planes of %dx%d pixels", s, imageBytes, channels, side, side)
	}
	if s[0] == 0 {
		return 0, pyErrorf("'data' holds no images")
	}
	return s[0], nil
}

// labelList decodes a list (or tuple, or 1-D NumPy array) of labels, each
// in 0..255 (the range of the binary version's label bytes).
func labelList(v any, key string) ([]byte, error) {
	var ints []int64
	switch l := v.(type) {
	case *pyList, pyTuple:
		items := pyTuple(nil)
		if pl, ok := l.(*pyList); ok {
			items = pl.items
		} else {
			items = l.(pyTuple)
		}
		ints = make([]int64, len(items))
		for i, it := range items {
			x, ok := it.(int64)
			if !ok {
				return nil, pyErrorf("%q: item %d is a %s, want an int", key, i, pyTypeName(it))
			}
			ints[i] = x
		}
	case *ndArray:
		var err error
		if ints, err = l.ints(); err != nil {
			return nil, pyErrorf("%q: %v", key, err)
		}
	default:
		return nil, pyErrorf("%q is a %s, want a list of ints", key, pyTypeName(v))
	}
	out := make([]byte, len(ints))
	for i, x := range ints {
		if x < 0 || x > 255 {
			return nil, pyErrorf("%q: label %d of image %d is out of range", key, x, i)
		}
		out[i] = byte(x)
	}
	return out, nil
}

// pyMeta is the decoded meta file of the python version.
type pyMeta struct {
	names, coarse []string
	perBatch      int // CIFAR-10's num_cases_per_batch; 0 when absent
}

func decodePyMeta(data []byte, c100 bool) (*pyMeta, error) {
	d, err := loadPickleDict(data)
	if err != nil {
		return nil, err
	}
	m := &pyMeta{}
	if !c100 {
		if m.names, err = nameList(d, "label_names"); err != nil {
			return nil, err
		}
		if v, ok := d.get("num_cases_per_batch"); ok {
			n, ok := v.(int64)
			if !ok || n <= 0 || n > 1<<31 {
				return nil, pyErrorf("'num_cases_per_batch' is %v, want a positive int", v)
			}
			m.perBatch = int(n)
		}
		return m, nil
	}
	if m.names, err = nameList(d, "fine_label_names"); err != nil {
		return nil, err
	}
	if m.coarse, err = nameList(d, "coarse_label_names"); err != nil {
		return nil, err
	}
	return m, nil
}

// nameList decodes a list of class names (str or bytes). Names are trimmed
// like the binary version's text lines, so both versions agree.
func nameList(d *pyDict, key string) ([]string, error) {
	v, err := entry(d, key)
	if err != nil {
		return nil, err
	}
	l, ok := v.(*pyList)
	if !ok {
		return nil, pyErrorf("%q is a %s, want a list of names", key, pyTypeName(v))
	}
	if len(l.items) == 0 {
		return nil, pyErrorf("%q is empty", key)
	}
	names := make([]string, len(l.items))
	for i, it := range l.items {
		s, ok := textOf(it)
		if !ok {
			return nil, pyErrorf("%q: item %d is a %s, want a str", key, i, pyTypeName(it))
		}
		if names[i] = strings.TrimSpace(s); names[i] == "" {
			return nil, pyErrorf("%q: name %d is blank", key, i)
		}
	}
	return names, nil
}
