package tables

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/olekukonko/tablewriter/tw"
)

// Formats are the formats Render writes.
var Formats = []string{"text", "markdown", "csv", "json"}

// Render writes tables in a format (one of Formats).
//
// text: each table under its caption, its notes below, numbers
// right-aligned, marked cells followed by " *"; tables separated by a blank
// line.
//
// markdown: the same as GitHub pipe tables under a bold caption, with what
// markdown would interpret in a cell or note escaped (| as \|, * as \*, ...).
//
// csv: ONE table, the first of ts (choose another with Pick), as plain
// RFC 4180 records: a header of column keys, then one record per row.
// Metrics are fractions (0.702, not 70.2); a statistic column k is the
// three fields k_mean, k_std, k_n (k_std empty when k_n is 1); a ratio is
// its two keys (clusters_used, clusters); a bool is true or false; a
// missing value is an empty field. No caption, notes, marks or comment
// lines: the caller has them in the Table.
//
// json: every table, numbers as json numbers, never formatted strings:
//
//	{"tables": [{
//	  "name": "variants", "caption": "...", "notes": ["..."],
//	  "columns": [{"key": "test_acc", "title": "test ACC", "unit": "fraction"}, ...],
//	  "rows": [{"variant": "temi", "test_acc": {"mean": 0.653, "std": 0.064, "n": 3},
//	            "clusters_used": 10, "clusters": 10, ..., "best": ["test_acc"]}, ...]
//	}]}
//
// A row value is a string (text), a number (int, float, percent as a
// fraction), true or false (bool), {"mean", "std", "n"} (statistic; std is
// null when n is 1) or null (missing). A ratio is two keys, each with its
// own entry in "columns". "best" lists the row's marked column keys and is
// absent when it has none. Row keys follow the order of "columns"; data-only
// columns are in csv and json but not in text and markdown.
func Render(w io.Writer, format string, ts []Table) error {
	for _, t := range ts {
		if err := t.check(); err != nil {
			return err
		}
	}
	switch format {
	case "text":
		return writeText(w, ts)
	case "markdown":
		return writeMarkdown(w, ts)
	case "csv":
		if len(ts) == 0 {
			return fmt.Errorf("no table to write as csv")
		}
		return writeCSV(w, ts[0])
	case "json":
		return writeJSON(w, ts)
	}
	return fmt.Errorf("unknown table format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// shown returns the columns text and markdown show, by index.
func shown(t Table) []int {
	var idx []int
	for i, c := range t.Columns {
		if !c.DataOnly {
			idx = append(idx, i)
		}
	}
	return idx
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }

func fixed(v float64, decimals int) string { return strconv.FormatFloat(v, 'f', decimals, 64) }

// display is a cell as text and markdown show it, without its mark.
func display(col Column, c Cell) string {
	switch c.Kind {
	case KindText:
		return c.Text
	case KindInt:
		return strconv.FormatInt(c.Int, 10)
	case KindFloat:
		return fixed(c.Value, col.Decimals)
	case KindPercent:
		return pct(c.Value)
	case KindStat:
		show := pct
		if col.Unit != UnitFraction {
			show = func(v float64) string { return fixed(v, col.Decimals) }
		}
		if c.N < 2 || math.IsNaN(c.Std) {
			return show(c.Value)
		}
		return show(c.Value) + " ± " + show(c.Std)
	case KindRatio:
		return fixed(c.Value, col.Decimals) + "/" + strconv.Itoa(c.Den)
	case KindBool:
		if c.Bool {
			return "yes"
		}
		return "no"
	}
	return "-"
}

// oneLine keeps a cell on one line of a text or markdown table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\r", " ")), " ")
}

func numeric(k Kind) bool {
	switch k {
	case KindInt, KindFloat, KindPercent, KindStat, KindRatio:
		return true
	}
	return false
}

func writeText(w io.Writer, ts []Table) error {
	for i, t := range ts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if t.Caption != "" {
			fmt.Fprintln(w, t.Caption)
		}
		cols := shown(t)
		aligns := make([]tw.Align, len(cols))
		header := make([]any, len(cols))
		for j, ci := range cols {
			header[j] = t.Columns[ci].Title
			aligns[j] = tw.AlignLeft
			if numeric(t.Columns[ci].Kind) {
				aligns[j] = tw.AlignRight
			}
		}
		tbl := tablewriter.NewTable(w,
			tablewriter.WithHeaderConfig(tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off},
				Alignment:  tw.CellAlignment{Global: tw.AlignCenter},
			}),
			tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		)
		tbl.Header(header...)
		for _, r := range t.Rows {
			row := make([]any, len(cols))
			for j, ci := range cols {
				s := oneLine(display(t.Columns[ci], r[ci]))
				if r[ci].Best {
					s += " *"
				}
				row[j] = s
			}
			if err := tbl.Append(row...); err != nil {
				return err
			}
		}
		if err := tbl.Render(); err != nil {
			return err
		}
		for _, n := range t.Notes {
			fmt.Fprintln(w, n)
		}
	}
	return nil
}

