package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"
)

// sample is one image of a split, before it is read.
type sample struct {
	path  string // the path the file system is asked for
	rel   string // relative to root (slash-separated), or as the list file spells it
	label int32  // -1: unknown
	where string // where it was listed: "list.csv line 12"; "" for folders
}

// name is how errors name the sample.
func (s sample) name() string {
	if s.where != "" {
		return s.path + " (" + s.where + ")"
	}
	return s.path
}

// splitFiles is one split's samples in order.
type splitFiles struct {
	name    string
	dir     string // the split's folder ("" for a list)
	samples []sample
}

// scanned is the file list of a dataset: its layout, classes and splits
// (train first, then test, then val).
type scanned struct {
	layout  string
	classes []string
	splits  []splitFiles
}

// Split folder names, in the order splits are reported.
var splitNames = []string{"train", "test", "val"}

// scan lists the samples of every split as the options describe them. It
// reads directories and the list file, not the images.
func scan(cfg config) (*scanned, error) {
	if cfg.Root == "" {
		return nil, faultf(optRoot, "root is not set; set it to a folder of images (class folders, a flat folder, or train/ test/ val/ folders holding either) or to a CSV/TSV list file")
	}
	st, err := os.Stat(cfg.Root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, faultf(optRoot, "%s does not exist", cfg.Root)
	}
	if err != nil {
		return nil, fault(optRoot, err)
	}
	if !st.IsDir() {
		if cfg.Layout != layoutAuto && cfg.Layout != layoutList {
			return nil, faultf(optLayout, "layout %s needs root to be a folder, but %s is a file; set layout: list (or auto) to read it as a list of images", cfg.Layout, cfg.Root)
		}
		return scanList(cfg)
	}
	if cfg.Layout == layoutList {
		return nil, faultf(optLayout, "layout list needs root to be a CSV or TSV file, but %s is a folder", cfg.Root)
	}
	dirs, err := subdirs(cfg.Root)
	if err != nil {
		return nil, fault(optRoot, err)
	}
	s := &scanned{}
	if isSplitLayout(dirs) && cfg.Splits == splitsAuto {
		for _, name := range splitNames {
			if slices.Contains(dirs, name) {
				s.splits = append(s.splits, splitFiles{name: name, dir: filepath.Join(cfg.Root, name)})
			}
		}
	} else {
		s.splits = []splitFiles{{name: "train", dir: cfg.Root}}
	}
	// The layout of every split folder: class folders when it has
	// subfolders, else flat (or as the layout option says).
	s.layout = cfg.Layout
	if s.layout == layoutAuto {
		var kinds []string
		for _, sp := range s.splits {
			d, err := subdirs(sp.dir)
			if err != nil {
				return nil, fault(optRoot, err)
			}
			k := layoutFlat
			if len(d) > 0 {
				k = layoutFolders
			}
			kinds = append(kinds, sp.name+"/ "+k)
			if s.layout != layoutAuto && s.layout != k {
				return nil, faultf(optRoot, "the split folders of %s differ in layout (%s): every split needs class folders, or every split is a flat folder of images",
					cfg.Root, strings.Join(kinds, ", "))
			}
			s.layout = k
		}
	}
	if s.layout == layoutFlat {
		if cfg.Classes != "" {
			return nil, faultf(optClasses, "classes selects class folders, but %s is read as a flat folder of images (no classes)", cfg.Root)
		}
		for i := range s.splits {
			sp := &s.splits[i]
			files, err := walkImages(sp.dir, cfg.Root, cfg.extensions)
			if err != nil {
				return nil, fault(optRoot, err)
			}
			if len(files) == 0 {
				return nil, faultf(optRoot, "%s holds no image files (extensions %s, in any subfolder)", sp.dir, strings.Join(cfg.extensions, " "))
			}
			for _, f := range files {
				sp.samples = append(sp.samples, sample{path: f.path, rel: f.rel, label: -1})
			}
		}
		return s, nil
	}
	if err := s.scanClassFolders(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// isSplitLayout: the subfolders of root are split folders when they are
// all named train, test or val and train is one of them.
func isSplitLayout(dirs []string) bool {
	if !slices.Contains(dirs, "train") {
		return false
	}
	for _, d := range dirs {
		if !slices.Contains(splitNames, d) {
			return false
		}
	}
	return true
}

// scanClassFolders lists the class folders of every split (torchvision's
// find_classes: the subfolders, sorted; or the classes file) and their
// images (make_dataset).
func (s *scanned) scanClassFolders(cfg config) error {
	var subset []string
	if cfg.Classes != "" {
		lines, err := readClassesFile(cfg.Classes)
		if err != nil {
			return fault(optClasses, err)
		}
		// Every split must have every listed folder: torchvision raises
		// FileNotFoundError for a class without images.
		var missing []string
		for _, sp := range s.splits {
			have, err := subdirs(sp.dir)
			if err != nil {
				return fault(optRoot, err)
			}
			names, miss := resolveClassLines(lines, have)
			for _, m := range miss {
				missing = append(missing, filepath.Join(sp.dir, m))
			}
			if subset == nil {
				subset = names
			}
		}
		if len(missing) > 0 {
			return faultf(optClasses, "%s lists %d class folders that do not exist: %s", cfg.Classes, len(missing), strings.Join(missing, ", "))
		}
		// Two lines may name one folder by their first word.
		seen := map[string]bool{}
		for _, c := range subset {
			if seen[c] {
				return faultf(optClasses, "%s names the class folder %q twice", cfg.Classes, c)
			}
			seen[c] = true
		}
		if cfg.ClassesOrder == orderSorted {
			slices.SortFunc(subset, pyCompare)
		}
		s.classes = subset
	} else {
		var first []string
		for i, sp := range s.splits {
			names, err := subdirs(sp.dir)
			if err != nil {
				return fault(optRoot, err)
			}
			if len(names) == 0 {
				return faultf(optRoot, "couldn't find any class folder in %s (torchvision's message); a folder of images without class folders is layout flat", sp.dir)
			}
			if i == 0 {
				first = names
				continue
			}
			if !slices.Equal(names, first) {
				return faultf(optRoot, "split %s has other class folders than split %s: %s; every split needs the same classes (labels are the index of the folder name in sorted order)",
					sp.name, s.splits[0].name, classDiff(first, names))
			}
		}
		s.classes = first
	}
	for i := range s.splits {
		sp := &s.splits[i]
		var empty []string
		for label, c := range s.classes {
			files, err := walkImages(filepath.Join(sp.dir, c), cfg.Root, cfg.extensions)
			if err != nil {
				return fault(optRoot, err)
			}
			if len(files) == 0 {
				empty = append(empty, filepath.Join(sp.dir, c))
			}
			for _, f := range files {
				sp.samples = append(sp.samples, sample{path: f.path, rel: f.rel, label: int32(label)})
			}
		}
		if len(empty) > 0 {
			return faultf(optRoot, "found no image file in the class folders %s (torchvision raises FileNotFoundError); supported extensions: %s",
				strings.Join(empty, ", "), strings.Join(cfg.extensions, " "))
		}
	}
	return nil
}

func classDiff(a, b []string) string {
	var parts []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			parts = append(parts, "missing "+x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			parts = append(parts, "extra "+x)
		}
	}
	return strings.Join(parts, ", ")
}

// readClassesFile returns the non-blank, non-comment (#) lines of a classes
// file, trimmed.
func readClassesFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s lists no class", path)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			return nil, fmt.Errorf("%s lists %q twice", path, l)
		}
		seen[l] = true
	}
	return lines, nil
}

