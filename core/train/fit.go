package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/backend"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// afterStep, when set by a test, is called after every training step with
// the 0-based global iteration (to interrupt a run at an exact step).
var afterStep func(it int)

// NewLoss wraps a GraphLoss in the shared trainer: the result is the
// core.Loss that lossplugin.Serve serves.
func NewLoss(gl GraphLoss) core.Loss { return &trainerLoss{gl: gl} }

type trainerLoss struct{ gl GraphLoss }

// Describe implements core.Loss. With opts it validates them (trainer and
// loss options, including the loss's own checks in Prepare and State) and
// sets the identity.
func (t *trainerLoss) Describe(ctx context.Context, opts core.Options) (core.Description, error) {
	d := t.gl.Describe()
	schema, err := mergeSchemas(TrainerOptions(), d.Options, d.Name)
	if err != nil {
		return core.Description{}, err
	}
	desc := core.Description{Kind: core.KindLoss, Name: d.Name, Version: d.Version, Summary: d.Summary, Options: schema}
	if opts == nil {
		return desc, nil
	}
	p, err := prepare(t.gl, opts)
	if err != nil {
		return core.Description{}, err
	}
	if _, err := p.step.State(p.cfg.Heads, 2); err != nil {
		return core.Description{}, fmt.Errorf("loss %q options: %w", d.Name, err)
	}
	sum := sha256.Sum256([]byte(trajectoryOptions(p.opts).Canonical()))
	desc.Identity = fmt.Sprintf("%s@%s+trainer@%s:%s", d.Name, d.Version, TrainerVersion, hex.EncodeToString(sum[:8]))
	return desc, nil
}

