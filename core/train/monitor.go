package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/metrics"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/tbevents"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
)

// The trainer's TensorBoard event files (rundir.TensorBoardDir of the run
// directory; `tensorboard --logdir runs/<experiment>` shows one run per
// trial). The x axis of every series is the global step, the number of
// training steps done:
//
//	step/loss_mean, step/loss_head_HH        every step, the per-head losses
//	schedule/lr, schedule/weight_decay,      every step, the values the step used
//	schedule/teacher_momentum, schedule/teacher_temp
//	epoch/loss_mean, epoch/loss_head_HH      each epoch's end: history.jsonl's values
//	epoch/selected_head                      the head the label-free rule picks now
//	epoch/clusters_used_head_HH              on the monitored split (FitRequest.Monitor)
//	SPLIT/acc, SPLIT/nmi, SPLIT/ari          the selected head on it, where labels exist
//
// A resumed run first drops every record after its checkpoint's step
// (tbevents.Resume), so the steps it runs again appear once. The
// runner's end-of-run records (report/, baselines/) are dropped too: it
// writes them again after the trainer. Writing is monitoring only: a
// write error stops it, with a message, and training goes on. (Files
// that cannot be read back at the start fail Fit with what to do; TURTLE
// reports them and goes on.)

// streamMonitor seeds the subset of a monitored split that is evaluated.
const streamMonitor = 0x5eed_2000

type monitor struct {
	w      *tbevents.BestEffort
	split  string
	x      matrix
	labels []int // nil for an unlabelled split
	as     *assigner
	// The per-head tags, made once: step/loss_head_HH,
	// epoch/loss_head_HH, epoch/clusters_used_head_HH.
	stepLoss, epochLoss, clustersUsed []string
}

// OpenTensorBoard opens a trainer's event files (rundir.TensorBoardDir of
// outDir) for writing after its checkpoint at step done: it keeps the
// trainer's records up to done and drops the later ones and the runner's
// end-of-run records (rundir.IsRunnerTensorBoardTag), which the runner
// writes again after Fit. A write that fails later is reported through
// progress and stops the writing, never the training. On error (the
// files could not be read back) the writer returned writes nothing; the
// caller decides whether the run goes on.
func OpenTensorBoard(outDir string, done int, progress func(core.Progress)) (*tbevents.BestEffort, error) {
	report := func(err error) {
		progress(core.Progress{Message: fmt.Sprintf("TensorBoard files: %v; live monitoring stops, training goes on", err)})
	}
	dir := filepath.Join(outDir, rundir.TensorBoardDir)
	w, err := tbevents.ResumeFunc(dir, func(r tbevents.Record) bool {
		return r.Step <= int64(done) && !rundir.IsRunnerTensorBoardTag(r.Tag)
	})
	if err != nil {
		return tbevents.NewBestEffort(nil, report), fmt.Errorf("TensorBoard files in %s: %w (delete the folder to start them afresh)", dir, err)
	}
	return tbevents.NewBestEffort(w, report), nil
}

// openMonitor opens the run's event files, keeping the trainer's records
// up to step done (the checkpoint's), and prepares the evaluation of
// req.Monitor's split.
func openMonitor(req core.FitRequest, be compute.Backend, a arch, specs []paramSpec, norm normaliser, done int, progress func(core.Progress)) (*monitor, error) {
	w, err := OpenTensorBoard(req.OutDir, done, progress)
	if err != nil {
		return nil, err
	}
	m := &monitor{w: w}
	for h := range a.Heads {
		m.stepLoss = append(m.stepLoss, headTag("step/loss", h))
		m.epochLoss = append(m.epochLoss, headTag("epoch/loss", h))
		m.clustersUsed = append(m.clustersUsed, headTag("epoch/clusters_used", h))
	}
	mon := req.Monitor
	if mon == nil {
		return m, nil
	}
	fail := func(err error) (*monitor, error) {
		m.close()
		return nil, err
	}
	path, ok := req.Assign[mon.Split]
	if !ok {
		return fail(fmt.Errorf("monitor: split %q is not among the splits to assign", mon.Split))
	}
	x, _, err := readEmbeddings(path, mon.Split)
	if err != nil {
		return fail(err)
	}
	if x.Cols != a.D {
		return fail(fmt.Errorf("monitor: %s embeddings %s have dimension %d, the train embeddings %d", mon.Split, path, x.Cols, a.D))
	}
	var labels []int32
	if mon.Labels != "" {
		if labels, _, err = npy.ReadInt32(mon.Labels); err != nil {
			return fail(fmt.Errorf("monitor: labels of %s: %w", mon.Split, err))
		}
		if len(labels) != x.Rows {
			return fail(fmt.Errorf("monitor: %s has %d labels in %s for %d embeddings", mon.Split, len(labels), mon.Labels, x.Rows))
		}
	}
	rows := subsetRows(x.Rows, mon.MaxRows, req.Seed)
	sub := x // all rows: x is this function's own copy
	if len(rows) < x.Rows {
		sub = matrix{Data: make([]float32, len(rows)*x.Cols), Rows: len(rows), Cols: x.Cols}
		for i, r := range rows {
			copy(sub.Data[i*x.Cols:(i+1)*x.Cols], x.Data[r*x.Cols:(r+1)*x.Cols])
		}
	}
	norm.apply(sub)
	m.split, m.x = mon.Split, sub
	if labels != nil {
		m.labels = make([]int, len(rows))
		for i, r := range rows {
			m.labels[i] = int(labels[r])
		}
	}
	if m.as, err = newAssigner(be, a, specs, min(sub.Rows, maxAssignBatch), 0); err != nil {
		return fail(err)
	}
	return m, nil
}

