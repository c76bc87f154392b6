package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/internal/testblobs"
)

// blobs writes train and test embeddings of `classes` well separated
// Gaussian blobs and the brute-force cosine k-NN graph of the train split.
type blobs struct {
	dir                    string
	train, test, neighbour string
	trainLabels            []int
	testLabels             []int
	n, d, k, classes       int
}

func makeBlobs(t *testing.T, n, d, classes, k int) blobs {
	t.Helper()
	dir := t.TempDir()
	// Orthogonal centres: separable in angle too.
	gen := testblobs.Blobs{Centres: testblobs.Separated(classes, d), Noise: 0.6, R: rand.New(rand.NewPCG(21, 21))}
	b := blobs{dir: dir, n: n, d: d, k: k, classes: classes}
	var xtr, xte []float32
	xtr, b.trainLabels = gen.Draw(n)
	xte, b.testLabels = gen.Draw(n / 4)
	b.train, b.test, b.neighbour = filepath.Join(dir, "train.npy"), filepath.Join(dir, "test.npy"), filepath.Join(dir, "knn.npy")
	must(t, npy.WriteFloat32(b.train, xtr, n, d))
	must(t, npy.WriteFloat32(b.test, xte, n/4, d))
	must(t, npy.WriteInt32(b.neighbour, bruteKNN(xtr, n, d, k), n, k))
	return b
}

