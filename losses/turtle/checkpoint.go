package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/rundir"
)

// The checkpoint, rundir.CheckpointFile in the run directory, is a NumPy
// .npz archive (an uncompressed zip of float32 .npy files) plus meta.json,
// like the shared trainer's, but with TURTLE's own state and format name,
// so that tools reading the shared trainer's heads refuse it by its
// format. numpy.load("checkpoint.npz")["theta/V0"] reads an array. Its
// entries, for each space s (0-based, in the request's order):
//
//	theta/V<s>, theta/g<s>, theta/b<s>         the task encoder
//	adam_m/<same>, adam_v/<same>               the outer Adam's moments
//	inner/A<s>, inner/c<s>                     warm start only: the inner classifiers
//	inner_adam_m/<same>, inner_adam_v/<same>   warm start only: their Adam's moments
//	meta.json                                  checkpointMeta
//
// Adam's step counts follow from the iterations done (outer: iteration;
// inner, warm start: iteration x inner_steps), and the random draws from
// (seed, iteration) alone (see rng.go): nothing else is needed to resume.
const checkpointFormat = "clusterlab-turtle-checkpoint"

// checkpointMeta is meta.json inside the checkpoint.
type checkpointMeta struct {
	Format string `json:"format"`
	// Key identifies the configuration (plugin version, options but
	// checkpoint_every, clusters, seed, every space's train shape and
	// CRC); a checkpoint is resumed only by a run with the same key.
	Key       string `json:"key"`
	Iteration int    `json:"iteration"` // completed outer iterations
	Seed      int64  `json:"seed"`
	WarmStart bool   `json:"warm_start"`
	// OuterStep and InnerStep are the Adam step counts reached (InnerStep
	// is 0 with cold start, whose inner Adam restarts every iteration).
	OuterStep int `json:"outer_step"`
	InnerStep int `json:"inner_step"`
	// Spaces are the representation spaces, in order, with D_s.
	Spaces []checkpointSpace `json:"spaces"`
	// Arrays lists every array of the archive in state order.
	Arrays []rundir.CheckpointArray `json:"arrays"`
	// History holds one record per completed iteration.
	History []rundir.EpochRecord `json:"history"`
}

type checkpointSpace struct {
	Name string `json:"name"`
	Dim  int    `json:"dim"`
}

// stateArrays names and shapes the state tensors, in iterGraph's state
// order: theta, outer m, outer v (3S each), then with warm start inner,
// inner m, inner v (2S each).
func stateArrays(dims []int, clusters int, warm bool) []rundir.CheckpointArray {
	var theta, inner []rundir.CheckpointArray
	for s, d := range dims {
		i := strconv.Itoa(s)
		theta = append(theta,
			rundir.CheckpointArray{Name: "V" + i, Shape: []int{clusters, d}},
			rundir.CheckpointArray{Name: "g" + i, Shape: []int{clusters}},
			rundir.CheckpointArray{Name: "b" + i, Shape: []int{clusters}})
		inner = append(inner,
			rundir.CheckpointArray{Name: "A" + i, Shape: []int{clusters, d}},
			rundir.CheckpointArray{Name: "c" + i, Shape: []int{clusters}})
	}
	var out []rundir.CheckpointArray
	group := func(dir string, arrays []rundir.CheckpointArray) {
		for _, a := range arrays {
			out = append(out, rundir.CheckpointArray{Name: dir + "/" + a.Name, Shape: a.Shape})
		}
	}
	group("theta", theta)
	group("adam_m", theta)
	group("adam_v", theta)
	if warm {
		group("inner", inner)
		group("inner_adam_m", inner)
		group("inner_adam_v", inner)
	}
	return out
}

// writeCheckpoint writes the checkpoint atomically (temporary file, fsync,
// rename): a crash leaves the previous checkpoint intact.
func writeCheckpoint(path string, meta checkpointMeta, state [][]float32) error {
	meta.Format = checkpointFormat
	if len(state) != len(meta.Arrays) {
		return fmt.Errorf("write checkpoint %s: %d arrays for %d names", path, len(state), len(meta.Arrays))
	}
	metaJSON, err := json.MarshalIndent(meta, "", " ")
	if err != nil {
		return err
	}
	arrays := make([]npy.NPZArray, len(state))
	for i, a := range meta.Arrays {
		arrays[i] = npy.NPZArray{Name: a.Name, Shape: a.Shape, Data: state[i]}
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

// readCheckpoint loads a checkpoint written for key whose arrays are
// want. It returns errNoCheckpoint when there is none, an error wrapping
// errOtherConfig when it was written for another configuration (or by
// another loss), and any other error when the file is damaged.
func readCheckpoint(path, key string, want []rundir.CheckpointArray) ([][]float32, checkpointMeta, error) {
	var meta checkpointMeta
	z, err := rundir.OpenCheckpoint(path, &meta)
	if err != nil {
		return nil, meta, err
	}
	defer z.Close()
	if meta.Format != checkpointFormat {
		return nil, meta, fmt.Errorf("%w (%s has format %q, this loss writes %q)", errOtherConfig, path, meta.Format, checkpointFormat)
	}
	if err := rundir.CheckCheckpointKey(path, meta.Key, key); err != nil {
		return nil, meta, err
	}
	if len(meta.History) != meta.Iteration || meta.Iteration < 0 {
		return nil, meta, fmt.Errorf("checkpoint %s: %d history records for %d iterations", path, len(meta.History), meta.Iteration)
	}
	state := make([][]float32, len(want))
	for i, a := range want {
		if state[i], _, err = z.Float32(a.Name, a.Shape); err != nil {
			return nil, meta, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return state, meta, nil
}
