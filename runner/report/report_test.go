package report

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/rundir"

	"golang.org/x/image/font/sfnt"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/clusterlab/clusterlab/core/npy"
)

var testClasses = []string{"airplane", "bird", "cat", "dog"}

// synthRun describes a synthetic finished run.
type synthRun struct {
	heads, k, epochs, best int
	n                      map[string]int // samples per split
	noHistory, noLabels    bool
	noTables, noConfig     bool
	noDataset, noGallery   bool
	noSchedule             bool // no schedule.csv (a run of an older trainer)
	legacyProbs            bool // probs_<split>_best.npy [N] instead of probs_<split>.npy [N, K]
}

func defaultRun() synthRun {
	return synthRun{heads: 3, k: 4, epochs: 15, best: 2, n: map[string]int{"train": 400, "test": 200}}
}

// truth is the class of cluster c in the synthetic runs: a permutation,
// so that the Hungarian order differs from the id order.
func truth(c int) int { return (c + 1) % 4 }

// makeRun writes the synthetic run into a new temporary directory.
func makeRun(t *testing.T, s synthRun) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(map[string]any{
		"experiment": "synth", "trial": "seed0-abc", "loss": "temi", "backend": "go",
		"best_head": s.best, "classes": 4, "clusters": s.k,
	})
	write(rundir.MetricsFile, string(m))
	if !s.noConfig {
		write(rundir.ConfigFile, "experiment: synth\nloss:\n    epochs: 15\n")
	}
	if !s.noTables {
		write(rundir.TablesMarkdown, "**synth/seed0-abc: temi vs baselines (metrics in %)**\n\n"+
			"| method | selection | test ACC |\n|:--|:--|--:|\n| temi | best-head | 81.5 |\n| kmeans \\<script\\> | all | 60.2 |\n\n"+
			"knn-classifier is supervised.\n")
	}
	if !s.noDataset {
		b, _ := json.Marshal(rundir.Dataset{Name: "synthetic", Classes: testClasses})
		write(rundir.DatasetFile, string(b))
	}
	if !s.noHistory {
		var sb strings.Builder
		for e := 1; e <= s.epochs; e++ {
			r := rundir.EpochRecord{Epoch: e, LR: 1e-3 * (1 + math.Cos(math.Pi*float64(e)/float64(s.epochs))) / 2,
				TeacherMomentum: 0.996 + 0.004*float64(e)/float64(s.epochs), TeacherTemp: 0.04 + 0.03*math.Min(1, float64(e)/5), WeightDecay: 1e-4}
			for h := 0; h < s.heads; h++ {
				l := -math.Log(float64(e)+1) - 0.05*float64(h)
				if h == s.best {
					l -= 0.3
				}
				r.HeadLosses = append(r.HeadLosses, l)
				r.Loss += l / float64(s.heads)
			}
			b, _ := json.Marshal(r)
			sb.Write(append(b, '\n'))
		}
		write(rundir.HistoryFile, sb.String())
	}
	if !s.noHistory && !s.noSchedule {
		write(rundir.ScheduleFile, scheduleCSV(s.epochs, 8))
	}
	rng := rand.New(rand.NewSource(1))
	for split, n := range s.n {
		assign := make([]int32, s.heads*n)
		labels := make([]int32, n)
		probs := make([]float32, n*s.k) // the best head's [N, K]
		for i := 0; i < n; i++ {
			c := i % s.k
			labels[i] = int32(truth(c % 4))
			if rng.Float64() < 0.2 {
				labels[i] = int32(rng.Intn(4))
			}
			if i%50 == 0 {
				labels[i] = -1 // unknown
			}
			for h := 0; h < s.heads; h++ {
				assign[h*n+i] = int32(c)
				if h != s.best && rng.Float64() < 0.3 {
					assign[h*n+i] = int32(rng.Intn(s.k))
				}
			}
			// The assigned cluster gets the largest share, the rest is spread.
			top := 1/float32(s.k) + rng.Float32()*(1-1/float32(s.k))
			for c := range s.k {
				probs[i*s.k+c] = (1 - top) / float32(s.k-1)
			}
			probs[i*s.k+int(assign[s.best*n+i])] = top
		}
		if err := npy.WriteInt32(filepath.Join(dir, rundir.AssignFile(split)), assign, s.heads, n); err != nil {
			t.Fatal(err)
		}
		if s.legacyProbs {
			tops := make([]float32, n)
			for i := range tops {
				tops[i] = probs[i*s.k+int(assign[s.best*n+i])]
			}
			if err := npy.WriteFloat32(filepath.Join(dir, rundir.LegacyProbsFile(split)), tops, n); err != nil {
				t.Fatal(err)
			}
		} else if err := npy.WriteFloat32(filepath.Join(dir, rundir.ProbsFile(split)), probs, n, s.k); err != nil {
			t.Fatal(err)
		}
		if !s.noLabels {
			if err := npy.WriteInt32(filepath.Join(dir, rundir.LabelsFile(split)), labels, n); err != nil {
				t.Fatal(err)
			}
		}
		if !s.noGallery {
			best := assign[s.best*n : (s.best+1)*n]
			conf, _, err := ReadConfidence(dir, split, best)
			if err != nil {
				t.Fatal(err)
			}
			sums, err := ClusterSummaries(best, labels, testClasses, s.k)
			if err != nil {
				t.Fatal(err)
			}
			picks, err := GalleryPicks(best, conf, labels, sums, 5)
			if err != nil {
				t.Fatal(err)
			}
			rows := GalleryRows(sums, picks, conf, labels, testClasses, digit)
			if err := RenderGallery(filepath.Join(dir, rundir.GalleryFile(split)), rows); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// scheduleCSV is a schedule.csv of epochs × ipe steps: a linear one-epoch
// learning-rate warm-up from 0 then a cosine decay, a cosine weight decay
// and teacher momentum, a teacher temperature warm-up over 5 epochs.
func scheduleCSV(epochs, ipe int) string {
	var sb strings.Builder
	sb.WriteString(rundir.ScheduleHeader + "\n")
	total := epochs * ipe
	for it := range total {
		e := it / ipe
		lr := 1e-3 * float64(it) / float64(ipe-1)
		if it >= ipe {
			lr = 1e-3 * (1 + math.Cos(math.Pi*float64(it-ipe)/float64(total-ipe))) / 2
		}
		c := (1 - math.Cos(math.Pi*float64(it)/float64(total))) / 2
		fmt.Fprintf(&sb, "%d,%d,%s,%s,%s,%s\n", it, e+1, strconv.FormatFloat(lr, 'g', -1, 64),
			strconv.FormatFloat(0.04+0.36*c, 'g', -1, 64), strconv.FormatFloat(0.996+0.004*c, 'g', -1, 64),
			strconv.FormatFloat(0.04+0.03*math.Min(1, float64(e)/5), 'g', -1, 64))
	}
	return sb.String()
}

// digit is a 28×28 grey test image that differs per index.
func digit(i int) image.Image {
	im := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := 0; y < 28; y++ {
		for x := 0; x < 28; x++ {
			im.SetGray(x, y, color.Gray{uint8((x*9 + y*3 + i*37) % 256)})
		}
	}
	return im
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return im
}

// colourStats counts distinct colours, the share of the most common one
// and how many pixels have exactly colour want.
func colourStats(im image.Image, want color.RGBA) (distinct int, topShare float64, wantCount int) {
	counts := map[color.RGBA]int{}
	b := im.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(im.At(x, y)).(color.RGBA)
			counts[c]++
			if c == want {
				wantCount++
			}
		}
	}
	top := 0
	for _, n := range counts {
		top = max(top, n)
	}
	return len(counts), float64(top) / float64(b.Dx()*b.Dy()), wantCount
}

