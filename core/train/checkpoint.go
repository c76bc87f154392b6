package train

import (
	"archive/zip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// CheckpointFile is the name of the checkpoint in the output directory. It
// is a NumPy .npz archive (uncompressed zip of .npy files) plus meta.json,
// so `numpy.load("checkpoint.npz")["teacher/w0"]` works from Python.
const CheckpointFile = rundir.CheckpointFile

// HistoryFile is the per-epoch log in the output directory.
const HistoryFile = rundir.HistoryFile

const checkpointFormat = "clusterlab-train-checkpoint"

// EpochRecord is one line of history.jsonl.
type EpochRecord struct {
	Epoch      int       `json:"epoch"` // 1-based
	HeadLosses []float64 `json:"head_losses"`
	Loss       float64   `json:"loss"` // mean over heads
	// LR, WeightDecay and TeacherMomentum are the values of the epoch's
	// last step; TeacherTemp is the epoch's teacher temperature.
	LR              float64 `json:"lr"`
	WeightDecay     float64 `json:"weight_decay"`
	TeacherMomentum float64 `json:"teacher_momentum"`
	TeacherTemp     float64 `json:"teacher_temp"`
	Seconds         float64 `json:"seconds"`
}

// arrayInfo names one stored array.
type arrayInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// checkpointMeta is meta.json inside the checkpoint.
type checkpointMeta struct {
	Format string `json:"format"`
	// Key identifies the configuration (options, loss, data, seed); a
	// checkpoint is resumed only by a run with the same key.
	Key    string      `json:"key"`
	Epoch  int         `json:"epoch"`     // completed epochs
	Iter   int         `json:"iteration"` // completed iterations
	Seed   int64       `json:"seed"`      // pairs of epoch e come from (seed, e) alone
	Params []arrayInfo `json:"params"`
	State  []arrayInfo `json:"state"`
	// History holds one record per completed epoch.
	History []EpochRecord `json:"history"`
	// PartialSums are the per-head loss sums of the steps already done in
	// the interrupted epoch (Iter beyond Epoch full epochs): a checkpoint
	// written on interrupt resumes mid-epoch, byte for byte.
	PartialSums []float64 `json:"partial_sums,omitempty"`
}

// hostState is the full training state on the host, for checkpoints.
type hostState struct {
	Student, Teacher, M, V [][]float32 // in paramSpec order
	Loss                   [][]float32 // in StateVar order
}

// groups lists the archive folder of each part of the state.
func (h *hostState) groups() []struct {
	dir    string
	arrays *[][]float32
} {
	return []struct {
		dir    string
		arrays *[][]float32
	}{{"student", &h.Student}, {"teacher", &h.Teacher}, {"adam_m", &h.M}, {"adam_v", &h.V}}
}

// writeCheckpoint writes the checkpoint atomically (temporary file, fsync,
// rename): a crash leaves the previous checkpoint intact.
func writeCheckpoint(path string, meta checkpointMeta, specs []paramSpec, stateVars []StateVar, h *hostState) error {
	meta.Format = checkpointFormat
	meta.Params = meta.Params[:0]
	for _, s := range specs {
		meta.Params = append(meta.Params, arrayInfo{s.Name, s.Shape})
	}
	meta.State = meta.State[:0]
	for _, s := range stateVars {
		meta.State = append(meta.State, arrayInfo{s.Name, s.Shape})
	}
	metaJSON, err := json.MarshalIndent(meta, "", " ")
	if err != nil {
		return err
	}
	err = npy.WriteAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, g := range h.groups() {
			for i, s := range specs {
				if err := writeNpyEntry(zw, g.dir+"/"+s.Name+".npy", (*g.arrays)[i], s.Shape); err != nil {
					return err
				}
			}
		}
		for i, s := range stateVars {
			if err := writeNpyEntry(zw, "loss_state/"+s.Name+".npy", h.Loss[i], s.Shape); err != nil {
				return err
			}
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: "meta.json", Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := f.Write(metaJSON); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

func writeNpyEntry(zw *zip.Writer, name string, data []float32, shape []int) error {
	f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err != nil {
		return err
	}
	if _, err := f.Write(npy.EncodeHeader("<f4", shape)); err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<16)
	for _, v := range data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		if len(buf) == cap(buf) {
			if _, err := f.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err = f.Write(buf)
	return err
}

// errNoCheckpoint means the directory holds no checkpoint.
var errNoCheckpoint = errors.New("no checkpoint")

// errOtherConfig means the checkpoint belongs to another configuration.
var errOtherConfig = errors.New("checkpoint from another configuration")

// readCheckpoint loads a checkpoint written for key. It returns
// errNoCheckpoint when there is none, an error wrapping errOtherConfig when
// it was written for another configuration, and any other error when the
// file is damaged.
func readCheckpoint(path, key string, specs []paramSpec, stateVars []StateVar) (*hostState, checkpointMeta, error) {
	var meta checkpointMeta
	zr, err := zip.OpenReader(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, meta, errNoCheckpoint
	}
	if err != nil {
		return nil, meta, fmt.Errorf("open checkpoint %s: %w", path, err)
	}
	defer zr.Close()
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		files[f.Name] = f
	}
	mf, ok := files["meta.json"]
	if !ok {
		return nil, meta, fmt.Errorf("checkpoint %s has no meta.json", path)
	}
	rc, err := mf.Open()
	if err != nil {
		return nil, meta, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	err = json.NewDecoder(rc).Decode(&meta)
	rc.Close()
	if err != nil {
		return nil, meta, fmt.Errorf("checkpoint %s: meta.json: %w", path, err)
	}
	if meta.Format != checkpointFormat {
		return nil, meta, fmt.Errorf("checkpoint %s: format %q, want %q", path, meta.Format, checkpointFormat)
	}
	if meta.Key != key {
		return nil, meta, fmt.Errorf("%w (%s key %s, this run %s)", errOtherConfig, path, short(meta.Key), short(key))
	}
	read := func(name string, shape []int) ([]float32, error) {
		f, ok := files[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s lacks %s", path, name)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", path, name, err)
		}
		defer rc.Close()
		h, raw, err := npy.Decode(rc)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", path, name, err)
		}
		if !slices.Equal(h.Shape, shape) {
			return nil, fmt.Errorf("checkpoint %s: %s has shape %v, want %v", path, name, h.Shape, shape)
		}
		v, err := npy.ToFloat32(h, raw)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", path, name, err)
		}
		return v, nil
	}
	h := &hostState{}
	for _, g := range h.groups() {
		*g.arrays = make([][]float32, len(specs))
		for i, s := range specs {
			if (*g.arrays)[i], err = read(g.dir+"/"+s.Name+".npy", s.Shape); err != nil {
				return nil, meta, err
			}
		}
	}
	h.Loss = make([][]float32, len(stateVars))
	for i, s := range stateVars {
		if h.Loss[i], err = read("loss_state/"+s.Name+".npy", s.Shape); err != nil {
			return nil, meta, err
		}
	}
	if len(meta.History) != meta.Epoch {
		return nil, meta, fmt.Errorf("checkpoint %s: %d history records for %d epochs", path, len(meta.History), meta.Epoch)
	}
	return h, meta, nil
}

// writeHistory rewrites history.jsonl atomically from the records.
func writeHistory(path string, records []EpochRecord) error {
	var sb strings.Builder
	for _, r := range records {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	err := npy.WriteAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, sb.String())
		return err
	})
	if err != nil {
		return fmt.Errorf("write history %s: %w", path, err)
	}
	return nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// checkpointPath is where Fit keeps its checkpoint.
func checkpointPath(outDir string) string { return filepath.Join(outDir, CheckpointFile) }
