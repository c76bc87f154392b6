package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/runner/tables"
)

// textTable is a table of text cells (plugins, options, embeddings): each
// column's key is its header in snake_case.
func textTable(name, caption string, header []string, rows [][]string) tables.Table {
	t := tables.Table{Name: name, Caption: caption}
	for _, h := range header {
		t.Columns = append(t.Columns, tables.Column{Key: snakeKey(h), Title: h, Kind: tables.KindText})
	}
	for _, r := range rows {
		cells := make([]tables.Cell, len(r))
		for i, v := range r {
			cells[i] = tables.Text(v)
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

func snakeKey(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			if c >= 'A' && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			} else {
				b[i] = '_'
			}
		}
	}
	return string(b)
}

// printTables renders ts in format on w. csv writes one table (the one
// named by pick, else the first) and prints its caption and notes on
// stderr, so the csv stream holds nothing but records.
func printTables(w io.Writer, format, pick string, ts []tables.Table) error {
	if pick != "" || format == "csv" {
		t, err := tables.Pick(ts, pick)
		if err != nil {
			return usageError{err.Error()}
		}
		ts = []tables.Table{t}
	}
	if format == "csv" {
		fmt.Fprintln(os.Stderr, ts[0].Caption)
		for _, n := range ts[0].Notes {
			fmt.Fprintln(os.Stderr, n)
		}
	}
	if err := tables.Render(w, format, ts); err != nil {
		return usageError{err.Error()}
	}
	return nil
}

// writeTableFiles renders ts into dir as text and Markdown files.
func writeTableFiles(dir, textName, mdName string, ts []tables.Table) error {
	for _, f := range []struct{ name, format string }{{textName, "text"}, {mdName, "markdown"}} {
		var buf bytes.Buffer
		if err := tables.Render(&buf, f.format, ts); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, f.name), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// writeTables renders a finished run's tables into its directory (text
// and Markdown) and prints the comparison table.
func writeTables(run rundir.Run, stdout io.Writer) error {
	ts, err := tables.Run(run, "")
	if err != nil {
		return err
	}
	if err := writeTableFiles(run.Dir, rundir.TablesText, rundir.TablesMarkdown, ts); err != nil {
		return err
	}
	return tables.Render(stdout, "text", ts[:1])
}

// writeSweepTables renders the sweep's tables, failed trials included,
// into the experiment directory (none when expDir is "": a subset of the
// trials) and prints them.
func writeSweepTables(expDir string, runs []rundir.Run, stdout io.Writer) error {
	ts, err := tables.Compare(runs, "test")
	if err != nil {
		return err
	}
	if expDir == "" {
		return tables.Render(stdout, "text", ts)
	}
	if err := writeTableFiles(expDir, rundir.SweepTablesText, rundir.SweepTablesMarkdown, ts); err != nil {
		return err
	}
	return tables.Render(stdout, "text", ts)
}