// viridisPixelAt says whether the pixel has one of the heat map's palette
// colours.
func viridisPixelAt(im image.Image, x, y int) bool {
	return allViridis[color.RGBAModel.Convert(im.At(x, y)).(color.RGBA)]
}

var allViridis = viridisSet(0, 1)

// viridisSet is the heat map palette's colours for shares in [lo, hi].
func viridisSet(lo, hi float64) map[color.RGBA]bool {
	want := map[color.RGBA]bool{}
	pal := viridisPalette(257).Colors()
	for i, c := range pal {
		if t := float64(i) / float64(len(pal)-1); t >= lo && t <= hi {
			want[c.(color.RGBA)] = true
		}
	}
	return want
}

// viridisPixels counts the pixels that have exactly one of the heat map's
// palette colours for a share in [lo, hi].
func viridisPixels(im image.Image, lo, hi float64) int {
	want := viridisSet(lo, hi)
	n := 0
	b := im.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if want[color.RGBAModel.Convert(im.At(x, y)).(color.RGBA)] {
				n++
			}
		}
	}
	return n
}

func TestBuildRendersEverything(t *testing.T) {
	dir := makeRun(t, defaultRun())
	start := time.Now()
	files, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Build: %v", time.Since(start))
	want := []string{rundir.LossPlot, rundir.SchedulePlot, rundir.SizesPlot("train"), rundir.ConfusionPlot("train"), rundir.SizesPlot("test"), rundir.ConfusionPlot("test")}
	if fmt.Sprint(files.Plots) != fmt.Sprint(want) {
		t.Fatalf("plots %v, want %v", files.Plots, want)
	}
	if len(files.Notes) != 0 {
		t.Errorf("unexpected notes with every input present: %q", files.Notes)
	}
	// The colours each plot must contain: the highlighted head, the
	// schedules' curves, the bars and the uniform line, the outlined
	// matched cells. gonum/plot
	// anti-aliases edges, but the inside of a line at least 2 pixels wide
	// and of a filled area keeps its exact colour.
	marks := map[string][]color.RGBA{
		rundir.LossPlot:               {bestCol},
		rundir.SchedulePlot:           {blueCol, orangeCol, greenCol, purpleCol},
		rundir.SizesPlot("train"):     {blueCol, bestCol},
		rundir.SizesPlot("test"):      {blueCol, bestCol},
		rundir.ConfusionPlot("train"): {bestCol},
		rundir.ConfusionPlot("test"):  {bestCol},
	}
	for _, name := range want {
		im := readPNG(t, filepath.Join(dir, name))
		b := im.Bounds()
		if b.Dx() < 500 || b.Dy() < 300 || b.Dx() > 2000 || b.Dy() > 2000 {
			t.Errorf("%s: size %v", name, b.Size())
		}
		distinct, top, _ := colourStats(im, white)
		// Line plots are mostly white background; 97% leaves room for
		// nothing but axes and text. Anti-aliased text alone brings
		// dozens of greys.
		if distinct < 50 || top > 0.97 {
			t.Errorf("%s looks trivial: %d colours, most common %.0f%%", name, distinct, 100*top)
		}
		for _, c := range marks[name] {
			if _, _, n := colourStats(im, c); n < 200 {
				t.Errorf("%s: only %d pixels of %v", name, n, c)
			}
		}
	}
	// The loss plot shows the other heads in (thinner) grey too.
	if _, _, n := colourStats(readPNG(t, filepath.Join(dir, rundir.LossPlot)), otherCol); n < 100 {
		t.Errorf("loss plot: only %d pixels of the other heads' grey", n)
	}
	// The heat maps span the colour map: bright matched cells (the
	// synthetic clusters are 80% pure), dark off-diagonal ones.
	for _, split := range []string{"train", "test"} {
		im := readPNG(t, filepath.Join(dir, rundir.ConfusionPlot(split)))
		if bright, dark := viridisPixels(im, 0.7, 1), viridisPixels(im, 0, 0.15); bright < 2000 || dark < 2000 {
			t.Errorf("%s: %d pixels of the bright end of viridis, %d of the dark end", rundir.ConfusionPlot(split), bright, dark)
		}
	}

	md, err := os.ReadFile(files.Markdown)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(want, "# Run report: synth/seed0-abc", "| temi | best-head | 81.5 |", "experiment: synth",
		"![gallery, train](gallery_train.png)", "![gallery, test](gallery_test.png)", "dataset **synthetic**") {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}

	page, err := os.ReadFile(files.HTML)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	attrs := regexp.MustCompile(`(?i)\b(src|href)\s*=\s*"([^"]*)"`).FindAllStringSubmatch(html, -1)
	imgs := 0
	for _, a := range attrs {
		if !strings.HasPrefix(a[2], "data:") && !strings.HasPrefix(a[2], "#") {
			t.Errorf("report.html refers outside itself: %s=%q", a[1], a[2])
			continue
		}
		if pfx := "data:image/png;base64,"; strings.HasPrefix(a[2], pfx) {
			b, err := base64.StdEncoding.DecodeString(a[2][len(pfx):])
			if err != nil {
				t.Fatalf("bad base64 image: %v", err)
			}
			if _, err := png.Decode(bytes.NewReader(b)); err != nil {
				t.Errorf("embedded image is not a PNG: %v", err)
			}
			imgs++
		}
	}
	if imgs != len(want)+2 { // the plots and two galleries
		t.Errorf("report.html embeds %d images, want %d", imgs, len(want)+2)
	}
	for _, s := range []string{"<table>", `<th style="text-align:right">test ACC</th>`, "<td style=\"text-align:left\">temi</td>",
		"kmeans &lt;script&gt;", "<pre><code class=\"language-yaml\">", "<strong>synth/seed0-abc: temi vs baselines (metrics in %)</strong>"} {
		if !strings.Contains(html, s) {
			t.Errorf("report.html lacks %q", s)
		}
	}
	if strings.Contains(html, "<script") {
		t.Error("report.html carries unescaped <script")
	}

	// Building again replaces the files in place.
	if _, err := Build(dir); err != nil {
		t.Fatalf("second Build: %v", err)
	}
}

func TestBuildMissingOptionalInputs(t *testing.T) {
	s := defaultRun()
	s.noHistory, s.noLabels, s.noTables, s.noConfig, s.noDataset, s.noGallery = true, true, true, true, true, true
	s.n = map[string]int{"test": 120}
	dir := makeRun(t, s)
	files, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(files.Plots) != fmt.Sprint([]string{rundir.SizesPlot("test")}) {
		t.Errorf("plots %v, want only the cluster sizes", files.Plots)
	}
	for _, p := range []string{rundir.LossPlot, rundir.SchedulePlot, rundir.ConfusionPlot("test")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s written without its input", p)
		}
	}
	md, _ := os.ReadFile(files.Markdown)
	for _, s := range []string{"No history.jsonl", "No labels_test.npy", "No tables.md", "No config.yaml", "No gallery_test.png", "## Notes"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks the note %q:\n%s", s, md)
		}
	}
	if len(files.Notes) != 5 {
		t.Errorf("notes %q, want 5", files.Notes)
	}

	// Labels without dataset.json: confusion by class index, with a note.
	s = defaultRun()
	s.noDataset = true
	dir = makeRun(t, s)
	files, err = Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(files.Notes, "\n"), "No dataset.json") {
		t.Errorf("notes %q lack the missing dataset.json", files.Notes)
	}

	// Only metrics.json: a report that says what is missing.
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, rundir.MetricsFile), []byte(`{"experiment":"e","trial":"t"}`), 0o644)
	files, err = Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Plots) != 0 || !strings.Contains(strings.Join(files.Notes, "\n"), "cluster plots skipped") {
		t.Errorf("plots %v notes %q", files.Plots, files.Notes)
	}
}

