package report

import (
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"git.sr.ht/~sbinet/gg"
	xdraw "golang.org/x/image/draw"
	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// Plots are drawn with gonum.org/v1/plot onto raster canvases sized in
// pixels at plotDPI; px converts a pixel length to plot units (points), so
// layout is written in the pixels the reader sees.
const plotDPI = 96

func px(n float64) vg.Length { return vg.Length(n * 72 / plotDPI) }

// toPx converts plot units back to pixels.
func toPx(l vg.Length) float64 { return float64(l) * plotDPI / 72 }

// newFigure returns a white w×h pixel canvas. It is vgimg's canvas on a gg
// context we make ourselves, for one reason: gg scales images (the heat map
// and the colour bar are drawn as images, one pixel per cell) bilinearly
// by default, which would smear every cell into a gradient; nearest
// neighbour keeps cells sharp.
func newFigure(w, h int) *vgimg.Canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	ctx := gg.NewContextForRGBA(img)
	// What vgimg.New does for a context it makes itself.
	ctx.SetLineCapButt()
	ctx.InvertY()
	ctx.SetInterpolator(xdraw.NearestNeighbor)
	return vgimg.NewWith(vgimg.UseImageWithContext(img, ctx), vgimg.UseDPI(plotDPI))
}

// writeFigure encodes c as a PNG at path through a temporary file and a
// rename.
func writeFigure(path string, c *vgimg.Canvas) error {
	err := npy.WriteAtomic(path, func(w io.Writer) error {
		_, err := vgimg.PngCanvas{Canvas: c}.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	return nil
}

// safely runs a drawing function. gonum/plot panics on input it considers
// invalid (an empty palette, a degenerate range); the checks here should
// keep every such input out, and this turns one that slips through into
// an error of Build rather than a crash of the runner that called it.
func safely(what string, f func() (*vgimg.Canvas, error)) (c *vgimg.Canvas, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("report: drawing the %s plot failed: %v", what, r)
		}
	}()
	return f()
}

// Font sizes in points. Liberation Sans (embedded by gonum's font package,
// nothing is read at run time) reads better at small sizes on a screen
// than gonum's default serif.
const (
	titlePt = 14
	subPt   = 10
	labelPt = 12
	tickPt  = 10
)

// sans returns a text style of Liberation Sans at size points.
func sans(size float64, bold bool, col color.Color) text.Style {
	f := font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{Color: col, Font: f, Handler: plot.DefaultTextHandler}
}

// newPlot returns a plot with sans-serif text, dark grey axes and no
// title (titles are drawn above the panels by titled).
func newPlot() *plot.Plot {
	p := plot.New()
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(labelPt, false, nil).Font
		a.Label.TextStyle.Color = textCol
		a.Tick.Label.Font = sans(tickPt, false, nil).Font
		a.Tick.Label.Color = textCol
		a.Color, a.Tick.Color = axisCol, axisCol
	}
	p.Legend.TextStyle.Font = sans(tickPt, false, nil).Font
	p.Legend.TextStyle.Color = textCol
	return p
}

// titled draws a figure's title and, below it in smaller grey text, its
// subtitle (the run's name and counts), shrinking either to fit the
// width, and returns the canvas below them with a small margin.
func titled(c *vgimg.Canvas, title, sub string) draw.Canvas {
	dc := draw.New(c)
	width := dc.Max.X - dc.Min.X - px(16)
	y := dc.Max.Y - px(8)
	line := func(s string, size float64, bold bool, col color.Color) {
		sty := sans(size, bold, col)
		for sty.Font.Size > vg.Points(6) && sty.Width(s) > width {
			sty.Font.Size -= vg.Points(0.5)
		}
		sty.XAlign, sty.YAlign = draw.XCenter, draw.YTop
		dc.FillText(sty, vg.Point{X: dc.Center().X, Y: y}, s)
		y -= sty.Height(s) + px(4)
	}
	line(title, titlePt, true, textCol)
	if sub != "" {
		line(sub, subPt, false, axisCol)
	}
	return draw.Crop(dc, px(8), -px(16), px(8), y-dc.Max.Y-px(6))
}

// ticks returns fixed ticks at vals labelled by f.
func ticks(vals []float64, f func(float64) string) plot.ConstantTicks {
	out := make(plot.ConstantTicks, len(vals))
	for i, v := range vals {
		out[i] = plot.Tick{Value: v, Label: f(v)}
	}
	return out
}

// gridLines returns light grid lines at the axes' ticks.
func gridLines() *plotter.Grid {
	g := plotter.NewGrid()
	g.Vertical = draw.LineStyle{Color: gridCol, Width: px(1)}
	g.Horizontal = g.Vertical
	return g
}

// legendBox is a legend drawn as the last plotter, in the top-right corner
// of the data area on a white box, so curves running under it do not
// cross its text. (plot.Legend has no background, and it is laid out on a
// canvas that plotters do not see, so a box behind it would not line up.)
type legendBox struct {
	entries []string
	thumbs  [][]plot.Thumbnailer
}

