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

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// CheckpointFile is the name of the checkpoint in the output directory. It
// is a NumPy .npz archive (uncompressed zip of .npy files) plus meta.json,
// so `numpy.load("checkpoint.npz")["teacher/w0"]` works from Python.
const CheckpointFile = rundir.CheckpointFile

// HistoryFile is the per-epoch log in the output directory.
const HistoryFile = rundir.HistoryFile

// checkpointMeta is meta.json inside the checkpoint (rundir owns it).
type checkpointMeta = rundir.CheckpointMeta

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
	}{{rundir.CheckpointStudent, &h.Student}, {rundir.CheckpointTeacher, &h.Teacher}, {rundir.CheckpointAdamM, &h.M}, {rundir.CheckpointAdamV, &h.V}}
}

// writeCheckpoint writes the checkpoint atomically (temporary file, fsync,
// rename): a crash leaves the previous checkpoint intact.
func writeCheckpoint(path string, meta checkpointMeta, specs []paramSpec, stateVars []StateVar, h *hostState) error {
	meta.Format = rundir.CheckpointFormat
	meta.Params = meta.Params[:0]
	for _, s := range specs {
		meta.Params = append(meta.Params, rundir.CheckpointArray{Name: s.Name, Shape: s.Shape})
	}
	meta.State = meta.State[:0]
	for _, s := range stateVars {
		meta.State = append(meta.State, rundir.CheckpointArray{Name: s.Name, Shape: s.Shape})
	}
	metaJSON, err := json.MarshalIndent(meta, "", " ")
	if err != nil {
		return err
	}
	err = npy.WriteAtomic(path, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, g := range h.groups() {
			for i, s := range specs {
				if err := writeNpyEntry(zw, rundir.CheckpointEntry(g.dir, s.Name), (*g.arrays)[i], s.Shape); err != nil {
					return err
				}
			}
		}
		for i, s := range stateVars {
			if err := writeNpyEntry(zw, rundir.CheckpointEntry(rundir.CheckpointLossState, s.Name), h.Loss[i], s.Shape); err != nil {
				return err
			}
		}
		f, err := zw.CreateHeader(&zip.FileHeader{Name: rundir.CheckpointMetaEntry, Method: zip.Store})
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
	mf, ok := files[rundir.CheckpointMetaEntry]
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
	if meta.Format != rundir.CheckpointFormat {
		return nil, meta, fmt.Errorf("checkpoint %s: format %q, want %q", path, meta.Format, rundir.CheckpointFormat)
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
			if (*g.arrays)[i], err = read(rundir.CheckpointEntry(g.dir, s.Name), s.Shape); err != nil {
				return nil, meta, err
			}
		}
	}
	h.Loss = make([][]float32, len(stateVars))
	for i, s := range stateVars {
		if h.Loss[i], err = read(rundir.CheckpointEntry(rundir.CheckpointLossState, s.Name), s.Shape); err != nil {
			return nil, meta, err
		}
	}
	if len(meta.History) != meta.Epoch {
		return nil, meta, fmt.Errorf("checkpoint %s: %d history records for %d epochs", path, len(meta.History), meta.Epoch)
	}
	return h, meta, nil
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// checkpointPath is where Fit keeps its checkpoint.
func checkpointPath(outDir string) string { return filepath.Join(outDir, CheckpointFile) }
