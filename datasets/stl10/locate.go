package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// STL-10 as its authors distribute it: stl10_binary.tar.gz unpacks to the
// folder stl10_binary/ holding these files.
const (
	archiveName = "stl10_binary.tar.gz"
	folderName  = "stl10_binary"

	fileTrainX     = "train_X.bin"
	fileTrainY     = "train_y.bin"
	fileTestX      = "test_X.bin"
	fileTestY      = "test_y.bin"
	fileUnlabeledX = "unlabeled_X.bin"
	fileNames      = "class_names.txt"
	fileFolds      = "fold_indices.txt"
)

// memberNames are the files of the distribution, in the order of the
// official archive.
var memberNames = []string{fileTestX, fileTestY, fileTrainX, fileTrainY, fileUnlabeledX, fileNames, fileFolds}

func isMember(base string) bool {
	for _, m := range memberNames {
		if m == base {
			return true
		}
	}
	return false
}

// source is where the data is: an archive or an unpacked folder.
type source struct {
	archive string // path of the .tar.gz (or .tar)
	dir     string // path of the unpacked folder
}

func (s source) String() string {
	if s.archive != "" {
		return "archive " + s.archive
	}
	return "folder " + s.dir
}

// locate finds the data root points to: the archive itself, the unpacked
// folder itself, or a directory holding either, as torchvision's root
// holds stl10_binary/ and the downloaded stl10_binary.tar.gz (the folder
// is preferred: it is read by seeking, the archive only by streaming).
func locate(root string) (source, error) {
	if root == "" {
		return source{}, distfile.Invalidf("option root is not set; set it to %s as distributed, the %s/ folder it unpacks to, or a directory holding either", archiveName, folderName)
	}
	st, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return source{}, distfile.Invalidf("option root: %s does not exist; set it to %s as distributed, the %s/ folder it unpacks to, or a directory holding either",
			root, archiveName, folderName)
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
	// The unpacked folder itself: named as distributed, or holding the
	// distribution's files under another name.
	if filepath.Base(filepath.Clean(root)) == folderName || isFile(filepath.Join(root, fileNames)) || isFile(filepath.Join(root, fileTrainX)) {
		return source{dir: root}, nil
	}
	if d := filepath.Join(root, folderName); isDir(d) {
		return source{dir: d}, nil
	}
	if a := filepath.Join(root, archiveName); isFile(a) {
		return source{archive: a}, nil
	}
	return source{}, distfile.Invalidf("option root: %s holds no STL-10 data (looked for %s/, %s, and for %s or %s in %s itself); download %s from the STL-10 page and point root at it or at the folder it unpacks to",
		root, folderName, archiveName, fileNames, fileTrainX, root, archiveName)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
