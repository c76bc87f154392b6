package main

import (
	"bytes"
	"fmt"
	"image/png"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/clusterlab/clusterlab/internal/tbcheck"
)

// tbConfig is a small TEMI trial of five short epochs (15 steps each).
// Its wide hidden layers make the checkpoint a few megabytes, so that
// writing it, between the flush of the event files that ends an epoch and
// the rename that replaces the previous checkpoint, takes long enough
// for the test to stop the plugin in between (see TestTensorBoardEventFiles).
const (
	tbRows, tbBatch, tbEpochs, tbHeads = 2000, 128, 5, 2
	tbConfig                           = `
experiment: tb
trial: live
seed: 4
runs_dir: runs
cache_dir: cache
dataset: {plugin: idx, name: mnist, limit_train: 2000, limit_test: 500}
backbone: {plugin: pixels, pca_dims: 32}
neighbours: {k: 10}
baselines: {kmeans_n_init: 1}
selection: {generalization: false}
loss:
  plugin: temi
  heads: 2
  epochs: 5
  batch_size: 128
  lr: 0.001
  min_lr: 0.0001
  warmup_epochs: 1
  knn: 10
  hidden_dim: 1024
  bottleneck_dim: 32
`
)

// TestTensorBoardEventFiles runs a TEMI trial through the real runner and
// plugins, kills its loss plugin once the event files hold steps after
// the last checkpoint, interrupts the rerun with SIGINT, runs it again to
// the end, and checks the run's event files with the protoc-generated
// reader (internal/tbcheck): clean files, every series at exactly its
// steps, once each, with the values of history.jsonl, schedule.csv and
// metrics.json, and the runner's report records.
func TestTensorBoardEventFiles(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("finds the loss plugin through /proc")
	}
	started := time.Now()
	pr := tbcheck.New(t)
	bin := buildBinaries(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tb.yaml"), []byte(tbConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(dir, "runs", "tb", "live")
	tbDir := filepath.Join(runDir, rundir.TensorBoardDir)
	ckpt := filepath.Join(runDir, rundir.CheckpointFile)
	const ipe = tbRows / tbBatch
	const steps = tbEpochs * ipe

	// What is on disk now, read while waiting with the package's own
	// reader (the checks below use the independent one).
	lastStep := func() int64 {
		recs, _ := tbevents.ReadDir(tbDir)
		last := int64(0)
		for _, r := range recs {
			if r.Tag == "step/loss_mean" {
				last = max(last, r.Step)
			}
		}
		return last
	}
	ckptIter := func() int {
		var meta rundir.CheckpointMeta
		z, err := rundir.OpenCheckpoint(ckpt, &meta)
		if err != nil {
			return -1
		}
		z.Close()
		return meta.Iter
	}
	// eventBytes is the size of the event files: it changes when the
	// trainer flushes them (and when a resume rewrites them).
	eventBytes := func() int64 {
		paths, err := tbevents.Files(tbDir)
		if err != nil {
			return -1
		}
		n := int64(len(paths))
		for _, p := range paths {
			if st, err := os.Stat(p); err == nil {
				n += st.Size()
			}
		}
		return n
	}
	// waitFlush waits until the event files change, failing when p ends
	// first.
	seen := int64(-1)
	waitFlush := func(p *runnerProc, what string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if n := eventBytes(); n != seen {
				seen = n
				return
			}
			select {
			case <-p.done:
				t.Fatalf("the run ended (exit %d) before %s:\n%s", p.exitCode(), what, p.stderr())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 2 minutes:\n%s", what, p.stderr())
			}
			time.Sleep(time.Millisecond)
		}
	}

	// 1. Kill the loss plugin (SIGKILL: nothing saved on the way out) when
	// the event files hold steps after the checkpoint on disk: after a
	// flush (the background one, or the one that ends an epoch, before
	// its checkpoint replaces the previous one) the plugin is stopped
	// (SIGSTOP) at once, and killed if the files and the checkpoint say
	// so; else it goes on until the next flush. Only a checkpoint two
	// epochs before the end counts, so that the rerun below has training
	// left to interrupt.
	p := startRunner(t, dir, "run", "tb.yaml")
	if !p.waitLine("temi: backend") {
		t.Fatalf("training never started:\n%s", p.stderr())
	}
	pid := lossPluginPid(t, bin, dir)
	killedAt, stops := -1, 0
	for killedAt < 0 {
		waitFlush(p, "steps on disk after a checkpoint")
		if _, err := os.Stat(ckpt); err != nil {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stops++
		it, last := ckptIter(), lastStep()
		switch {
		case it >= ipe && it <= steps-2*ipe && last > int64(it):
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killedAt = it
		case it > steps-2*ipe:
			t.Fatalf("no flush seen between a checkpoint and the next before the last two epochs (%d stops)", stops)
		default:
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	if c := p.exitCode(); c != exitFailure {
		t.Fatalf("runner exit %d after its loss plugin was killed, want %d:\n%s", c, exitFailure, p.stderr())
	}
	waitPluginsGone(t, bin, dir, "after the loss plugin was killed")
	killed := pr.Read(t, tbDir)
	for _, f := range killed {
		if f.End == "corrupt" {
			t.Fatalf("%s after the kill: %s", f.Path, f.Detail)
		}
		tbcheck.CheckWellFormed(t, f)
	}
	after := 0
	for _, s := range tbcheck.Steps(killed)["step/loss_mean"] {
		if s > int64(killedAt) {
			after++
		}
	}
	if after == 0 {
		t.Fatalf("the event files hold no step after the checkpoint's %d at the kill", killedAt)
	}
	t.Logf("loss plugin killed %v after the start (stopped %d times), checkpoint at step %d, %d steps after it in the event files",
		time.Since(started).Round(time.Millisecond), stops, killedAt, after)

	// 2. Rerun, and interrupt it with SIGINT once the resumed trainer has
	// rewritten the event files and flushed steps of its own, with at
	// least an epoch left.
	oldFiles := tbcheck.EventFiles(t, tbDir)
	p = startRunner(t, dir, "run", "tb.yaml")
	if !p.waitLine("temi: resuming from") {
		t.Fatalf("the rerun did not resume:\n%s", p.stderr())
	}
	for {
		waitFlush(p, "the resumed trainer's steps on disk")
		files, err := tbevents.Files(tbDir)
		if err == nil && !slices.ContainsFunc(files, func(f string) bool { return slices.Contains(oldFiles, f) }) && lastStep() > int64(killedAt) {
			break
		}
	}
	// That flush most likely ended an epoch: half an epoch later is most
	// likely inside the next one, where the interrupt's checkpoint holds
	// the steps done since (the checks below hold wherever it lands).
	time.Sleep(medianEpoch(t, runDir) / 2)
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if c := p.exitCode(); c != exitInterrupted {
		t.Fatalf("runner exit %d after SIGINT, want %d:\n%s", c, exitInterrupted, p.stderr())
	}
	waitPluginsGone(t, bin, dir, "after SIGINT")
	interrupted := checkpointMeta(t, runDir)
	if interrupted.Iter <= killedAt || interrupted.Iter >= steps {
		t.Fatalf("checkpoint at step %d after SIGINT, want one between the resume's %d and the end's %d", interrupted.Iter, killedAt, steps)
	}
	// The interrupt's checkpoint holds every step done: the event files,
	// closed in order, hold exactly those.
	if got := tbcheck.Steps(pr.ReadClean(t, tbDir))["step/loss_mean"]; !slices.Equal(got, stepRange(1, interrupted.Iter)) {
		t.Errorf("after SIGINT with the checkpoint at step %d, step/loss_mean is at steps %v, want 1..%d once each", interrupted.Iter, got, interrupted.Iter)
	}
	t.Logf("interrupted %v after the start, checkpoint at step %d (epoch %d and %d steps)", time.Since(started).Round(time.Millisecond),
		interrupted.Iter, interrupted.Epoch, interrupted.Iter-interrupted.Epoch*ipe)

	// 3. Run to the end.
	r := clusterlab(t, dir, nil, "run", "tb.yaml")
	if r.code != 0 {
		t.Fatalf("final run failed (%d):\n%s", r.code, r.stderr)
	}
	if resume := fmt.Sprintf("after epoch %d of %d", interrupted.Epoch, tbEpochs); !strings.Contains(r.stderr, "temi: resuming from") || !strings.Contains(r.stderr, resume) {
		t.Errorf("the final run did not resume %s:\n%s", resume, r.stderr)
	}
	if strings.Contains(r.stderr, "TensorBoard files") {
		t.Errorf("the run reports a problem with its TensorBoard files:\n%s", r.stderr)
	}
	t.Logf("finished %v after the start", time.Since(started).Round(time.Millisecond))

	files := pr.ReadClean(t, tbDir)
	if len(files) != 1 {
		t.Errorf("%d event files, want the one the runner's resume left", len(files))
	}
	checkTensorBoardRun(t, runDir, files, ipe, steps)
}

// stepRange is from, from+1, ..., to.
func stepRange(from, to int) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, int64(i))
	}
	return s
}

