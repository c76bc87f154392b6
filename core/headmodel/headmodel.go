// Package headmodel applies the trained heads of a finished run to new
// embeddings, on the CPU in pure Go: it reads the run directory (run.json,
// metrics.json, config.yaml and the teacher's parameters in
// checkpoint.npz), the input normalisation the trainer used (embed_norm:
// the train split's per-dimension mean and unbiased standard deviation,
// recomputed from the cached train embeddings the run recorded, their
// sha256 checked), and computes a head's logits, clusters and
// probabilities as docs/RUNDIR.md ("A head's logits for new embeddings")
// defines them.
//
// The normalisation is computed in float32 exactly as the trainer does it
// (core/train/data.go), the heads in float64: clusters equal the run's
// assign_<split>.npy and probabilities its probs_<split>.npy to about
// 1e-6 on the run's own embeddings. The same parameters, in float32,
// serve the ONNX export (Head.Params).
package headmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
	"github.com/clusterlab/clusterlab/core/store"
)

// The trainer's options this package reads from config.yaml's loss section
// (core/train's option names; not imported, to keep GoMLX out).
const (
	optEmbedNorm   = "embed_norm"
	optL2Norm      = "l2_norm"
	optTeacherTemp = "teacher_temp"
	optEpochs      = "epochs"
)

// normEps is F.normalize's epsilon, the trainer's too.
const normEps = 1e-12

// Model is the teacher heads of a finished run.
type Model struct {
	Dir string
	// Record is the run's run.json, with Inputs.Backbone set to the
	// backbone the heads take (in a run of several spaces that used one
	// of them, that space's backbone).
	Record  rundir.Record
	Metrics rundir.Metrics
	// D is the embeddings' dimension, Heads the number of heads, K the
	// clusters, Layers the linear layers before the last one (nlayers),
	// Out0 the width of the first, Bottleneck the last one's input.
	D, Heads, K, Layers, Out0, Bottleneck int
	// The loss options that shape the forward pass.
	EmbedNorm, L2Norm bool
	TeacherTemp       float64
	// Mean and Std are embed_norm's statistics as the trainer computed
	// them (float32; a dimension with standard deviation 0 has Std 1, so
	// it is only centred); nil without embed_norm.
	Mean, Std []float32
	// TrainEmbeddings is the cached file the statistics came from ("" when
	// embed_norm is off).
	TrainEmbeddings string
	params          map[string][]float32 // the teacher's, by checkpoint name
	shapes          map[string][]int
}

// BestHead is the head the run selected without labels.
func (m *Model) BestHead() int { return m.Metrics.BestHead }

// invalid wraps a problem the user can act on (exit status 2 in the runner).
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", core.ErrInvalidInput, fmt.Sprintf(format, args...))
}

