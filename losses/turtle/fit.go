package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
)

// afterIteration, when set by a test, is called after every outer
// iteration with its 0-based index (to interrupt a run at an exact
// iteration).
var afterIteration func(t int)

// progressEvery is the least time between two progress reports of the
// training loop (at most five a second).
const progressEvery = 200 * time.Millisecond

var splitName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Fit implements core.Loss: T outer iterations of TURTLE (TURTLE.md) on
// the train embeddings of every space, checkpointing every
// checkpoint_every iterations and on cancellation, resuming from a
// checkpoint of the same configuration in req.OutDir, then the labelling
// tau of every split of req.Assign: assign_<split>.npy [1, N] int32 (its
// argmax) and probs_<split>.npy [N, C] float32 (tau).
func (Loss) Fit(ctx context.Context, req core.FitRequest, progress func(core.Progress)) (core.FitResult, error) {
	started := time.Now()
	if progress == nil {
		progress = func(core.Progress) {}
	}
	cfg, opts, err := decode(req.Options)
	if err != nil {
		return core.FitResult{}, err
	}
	C, T, M := req.Clusters, cfg.Iterations, cfg.InnerSteps
	if C < 2 {
		return core.FitResult{}, core.InvalidInput(fmt.Errorf("fit: %d clusters; want at least 2", C))
	}
	if req.OutDir == "" {
		return core.FitResult{}, errors.New("fit: no output directory given")
	}
	spaces := core.SpacesOf(req)
	splits := make([]string, 0, len(req.Assign))
	for split := range req.Assign {
		if !splitName.MatchString(split) {
			return core.FitResult{}, core.InvalidInput(fmt.Errorf("fit: split name %q cannot be used in a file name; use letters, digits, '_', '-' or '.'", split))
		}
		splits = append(splits, split)
	}
	sort.Strings(splits)
	if err := os.MkdirAll(req.OutDir, 0o755); err != nil {
		return core.FitResult{}, fmt.Errorf("fit: create the output directory: %w", err)
	}

	train, crcs, err := trainSpaces(spaces)
	if err != nil {
		return core.FitResult{}, err
	}
	N := train[0].Rows
	dims := make([]int, len(train))
	for s, m := range train {
		dims[s] = m.Cols
	}
	B := min(cfg.BatchSize, N)
	splitRows, err := checkSplits(spaces, splits, dims)
	if err != nil {
		return core.FitResult{}, err
	}

	be, err := backend.Open(req.Backend)
	if err != nil {
		return core.FitResult{}, err
	}
	msg := "backend " + be.Name
	if be.Why != "" {
		msg += " (" + be.Why + ")"
	}
	progress(core.Progress{Epochs: T, Steps: T, Message: msg})
	msg = fmt.Sprintf("batch of %d of the %d train rows per iteration, %d space(s) of dimension %v", B, N, len(dims), dims)
	if cfg.BatchSize > N {
		msg += fmt.Sprintf(" (batch_size %d exceeds the train rows: every iteration uses them all)", cfg.BatchSize)
	}
	progress(core.Progress{Epochs: T, Steps: T, Message: msg})

	// Resume or start afresh.
	key := configKey(opts, req, train, crcs)
	arrays := stateArrays(dims, C, cfg.WarmStart)
	ckpt := filepath.Join(req.OutDir, rundir.CheckpointFile)
	state, meta, err := readCheckpoint(ckpt, key, arrays)
	switch {
	case err == nil:
		if meta.Iteration > T {
			return core.FitResult{}, fmt.Errorf("checkpoint %s is after iteration %d of %d; delete it to start the run afresh", ckpt, meta.Iteration, T)
		}
		progress(core.Progress{Epoch: meta.Iteration, Epochs: T, Step: meta.Iteration, Steps: T,
			Message: fmt.Sprintf("resuming from %s after iteration %d of %d", ckpt, meta.Iteration, T)})
	case errors.Is(err, errNoCheckpoint) || errors.Is(err, errOtherConfig):
		if errors.Is(err, errOtherConfig) {
			progress(core.Progress{Epochs: T, Steps: T, Message: fmt.Sprintf("ignoring %v; starting afresh (it will be replaced)", err)})
		}
		state = initialState(req.Seed, dims, C, cfg.WarmStart)
		meta = checkpointMeta{}
	default:
		return core.FitResult{}, fmt.Errorf("%w; delete it to start the run afresh", err)
	}
	meta.Key, meta.Seed, meta.WarmStart, meta.Arrays = key, req.Seed, cfg.WarmStart, arrays
	meta.Spaces = meta.Spaces[:0]
	for s, sp := range spaces {
		meta.Spaces = append(meta.Spaces, checkpointSpace{Name: sp.Name, Dim: dims[s]})
	}
	history := meta.History
	historyPath := filepath.Join(req.OutDir, rundir.HistoryFile)
	if err := rundir.WriteHistory(historyPath, history); err != nil {
		return core.FitResult{}, err
	}

	ig := &iterGraph{dims: dims, clusters: C, steps: M, gamma: cfg.Gamma, warm: cfg.WarmStart, dtype: dtypes.Float32,
		transposedGrad: transposedGradOn(be.Name)}
	stateT := make([]*tensors.Tensor, len(state))
	for i, a := range arrays {
		stateT[i] = tensors.FromFlatDataAndDimensions(state[i], a.Shape...)
	}
	dataT := make([]*tensors.Tensor, len(train))
	for s, m := range train {
		dataT[s] = tensors.FromFlatDataAndDimensions(m.Data, m.Rows, m.Cols)
	}
	state, train = nil, nil
	run, err := newDeviceRun(be.Backend, ig, stateT, dataT, B, donateOn(be.Name))
	if err != nil {
		return core.FitResult{}, err
	}
	defer run.close()

	// TensorBoard: the iterations' loss and its parts, in the run's
	// event files (rundir.TensorBoardDir), at step = iterations done; a
	// resumed run first drops what came after its checkpoint. Monitoring
	// only: a failure stops it with a message, never the run.
	tb := openTensorBoard(req.OutDir, meta.Iteration, progress)
	defer tb.Close()

	// checkpoint saves the state after meta.Iteration iterations.
	checkpoint := func() error {
		st, err := run.stateToHost()
		if err != nil {
			return err
		}
		meta.History, meta.OuterStep, meta.InnerStep = history, meta.Iteration, 0
		if cfg.WarmStart {
			meta.InnerStep = meta.Iteration * M
		}
		if err := writeCheckpoint(ckpt, meta, st); err != nil {
			return err
		}
		tb.Flush()
		return rundir.WriteHistory(historyPath, history)
	}
	saved := meta.Iteration
	it := newIterator(run, cfg, req.Seed, dims, C, N, B)
	lastReport := time.Time{}
	for t := meta.Iteration; t < T; t++ {
		if err := ctx.Err(); err != nil {
			// Save the iterations done since the last checkpoint, then stop.
			if meta.Iteration > saved {
				if cerr := checkpoint(); cerr != nil {
					return core.FitResult{}, fmt.Errorf("TURTLE stopped after iteration %d of %d; writing its checkpoint failed (%v), the one of iteration %d is kept in %s: %w",
						meta.Iteration, T, cerr, saved, ckpt, err)
				}
			}
			return core.FitResult{}, fmt.Errorf("TURTLE stopped after iteration %d of %d; checkpoint written to %s, rerun to resume: %w", meta.Iteration, T, ckpt, err)
		}
		itStart := time.Now()
		metrics, err := it.iterate(t)
		if err != nil {
			return core.FitResult{}, err
		}
		if afterIteration != nil {
			afterIteration(t)
		}
		loss := metrics[0]
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return core.FitResult{}, fmt.Errorf("the TURTLE loss is %v at iteration %d (pred error %v, entropy %v): training stopped; the last good checkpoint (iteration %d) is %s; lower outer_lr, inner_lr or gamma",
				loss, t+1, metrics[1], metrics[2], saved, ckpt)
		}
		history = append(history, rundir.EpochRecord{Epoch: t + 1, HeadLosses: []float64{loss}, Loss: loss,
			PredError: metrics[1], Entropy: metrics[2], ClustersUsed: int(math.Round(metrics[3])), Seconds: time.Since(itStart).Seconds()})
		meta.Iteration = t + 1
		writeIteration(tb, t+1, loss, metrics[1], metrics[2], math.Round(metrics[3]))
		if (t+1)%cfg.CheckpointEvery == 0 || t+1 == T {
			if err := checkpoint(); err != nil {
				return core.FitResult{}, err
			}
			saved = meta.Iteration
		}
		if now := time.Now(); t+1 == T || now.Sub(lastReport) >= progressEvery {
			lastReport = now
			progress(core.Progress{Epoch: t + 1, Epochs: T, Step: t + 1, Steps: T, Loss: loss})
		}
	}
	if len(history) == 0 {
		return core.FitResult{}, fmt.Errorf("checkpoint %s holds no iterations; delete it to start the run afresh", ckpt)
	}
	final := history[len(history)-1].Loss
	res := core.FitResult{Backend: be.Name, BestHead: 0, HeadLosses: []float64{final},
		Assignments: map[string]string{}, Probabilities: map[string]string{}, History: historyPath}
	if err := assignAll(ctx, req, spaces, splits, splitRows, dims, C, be.Backend, run.theta(), res, progress, T); err != nil {
		return core.FitResult{}, err
	}
	res.Seconds = time.Since(started).Seconds()
	return res, nil
}

