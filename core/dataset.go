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
	Classes []string // class names, index = label
	// Image geometry: every image of the dataset has this shape (HWC).
	Height, Width, Channels int
}

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