// bruteKNN is docs/TEMI.md section 1: cosine similarity, self excluded, most
// similar first.
func bruteKNN(x []float32, n, d, k int) []int32 {
	unit := make([]float64, n*d)
	for i := range n {
		var s float64
		for j := range d {
			s += float64(x[i*d+j]) * float64(x[i*d+j])
		}
		s = math.Sqrt(s)
		for j := range d {
			unit[i*d+j] = float64(x[i*d+j]) / s
		}
	}
	out := make([]int32, 0, n*k)
	idx := make([]int, n)
	sim := make([]float64, n)
	for i := range n {
		for j := range n {
			idx[j] = j
			var s float64
			for c := range d {
				s += unit[i*d+c] * unit[j*d+c]
			}
			sim[j] = s
		}
		sim[i] = math.Inf(-1)
		sort.SliceStable(idx, func(a, b int) bool { return sim[idx[a]] > sim[idx[b]] })
		for _, j := range idx[:k] {
			out = append(out, int32(j))
		}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// accuracy is the best one-to-one matching of clusters to classes (by
// brute force over permutations; few classes here).
func accuracy(pred []int32, labels []int, k int) float64 {
	counts := make([][]int, k)
	for i := range counts {
		counts[i] = make([]int, k)
	}
	for i, p := range pred {
		counts[p][labels[i]]++
	}
	perm := make([]int, k)
	for i := range perm {
		perm[i] = i
	}
	best := 0
	var rec func(int)
	rec = func(i int) {
		if i == k {
			s := 0
			for c, l := range perm {
				s += counts[c][l]
			}
			best = max(best, s)
			return
		}
		for j := i; j < k; j++ {
			perm[i], perm[j] = perm[j], perm[i]
			rec(i + 1)
			perm[i], perm[j] = perm[j], perm[i]
		}
	}
	rec(0)
	return float64(best) / float64(len(pred))
}

func blobOptions(epochs int) core.Options {
	return core.Options{
		OptHeads: 3, OptEpochs: epochs, OptBatchSize: 64, OptLR: 0.02, OptMinLR: 0.002, OptWarmupEpochs: 1,
		OptHiddenDim: 32, OptBottleneckDim: 16, OptKNN: 5, OptMomentumTeacher: 0.9, OptMaxMomentumTeacher: 0.99,
	}
}

func blobRequest(b blobs, opts core.Options, out string) core.FitRequest {
	return core.FitRequest{Options: opts, Train: b.train, Neighbours: b.neighbour,
		Assign: map[string]string{"train": b.train, "test": b.test}, Clusters: b.classes, Seed: 5, Backend: "go", OutDir: out}
}

func withBackend(r core.FitRequest, name string) core.FitRequest {
	r.Backend = name
	return r
}

func readHistory(t *testing.T, path string) []rundir.EpochRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []rundir.EpochRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r rundir.EpochRecord
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("history line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// TestFitBlobs trains on four separable blobs end to end and checks the
// accuracy of the label-free best head and every output file.
func TestFitBlobs(t *testing.T) {
	backends := []string{"go"}
	if onnxTagged {
		backends = append(backends, "onnx")
	}
	for _, be := range backends {
		t.Run(be, func(t *testing.T) { testFitBlobs(t, be) })
	}
}

func testFitBlobs(t *testing.T, backendName string) {
	b := makeBlobs(t, 512, 16, 4, 10)
	out := filepath.Join(b.dir, "run")
	req := blobRequest(b, blobOptions(12), out)
	req.Backend = backendName
	const epochs = 12
	var msgs []string
	steps := 0
	res, err := NewLoss(pmiLoss{}).Fit(context.Background(), req, func(p core.Progress) {
		if p.Message != "" {
			msgs = append(msgs, p.Message)
		}
		if p.Step > 0 {
			steps = p.Step
			if p.Steps != epochs*8 || p.Epochs != epochs {
				t.Errorf("progress %+v: want %d steps, %d epochs", p, epochs*8, epochs)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Backend, backendName) || len(res.HeadLosses) != 3 || res.BestHead < 0 || res.BestHead > 2 || steps != epochs*8 {
		t.Errorf("result %+v, last step %d", res, steps)
	}
	if len(msgs) == 0 || !strings.Contains(msgs[0], "backend "+backendName) {
		t.Errorf("first message %q, want the backend", msgs)
	}
	for _, l := range res.HeadLosses {
		if l < res.HeadLosses[res.BestHead] {
			t.Errorf("best head %d has loss %g, head losses %v", res.BestHead, res.HeadLosses[res.BestHead], res.HeadLosses)
		}
	}
	hist := readHistory(t, res.History)
	if len(hist) != epochs || hist[epochs-1].Epoch != epochs || len(hist[0].HeadLosses) != 3 {
		t.Fatalf("history %+v", hist)
	}
	if hist[epochs-1].Loss >= hist[0].Loss {
		t.Errorf("loss did not decrease: %g -> %g", hist[0].Loss, hist[epochs-1].Loss)
	}
	for i, r := range hist {
		if r.TeacherTemp != 0.1 || r.LR <= 0 || r.TeacherMomentum < 0.9 || r.Seconds <= 0 {
			t.Errorf("history line %d: %+v", i, r)
		}
		for h, l := range r.HeadLosses {
			if math.Abs(l-res.HeadLosses[h]) > 0 && i == epochs-1 {
				t.Errorf("last history line %v differs from the result %v", r.HeadLosses, res.HeadLosses)
			}
		}
	}
	for split, labels := range map[string][]int{"train": b.trainLabels, "test": b.testLabels} {
		assign, shape, err := npy.ReadInt32(res.Assignments[split])
		if err != nil {
			t.Fatal(err)
		}
		n := len(labels)
		if !slices.Equal(shape, []int{3, n}) {
			t.Fatalf("%s assignments shape %v", split, shape)
		}
		best := assign[res.BestHead*n : (res.BestHead+1)*n]
		if acc := accuracy(best, labels, 4); acc < 0.97 {
			t.Errorf("%s accuracy of the best head %.3f, want >= 0.97", split, acc)
		} else {
			t.Logf("%s accuracy of the best head %.3f", split, acc)
		}
		checkProbs(t, filepath.Join(out, rundir.ProbsFile(split)), best, 4)
		if _, err := os.Stat(filepath.Join(out, rundir.LegacyProbsFile(split))); err == nil {
			t.Errorf("%s written: the trainer writes %s instead", rundir.LegacyProbsFile(split), rundir.ProbsFile(split))
		}
	}
	checkScheduleCSV(t, filepath.Join(out, rundir.ScheduleFile), req.Options, 512/64)
	// The checkpoint is complete and readable with numpy's layout.
	specs := arch{D: 16, Heads: 3, Clusters: 4, Layers: 2, Hidden: 32, Bottle: 16}.params()
	pl, err := prepare(pmiLoss{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sv, _ := pl.step.State(3, 4)
	_, meta, err := readCheckpoint(filepath.Join(out, CheckpointFile), "", specs, sv)
	if !errors.Is(err, errOtherConfig) {
		t.Fatalf("reading with a wrong key: %v", err)
	}
	hs, meta, err := readCheckpoint(filepath.Join(out, CheckpointFile), meta.Key, specs, sv)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Epoch != epochs || meta.Iter != epochs*8 || len(meta.History) != epochs || len(hs.Teacher) != len(specs) {
		t.Errorf("checkpoint meta %+v", meta)
	}
}

// checkProbs checks a probs_<split>.npy: [N, K] float32, every row a
// probability distribution (sum 1 within 1e-5), whose argmax is the
// selected head's assignment best. Where the largest probability is tied
// (softmax rounding two close logits to the same float32) the assigned
// cluster must be one of the tied ones.
func checkProbs(t *testing.T, path string, best []int32, k int) {
	t.Helper()
	probs, shape, err := npy.ReadFloat32(path)
	n := len(best)
	if err != nil || !slices.Equal(shape, []int{n, k}) {
		t.Fatalf("%s: shape %v, want [%d %d] (%v)", path, shape, n, k, err)
	}
	ties := 0
	for i := range n {
		row := probs[i*k : (i+1)*k]
		sum, arg := 0.0, 0
		for c, p := range row {
			if !(p >= 0 && p <= 1) {
				t.Fatalf("%s row %d: probability %v", path, i, p)
			}
			sum += float64(p)
			if p > row[arg] {
				arg = c
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("%s row %d sums to %.8f", path, i, sum)
		}
		if int32(arg) != best[i] {
			if row[best[i]] != row[arg] {
				t.Errorf("%s row %d: argmax %d (p=%v), assigned cluster %d (p=%v)", path, i, arg, row[arg], best[i], row[best[i]])
			}
			ties++
		}
	}
	if ties > n/100 {
		t.Errorf("%s: %d of %d rows have a tied largest probability", path, ties, n)
	}
}

// checkScheduleCSV checks schedule.csv against the schedules the options
// give: one row per step, every value exactly the float64 the trainer
// used, and the one-epoch linear warm-up of the learning rate from 0.
func checkScheduleCSV(t *testing.T, path string, given core.Options, ipe int) {
	t.Helper()
	c, err := newConfig(resolvedOptions(t, pmiLoss{}, given))
	if err != nil {
		t.Fatal(err)
	}
	s := newSchedules(c, ipe)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != rundir.ScheduleHeader || rundir.ScheduleHeader != "step,epoch,lr,weight_decay,teacher_momentum,teacher_temp" {
		t.Fatalf("%s header %q", path, lines[0])
	}
	rows := lines[1:]
	if len(rows) != c.Epochs*ipe {
		t.Fatalf("%s has %d rows, want %d epochs x %d steps", path, len(rows), c.Epochs, ipe)
	}
	var lr []float64
	for i, line := range rows {
		f := strings.Split(line, ",")
		if len(f) != 6 {
			t.Fatalf("%s line %d: %q", path, i+2, line)
		}
		step, err1 := strconv.Atoi(f[0])
		epoch, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil || step != i || epoch != i/ipe+1 {
			t.Fatalf("%s line %d: step %q epoch %q, want %d and %d", path, i+2, f[0], f[1], i, i/ipe+1)
		}
		var v [4]float64
		for j := range v {
			if v[j], err = strconv.ParseFloat(f[2+j], 64); err != nil {
				t.Fatalf("%s line %d: %v", path, i+2, err)
			}
		}
		if want := [4]float64{s.LR[i], s.WD[i], s.Momentum[i], s.TeacherTemp[i/ipe]}; v != want {
			t.Errorf("%s step %d: %v, want %v", path, i, v, want)
		}
		lr = append(lr, v[0])
	}
	if c.WarmupEpochs != 1 {
		t.Fatalf("test set-up: warm-up of %d epochs, want 1", c.WarmupEpochs)
	}
	peak := c.LR * float64(c.BatchSize) / 256
	for i := range ipe {
		if want := peak * float64(i) / float64(ipe-1); math.Abs(lr[i]-want) > 1e-15 {
			t.Errorf("warm-up step %d: lr %v, want %v (a linear ramp from 0 to %v)", i, lr[i], want, peak)
		}
	}
}

// TestResume: a run cancelled after epoch 2 and resumed gives exactly the
// assignments and history losses of an uninterrupted run (both backends
// are deterministic here and the pairs of each epoch depend on the seed and
// the epoch alone).
func TestResume(t *testing.T) {
	backends := []string{"go"}
	if onnxTagged {
		backends = append(backends, "onnx")
	}
	for _, be := range backends {
		t.Run(be, func(t *testing.T) { testResume(t, be) })
	}
}

func testResume(t *testing.T, backendName string) {
	b := makeBlobs(t, 256, 8, 4, 6)
	opts := blobOptions(4)
	opts[OptHeads] = 2
	l := NewLoss(pmiLoss{})
	full := filepath.Join(b.dir, "full")
	if _, err := l.Fit(context.Background(), withBackend(blobRequest(b, opts, full), backendName), nil); err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(b.dir, "part")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := l.Fit(ctx, withBackend(blobRequest(b, opts, part), backendName), func(p core.Progress) {
		if p.Step == 2*4 { // the last step of epoch 2 is always reported
			cancel()
		}
	})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if h := readHistory(t, filepath.Join(part, HistoryFile)); len(h) != 2 {
		t.Fatalf("cancelled run wrote %d history lines, want 2", len(h))
	}
	var resumed bool
	if _, err := l.Fit(context.Background(), withBackend(blobRequest(b, opts, part), backendName), func(p core.Progress) {
		resumed = resumed || strings.Contains(p.Message, "resuming")
	}); err != nil {
		t.Fatal(err)
	}
	if !resumed {
		t.Error("no resume message")
	}
	for _, f := range []string{"assign_train.npy", "assign_test.npy", rundir.ProbsFile("train"), rundir.ProbsFile("test"), rundir.ScheduleFile} {
		a, err1 := os.ReadFile(filepath.Join(full, f))
		c, err2 := os.ReadFile(filepath.Join(part, f))
		if err1 != nil || err2 != nil || !bytes.Equal(a, c) {
			t.Errorf("%s differs between the uninterrupted and the resumed run (%v %v)", f, err1, err2)
		}
	}
	hf, hp := readHistory(t, filepath.Join(full, HistoryFile)), readHistory(t, filepath.Join(part, HistoryFile))
	for i := range hf {
		for h := range hf[i].HeadLosses {
			if hf[i].HeadLosses[h] != hp[i].HeadLosses[h] {
				t.Errorf("epoch %d head %d loss %v (uninterrupted) vs %v (resumed)", i+1, h, hf[i].HeadLosses[h], hp[i].HeadLosses[h])
			}
		}
	}
	// Interrupted in the middle of epoch 3: the checkpoint written on
	// interrupt resumes inside the epoch, and the result is the same.
	mid := filepath.Join(b.dir, "mid")
	ctx, cancel = context.WithCancel(context.Background())
	afterStep = func(it int) {
		if it == 2*4+1 {
			cancel()
		}
	}
	_, err = l.Fit(ctx, withBackend(blobRequest(b, opts, mid), backendName), nil)
	afterStep = nil
	cancel()
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "checkpoint written") {
		t.Fatalf("run cancelled mid-epoch: %v", err)
	}
	if _, err := l.Fit(context.Background(), withBackend(blobRequest(b, opts, mid), backendName), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"assign_train.npy", "assign_test.npy", rundir.ProbsFile("train"), rundir.ProbsFile("test"), rundir.ScheduleFile} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		c, err := os.ReadFile(filepath.Join(mid, f))
		if err != nil || !bytes.Equal(a, c) {
			t.Errorf("%s differs after a mid-epoch interrupt (%v)", f, err)
		}
	}
	hm := readHistory(t, filepath.Join(mid, HistoryFile))
	for i := range hf {
		for h := range hf[i].HeadLosses {
			if hf[i].HeadLosses[h] != hm[i].HeadLosses[h] {
				t.Errorf("mid-epoch resume: epoch %d head %d loss %v vs %v", i+1, h, hf[i].HeadLosses[h], hm[i].HeadLosses[h])
			}
		}
	}
	// With a checkpoint every 3 epochs only, an interrupt at the first step
	// of epoch 2 still saves epoch 1, which no periodic checkpoint wrote.
	sparse := filepath.Join(b.dir, "sparse")
	sopts := blobOptions(4)
	sopts[OptHeads], sopts[OptCheckpointEvery] = 2, 3
	ctx, cancel = context.WithCancel(context.Background())
	afterStep = func(it int) {
		if it == 4-1 {
			cancel()
		}
	}
	_, err = l.Fit(ctx, withBackend(blobRequest(b, sopts, sparse), backendName), nil)
	afterStep = nil
	cancel()
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "epoch 2 step 1; checkpoint written") {
		t.Fatalf("run cancelled at an epoch's start: %v", err)
	}
	var from string
	if _, err := l.Fit(context.Background(), withBackend(blobRequest(b, sopts, sparse), backendName), func(p core.Progress) {
		if strings.Contains(p.Message, "resuming") {
			from = p.Message
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(from, "after epoch 1 of") {
		t.Errorf("resumed %q, want after epoch 1", from)
	}
	for _, f := range []string{"assign_train.npy", "assign_test.npy", rundir.ProbsFile("test")} {
		a, _ := os.ReadFile(filepath.Join(full, f))
		c, err := os.ReadFile(filepath.Join(sparse, f))
		if err != nil || !bytes.Equal(a, c) {
			t.Errorf("%s differs after an interrupt between sparse checkpoints (%v)", f, err)
		}
	}
	// A finished run resumes straight to the assignment, without training,
	// and replaces the file an older trainer wrote instead of probs_<split>.npy.
	legacy := filepath.Join(full, rundir.LegacyProbsFile("test"))
	must(t, npy.WriteFloat32(legacy, []float32{0.5}, 1))
	var trained bool
	if _, err := l.Fit(context.Background(), withBackend(blobRequest(b, opts, full), backendName), func(p core.Progress) {
		trained = trained || p.Step > 0 && p.Message == ""
	}); err != nil {
		t.Fatal(err)
	}
	if trained {
		t.Error("a finished run trained again")
	}
	if _, err := os.Stat(legacy); err == nil {
		t.Errorf("%s was left beside %s", legacy, rundir.ProbsFile("test"))
	}
	// Another seed is another configuration: the checkpoint is not reused.
	req := withBackend(blobRequest(b, opts, part), backendName)
	req.Seed++
	var ignored bool
	if _, err := l.Fit(context.Background(), req, func(p core.Progress) {
		ignored = ignored || strings.Contains(p.Message, "another configuration")
	}); err != nil {
		t.Fatal(err)
	}
	if !ignored {
		t.Error("a checkpoint of another seed was not reported as ignored")
	}
}

// TestNonFiniteLossStops: a loss that turns NaN in epoch 2 stops training
// with a clear error, keeping the checkpoint and history of epoch 1.
func TestNonFiniteLossStops(t *testing.T) {
	b := makeBlobs(t, 128, 8, 2, 6)
	opts := blobOptions(3)
	opts[OptWarmupTeacherTemp], opts[OptTeacherTemp], opts[OptWarmupTeacherTempEpochs] = 0.2, 0.1, 2
	out := filepath.Join(b.dir, "nan")
	_, err := NewLoss(pmiLoss{nanBelowTeacherTemp: 0.15}).Fit(context.Background(), blobRequest(b, opts, out), nil)
	if err == nil || !strings.Contains(err.Error(), "NaN") || !strings.Contains(err.Error(), "epoch 2 step 1") {
		t.Fatalf("error %v, want a NaN loss at epoch 2 step 1", err)
	}
	if h := readHistory(t, filepath.Join(out, HistoryFile)); len(h) != 1 {
		t.Errorf("%d history lines, want 1", len(h))
	}
	zr, err := os.ReadFile(filepath.Join(out, CheckpointFile))
	if err != nil || len(zr) == 0 {
		t.Errorf("checkpoint of epoch 1 missing: %v", err)
	}
}

func TestFitRejectsBadInputs(t *testing.T) {
	b := makeBlobs(t, 64, 4, 2, 3)
	l := NewLoss(pmiLoss{})
	nanPath := filepath.Join(b.dir, "nan.npy")
	x, _, _ := npy.ReadFloat32(b.train)
	x[13] = float32(math.Inf(1))
	must(t, npy.WriteFloat32(nanPath, x, 64, 4))
	for name, c := range map[string]struct {
		mod  func(*core.FitRequest)
		want string
	}{
		"batch":      {func(r *core.FitRequest) { r.Options[OptBatchSize] = 65 }, "batch_size"},
		"knn":        {func(r *core.FitRequest) { r.Options[OptKNN] = 4 }, "knn"},
		"clusters":   {func(r *core.FitRequest) { r.Clusters = 1 }, "clusters"},
		"infinite":   {func(r *core.FitRequest) { r.Train = nanPath }, "row 3, column 1 is not finite"},
		"neighbours": {func(r *core.FitRequest) { r.Neighbours = b.train }, "neighbours"},
		"split":      {func(r *core.FitRequest) { r.Assign = map[string]string{"../x": b.test} }, "split name"},
		"backend":    {func(r *core.FitRequest) { r.Backend = "tpu" }, "unknown backend"},
		"option":     {func(r *core.FitRequest) { r.Options["bogus"] = 1 }, "bogus"},
	} {
		opts := blobOptions(1)
		opts[OptBatchSize], opts[OptKNN] = 16, 3
		req := blobRequest(b, opts, filepath.Join(b.dir, name))
		c.mod(&req)
		_, err := l.Fit(context.Background(), req, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, c.want)
		}
	}
}