// iterator runs the outer iterations of a run: it draws each one's batch
// and (cold start) inner init from (seed, t) and runs it on the device.
type iterator struct {
	run    *deviceRun
	cfg    config
	seed   int64
	dims   []int
	C      int
	drawer *batchDrawer
	rows   []int32
}

func newIterator(run *deviceRun, cfg config, seed int64, dims []int, clusters, n, b int) *iterator {
	return &iterator{run: run, cfg: cfg, seed: seed, dims: dims, C: clusters, drawer: newBatchDrawer(seed, n, b), rows: make([]int32, b)}
}

// iterate runs iteration t (0-based) and returns its metrics (see
// iterGraph).
func (it *iterator) iterate(t int) ([]float64, error) {
	it.drawer.rows(t, it.rows)
	var inner []*tensors.Tensor
	if !it.cfg.WarmStart {
		a, c := innerInit(it.seed, t, it.dims, it.C)
		for s, d := range it.dims {
			inner = append(inner, tensors.FromFlatDataAndDimensions(a[s], it.C, d), tensors.FromFlatDataAndDimensions(c[s], it.C))
		}
	}
	sc := toFloat32(adamScalars(it.cfg, t))
	metrics, _, err := it.run.step(it.rows, inner, tensors.FromFlatDataAndDimensions(sc, len(sc)))
	for _, x := range inner {
		_ = x.FinalizeAll()
	}
	return metrics, err
}

