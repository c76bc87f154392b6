package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/clusterlab/clusterlab/core/rundir"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// table is a rendered-format-independent table.
type table struct {
	Title  string     `json:"title"`
	Header []string   `json:"header"`
	Rows   [][]string `json:"rows"`
	Note   string     `json:"note,omitempty"`
}

var formats = []string{"text", "markdown", "csv", "json"}

func renderTables(w io.Writer, format string, tables []table) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(tables, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case "csv":
		cw := csv.NewWriter(w)
		for i, t := range tables {
			if i > 0 {
				cw.Write(nil)
			}
			cw.Write([]string{"# " + t.Title})
			cw.Write(t.Header)
			cw.WriteAll(t.Rows)
		}
		cw.Flush()
		return cw.Error()
	case "text", "markdown":
		for i, t := range tables {
			if i > 0 {
				fmt.Fprintln(w)
			}
			if format == "markdown" {
				fmt.Fprintf(w, "**%s**\n\n", t.Title)
			} else {
				fmt.Fprintln(w, t.Title)
			}
			opts := []tablewriter.Option{
				tablewriter.WithHeaderConfig(tw.CellConfig{Formatting: tw.CellFormatting{AutoFormat: tw.Off}, Alignment: tw.CellAlignment{Global: tw.AlignCenter}}),
				tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: columnAligns(t)}),
			}
			if format == "markdown" {
				opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
			}
			tbl := tablewriter.NewTable(w, opts...)
			tbl.Header(toAny(t.Header)...)
			for _, r := range t.Rows {
				if err := tbl.Append(toAny(r)...); err != nil {
					return err
				}
			}
			if err := tbl.Render(); err != nil {
				return err
			}
			if t.Note != "" {
				if format == "markdown" {
					fmt.Fprintln(w)
				}
				fmt.Fprintln(w, t.Note)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown table format %q: want one of %s", format, strings.Join(formats, ", "))
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }

// comparisonTable: one row per method of one run, ACC/NMI/ARI/AMI per
// split (in percent), clusters used on the last split, time.
func comparisonTable(mf rundir.Metrics) table {
	splits := resultSplits(mf.Results)
	// Over-clustering (K > classes): the one-to-one ACC counts surplus
	// clusters as errors; also show the authors' majority mapping.
	over := mf.Clusters > mf.Classes
	header := []string{"method", "selection"}
	for _, s := range splits {
		header = append(header, s+" ACC", s+" NMI", s+" ARI", s+" AMI")
		if over {
			header = append(header, s+" majority ACC")
		}
	}
	header = append(header, "clusters used", "seconds")
	type key struct{ method, sel string }
	var order []key
	byKey := map[key]map[string]rundir.Result{}
	for _, r := range mf.Results {
		if strings.HasPrefix(r.Selection, "head-") {
			continue
		}
		k := key{r.Method, r.Selection}
		if byKey[k] == nil {
			byKey[k] = map[string]rundir.Result{}
			order = append(order, k)
		}
		byKey[k][r.Split] = r
	}
	// The trained method first, then baselines.
	var rows [][]string
	for pass := 0; pass < 2; pass++ {
		for _, k := range order {
			if (k.method == mf.Loss) != (pass == 0) {
				continue
			}
			row := []string{k.method, k.sel}
			used := "-"
			for _, s := range splits {
				r, ok := byKey[k][s]
				switch {
				case !ok:
					row = append(row, "-", "-", "-", "-")
				case r.Supervised:
					row = append(row, pct(r.ACC), "-", "-", "-")
				default:
					row = append(row, pct(r.ACC), pct(r.NMI), pct(r.ARI), pct(r.AMI))
				}
				if over {
					if ok && !r.Supervised {
						row = append(row, pct(r.MajorityACC))
					} else {
						row = append(row, "-")
					}
				}
				if !ok || r.Supervised {
					continue
				}
				used = fmt.Sprintf("%d/%d", r.ClustersUsed, mf.Clusters)
			}
			secs := "-"
			switch k.method {
			case mf.Loss:
				secs = fmt.Sprintf("%.1f", mf.Seconds["fit"])
			case "kmeans":
				secs = fmt.Sprintf("%.1f", mf.Seconds["kmeans"])
			case "knn-classifier":
				secs = fmt.Sprintf("%.1f", mf.Seconds["knn_classifier"])
			}
			row = append(row, used, secs)
			rows = append(rows, row)
		}
	}
	return table{
		Title:  fmt.Sprintf("%s/%s: %s (best head chosen without labels) vs baselines, %d clusters, %d classes (metrics in %%)", mf.Experiment, mf.Trial, mf.Loss, mf.Clusters, mf.Classes),
		Header: header, Rows: rows,
		Note: overNote(over) + "knn-classifier is supervised (train labels), an upper reference; its row shows ACC only.",
	}
}