var splitName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Fit implements core.Loss: it trains the heads on the k-NN pairs of the
// train embeddings (docs/TEMI.md sections 2-9), checkpointing every epoch and
// resuming from a checkpoint of the same configuration in req.OutDir, then
// assigns every split with the teacher.
func (t *trainerLoss) Fit(ctx context.Context, req core.FitRequest, progress func(core.Progress)) (core.FitResult, error) {
	started := time.Now()
	if progress == nil {
		progress = func(core.Progress) {}
	}
	p, err := prepare(t.gl, req.Options)
	if err != nil {
		return core.FitResult{}, err
	}
	desc, opts, cfg := p.desc, p.opts, p.cfg
	if req.Clusters < 2 {
		return core.FitResult{}, fmt.Errorf("fit: %d clusters; want at least 2", req.Clusters)
	}
	if req.OutDir == "" {
		return core.FitResult{}, errors.New("fit: no output directory given")
	}
	for split := range req.Assign {
		if !splitName.MatchString(split) {
			return core.FitResult{}, fmt.Errorf("fit: split name %q cannot be used in a file name; use letters, digits, '_', '-' or '.'", split)
		}
	}
	if err := os.MkdirAll(req.OutDir, 0o755); err != nil {
		return core.FitResult{}, fmt.Errorf("fit: create output directory: %w", err)
	}

	// Inputs.
	train, trainCRC, err := readEmbeddings(req.Train, "train")
	if err != nil {
		return core.FitResult{}, err
	}
	nb, err := readNeighbours(req.Neighbours, train.Rows)
	if err != nil {
		return core.FitResult{}, err
	}
	if cfg.BatchSize > train.Rows {
		return core.FitResult{}, &core.OptionError{Key: OptBatchSize, Msg: fmt.Sprintf("%d exceeds the %d train embeddings; lower batch_size", cfg.BatchSize, train.Rows)}
	}
	if cfg.KNN > nb.K {
		return core.FitResult{}, &core.OptionError{Key: OptKNN, Msg: fmt.Sprintf("%d exceeds the %d neighbours stored in %s; lower knn or recompute the k-NN graph with a larger k", cfg.KNN, nb.K, req.Neighbours)}
	}
	norm := newNormaliser(train, cfg.EmbedNorm, cfg.L2Norm)
	norm.apply(train)

	stateVars, err := p.step.State(cfg.Heads, req.Clusters)
	if err != nil {
		return core.FitResult{}, fmt.Errorf("loss %q state: %w", desc.Name, err)
	}
	for _, s := range stateVars {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		if len(s.Init) != n {
			return core.FitResult{}, fmt.Errorf("loss %q state %q: %d initial values for shape %v", desc.Name, s.Name, len(s.Init), s.Shape)
		}
	}

	a := arch{D: train.Cols, Heads: cfg.Heads, Clusters: req.Clusters, Layers: cfg.NLayers, Hidden: cfg.Hidden, Bottle: cfg.Bottle}
	sb := newStepBuilder(a, p, stateVars)
	specs := sb.specs
	be, err := backend.Open(req.Backend, sb.backendOptions()...)
	if err != nil {
		return core.FitResult{}, err
	}
	msg := "backend " + be.Name
	if be.Why != "" {
		msg += " (" + be.Why + ")"
	}
	progress(core.Progress{Epochs: cfg.Epochs, Message: msg})

	ipe := train.Rows / cfg.BatchSize
	sched := newSchedules(cfg, ipe)
	steps := cfg.Epochs * ipe
	// The schedules are a function of the options alone: a resumed run
	// rewrites the very same bytes.
	if err := sched.writeCSV(filepath.Join(req.OutDir, rundir.ScheduleFile)); err != nil {
		return core.FitResult{}, err
	}

	// Resume or start afresh.
	key := configKey(desc, opts, req, train, trainCRC, nb)
	ckpt := checkpointPath(req.OutDir)
	host, meta, err := readCheckpoint(ckpt, key, specs, stateVars)
	switch {
	case err == nil:
		progress(core.Progress{Epoch: meta.Epoch, Epochs: cfg.Epochs, Step: meta.Iter, Steps: steps,
			Message: fmt.Sprintf("resuming from %s after epoch %d of %d", ckpt, meta.Epoch, cfg.Epochs)})
	case errors.Is(err, errNoCheckpoint) || errors.Is(err, errOtherConfig):
		if errors.Is(err, errOtherConfig) {
			progress(core.Progress{Epochs: cfg.Epochs, Message: fmt.Sprintf("ignoring %v; starting afresh (it will be replaced)", err)})
		}
		student := initParams(specs, req.Seed)
		host = &hostState{Student: student, Teacher: student, M: zerosLike(specs), V: zerosLike(specs)}
		for _, s := range stateVars {
			host.Loss = append(host.Loss, s.Init)
		}
		meta = checkpointMeta{Key: key, Seed: req.Seed}
	default:
		return core.FitResult{}, fmt.Errorf("%w; delete it to start the run afresh", err)
	}
	history := meta.History
	if err := rundir.WriteHistory(filepath.Join(req.OutDir, HistoryFile), history); err != nil {
		return core.FitResult{}, err
	}

	run, err := newDeviceRun(be.Backend, sb, host, train, strings.HasPrefix(be.Name, "xla"))
	if err != nil {
		return core.FitResult{}, err
	}
	defer run.close()
	if run.sb.hostLayer0 {
		progress(core.Progress{Epochs: cfg.Epochs, Message: fmt.Sprintf("first-layer products on the host: %s, %s", hostProductsVersion(), cfg.Precision)})
	}
	mon, err := openMonitor(req, be.Backend, a, specs, norm, meta.Iter, progress)
	if err != nil {
		return core.FitResult{}, err
	}
	defer mon.close()
	host = nil

	if done := meta.Iter - meta.Epoch*ipe; done < 0 || done >= ipe || (done > 0 && len(meta.PartialSums) != cfg.Heads) {
		return core.FitResult{}, fmt.Errorf("checkpoint %s is inconsistent (iteration %d, epoch %d, %d partial sums); delete it to start the run afresh", ckpt, meta.Iter, meta.Epoch, len(meta.PartialSums))
	}
	// saved is the iteration of the checkpoint on disk (meta.Iter moves on
	// at every epoch's end, also when checkpoint_every skips the write):
	// an interrupt saves the steps done since.
	saved := meta.Iter
	lastReport := time.Time{}
	for epoch := meta.Epoch; epoch < cfg.Epochs; epoch++ {
		epochStart := time.Now()
		sums := make([]float64, cfg.Heads)
		batches := epochRows(req.Seed, epoch, nb, cfg.KNN, cfg.BatchSize)
		// A checkpoint written on interrupt resumes inside its epoch.
		first := meta.Iter - epoch*ipe
		if first > 0 {
			copy(sums, meta.PartialSums)
		} else {
			first = 0
		}
		for b, rows := range batches {
			if b < first {
				continue
			}
			if err := ctx.Err(); err != nil {
				// Save the steps done since the last checkpoint, then stop.
				if it := epoch*ipe + b; it > saved {
					meta.Iter, meta.PartialSums = it, sums
					h, herr := run.toHost()
					if herr == nil {
						herr = writeCheckpoint(ckpt, meta, specs, stateVars, h)
					}
					if herr != nil {
						return core.FitResult{}, fmt.Errorf("training stopped at epoch %d step %d; writing its checkpoint failed (%v), the one of epoch %d is kept in %s: %w", epoch+1, b+1, herr, meta.Epoch, ckpt, err)
					}
				}
				return core.FitResult{}, fmt.Errorf("training stopped at epoch %d step %d; checkpoint written to %s, rerun to resume: %w", epoch+1, b+1, ckpt, err)
			}
			it := epoch*ipe + b
			perHead, err := run.step(rows, sched.stepScalars(it))
			if err != nil {
				return core.FitResult{}, err
			}
			if afterStep != nil {
				afterStep(it)
			}
			mean := 0.0
			for h, l := range perHead {
				sums[h] += float64(l)
				mean += float64(l)
			}
			mean /= float64(len(perHead))
			mon.step(it+1, perHead, mean, sched.LR[it], sched.WD[it], sched.Momentum[it], sched.TeacherTemp[epoch])
			if math.IsNaN(mean) || math.IsInf(mean, 0) {
				return core.FitResult{}, fmt.Errorf("loss is %v at epoch %d step %d (per head %v): training stopped; the last good checkpoint (epoch %d) is %s; lower lr or raise the temperatures",
					mean, epoch+1, b+1, perHead, meta.Epoch, ckpt)
			}
			if now := time.Now(); b == len(batches)-1 || now.Sub(lastReport) >= 200*time.Millisecond {
				lastReport = now
				progress(core.Progress{Epoch: epoch + 1, Epochs: cfg.Epochs, Step: it + 1, Steps: steps, Loss: mean})
			}
		}
		last := (epoch+1)*ipe - 1
		rec := rundir.EpochRecord{Epoch: epoch + 1, HeadLosses: make([]float64, cfg.Heads),
			LR: sched.LR[last], WeightDecay: sched.WD[last], TeacherMomentum: sched.Momentum[last],
			TeacherTemp: sched.TeacherTemp[epoch]}
		for h, s := range sums {
			rec.HeadLosses[h] = s / float64(ipe)
			rec.Loss += rec.HeadLosses[h] / float64(cfg.Heads)
		}
		rec.Seconds = time.Since(epochStart).Seconds()
		history = append(history, rec)
		if err := mon.epoch(ctx, (epoch+1)*ipe, rec, run.teacher()); err != nil {
			return core.FitResult{}, err
		}
		meta.Epoch, meta.Iter, meta.History, meta.PartialSums = epoch+1, (epoch+1)*ipe, history, nil
		if (epoch+1)%cfg.CheckpointEvery == 0 || epoch+1 == cfg.Epochs {
			h, err := run.toHost()
			if err != nil {
				return core.FitResult{}, err
			}
			if err := writeCheckpoint(ckpt, meta, specs, stateVars, h); err != nil {
				return core.FitResult{}, err
			}
			saved = meta.Iter
		}
		if err := rundir.WriteHistory(filepath.Join(req.OutDir, HistoryFile), history); err != nil {
			return core.FitResult{}, err
		}
	}

	final := history[len(history)-1]
	best := bestHead(final.HeadLosses)
	res := core.FitResult{Backend: be.Name, BestHead: best, HeadLosses: final.HeadLosses,
		Assignments: map[string]string{}, Probabilities: map[string]string{}, History: filepath.Join(req.OutDir, HistoryFile)}
	if err := t.assignAll(ctx, req, run, a, specs, norm, float32(cfg.TeacherTemp), best, res, progress, cfg.Epochs); err != nil {
		return core.FitResult{}, err
	}
	res.Seconds = time.Since(started).Seconds()
	return res, nil
}

