package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// STL-10 images: 96x96 RGB. The files store each image as three channel
// planes (red, green, blue) of 96x96 bytes in column-major order (the
// MATLAB layout); the plugin delivers them upright and interleaved (HWC).
const (
	side       = 96
	channels   = 3
	planeBytes = side * side           // 9216
	imageBytes = channels * planeBytes // 27648
	splitUnlab = "unlabeled"           // the third split's name
	noFold     = -1                    // option fold: every train image
)

// config is the resolved options.
type config struct {
	root                                  string
	fold                                  int // noFold or 0..9
	unlabeled                             bool
	limitTrain, limitTest, limitUnlabeled int
}

// view is the dataset as one set of options sees it.
type view struct {
	ix      *index
	classes []string
	fold    []int        // the fold's train image indices as listed (before limit_train); nil without a fold
	splits  []*splitView // train, test, then unlabeled when offered
}

// splitView is one split: its image file, which of its images in which
// order, and their labels.
type splitView struct {
	name   string
	x      *file
	y      *file // nil for the unlabeled images
	total  int   // images in x
	sel    []int // the images delivered, in order; nil: the first n
	n      int
	labels []int32 // n labels, 0-based; nil: every label -1
}

func (v *view) split(name string) (*splitView, bool) {
	for _, s := range v.splits {
		if s.name == name {
			return s, true
		}
	}
	return nil, false
}

func (s *splitView) image(i int) int {
	if s.sel == nil {
		return i
	}
	return s.sel[i]
}

// open indexes the source root points to and checks what the options
// need of it.
func open(ctx context.Context, cfg config) (*view, error) {
	src, err := locate(cfg.root)
	if err != nil {
		return nil, err
	}
	var ix *index
	if src.archive != "" {
		ix, err = indexArchive(ctx, src.archive)
	} else {
		ix, err = indexFolder(ctx, src.dir)
	}
	if err != nil {
		return nil, err
	}
	return newView(ix, cfg)
}

func newView(ix *index, cfg config) (*view, error) {
	v := &view{ix: ix}
	need := func(base, what string) (*file, error) {
		if f, ok := ix.files[base]; ok {
			return f, nil
		}
		return nil, ix.missing(base, what)
	}
	nf, err := need(fileNames, "the class names")
	if err != nil {
		return nil, err
	}
	if v.classes, err = parseNames(nf); err != nil {
		return nil, err
	}
	labelled := func(name, xb, yb string, limit int) (*splitView, error) {
		x, err := need(xb, "the "+name+" images")
		if err != nil {
			return nil, err
		}
		y, err := need(yb, "the "+name+" labels")
		if err != nil {
			return nil, err
		}
		s := &splitView{name: name, x: x, y: y}
		if s.total, err = imageCount(x); err != nil {
			return nil, err
		}
		if err := checkLabels(x, y, s.total, len(v.classes), nf); err != nil {
			return nil, err
		}
		s.n = s.total
		if name == core.SplitTrain && cfg.fold != noFold {
			ff, err := need(fileFolds, fmt.Sprintf("the fold indices, which fold=%d needs", cfg.fold))
			if err != nil {
				return nil, err
			}
			if v.fold, err = parseFold(ff, cfg.fold, s.total, x); err != nil {
				return nil, err
			}
			s.sel, s.n = v.fold, len(v.fold)
		}
		if limit > 0 && limit < s.n {
			s.n = limit
		}
		if s.sel != nil {
			s.sel = s.sel[:s.n]
		}
		s.labels = make([]int32, s.n)
		for i := range s.labels {
			s.labels[i] = int32(y.data[s.image(i)]) - 1 // STL-10 labels count from 1
		}
		return s, nil
	}
	train, err := labelled(core.SplitTrain, fileTrainX, fileTrainY, cfg.limitTrain)
	if err != nil {
		return nil, err
	}
	test, err := labelled(core.SplitTest, fileTestX, fileTestY, cfg.limitTest)
	if err != nil {
		return nil, err
	}
	v.splits = []*splitView{train, test}
	if cfg.unlabeled {
		x, err := need(fileUnlabeledX, "the unlabeled images, which unlabeled=true needs")
		if err != nil {
			return nil, err
		}
		s := &splitView{name: splitUnlab, x: x}
		if s.total, err = imageCount(x); err != nil {
			return nil, err
		}
		s.n = s.total
		if cfg.limitUnlabeled > 0 && cfg.limitUnlabeled < s.n {
			s.n = cfg.limitUnlabeled
		}
		v.splits = append(v.splits, s)
	}
	return v, nil
}

// imageCount checks that an image file holds whole images and counts them.
func imageCount(x *file) (int, error) {
	switch {
	case x.size == 0:
		return 0, x.loc.fail(0, "the file is empty; it should hold images of %d bytes (3 channel planes of 96x96)", imageBytes)
	case x.size%imageBytes != 0:
		return 0, x.loc.fail(x.size-x.size%imageBytes,
			"the file's %d bytes are not a whole number of %d-byte images (3 channel planes of 96x96): the last image is cut after %d bytes; the file is truncated or not an STL-10 image file",
			x.size, imageBytes, x.size%imageBytes)
	}
	return int(x.size / imageBytes), nil
}