// donateOn says whether the iterations donate the state's buffers on the
// backend named name (see newDeviceRun): on PJRT (xla) only.
func donateOn(name string) bool { return strings.HasPrefix(name, "xla") }

// transposedGradOn says whether the iteration graph computes its gradient
// products from the transposed batch on the backend named name (see
// iterGraph.build): on ONNX Runtime, where it halves their cost (the go
// backend runs both forms at the same speed, XLA chooses layouts itself).
func transposedGradOn(name string) bool { return strings.HasPrefix(name, "onnx") }

// initialState is the state before the first iteration (iterGraph's
// state order): the task encoder drawn from the seed, zero Adam moments,
// and with warm start the inner classifiers of iteration 0.
func initialState(seed int64, dims []int, clusters int, warm bool) [][]float32 {
	v, g, b := encoderInit(seed, dims, clusters)
	var theta [][]float32
	for s := range dims {
		theta = append(theta, v[s], g[s], b[s])
	}
	zeros := func(xs [][]float32) [][]float32 {
		out := make([][]float32, len(xs))
		for i, x := range xs {
			out[i] = make([]float32, len(x))
		}
		return out
	}
	state := append(append(append([][]float32{}, theta...), zeros(theta)...), zeros(theta)...)
	if warm {
		a, c := innerInit(seed, 0, dims, clusters)
		var inner [][]float32
		for s := range dims {
			inner = append(inner, a[s], c[s])
		}
		state = append(append(append(state, inner...), zeros(inner)...), zeros(inner)...)
	}
	return state
}

