// Package tables owns clusterlab's result tables: the typed model (columns
// with a machine key, a display title, a kind and a unit; rows of cells that
// hold numbers, not display strings), the builders that make the tables of
// one run (Run) and of a set of runs or a sweep (Compare) from run
// directories, and their four renderings: text and markdown for people,
// csv and json for programs (see Render).
//
// Metrics are kept as fractions in [0, 1], as in metrics.json and
// `clusterlab score --json`; only text and markdown show them in percent.
package tables

import (
	"fmt"
	"math"
)

// Kind is what a column holds, and so how its cells are shown and written.
type Kind int

const (
	// KindMissing is a cell without a value: "-" in text and markdown, an
	// empty field in csv, null in json. It is never a column's kind.
	KindMissing Kind = iota
	// KindText is a string.
	KindText
	// KindInt is an integer.
	KindInt
	// KindFloat is a number shown with its column's Decimals.
	KindFloat
	// KindPercent is a metric, a fraction in [0, 1], shown in percent with
	// one decimal (0.702 shows as 70.2).
	KindPercent
	// KindStat is a statistic of a metric over seeds: mean, sample standard
	// deviation and count, fractions; shown "65.3 ± 6.4" (just "65.3" when
	// the count is 1).
	KindStat
	// KindRatio is a count out of a total, such as clusters used out of
	// clusters: "10/10", or "10.0/10" when the count is a mean (Decimals 1).
	KindRatio
	// KindBool is a yes/no flag.
	KindBool
)

var kindNames = [...]string{"missing", "text", "int", "float", "percent", "stat", "ratio", "bool"}

func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Units of columns (Column.Unit).
const (
	UnitFraction = "fraction" // metrics: 0.702, not 70.2
	UnitSeconds  = "seconds"
	UnitCount    = "count"
)

// Column describes one column of a Table.
type Column struct {
	// Key names the column for programs: snake_case, unique in the table;
	// the csv header and the json row key. A KindStat column k becomes the
	// csv columns k_mean, k_std and k_n; a KindRatio column the csv
	// columns Key and DenKey (and two json keys).
	Key string
	// Title is the header shown in text and markdown.
	Title string
	Kind  Kind
	// Decimals shown for KindFloat and for the numerator of KindRatio; -1
	// shows the shortest exact form.
	Decimals int
	// Unit of the values (UnitFraction, UnitSeconds, UnitCount, or "").
	Unit string
	// DenKey names the denominator of a KindRatio column.
	DenKey string
	// DataOnly columns appear in csv and json only (for instance the role
	// of a row, which text shows in its name).
	DataOnly bool
}

// Cell is one value of a Table. Its Kind is its column's or KindMissing.
// Build cells with the functions of the same name (Text, Int, ...).
type Cell struct {
	Kind Kind
	Text string // KindText
	Int  int64  // KindInt
	Bool bool   // KindBool
	// Value is the number of KindFloat and KindPercent, the mean of
	// KindStat and the numerator of KindRatio.
	Value float64
	Std   float64 // KindStat: sample standard deviation; NaN when N < 2
	N     int     // KindStat: how many values
	Den   int     // KindRatio: the denominator
	// Best marks the cell; the table's notes say what the mark compares.
	// Text and markdown show it as " *", json lists the row's marked keys
	// in "best", csv drops it.
	Best bool
}

// Text is a string cell.
func Text(s string) Cell { return Cell{Kind: KindText, Text: s} }

// Int is an integer cell.
func Int(n int64) Cell { return Cell{Kind: KindInt, Int: n} }

// Float is a number cell; a NaN or infinite v is Missing.
func Float(v float64) Cell {
	if !finite(v) {
		return Missing()
	}
	return Cell{Kind: KindFloat, Value: v}
}

// Percent is a metric cell, v a fraction; a NaN or infinite v is Missing.
func Percent(v float64) Cell {
	if !finite(v) {
		return Missing()
	}
	return Cell{Kind: KindPercent, Value: v}
}

