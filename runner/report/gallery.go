package report

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	xdraw "golang.org/x/image/draw"
	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot/font/liberation"

	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// confusion is the cluster × class count table of one labelling, rows in
// display order: clusters matched by the Hungarian matching sorted by their
// class (so the matched cells run down a diagonal), then the unmatched ones
// by majority class and size.
type confusion struct {
	classes    int
	rows       []int   // cluster ids in display order: clusters with labelled samples
	counts     [][]int // counts[i][class] for cluster rows[i]
	rowTotal   []int
	match      map[int]int // cluster -> class
	unlabelled int         // samples with a negative (unknown) label
}

// checkAssign validates cluster ids against k and derives k from them
// when k <= 0.
func checkAssign(assign []int32, k int) (int, error) {
	mx := int32(-1)
	for i, a := range assign {
		if a < 0 {
			return 0, fmt.Errorf("report: sample %d has negative cluster id %d", i, a)
		}
		mx = max(mx, a)
	}
	if k <= 0 {
		return int(mx) + 1, nil
	}
	if int(mx) >= k {
		return 0, fmt.Errorf("report: cluster id %d out of range for %d clusters", mx, k)
	}
	return k, nil
}

// newConfusion tabulates assign against labels; samples with a negative
// label are left out. nClasses is a lower bound on the number of classes
// (the dataset's class list), labels may reach beyond it.
func newConfusion(assign, labels []int32, k, nClasses int) (*confusion, error) {
	if len(assign) != len(labels) {
		return nil, fmt.Errorf("report: %d cluster assignments but %d labels", len(assign), len(labels))
	}
	k, err := checkAssign(assign, k)
	if err != nil {
		return nil, err
	}
	cm := &confusion{classes: nClasses}
	var la, pr []int
	for i, l := range labels {
		if l < 0 {
			cm.unlabelled++
			continue
		}
		cm.classes = max(cm.classes, int(l)+1)
		la, pr = append(la, int(l)), append(pr, int(assign[i]))
	}
	if len(la) == 0 {
		return nil, errors.New("report: no sample has a known label")
	}
	full := make([][]int, k)
	tot := make([]int, k)
	for i := range la {
		if full[pr[i]] == nil {
			full[pr[i]] = make([]int, cm.classes)
		}
		full[pr[i]][la[i]]++
		tot[pr[i]]++
	}
	cm.match, _ = metrics.Match(la, pr)
	majority := func(c int) int {
		best := 0
		for j, n := range full[c] {
			if n > full[c][best] {
				best = j
			}
		}
		return best
	}
	for c := 0; c < k; c++ {
		if tot[c] > 0 {
			cm.rows = append(cm.rows, c)
		}
	}
	sort.SliceStable(cm.rows, func(i, j int) bool {
		a, b := cm.rows[i], cm.rows[j]
		ca, oka := cm.match[a]
		cb, okb := cm.match[b]
		if oka != okb {
			return oka
		}
		if oka {
			return ca < cb
		}
		if ma, mb := majority(a), majority(b); ma != mb {
			return ma < mb
		}
		return tot[a] > tot[b]
	})
	for _, c := range cm.rows {
		cm.counts = append(cm.counts, full[c])
		cm.rowTotal = append(cm.rowTotal, tot[c])
	}
	return cm, nil
}

// ClusterSummary describes one cluster for gallery titles and reports.
type ClusterSummary struct {
	Cluster  int
	Size     int // samples assigned to the cluster, labelled or not
	Labelled int // of which have a known label
	// Class is the class the Hungarian matching gives the cluster (the one
	// that accuracy credits), -1 when it has none: no labels, or more
	// clusters than classes.
	Class     int
	ClassName string
	Purity    float64 // share of the labelled members that are of Class
	// Majority is the cluster's most frequent class (-1 without labelled
	// members); it names unmatched clusters.
	Majority      int
	MajorityName  string
	MajorityShare float64
}

