package rundir

import (
	"errors"
	"fmt"
	"os"

	"github.com/clusterlab/clusterlab/core/npy"
)

// The checkpoint, checkpoint.npz, is a NumPy .npz archive: an uncompressed
// zip of .npy files, so numpy.load("checkpoint.npz")["teacher/w0"] reads
// an array. It holds the whole training state of the shared trainer:
//
//	student/<param>.npy     the student's parameters (float32)
//	teacher/<param>.npy     the teacher's (its EMA), same names and shapes
//	adam_m/<param>.npy      AdamW's first moments, same names and shapes
//	adam_v/<param>.npy      AdamW's second moments, same names and shapes
//	loss_state/<name>.npy   the loss's state (e.g. TEMI's prior [H, K])
//	meta.json               CheckpointMeta: where training stands
//
// The parameters are listed, with their shapes, in meta.json's params and
// state; docs/RUNDIR.md gives their layout.

// CheckpointFormat is meta.json's format field.
const CheckpointFormat = "clusterlab-train-checkpoint"

// CheckpointMetaEntry is the name of meta.json inside the archive.
const CheckpointMetaEntry = "meta.json"

// Groups of arrays in the checkpoint.
const (
	CheckpointStudent   = "student"
	CheckpointTeacher   = "teacher"
	CheckpointAdamM     = "adam_m"
	CheckpointAdamV     = "adam_v"
	CheckpointLossState = "loss_state"
)

// CheckpointEntry is the archive name of one array of a group.
func CheckpointEntry(group, name string) string { return group + "/" + name + ".npy" }

// CheckpointArray names one array of the checkpoint and its shape.
type CheckpointArray struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

// CheckpointMeta is meta.json inside the checkpoint.
type CheckpointMeta struct {
	Format string `json:"format"`
	// Key identifies the configuration (loss, options, data, seed); a
	// checkpoint is resumed only by a run with the same key.
	Key   string `json:"key"`
	Epoch int    `json:"epoch"`     // completed epochs
	Iter  int    `json:"iteration"` // completed iterations
	Seed  int64  `json:"seed"`      // pairs of epoch e come from (seed, e) alone
	// Params lists the parameters of every group but loss_state, in
	// order; State the loss's state arrays.
	Params []CheckpointArray `json:"params"`
	State  []CheckpointArray `json:"state"`
	// History holds one record per completed epoch.
	History []EpochRecord `json:"history"`
	// PartialSums are the per-head loss sums of the steps already done in
	// the interrupted epoch (Iter beyond Epoch full epochs): a checkpoint
	// written on interrupt resumes mid-epoch, byte for byte.
	PartialSums []float64 `json:"partial_sums,omitempty"`
}

// ErrNoCheckpoint is OpenCheckpoint's error when there is no checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint")

// OpenCheckpoint opens a checkpoint (the shared trainer's or a loss's own,
// both .npz archives with a meta.json) and decodes its meta.json into
// meta; the caller checks the format and reads the arrays, then closes the
// archive. It returns ErrNoCheckpoint when the file does not exist.
func OpenCheckpoint(path string, meta any) (*npy.NPZ, error) {
	z, err := npy.OpenNPZ(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCheckpoint
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := z.JSON(CheckpointMetaEntry, meta); err != nil {
		z.Close()
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return z, nil
}

// ErrOtherConfig is wrapped by CheckCheckpointKey's error: the checkpoint
// was written for another configuration, and a run starts afresh.
var ErrOtherConfig = errors.New("checkpoint from another configuration")

// CheckCheckpointKey compares a checkpoint's key with the run's; a
// mismatch is an error wrapping ErrOtherConfig that shows both, shortened.
func CheckCheckpointKey(path, got, want string) error {
	if got == want {
		return nil
	}
	short := func(s string) string { return s[:min(len(s), 12)] }
	return fmt.Errorf("%w (%s key %s, this run %s)", ErrOtherConfig, path, short(got), short(want))
}
