package report

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"sort"
	"strconv"
	"sync"

	xdraw "golang.org/x/image/draw"
	xfont "golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot/font/liberation"

	"github.com/clusterlab/clusterlab/core/metrics"
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

// GalleryPicks returns, for each cluster 0..k-1, the indices of at most
// perCluster of its samples, most confident first (descending probs, ties
// and NaNs broken by index, NaN last). probs may be nil: then the first
// samples of each cluster by index.
func GalleryPicks(assign []int32, probs []float32, k, perCluster int) ([][]int, error) {
	if probs != nil && len(probs) != len(assign) {
		return nil, fmt.Errorf("report: %d cluster assignments but %d probabilities", len(assign), len(probs))
	}
	if perCluster < 0 {
		return nil, fmt.Errorf("report: negative samples per cluster %d", perCluster)
	}
	k, err := checkAssign(assign, k)
	if err != nil {
		return nil, err
	}
	members := make([][]int, k)
	for i, a := range assign {
		members[a] = append(members[a], i)
	}
	score := func(i int) float64 {
		if probs == nil || math.IsNaN(float64(probs[i])) {
			return math.Inf(-1)
		}
		return float64(probs[i])
	}
	out := make([][]int, k)
	for c, m := range members {
		sort.SliceStable(m, func(i, j int) bool { // stable on index order: ties by index
			return score(m[i]) > score(m[j])
		})
		out[c] = append([]int{}, m[:min(perCluster, len(m))]...)
	}
	return out, nil
}

// GalleryRow is one row of a gallery: a caption and its thumbnails.
type GalleryRow struct {
	Title  string
	Images []image.Image
}

// Gallery layout, in pixels.
const (
	galleryThumb   = 56 // small images are scaled up by an integer factor to about this size
	galleryMaxSide = 96 // larger images are shrunk to this
	galleryPad     = 10
	galleryGap     = 4
	galleryFontPx  = 14 // caption font size: Liberation Sans at 14 pixels per em
	galleryMaxPix  = 64 << 20
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

// captionFace returns a face for gallery captions. A face is not safe for
// concurrent use (it caches glyphs), so each gallery gets its own.
func captionFace() (xfont.Face, error) {
	f, err := sansFont()
	if err != nil {
		return nil, err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: galleryFontPx, DPI: 72, Hinting: xfont.HintingFull})
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
// of rows: its title as text above its images as thumbnails, side by side.
// Rows may differ in length; an empty row says so.
func RenderGallery(path string, rows []GalleryRow) error {
	if len(rows) == 0 {
		return fmt.Errorf("report: gallery %s has no rows", path)
	}
	tw, th := 0, 0
	for _, r := range rows {
		for _, im := range r.Images {
			if im == nil {
				continue
			}
			w, h := thumbScale(im.Bounds().Dx(), im.Bounds().Dy())
			tw, th = max(tw, w), max(th, h)
		}
	}
	face, err := captionFace()
	if err != nil {
		return fmt.Errorf("report: gallery %s: %w", path, err)
	}
	defer face.Close()
	ascent, lineH := captionLayout(face)
	titleH := lineH + 6
	rowH := titleH + max(th, lineH) + galleryPad
	width := 0
	for _, r := range rows {
		width = max(width, len(r.Images)*(tw+galleryGap)-galleryGap, captionWidth(face, r.Title))
	}
	width += 2 * galleryPad
	height := galleryPad + len(rows)*rowH
	if width*height > galleryMaxPix {
		return fmt.Errorf("report: gallery %s would be %d×%d pixels: render fewer rows or images per row", path, width, height)
	}
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(white), image.Point{}, draw.Src)
	stripe := image.NewUniform(color.RGBA{244, 244, 246, 255})
	for i, r := range rows {
		y := galleryPad/2 + i*rowH
		if i%2 == 1 { // alternate shading separates the rows
			draw.Draw(img, image.Rect(0, y, width, y+rowH), stripe, image.Point{}, draw.Src)
		}
		caption := func(s string, y int, col color.Color) {
			d := xfont.Drawer{Dst: img, Src: image.NewUniform(col), Face: face, Dot: fixed.P(galleryPad, y+ascent)}
			d.DrawString(s)
		}
		caption(r.Title, y+galleryPad/2, textCol)
		ty := y + titleH
		if len(r.Images) == 0 {
			caption("(no samples)", ty, otherCol)
			continue
		}
		for j, im := range r.Images {
			x := galleryPad + j*(tw+galleryGap)
			if im == nil {
				continue
			}
			w, h := thumbScale(im.Bounds().Dx(), im.Bounds().Dy())
			// Centre thumbnails smaller than the cell (mixed sizes).
			off := image.Pt(x+(tw-w)/2, ty+(th-h)/2)
			drawThumb(img, image.Rectangle{off, off.Add(image.Pt(w, h))}, im)
		}
	}
	return writePNG(path, img)
}