// assignAll writes, for every split, assign_<split>.npy [H, N] int32 (the
// teacher's argmax per head) and probs_<split>.npy [N, K] float32 (the
// best head's softmax at the final teacher temperature, whose argmax is
// that head's row of the assignments), streaming the probabilities batch
// by batch to the file. A probs_<split>_best.npy left by an older trainer
// is removed, so the directory never holds two disagreeing files.
func (t *trainerLoss) assignAll(ctx context.Context, req core.FitRequest, run *deviceRun, a arch, specs []paramSpec,
	norm normaliser, temp float32, best int, out core.FitResult, progress func(core.Progress), epochs int) error {
	if len(req.Assign) == 0 {
		return nil
	}
	splits := make([]string, 0, len(req.Assign))
	for s := range req.Assign {
		splits = append(splits, s)
	}
	sort.Strings(splits)
	xs := make([]matrix, len(splits))
	batch := 1
	for i, s := range splits {
		x, _, err := readEmbeddings(req.Assign[s], s)
		if err != nil {
			return err
		}
		if x.Cols != a.D {
			return fmt.Errorf("%s embeddings %s have dimension %d, the train embeddings %d; use embeddings of the same backbone", s, req.Assign[s], x.Cols, a.D)
		}
		norm.apply(x)
		xs[i] = x
		batch = max(batch, min(x.Rows, maxAssignBatch))
	}
	as, err := newAssigner(run.be, a, specs, batch, best)
	if err != nil {
		return err
	}
	defer as.close()
	for i, s := range splits {
		progress(core.Progress{Epoch: epochs, Epochs: epochs, Message: fmt.Sprintf("assigning %s (%d embeddings)", s, xs[i].Rows)})
		n := xs[i].Rows
		ppath := filepath.Join(req.OutDir, rundir.ProbsFile(s))
		pw, err := npy.CreateFloat32Rows(ppath, n, a.Clusters)
		if err != nil {
			return fmt.Errorf("write probabilities of %s: %w", s, err)
		}
		clusters, err := as.run(ctx, run.teacher(), xs[i], temp, pw.Append)
		if err != nil {
			pw.Abort()
			return fmt.Errorf("assign %s: %w", s, err)
		}
		if err := pw.Commit(); err != nil {
			return fmt.Errorf("write probabilities of %s: %w", s, err)
		}
		path := filepath.Join(req.OutDir, rundir.AssignFile(s))
		if err := npy.WriteInt32(path, clusters, a.Heads, n); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Remove(filepath.Join(req.OutDir, rundir.LegacyProbsFile(s))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the outdated %s: %w", rundir.LegacyProbsFile(s), err)
		}
		out.Assignments[s], out.Probabilities[s] = path, ppath
	}
	return nil
}