func (b legendBox) Plot(c draw.Canvas, p *plot.Plot) {
	if len(b.entries) == 0 {
		return
	}
	sty := sans(tickPt, false, textCol)
	sty.XAlign, sty.YAlign = draw.XRight, draw.YCenter
	var w vg.Length
	for _, e := range b.entries {
		w = max(w, sty.Width(e))
	}
	lineH := sty.FontExtents().Height + px(3)
	thumbW, gap, m, inset := px(30), px(8), px(8), px(10)
	x1, y1 := c.Max.X-inset, c.Max.Y-inset
	x0 := x1 - 2*m - thumbW - gap - w
	y0 := y1 - 2*m - vg.Length(len(b.entries))*lineH
	box := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
	c.FillPolygon(color.NRGBA{255, 255, 255, 235}, box)
	c.StrokeLines(draw.LineStyle{Color: gridCol, Width: px(1)}, append(box, box[0]))
	for i, e := range b.entries {
		mid := y1 - m - (vg.Length(i)+0.5)*lineH
		icon := draw.Canvas{Canvas: c.Canvas, Rectangle: vg.Rectangle{
			Min: vg.Point{X: x1 - m - thumbW, Y: mid - lineH/2},
			Max: vg.Point{X: x1 - m, Y: mid + lineH/2},
		}}
		for _, t := range b.thumbs[i] {
			t.Thumbnail(&icon)
		}
		c.FillText(sty, vg.Point{X: x1 - m - thumbW - gap, Y: mid}, e)
	}
}

// finiteRuns splits a series into runs of consecutive finite points, so a
// diverged (NaN) epoch breaks the line instead of poisoning it.
func finiteRuns(xs, ys []float64) (runs []plotter.XYs) {
	var cur plotter.XYs
	for i := range ys {
		if math.IsNaN(ys[i]) || math.IsInf(ys[i], 0) {
			if len(cur) > 0 {
				runs = append(runs, cur)
			}
			cur = nil
			continue
		}
		cur = append(cur, plotter.XY{X: xs[i], Y: ys[i]})
	}
	if len(cur) > 0 {
		runs = append(runs, cur)
	}
	return runs
}

// addSeries draws the finite runs of ys as lines of the given style and
// returns one of them for the legend (nil when there is nothing finite).
func addSeries(p *plot.Plot, xs, ys []float64, width float64, col color.Color) (*plotter.Line, error) {
	var first *plotter.Line
	for _, run := range finiteRuns(xs, ys) {
		l, err := plotter.NewLine(run)
		if err != nil {
			return nil, err
		}
		l.LineStyle = draw.LineStyle{Color: col, Width: px(width)}
		p.Add(l)
		if first == nil {
			first = l
		}
	}
	return first, nil
}

// epochAxis sets p's x axis to the epochs of hist with integer ticks and
// returns the epochs.
func epochAxis(p *plot.Plot, hist []rundir.EpochRecord, labelled bool) []float64 {
	var xs []float64
	for _, r := range hist {
		xs = append(xs, float64(r.Epoch))
	}
	lo, hi, _ := dataRange(xs)
	xAxis(p, lo, hi, labelled)
	return xs
}

// xAxis sets p's x axis to [lo, hi] (in epochs) with round ticks, integer
// ones where the range allows.
func xAxis(p *plot.Plot, lo, hi float64, labelled bool) {
	if hi-lo < 1 {
		lo, hi = lo-0.5, hi+0.5
	}
	all, step := niceTicks(lo, hi, 8, 1)
	if step != math.Trunc(step) {
		// 2.5: epochs are whole numbers, so their ticks are too.
		step, all = math.Floor(step), nil
		for v := math.Floor(lo/step) * step; v <= hi+1e-9; v += step {
			all = append(all, v)
		}
	}
	var in []float64
	for _, t := range all {
		if t >= lo-1e-9 && t <= hi+1e-9 {
			in = append(in, t)
		}
	}
	f := tickFormat(step)
	if !labelled {
		// A blank label keeps the marks major-sized, and the panels of
		// a stack the same height, without repeating the numbers.
		f = func(float64) string { return " " }
	}
	p.X.Min, p.X.Max = lo, hi
	p.X.Tick.Marker = ticks(in, f)
}

// yAxis sets p's y axis to round ticks enclosing [lo, hi] padded by pad
// (a fraction of the range). Non-negative data (a learning rate decaying
// to 0) is not padded below zero.
func yAxis(p *plot.Plot, lo, hi, pad float64, n int) {
	d := (hi - lo) * pad
	bottom := lo - d
	if lo >= 0 && bottom < 0 {
		bottom = 0
	}
	yt, step := niceTicks(bottom, hi+d, n, 0)
	p.Y.Min, p.Y.Max = yt[0], yt[len(yt)-1]
	p.Y.Tick.Marker = ticks(yt, tickFormat(step, yt...))
}

