// Package report renders a finished clusterlab run directory into plots
// (PNG), report.md and a self-contained report.html, and provides the
// gallery helpers the runner uses to show each cluster's most and least
// confident images and its mistakes.
//
// Plots are drawn with gonum.org/v1/plot on raster canvases (vg/vgimg) with
// its embedded Liberation fonts; the gallery is composed with image/draw
// and golang.org/x/image, its captions set in the same font. Nothing is
// downloaded or read from the system at run time.
package report

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot/vg/vgimg"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// Files lists what Build wrote.
type Files struct {
	Dir      string
	Plots    []string // plot file names relative to Dir, in report order
	Markdown string   // path of report.md
	HTML     string   // path of report.html
	// Notes says which optional inputs were missing or unusable and what
	// was left out for it; they are also in the report.
	Notes []string
}

// runMetrics is the part of metrics.json the report uses.
type runMetrics struct {
	Experiment string `json:"experiment"`
	Trial      string `json:"trial"`
	Loss       string `json:"loss"`
	Backend    string `json:"backend"`
	BestHead   *int   `json:"best_head"`
	Classes    int    `json:"classes"`
	Clusters   int    `json:"clusters"`
}

// readOptional returns a file's content, nil without error when it does
// not exist.
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: reading %s: %w", path, err)
	}
	return b, nil
}

// splitsOf returns the splits that have an assignment file, train and test
// first.
func splitsOf(dir string) ([]string, error) {
	splits, err := rundir.AssignedSplits(dir)
	if err != nil {
		return nil, fmt.Errorf("report: listing %s: %w", dir, err)
	}
	return splits, nil
}

// report accumulates the markdown document while plots are written.
type report struct {
	dir   string
	files Files
	md    strings.Builder
}

func (r *report) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if slices.Contains(r.files.Notes, n) {
		return
	}
	r.files.Notes = append(r.files.Notes, n)
}

// plot writes the figure c as name and links it in the markdown.
func (r *report) plot(name, alt string, c *vgimg.Canvas) error {
	if err := writeFigure(filepath.Join(r.dir, name), c); err != nil {
		return err
	}
	r.files.Plots = append(r.files.Plots, name)
	fmt.Fprintf(&r.md, "![%s](%s)\n\n", alt, name)
	return nil
}

