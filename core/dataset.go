package core

import "context"

// Split names used by the runner. Datasets may offer others.
const (
	SplitTrain = "train"
	SplitTest  = "test"
)

// DatasetInfo is what a dataset plugin reports for a set of options.
type DatasetInfo struct {
	Description
	Splits  []SplitInfo
	Classes []string // class names, index = label; empty when unlabelled
	// Image geometry: every image of the dataset has this shape (HWC).
	// Height and Width are 0 when the images differ in size (a folder of
	// photos); each ImageBatch then gives its own, and a batch holds
	// images of one size only. Channels is 0 when the dataset has no
	// images (features alone).
	Height, Width, Channels int
	// Skipped lists files left out because they could not be read as
	// images, when the dataset's options ask to skip rather than fail.
	Skipped []SkippedImage
}

// SkippedImage is one file a dataset left out of a split.
type SkippedImage struct {
	Split  string // the split it would have been in
	Name   string // the file as the user knows it (relative to the root)
	Reason string // why ("truncated JPEG data", "not an image", ...)
}

// FixedSize reports whether every image of the dataset has the one size
// Height x Width x Channels.
func (d DatasetInfo) FixedSize() bool { return d.Height > 0 && d.Width > 0 && d.Channels > 0 }

// Labelled reports whether the dataset has classes. Its images may still
// lack a label each (-1), as STL-10's unlabeled split does.
func (d DatasetInfo) Labelled() bool { return len(d.Classes) > 0 }

// SplitInfo names one split and its size.
type SplitInfo struct {
	Name  string
	Count int
}

// Split returns the info of the named split.
func (d DatasetInfo) Split(name string) (SplitInfo, bool) {
	for _, s := range d.Splits {
		if s.Name == name {
			return s, true
		}
	}
	return SplitInfo{}, false
}

// ImageBatch is a run of consecutive images of one split.
type ImageBatch struct {
	Offset int // index of the first image within its split
	Count  int
	// Height, Width, Channels describe each image; Pixels holds Count
	// images in N,H,W,C order, uint8.
	Height, Width, Channels int
	Pixels                  []uint8
	Labels                  []int32 // one per image; -1 when unknown
	// Names holds one name per image, or is empty: a stable identifier a
	// user recognises, such as the file's path relative to the dataset's
	// root (galleries show it; clusterlab assign writes it).
	Names []string
}

// BatchReader yields image batches in order; Next returns io.EOF at the end.
type BatchReader interface {
	Next() (ImageBatch, error)
}

// ReadRequest asks a dataset for one split, in batches of at most
// BatchSize images.
type ReadRequest struct {
	Options   Options
	Split     string
	BatchSize int
}

// Dataset is implemented by dataset plugins (datasets/*).
type Dataset interface {
	// Describe validates opts (which may be nil to get the schema only) and
	// returns the dataset's description, splits and classes.
	Describe(ctx context.Context, opts Options) (DatasetInfo, error)
	// Read streams one split in order, calling send for each batch.
	Read(ctx context.Context, req ReadRequest, send func(ImageBatch) error) error
}

// Option names every dataset plugin offers for quick runs on a prefix of
// its splits.
const (
	OptLimitTrain = "limit_train"
	OptLimitTest  = "limit_test"
)

// LimitOptions returns the schema of limit_train and limit_test: use only
// the first N images of a split (0 = all).
func LimitOptions() []Option {
	return []Option{
		{Name: OptLimitTrain, Type: TypeInt, Default: 0, Min: Bound(0), Help: "use only the first N train images (0 = all); for quick tests"},
		{Name: OptLimitTest, Type: TypeInt, Default: 0, Min: Bound(0), Help: "use only the first N test images (0 = all); for quick tests"},
	}
}