func TestBuildCorruptInputs(t *testing.T) {
	cases := []struct {
		name, file string
		corrupt    func(dir string) error
		wantErr    string
	}{
		{"no metrics", rundir.MetricsFile, func(d string) error { return os.Remove(filepath.Join(d, rundir.MetricsFile)) }, "metrics.json"},
		{"bad metrics", rundir.MetricsFile, func(d string) error { return os.WriteFile(filepath.Join(d, rundir.MetricsFile), []byte("{"), 0o644) }, "metrics.json"},
		{"bad history line", rundir.HistoryFile, func(d string) error {
			return os.WriteFile(filepath.Join(d, rundir.HistoryFile), []byte(`{"epoch":1,"head_losses":[1,2,3]}`+"\n\n"+`{"epoch":2,`+"\n"), 0o644)
		}, "history.jsonl line 3"},
		{"inconsistent heads", rundir.HistoryFile, func(d string) error {
			return os.WriteFile(filepath.Join(d, rundir.HistoryFile), []byte(`{"epoch":1,"head_losses":[1,2,3]}`+"\n"+`{"epoch":2,"head_losses":[1]}`+"\n"), 0o644)
		}, "history.jsonl"},
		{"garbage assign", rundir.AssignFile("train"), func(d string) error {
			return os.WriteFile(filepath.Join(d, rundir.AssignFile("train")), []byte("not numpy"), 0o644)
		}, "assign_train.npy"},
		{"float assign", rundir.AssignFile("train"), func(d string) error {
			return npy.WriteFloat32(filepath.Join(d, rundir.AssignFile("train")), make([]float32, 6), 3, 2)
		}, "assign_train.npy"},
		{"cluster id beyond k", rundir.AssignFile("test"), func(d string) error {
			return npy.WriteInt32(filepath.Join(d, rundir.AssignFile("test")), []int32{0, 1, 9, 0, 1, 2, 0, 1, 2}, 3, 3)
		}, "assign_test.npy"},
		{"too few heads", rundir.AssignFile("test"), func(d string) error {
			return npy.WriteInt32(filepath.Join(d, rundir.AssignFile("test")), []int32{0, 1, 2}, 1, 3)
		}, "assign_test.npy"},
		{"labels length", rundir.LabelsFile("train"), func(d string) error {
			return npy.WriteInt32(filepath.Join(d, rundir.LabelsFile("train")), []int32{0, 1}, 2)
		}, "labels_train.npy"},
		{"bad schedule", rundir.ScheduleFile, func(d string) error {
			return os.WriteFile(filepath.Join(d, rundir.ScheduleFile), []byte(rundir.ScheduleHeader+"\n0,1,0,0,0.9,0.1\n1,1,x,0,0.9,0.1\n"), 0o644)
		}, "schedule.csv line 3"},
		{"bad dataset", rundir.DatasetFile, func(d string) error { return os.WriteFile(filepath.Join(d, rundir.DatasetFile), []byte("[1,"), 0o644) }, "dataset.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := defaultRun()
			s.noGallery = true
			dir := makeRun(t, s)
			if err := c.corrupt(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Build(dir)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one naming %q", err, c.wantErr)
			}
		})
	}
}

