package train

import (
	"encoding/json"
	"fmt"
	"path/filepath"

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
	var arrays []npy.NPZArray
	for _, g := range h.groups() {
		for i, s := range specs {
			arrays = append(arrays, npy.NPZArray{Name: g.dir + "/" + s.Name, Shape: s.Shape, Data: (*g.arrays)[i]})
		}
	}
	for i, s := range stateVars {
		arrays = append(arrays, npy.NPZArray{Name: rundir.CheckpointLossState + "/" + s.Name, Shape: s.Shape, Data: h.Loss[i]})
	}
	if err := npy.WriteNPZ(path, arrays, rundir.CheckpointMetaEntry, metaJSON); err != nil {
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

// errNoCheckpoint means the directory holds no checkpoint.
var errNoCheckpoint = rundir.ErrNoCheckpoint

// errOtherConfig means the checkpoint belongs to another configuration.
var errOtherConfig = rundir.ErrOtherConfig

// readCheckpoint loads a checkpoint written for key. It returns
// errNoCheckpoint when there is none, an error wrapping errOtherConfig when
// it was written for another configuration, and any other error when the
// file is damaged.
func readCheckpoint(path, key string, specs []paramSpec, stateVars []StateVar) (*hostState, checkpointMeta, error) {
	var meta checkpointMeta
	z, err := rundir.OpenCheckpoint(path, &meta)
	if err != nil {
		return nil, meta, err
	}
	defer z.Close()
	if meta.Format != rundir.CheckpointFormat {
		return nil, meta, fmt.Errorf("checkpoint %s: format %q, want %q", path, meta.Format, rundir.CheckpointFormat)
	}
	if err := rundir.CheckCheckpointKey(path, meta.Key, key); err != nil {
		return nil, meta, err
	}
	read := func(name string, shape []int) ([]float32, error) {
		v, _, err := z.Float32(name, shape)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		return v, nil
	}
	h := &hostState{}
	for _, g := range h.groups() {
		*g.arrays = make([][]float32, len(specs))
		for i, s := range specs {
			if (*g.arrays)[i], err = read(g.dir+"/"+s.Name, s.Shape); err != nil {
				return nil, meta, err
			}
		}
	}
	h.Loss = make([][]float32, len(stateVars))
	for i, s := range stateVars {
		if h.Loss[i], err = read(rundir.CheckpointLossState+"/"+s.Name, s.Shape); err != nil {
			return nil, meta, err
		}
	}
	if len(meta.History) != meta.Epoch {
		return nil, meta, fmt.Errorf("checkpoint %s: %d history records for %d epochs", path, len(meta.History), meta.Epoch)
	}
	return h, meta, nil
}

// checkpointPath is where Fit keeps its checkpoint.
func checkpointPath(outDir string) string { return filepath.Join(outDir, CheckpointFile) }
