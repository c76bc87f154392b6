package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// Version changes whenever the plugin would deliver different images,
// labels or class names for the same files.
const Version = "1.0.0"

// Option names and values.
const (
	optName       = "name"
	optRoot       = "root"
	optFormat     = "format"
	optLimitTrain = core.OptLimitTrain
	optLimitTest  = core.OptLimitTest

	nameCIFAR10  = "cifar10"
	nameCIFAR100 = "cifar100"
	nameCIFAR20  = "cifar20"

	formatAuto   = "auto"
	formatBinary = "binary"
	formatPython = "python"
)

// Dataset serves CIFAR-10, CIFAR-100 (fine labels) and CIFAR-20 (CIFAR-100
// with its 20 coarse labels) from the archives as distributed. The zero
// value is ready to use; decoded data is cached per process.
type Dataset struct{}

var _ core.Dataset = Dataset{}

func schema() []core.Option {
	return append([]core.Option{
		{
			Name: optName, Type: core.TypeString, Default: nameCIFAR10, Choices: []string{nameCIFAR10, nameCIFAR100, nameCIFAR20},
			Help: "which dataset: cifar10, cifar100 (100 fine labels) or cifar20 (CIFAR-100 with its 20 coarse labels)",
		},
		{
			Name: optRoot, Type: core.TypeString,
			Help: "the CIFAR archive as distributed (cifar-10-binary.tar.gz, cifar-10-python.tar.gz, cifar-100-binary.tar.gz or " +
				"cifar-100-python.tar.gz), the folder it unpacks to (cifar-10-batches-bin, cifar-10-batches-py, cifar-100-binary, " +
				"cifar-100-python), or a directory holding either (such as torchvision's root); CIFAR cannot be downloaded here",
		},
		{
			Name: optFormat, Type: core.TypeString, Default: formatAuto, Choices: []string{formatAuto, formatBinary, formatPython},
			Help: "which version of the files: binary, python (the pickles torchvision uses) or auto (whichever root holds; " +
				"both give identical images, labels and class names)",
		},
	}, core.LimitOptions()...)
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindDataset,
		Name:    "cifar",
		Version: Version,
		Summary: "CIFAR-10, CIFAR-100 and CIFAR-20 (coarse labels) from the binary or python archives (32x32 RGB images)",
		Options: schema(),
	}
}

// config is the resolved options.
type config struct {
	want
	root                  string
	limitTrain, limitTest int
}

// options are the dataset's options as given (core.Decode fills them).
type options struct {
	Name       string `option:"name"`
	Root       string `option:"root"`
	Format     string `option:"format"`
	LimitTrain int    `option:"limit_train"`
	LimitTest  int    `option:"limit_test"`
}

func resolve(opts core.Options) (config, error) {
	var o options
	if _, err := core.Decode(schema(), opts, &o); err != nil {
		return config{}, err
	}
	return config{
		want:       want{name: o.Name, c100: o.Name != nameCIFAR10, format: o.Format},
		root:       o.Root,
		limitTrain: o.LimitTrain, limitTest: o.LimitTest,
	}, nil
}

// Describe implements core.Dataset. With options it loads and checks the
// files (once per process) and reports splits, classes and identity.
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
	d := description()
	d.Identity = fmt.Sprintf("cifar %s name=%s content=sha256:%s train=%d test=%d",
		Version, cfg.name, v.ds.contentHash(cfg.name), v.train.n, v.test.n)
	return core.DatasetInfo{
		Description: d,
		Splits:      []core.SplitInfo{{Name: core.SplitTrain, Count: v.train.n}, {Name: core.SplitTest, Count: v.test.n}},
		Classes:     append([]string(nil), v.classes...),
		Height:      side, Width: side, Channels: channels,
	}, nil
}

