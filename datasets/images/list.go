package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// splitColumn is the optional column of a list file that puts each row in
// a split.
const splitColumn = "split"

// maxIntLabel bounds integer labels (the classes are 0..max).
const maxIntLabel = 1 << 20

var intLabel = regexp.MustCompile(`^[0-9]+$`)

// scanList reads a list file: CSV, or TSV when the file is named .tsv or
// .tab or its header line holds a tab. The first row names the columns.
//
// Each row is one image: its path (relative to the list file's folder, or
// absolute), an optional label and an optional split (train, test or val;
// without the column every row is in train). Rows keep the file's order.
//
// Labels: an empty cell or -1 is an unknown label. When every other label
// is a non-negative decimal integer, labels are class indices and the
// classes are named "0".."max". Otherwise every label is a class name, and
// the classes are the distinct names sorted (as ImageFolder sorts folder
// names), or those of the classes file in its order (or sorted), rows of
// other classes left out.
func scanList(cfg config) (*scanned, error) {
	data, err := os.ReadFile(cfg.Root)
	if err != nil {
		return nil, fault(optRoot, err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	comma := ','
	switch strings.ToLower(filepath.Ext(cfg.Root)) {
	case ".tsv", ".tab":
		comma = '\t'
	case ".csv":
	default:
		if first, _, _ := bytes.Cut(data, []byte("\n")); bytes.ContainsRune(first, '\t') {
			comma = '\t'
		}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = comma
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, faultf(optRoot, "list file %s is empty; its first line names the columns (%s, and optionally %s and %s)", cfg.Root, cfg.PathColumn, cfg.LabelColumn, splitColumn)
	}
	if err != nil {
		return nil, faultf(optRoot, "list file %s: %v", cfg.Root, err)
	}
	col := func(name string) int {
		for i, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return i
			}
		}
		return -1
	}
	pathCol, labelCol, splitCol := col(cfg.PathColumn), col(cfg.LabelColumn), col(splitColumn)
	if pathCol < 0 {
		return nil, faultf(optPathColumn, "list file %s has no column %q (its columns: %s); set path_column to the column of the image paths",
			cfg.Root, cfg.PathColumn, strings.Join(header, ", "))
	}
	base := filepath.Dir(cfg.Root)
	type row struct {
		s     sample
		label string
		split string
	}
	var rows []row
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, faultf(optRoot, "list file %s: %v", cfg.Root, err)
		}
		line, _ := r.FieldPos(0)
		where := fmt.Sprintf("%s line %d", filepath.Base(cfg.Root), line)
		p := strings.TrimSpace(rec[pathCol])
		if p == "" {
			return nil, faultf(optRoot, "%s: the %s cell is empty", where, cfg.PathColumn)
		}
		full := p
		if !filepath.IsAbs(p) {
			full = filepath.Join(base, filepath.FromSlash(p))
		}
		rw := row{s: sample{path: full, rel: p, label: -1, where: where}, split: "train"}
		if labelCol >= 0 {
			rw.label = strings.TrimSpace(rec[labelCol])
			if rw.label == "-1" {
				rw.label = ""
			}
		}
		if splitCol >= 0 {
			rw.split = strings.ToLower(strings.TrimSpace(rec[splitCol]))
			if !slices.Contains(splitNames, rw.split) {
				return nil, faultf(optRoot, "%s: split %q is not one of %s", where, rec[splitCol], strings.Join(splitNames, ", "))
			}
		}
		rows = append(rows, rw)
	}
	if len(rows) == 0 {
		return nil, faultf(optRoot, "list file %s lists no image", cfg.Root)
	}
	// Labels: integers or names.
	ints := true
	var names []string
	for _, rw := range rows {
		if rw.label == "" {
			continue
		}
		if !intLabel.MatchString(rw.label) {
			ints = false
		}
		if !slices.Contains(names, rw.label) {
			names = append(names, rw.label)
		}
	}
	s := &scanned{layout: layoutList}
	index := map[string]int32{}
	switch {
	case labelCol < 0 || len(names) == 0:
		if cfg.Classes != "" {
			return nil, faultf(optClasses, "classes selects classes, but list file %s has no labels (no column %q)", cfg.Root, cfg.LabelColumn)
		}
	case ints:
		if cfg.Classes != "" {
			return nil, faultf(optClasses, "classes selects classes by name, but the labels of list file %s are integers", cfg.Root)
		}
		top := 0
		for _, n := range names {
			v, err := strconv.Atoi(n)
			if err != nil || v >= maxIntLabel {
				return nil, faultf(optRoot, "list file %s: label %s is too large (at most %d)", cfg.Root, n, maxIntLabel-1)
			}
			top = max(top, v)
		}
		for i := 0; i <= top; i++ {
			s.classes = append(s.classes, strconv.Itoa(i))
			index[strconv.Itoa(i)] = int32(i)
		}
		// "007" is label 7.
		for _, n := range names {
			v, _ := strconv.Atoi(n)
			index[n] = int32(v)
		}
	default:
		slices.SortFunc(names, pyCompare)
		s.classes = names
		if cfg.Classes != "" {
			lines, err := readClassesFile(cfg.Classes)
			if err != nil {
				return nil, fault(optClasses, err)
			}
			subset, missing := resolveClassLines(lines, names)
			if len(missing) > 0 {
				return nil, faultf(optClasses, "%s lists %d classes that no row of %s has: %s", cfg.Classes, len(missing), cfg.Root, strings.Join(missing, ", "))
			}
			if cfg.ClassesOrder == orderSorted {
				slices.SortFunc(subset, pyCompare)
			}
			s.classes = subset
		}
		for i, n := range s.classes {
			index[n] = int32(i)
		}
	}
	for _, name := range splitNames {
		sp := splitFiles{name: name}
		for _, rw := range rows {
			if rw.split != name {
				continue
			}
			if rw.label != "" {
				l, ok := index[rw.label]
				if !ok {
					continue // not in the classes file
				}
				rw.s.label = l
			} else if cfg.Classes != "" {
				continue
			}
			sp.samples = append(sp.samples, rw.s)
		}
		if len(sp.samples) > 0 || name == "train" {
			s.splits = append(s.splits, sp)
		}
	}
	if len(s.splits[0].samples) == 0 {
		return nil, faultf(optRoot, "list file %s has no row in the train split", cfg.Root)
	}
	return s, nil
}