// Build renders the plots, report.md and report.html of the finished run
// in runDir, each written through a temporary file and a rename.
// metrics.json is required; every other input is optional and, when
// missing, is left out with a note in the report. A file that exists but
// cannot be parsed, or whose shape disagrees with the others, is an error
// naming it.
func Build(runDir string) (Files, error) {
	r := &report{dir: runDir, files: Files{Dir: runDir}}
	mpath := filepath.Join(runDir, rundir.MetricsFile)
	mb, err := os.ReadFile(mpath)
	if err != nil {
		return r.files, fmt.Errorf("report: %s is not a finished run directory (no readable %s): %w", runDir, rundir.MetricsFile, err)
	}
	var met runMetrics
	if err := json.Unmarshal(mb, &met); err != nil {
		return r.files, fmt.Errorf("report: %s is not valid JSON: %w", mpath, err)
	}
	best := -1
	if met.BestHead != nil {
		best = *met.BestHead
	} else {
		r.note("%s has no best_head: no head is highlighted and cluster plots use head 0.", rundir.MetricsFile)
	}
	name := strings.Trim(met.Experiment+"/"+met.Trial, "/")
	if name == "" {
		name = filepath.Base(filepath.Clean(runDir))
	}

	config, err := readOptional(filepath.Join(runDir, rundir.ConfigFile))
	if err != nil {
		return r.files, err
	}
	tables, err := readOptional(filepath.Join(runDir, rundir.TablesMarkdown))
	if err != nil {
		return r.files, err
	}
	ds, err := rundir.ReadDataset(runDir)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case errors.As(err, &pe):
		return r.files, fmt.Errorf("report: reading %s: %w", filepath.Join(runDir, rundir.DatasetFile), err)
	case err != nil:
		return r.files, fmt.Errorf("report: %w", err)
	}

	fmt.Fprintf(&r.md, "# Run report: %s\n\n", mdEscape(name))
	var facts []string
	for _, f := range [][2]string{{"loss", met.Loss}, {"dataset", ds.Name}, {"backend", met.Backend}} {
		if f[1] != "" {
			facts = append(facts, fmt.Sprintf("%s **%s**", f[0], mdEscape(f[1])))
		}
	}
	if met.Clusters > 0 {
		facts = append(facts, fmt.Sprintf("**%d** clusters", met.Clusters))
	}
	if met.Classes > 0 {
		facts = append(facts, fmt.Sprintf("**%d** classes", met.Classes))
	}
	if best >= 0 {
		facts = append(facts, fmt.Sprintf("selected head **%d** (lowest training loss)", best))
	}
	if len(facts) > 0 {
		r.md.WriteString(strings.Join(facts, " · ") + "\n\n")
	}

	r.md.WriteString("## Results\n\n")
	if tables != nil {
		r.md.WriteString(strings.TrimSpace(string(tables)) + "\n\n")
	} else {
		r.note("No %s: the results tables are missing.", rundir.TablesMarkdown)
		r.md.WriteString("_No results tables (tables.md missing)._\n\n")
	}

	r.md.WriteString("## Training\n\n")
	hpath := filepath.Join(runDir, rundir.HistoryFile)
	hist, err := rundir.ReadHistory(hpath)
	noHist := "" // why there is no loss plot
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hist, noHist = nil, "No "+rundir.HistoryFile
	case err != nil:
		return r.files, err
	case len(hist) == 0:
		noHist = rundir.HistoryFile + " is empty"
	}
	spath := filepath.Join(runDir, rundir.ScheduleFile)
	sched, serr := rundir.ReadSchedule(spath)
	if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
		return r.files, serr
	}
	if noHist != "" {
		if serr != nil {
			r.note("%s and no %s: loss and schedule plots skipped.", noHist, rundir.ScheduleFile)
		} else {
			r.note("%s: the loss plot is skipped.", noHist)
		}
	} else {
		img, err := plotLoss(hist, best, "Training loss per head", name)
		if err != nil {
			return r.files, fmt.Errorf("report: plotting %s: %w", hpath, err)
		}
		if err := r.plot(rundir.LossPlot, "training loss per head", img); err != nil {
			return r.files, err
		}
		if len(hist[0].HeadLosses) > 1 {
			r.md.WriteString("Top: each head's training loss. Bottom: each head's loss minus the selected head's (the red zero line), " +
				"on a scale fitted to the second half of training, so heads whose losses differ by hundredths are apart.\n\n")
		}
	}
	switch {
	case serr == nil:
		img, err := plotSchedule(seriesFromSchedule(sched), "Schedules", name+" · every step")
		if err != nil {
			return r.files, fmt.Errorf("report: plotting %s: %w", spath, err)
		}
		if err := r.plot(rundir.SchedulePlot, "learning rate, teacher momentum and the other schedules per step", img); err != nil {
			return r.files, err
		}
	case noHist == "" && hasSchedules(hist):
		r.note("No %s (a run of an older trainer): the schedules are plotted per epoch from %s, the value of each epoch's last step, so a warm-up within an epoch does not show.", rundir.ScheduleFile, rundir.HistoryFile)
		img, err := plotSchedule(seriesFromHistory(hist), "Schedules", name+" · last step of each epoch")
		if err != nil {
			return r.files, fmt.Errorf("report: plotting %s: %w", hpath, err)
		}
		if err := r.plot(rundir.SchedulePlot, "learning rate and teacher momentum per epoch", img); err != nil {
			return r.files, err
		}
	}

	splits, err := splitsOf(runDir)
	if err != nil {
		return r.files, err
	}
	if len(splits) == 0 {
		r.note("No assign_<split>.npy: cluster plots skipped.")
	}
	for _, split := range splits {
		if err := r.split(split, best, met.Clusters, ds.Classes, name); err != nil {
			return r.files, err
		}
	}

	r.md.WriteString("## Configuration\n\n")
	if config != nil {
		fence := codeFence(string(config))
		fmt.Fprintf(&r.md, "%syaml\n%s\n%s\n\n", fence, strings.TrimRight(string(config), "\n"), fence)
	} else {
		r.note("No %s: the configuration is not shown.", rundir.ConfigFile)
		r.md.WriteString("_No configuration (config.yaml missing)._\n\n")
	}
	if len(r.files.Notes) > 0 {
		r.md.WriteString("## Notes\n\n")
		for _, n := range r.files.Notes {
			r.md.WriteString("- " + mdEscape(n) + "\n")
		}
		r.md.WriteString("\n")
	}

	md := r.md.String()
	r.files.Markdown = filepath.Join(runDir, rundir.MarkdownFile)
	if err := writeFile(r.files.Markdown, []byte(md)); err != nil {
		return r.files, err
	}
	page, err := htmlPage("Run report: "+name, md, runDir)
	if err != nil {
		return r.files, err
	}
	r.files.HTML = filepath.Join(runDir, rundir.HTMLFile)
	if err := writeFile(r.files.HTML, []byte(page)); err != nil {
		return r.files, err
	}
	return r.files, nil
}