func TestConfusionOrder(t *testing.T) {
	// Clusters 0..2 hold classes 2, 0, 1; cluster 3 (over-clustering) is
	// mostly class 1 and stays unmatched; labels -1 are left out.
	assign := []int32{0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 1}
	labels := []int32{2, 2, 0, 0, 0, 1, 1, 1, 1, 2, -1}
	cm, err := newConfusion(assign, labels, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(cm.rows) != "[1 2 0 3]" || cm.unlabelled != 1 || cm.classes != 3 {
		t.Fatalf("rows %v unlabelled %d classes %d", cm.rows, cm.unlabelled, cm.classes)
	}
	if fmt.Sprint(cm.counts) != "[[2 0 0] [0 3 0] [1 0 2] [0 1 1]]" {
		t.Fatalf("counts %v", cm.counts)
	}
	// Rendered, the two pure clusters are cells of the bright end of the
	// colour map, the empty cells of its dark end.
	fig, err := plotConfusion(cm, []string{"a", "b", "c"}, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	im := fig.Image()
	for _, c := range []color.RGBA{viridis(1), viridis(0), viridis(0.5)} {
		if _, _, n := colourStats(im, c); n < 500 {
			t.Errorf("confusion plot: only %d pixels of %v", n, c)
		}
	}
	if _, err := newConfusion(assign, labels[:3], 4, 3); err == nil {
		t.Error("length mismatch accepted")
	}
	if _, err := newConfusion([]int32{0}, []int32{-1}, 1, 3); err == nil {
		t.Error("no labelled sample accepted")
	}
}

// manyClasses returns a confusion of k clusters against k classes (each
// cluster spread over 3 classes) and the class names, one of them long.
func manyClasses(t testing.TB, k int) (*confusion, []string) {
	classes := make([]string, k)
	for i := range classes {
		classes[i] = fmt.Sprintf("class_%03d", i)
	}
	classes[3] = "great white shark, white shark, man-eater, man-eating shark"
	rng := rand.New(rand.NewSource(2))
	const n = 50000
	assign, labels := make([]int32, n), make([]int32, n)
	for i := range labels {
		labels[i] = int32(rng.Intn(k))
		assign[i] = (labels[i]*7 + int32(rng.Intn(3))) % int32(k)
	}
	cm, err := newConfusion(assign, labels, k, k)
	if err != nil {
		t.Fatal(err)
	}
	return cm, classes
}

// TestConfusionManyClasses checks the CIFAR-100 scale: every class and
// cluster labelled up to maxTickLabels (the names below the matrix put
// ink in a band of their length), none beyond.
func TestConfusionManyClasses(t *testing.T) {
	var heights [2]int
	for i, k := range []int{100, maxTickLabels + 30} {
		cm, classes := manyClasses(t, k)
		start := time.Now()
		fig, err := plotConfusion(cm, classes, "t", "s")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := (vgimg.PngCanvas{Canvas: fig}).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d classes: %v to draw and encode", k, time.Since(start))
		im := fig.Image()
		b := im.Bounds()
		heights[i] = b.Dy()
		if k <= maxTickLabels && (b.Dx() < 11*k || b.Dy() < 11*k) {
			t.Errorf("%d classes: %v is too small for 11-pixel cells", k, b.Size())
		}
		// The heat map's bottom edge: the lowest row of viridis pixels.
		bottom := 0
		for y := b.Max.Y - 1; y >= 0 && bottom == 0; y-- {
			for x := 0; x < b.Dx(); x++ {
				if viridisPixelAt(im, x, y) {
					bottom = y
					break
				}
			}
		}
		// Ink in the band of the rotated names, 20 to 60 pixels below.
		dark := 0
		for y := bottom + 20; y < min(bottom+60, b.Max.Y); y++ {
			for x := 0; x < b.Dx(); x++ {
				if g := color.GrayModel.Convert(im.At(x, y)).(color.Gray).Y; g < 128 {
					dark++
				}
			}
		}
		if labelled := k <= maxTickLabels; labelled != (dark > 500) {
			t.Errorf("%d classes: %d dark pixels below the matrix, want labels %v", k, dark, labelled)
		}
	}
	if heights[1] >= heights[0] {
		t.Errorf("unlabelled matrix %d pixels high, labelled one %d", heights[1], heights[0])
	}
}

// TestPlotLossNaN: a diverged epoch breaks the curves instead of failing
// the plot; a history with nothing finite is an error, not a panic.
func TestPlotLossNaN(t *testing.T) {
	var hist []rundir.EpochRecord
	for e := 1; e <= 10; e++ {
		l := []float64{-float64(e), 1 - float64(e)}
		if e == 5 {
			l[0] = math.NaN()
		}
		hist = append(hist, rundir.EpochRecord{Epoch: e, HeadLosses: l})
	}
	fig, err := plotLoss(hist, 0, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, n := colourStats(fig.Image(), bestCol); n < 200 {
		t.Errorf("only %d pixels of the selected head", n)
	}
	for i := range hist {
		hist[i].HeadLosses = []float64{math.NaN(), math.Inf(1)}
	}
	if _, err := plotLoss(hist, 0, "t", "s"); err == nil {
		t.Error("a loss history without a finite value was plotted")
	}
}

func TestClusterSummaries(t *testing.T) {
	assign := []int32{0, 0, 0, 0, 1, 1, 3, 3, 3}
	labels := []int32{2, 2, 2, 1, 0, 0, 1, 1, 2}
	s, err := ClusterSummaries(assign, labels, []string{"airplane", "bird", "cat"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 5 {
		t.Fatalf("%d summaries", len(s))
	}
	want := []string{
		"cluster 0 → cat, purity 75% (n=4)",
		"cluster 1 → airplane, purity 100% (n=2)",
		"cluster 2 (empty)",
		"cluster 3 → bird, purity 67% (n=3)",
		"cluster 4 (empty)",
	}
	for i, w := range want {
		if got := s[i].Title(); got != w {
			t.Errorf("cluster %d: %q, want %q", i, got, w)
		}
	}
	// More clusters than classes: the extra one is named by its majority.
	s, err = ClusterSummaries([]int32{0, 0, 1, 1, 2, 2, 2}, []int32{0, 0, 0, 1, 1, 1, 0}, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := s[1].Title(); got != "cluster 1 (unmatched) mostly class 0 50% (n=2)" {
		t.Errorf("unmatched: %q", got)
	}
	if s[2].Class != 1 || math.Abs(s[2].Purity-2.0/3) > 1e-12 {
		t.Errorf("cluster 2: %+v", s[2])
	}
	s, err = ClusterSummaries([]int32{0, 1, 1}, nil, nil, 0)
	if err != nil || len(s) != 2 || s[1].Title() != "cluster 1 (n=2)" {
		t.Errorf("without labels: %v %+v", err, s)
	}
	if _, err := ClusterSummaries([]int32{0, 5}, nil, nil, 3); err == nil {
		t.Error("cluster id beyond k accepted")
	}
}

func TestGalleryPicks(t *testing.T) {
	// Cluster 0 (samples 0-7) is matched to class 1: samples 2, 5 and 7
	// are of other classes, 6 has no label. Cluster 1 (8-11) is class 0,
	// all correct. Cluster 2 (12-14) is unmatched (three clusters, two
	// classes): its majority is class 1, sample 13 is not. Cluster 3 is
	// empty.
	assign := []int32{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2}
	labels := []int32{1, 1, 0, 1, 1, 0, -1, 0, 0, 0, 0, 0, 1, 0, 1}
	nan := float32(math.NaN())
	conf := []float32{0.9, 0.5, 0.95, 0.6, nan, 0.3, 0.99, 0.6, 0.8, 0.7, 0.9, 0.6, 0.5, 0.4, 0.45}
	sums, err := ClusterSummaries(assign, labels, []string{"zero", "one"}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if sums[0].Class != 1 || sums[1].Class != 0 || sums[2].Class != -1 || sums[2].Majority != 1 {
		t.Fatalf("test set-up: summaries %+v", sums)
	}
	picks, err := GalleryPicks(assign, conf, labels, sums, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Cluster 0 by confidence: 6 (.99), 2 (.95), 0 (.9), then the tie 3
	// and 7 (.6) by index, 1 (.5), 5 (.3), NaN (4) last.
	want := []string{
		"confident [6 2 0] unsure [4 5 1] misassigned [2 7 5] versus 1 matched true",
		"confident [10 8 9] unsure [11] misassigned [] versus 0 matched true",
		"confident [12 14 13] unsure [] misassigned [13] versus 1 matched false",
		"confident [] unsure [] misassigned [] versus -1 matched false",
	}
	show := func(p ClusterPicks) string {
		return fmt.Sprintf("confident %v unsure %v misassigned %v versus %d matched %v", p.Confident, p.Unsure, p.Misassigned, p.Versus, p.Matched)
	}
	for c, w := range want {
		if got := show(picks[c]); got != w {
			t.Errorf("cluster %d: %s\n want %s", c, got, w)
		}
	}
	if picks[1].Misassigned == nil || picks[3].Misassigned != nil {
		t.Errorf("a labelled pure cluster has an empty misassigned group, an empty cluster none: %#v %#v", picks[1].Misassigned, picks[3].Misassigned)
	}
	// Few members: the least confident group never repeats the most
	// confident ones.
	picks, _ = GalleryPicks(assign, conf, labels, sums, 10)
	if got := fmt.Sprint(picks[0].Confident, picks[0].Unsure); got != "[6 2 0 3 7 1 5 4] []" {
		t.Errorf("all of cluster 0: %s", got)
	}

	// Without labels (nil, or every label unknown) there is no
	// misassigned group, and the rows have two groups.
	unknown := make([]int32, len(assign))
	for i := range unknown {
		unknown[i] = -1
	}
	for name, lab := range map[string][]int32{"nil": nil, "all -1": unknown} {
		sums, err := ClusterSummaries(assign, lab, nil, 4)
		if err != nil {
			t.Fatal(err)
		}
		picks, err := GalleryPicks(assign, conf, lab, sums, 2)
		if err != nil {
			t.Fatal(err)
		}
		for c, p := range picks {
			if p.Misassigned != nil || p.Versus != -1 {
				t.Errorf("%s labels, cluster %d: %s", name, c, show(p))
			}
		}
		rows := GalleryRows(sums, picks, conf, lab, nil, digit)
		if len(rows[0].Groups) != 2 || rows[0].Groups[0].Label != "most confident" || rows[0].Groups[1].Label != "least confident" {
			t.Errorf("%s labels: groups %+v", name, rows[0].Groups)
		}
		if rows[0].Title != "cluster 0 (n=8)" || len(rows[3].Groups) != 0 {
			t.Errorf("%s labels: titles %q, %q with %d groups", name, rows[0].Title, rows[3].Title, len(rows[3].Groups))
		}
	}

	// Without probabilities: members in index order.
	picks, _ = GalleryPicks(assign, nil, nil, sums, 2)
	if got := fmt.Sprint(picks[0].Confident, picks[0].Unsure); got != "[0 1] [7 6]" {
		t.Errorf("without probabilities: %s", got)
	}
	if _, err := GalleryPicks(assign, conf[:3], labels, sums, 2); err == nil {
		t.Error("probabilities of another length accepted")
	}
	if _, err := GalleryPicks(assign, conf, labels[:3], sums, 2); err == nil {
		t.Error("labels of another length accepted")
	}
	if _, err := GalleryPicks(assign, conf, labels, sums[:2], 2); err == nil {
		t.Error("cluster id beyond the summaries accepted")
	}
}

func TestGalleryRows(t *testing.T) {
	assign := []int32{0, 0, 0, 0, 1, 1}
	labels := []int32{1, 1, 0, 2, 0, 0}
	conf := []float32{0.999, 0.5, 0.97, 0.2, 0.8, 1}
	classes := []string{"airplane", "bird", "cat"}
	sums, err := ClusterSummaries(assign, labels, classes, 2)
	if err != nil {
		t.Fatal(err)
	}
	picks, err := GalleryPicks(assign, conf, labels, sums, 2)
	if err != nil {
		t.Fatal(err)
	}
	rows := GalleryRows(sums, picks, conf, labels, classes, func(i int) image.Image {
		if i == 3 {
			return nil // not read back: left out
		}
		return digit(i)
	})
	if rows[0].Title != "cluster 0 → bird, purity 50% (n=4)" {
		t.Errorf("title %q", rows[0].Title)
	}
	var got []string
	for _, g := range rows[0].Groups {
		var items []string
		for _, it := range g.Items {
			items = append(items, it.Caption+"/"+it.Note)
		}
		got = append(got, g.Label+": "+strings.Join(items, " "))
	}
	want := []string{
		"most confident: 0.99/ 0.97/airplane",
		"least confident: 0.50/",
		"misassigned (not bird), most confident first: 0.97/airplane",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups\n%q\nwant\n%q", got, want)
	}
	if len(rows[1].Groups) != 3 || len(rows[1].Groups[2].Items) != 0 || rows[1].Groups[1].Empty != "(all shown)" {
		t.Errorf("pure two-member cluster: %+v", rows[1].Groups)
	}
	path := filepath.Join(t.TempDir(), "g.png")
	if err := RenderGallery(path, rows); err != nil {
		t.Fatal(err)
	}
	// The true class under a misassigned image is written in red (the
	// thumbnails are grey, the rest of the text dark or grey).
	if n := reddish(readPNG(t, path)); n < 20 {
		t.Errorf("only %d red pixels of true-class notes", n)
	}
	for i := range rows {
		for j := range rows[i].Groups {
			for k := range rows[i].Groups[j].Items {
				rows[i].Groups[j].Items[k].Note = ""
			}
		}
	}
	if err := RenderGallery(path, rows); err != nil {
		t.Fatal(err)
	}
	if n := reddish(readPNG(t, path)); n != 0 {
		t.Errorf("%d red pixels without notes", n)
	}
}

// reddish counts the pixels of a clearly red hue.
func reddish(im image.Image) int {
	n := 0
	b := im.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(im.At(x, y)).(color.RGBA)
			if int(c.R) > int(c.G)+60 && int(c.R) > int(c.B)+60 {
				n++
			}
		}
	}
	return n
}

// TestRenderGalleryGroups: groups line up in columns across rows, each
// under its label, with captions under the thumbnails.
func TestRenderGalleryGroups(t *testing.T) {
	items := func(from, n int, caption string) []GalleryImage {
		var out []GalleryImage
		for i := range n {
			out = append(out, GalleryImage{Image: digit(from + i), Caption: caption})
		}
		return out
	}
	rows := []GalleryRow{
		{Title: "cluster 0", Groups: []GalleryGroup{{Label: "most confident", Items: items(0, 3, "0.99")}, {Label: "least", Items: items(3, 1, "0.20")}, {Label: "misassigned", Items: items(4, 2, "0.90")}}},
		{Title: "cluster 1", Groups: []GalleryGroup{{Label: "most confident", Items: items(6, 1, "0.99")}, {Label: "least", Empty: "(all shown)"}, {Label: "misassigned", Items: items(7, 1, "0.90")}}},
	}
	path := filepath.Join(t.TempDir(), "g.png")
	if err := RenderGallery(path, rows); err != nil {
		t.Fatal(err)
	}
	im := readPNG(t, path)
	face, _ := captionFace(galleryFontPx)
	small, _ := captionFace(gallerySmallPx)
	_, lineH := captionLayout(face)
	_, sLineH := captionLayout(small)
	titleH, labelH, capH := lineH+6, sLineH+3, sLineH+2
	rowH := titleH + labelH + galleryThumb + capH + galleryPad
	col0 := max(3*(galleryThumb+galleryGap)-galleryGap, captionWidth(small, "most confident"))
	col1 := max(galleryThumb, captionWidth(small, "least"), captionWidth(small, "(all shown)"))
	col2 := 2*(galleryThumb+galleryGap) - galleryGap
	wantW := col0 + col1 + col2 + 2*galleryGroupGap + 2*galleryPad
	if b := im.Bounds(); b.Dx() != wantW || b.Dy() != galleryPad+2*rowH {
		t.Fatalf("size %v, want %dx%d", b.Size(), wantW, galleryPad+2*rowH)
	}
	// The first thumbnail of the third group of each row starts at the
	// same x: a sharp 2×2 block of the digit's top-left pixel.
	x := galleryPad + col0 + col1 + 2*galleryGroupGap
	for r, first := range []int{4, 7} {
		y := galleryPad/2 + r*rowH + titleH + labelH
		want := digit(first).(*image.Gray).GrayAt(0, 0).Y
		for _, d := range []image.Point{{0, 0}, {1, 1}} {
			if got := color.GrayModel.Convert(im.At(x+d.X, y+d.Y)).(color.Gray).Y; got != want {
				t.Errorf("row %d, group 3: pixel %v is %d, want %d", r, d, got, want)
			}
		}
	}
	// Caption ink below the thumbnails of row 0.
	dark := 0
	y0 := galleryPad/2 + titleH + labelH + galleryThumb
	for y := y0; y < y0+capH; y++ {
		for x := 0; x < wantW; x++ {
			if g := color.GrayModel.Convert(im.At(x, y)).(color.Gray).Y; g < 160 {
				dark++
			}
		}
	}
	if dark < 50 {
		t.Errorf("%d dark pixels in the caption band", dark)
	}
}

// TestReadConfidence: the assigned cluster's probability from the [N, K]
// file, the stored top probability of an old run directory, and errors
// naming a damaged file.
func TestReadConfidence(t *testing.T) {
	dir := t.TempDir()
	assign := []int32{2, 0, 1}
	probs := []float32{0.1, 0.2, 0.7, 0.6, 0.3, 0.1, 0.25, 0.5, 0.25}
	if _, _, err := ReadConfidence(dir, "test", assign); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no file: %v, want fs.ErrNotExist", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(npy.WriteFloat32(filepath.Join(dir, rundir.LegacyProbsFile("test")), []float32{0.7, 0.6, 0.5}, 3))
	conf, from, err := ReadConfidence(dir, "test", assign)
	if err != nil || from != rundir.LegacyProbsFile("test") || fmt.Sprint(conf) != "[0.7 0.6 0.5]" {
		t.Errorf("legacy: %v from %s (%v)", conf, from, err)
	}
	must(npy.WriteFloat32(filepath.Join(dir, rundir.ProbsFile("test")), probs, 3, 3))
	conf, from, err = ReadConfidence(dir, "test", assign)
	if err != nil || from != rundir.ProbsFile("test") || fmt.Sprint(conf) != "[0.7 0.6 0.5]" {
		t.Errorf("[N, K]: %v from %s (%v)", conf, from, err)
	}
	// Many rows and clusters: read a block at a time.
	const n, k = 3000, 500
	big := make([]float32, n*k)
	bigAssign := make([]int32, n)
	for i := range n {
		bigAssign[i] = int32((i * 7) % k)
		big[i*k+int(bigAssign[i])] = float32(i) / n
	}
	must(npy.WriteFloat32(filepath.Join(dir, rundir.ProbsFile("train")), big, n, k))
	conf, _, err = ReadConfidence(dir, "train", bigAssign)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range conf {
		if c != float32(i)/n {
			t.Fatalf("row %d: %v, want %v", i, c, float32(i)/n)
		}
	}
	for name, c := range map[string]struct {
		data  []float32
		shape []int
		trunc bool
	}{
		"rows":      {probs[:6], []int{2, 3}, false},
		"rank":      {probs[:3], []int{3}, false},
		"cluster":   {probs[:6], []int{3, 2}, false},
		"truncated": {probs, []int{3, 3}, true},
	} {
		path := filepath.Join(dir, rundir.ProbsFile("test"))
		must(npy.WriteFloat32(path, c.data, c.shape...))
		if c.trunc {
			st, _ := os.Stat(path)
			must(os.Truncate(path, st.Size()-4))
		}
		if _, _, err := ReadConfidence(dir, "test", assign); err == nil || !strings.Contains(err.Error(), rundir.ProbsFile("test")) {
			t.Errorf("%s: error %v, want one naming %s", name, err, rundir.ProbsFile("test"))
		}
	}
}

func TestRenderGallery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.png")
	rows := []GalleryRow{
		{Title: "cluster 0 → airplane, purity 92%", Images: []image.Image{digit(0), digit(1), digit(2)}},
		{Title: "cluster 1 (empty)"},
		{Title: "cluster 2 → cat", Images: []image.Image{digit(3)}},
	}
	if err := RenderGallery(path, rows); err != nil {
		t.Fatal(err)
	}
	im := readPNG(t, path)
	face, err := captionFace(galleryFontPx)
	if err != nil {
		t.Fatal(err)
	}
	_, lineH := captionLayout(face)
	titleH := lineH + 6
	rowH := titleH + galleryThumb + galleryPad
	titleW := captionWidth(face, rows[0].Title)
	// A real font: a 33-character caption at 14 pixels is wider than the
	// thumbnails, narrower than a monospace 14 × 0.6 per character.
	if titleW < 150 || titleW > 33*9 {
		t.Errorf("caption width %d pixels", titleW)
	}
	wantW := max(3*(galleryThumb+galleryGap)-galleryGap, titleW) + 2*galleryPad
	if b := im.Bounds(); b.Dx() != wantW || b.Dy() != galleryPad+3*rowH {
		t.Fatalf("size %v, want %dx%d", b.Size(), wantW, galleryPad+3*rowH)
	}
	// 28×28 thumbnails are doubled with nearest neighbour: every source
	// pixel becomes a 2×2 block of the same grey.
	y0 := galleryPad/2 + titleH
	for _, p := range []image.Point{{0, 0}, {5, 7}, {27, 27}} {
		for j, x0 := range []int{galleryPad, galleryPad + galleryThumb + galleryGap} {
			want := digit(j).(*image.Gray).GrayAt(p.X, p.Y).Y
			for _, d := range []image.Point{{0, 0}, {1, 1}} {
				got := color.GrayModel.Convert(im.At(x0+2*p.X+d.X, y0+2*p.Y+d.Y)).(color.Gray).Y
				if got != want {
					t.Errorf("image %d pixel %v%v: %d, want %d", j, p, d, got, want)
				}
			}
		}
	}
	// The title is drawn: dark pixels in the title band of row 0.
	dark := 0
	for y := galleryPad / 2; y < galleryPad/2+titleH; y++ {
		for x := 0; x < wantW; x++ {
			if g := color.GrayModel.Convert(im.At(x, y)).(color.Gray).Y; g < 80 {
				dark++
			}
		}
	}
	if dark < 200 {
		t.Errorf("title band has %d dark pixels", dark)
	}
	if err := RenderGallery(path, nil); err == nil {
		t.Error("empty gallery accepted")
	}
	// Large images are shrunk to galleryMaxSide.
	big := image.NewRGBA(image.Rect(0, 0, 224, 112))
	if err := RenderGallery(path, []GalleryRow{{Title: "big", Images: []image.Image{big}}}); err != nil {
		t.Fatal(err)
	}
	if w, h := thumbScale(224, 112); w != galleryMaxSide || h != galleryMaxSide/2 {
		t.Errorf("thumbScale(224,112) = %d,%d", w, h)
	}
	if w, h := thumbScale(32, 32); w != 64 || h != 64 {
		t.Errorf("thumbScale(32,32) = %d,%d", w, h)
	}
}

func TestMarkdownToHTML(t *testing.T) {
	// The table is as runner/tables writes it: caption in bold, cells
	// escaped with backslashes.
	md := "# Title & <x>\n\nsome **bold** and `a<b` text <script>alert(1)</script>\n\n" +
		"**cifar10\\|cifar100: temi\\_x vs \\*baselines\\***\n\n" +
		"| dataset | test ACC | note |\n|:--|--:|:-:|\n| cifar10\\|cifar100 | 81.5 | kmeans \\<script\\> \\[1\\] |\n\n" +
		"```yaml\nk: <v>\n```\n\n- one\n- [two](http://example.com) <http://example.org> [three](#notes) ![p & q](p.png)\n"
	var srcs []string
	got, err := markdownToHTML(md, func(src string) (string, error) {
		srcs = append(srcs, src)
		return "data:image/png;base64,iVBO+/w==", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"<h1>Title &amp; ",
		"<p>some <strong>bold</strong> and <code>a&lt;b</code> text ",
		"<p><strong>cifar10|cifar100: temi_x vs *baselines*</strong></p>",
		"<th style=\"text-align:left\">dataset</th>\n<th style=\"text-align:right\">test ACC</th>\n<th style=\"text-align:center\">note</th>\n</tr>",
		"<tr>\n<td style=\"text-align:left\">cifar10|cifar100</td>\n<td style=\"text-align:right\">81.5</td>\n" +
			"<td style=\"text-align:center\">kmeans &lt;script&gt; [1]</td>\n</tr>",
		"<pre><code class=\"language-yaml\">k: &lt;v&gt;\n</code></pre>",
		"<li>one</li>",
		`<li>two http://example.org <a href="#notes">three</a> <img src="data:image/png;base64,iVBO+/w==" alt="p &amp; q"></li>`,
	} {
		if !strings.Contains(got, s) {
			t.Errorf("HTML lacks %q:\n%s", s, got)
		}
	}
	if n := strings.Count(got, "<td"); n != 3 {
		t.Errorf("%d table cells, want 3:\n%s", n, got)
	}
	if len(srcs) != 1 || srcs[0] != "p.png" {
		t.Errorf("image callback got %q, want [p.png]", srcs)
	}
	for _, s := range []string{"<script", "<x>", "example.com", "href=\"http"} {
		if strings.Contains(got, s) {
			t.Errorf("HTML carries %q:\n%s", s, got)
		}
	}

	// An error from the image callback is the converter's error.
	if _, err := markdownToHTML("![a](b.png)\n", func(string) (string, error) { return "", errors.New("no b.png") }); err == nil || err.Error() != "no b.png" {
		t.Errorf("callback error: got %v", err)
	}
}

// TestMDEscape checks that text escaped for report.md renders as written.
func TestMDEscape(t *testing.T) {
	for _, s := range []string{
		"No assign_<split>.npy: cluster plots skipped.",
		"labels_test.npy: bad shape [3 4]; *all* of `it` | _none_ __x__ a_ _b \\ ![i](j) <b>k</b> é_é",
	} {
		got, err := markdownToHTML("- "+mdEscape(s)+"\n", func(src string) (string, error) { return "", fmt.Errorf("image %q", src) })
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := "<li>" + html.EscapeString(s) + "</li>"; !strings.Contains(got, want) {
			t.Errorf("%q renders as %q, want %q", s, got, want)
		}
	}
	if got := mdEscape("labels_test.npy"); got != "labels_test.npy" {
		t.Errorf("mdEscape escapes an underscore within a word: %q", got)
	}
}

// TestCaptionFont checks that the embedded font covers what titles use
// (ClusterSummary.Title writes "→", subtitles "·") and that captions ink
// the image where they are drawn, anti-aliased.
func TestCaptionFont(t *testing.T) {
	f, err := sansFont()
	if err != nil {
		t.Fatal(err)
	}
	var buf sfnt.Buffer
	for _, r := range " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~→×±°·…é" {
		if g, err := f.GlyphIndex(&buf, r); err != nil || g == 0 {
			t.Errorf("Liberation Sans has no glyph for %q (%v)", r, err)
		}
	}
	path := filepath.Join(t.TempDir(), "g.png")
	if err := RenderGallery(path, []GalleryRow{{Title: "cluster 7 → café, purity 92% (n=5012)"}}); err != nil {
		t.Fatal(err)
	}
	im := readPNG(t, path)
	face, _ := captionFace(galleryFontPx)
	asc, lineH := captionLayout(face)
	dark, grey := 0, 0
	for y := galleryPad / 2; y < galleryPad/2+lineH; y++ {
		for x := 0; x < im.Bounds().Dx(); x++ {
			switch g := color.GrayModel.Convert(im.At(x, y)).(color.Gray).Y; {
			case g < 80:
				dark++
			case g < 230:
				grey++
			}
		}
	}
	if dark < 100 || grey < 50 {
		t.Errorf("caption: %d dark and %d anti-aliased pixels", dark, grey)
	}
	// "(no samples)" is written in the light grey of the other heads.
	if _, _, n := colourStats(im, otherCol); n < 20 {
		t.Errorf("empty row: %d pixels of its grey note", n)
	}
	if asc <= 0 || lineH <= asc || lineH > 2*galleryFontPx {
		t.Errorf("caption metrics: ascent %d, line %d", asc, lineH)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, c := range []struct{ lo, hi float64 }{{-1.87, -0.3}, {0, 1234}, {0.99, 0.99}, {5e-4, 2e-3}, {1, 12}} {
		ticks, step := niceTicks(c.lo, c.hi, 6, 0)
		if ticks[0] > c.lo || ticks[len(ticks)-1] < c.hi || len(ticks) < 3 || len(ticks) > 14 || step <= 0 {
			t.Errorf("niceTicks(%g, %g) = %v step %g", c.lo, c.hi, ticks, step)
		}
	}
	if f := tickFormat(0.25); f(1.5) != "1.50" {
		t.Errorf("tickFormat(0.25)(1.5) = %q", f(1.5))
	}
	if f := tickFormat(0.0005, 0.002); f(0.0015) != "0.0015" {
		t.Errorf("tickFormat(0.0005)(0.0015) = %q", f(0.0015))
	}
}

// BenchmarkBuild renders a run with 100 clusters and classes and 50000
// samples, the scale of a CIFAR-100 run.
func BenchmarkBuild(b *testing.B) {
	dir := b.TempDir()
	const k, n, heads = 100, 50000, 4
	m, _ := json.Marshal(map[string]any{"experiment": "bench", "trial": "t", "best_head": 0, "clusters": k})
	os.WriteFile(filepath.Join(dir, rundir.MetricsFile), m, 0o644)
	classes := make([]string, k)
	for i := range classes {
		classes[i] = fmt.Sprintf("class_%02d", i)
	}
	d, _ := json.Marshal(rundir.Dataset{Name: "bench", Classes: classes})
	os.WriteFile(filepath.Join(dir, rundir.DatasetFile), d, 0o644)
	rng := rand.New(rand.NewSource(2))
	assign, labels := make([]int32, heads*n), make([]int32, n)
	for i := 0; i < n; i++ {
		labels[i] = int32(rng.Intn(k))
		for h := 0; h < heads; h++ {
			assign[h*n+i] = (labels[i] + int32(rng.Intn(3))) % k
		}
	}
	npy.WriteInt32(filepath.Join(dir, rundir.AssignFile("train")), assign, heads, n)
	npy.WriteInt32(filepath.Join(dir, rundir.LabelsFile("train")), labels, n)
	var sb strings.Builder
	for e := 1; e <= 100; e++ {
		b, _ := json.Marshal(rundir.EpochRecord{Epoch: e, HeadLosses: []float64{-float64(e), -float64(e) - 1, 1, 2}, LR: 1 / float64(e), TeacherMomentum: 0.99})
		sb.Write(append(b, '\n'))
	}
	os.WriteFile(filepath.Join(dir, rundir.HistoryFile), []byte(sb.String()), 0o644)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Build(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlots times each figure at CIFAR-100 scale, drawn and encoded
// to PNG (the file write is left out): one table for
//
//	go test ./runner/report -run '^$' -bench Plots -benchtime 5x
func BenchmarkPlots(b *testing.B) {
	var hist []rundir.EpochRecord
	for e := 1; e <= 100; e++ {
		r := rundir.EpochRecord{Epoch: e, LR: 1e-3 / float64(e), TeacherMomentum: 0.996 + 4e-5*float64(e), TeacherTemp: 0.04 + 0.0003*float64(e)}
		for h := 0; h < 16; h++ {
			r.HeadLosses = append(r.HeadLosses, -math.Log(float64(e))-0.01*float64(h))
		}
		hist = append(hist, r)
	}
	cm, classes := manyClasses(b, 100)
	sizes := make([]int, 100)
	for i := range sizes {
		sizes[i] = 300 + 5*i
	}
	encode := func(b *testing.B, fig *vgimg.Canvas, err error) {
		if err != nil {
			b.Fatal(err)
		}
		if _, err := (vgimg.PngCanvas{Canvas: fig}).WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("loss-16heads-100epochs", func(b *testing.B) {
		for range b.N {
			fig, err := plotLoss(hist, 3, "Training loss per head", "bench")
			encode(b, fig, err)
		}
	})
	b.Run("schedule-100epochs", func(b *testing.B) {
		for range b.N {
			fig, err := plotSchedule(seriesFromHistory(hist), "Schedules", "bench")
			encode(b, fig, err)
		}
	})
	b.Run("sizes-100clusters", func(b *testing.B) {
		for range b.N {
			fig, err := plotClusterSizes(sizes, "Cluster sizes", "bench")
			encode(b, fig, err)
		}
	})
	b.Run("confusion-100classes", func(b *testing.B) {
		for range b.N {
			fig, err := plotConfusion(cm, classes, "Clusters vs classes", "bench")
			encode(b, fig, err)
		}
	})
	b.Run("gallery-100rows-10images", func(b *testing.B) {
		rows := make([]GalleryRow, 100)
		for i := range rows {
			rows[i].Title = fmt.Sprintf("cluster %d → class_%03d, purity 87%% (n=500)", i, i)
			for j := 0; j < 10; j++ {
				rows[i].Images = append(rows[i].Images, digit(i*10+j))
			}
		}
		path := filepath.Join(b.TempDir(), "g.png")
		for range b.N {
			if err := RenderGallery(path, rows); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestPlotLossSeparatesHeads: heads whose final losses are 0.02 apart,
// one line in the absolute panel (its scale is set by the first epochs),
// are lines tens of pixel rows apart in the relative panel, in the order
// of their losses, each labelled at its end.
func TestPlotLossSeparatesHeads(t *testing.T) {
	offsets := []float64{0.02, 0.007, 0, 0.013} // head 2 is selected (lowest)
	const best, epochs = 2, 40
	var hist []rundir.EpochRecord
	for e := 1; e <= epochs; e++ {
		r := rundir.EpochRecord{Epoch: e}
		base := -1 - 0.85*(1-math.Exp(-float64(e)/6))
		for h, off := range offsets {
			r.HeadLosses = append(r.HeadLosses, base+off+0.4*math.Exp(-float64(e)/4)*float64(h+1)/4)
		}
		hist = append(hist, r)
	}
	fig, err := plotLoss(hist, best, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	im := fig.Image()
	b := im.Bounds()
	// rowOf is the median row of the pixels of exactly colour c in the
	// columns [x0, x1) and rows [y0, y1), -1 when there are none.
	rowOf := func(c color.RGBA, x0, x1, y0, y1 int) (int, int) {
		var ys []int
		for x := x0; x < x1; x++ {
			for y := y0; y < y1; y++ {
				if color.RGBAModel.Convert(im.At(x, y)).(color.RGBA) == c {
					ys = append(ys, y)
				}
			}
		}
		if len(ys) == 0 {
			return -1, 0
		}
		return ys[len(ys)/2], len(ys)
	}
	// Columns of the second half of training, inside the data area (the
	// labels are right of it, past 75% of the width).
	x0, x1 := b.Dx()*45/100, b.Dx()*70/100
	zero, _ := rowOf(bestCol, x0, x1, b.Dy()/2, b.Dy())
	if zero < 0 {
		t.Fatal("no zero line of the selected head in the bottom panel")
	}
	// The zero line ends at the data area's right edge; the labels'
	// leaders start just after it.
	right := x1
	for right < b.Dx() && color.RGBAModel.Convert(im.At(right, zero)).(color.RGBA) == bestCol {
		right++
	}
	if right < b.Dx()*2/3 || right > b.Dx()*9/10 {
		t.Fatalf("the zero line ends at column %d of %d", right, b.Dx())
	}
	rows := map[int]int{best: zero}
	for h := range offsets {
		if h == best {
			continue
		}
		y, n := rowOf(headColour(h, best), x0, x1, 0, b.Dy())
		if y < 0 || n < 100 {
			t.Fatalf("head %d: %d pixels of its colour %v", h, n, headColour(h, best))
		}
		if y < b.Dy()/2 {
			t.Errorf("head %d drawn in colour in the top panel (row %d)", h, y)
		}
		rows[h] = y
		// Its label's leader, in its colour, right of the data area.
		if _, n := rowOf(headColour(h, best), right+1, right+30, b.Dy()/2, b.Dy()); n < 10 {
			t.Errorf("head %d: no label leader (%d pixels)", h, n)
		}
	}
	// Higher loss is higher up: head 0 (+0.02), 3 (+0.013), 1 (+0.007), 2.
	order := []int{0, 3, 1, 2}
	for i := 1; i < len(order); i++ {
		a, c := order[i-1], order[i]
		gap := rows[c] - rows[a]
		if gap < 25 {
			t.Errorf("heads %d and %d (losses %.3f apart) are %d pixel rows apart in the relative panel, want at least 25",
				a, c, offsets[a]-offsets[c], gap)
		}
	}
	t.Logf("rows in the relative panel: %v", rows)
	// A single head: the absolute panel alone.
	for i := range hist {
		hist[i].HeadLosses = hist[i].HeadLosses[:1]
	}
	fig, err = plotLoss(hist, 0, "t", "s")
	if err != nil {
		t.Fatal(err)
	}
	if h := fig.Image().Bounds().Dy(); h >= 90+2*lossPanelH {
		t.Errorf("one head: figure %d pixels high, want the single panel", h)
	}
}

// TestPlotScheduleWarmup: drawn from schedule.csv, the learning rate's
// one-epoch warm-up is a ramp from 0 across the first epoch's columns;
// drawn per epoch (the fallback) it cannot be.
func TestPlotScheduleWarmup(t *testing.T) {
	const epochs, ipe = 10, 50
	path := filepath.Join(t.TempDir(), rundir.ScheduleFile)
	if err := os.WriteFile(path, []byte(scheduleCSV(epochs, ipe)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := rundir.ReadSchedule(path)
	if err != nil {
		t.Fatal(err)
	}
	var hist []rundir.EpochRecord
	for e := 1; e <= epochs; e++ {
		r := s.Steps[e*ipe-1]
		hist = append(hist, rundir.EpochRecord{Epoch: e, LR: r.LR, WeightDecay: r.WeightDecay, TeacherMomentum: r.TeacherMomentum, TeacherTemp: r.TeacherTemp})
	}
	// rise is how far the learning-rate curve climbs over the first
	// tenth of its columns, as a share of its whole height.
	rise := func(ser scheduleSeries) float64 {
		fig, err := plotSchedule(ser, "t", "s")
		if err != nil {
			t.Fatal(err)
		}
		im := fig.Image()
		b := im.Bounds()
		top := make([]int, b.Dx())    // topmost blue row of each column, -1: none
		bottom := make([]int, b.Dx()) // and the lowest
		for x := 0; x < b.Dx(); x++ {
			top[x] = -1
			for y := 0; y < b.Dy()/3; y++ { // the first of four panels
				if color.RGBAModel.Convert(im.At(x, y)).(color.RGBA) == blueCol {
					if top[x] < 0 {
						top[x] = y
					}
					bottom[x] = y
				}
			}
		}
		// The curve: the longest run of columns with blue (the y label,
		// in the same blue, is a narrow run left of it).
		c0, c1 := 0, 0
		for x := 0; x < len(top); {
			if top[x] < 0 {
				x++
				continue
			}
			e := x
			for e < len(top) && top[e] >= 0 {
				e++
			}
			if e-x > c1-c0 {
				c0, c1 = x, e
			}
			x = e
		}
		if c1-c0 < 300 {
			t.Fatalf("learning-rate curve spans only columns %d-%d", c0, c1)
		}
		lo, hi := b.Dy(), 0
		for x := c0; x < c1; x++ {
			lo, hi = min(lo, top[x]), max(hi, bottom[x])
		}
		first := c0 + (c1-c0)/10
		return float64(bottom[c0]-top[first-2]) / float64(hi-lo)
	}
	if r := rise(seriesFromSchedule(s)); r < 0.9 {
		t.Errorf("per step: the learning rate climbs %.0f%% of its height in the first epoch, want a ramp of at least 90%%", 100*r)
	}
	if r := rise(seriesFromHistory(hist)); r > 0.1 {
		t.Errorf("per epoch: the learning rate climbs %.0f%% of its height in the first tenth", 100*r)
	}
}

// TestBuildOldRunDirectory: a run directory of an older trainer (no
// schedule.csv, probs_<split>_best.npy) still reports, with a note, and
// its confidence is the stored top probability.
func TestBuildOldRunDirectory(t *testing.T) {
	s := defaultRun()
	s.noSchedule, s.legacyProbs = true, true
	dir := makeRun(t, s)
	files, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files.Notes) != 1 || !strings.Contains(files.Notes[0], "No schedule.csv") {
		t.Errorf("notes %q, want one about the missing schedule.csv", files.Notes)
	}
	if !slices.Contains(files.Plots, rundir.SchedulePlot) {
		t.Errorf("plots %v lack the per-epoch schedule", files.Plots)
	}
	if _, err := os.Stat(filepath.Join(dir, rundir.ProbsFile("test"))); err == nil {
		t.Fatal("test set-up: the old directory has probs_test.npy")
	}
	a, _, _ := npy.ReadInt32(filepath.Join(dir, rundir.AssignFile("test")))
	n := len(a) / s.heads
	conf, from, err := ReadConfidence(dir, "test", a[s.best*n:(s.best+1)*n])
	if err != nil || from != rundir.LegacyProbsFile("test") || len(conf) != n {
		t.Errorf("confidence of an old directory: %d values from %s (%v)", len(conf), from, err)
	}
}