// Title is a one-line caption such as "cluster 3 → airplane, purity 92%
// (n=5012)".
func (s ClusterSummary) Title() string {
	switch {
	case s.Size == 0:
		return fmt.Sprintf("cluster %d (empty)", s.Cluster)
	case s.Class >= 0:
		return fmt.Sprintf("cluster %d → %s, purity %.0f%% (n=%d)", s.Cluster, s.ClassName, 100*s.Purity, s.Size)
	case s.Majority >= 0:
		return fmt.Sprintf("cluster %d (unmatched) mostly %s %.0f%% (n=%d)", s.Cluster, s.MajorityName, 100*s.MajorityShare, s.Size)
	default:
		return fmt.Sprintf("cluster %d (n=%d)", s.Cluster, s.Size)
	}
}

// className names class c from the dataset's list, "class c" beyond it.
func className(classes []string, c int) string {
	if c >= 0 && c < len(classes) && classes[c] != "" {
		return classes[c]
	}
	return "class " + strconv.Itoa(c)
}

// ClusterSummaries returns one summary per cluster 0..k-1 (k <= 0: one
// more than the largest id in assign). labels may be nil (no ground
// truth: sizes only); negative labels are unknown. classes names the
// labels by index.
func ClusterSummaries(assign, labels []int32, classes []string, k int) ([]ClusterSummary, error) {
	k, err := checkAssign(assign, k)
	if err != nil {
		return nil, err
	}
	out := make([]ClusterSummary, k)
	for c := range out {
		out[c] = ClusterSummary{Cluster: c, Class: -1, Majority: -1}
	}
	for _, a := range assign {
		out[a].Size++
	}
	if labels == nil {
		return out, nil
	}
	cm, err := newConfusion(assign, labels, k, len(classes))
	if err != nil {
		if len(assign) == len(labels) {
			return out, nil // every label unknown: sizes only
		}
		return nil, err
	}
	for i, c := range cm.rows {
		s := &out[c]
		s.Labelled = cm.rowTotal[i]
		maj := 0
		for j, n := range cm.counts[i] {
			if n > cm.counts[i][maj] {
				maj = j
			}
		}
		s.Majority, s.MajorityName = maj, className(classes, maj)
		s.MajorityShare = float64(cm.counts[i][maj]) / float64(s.Labelled)
		if cls, ok := cm.match[c]; ok {
			s.Class, s.ClassName = cls, className(classes, cls)
			s.Purity = float64(cm.counts[i][cls]) / float64(s.Labelled)
		}
	}
	return out, nil
}

// ClusterPicks are the samples a gallery shows of one cluster, as indices
// into the split.
type ClusterPicks struct {
	// Confident are the cluster's most confident members, most confident
	// first (confidence: the selected head's probability of the cluster).
	Confident []int
	// Unsure are its least confident members not among Confident, least
	// confident first.
	Unsure []int
	// Misassigned are its labelled members whose class is not Versus,
	// most confident first: a model sure and wrong is the most telling
	// mistake. Nil when there is nothing to compare with (no labels, or
	// no labelled member); empty when every labelled member is of Versus.
	Misassigned []int
	// Versus is the class the cluster stands for: the class the Hungarian
	// matching gives it, else (more clusters than classes) its majority
	// class; -1 without labelled members.
	Versus int
	// Matched says Versus is the matched class, not only the majority.
	Matched bool
}