// subsetRows returns the rows of a split of n to evaluate: all, or the
// first max of a permutation seeded by the run's seed, in row order.
func subsetRows(n, max int, seed int64) []int {
	if max <= 0 || max >= n {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		return rows
	}
	rng := rand.New(rand.NewPCG(uint64(seed), streamMonitor))
	rows := rng.Perm(n)[:max]
	slices.Sort(rows)
	return rows
}

// scalar writes value for tag at step.
func (m *monitor) scalar(tag string, step int, value float64) { m.w.Scalar(tag, int64(step), value) }

func headTag(prefix string, h int) string { return fmt.Sprintf("%s_head_%02d", prefix, h) }

// step records training step number step (1-based) and the schedule
// values it used.
func (m *monitor) step(step int, perHead []float32, mean, lr, wd, momentum, temp float64) {
	if !m.w.Active() {
		return
	}
	m.scalar("step/loss_mean", step, mean)
	m.scalar("schedule/lr", step, lr)
	m.scalar("schedule/weight_decay", step, wd)
	m.scalar("schedule/teacher_momentum", step, momentum)
	m.scalar("schedule/teacher_temp", step, temp)
	for h, l := range perHead {
		m.scalar(m.stepLoss[h], step, float64(l))
	}
}

// epoch records an epoch's end at step: its losses (as history.jsonl),
// the head the label-free rule selects now, and the evaluation of the
// monitored split with the teacher. It flushes the files (the trainer
// calls it before writing the epoch's checkpoint).
func (m *monitor) epoch(ctx context.Context, step int, rec rundir.EpochRecord, teacher []*tensors.Tensor) error {
	if !m.w.Active() {
		return nil
	}
	best := bestHead(rec.HeadLosses)
	m.scalar("epoch/loss_mean", step, rec.Loss)
	m.scalar("epoch/selected_head", step, float64(best))
	for h, l := range rec.HeadLosses {
		m.scalar(m.epochLoss[h], step, l)
	}
	if m.as != nil {
		// Evaluated even when the run is stopping: the trainer checkpoints
		// this epoch's end next, so a resume never comes back to it and
		// records skipped now would stay missing. The split is at most
		// FitRequest.Monitor's MaxRows: a short wait.
		clusters, err := m.as.run(context.WithoutCancel(ctx), teacher, m.x, 1, func([]float32) error { return nil })
		if err != nil {
			return fmt.Errorf("monitor: evaluate %s: %w", m.split, err)
		}
		n := m.x.Rows
		for h := range m.clustersUsed {
			pred := make([]int, n)
			for i := range n {
				pred[i] = int(clusters[h*n+i])
			}
			m.scalar(m.clustersUsed[h], step, float64(metrics.ClusterStats(pred).ClustersUsed))
			if h != best || m.labels == nil {
				continue
			}
			s, _, err := metrics.ScoreKnown(m.labels, pred)
			if err != nil {
				return fmt.Errorf("monitor: score %s: %w", m.split, err)
			}
			if !math.IsNaN(s.ACC) { // NaN: no sample of the split has a label
				m.scalar(m.split+"/acc", step, s.ACC)
				m.scalar(m.split+"/nmi", step, s.NMI)
				m.scalar(m.split+"/ari", step, s.ARI)
			}
		}
	}
	m.w.Flush()
	return nil
}

func (m *monitor) close() {
	if m.as != nil {
		m.as.close()
	}
	m.w.Close()
}