// checkLabels checks a label file against its image file (one label byte
// per image) and the class names (labels 1..classes).
func checkLabels(x, y *file, images, classes int, names *file) error {
	labels := len(y.data)
	switch {
	case labels > images:
		return y.loc.fail(int64(images), "holds %d labels, but %s holds %d images: the labels from this offset on have no image; one of the two files is truncated or from another copy",
			labels, x.loc, images)
	case labels < images:
		return x.loc.fail(int64(labels)*imageBytes, "holds %d images, but %s holds only %d labels: the images from this offset on have no label; one of the two files is truncated or from another copy",
			images, y.loc, labels)
	}
	for i, l := range y.data {
		if l < 1 || int(l) > classes {
			return y.loc.fail(int64(i), "label %d of image %d is not in 1..%d: STL-10 labels count from 1, and %s names %d classes", l, i, classes, names.loc, classes)
		}
	}
	return nil
}

// parseNames parses class_names.txt: one name per line, line i+1 naming
// label i+1 (delivered as class i). Surrounding blanks and blank trailing
// lines are dropped.
func parseNames(f *file) ([]string, error) {
	names, blank, offset := distfile.ClassNames(f.data)
	if len(names) == 0 {
		return nil, f.loc.fail(0, "holds no class names; it should have one name per line")
	}
	if blank > 0 {
		return nil, f.loc.fail(offset, "line %d is blank; the file should have one class name per line (line i names label i)", blank)
	}
	return names, nil
}

// parseFold returns the train image indices of fold k: line k+1 of
// fold_indices.txt, whitespace-separated 0-based indices, in the order
// listed (as torchvision's STL10(folds=k) selects them).
func parseFold(f *file, k, images int, x *file) ([]int, error) {
	line, start, n := []byte(nil), int64(0), 0
	off := int64(0)
	for l := range splitLines(f.data) {
		if n == k {
			line, start = l, off
		}
		off += int64(len(l))
		n++
	}
	if line == nil {
		return nil, f.loc.fail(-1, "has %d lines, but fold=%d needs line %d (the file has one line of train image indices per fold, 10 as distributed)", n, k, k+1)
	}
	var idx []int
	i := 0
	for i < len(line) {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if i == j {
			break
		}
		tok := string(line[i:j])
		v, err := strconv.Atoi(tok)
		switch {
		case err != nil:
			return nil, f.loc.fail(start+int64(i), "line %d (fold %d): %q is not an image index", k+1, k, tok)
		case v < 0 || v >= images:
			return nil, f.loc.fail(start+int64(i), "line %d (fold %d): index %d is not below the %d train images of %s (indices count from 0)", k+1, k, v, images, x.loc)
		}
		idx = append(idx, v)
		i = j
	}
	if len(idx) == 0 {
		return nil, f.loc.fail(start, "line %d (fold %d) lists no train images", k+1, k)
	}
	return idx, nil
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// splitLines yields the lines of data as Python's str.splitlines splits
// them (at \n, \r\n and \r), each with its line break.
func splitLines(data []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			i := bytes.IndexAny(data, "\r\n")
			if i < 0 {
				yield(data)
				return
			}
			end := i + 1
			if data[i] == '\r' && end < len(data) && data[end] == '\n' {
				end++
			}
			if !yield(data[:end]) {
				return
			}
			data = data[end:]
		}
	}
}

// contentHash is the sha256 of everything the options deliver, whole
// splits regardless of the limits: the class names, the fold's indices,
// then per split its name and the sha256 of its image file and of its
// label file. The digests are of the files' bytes, which the archive and
// the unpacked folder share, so both give one identity (and share cached
// embeddings). Hashing a folder's image files reads them all: about
// 360 MB for train and test, 2.8 GB more with the unlabeled images.
func (v *view) contentHash(ctx context.Context) (string, error) {
	h := sha256.New()
	var num [8]byte
	writeNum := func(n int) {
		binary.LittleEndian.PutUint64(num[:], uint64(n))
		h.Write(num[:])
	}
	h.Write([]byte("clusterlab stl10 content v1\x00"))
	writeNum(len(v.classes))
	for _, n := range v.classes {
		writeNum(len(n))
		h.Write([]byte(n))
	}
	writeNum(len(v.fold))
	for _, i := range v.fold {
		writeNum(i)
	}
	for _, s := range v.splits {
		writeNum(len(s.name))
		h.Write([]byte(s.name))
		for _, f := range []*file{s.x, s.y} {
			if f == nil {
				continue
			}
			d, err := digestOf(ctx, f)
			if err != nil {
				return "", err
			}
			h.Write(d)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