// GalleryPicks picks the gallery of each cluster of sums (ClusterSummaries
// of the same assign and labels; its length is the number of clusters):
// at most perGroup most confident members, perGroup least confident ones
// and, when labels are known, perGroup misassigned ones (see
// ClusterPicks). conf is each sample's confidence (ReadConfidence); nil
// orders members by index. Ties are broken by index, NaN counts as the
// least confident. labels may be nil; negative labels are unknown.
func GalleryPicks(assign []int32, conf []float32, labels []int32, sums []ClusterSummary, perGroup int) ([]ClusterPicks, error) {
	if conf != nil && len(conf) != len(assign) {
		return nil, fmt.Errorf("report: %d cluster assignments but %d probabilities", len(assign), len(conf))
	}
	if labels != nil && len(labels) != len(assign) {
		return nil, fmt.Errorf("report: %d cluster assignments but %d labels", len(assign), len(labels))
	}
	if perGroup < 0 {
		return nil, fmt.Errorf("report: negative samples per group %d", perGroup)
	}
	if len(sums) == 0 {
		return nil, errors.New("report: no clusters to pick from")
	}
	k, err := checkAssign(assign, len(sums))
	if err != nil {
		return nil, err
	}
	members := make([][]int, k)
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	score := func(i int) float64 {
		if conf == nil || math.IsNaN(float64(conf[i])) {
			return math.Inf(-1)
		}
		return float64(conf[i])
	}
	out := make([]ClusterPicks, k)
	for c, m := range members {
		sort.SliceStable(m, func(i, j int) bool { // stable on index order: ties by index
			return score(m[i]) > score(m[j])
		})
		p := ClusterPicks{Versus: -1}
		n := min(perGroup, len(m))
		p.Confident = append([]int{}, m[:n]...)
		rest := m[n:]
		for i := len(rest) - 1; i >= 0 && len(p.Unsure) < perGroup; i-- {
			p.Unsure = append(p.Unsure, rest[i])
		}
		switch s := sums[c]; {
		case s.Class >= 0:
			p.Versus, p.Matched = s.Class, true
		case s.Majority >= 0:
			p.Versus = s.Majority
		}
		if labels != nil && p.Versus >= 0 {
			p.Misassigned = []int{}
			for _, i := range m {
				if len(p.Misassigned) == perGroup {
					break
				}
				if l := labels[i]; l >= 0 && int(l) != p.Versus {
					p.Misassigned = append(p.Misassigned, i)
				}
			}
		}
		out[c] = p
	}
	return out, nil
}

// GalleryRow is one row of a gallery: a caption and its thumbnails, in
// labelled groups side by side (Groups) or, without groups, one plain
// run of Images.
type GalleryRow struct {
	Title  string
	Images []image.Image
	Groups []GalleryGroup
}

// GalleryGroup is a labelled run of thumbnails within a row; the groups
// of every row line up in columns. Empty says what an empty group means
// ("(none)" when blank).
type GalleryGroup struct {
	Label string
	Items []GalleryImage
	Empty string
}

// GalleryImage is one thumbnail with up to two caption lines below it:
// Caption (the confidence) in grey and Note (a true class that is not the
// cluster's) in red; both are cut to the thumbnail's width.
type GalleryImage struct {
	Image   image.Image
	Caption string
	Note    string
}

// GalleryRows lays out picks as gallery rows, one per cluster, titled by
// its summary (the matched class and its purity), with the groups "most
// confident", "least confident" and, where labels are known,
// "misassigned". Each image is captioned with its confidence (when conf
// is given) and, when its label is known and not the cluster's class, its
// true class. image returns sample i's image; nil leaves it out.
func GalleryRows(sums []ClusterSummary, picks []ClusterPicks, conf []float32, labels []int32, classes []string, image func(int) image.Image) []GalleryRow {
	rows := make([]GalleryRow, len(picks))
	for c, p := range picks {
		if c < len(sums) {
			rows[c].Title = sums[c].Title()
		} else {
			rows[c].Title = fmt.Sprintf("cluster %d", c)
		}
		if len(p.Confident) == 0 {
			continue // empty cluster: the row says "(no samples)"
		}
		items := func(idx []int) []GalleryImage {
			var out []GalleryImage
			for _, i := range idx {
				im := image(i)
				if im == nil {
					continue
				}
				it := GalleryImage{Image: im}
				if conf != nil {
					it.Caption = formatConfidence(conf[i])
				}
				if labels != nil && p.Versus >= 0 && labels[i] >= 0 && int(labels[i]) != p.Versus {
					it.Note = className(classes, int(labels[i]))
				}
				out = append(out, it)
			}
			return out
		}
		rows[c].Groups = []GalleryGroup{
			{Label: "most confident", Items: items(p.Confident)},
			{Label: "least confident", Items: items(p.Unsure), Empty: "(all shown)"},
		}
		if p.Misassigned != nil {
			label := fmt.Sprintf("misassigned (not %s), most confident first", className(classes, p.Versus))
			if !p.Matched {
				label = fmt.Sprintf("not its majority %s, most confident first", className(classes, p.Versus))
			}
			rows[c].Groups = append(rows[c].Groups, GalleryGroup{Label: label, Items: items(p.Misassigned)})
		}
	}
	return rows
}

