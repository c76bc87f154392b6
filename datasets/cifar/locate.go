package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// layout is one of the four CIFAR distributions: which dataset, which
// version (binary or python), the archive's name, the folder it unpacks to
// and the files in that folder.
type layout struct {
	c100    bool // CIFAR-100 (else CIFAR-10)
	python  bool // the python version (else binary)
	archive string
	folder  string
	train   []string // in order: the train split is their concatenation
	test    []string
	meta    []string // CIFAR-10 binary: names; CIFAR-100 binary: fine, coarse names; python: the meta pickle
}

var layouts = []*layout{
	{
		archive: "cifar-10-binary.tar.gz", folder: "cifar-10-batches-bin",
		train: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
		test:  []string{"test_batch.bin"}, meta: []string{"batches.meta.txt"},
	},
	{
		python: true, archive: "cifar-10-python.tar.gz", folder: "cifar-10-batches-py",
		train: []string{"data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"},
		test:  []string{"test_batch"}, meta: []string{"batches.meta"},
	},
	{
		c100: true, archive: "cifar-100-binary.tar.gz", folder: "cifar-100-binary",
		train: []string{"train.bin"}, test: []string{"test.bin"},
		meta: []string{"fine_label_names.txt", "coarse_label_names.txt"},
	},
	{
		c100: true, python: true, archive: "cifar-100-python.tar.gz", folder: "cifar-100-python",
		train: []string{"train"}, test: []string{"test"}, meta: []string{"meta"},
	},
}

func (l *layout) dataset() string {
	if l.c100 {
		return "CIFAR-100"
	}
	return "CIFAR-10"
}

func (l *layout) format() string {
	if l.python {
		return formatPython
	}
	return formatBinary
}

func (l *layout) String() string { return l.dataset() + " " + l.format() + " version" }

// members lists every file of the layout: meta first, then train, then test.
func (l *layout) members() []string {
	return append(append(append([]string(nil), l.meta...), l.train...), l.test...)
}

// layoutByFolder finds the layout whose folder is named dir.
func layoutByFolder(dir string) *layout {
	for _, l := range layouts {
		if l.folder == dir {
			return l
		}
	}
	return nil
}

// want is what the options ask for: CIFAR-10 or CIFAR-100, and a format
// (auto, binary or python).
type want struct {
	name   string // option name: cifar10, cifar100 or cifar20
	c100   bool
	format string
}

func (w want) candidates() []*layout {
	var out []*layout
	for _, py := range []bool{false, true} { // binary first when both would do: no pickle to decode
		for _, l := range layouts {
			if l.c100 == w.c100 && l.python == py && (w.format == formatAuto || w.format == l.format()) {
				out = append(out, l)
			}
		}
	}
	return out
}

// check reports whether l is a distribution the options accept.
func (w want) check(l *layout, where string) error {
	if m := w.mismatch(l); m != "" {
		return distfile.Invalidf("%s holds the %s, but %s", where, l, m)
	}
	return nil
}

// mismatch says why l does not fit the options and how to fix it; "" when
// it fits.
func (w want) mismatch(l *layout) string {
	if l.c100 != w.c100 {
		fix := "set name=cifar10"
		if l.c100 {
			fix = "set name=cifar100 (fine labels) or name=cifar20 (coarse labels)"
		}
		return fmt.Sprintf("name=%s needs %s; %s, or point root at the %s data", w.name, w.dataset(), fix, w.dataset())
	}
	if w.format != formatAuto && w.format != l.format() {
		return fmt.Sprintf("format=%s; set format=%s or format=auto", w.format, l.format())
	}
	return ""
}

func (w want) dataset() string {
	if w.c100 {
		return "CIFAR-100"
	}
	return "CIFAR-10"
}

// source is where the data of one dataset is: an archive (whose layout is
// found while reading it) or an unpacked folder of a known layout.
type source struct {
	archive string  // path of the .tar.gz (or .tar)
	dir     string  // path of the unpacked folder
	layout  *layout // nil for an archive
}

func (s source) String() string {
	if s.archive != "" {
		return "archive " + s.archive
	}
	return "folder " + s.dir
}

// locate finds the data that root points to: the archive itself, the
// unpacked folder itself, or a directory that holds either (the folder is
// preferred: nothing to decompress).
func locate(root string, w want) (source, error) {
	if root == "" {
		return source{}, distfile.Invalidf("option root is not set; set it to the CIFAR archive as distributed (%s) or the folder it unpacks to, or a directory holding either",
			strings.Join(archiveNames(w), " or "))
	}
	st, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return source{}, distfile.Invalidf("option root: %s does not exist; set it to the CIFAR archive as distributed (%s) or the folder it unpacks to",
			root, strings.Join(archiveNames(w), " or "))
	}
	if err != nil {
		return source{}, fmt.Errorf("option root: %w", err)
	}
	if st.Mode().IsRegular() {
		return source{archive: root}, nil
	}
	if !st.IsDir() {
		return source{}, distfile.Invalidf("option root: %s is neither a file nor a directory", root)
	}
	cands := w.candidates()
	// The unpacked folder itself: named as distributed, or holding the
	// layout's meta file under any name.
	for _, l := range cands {
		if filepath.Base(filepath.Clean(root)) == l.folder || isFile(filepath.Join(root, l.meta[0])) {
			return source{dir: root, layout: l}, nil
		}
	}
	// A directory holding the folder or the archive (as torchvision's root
	// holds both).
	for _, l := range cands {
		if d := filepath.Join(root, l.folder); isDir(d) {
			return source{dir: d, layout: l}, nil
		}
	}
	for _, l := range cands {
		if a := filepath.Join(root, l.archive); isFile(a) {
			return source{archive: a}, nil
		}
	}
	// Nothing that fits: say what was looked for, and what is there instead.
	var looked []string
	for _, l := range cands {
		looked = append(looked, l.folder+"/", l.archive)
	}
	msg := fmt.Sprintf("option root: %s holds no %s data for name=%s format=%s (looked for %s, and for %s in root itself)",
		root, w.dataset(), w.name, w.format,
		strings.Join(looked, ", "), strings.Join(metaNames(cands), " or "))
	for _, l := range layouts {
		if l.c100 == w.c100 && (w.format == formatAuto || w.format == l.format()) {
			continue
		}
		if isDir(filepath.Join(root, l.folder)) || isFile(filepath.Join(root, l.archive)) || isFile(filepath.Join(root, l.meta[0])) {
			msg += fmt.Sprintf("; it has the %s, but %s", l, w.mismatch(l))
			break
		}
	}
	return source{}, distfile.Invalidf("%s", msg)
}

func archiveNames(w want) []string {
	var out []string
	for _, l := range w.candidates() {
		out = append(out, l.archive)
	}
	return out
}

func metaNames(ls []*layout) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.meta[0])
	}
	return out
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