// Load reads the finished run in dir. A run that did not finish, one whose
// loss trained without the shared trainer (no checkpoint.npz), and one
// whose normalisation statistics cannot be recomputed (the cache entry of
// its train embeddings is gone or changed) are errors wrapping
// core.ErrInvalidInput that say what to do.
func Load(dir string) (*Model, error) {
	run, err := rundir.Read(dir)
	if err != nil {
		if errors.Is(err, rundir.ErrNotRun) {
			return nil, invalid("%v: give the directory of a run, runs/<experiment>/<trial>", err)
		}
		return nil, core.InvalidInput(err)
	}
	if !run.Finished() {
		why := ""
		if run.Record.Error != "" {
			why = " (" + run.Record.Error + ")"
		}
		return nil, invalid("run %s has status %s%s, not finished: its heads are final only once it finished; run `clusterlab run %s` again to finish it (it resumes from its checkpoint)",
			dir, run.Record.Status, why, filepath.Join(dir, rundir.ConfigFile))
	}
	bb, one := run.Record.Inputs.UsedBackbone()
	if !one {
		return nil, invalid("run %s used several representation spaces (%s): assign and export take the heads of a run on one backbone; train one with space: NAME (or a backbone: section) to assign new images",
			dir, strings.Join(run.Record.Inputs.SpacesUsed(), ", "))
	}
	m := &Model{Dir: dir, Record: run.Record, Metrics: *run.Metrics}
	// The backbone the heads take: in a run of several spaces that used
	// one (config space:), that space's.
	m.Record.Inputs.Backbone = bb
	loss, err := readLossOptions(dir)
	if err != nil {
		return nil, err
	}
	m.EmbedNorm, m.L2Norm, m.TeacherTemp = loss.embedNorm, loss.l2Norm, loss.teacherTemp
	meta, err := m.readCheckpoint()
	if err != nil {
		return nil, err
	}
	if loss.epochs > 0 && meta.Epoch != loss.epochs {
		return nil, invalid("%s holds the state after epoch %d, but the run trained %d epochs: it is not the final state of the heads; run the trial again (delete %s and run its config)",
			filepath.Join(dir, rundir.CheckpointFile), meta.Epoch, loss.epochs, dir)
	}
	if err := m.shape(); err != nil {
		return nil, err
	}
	if m.EmbedNorm {
		if err := m.loadStatistics(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// lossOptions are the options of config.yaml's loss section that the
// forward pass needs.
type lossOptions struct {
	embedNorm, l2Norm bool
	teacherTemp       float64
	epochs            int
}

func readLossOptions(dir string) (lossOptions, error) {
	path := filepath.Join(dir, rundir.ConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return lossOptions{}, invalid("read the run's config: %v", err)
	}
	var doc struct {
		Loss map[string]any `yaml:"loss"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return lossOptions{}, invalid("%s is damaged: %v", path, err)
	}
	var o lossOptions
	var ok bool
	if o.embedNorm, ok = doc.Loss[optEmbedNorm].(bool); !ok {
		return lossOptions{}, invalid("%s: the loss section has no %s (true or false): the run's loss did not train with the shared trainer", path, optEmbedNorm)
	}
	if o.l2Norm, ok = doc.Loss[optL2Norm].(bool); !ok {
		return lossOptions{}, invalid("%s: the loss section has no %s (true or false): the run's loss did not train with the shared trainer", path, optL2Norm)
	}
	switch v := doc.Loss[optTeacherTemp].(type) {
	case float64:
		o.teacherTemp = v
	case int:
		o.teacherTemp = float64(v)
	default:
		return lossOptions{}, invalid("%s: the loss section has no number %s: the run's loss did not train with the shared trainer", path, optTeacherTemp)
	}
	if !(o.teacherTemp > 0) {
		return lossOptions{}, invalid("%s: %s = %v, want > 0", path, optTeacherTemp, o.teacherTemp)
	}
	if e, ok := doc.Loss[optEpochs].(int); ok {
		o.epochs = e
	}
	return o, nil
}

// trainerVersion is the shared trainer's version in the loss identity
// (<loss>@<version>+trainer@<trainer version>:<hash>), 0 when absent.
var trainerVersion = regexp.MustCompile(`\+trainer@(\d+):`)

// readCheckpoint loads the teacher's parameters of checkpoint.npz.
func (m *Model) readCheckpoint() (rundir.CheckpointMeta, error) {
	path := filepath.Join(m.Dir, rundir.CheckpointFile)
	var meta rundir.CheckpointMeta
	z, err := npy.OpenNPZ(path)
	if errors.Is(err, fs.ErrNotExist) {
		return meta, invalid("run %s has no %s: its loss %s trained without clusterlab's shared trainer, so its heads are not stored in the layout this command applies (docs/RUNDIR.md, \"The checkpoint\"); only runs of losses served by lossplugin.Serve (temi, pmi, scan, ...) can be assigned or exported",
			m.Dir, rundir.CheckpointFile, m.Metrics.Loss)
	}
	if err != nil {
		return meta, invalid("%v", err)
	}
	defer z.Close()
	if !z.Has(rundir.CheckpointMetaEntry) {
		return meta, invalid("%s has no %s: it is damaged", path, rundir.CheckpointMetaEntry)
	}
	err = z.JSON(rundir.CheckpointMetaEntry, &meta)
	if err == nil && meta.Format != rundir.CheckpointFormat && meta.Format != "" {
		return meta, invalid("%s holds the state of loss %s's own training loop (format %q), not the shared trainer's heads: assign and export take runs of temi, pmi, scan and other losses the shared trainer runs",
			path, m.Metrics.Loss, meta.Format)
	}
	if err != nil || meta.Format != rundir.CheckpointFormat {
		return meta, invalid("%s: %s is not a clusterlab training checkpoint (format %q, %v)", path, rundir.CheckpointMetaEntry, meta.Format, err)
	}
	m.params, m.shapes = map[string][]float32{}, map[string][]int{}
	for _, p := range meta.Params {
		name := rundir.CheckpointTeacher + "/" + p.Name
		v, _, err := z.Float32(name, p.Shape)
		switch {
		case errors.Is(err, npy.ErrNPZMissing):
			return meta, invalid("%s lacks %s.npy: it is damaged", path, name)
		case err != nil:
			return meta, invalid("%v (meta.json gives the shape)", err)
		}
		m.params[p.Name], m.shapes[p.Name] = v, p.Shape
	}
	// Trainers up to version 2 stored w0 as [D, H*out0], the transpose of
	// today's [H*out0, D] (docs/RUNDIR.md, "Format versions").
	if sub := trainerVersion.FindStringSubmatch(m.Record.Inputs.Loss.Identity); sub != nil {
		if v, _ := strconv.Atoi(sub[1]); v <= 2 {
			if s, ok := m.shapes["w0"]; ok && len(s) == 2 {
				m.params["w0"] = transpose(m.params["w0"], s[0], s[1])
				m.shapes["w0"] = []int{s[1], s[0]}
			}
		}
	}
	return meta, nil
}

func transpose(x []float32, rows, cols int) []float32 {
	t := make([]float32, len(x))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = x[r*cols+c]
		}
	}
	return t
}

// shape reads the architecture off the parameters' shapes and checks they
// are the heads docs/RUNDIR.md describes.
func (m *Model) shape() error {
	path := filepath.Join(m.Dir, rundir.CheckpointFile)
	bad := func(format string, args ...any) error {
		return invalid("%s: %s; it is not a checkpoint of the shared trainer's heads", path, fmt.Sprintf(format, args...))
	}
	w0, b0, v, g := m.shapes["w0"], m.shapes["b0"], m.shapes["last_v"], m.shapes["last_g"]
	if len(w0) != 2 || len(b0) != 2 || len(v) != 3 || len(g) != 2 {
		return bad("w0 %v, b0 %v, last_v %v, last_g %v", w0, b0, v, g)
	}
	m.Heads, m.Out0, m.D = b0[0], b0[1], w0[1]
	m.K, m.Bottleneck = v[1], v[2]
	if w0[0] != m.Heads*m.Out0 || v[0] != m.Heads || g[0] != m.Heads || g[1] != m.K {
		return bad("w0 %v, b0 %v, last_v %v and last_g %v disagree", w0, b0, v, g)
	}
	m.Layers = 1
	for {
		name := "w" + strconv.Itoa(m.Layers)
		if _, ok := m.shapes[name]; !ok {
			break
		}
		m.Layers++
	}
	in := m.Out0
	for l := 1; l < m.Layers; l++ {
		w, b := m.shapes["w"+strconv.Itoa(l)], m.shapes["b"+strconv.Itoa(l)]
		if len(w) != 3 || len(b) != 2 || w[0] != m.Heads || w[1] != in || b[0] != m.Heads || b[1] != w[2] {
			return bad("layer %d has w %v and b %v after a layer of %d", l, w, b, in)
		}
		in = w[2]
	}
	if in != m.Bottleneck {
		return bad("the last hidden layer gives %d values, last_v takes %d", in, m.Bottleneck)
	}
	if m.K != m.Metrics.Clusters {
		return bad("%d clusters, metrics.json says %d", m.K, m.Metrics.Clusters)
	}
	if b := m.Metrics.BestHead; b < 0 || b >= m.Heads {
		return bad("metrics.json selects head %d of %d", b, m.Heads)
	}
	if a, ok := m.Record.Inputs.Embeddings[core.SplitTrain]; ok && len(a.Shape) == 2 && a.Shape[1] != m.D {
		return bad("the heads take %d values, the run's train embeddings have %d", m.D, a.Shape[1])
	}
	return nil
}

// loadStatistics recomputes embed_norm's statistics from the cached train
// embeddings the run recorded in run.json, after checking their sha256.
func (m *Model) loadStatistics() error {
	a, ok := m.Record.Inputs.Embeddings[core.SplitTrain]
	cfg := filepath.Join(m.Dir, rundir.ConfigFile)
	if !ok || a.Path == "" {
		return invalid("run.json of %s does not say which train embeddings the run trained on, which embed_norm needs for its statistics", m.Dir)
	}
	redo := fmt.Sprintf("run `clusterlab embed %s` from the folder the run was started in (config.yaml's cache_dir is relative to it), which recomputes them into the cache; the same backbone gives the same file", cfg)
	sum, err := store.FileSHA256(a.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return invalid("the run normalises its inputs (embed_norm) with statistics of its train embeddings, and %s, where the cache kept them, is gone: %s", a.Path, redo)
	}
	if err != nil {
		return fmt.Errorf("read the run's train embeddings: %w", err)
	}
	if sum != a.SHA256 {
		return invalid("the run normalises its inputs (embed_norm) with statistics of its train embeddings, and %s is not the file it trained on (sha256 %s, run.json says %s): the cache entry was recomputed with other numbers, so the run's statistics cannot be reproduced; train the run again (delete %s and run %s)",
			a.Path, sum[:12], a.SHA256[:min(12, len(a.SHA256))], m.Dir, cfg)
	}
	x, shape, unmap, err := npy.MapFloat32(a.Path)
	if err != nil {
		return fmt.Errorf("read the run's train embeddings: %w", err)
	}
	defer unmap()
	if len(shape) != 2 || shape[1] != m.D {
		return invalid("the run's train embeddings %s have shape %v, the heads take %d values", a.Path, shape, m.D)
	}
	m.Mean, m.Std = Statistics(x, shape[0], shape[1])
	m.TrainEmbeddings = a.Path
	return nil
}

// Statistics are embed_norm's statistics of the train embeddings x [n, d]
// as the trainer computes them: float64 sums in row order, rounded to
// float32; the unbiased standard deviation, 1 where it is 0 (and for a
// single row).
func Statistics(x []float32, n, d int) (mean, std []float32) {
	sum := make([]float64, d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			sum[j] += float64(v)
		}
	}
	mean, std = make([]float32, d), make([]float32, d)
	for j := range sum {
		sum[j] /= float64(n)
		mean[j] = float32(sum[j])
	}
	ss := make([]float64, d)
	for i := range n {
		for j, v := range x[i*d : (i+1)*d] {
			dv := float64(v) - sum[j]
			ss[j] += dv * dv
		}
	}
	for j := range ss {
		s := 1.0
		if n > 1 {
			s = math.Sqrt(ss[j] / float64(n-1))
		}
		if s == 0 {
			s = 1
		}
		std[j] = float32(s)
	}
	return mean, std
}

// normalise applies the input normalisation to one row in place, in
// float32 as the trainer does.
func (m *Model) normalise(row []float32) {
	if m.Mean != nil {
		for j := range row {
			row[j] = (row[j] - m.Mean[j]) / m.Std[j]
		}
	}
	if m.L2Norm {
		var s float64
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		norm := float32(max(math.Sqrt(s), normEps))
		for j := range row {
			row[j] /= norm
		}
	}
}