// formatConfidence prints a probability with two decimals, rounded down
// so that only a certain 1 prints as "1.00".
func formatConfidence(p float32) string {
	if math.IsNaN(float64(p)) {
		return "NaN"
	}
	return strconv.FormatFloat(math.Floor(float64(p)*100)/100, 'f', 2, 64)
}

// ReadConfidence returns each sample's confidence: the selected head's
// probability of its assigned cluster (assign: that head's clusters),
// read from probs_<split>.npy [N, K] a block of rows at a time, so a
// split of a million rows and a thousand clusters costs only the [N]
// result. A run directory of an older trainer that has only
// probs_<split>_best.npy [N] (each row's top probability, which is the
// assigned cluster's) is read instead. It returns the file it read; with
// neither file the error is fs.ErrNotExist.
func ReadConfidence(dir, split string, assign []int32) ([]float32, string, error) {
	name := rundir.ProbsFile(split)
	conf, err := readAssignedProbs(filepath.Join(dir, name), assign)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return conf, name, err
	}
	legacy := rundir.LegacyProbsFile(split)
	path := filepath.Join(dir, legacy)
	v, shape, err := npy.ReadFloat32(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", fmt.Errorf("report: neither %s nor %s in %s: %w", name, legacy, dir, fs.ErrNotExist)
	case err != nil:
		return nil, legacy, fmt.Errorf("report: reading %s: %w", path, err)
	case len(shape) != 1 || shape[0] != len(assign):
		return nil, legacy, fmt.Errorf("report: %s has shape %v, want [%d] (one per sample)", path, shape, len(assign))
	}
	return v, legacy, nil
}

// readAssignedProbs streams an [N, K] probability file and keeps, of each
// row i, column assign[i].
func readAssignedProbs(path string, assign []int32) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	h, err := npy.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("report: reading %s: %w", path, err)
	}
	n := len(assign)
	if h.FortranOrder || len(h.Shape) != 2 || h.Shape[0] != n || h.Shape[1] < 1 {
		return nil, fmt.Errorf("report: %s has shape %v (Fortran order %v), want [%d, clusters] in C order", path, h.Shape, h.FortranOrder, n)
	}
	k := h.Shape[1]
	item, err := h.ItemSize()
	if err != nil {
		return nil, fmt.Errorf("report: reading %s: %w", path, err)
	}
	if want := h.DataOffset + int64(n)*int64(k)*int64(item); st.Size() != want {
		return nil, fmt.Errorf("report: %s has %d bytes, its header announces %d (truncated or damaged)", path, st.Size(), want)
	}
	per := max(1, (1<<20)/(k*item))
	buf := make([]byte, per*k*item)
	conf := make([]float32, n)
	for start := 0; start < n; start += per {
		rows := min(per, n-start)
		b := buf[:rows*k*item]
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("report: reading %s: %w", path, err)
		}
		vals, err := npy.ToFloat32(npy.Header{DType: h.DType, Shape: []int{rows, k}}, b)
		if err != nil {
			return nil, fmt.Errorf("report: reading %s: %w", path, err)
		}
		for i := range rows {
			a := assign[start+i]
			if a < 0 || int(a) >= k {
				return nil, fmt.Errorf("report: sample %d is assigned to cluster %d, but %s has %d clusters", start+i, a, path, k)
			}
			conf[start+i] = vals[i*k+int(a)]
		}
	}
	return conf, nil
}

// Gallery layout, in pixels.
const (
	galleryThumb    = 56 // small images are scaled up by an integer factor to about this size
	galleryMaxSide  = 96 // larger images are shrunk to this
	galleryPad      = 10
	galleryGap      = 4
	galleryFontPx   = 14 // title font size: Liberation Sans at 14 pixels per em
	gallerySmallPx  = 11 // group labels and the captions under thumbnails
	galleryGroupGap = 25 // between the groups of a row, a rule in the middle
	galleryMaxPix   = 64 << 20
)