// headPalette colours the heads in the relative loss panel: matplotlib's
// tab10 without its red, which marks the selected head.
var headPalette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {140, 86, 75, 255},
	{227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}, {23, 190, 207, 255},
}

// headColour is head h's colour in the relative loss panel: red for the
// reference head ref, the palette in head order for the others.
func headColour(h, ref int) color.RGBA {
	if h == ref {
		return bestCol
	}
	i := h
	if ref >= 0 && h > ref {
		i--
	}
	return headPalette[i%len(headPalette)]
}

// lossFigureW and lossPanelH size the loss figure: the absolute panel on
// top, the relative one below.
const (
	lossFigureW = 860
	lossPanelH  = 330
)

// endLabel names one curve at its end, right of the data area.
type endLabel struct {
	y    float64 // data units: where the curve ends
	text string
	col  color.RGBA
	bold bool
}

// endLabels draws the labels of a panel's curves in the margin right of
// its data area (room the caller keeps free): each label sits as close to
// its curve's end as the others allow, joined to it by a short leader in
// the curve's colour. When there are more labels than fit, every m-th by
// height is drawn, and always the bold one (the reference).
type endLabels struct{ items []endLabel }

// endLabelIndent is the room of the leader before a label's text.
const endLabelIndent = 26

func (e endLabels) Plot(c draw.Canvas, p *plot.Plot) {
	if len(e.items) == 0 {
		return
	}
	_, trY := p.Transforms(&c)
	sty := sans(tickPt, false, textCol)
	gap := sty.FontExtents().Height + px(2)
	lo, hi := c.Min.Y+gap/2, c.Max.Y-gap/2
	type placed struct {
		endLabel
		at, pos vg.Length
	}
	items := make([]placed, len(e.items))
	for i, it := range e.items {
		at := min(max(trY(it.y), c.Min.Y), c.Max.Y)
		items[i] = placed{endLabel: it, at: at, pos: min(max(at, lo), hi)}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
	if room := int((hi-lo)/gap) + 1; len(items) > room && room > 0 {
		m := (len(items) + room - 1) / room
		var kept []placed
		for i, it := range items {
			if i%m == 0 || it.bold {
				kept = append(kept, it)
			}
		}
		for len(kept) > room { // the bold one pushed it over: drop a plain one
			for i := len(kept) - 1; i >= 0; i-- {
				if !kept[i].bold {
					kept = append(kept[:i], kept[i+1:]...)
					break
				}
			}
		}
		items = kept
	}
	for i := 1; i < len(items); i++ {
		items[i].pos = max(items[i].pos, items[i-1].pos+gap)
	}
	if n := len(items); n > 0 && items[n-1].pos > hi {
		items[n-1].pos = hi
		for i := n - 2; i >= 0; i-- {
			items[i].pos = min(items[i].pos, items[i+1].pos-gap)
		}
	}
	x0 := c.Max.X
	for _, it := range items {
		c.StrokeLines(draw.LineStyle{Color: it.col, Width: px(3)}, []vg.Point{
			{X: x0 + px(3), Y: it.at}, {X: x0 + px(9), Y: it.at},
			{X: x0 + px(17), Y: it.pos}, {X: x0 + px(endLabelIndent-4), Y: it.pos},
		})
		s := sans(tickPt, it.bold, textCol)
		s.XAlign, s.YAlign = draw.XLeft, draw.YCenter
		c.FillText(s, vg.Point{X: x0 + px(endLabelIndent), Y: it.pos}, it.text)
	}
}

// panelNote writes a line of grey text in the top-left corner of a
// panel's data area on a white box.
type panelNote struct{ text string }

func (n panelNote) Plot(c draw.Canvas, _ *plot.Plot) {
	if n.text == "" {
		return
	}
	sty := sans(tickPt, false, axisCol)
	sty.XAlign, sty.YAlign = draw.XLeft, draw.YTop
	m := px(6)
	w, h := sty.Width(n.text), sty.FontExtents().Height
	x0, y1 := c.Min.X+px(8), c.Max.Y-px(8)
	y0 := y1 - h - m
	box := []vg.Point{{X: x0, Y: y0}, {X: x0 + w + 2*m, Y: y0}, {X: x0 + w + 2*m, Y: y1}, {X: x0, Y: y1}}
	c.FillPolygon(color.NRGBA{255, 255, 255, 235}, box)
	c.FillText(sty, vg.Point{X: x0 + m, Y: y1 - m/2}, n.text)
}

// plotLoss draws the training loss of every head per epoch in two panels
// sharing the epoch axis. The top one is the absolute loss, head best
// thick and red over the others in thin grey: its scale is set by the
// first epochs, so heads whose final losses differ by a few hundredths
// are one line there. The bottom one is each head's loss minus head
// best's (the zero line, red), on a y range fitted to the second half of
// training, each head in its own colour and labelled at the end of its
// line with its number and final loss. Without a selection (best < 0) the
// head of the lowest final loss is the reference; a single head gets the
// top panel only.
func plotLoss(hist []rundir.EpochRecord, best int, title, sub string) (*vgimg.Canvas, error) {
	if len(hist) == 0 {
		return nil, fmt.Errorf("report: no epochs to plot")
	}
	heads := len(hist[0].HeadLosses)
	for _, r := range hist {
		if len(r.HeadLosses) != heads {
			return nil, fmt.Errorf("report: epoch %d has %d head losses, epoch %d has %d", r.Epoch, len(r.HeadLosses), hist[0].Epoch, heads)
		}
	}
	if heads == 0 {
		return nil, fmt.Errorf("report: history has no head losses")
	}
	if best < 0 || best >= heads {
		// An unknown selection still shows the heads, none highlighted.
		best = -1
	}
	series := make([][]float64, heads)
	for h := range series {
		for _, r := range hist {
			series[h] = append(series[h], r.HeadLosses[h])
		}
	}
	ylo, yhi, ok := dataRange(series...)
	if !ok {
		return nil, fmt.Errorf("report: every head loss is NaN or infinite")
	}
	// The reference of the relative panel.
	ref, refWhy := best, "selected"
	if ref < 0 {
		refWhy = "lowest final loss"
		low := math.Inf(1)
		for h := range series {
			if v, ok := lastFiniteOf(series[h]); ok && (ref < 0 || v < low) {
				ref, low = h, v
			}
		}
	}
	relative := heads > 1 && ref >= 0
	final := func(h int) string { return strconv.FormatFloat(series[h][len(series[h])-1], 'f', 4, 64) }
	var labels []endLabel
	var labelW vg.Length
	if relative {
		for h := range series {
			text := fmt.Sprintf("head %d: %s", h, final(h))
			if h == ref {
				text = fmt.Sprintf("head %d (%s): %s", h, refWhy, final(h))
			}
			labels = append(labels, endLabel{text: text, col: headColour(h, ref), bold: h == ref})
			labelW = max(labelW, sans(tickPt, h == ref, nil).Width(text))
		}
		labelW += px(endLabelIndent + 8)
	}
	return safely("loss", func() (*vgimg.Canvas, error) {
		p := newPlot()
		p.Y.Label.Text = "training loss"
		xs := epochAxis(p, hist, !relative)
		if !relative {
			p.X.Label.Text = stepName(hist)
		}
		yAxis(p, ylo, yhi, 0.04, 6)
		p.Add(gridLines())
		var other, sel *plotter.Line
		for h := 0; h < heads; h++ {
			if h == best {
				continue
			}
			l, err := addSeries(p, xs, series[h], 1.5, otherCol)
			if err != nil {
				return nil, err
			}
			if other == nil {
				other = l
			}
		}
		var entries []string
		var thumbs [][]plot.Thumbnailer
		if best >= 0 {
			var err error
			if sel, err = addSeries(p, xs, series[best], 3, bestCol); err != nil {
				return nil, err
			}
			th := []plot.Thumbnailer{}
			if sel != nil {
				th = append(th, sel)
			}
			if len(hist) <= 60 { // markers help read few epochs
				var pts plotter.XYs
				for _, run := range finiteRuns(xs, series[best]) {
					pts = append(pts, run...)
				}
				if len(pts) > 0 {
					s, err := plotter.NewScatter(pts)
					if err != nil {
						return nil, err
					}
					s.GlyphStyle = draw.GlyphStyle{Color: bestCol, Radius: px(3.5), Shape: draw.CircleGlyph{}}
					p.Add(s)
					th = append(th, s)
				}
			}
			entries = append(entries, fmt.Sprintf("head %d (selected), final %s", best, final(best)))
			thumbs = append(thumbs, th)
		}
		if others := heads - len(entries); others > 0 && other != nil {
			name := "other heads"
			if best < 0 {
				name = "heads" // none is selected
			}
			entries = append(entries, fmt.Sprintf("%s (%d)", name, others))
			thumbs = append(thumbs, []plot.Thumbnailer{other})
		}
		p.Add(legendBox{entries, thumbs})
		if !relative {
			c := newFigure(lossFigureW, 500)
			p.Draw(titled(c, title, sub))
			return c, nil
		}

		q, err := relativeLossPanel(hist, series, ref, labels)
		if err != nil {
			return nil, err
		}
		c := newFigure(lossFigureW, 90+2*lossPanelH)
		body := titled(c, title, sub)
		body = draw.Crop(body, 0, -labelW, 0, 0)
		rows := [][]*plot.Plot{{p}, {q}}
		tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: px(18), PadBottom: px(4)}
		for i, cs := range plot.Align(rows, tiles, body) {
			rows[i][0].Draw(cs[0])
		}
		return c, nil
	})
}