// adamScalars are the scalars input of iteration t (0-based; see
// iterGraph): the outer Adam's step t+1, and the inner Adam's steps 1..M
// (cold start: a fresh optimiser every iteration) or tM+1..tM+M (warm
// start: one optimiser throughout), each as lr/bc1 and sqrt(bc2).
func adamScalars(cfg config, t int) []float64 {
	M := cfg.InnerSteps
	out := make([]float64, 2+2*M)
	step := func(lr float64, n int) (float64, float64) {
		bc1 := 1 - math.Pow(adamBeta1, float64(n))
		bc2 := 1 - math.Pow(adamBeta2, float64(n))
		return lr / bc1, math.Sqrt(bc2)
	}
	out[0], out[1] = step(cfg.OuterLR, t+1)
	first := 1
	if cfg.WarmStart {
		first = t*M + 1
	}
	for k := range M {
		out[2+k], out[2+M+k] = step(cfg.InnerLR, first+k)
	}
	return out
}

func toFloat32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

// configKey identifies everything that determines a run's trajectory: the
// plugin's version, the options but checkpoint_every, the clusters, the
// seed and every space's exact train embeddings. The backend is left
// out: a run may resume on another backend.
func configKey(opts core.Options, req core.FitRequest, train []matrix[float32], crcs []uint32) string {
	spaces := make([][]any, len(train))
	for s, m := range train {
		spaces[s] = []any{m.Rows, m.Cols, crcs[s]}
	}
	b, _ := json.Marshal(map[string]any{
		"loss": "turtle", "version": Version, "options": json.RawMessage(trajectoryOptions(opts).Canonical()),
		"clusters": req.Clusters, "seed": req.Seed, "spaces": spaces,
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// assignAll writes, for every split, probs_<split>.npy [N, C] float32 (tau
// on all spaces, streamed chunk by chunk) and assign_<split>.npy [1, N]
// int32 (its argmax, the first on ties).
func assignAll(ctx context.Context, req core.FitRequest, spaces []core.Space, splits []string, splitRows map[string]int, dims []int, clusters int,
	be compute.Backend, theta []*tensors.Tensor, out core.FitResult, progress func(core.Progress), T int) error {
	if len(splits) == 0 {
		return nil
	}
	// Every call has the rows of the largest chunk, so the graph compiles
	// once; the splits are then read one at a time.
	rows := 1
	for _, split := range splits {
		rows = max(rows, min(splitRows[split], maxAssignRows))
	}
	as, err := newAssigner(be, len(dims), clusters, rows)
	if err != nil {
		return err
	}
	defer as.close()
	for _, split := range splits {
		xs, err := splitSpaces(spaces, split, dims)
		if err != nil {
			return err
		}
		n := xs[0].Rows
		progress(core.Progress{Epoch: T, Epochs: T, Step: T, Steps: T, Message: fmt.Sprintf("assigning %s (%d rows)", split, n)})
		ppath := filepath.Join(req.OutDir, rundir.ProbsFile(split))
		pw, err := npy.CreateFloat32Rows(ppath, n, clusters)
		if err != nil {
			return fmt.Errorf("write the probabilities of %s: %w", split, err)
		}
		assign, err := assignRows(ctx, as, theta, xs, pw.Append)
		if err != nil {
			pw.Abort()
			return fmt.Errorf("assign %s: %w", split, err)
		}
		if err := pw.Commit(); err != nil {
			return fmt.Errorf("write the probabilities of %s: %w", split, err)
		}
		path := filepath.Join(req.OutDir, rundir.AssignFile(split))
		if err := npy.WriteInt32(path, assign, 1, n); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		out.Assignments[split], out.Probabilities[split] = path, ppath
	}
	return nil
}