// configKey identifies everything that determines a run's trajectory: the
// loss and its version, the trainer version, the resolved options, the
// clusters, the seed and the exact train data and neighbours. The backend
// is left out: a run may resume on another backend.
func configKey(desc core.Description, opts core.Options, req core.FitRequest, train matrix, trainCRC uint32, nb neighbours) string {
	b, _ := json.Marshal(map[string]any{
		"loss": desc.Name, "loss_version": desc.Version, "trainer": TrainerVersion,
		"options": json.RawMessage(trajectoryOptions(opts).Canonical()), "clusters": req.Clusters, "seed": req.Seed,
		"train": []any{train.Rows, train.Cols, trainCRC}, "neighbours": []any{nb.N, nb.K, nb.CRC},
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// bestHead is the label-free head choice: the lowest mean loss of an
// epoch (the first such head on a tie).
func bestHead(headLosses []float64) int {
	best := 0
	for h, l := range headLosses {
		if l < headLosses[best] {
			best = h
		}
	}
	return best
}

// trajectoryOptions drops the options that cannot change the numbers
// (how often to checkpoint), so that changing them neither changes the
// identity nor prevents a resume.
func trajectoryOptions(o core.Options) core.Options {
	o = o.Without(OptCheckpointEvery)
	// precision joined the options after trainer version 3's identities
	// were recorded: its default leaves them as they were.
	if o[OptPrecision] == PrecisionFP32 {
		o = o.Without(OptPrecision)
	}
	return o
}

func zerosLike(specs []paramSpec) [][]float32 {
	out := make([][]float32, len(specs))
	for i, s := range specs {
		out[i] = make([]float32, s.size())
	}
	return out
}