// stepName names what a history record is: an epoch of the shared
// trainer, or an outer iteration of a loss with its own loop (TURTLE
// records its entropy term each iteration).
func stepName(hist []rundir.EpochRecord) string {
	for _, r := range hist {
		if r.Entropy != 0 || r.PredError != 0 {
			return "outer iteration"
		}
	}
	return "epoch"
}

// relativeLossPanel is the bottom panel of the loss plot: every head's
// loss minus head ref's per epoch. Its y range fits the second half of
// training (the first epochs, where heads differ most, would flatten the
// end); earlier values beyond it are cut, with a note.
func relativeLossPanel(hist []rundir.EpochRecord, series [][]float64, ref int, labels []endLabel) (*plot.Plot, error) {
	q := newPlot()
	q.X.Label.Text = stepName(hist)
	q.Y.Label.Text = fmt.Sprintf("loss − loss of head %d", ref)
	xs := epochAxis(q, hist, true)
	diff := make([][]float64, len(series))
	for h := range series {
		diff[h] = make([]float64, len(xs))
		for i := range xs {
			diff[h][i] = series[h][i] - series[ref][i] // NaN when either is
		}
	}
	from := len(xs) / 2
	late := make([][]float64, len(diff))
	for h := range diff {
		late[h] = diff[h][from:]
	}
	lo, hi, ok := dataRange(late...)
	if !ok {
		lo, hi, ok = dataRange(diff...)
	}
	if !ok {
		lo, hi = -1, 1
	}
	lo, hi = math.Min(lo, 0), math.Max(hi, 0)
	q.Add(gridLines())
	for h := range series {
		if h == ref {
			continue
		}
		if _, err := addSeries(q, xs, diff[h], 2, headColour(h, ref)); err != nil {
			return nil, err
		}
	}
	if _, err := addSeries(q, xs, diff[ref], 3, bestCol); err != nil {
		return nil, err
	}
	for h := range labels {
		if v, ok := lastFiniteOf(diff[h]); ok {
			labels[h].y = v
		} else {
			labels[h].y = math.NaN()
		}
	}
	var shown []endLabel
	for _, l := range labels {
		if !math.IsNaN(l.y) {
			shown = append(shown, l)
		}
	}
	q.Add(endLabels{shown})
	// The range is set after the curves were added (Add widens it to
	// their data), padded on both sides so the zero line is never on the
	// frame.
	d := math.Max(hi-lo, 1e-6) * 0.08
	yt, step := niceTicks(lo-d, hi+d, 5, 0)
	q.Y.Min, q.Y.Max = yt[0], yt[len(yt)-1]
	q.Y.Tick.Marker = ticks(yt, tickFormat(step, yt...))
	cut := false
	for h := range diff {
		for _, v := range diff[h][:from] {
			if v < q.Y.Min || v > q.Y.Max {
				cut = true
			}
		}
	}
	if cut {
		q.Add(panelNote{fmt.Sprintf("y range fits epochs %d–%d; earlier values beyond it are cut", hist[from].Epoch, hist[len(hist)-1].Epoch)})
	}
	return q, nil
}