// sansFont is gonum's embedded Liberation Sans Regular, parsed once.
var sansFont = sync.OnceValues(func() (*opentype.Font, error) {
	for _, f := range liberation.Collection() {
		if f.Font.Variant == "Sans" && f.Font.Weight == xfont.WeightNormal && f.Font.Style == xfont.StyleNormal {
			return f.Face, nil
		}
	}
	return nil, errors.New("report: gonum's Liberation collection has no Sans Regular font")
})

// captionFace returns a face for gallery text of size pixels per em. A
// face is not safe for concurrent use (it caches glyphs), so each gallery
// gets its own.
func captionFace(size float64) (xfont.Face, error) {
	f, err := sansFont()
	if err != nil {
		return nil, err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: xfont.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("report: loading the caption font: %w", err)
	}
	return face, nil
}

// captionLayout returns the caption line's ascent and height in pixels.
func captionLayout(face xfont.Face) (ascent, height int) {
	m := face.Metrics()
	return m.Ascent.Ceil(), m.Ascent.Ceil() + m.Descent.Ceil()
}

// captionWidth is the width of s in pixels.
func captionWidth(face xfont.Face, s string) int { return xfont.MeasureString(face, s).Ceil() }

// thumbScale returns the thumbnail size of an image of w×h pixels: an
// integer nearest-neighbour enlargement of small images (28×28 MNIST digits
// become 56×56 with sharp pixels), a shrink of large ones to galleryMaxSide.
func thumbScale(w, h int) (int, int) {
	m := max(w, h)
	if m <= 0 {
		return 0, 0
	}
	if m <= galleryMaxSide {
		f := max(1, (galleryThumb+m-1)/m)
		if m*f > galleryMaxSide {
			f = max(1, galleryMaxSide/m)
		}
		return w * f, h * f
	}
	return max(1, w*galleryMaxSide/m), max(1, h*galleryMaxSide/m)
}

// drawThumb scales src into r of dst: nearest neighbour when enlarging
// (an integer factor: every source pixel becomes a sharp block), Catmull-Rom
// when shrinking (its kernel widens with the factor, so fine detail is
// averaged rather than aliased).
func drawThumb(dst draw.Image, r image.Rectangle, src image.Image) {
	var s xdraw.Scaler = xdraw.NearestNeighbor
	if r.Dx() < src.Bounds().Dx() || r.Dy() < src.Bounds().Dy() {
		s = xdraw.CatmullRom
	}
	s.Scale(dst, r, src, src.Bounds(), draw.Over, nil)
}