// StatOf is the mean and sample standard deviation of values (fractions);
// Missing when there are none (or one is NaN or infinite).
func StatOf(values []float64) Cell {
	if len(values) == 0 {
		return Missing()
	}
	for _, v := range values {
		if !finite(v) {
			return Missing()
		}
	}
	m := mean(values)
	sd := math.NaN()
	if len(values) > 1 {
		var ss float64
		for _, v := range values {
			ss += (v - m) * (v - m)
		}
		sd = math.Sqrt(ss / float64(len(values)-1))
	}
	return Cell{Kind: KindStat, Value: m, Std: sd, N: len(values)}
}

// Ratio is num out of den (num may be a mean).
func Ratio(num float64, den int) Cell {
	if !finite(num) {
		return Missing()
	}
	return Cell{Kind: KindRatio, Value: num, Den: den}
}

// Bool is a yes/no cell.
func Bool(b bool) Cell { return Cell{Kind: KindBool, Bool: b} }

// Missing is a cell without a value.
func Missing() Cell { return Cell{Kind: KindMissing} }

// mean sums the differences from the first value, so that equal values
// (a baseline over seeds) have exactly their value as mean and 0 as std.
func mean(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	var d float64
	for _, x := range v[1:] {
		d += x - v[0]
	}
	return v[0] + d/float64(len(v))
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Table is one table: a machine name, a caption, columns, rows and notes.
type Table struct {
	// Name identifies the table for programs ("run", "heads", "variants",
	// "status"); csv output picks a table by it (Pick).
	Name string
	// Caption says what the table shows; text and markdown print it above
	// the table, csv leaves it to the caller (to print on stderr).
	Caption string
	Columns []Column
	// Rows hold one cell per column, in column order.
	Rows [][]Cell
	// Notes explain marks, references and everything that is not in the
	// cells (failed trials, inputs); printed below the table.
	Notes []string
}

// Pick returns the table called name, or the first table when name is
// empty.
func Pick(ts []Table, name string) (Table, error) {
	if len(ts) == 0 {
		return Table{}, fmt.Errorf("no tables")
	}
	if name == "" {
		return ts[0], nil
	}
	var names []string
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Table{}, fmt.Errorf("no table %q; the tables are %v", name, names)
}

// check reports a row whose length or cell kinds do not fit the columns.
func (t Table) check() error {
	keys := map[string]bool{"best": true} // json's list of marks
	for _, c := range t.Columns {
		if c.Kind == KindMissing {
			return fmt.Errorf("table %s: column %s has no kind", t.Name, c.Key)
		}
		for _, k := range csvKeys(c) {
			if keys[k] {
				return fmt.Errorf("table %s: key %s is used twice (or is the reserved key best)", t.Name, k)
			}
			keys[k] = true
		}
	}
	for i, r := range t.Rows {
		if len(r) != len(t.Columns) {
			return fmt.Errorf("table %s: row %d has %d cells for %d columns", t.Name, i, len(r), len(t.Columns))
		}
		for j, c := range r {
			if c.Kind != KindMissing && c.Kind != t.Columns[j].Kind {
				return fmt.Errorf("table %s: row %d, column %s holds %s, want %s", t.Name, i, t.Columns[j].Key, c.Kind, t.Columns[j].Kind)
			}
		}
	}
	return nil
}

// WithoutUnit returns the tables without their columns of the given unit:
// WithoutUnit(ts, UnitSeconds) leaves out the timings, which differ from
// machine to machine and run to run, so that the tables of two runs of
// the same trials compare byte for byte.
func WithoutUnit(ts []Table, unit string) []Table {
	out := make([]Table, len(ts))
	for i, t := range ts {
		var keep []int
		for j, c := range t.Columns {
			if c.Unit != unit {
				keep = append(keep, j)
			}
		}
		nt := t
		nt.Columns = make([]Column, 0, len(keep))
		for _, j := range keep {
			nt.Columns = append(nt.Columns, t.Columns[j])
		}
		nt.Rows = make([][]Cell, len(t.Rows))
		for r, row := range t.Rows {
			cells := make([]Cell, 0, len(keep))
			for _, j := range keep {
				cells = append(cells, row[j])
			}
			nt.Rows[r] = cells
		}
		out[i] = nt
	}
	return out
}