// lastFiniteOf is the last finite value of s.
func lastFiniteOf(s []float64) (float64, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if !math.IsNaN(s[i]) && !math.IsInf(s[i], 0) {
			return s[i], true
		}
	}
	return 0, false
}

// schedulePanel is one curve of the schedule plot.
type schedulePanel struct {
	name string
	col  color.RGBA
	ys   []float64
}

// plotSchedule draws the learning rate and the teacher momentum as
// stacked panels sharing the epoch axis (their scales differ by orders of
// magnitude, so one axis would flatten one of them); the weight decay and
// the teacher temperature get a panel each when they are scheduled (not
// constant). s holds every step (schedule.csv) or, for runs that did not
// write it, every epoch's last step.
func plotSchedule(s scheduleSeries, title, sub string) (*vgimg.Canvas, error) {
	if len(s.xs) == 0 {
		return nil, fmt.Errorf("report: no schedule to plot")
	}
	varies := func(ys []float64) bool {
		lo, hi, ok := dataRange(ys)
		return ok && hi > lo
	}
	panels := []schedulePanel{{"learning rate", blueCol, s.lr}}
	if varies(s.wd) {
		panels = append(panels, schedulePanel{"weight decay", purpleCol, s.wd})
	}
	panels = append(panels, schedulePanel{"teacher momentum", orangeCol, s.mom})
	if varies(s.temp) {
		panels = append(panels, schedulePanel{"teacher temperature", greenCol, s.temp})
	}
	return safely("schedule", func() (*vgimg.Canvas, error) {
		rows := make([][]*plot.Plot, len(panels))
		for i, pn := range panels {
			p := newPlot()
			last := i == len(panels)-1
			xAxis(p, s.xlo, s.xhi, last)
			if last {
				p.X.Label.Text = s.xLabel
			}
			lo, hi, ok := dataRange(pn.ys)
			if !ok {
				lo, hi = 0, 1
			}
			p.Y.Label.Text = pn.name
			p.Y.Label.TextStyle.Color = pn.col
			p.Add(gridLines())
			xs, ys := decimate(s.xs, pn.ys, 1500)
			if _, err := addSeries(p, xs, ys, 2.4, pn.col); err != nil {
				return nil, err
			}
			yAxis(p, lo, hi, 0.05, 4)
			xAxis(p, s.xlo, s.xhi, last)
			rows[i] = []*plot.Plot{p}
		}
		c := newFigure(820, 80+len(panels)*205)
		body := titled(c, title, sub)
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: px(16), PadBottom: px(4)}
		for i, cs := range plot.Align(rows, tiles, body) {
			rows[i][0].Draw(cs[0])
		}
		return c, nil
	})
}