// RenderGallery writes a PNG to path (atomically) with one row per entry
// of rows: its title as text above its thumbnails. A row's groups are
// laid side by side, each under its label, with a thin rule between them;
// the groups of all rows line up in columns. Thumbnails with captions get
// them below, cut to their width. Rows may differ in length; an empty
// row says so, as does an empty group.
func RenderGallery(path string, rows []GalleryRow) error {
	if len(rows) == 0 {
		return fmt.Errorf("report: gallery %s has no rows", path)
	}
	groups := make([][]GalleryGroup, len(rows))
	tw, th, cols := 0, 0, 0
	hasLabel, hasCaption, hasNote := false, false, false
	for r, row := range rows {
		groups[r] = row.Groups
		if len(row.Groups) == 0 && len(row.Images) > 0 {
			g := GalleryGroup{}
			for _, im := range row.Images {
				g.Items = append(g.Items, GalleryImage{Image: im})
			}
			groups[r] = []GalleryGroup{g}
		}
		cols = max(cols, len(groups[r]))
		for _, g := range groups[r] {
			hasLabel = hasLabel || g.Label != ""
			for _, it := range g.Items {
				hasCaption = hasCaption || it.Caption != ""
				hasNote = hasNote || it.Note != ""
				if it.Image == nil {
					continue
				}
				w, h := thumbScale(it.Image.Bounds().Dx(), it.Image.Bounds().Dy())
				tw, th = max(tw, w), max(th, h)
			}
		}
	}
	face, err := captionFace(galleryFontPx)
	if err != nil {
		return fmt.Errorf("report: gallery %s: %w", path, err)
	}
	defer face.Close()
	small, err := captionFace(gallerySmallPx)
	if err != nil {
		return fmt.Errorf("report: gallery %s: %w", path, err)
	}
	defer small.Close()
	ascent, lineH := captionLayout(face)
	sAscent, sLineH := captionLayout(small)
	titleH := lineH + 6
	labelH, capH := 0, 0
	if hasLabel {
		labelH = sLineH + 3
	}
	if hasCaption {
		capH += sLineH
	}
	if hasNote {
		capH += sLineH
	}
	if capH > 0 {
		capH += 2
	}
	cellH := max(th, lineH)
	rowH := titleH + labelH + cellH + capH + galleryPad
	emptyText := func(g GalleryGroup) string {
		if g.Empty != "" {
			return g.Empty
		}
		return "(none)"
	}
	// Column widths: the widest group of each column, or its label.
	colW := make([]int, cols)
	for _, gs := range groups {
		for j, g := range gs {
			w := captionWidth(small, g.Label)
			if len(g.Items) > 0 {
				w = max(w, len(g.Items)*(tw+galleryGap)-galleryGap)
			} else {
				w = max(w, captionWidth(small, emptyText(g)))
			}
			colW[j] = max(colW[j], w)
		}
	}
	colX := make([]int, cols)
	width := 0
	for j := range cols {
		if j > 0 {
			colX[j] = colX[j-1] + colW[j-1] + galleryGroupGap
		}
		width = colX[j] + colW[j]
	}
	for _, r := range rows {
		width = max(width, captionWidth(face, r.Title))
	}
	width += 2 * galleryPad
	height := galleryPad + len(rows)*rowH
	if width*height > galleryMaxPix {
		return fmt.Errorf("report: gallery %s would be %d×%d pixels: render fewer rows or images per row", path, width, height)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	stripe := image.NewUniform(color.RGBA{244, 244, 246, 255})
	rule := image.NewUniform(color.RGBA{205, 205, 210, 255})
	text := func(f xfont.Face, asc int, s string, x, y int, col color.Color) {
		d := xfont.Drawer{Dst: img, Src: image.NewUniform(col), Face: f, Dot: fixed.P(x, y+asc)}
		d.DrawString(s)
	}
	for i, r := range rows {
		y := galleryPad/2 + i*rowH
		if i%2 == 1 { // alternate shading separates the rows
			draw.Draw(img, image.Rect(0, y, width, y+rowH), stripe, image.Point{}, draw.Src)
		}
		text(face, ascent, r.Title, galleryPad, y+galleryPad/2, textCol)
		ly := y + titleH
		ty := ly + labelH
		if len(groups[i]) == 0 {
			text(face, ascent, "(no samples)", galleryPad, ty, otherCol)
			continue
		}
		for j, g := range groups[i] {
			x0 := galleryPad + colX[j]
			if j > 0 {
				rx := x0 - galleryGroupGap/2
				draw.Draw(img, image.Rect(rx, ly, rx+1, ty+cellH+capH), rule, image.Point{}, draw.Src)
			}
			if g.Label != "" {
				text(small, sAscent, g.Label, x0, ly, axisCol)
			}
			if len(g.Items) == 0 {
				text(small, sAscent, emptyText(g), x0, ty, otherCol)
				continue
			}
			for k, it := range g.Items {
				x := x0 + k*(tw+galleryGap)
				if it.Image != nil {
					w, h := thumbScale(it.Image.Bounds().Dx(), it.Image.Bounds().Dy())
					// Centre thumbnails smaller than the cell (mixed sizes).
					off := image.Pt(x+(tw-w)/2, ty+(th-h)/2)
					drawThumb(img, image.Rectangle{off, off.Add(image.Pt(w, h))}, it.Image)
				}
				cy := ty + cellH + 2
				if hasCaption {
					text(small, sAscent, fitWidth(small, it.Caption, tw), x, cy, axisCol)
					cy += sLineH
				}
				if it.Note != "" {
					text(small, sAscent, fitWidth(small, it.Note, tw), x, cy, bestCol)
				}
			}
		}
	}
	return writePNG(path, img)
}

// fitWidth cuts s with an ellipsis to at most w pixels in face.
func fitWidth(face xfont.Face, s string, w int) string {
	if captionWidth(face, s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 0 && captionWidth(face, string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