// split renders one split's cluster plots and links its gallery.
func (r *report) split(split string, best, k int, classes []string, name string) error {
	apath := filepath.Join(r.dir, rundir.AssignFile(split))
	data, shape, err := npy.ReadInt32(apath)
	if err != nil {
		return fmt.Errorf("report: reading %s: %w", apath, err)
	}
	heads, n := 1, len(data)
	switch len(shape) {
	case 1:
	case 2:
		heads, n = shape[0], shape[1]
	default:
		return fmt.Errorf("report: %s has shape %v, want [heads, samples]", apath, shape)
	}
	head := max(best, 0)
	if head >= heads {
		return fmt.Errorf("report: %s has %d heads but metrics.json selects head %d", apath, heads, best)
	}
	assign := data[head*n : (head+1)*n]
	k, err = checkAssign(assign, k)
	if err != nil {
		return fmt.Errorf("report: %s: %w (metrics.json says %d clusters)", apath, err, k)
	}
	fmt.Fprintf(&r.md, "## Clusters: %s split\n\n", mdEscape(split))
	sizes := make([]int, k)
	for _, a := range assign {
		sizes[a]++
	}
	empty := 0
	for _, s := range sizes {
		if s == 0 {
			empty++
		}
	}
	img, err := plotClusterSizes(sizes, fmt.Sprintf("Cluster sizes: %s split, head %d", split, head),
		fmt.Sprintf("%s · %d samples · %d clusters, %d empty", name, n, k, empty))
	if err != nil {
		return fmt.Errorf("report: plotting %s: %w", apath, err)
	}
	if err := r.plot(rundir.SizesPlot(split), "cluster sizes, "+split, img); err != nil {
		return err
	}

	lpath := filepath.Join(r.dir, rundir.LabelsFile(split))
	labels, lshape, err := npy.ReadInt32(lpath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.note("No %s: the %s confusion matrix is skipped.", rundir.LabelsFile(split), split)
	case err != nil:
		return fmt.Errorf("report: reading %s: %w", lpath, err)
	case len(lshape) != 1 || lshape[0] != n:
		return fmt.Errorf("report: %s has shape %v but %s has %d samples", lpath, lshape, rundir.AssignFile(split), n)
	default:
		if !slices.ContainsFunc(labels, func(l int32) bool { return l >= 0 }) {
			r.note("No labels on the %s split: its confusion matrix is skipped.", split)
			break
		}
		cm, err := newConfusion(assign, labels, k, len(classes))
		if err != nil {
			r.note("%s: %v; the %s confusion matrix is skipped.", rundir.LabelsFile(split), err, split)
			break
		}
		if len(classes) == 0 {
			r.note("No %s: classes are shown by index.", rundir.DatasetFile)
		}
		title := fmt.Sprintf("Clusters vs classes: %s split, head %d", split, head)
		img, err := plotConfusion(cm, classes, title, fmt.Sprintf("%s · %d labelled samples", name, n-cm.unlabelled))
		if err != nil {
			return fmt.Errorf("report: plotting %s: %w", lpath, err)
		}
		if err := r.plot(rundir.ConfusionPlot(split), "confusion matrix, "+split, img); err != nil {
			return err
		}
		caption := "Rows: clusters in Hungarian order; columns: classes; colour: share of the cluster's labelled samples; outlined: the matched cells that accuracy counts."
		if cm.unlabelled > 0 {
			caption += fmt.Sprintf(" %d samples without a label are left out.", cm.unlabelled)
		}
		r.md.WriteString(caption + "\n\n")
	}

	gallery := rundir.GalleryFile(split)
	if _, err := os.Stat(filepath.Join(r.dir, gallery)); err == nil {
		fmt.Fprintf(&r.md, "Samples of each cluster, captioned with the class the cluster is matched to and its purity: "+
			"its most and least confident ones (the selected head's probability of the cluster under each image) and, where labels are known, "+
			"its misassigned ones (true class under the image), the most confident mistakes first:\n\n![gallery, %s](%s)\n\n", mdEscape(split), gallery)
	} else {
		r.note("No %s: the %s gallery is not shown.", gallery, split)
	}
	return nil
}

// codeFence returns a backtick fence longer than any backtick run in s.
func codeFence(s string) string {
	longest, run := 0, 0
	for _, c := range s {
		if c == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

func writeFile(path string, b []byte) error {
	if err := npy.WriteAtomic(path, func(w io.Writer) error { _, err := w.Write(b); return err }); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}

const pageCSS = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:1px solid #ddd;padding-bottom:.3em}h2{font-size:1.25em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .6em}th{background:#f3f3f3}
tbody tr:nth-child(even){background:#fafafa}img{max-width:100%;height:auto;display:block;margin:1em 0;border:1px solid #eee}
pre{background:#f6f8fa;padding:1em;overflow:auto;font-size:.85em}code{font-family:ui-monospace,Menlo,Consolas,monospace}`

// htmlPage converts the report's markdown to a page that embeds every
// image as a data: URI, so the one file can be mailed or archived.
func htmlPage(title, md, dir string) (string, error) {
	body, err := markdownToHTML(md, func(src string) (string, error) {
		if filepath.IsAbs(src) || strings.Contains(src, "..") || strings.ContainsAny(src, `/\:`) {
			return "", fmt.Errorf("report: image %q is not a file of the run directory", src)
		}
		b, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			return "", fmt.Errorf("report: embedding image: %w", err)
		}
		return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b), nil
	})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>\n%s\n</style>\n</head>\n<body>\n", html.EscapeString(title), pageCSS)
	b.WriteString(body)
	b.WriteString("</body>\n</html>\n")
	return b.String(), nil
}