// plotClusterSizes draws the cluster sizes sorted descending as bars with
// a dashed line at the uniform size n/k.
func plotClusterSizes(sizes []int, title, sub string) (*vgimg.Canvas, error) {
	k := len(sizes)
	if k == 0 {
		return nil, fmt.Errorf("report: no clusters to plot")
	}
	type bar struct{ id, n int }
	bars := make([]bar, k)
	n := 0
	for i, s := range sizes {
		bars[i] = bar{i, s}
		n += s
	}
	sort.SliceStable(bars, func(i, j int) bool { return bars[i].n > bars[j].n })
	uniform := float64(n) / float64(k)
	return safely("cluster sizes", func() (*vgimg.Canvas, error) {
		p := newPlot()
		p.Y.Label.Text = "samples"
		// Headroom above the tallest bar keeps the legend off the bars
		// (with balanced clusters every bar is as tall as the first).
		yt, ystep := niceTicks(0, math.Max(float64(bars[0].n), uniform)*1.25, 6, 1)
		p.Y.Min, p.Y.Max = 0, yt[len(yt)-1]
		p.Y.Tick.Marker = ticks(yt, tickFormat(ystep, yt...))
		p.X.Min, p.X.Max = -0.5, float64(k)-0.5
		p.X.Padding, p.Y.Padding = 0, 0
		if k <= 40 {
			// Few bars: each is labelled with its cluster id.
			var ts plot.ConstantTicks
			for i, b := range bars {
				ts = append(ts, plot.Tick{Value: float64(i), Label: strconv.Itoa(b.id)})
			}
			p.X.Tick.Marker = ts
			if k > 20 {
				p.X.Tick.Label.Font.Size = vg.Points(8)
			}
			p.X.Label.Text = "cluster id, sorted by size"
		} else {
			rt, step := niceTicks(0, float64(k), 8, 1)
			var in []float64
			for _, t := range rt {
				if t <= float64(k-1) {
					in = append(in, t)
				}
			}
			p.X.Tick.Marker = ticks(in, tickFormat(step))
			p.X.Label.Text = "rank of cluster by size (0 = largest)"
		}
		grid := gridLines()
		grid.Vertical.Color = nil
		p.Add(grid)
		vals := make(plotter.Values, k)
		for i, b := range bars {
			vals[i] = float64(b.n)
		}
		bc, err := plotter.NewBarChart(vals, px(1))
		if err != nil {
			return nil, err
		}
		bc.Color = blueCol
		bc.LineStyle.Width = 0
		p.Add(bc)
		u, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: uniform}, {X: float64(k) - 0.5, Y: uniform}})
		if err != nil {
			return nil, err
		}
		u.LineStyle = draw.LineStyle{Color: bestCol, Width: px(2), Dashes: []vg.Length{px(8), px(5)}}
		p.Add(u)
		lbl := fmt.Sprintf("uniform N/K = %s", strconv.FormatFloat(uniform, 'f', -1, 64))
		if uniform != math.Trunc(uniform) {
			lbl = fmt.Sprintf("uniform N/K = %.1f", uniform)
		}
		p.Add(legendBox{[]string{"cluster size", lbl}, [][]plot.Thumbnailer{{bc}, {u}}})

		c := newFigure(820, 460)
		body := titled(c, title, sub)
		// The bar width is in plot units, so it is set from the data
		// area's width: bars thinner than a few pixels lose their gaps
		// and merge into an area.
		slot := (p.DataCanvas(body).Max.X - p.DataCanvas(body).Min.X) / vg.Length(k)
		bc.Width = slot * 0.85
		if toPx(slot) < 3 {
			// Bars a pixel or two wide are drawn a pixel wider, overlapping
			// their (smaller) right neighbour: abutting anti-aliased edges
			// would otherwise leave light seams all over the area.
			bc.Width = slot + px(1)
		}
		p.Draw(body)
		return c, nil
	})
}

// maxTickLabels is the largest number of rows or columns of the confusion
// matrix that get a label each; above it the axis says labels are omitted.
const maxTickLabels = 120

