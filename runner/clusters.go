package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/runner/report"
)

// writeClustersCSV writes clusters_<split>.csv for every split: each
// sample's index, name (the image's file when the dataset names its
// images), class name, the selected head's cluster and its probability,
// the file to open in a spreadsheet or join with one's own metadata.
func writeClustersCSV(runDir string, data embedded, classes []string, bestHead int) error {
	for _, split := range data.Names {
		best, err := selectedHead(runDir, split, bestHead)
		if err != nil {
			return err
		}
		n := len(best)
		conf, _, err := report.ReadConfidence(runDir, split, best)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		var names []string
		if p := data.Splits[split].Names; p != "" {
			if names, err = npy.ReadStrings(p); err != nil {
				return err
			}
			if len(names) != n {
				return fmt.Errorf("%s holds %d names for %d samples", p, len(names), n)
			}
		}
		labels := data.Labels[split]
		err = npy.WriteAtomic(filepath.Join(runDir, rundir.ClustersFile(split)), func(w io.Writer) error {
			cw := csv.NewWriter(w)
			if err := cw.Write(rundir.ClustersHeader); err != nil {
				return err
			}
			row := make([]string, len(rundir.ClustersHeader))
			for i := range n {
				row[0], row[1], row[2], row[4] = strconv.Itoa(i), "", "", ""
				if names != nil {
					row[1] = names[i]
				}
				if i < len(labels) && labels[i] >= 0 {
					row[2] = labelName(classes, int(labels[i]))
				}
				row[3] = strconv.Itoa(int(best[i]))
				if conf != nil {
					row[4] = strconv.FormatFloat(float64(conf[i]), 'g', -1, 32)
				}
				if err := cw.Write(row); err != nil {
					return err
				}
			}
			cw.Flush()
			return cw.Error()
		})
		if err != nil {
			return fmt.Errorf("write %s: %w", rundir.ClustersFile(split), err)
		}
	}
	return nil
}

// selectedHead reads the clusters the selected head gave split's samples,
// its row of the run's assign_<split>.npy.
func selectedHead(runDir, split string, bestHead int) ([]int32, error) {
	assign, shape, err := npy.ReadInt32(filepath.Join(runDir, rundir.AssignFile(split)))
	if err != nil {
		return nil, err
	}
	row, ok := headRow(assign, shape, bestHead)
	if !ok {
		return nil, fmt.Errorf("%s has shape %v, no head %d", rundir.AssignFile(split), shape, bestHead)
	}
	return row, nil
}

// headRow is head h's row of an assign_<split>.npy [heads, N]; ok is
// false when the array has no head h.
func headRow(assign []int32, shape []int, h int) (row []int32, ok bool) {
	if len(shape) != 2 || h < 0 || h >= shape[0] {
		return nil, false
	}
	n := shape[1]
	return assign[h*n : (h+1)*n], true
}

// labelName is class c's name, or its number when the dataset names none.
func labelName(classes []string, c int) string {
	if c < len(classes) && classes[c] != "" {
		return classes[c]
	}
	return strconv.Itoa(c)
}