// headsTable: one row per head of the trained method.
func headsTable(mf rundir.Metrics) table {
	splits := resultSplits(mf.Results)
	header := []string{"head", "train loss"}
	for _, s := range splits {
		header = append(header, s+" ACC", s+" NMI")
	}
	header = append(header, "clusters used")
	var rows [][]string
	for h := range mf.HeadLosses {
		mark := strconv.Itoa(h)
		if h == mf.BestHead {
			mark += " *"
		}
		row := []string{mark, fmt.Sprintf("%.4f", mf.HeadLosses[h])}
		used := "-"
		for _, s := range splits {
			found := false
			for _, r := range mf.Results {
				if r.Method == mf.Loss && r.Split == s && r.Selection == "head-"+strconv.Itoa(h) {
					row = append(row, pct(r.ACC), pct(r.NMI))
					used = strconv.Itoa(r.ClustersUsed)
					found = true
					break
				}
			}
			if !found {
				row = append(row, "-", "-")
			}
		}
		rows = append(rows, append(row, used))
	}
	return table{
		Title:  fmt.Sprintf("%s/%s: every head of %s (* = lowest training loss, the label-free choice)", mf.Experiment, mf.Trial, mf.Loss),
		Header: header, Rows: rows,
	}
}

func resultSplits(rs []rundir.Result) []string {
	seen := map[string]bool{}
	var names []string
	for _, r := range rs {
		if !seen[r.Split] {
			seen[r.Split] = true
			names = append(names, r.Split)
		}
	}
	m := map[string]splitData{}
	for _, n := range names {
		m[n] = splitData{}
	}
	return sortedSplits(m)
}

// writeTables renders the run's tables into the run directory (text and
// markdown) and prints the text version.
func writeTables(runDir string, mf rundir.Metrics, stdout io.Writer) error {
	tables := []table{comparisonTable(mf), headsTable(mf)}
	for _, f := range []struct{ name, format string }{{"tables.txt", "text"}, {"tables.md", "markdown"}} {
		var buf bytes.Buffer
		if err := renderTables(&buf, f.format, tables); err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(runDir, f.name), buf.Bytes()); err != nil {
			return err
		}
	}
	return renderTables(stdout, "text", tables[:1])
}

func readMetrics(runDir string) (rundir.Metrics, error) {
	b, err := os.ReadFile(filepath.Join(runDir, "metrics.json"))
	if err != nil {
		return rundir.Metrics{}, fmt.Errorf("%s is not a finished run directory: %w", runDir, err)
	}
	var mf rundir.Metrics
	if err := json.Unmarshal(b, &mf); err != nil {
		return rundir.Metrics{}, fmt.Errorf("%s/metrics.json is damaged: %w", runDir, err)
	}
	return mf, nil
}

// columnAligns right-aligns columns of numbers and left-aligns text.
func columnAligns(t table) []tw.Align {
	out := make([]tw.Align, len(t.Header))
	for c := range out {
		numeric := true
		for _, r := range t.Rows {
			if c < len(r) && !looksNumeric(r[c]) {
				numeric = false
				break
			}
		}
		out[c] = tw.AlignLeft
		if numeric {
			out[c] = tw.AlignRight
		}
	}
	return out
}

func looksNumeric(s string) bool {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "*"))
	if s == "-" || s == "" {
		return true
	}
	if a, b, ok := strings.Cut(s, "/"); ok {
		return looksNumeric(a) && looksNumeric(b)
	}
	if a, b, ok := strings.Cut(s, " ± "); ok {
		return looksNumeric(a) && looksNumeric(b)
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}

func overNote(over bool) string {
	if !over {
		return ""
	}
	return "More clusters than classes: ACC is the one-to-one matching (surplus clusters count as errors); majority ACC maps each cluster to its most frequent class, as the TEMI authors report over-clustering.\n"
}