// mdEscaper escapes what GitHub markdown would interpret in a table cell
// or a paragraph: the pipe that ends a cell, emphasis, code, links, HTML.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`",
	"[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
)

// MarkdownEscape escapes s for a markdown table cell or paragraph, on one
// line.
func MarkdownEscape(s string) string { return mdEscaper.Replace(oneLine(s)) }

func writeMarkdown(w io.Writer, ts []Table) error {
	var b bytes.Buffer
	for i, t := range ts {
		if i > 0 {
			b.WriteString("\n")
		}
		if t.Caption != "" {
			fmt.Fprintf(&b, "**%s**\n\n", MarkdownEscape(t.Caption))
		}
		cols := shown(t)
		cells := make([][]string, 0, len(t.Rows)+1)
		head := make([]string, len(cols))
		for j, ci := range cols {
			head[j] = MarkdownEscape(t.Columns[ci].Title)
		}
		cells = append(cells, head)
		for _, r := range t.Rows {
			row := make([]string, len(cols))
			for j, ci := range cols {
				s := MarkdownEscape(display(t.Columns[ci], r[ci]))
				if r[ci].Best {
					s += ` \*`
				}
				row[j] = s
			}
			cells = append(cells, row)
		}
		width := make([]int, len(cols))
		for _, row := range cells {
			for j, s := range row {
				width[j] = max(width[j], twwidth.Width(s), 3)
			}
		}
		line := func(row []string, right func(j int) bool) {
			b.WriteString("|")
			for j, s := range row {
				pad := strings.Repeat(" ", width[j]-twwidth.Width(s))
				if right(j) {
					b.WriteString(" " + pad + s + " |")
				} else {
					b.WriteString(" " + s + pad + " |")
				}
			}
			b.WriteString("\n")
		}
		isNum := func(j int) bool { return numeric(t.Columns[cols[j]].Kind) }
		line(cells[0], func(int) bool { return false })
		b.WriteString("|")
		for j := range cols {
			if isNum(j) {
				b.WriteString(strings.Repeat("-", width[j]+1) + ":|")
			} else {
				b.WriteString(":" + strings.Repeat("-", width[j]+1) + "|")
			}
		}
		b.WriteString("\n")
		for _, row := range cells[1:] {
			line(row, isNum)
		}
		for _, n := range t.Notes {
			b.WriteString("\n" + MarkdownEscape(n) + "\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// csvKeys are the csv header fields of a column.
func csvKeys(c Column) []string {
	switch c.Kind {
	case KindStat:
		return []string{c.Key + "_mean", c.Key + "_std", c.Key + "_n"}
	case KindRatio:
		return []string{c.Key, c.DenKey}
	}
	return []string{c.Key}
}

// number writes a value for programs: the shortest form that reads back
// exactly with strconv.ParseFloat.
func number(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func csvFields(c Cell, width int) []string {
	switch c.Kind {
	case KindText:
		return []string{c.Text}
	case KindInt:
		return []string{strconv.FormatInt(c.Int, 10)}
	case KindFloat, KindPercent:
		return []string{number(c.Value)}
	case KindStat:
		sd := ""
		if c.N > 1 && finite(c.Std) {
			sd = number(c.Std)
		}
		return []string{number(c.Value), sd, strconv.Itoa(c.N)}
	case KindRatio:
		return []string{number(c.Value), strconv.Itoa(c.Den)}
	case KindBool:
		return []string{strconv.FormatBool(c.Bool)}
	}
	return make([]string, width)
}

func writeCSV(w io.Writer, t Table) error {
	cw := csv.NewWriter(w)
	var header []string
	for _, c := range t.Columns {
		header = append(header, csvKeys(c)...)
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range t.Rows {
		var rec []string
		for j, c := range r {
			rec = append(rec, csvFields(c, len(csvKeys(t.Columns[j])))...)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// jsonDoc is the json rendering (see Render).
type jsonDoc struct {
	Tables []jsonTable `json:"tables"`
}

type jsonTable struct {
	Name    string       `json:"name"`
	Caption string       `json:"caption"`
	Notes   []string     `json:"notes"`
	Columns []jsonColumn `json:"columns"`
	Rows    []jsonRow    `json:"rows"`
}

type jsonColumn struct {
	Key   string `json:"key"`
	Title string `json:"title"`
	Unit  string `json:"unit"`
}

type jsonStat struct {
	Mean float64  `json:"mean"`
	Std  *float64 `json:"std"`
	N    int      `json:"n"`
}

type field struct {
	key   string
	value any
}

// jsonRow is a json object that keeps its keys in column order.
type jsonRow []field

func (r jsonRow) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(f.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(f.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func jsonFields(col Column, c Cell) []field {
	if col.Kind == KindRatio {
		if c.Kind != KindRatio {
			return []field{{col.Key, nil}, {col.DenKey, nil}}
		}
		return []field{{col.Key, c.Value}, {col.DenKey, c.Den}}
	}
	var v any
	switch c.Kind {
	case KindText:
		v = c.Text
	case KindInt:
		v = c.Int
	case KindFloat, KindPercent:
		v = c.Value
	case KindStat:
		s := jsonStat{Mean: c.Value, N: c.N}
		if c.N > 1 && finite(c.Std) {
			sd := c.Std
			s.Std = &sd
		}
		v = s
	case KindBool:
		v = c.Bool
	}
	return []field{{col.Key, v}}
}

func writeJSON(w io.Writer, ts []Table) error {
	doc := jsonDoc{Tables: []jsonTable{}}
	for _, t := range ts {
		jt := jsonTable{Name: t.Name, Caption: t.Caption, Notes: t.Notes, Columns: []jsonColumn{}, Rows: []jsonRow{}}
		if jt.Notes == nil {
			jt.Notes = []string{}
		}
		for _, c := range t.Columns {
			jt.Columns = append(jt.Columns, jsonColumn{Key: c.Key, Title: c.Title, Unit: c.Unit})
			if c.Kind == KindRatio {
				jt.Columns = append(jt.Columns, jsonColumn{Key: c.DenKey, Title: c.DenKey, Unit: c.Unit})
			}
		}
		for _, r := range t.Rows {
			var row jsonRow
			var best []string
			for j, c := range r {
				row = append(row, jsonFields(t.Columns[j], c)...)
				if c.Best {
					best = append(best, t.Columns[j].Key)
				}
			}
			if len(best) > 0 {
				row = append(row, field{"best", best})
			}
			jt.Rows = append(jt.Rows, row)
		}
		doc.Tables = append(doc.Tables, jt)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