// maxNameLen bounds a class name on the heat map (ImageNet names run to
// many synonyms); longer ones are cut with an ellipsis.
const maxNameLen = 24

// confGrid is the confusion matrix as gonum's grid: column c is class c,
// grid row r is display row nr-1-r (grid rows grow upwards, the display
// lists the first cluster at the top), the value the share of the
// cluster's labelled samples.
type confGrid struct{ cm *confusion }

func (g confGrid) Dims() (int, int) { return g.cm.classes, len(g.cm.rows) }
func (g confGrid) X(c int) float64  { return float64(c) }
func (g confGrid) Y(r int) float64  { return float64(r) }
func (g confGrid) Z(c, r int) float64 {
	i := len(g.cm.rows) - 1 - r
	if g.cm.rowTotal[i] == 0 {
		return 0
	}
	return float64(g.cm.counts[i][c]) / float64(g.cm.rowTotal[i])
}

// rasterHeat draws a rasterized heat map without reporting glyph boxes:
// HeatMap reports one ±5 pt box per cell, which for 100×100 cells costs
// time and pads the data area away from the axes for nothing (cells are
// not glyphs that could be clipped).
type rasterHeat struct{ h *plotter.HeatMap }

func (r rasterHeat) Plot(c draw.Canvas, p *plot.Plot)                { r.h.Plot(c, p) }
func (r rasterHeat) DataRange() (float64, float64, float64, float64) { return r.h.DataRange() }

// confOverlay outlines the matched cells (what Hungarian accuracy counts),
// writes the counts into the cells when they are large enough, and frames
// the matrix.
type confOverlay struct {
	cm     *confusion
	counts bool
}

func (o confOverlay) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	nr := len(o.cm.rows)
	cell := math.Min(toPx(trX(1)-trX(0)), toPx(trY(1)-trY(0)))
	rect := func(x0, y0, x1, y1 vg.Length) []vg.Point {
		return []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}, {X: x0, Y: y0}}
	}
	if o.counts {
		for i := range o.cm.rows {
			y := float64(nr - 1 - i)
			for j := 0; j < o.cm.classes; j++ {
				s := strconv.Itoa(o.cm.counts[i][j])
				sty := sans(math.Min(10, cell*0.3), false, color.White)
				if sty.Width(s) > px(cell-4) {
					continue
				}
				if t := float64(o.cm.counts[i][j]) / math.Max(1, float64(o.cm.rowTotal[i])); t > 0.6 {
					sty.Color = color.Black // the bright end of viridis
				}
				sty.XAlign, sty.YAlign = draw.XCenter, draw.YCenter
				c.FillText(sty, vg.Point{X: trX(float64(j)), Y: trY(y)}, s)
			}
		}
	}
	c.StrokeLines(draw.LineStyle{Color: axisCol, Width: px(1)}, rect(c.Min.X, c.Min.Y, c.Max.X, c.Max.Y))
	if cell < 4 {
		// An outline would cover the whole cell and hide its colour.
		return
	}
	w := math.Max(1.5, math.Min(3, cell/8))
	ls := draw.LineStyle{Color: bestCol, Width: px(w)}
	in := px(w / 2) // inside the cell, so neighbours' outlines do not overlap
	for i, r := range o.cm.rows {
		if j, ok := o.cm.match[r]; ok && j >= 0 && j < o.cm.classes {
			y := float64(nr - 1 - i)
			c.StrokeLines(ls, rect(trX(float64(j)-0.5)+in, trY(y-0.5)+in, trX(float64(j)+0.5)-in, trY(y+0.5)-in))
		}
	}
}

// margins returns how much room p's axes, labels and padding take around
// its data area (left, right, bottom, top), measured on a large probe
// canvas: text measurement does not depend on the canvas.
func margins(p *plot.Plot) (l, r, b, t vg.Length) {
	probe := draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: px(10000), Y: px(10000)}}}
	d := p.DataCanvas(probe)
	return d.Min.X - probe.Min.X, probe.Max.X - d.Max.X, d.Min.Y - probe.Min.Y, probe.Max.Y - d.Max.Y
}