// Read implements core.Dataset: it streams the split in order in batches of
// at most req.BatchSize images.
func (Dataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if req.BatchSize <= 0 {
		return distfile.Invalidf("read %s: batch size must be positive, got %d", req.Split, req.BatchSize)
	}
	cfg, err := resolve(req.Options)
	if err != nil {
		return err
	}
	var s splitView
	switch req.Split {
	case core.SplitTrain, core.SplitTest:
	default:
		return distfile.Invalidf("read: unknown split %q; CIFAR has splits %q and %q", req.Split, core.SplitTrain, core.SplitTest)
	}
	v, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	if s = v.train; req.Split == core.SplitTest {
		s = v.test
	}
	for off := 0; off < s.n; off += req.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(req.BatchSize, s.n-off)
		// Fresh slices: a consumer may keep or modify its batch without
		// touching the per-process cache.
		b := core.ImageBatch{
			Offset: off, Count: n, Height: side, Width: side, Channels: channels,
			Pixels: make([]uint8, 0, n*imageBytes), Labels: make([]int32, 0, n),
		}
		s.each(off, n, func(p part, from, to int) {
			b.Pixels = append(b.Pixels, p.pixels[from*imageBytes:to*imageBytes]...)
			for _, l := range s.labelsOf(p)[from:to] {
				b.Labels = append(b.Labels, int32(l))
			}
		})
		if err := send(b); err != nil {
			return err
		}
	}
	return nil
}

// view is the dataset as one set of options sees it: which labels, which
// class names, and the splits after the limits.
type view struct {
	ds          *dataset
	classes     []string
	train, test splitView
}

// splitView is a split's parts with the first n images in use.
type splitView struct {
	parts  []part
	n      int
	coarse bool // CIFAR-20: the coarse labels
}

func (s splitView) labelsOf(p part) []byte {
	if s.coarse {
		return p.coarse
	}
	return p.labels
}

// each calls fn for the runs of parts that hold images off..off+n-1, with
// image indices within each part.
func (s splitView) each(off, n int, fn func(p part, from, to int)) {
	start := 0
	for _, p := range s.parts {
		if n == 0 {
			return
		}
		end := start + p.n
		if off < end {
			from := off - start
			to := min(p.n, from+n)
			fn(p, from, to)
			n -= to - from
			off += to - from
		}
		start = end
	}
}

func open(ctx context.Context, cfg config) (*view, error) {
	src, err := locate(cfg.root, cfg.want)
	if err != nil {
		return nil, err
	}
	ds, err := load(ctx, src, cfg.want)
	if err != nil {
		return nil, err
	}
	coarse := cfg.name == nameCIFAR20
	v := &view{ds: ds, classes: ds.names}
	if coarse {
		v.classes = ds.coarse
	}
	limit := func(parts []part, lim int) splitView {
		total := 0
		for _, p := range parts {
			total += p.n
		}
		if lim <= 0 || lim > total {
			lim = total
		}
		return splitView{parts: parts, n: lim, coarse: coarse}
	}
	v.train = limit(ds.train, cfg.limitTrain)
	v.test = limit(ds.test, cfg.limitTest)
	return v, nil
}

// contentHash is the sha256 of everything the plugin delivers for name,
// whole splits regardless of limits: the class names, then per split the
// image count, all labels and all pixels (HWC). It does not depend on the
// format or the packing, so every copy of the same data shares cached
// embeddings.
func (ds *dataset) contentHash(name string) string {
	ds.hashMu.Lock()
	defer ds.hashMu.Unlock()
	if h, ok := ds.hashes[name]; ok {
		return h
	}
	coarse := name == nameCIFAR20
	h := sha256.New()
	var num [8]byte
	writeNum := func(n int) {
		binary.LittleEndian.PutUint64(num[:], uint64(n))
		h.Write(num[:])
	}
	h.Write([]byte("clusterlab cifar content v1\x00"))
	names := ds.names
	if coarse {
		names = ds.coarse
	}
	writeNum(len(names))
	for _, n := range names {
		writeNum(len(n))
		h.Write([]byte(n))
	}
	for _, parts := range [][]part{ds.train, ds.test} {
		s := splitView{parts: parts, coarse: coarse}
		total := 0
		for _, p := range parts {
			total += p.n
		}
		writeNum(total)
		for _, p := range parts {
			h.Write(s.labelsOf(p))
		}
		for _, p := range parts {
			h.Write(p.pixels)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	ds.hashes[name] = sum
	return sum
}