// resolveClassLines maps each line of a classes file to a class: the whole
// line when a class of that name exists, else its first word (SCAN's
// ImageNet subset files are "n01558993 robin, American robin"). It returns
// the names in the file's order and the lines that name nothing known.
func resolveClassLines(lines, known []string) (names, missing []string) {
	for _, l := range lines {
		name := l
		if !slices.Contains(known, l) {
			name = strings.Fields(l)[0]
		}
		if !slices.Contains(known, name) {
			missing = append(missing, name)
			continue
		}
		names = append(names, name)
	}
	return names, missing
}

// subdirs lists the subfolders of dir, following symbolic links (Python's
// DirEntry.is_dir()), sorted as Python sorts strings.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read folder %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if isDirEntry(dir, e) {
			out = append(out, e.Name())
		}
	}
	slices.SortFunc(out, pyCompare)
	return out, nil
}

func isDirEntry(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		return err == nil && st.IsDir()
	}
	return false
}

// walkedFile is an image file found by walkImages.
type walkedFile struct{ path, rel string }

// walkImages lists the image files under top in torchvision 0.14's order
// (make_dataset): every folder os.walk(top, followlinks=True) visits,
// sorted by its path as a whole string (so "a b" and "a-b" come before
// "a/x"), and in each the file names sorted; a file is an image when its
// lower-cased name ends with one of extensions. Unlike os.walk, an
// unreadable folder is an error (torchvision skips it silently) and a
// symbolic link back to a folder being walked is an error (os.walk follows
// it until the path is too long).
func walkImages(top, root string, extensions []string) ([]walkedFile, error) {
	type visited struct {
		path  string
		files []string
	}
	var all []visited
	var walk func(dir string, stack []fileID) error
	walk = func(dir string, stack []fileID) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("read folder %s: %w", dir, err)
		}
		var files, dirs []string
		for _, e := range entries {
			if isDirEntry(dir, e) {
				dirs = append(dirs, e.Name())
			} else {
				files = append(files, e.Name())
			}
		}
		all = append(all, visited{dir, files})
		for _, d := range dirs {
			sub := filepath.Join(dir, d)
			id, err := idOf(sub)
			if err != nil {
				return fmt.Errorf("read folder %s: %w", sub, err)
			}
			if slices.Contains(stack, id) {
				return fmt.Errorf("%s is a symbolic link to a folder that contains it (a cycle); torchvision would follow it until the path is too long; remove the link", sub)
			}
			if err := walk(sub, append(stack, id)); err != nil {
				return err
			}
		}
		return nil
	}
	id, err := idOf(top)
	if err != nil {
		return nil, fmt.Errorf("read folder %s: %w", top, err)
	}
	if err := walk(top, []fileID{id}); err != nil {
		return nil, err
	}
	slices.SortFunc(all, func(a, b visited) int { return pyCompare(a.path, b.path) })
	var out []walkedFile
	for _, v := range all {
		slices.SortFunc(v.files, pyCompare)
		for _, f := range v.files {
			if !hasExtension(f, extensions) {
				continue
			}
			p := filepath.Join(v.path, f)
			rel, err := filepath.Rel(root, p)
			if err != nil {
				rel = p
			}
			out = append(out, walkedFile{path: p, rel: filepath.ToSlash(rel)})
		}
	}
	return out, nil
}

// hasExtension is torchvision's has_file_allowed_extension:
// filename.lower().endswith(extensions).
func hasExtension(name string, extensions []string) bool {
	lower := strings.ToLower(name)
	for _, e := range extensions {
		if strings.HasSuffix(lower, e) {
			return true
		}
	}
	return false
}

// fileID identifies a folder across symbolic links.
type fileID struct{ dev, ino uint64 }

func idOf(path string) (fileID, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(sys.Dev), uint64(sys.Ino)}, nil
	}
	return fileID{}, nil
}

// pyCompare orders strings as Python 3 orders str: by code point. File
// names that are not valid UTF-8 are compared as Python sees them
// (os.fsdecode's surrogateescape: byte b becomes U+DC00+b).
func pyCompare(a, b string) int {
	if utf8.ValidString(a) && utf8.ValidString(b) {
		return strings.Compare(a, b) // UTF-8 keeps code point order
	}
	for a != "" && b != "" {
		ra, na := pyRune(a)
		rb, nb := pyRune(b)
		if ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

func pyRune(s string) (rune, int) {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && n <= 1 {
		return 0xDC00 + rune(s[0]), 1
	}
	return r, n
}