// plotConfusion draws cm as a heat map: rows are clusters in Hungarian
// order, columns classes; colour is the share of the cluster's labelled
// samples in the class, so a pure cluster is one bright cell whatever its
// size.
func plotConfusion(cm *confusion, classNames []string, title, sub string) (*vgimg.Canvas, error) {
	nr, nc := len(cm.rows), cm.classes
	if nr == 0 || nc == 0 {
		return nil, fmt.Errorf("report: empty confusion matrix")
	}
	for i, row := range cm.counts {
		if len(row) < nc {
			return nil, fmt.Errorf("report: confusion row %d has %d classes, want %d", i, len(row), nc)
		}
	}
	return safely("confusion", func() (*vgimg.Canvas, error) {
		// Cell size in pixels: the matrix fills about 880 pixels, cells
		// between 11 (room for a 6.5 pt name) and 48 pixels while every
		// row and column is labelled; beyond that cells may shrink below
		// a pixel (the raster is resampled).
		big := max(nr, nc)
		cell := math.Max(2, math.Min(48, math.Floor(880/float64(big))))
		if big > maxTickLabels {
			cell = 880 / float64(big)
		} else {
			cell = math.Max(cell, 11)
		}
		labelPt := math.Min(tickPt, cell*0.8*72/plotDPI)
		name := func(c int) string {
			s := strconv.Itoa(c)
			if c < len(classNames) && strings.TrimSpace(classNames[c]) != "" {
				s = strings.TrimSpace(classNames[c])
			}
			if r := []rune(s); len(r) > maxNameLen {
				s = string(r[:maxNameLen-1]) + "…"
			}
			return s
		}

		p := newPlot()
		p.X.Padding, p.Y.Padding = 0, 0
		hm := plotter.NewHeatMap(confGrid{cm}, viridisPalette(257))
		hm.Min, hm.Max = 0, 1
		hm.Rasterized = true
		p.Add(rasterHeat{hm}, confOverlay{cm: cm, counts: nr <= 20 && nc <= 20})
		p.Y.Label.Text = "cluster (Hungarian order)"
		if nr <= maxTickLabels {
			var ts plot.ConstantTicks
			for i, r := range cm.rows {
				ts = append(ts, plot.Tick{Value: float64(nr - 1 - i), Label: strconv.Itoa(r)})
			}
			p.Y.Tick.Marker = ts
			p.Y.Tick.Label.Font.Size = vg.Points(labelPt)
		} else {
			p.Y.Tick.Marker = plot.ConstantTicks{}
			p.Y.Label.Text = fmt.Sprintf("%d clusters (Hungarian order; labels omitted)", nr)
		}
		p.X.Label.Text = "class"
		if nc <= maxTickLabels {
			var ts plot.ConstantTicks
			for j := 0; j < nc; j++ {
				ts = append(ts, plot.Tick{Value: float64(j), Label: name(j)})
			}
			p.X.Tick.Marker = ts
			p.X.Tick.Label.Font.Size = vg.Points(labelPt)
			// Names read bottom-up, ending at their column.
			p.X.Tick.Label.Rotation = math.Pi / 2
			p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
		} else {
			p.X.Tick.Marker = plot.ConstantTicks{}
			p.X.Label.Text = fmt.Sprintf("%d classes (labels omitted)", nc)
		}
		if labelPt < 8 {
			p.X.Tick.Length, p.Y.Tick.Length = px(3), px(3)
		}

		// The colour bar is a second plot to the right, as tall as the
		// matrix up to 360 pixels.
		cmap := &viridisMap{min: 0, max: 1, alpha: 1}
		cb := newPlot()
		cb.Add(&plotter.ColorBar{ColorMap: cmap, Vertical: true})
		cb.HideX()
		cb.X.Padding, cb.Y.Padding = 0, 0
		cb.Y.Min, cb.Y.Max = 0, 1
		cb.Y.Tick.Marker = ticks([]float64{0, 0.25, 0.5, 0.75, 1}, func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) })
		cb.Y.Label.Text = "share of cluster"
		cb.Y.Label.TextStyle.Font.Size = vg.Points(tickPt)

		plotW, plotH := px(cell*float64(nc)), px(cell*float64(nr))
		ml, mr, mb, mt := margins(p)
		bl, br, bb, bt := margins(cb)
		barW, gap := px(18), px(28)
		heatW := ml + plotW + mr
		barH := min(plotH, px(360))
		// Room for the bar's label when the matrix is shorter than it.
		barH = max(barH, min(plotH, cb.Y.Label.TextStyle.Width(cb.Y.Label.Text)+px(10)))
		wPx := toPx(heatW+gap+bl+barW+br) + 24
		titleH := 70.0
		hPx := titleH + toPx(mt+plotH+mb) + 16
		wPx = math.Max(wPx, math.Max(560, toPx(sans(titlePt, true, nil).Width(title))+40))

		c := newFigure(int(math.Ceil(wPx)), int(math.Ceil(hPx)))
		body := titled(c, title, sub)
		heat := body
		// Centre the matrix and its bar when the title sets the width.
		if extra := (body.Max.X - body.Min.X) - (heatW + gap + bl + barW + br); extra > 0 {
			heat.Min.X += extra / 2
		}
		heat.Max.X = heat.Min.X + heatW
		heat.Min.Y = heat.Max.Y - (mt + plotH + mb)
		p.Draw(heat)
		d := p.DataCanvas(heat)
		bar := body
		bar.Min.X = d.Max.X + mr + gap
		bar.Max.X = bar.Min.X + bl + barW + br
		bar.Max.Y = d.Max.Y + bt
		bar.Min.Y = d.Max.Y - barH - bb
		cb.Draw(bar)
		return c, nil
	})
}
