package main

import (
	"context"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// Version changes whenever the plugin would deliver different images,
// labels or class names for the same files.
const Version = "1.0.0"

// Option names.
const (
	optRoot           = "root"
	optFold           = "fold"
	optUnlabeled      = "unlabeled"
	optLimitUnlabeled = "limit_unlabeled"
)

// Dataset serves STL-10 from the binary distribution, packed or unpacked.
// The zero value is ready to use.
type Dataset struct{}

var _ core.Dataset = Dataset{}

func schema() []core.Option {
	return append([]core.Option{
		{
			Name: optRoot, Type: core.TypeString,
			Help: "STL-10 as distributed: stl10_binary.tar.gz, the stl10_binary folder it unpacks to, or a directory holding either " +
				"(such as torchvision's root); the folder is faster (read by seeking; the archive can only be streamed from its start); " +
				"STL-10 cannot be downloaded here",
		},
		{
			Name: optFold, Type: core.TypeInt, Default: noFold, Min: core.Bound(noFold), Max: core.Bound(9),
			Help: "train on one of the 10 predefined folds of fold_indices.txt (1000 train images each, in the file's order, " +
				"as torchvision's STL10(folds=k)); -1 = all 5000 train images",
		},
		{
			Name: optUnlabeled, Type: core.TypeBool, Default: false,
			Help: "also offer the split \"unlabeled\": the 100000 unlabeled images (labels -1; 2.8 GB, streamed, never held in memory), " +
				"embedded and assigned by the trained heads like test, not trained on; off by default, as in TEMI's STL-10 protocol (train and test)",
		},
	}, append(core.LimitOptions(),
		core.Option{Name: optLimitUnlabeled, Type: core.TypeInt, Default: 0, Min: core.Bound(0),
			Help: "use only the first N unlabeled images (0 = all); for quick tests"})...)
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindDataset,
		Name:    "stl10",
		Version: Version,
		Summary: "STL-10 from stl10_binary.tar.gz or its folder: train (5000), test (8000) and optionally unlabeled (100000), 96x96 RGB, upright as torchvision's",
		Options: schema(),
	}
}

// options are the dataset's options as given (core.Decode fills them).
type options struct {
	Root           string `option:"root"`
	Fold           int    `option:"fold"`
	Unlabeled      bool   `option:"unlabeled"`
	LimitTrain     int    `option:"limit_train"`
	LimitTest      int    `option:"limit_test"`
	LimitUnlabeled int    `option:"limit_unlabeled"`
}

func resolve(opts core.Options) (config, error) {
	var o options
	if _, err := core.Decode(schema(), opts, &o); err != nil {
		return config{}, err
	}
	return config{
		root: o.Root, fold: o.Fold, unlabeled: o.Unlabeled,
		limitTrain: o.LimitTrain, limitTest: o.LimitTest, limitUnlabeled: o.LimitUnlabeled,
	}, nil
}

// Describe implements core.Dataset. With options it indexes and checks the
// files and hashes the content the options deliver (see contentHash).
func (Dataset) Describe(ctx context.Context, opts core.Options) (core.DatasetInfo, error) {
	if opts == nil {
		return core.DatasetInfo{Description: description()}, nil
	}
	cfg, err := resolve(opts)
	if err != nil {
		return core.DatasetInfo{}, err
	}
	v, err := open(ctx, cfg)
	if err != nil {
		return core.DatasetInfo{}, distfile.RootFault(optRoot, err)
	}
	sum, err := v.contentHash(ctx)
	if err != nil {
		return core.DatasetInfo{}, distfile.RootFault(optRoot, err)
	}
	d := description()
	fold := "all"
	if cfg.fold != noFold {
		fold = fmt.Sprint(cfg.fold)
	}
	d.Identity = fmt.Sprintf("stl10 %s content=sha256:%s fold=%s", Version, sum, fold)
	info := core.DatasetInfo{
		Description: d,
		Classes:     append([]string(nil), v.classes...),
		Height:      side, Width: side, Channels: channels,
	}
	for _, s := range v.splits {
		info.Splits = append(info.Splits, core.SplitInfo{Name: s.name, Count: s.n})
		info.Identity += fmt.Sprintf(" %s=%d", s.name, s.n)
	}
	return info, nil
}

// Read implements core.Dataset: it streams the split in order, in batches
// of at most req.BatchSize images.
func (Dataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if req.BatchSize <= 0 {
		return distfile.Invalidf("read %s: batch size must be positive, got %d", req.Split, req.BatchSize)
	}
	cfg, err := resolve(req.Options)
	if err != nil {
		return err
	}
	switch req.Split {
	case core.SplitTrain, core.SplitTest:
	case splitUnlab:
		if !cfg.unlabeled {
			return distfile.Invalidf("read: split %q is not offered; set the option unlabeled=true to read the unlabeled images", req.Split)
		}
	default:
		return distfile.Invalidf("read: unknown split %q; STL-10 has splits %q, %q and (with unlabeled=true) %q", req.Split, core.SplitTrain, core.SplitTest, splitUnlab)
	}
	v, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	s, _ := v.split(req.Split)
	return stream(ctx, v.ix.src, s, req.BatchSize, send)
}