// checkTensorBoardRun checks a finished run's event files against its
// other outputs.
func checkTensorBoardRun(t *testing.T, runDir string, files []tbcheck.File, ipe, steps int) {
	t.Helper()
	hist, err := rundir.ReadHistory(filepath.Join(runDir, "history.jsonl"))
	if err != nil || len(hist) != tbEpochs {
		t.Fatalf("history.jsonl: %d epochs (%v), want %d", len(hist), err, tbEpochs)
	}
	sched, err := rundir.ReadSchedule(filepath.Join(runDir, rundir.ScheduleFile))
	if err != nil {
		t.Fatal(err)
	}
	if sched.StepsPerEpoch != ipe || len(sched.Steps) != steps {
		t.Fatalf("schedule.csv: %d steps of %d per epoch, want %d of %d", len(sched.Steps), sched.StepsPerEpoch, steps, ipe)
	}
	mf, err := rundir.ReadMetrics(runDir)
	if err != nil {
		t.Fatal(err)
	}

	// Every series at exactly its steps, once each: per step 1..steps,
	// per epoch at each epoch's end; the runner's at the last step. No
	// other tag.
	perStep := []string{"step/loss_mean", "schedule/lr", "schedule/weight_decay", "schedule/teacher_momentum", "schedule/teacher_temp"}
	perEpoch := []string{"epoch/loss_mean", "epoch/selected_head", "test/acc", "test/nmi", "test/ari"}
	for h := range tbHeads {
		perStep = append(perStep, fmt.Sprintf("step/loss_head_%02d", h))
		perEpoch = append(perEpoch, fmt.Sprintf("epoch/loss_head_%02d", h), fmt.Sprintf("epoch/clusters_used_head_%02d", h))
	}
	var report []string
	for _, s := range []string{"train", "test"} {
		report = append(report, "report/confusion_"+s, "report/gallery_"+s, "report/cluster_sizes_"+s)
	}
	report = append(report, "report/tables")
	baselines := map[string]float64{} // tag -> metrics.json's value
	for _, res := range mf.Results {
		if res.Method != "kmeans" && res.Method != "knn-classifier" && res.Method != "linear-probe" {
			continue
		}
		for m, v := range map[string]float64{"acc": res.ACC, "nmi": res.NMI, "ari": res.ARI} {
			if !math.IsNaN(v) {
				baselines[fmt.Sprintf("baselines/%s_%s/%s", res.Method, res.Split, m)] = v
			}
		}
	}
	for _, tag := range []string{"baselines/kmeans_train/acc", "baselines/kmeans_test/nmi", "baselines/knn-classifier_test/acc", "baselines/linear-probe_test/acc"} {
		if _, ok := baselines[tag]; !ok {
			t.Errorf("metrics.json has no result for %s", tag)
		}
	}
	epochEnds := make([]int64, tbEpochs)
	for e := range epochEnds {
		epochEnds[e] = int64((e + 1) * ipe)
	}
	want := map[string][]int64{}
	for _, tag := range perStep {
		want[tag] = stepRange(1, steps)
	}
	for _, tag := range perEpoch {
		want[tag] = epochEnds
	}
	for _, tag := range report {
		want[tag] = []int64{int64(steps)}
	}
	for tag := range baselines {
		want[tag] = []int64{int64(steps)}
	}
	got := tbcheck.Steps(files)
	for _, tag := range slices.Sorted(maps.Keys(want)) {
		if g, w := got[tag], want[tag]; !slices.Equal(slices.Sorted(slices.Values(g)), w) || len(g) != len(w) {
			t.Errorf("%s at steps %v, want %v once each", tag, g, w)
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[tag]; !ok {
			t.Errorf("unexpected tag %s (steps %v)", tag, got[tag])
		}
	}

	// The values by tag and step (of a step written twice, reported
	// above, the last).
	values := map[string]map[int64]tbcheck.Value{}
	for _, f := range files {
		for _, rec := range f.Records {
			for _, v := range rec.Values {
				if values[v.Tag] == nil {
					values[v.Tag] = map[int64]tbcheck.Value{}
				}
				values[v.Tag][rec.Step] = v
			}
		}
	}
	scalar := func(tag string, step int64) (float64, bool) {
		v, ok := values[tag][step]
		if !ok || v.SimpleValue == nil {
			return 0, false
		}
		return *v.SimpleValue, true
	}
	// same compares a scalar with the float64 it was written from: the
	// file holds its float32.
	same := func(tag string, step int64, want float64) {
		t.Helper()
		if g, ok := scalar(tag, step); !ok || g != float64(float32(want)) {
			t.Errorf("%s at step %d = %v (found %v), want %v", tag, step, g, ok, float32(want))
		}
	}

	// Per step: the schedule of schedule.csv, whose rows are numbered
	// from 0 (the step's index) where the event files count the steps
	// done (from 1); the mean of the heads' losses.
	stepLoss := map[int][]float64{} // head -> loss per step
	for s := 1; s <= steps; s++ {
		row := sched.Steps[s-1]
		same("schedule/lr", int64(s), row.LR)
		same("schedule/weight_decay", int64(s), row.WeightDecay)
		same("schedule/teacher_momentum", int64(s), row.TeacherMomentum)
		same("schedule/teacher_temp", int64(s), row.TeacherTemp)
		mean := 0.0
		for h := range tbHeads {
			l, _ := scalar(fmt.Sprintf("step/loss_head_%02d", h), int64(s))
			stepLoss[h] = append(stepLoss[h], l)
			mean += l / tbHeads
		}
		if g, _ := scalar("step/loss_mean", int64(s)); math.Abs(g-mean) > 1e-6*math.Abs(mean) {
			t.Errorf("step/loss_mean at step %d = %v, the heads' mean %v", s, g, mean)
		}
	}

	// Per epoch: history.jsonl's losses, which are the means of the
	// epoch's step losses (the steps kept through the kill and the
	// interrupt are those the trained model took); the head the
	// label-free rule picks.
	for e, rec := range hist {
		end := int64((e + 1) * ipe)
		same("epoch/loss_mean", end, rec.Loss)
		best := 0
		for h, l := range rec.HeadLosses {
			same(fmt.Sprintf("epoch/loss_head_%02d", h), end, l)
			sum := 0.0
			for _, sl := range stepLoss[h][e*ipe : (e+1)*ipe] {
				sum += sl
			}
			if mean := sum / float64(ipe); math.Abs(mean-l) > 1e-9*math.Abs(l) {
				t.Errorf("epoch %d head %d: history's loss %v, the mean of its steps in the event files %v", e+1, h, l, mean)
			}
			if l < rec.HeadLosses[best] {
				best = h
			}
		}
		same("epoch/selected_head", end, float64(best))
	}
	same("epoch/selected_head", int64(steps), float64(mf.BestHead))

	// The last epoch's evaluation of the test split is the final
	// assignment's: the whole split is monitored (it has fewer rows than
	// monitorRows), with the final teacher.
	var test rundir.Result
	for _, res := range mf.Results {
		if res.Selection == "best-head" && res.Split == "test" {
			test = res
		}
	}
	if test.N == 0 || test.N > monitorRows {
		t.Fatalf("best-head test result %+v: want one of at most %d rows, all monitored", test, monitorRows)
	}
	for m, w := range map[string]float64{"acc": test.ACC, "nmi": test.NMI, "ari": test.ARI} {
		if g, ok := scalar("test/"+m, int64(steps)); !ok || math.Abs(g-w) > 1e-6*math.Max(math.Abs(w), 1e-3) {
			t.Errorf("test/%s of the last epoch = %v, metrics.json's best-head test %s %v", m, g, m, w)
		}
	}
	assign := map[string][]int32{}
	for _, s := range []string{"train", "test"} {
		a, shape, err := npy.ReadInt32(filepath.Join(runDir, rundir.AssignFile(s)))
		if err != nil || len(shape) != 2 || shape[0] != tbHeads {
			t.Fatalf("%s: shape %v (%v)", rundir.AssignFile(s), shape, err)
		}
		assign[s] = a
	}
	nTest := len(assign["test"]) / tbHeads
	for h := range tbHeads {
		used := map[int32]bool{}
		for _, c := range assign["test"][h*nTest : (h+1)*nTest] {
			used[c] = true
		}
		same(fmt.Sprintf("epoch/clusters_used_head_%02d", h), int64(steps), float64(len(used)))
	}

	// The runner's records: the run's pictures, the cluster sizes of the
	// selected head, the tables, the baselines.
	last := int64(steps)
	for _, s := range []string{"train", "test"} {
		for tag, file := range map[string]string{"report/confusion_" + s: rundir.ConfusionPlot(s), "report/gallery_" + s: rundir.GalleryFile(s)} {
			v := values[tag][last]
			if v.Image == nil {
				t.Errorf("%s is %q, want an image", tag, v.Kind)
				continue
			}
			img, err := png.Decode(bytes.NewReader(v.Image.PNG))
			if err != nil {
				t.Errorf("%s: not a PNG: %v", tag, err)
				continue
			}
			if b := img.Bounds(); b.Dx() != v.Image.Width || b.Dy() != v.Image.Height {
				t.Errorf("%s: a %dx%d PNG, the record says %dx%d", tag, b.Dx(), b.Dy(), v.Image.Width, v.Image.Height)
			}
			if b, err := os.ReadFile(filepath.Join(runDir, file)); err != nil || !bytes.Equal(b, v.Image.PNG) {
				t.Errorf("%s differs from the run's %s (%v)", tag, file, err)
			}
		}
		n := len(assign[s]) / tbHeads
		sizes := map[int32]float64{}
		for _, c := range assign[s][mf.BestHead*n : (mf.BestHead+1)*n] {
			sizes[c]++
		}
		h := values["report/cluster_sizes_"+s][last].Histo
		if h == nil {
			t.Errorf("report/cluster_sizes_%s is not a histogram", s)
			continue
		}
		total := 0.0
		var counts, wantCounts []float64
		for _, c := range h.Bucket {
			total += c
			if c > 0 {
				counts = append(counts, c)
			}
		}
		for _, c := range sizes {
			wantCounts = append(wantCounts, c)
		}
		slices.Sort(counts)
		slices.Sort(wantCounts)
		if h.Num != float64(n) || total != float64(n) {
			t.Errorf("report/cluster_sizes_%s counts %v values in its buckets (num %v), want the %d rows of the split", s, total, h.Num, n)
		}
		if !slices.Equal(counts, wantCounts) {
			t.Errorf("report/cluster_sizes_%s has bucket counts %v, want the sizes of the best head's clusters %v", s, counts, wantCounts)
		}
	}
	tables, err := os.ReadFile(filepath.Join(runDir, rundir.TablesMarkdown))
	if err != nil {
		t.Fatal(err)
	}
	if v := values["report/tables"][last]; v.Tensor == nil || len(v.Tensor.StringVal) != 1 ||
		v.Tensor.StringVal[0] != string(tables) || !strings.Contains(v.Tensor.StringVal[0], "best-head") || v.PluginName != "text" {
		t.Errorf("report/tables is not the text of %s (a table with best-head): %+v", rundir.TablesMarkdown, v)
	}
	for tag, v := range baselines {
		same(tag, last, v)
	}
}
