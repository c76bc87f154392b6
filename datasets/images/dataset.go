package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/images/decode"
)

// Version changes whenever the plugin would deliver other images, labels,
// classes or an other order for the same files and options.
const Version = "1.0.0"

// Option names and values.
const (
	optRoot         = "root"
	optLayout       = "layout"
	optSplits       = "splits"
	optClasses      = "classes"
	optClassesOrder = "classes_order"
	optExtensions   = "extensions"
	optPathColumn   = "path_column"
	optLabelColumn  = "label_column"
	optOnError      = "on_error"
	optFingerprint  = "fingerprint"

	layoutAuto    = "auto"
	layoutFolders = "folders"
	layoutFlat    = "flat"
	layoutList    = "list"

	splitsAuto = "auto"
	splitsNone = "none"

	orderFile   = "file"
	orderSorted = "sorted"

	onErrorFail = "fail"
	onErrorSkip = "skip"

	fingerprintStat   = "stat"
	fingerprintSHA256 = "sha256"
)

// torchvisionExtensions is torchvision 0.14's IMG_EXTENSIONS, the files
// ImageFolder reads (no .gif).
const torchvisionExtensions = ".jpg,.jpeg,.png,.ppm,.bmp,.pgm,.tif,.tiff,.webp"

// defaultExtensions adds .gif to torchvision's: a GIF is an image the
// plugin decodes as Pillow does, and a folder's GIFs silently left out
// would be lost data. A folder without GIFs reads exactly as ImageFolder
// reads it; with them, extensions: torchvisionExtensions reproduces it.
const defaultExtensions = torchvisionExtensions + ",.gif"

// maxBatchBytes bounds the pixels of one batch (it holds at least one
// image): batches of large photos stay small in memory.
const maxBatchBytes = 4 << 20

// Dataset serves a folder of image files. The zero value is ready to use.
type Dataset struct{}

var _ core.Dataset = Dataset{}

func schema() []core.Option {
	return append([]core.Option{
		{
			Name: optRoot, Type: core.TypeString,
			Help: "the images: a folder with one subfolder per class (torchvision's ImageFolder), a flat folder of images (no labels), " +
				"a folder with train/, test/ and/or val/ folders holding either (they become the splits; else everything is the train split), " +
				"or a CSV or TSV list file with a header (columns path_column, optionally label_column and split)",
		},
		{
			Name: optLayout, Type: core.TypeString, Default: layoutAuto, Choices: []string{layoutAuto, layoutFolders, layoutFlat, layoutList},
			Help: "how root is read: folders (class folders), flat (every image under the folder, label -1), list (a list file) or auto " +
				"(list for a file; for a folder, folders when it has subfolders, else flat)",
		},
		{
			Name: optSplits, Type: core.TypeString, Default: splitsAuto, Choices: []string{splitsAuto, splitsNone},
			Help: "auto: when every subfolder of root is train, test or val and train is one, they are the splits; none: root is the train split " +
				"(a dataset whose classes are named train, test, val)",
		},
		{
			Name: optClasses, Type: core.TypeString, Default: "",
			Help: "a file naming the class folders (or list labels) to use, one per line (# comments): the whole line, or its first word " +
				"when the whole line names no class, as in SCAN's ImageNet subset files (\"n01558993 robin, American robin\"; the readable " +
				"rest is ignored, class names stay the folder names); other classes are left out; every named folder must exist in every split",
		},
		{
			Name: optClassesOrder, Type: core.TypeString, Default: orderFile, Choices: []string{orderFile, orderSorted},
			Help: "order of the classes of the classes file, which gives the labels and the order of the images: file (SCAN's " +
				"ImageNetSubset) or sorted (ImageFolder's)",
		},
		{
			Name: optExtensions, Type: core.TypeString, Default: defaultExtensions,
			Help: "comma-separated file name endings of the images to read in folders, case-insensitive (the default is torchvision 0.14's " +
				"IMG_EXTENSIONS and .gif, which ImageFolder leaves out: drop ,.gif to list exactly ImageFolder's files); other files are ignored; the format is recognised from the content",
		},
		{
			Name: optPathColumn, Type: core.TypeString, Default: "path",
			Help: "list files: the column of the image paths (relative to the list file's folder)",
		},
		{
			Name: optLabelColumn, Type: core.TypeString, Default: "label",
			Help: "list files: the column of the labels, integers (class indices) or class names; without it the images have no labels",
		},
		{
			Name: optOnError, Type: core.TypeString, Default: onErrorFail, Choices: []string{onErrorFail, onErrorSkip},
			Help: "an image that cannot be read (not an image, truncated, corrupt, unreadable): fail names it (exit status 2); skip leaves it " +
				"out (every image is then decoded once to check it when the dataset is described) and counts it in the identity",
		},
		{
			Name: optFingerprint, Type: core.TypeString, Default: fingerprintStat, Choices: []string{fingerprintStat, fingerprintSHA256},
			Help: "what the identity (the key of cached embeddings) covers of each file besides its path and label: stat (size and " +
				"modification time) or sha256 (the content; reads every file when the dataset is described)",
		},
	}, core.LimitOptions()...)
}

func description() core.Description {
	return core.Description{
		Kind:    core.KindDataset,
		Name:    "images",
		Version: Version,
		Summary: "a folder of image files as torchvision's ImageFolder reads it (class folders, flat, list file, split folders), decoded to RGB as Pillow 9.4 does",
		Options: schema(),
	}
}

// config is the resolved options (core.Decode fills it).
type config struct {
	Root         string `option:"root"`
	Layout       string `option:"layout"`
	Splits       string `option:"splits"`
	Classes      string `option:"classes"`
	ClassesOrder string `option:"classes_order"`
	Extensions   string `option:"extensions"`
	PathColumn   string `option:"path_column"`
	LabelColumn  string `option:"label_column"`
	OnError      string `option:"on_error"`
	Fingerprint  string `option:"fingerprint"`
	LimitTrain   int    `option:"limit_train"`
	LimitTest    int    `option:"limit_test"`

	extensions []string
	canonical  string
}

func resolve(opts core.Options) (config, error) {
	var c config
	resolved, err := core.Decode(schema(), opts, &c)
	if err != nil {
		return c, err
	}
	for _, e := range strings.Split(c.Extensions, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		if strings.ContainsAny(e, `/\`) {
			return c, faultf(optExtensions, "%q is not a file name ending", e)
		}
		c.extensions = append(c.extensions, e)
	}
	if len(c.extensions) == 0 {
		return c, faultf(optExtensions, "no extension given; the default is %s", defaultExtensions)
	}
	// The options that change which files are read, their labels or their
	// order enter the identity; root does not (a copy of the same files
	// shares cached embeddings), nor do fingerprint and the limits (the
	// file list and the counts are in it).
	delete(resolved, optRoot)
	delete(resolved, optFingerprint)
	delete(resolved, core.OptLimitTrain)
	delete(resolved, core.OptLimitTest)
	c.canonical = resolved.Canonical()
	return c, nil
}

// limit is the option limiting split name: the first n images (0 = all).
func (c config) limit(split string) int {
	switch split {
	case core.SplitTrain:
		return c.LimitTrain
	case core.SplitTest:
		return c.LimitTest
	}
	return 0
}

// toRead is how many images of sp to look at (n) for the lim images its
// limit asks (0 = all): with on_error: skip, unreadable ones are left out
// and the ones after them take their place, so all n are candidates.
func (c config) toRead(sp splitFiles) (n, lim int) {
	lim = c.limit(sp.name)
	n = len(sp.samples)
	if c.OnError == onErrorFail && lim > 0 {
		n = min(n, lim)
	}
	return n, lim
}

// Describe implements core.Dataset. It lists the files of every split and
// reads each image's header (on_error: skip decodes every image instead)
// for the sizes, the identity and early errors.
func (Dataset) Describe(ctx context.Context, opts core.Options) (core.DatasetInfo, error) {
	if opts == nil {
		return core.DatasetInfo{Description: description()}, nil
	}
	cfg, err := resolve(opts)
	if err != nil {
		return core.DatasetInfo{}, err
	}
	s, err := scan(cfg)
	if err != nil {
		return core.DatasetInfo{}, err
	}
	id := sha256.New()
	var num [8]byte
	writeNum := func(n int64) {
		binary.LittleEndian.PutUint64(num[:], uint64(n))
		id.Write(num[:])
	}
	writeStr := func(s string) {
		writeNum(int64(len(s)))
		id.Write([]byte(s))
	}
	writeStr("clusterlab images files v1")
	writeStr(cfg.canonical)
	writeStr(s.layout)
	writeNum(int64(len(s.classes)))
	for _, c := range s.classes {
		writeStr(c)
	}
	info := core.DatasetInfo{Description: description(), Classes: s.classes, Channels: 3}
	var counts []string
	skipped := 0
	geom := [2]int{-1, -1} // the size all images share; {0, 0} once two differ
	for _, sp := range s.splits {
		res, err := checkSplit(ctx, cfg, sp)
		if err != nil {
			return core.DatasetInfo{}, err
		}
		if len(res.used) == 0 {
			return core.DatasetInfo{}, faultf(optRoot, "split %s: none of its %d images could be read (on_error: skip); the first: %s",
				sp.name, len(sp.samples), res.skipped[0])
		}
		writeStr(sp.name)
		writeNum(int64(len(res.used)))
		for _, u := range res.used {
			writeStr(u.rel)
			writeNum(int64(u.label))
			writeStr(u.fingerprint)
			if geom[0] < 0 {
				geom = [2]int{u.h, u.w}
			} else if geom != [2]int{u.h, u.w} {
				geom = [2]int{0, 0}
			}
		}
		writeNum(int64(len(res.skipped)))
		for _, k := range res.skipped {
			writeStr(k)
		}
		skipped += len(res.skipped)
		info.Skipped = append(info.Skipped, res.skippedImages...)
		info.Splits = append(info.Splits, core.SplitInfo{Name: sp.name, Count: len(res.used)})
		counts = append(counts, fmt.Sprintf("%s=%d", sp.name, len(res.used)))
	}
	info.Height, info.Width = geom[0], geom[1]
	d := description()
	size := "mixed"
	if info.Height > 0 {
		size = fmt.Sprintf("%dx%d", info.Height, info.Width)
	}
	d.Identity = fmt.Sprintf("images %s libs=%s layout=%s files=%s:%s %s size=%s skipped=%d",
		Version, decode.Libraries(), s.layout, cfg.Fingerprint, hex.EncodeToString(id.Sum(nil)), strings.Join(counts, " "), size, skipped)
	info.Description = d
	return info, nil
}

// checked is an image of a split that Describe checked.
type checked struct {
	rel         string
	label       int32
	h, w        int
	fingerprint string
}

type splitCheck struct {
	used          []checked
	skipped       []string // "path: error", for the identity and messages
	skippedImages []core.SkippedImage
}

// checkSplit reads the header of every image of the split up to its limit
// (on_error: fail), or decodes every image until the limit is reached with
// readable ones (on_error: skip), in parallel.
func checkSplit(ctx context.Context, cfg config, sp splitFiles) (splitCheck, error) {
	type result struct {
		c   checked
		err error
	}
	var out splitCheck
	n, lim := cfg.toRead(sp)
	workers := runtime.GOMAXPROCS(0)
	err := ordered(ctx, n, workers, 4*workers, func(i int) result {
		smp := sp.samples[i]
		c, err := checkFile(smp, cfg)
		return result{c, err}
	}, func(i int, r result) (bool, error) {
		if r.err != nil {
			if cfg.OnError == onErrorFail {
				return false, fault(optRoot, fmt.Errorf("%s: %w (set on_error: skip to leave unreadable images out)", sp.samples[i].name(), r.err))
			}
			smp := sp.samples[i]
			out.skipped = append(out.skipped, fmt.Sprintf("%s: %v", smp.name(), r.err))
			out.skippedImages = append(out.skippedImages, core.SkippedImage{Split: sp.name, Name: smp.rel, Reason: r.err.Error()})
			return true, nil
		}
		out.used = append(out.used, r.c)
		return lim <= 0 || len(out.used) < lim, nil
	})
	return out, err
}

// checkFile reads one image's header (or all of it, on_error: skip) and
// its fingerprint.
func checkFile(s sample, cfg config) (checked, error) {
	c := checked{rel: s.rel, label: s.label}
	f, err := os.Open(s.path)
	if err != nil {
		return c, fileError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return c, err
	}
	if st.IsDir() {
		return c, errors.New("is a folder, not an image file")
	}
	c.fingerprint = fmt.Sprintf("%d:%d", st.Size(), st.ModTime().UnixNano())
	if cfg.OnError == onErrorSkip || cfg.Fingerprint == fingerprintSHA256 {
		data, err := io.ReadAll(f)
		if err != nil {
			return c, err
		}
		if cfg.Fingerprint == fingerprintSHA256 {
			sum := sha256.Sum256(data)
			c.fingerprint = hex.EncodeToString(sum[:])
		}
		if cfg.OnError == onErrorSkip {
			im, err := decode.Decode(data)
			if err != nil {
				return c, err
			}
			c.h, c.w = im.Height, im.Width
			return c, nil
		}
	}
	hd, err := decode.Probe(f, st.Size())
	if err != nil {
		return c, err
	}
	c.h, c.w = hd.Height, hd.Width
	return c, nil
}

// readBufs holds the buffers Read reads files into (*[]byte), reused
// from image to image.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// readFileInto reads the file at path into buf's spare room, growing it as
// needed, and returns the bytes read (as os.ReadFile, without allocating
// per file).
func readFileInto(path string, buf []byte) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < 1<<31 && cap(buf) < int(st.Size())+512 {
		buf = make([]byte, 0, int(st.Size())+512)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		m, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// fileError drops the path from an error of the file system: the caller
// names the file.
func fileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot %s the file: %w", pe.Op, pe.Err)
	}
	return err
}

// Read implements core.Dataset: it decodes the split's images on every
// core, in order, and sends them in batches of at most req.BatchSize
// images of one size (a new batch starts where the size changes) and at
// most maxBatchBytes of pixels (one image at least). Each batch is new
// (core.Dataset does not say whether send keeps it).
func (Dataset) Read(ctx context.Context, req core.ReadRequest, send func(core.ImageBatch) error) error {
	if req.BatchSize <= 0 {
		return core.InvalidInput(fmt.Errorf("read %s: batch size must be positive, got %d", req.Split, req.BatchSize))
	}
	cfg, err := resolve(req.Options)
	if err != nil {
		return err
	}
	sp, err := findSplit(cfg, req.Split)
	if err != nil {
		return err
	}
	n, lim := cfg.toRead(*sp)
	// The images are decoded straight into the pixels of their batch: a
	// first stage, in index order, reads each file, probes its size and
	// gives it a slot in a batch laid out as the images are sent (the
	// same rule as below); the workers decode into their own slots. An
	// image that probes fine but fails to decode (on_error: skip) leaves
	// a hole: from there the batches are assembled by copying, so the
	// output never depends on the layout planned ahead.
	type planned struct {
		bp   *[]byte // the file's buffer, back to readBufs once decoded
		data []byte  // the file
		buf  []byte  // the batch's pixels, one per batch of the plan
		k    int     // the slot in buf
		h, w int
		err  error
	}
	type result struct {
		buf  []byte
		pix  []byte // buf's slot k, decoded
		h, w int
		err  error
	}
	var plan struct {
		buf         []byte
		h, w, count int
	}
	prepare := func(i int) planned {
		bp := readBufs.Get().(*[]byte)
		data, err := readFileInto(sp.samples[i].path, (*bp)[:0])
		*bp = data[:0]
		if err != nil {
			readBufs.Put(bp)
			return planned{err: fileError(err)}
		}
		hd, err := decode.ProbeBytes(data)
		if err != nil {
			readBufs.Put(bp)
			return planned{err: err}
		}
		size := hd.Width * hd.Height * 3
		if plan.count > 0 && batchEnds(plan.count, plan.h, plan.w, hd.Height, hd.Width, req.BatchSize) {
			plan.count = 0
		}
		if plan.count == 0 {
			plan.buf = make([]byte, perBatch(size, req.BatchSize)*size)
			plan.h, plan.w = hd.Height, hd.Width
		}
		plan.count++
		return planned{bp: bp, data: data, buf: plan.buf, k: plan.count - 1, h: hd.Height, w: hd.Width}
	}
	work := func(i int, p planned) result {
		if p.err != nil {
			return result{err: p.err}
		}
		size := p.h * p.w * 3
		pix := p.buf[p.k*size : (p.k+1)*size : (p.k+1)*size]
		err := decode.DecodeInto(p.data, pix, p.w, p.h)
		readBufs.Put(p.bp)
		if err != nil {
			return result{err: err}
		}
		return result{buf: p.buf, pix: pix, h: p.h, w: p.w}
	}
	var b core.ImageBatch
	delivered := 0
	flush := func() error {
		if b.Count == 0 {
			return nil
		}
		// No room beyond the images: a later slot of the same plan
		// buffer may still be written by a worker.
		b.Pixels = b.Pixels[:len(b.Pixels):len(b.Pixels)]
		err := send(b)
		b = core.ImageBatch{}
		return err
	}
	workers := runtime.GOMAXPROCS(0)
	err = staged(ctx, n, workers, 2*workers, prepare, work, func(i int, r result) (bool, error) {
		if r.err != nil {
			if cfg.OnError == onErrorSkip {
				return true, nil
			}
			return false, core.InvalidInput(fmt.Errorf("%s: %w (set on_error: skip to leave unreadable images out)", sp.samples[i].name(), r.err))
		}
		size := len(r.pix)
		if b.Count > 0 && batchEnds(b.Count, b.Height, b.Width, r.h, r.w, req.BatchSize) {
			if err := flush(); err != nil {
				return false, err
			}
		}
		if b.Count == 0 {
			b = core.ImageBatch{Offset: delivered, Height: r.h, Width: r.w, Channels: 3}
			per := perBatch(size, req.BatchSize)
			if &r.buf[0] == &r.pix[0] {
				b.Pixels = r.buf[:0] // the planned batch: its images are in place
			} else {
				b.Pixels = make([]byte, 0, per*size)
			}
			b.Labels, b.Names = make([]int32, 0, per), make([]string, 0, per)
		}
		if m := len(b.Pixels); cap(b.Pixels)-m >= size && &b.Pixels[:m+size][m] == &r.pix[0] {
			b.Pixels = b.Pixels[:m+size] // decoded in place
		} else {
			// After a hole: every slot before r.pix's in its buffer
			// belongs to an image already emitted, so none is written.
			b.Pixels = append(b.Pixels, r.pix...)
		}
		b.Labels = append(b.Labels, sp.samples[i].label)
		b.Names = append(b.Names, sp.samples[i].rel)
		b.Count++
		delivered++
		return lim <= 0 || delivered < lim, nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// findSplit lists the files of cfg's root and returns those of split name.
func findSplit(cfg config, name string) (*splitFiles, error) {
	s, err := scan(cfg)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range s.splits {
		if s.splits[i].name == name {
			return &s.splits[i], nil
		}
		names = append(names, s.splits[i].name)
	}
	return nil, core.InvalidInput(fmt.Errorf("read: unknown split %q; %s has splits %s", name, cfg.Root, strings.Join(names, ", ")))
}

// batchEnds says whether a batch of count images of bh x bw is closed to
// the next image, of h x w: Read's batches hold images of one size, at
// most batchSize of them and at most maxBatchBytes of pixels (one image
// at least). The batch planner and the batch assembler share it, so that
// images are decoded where they are sent.
func batchEnds(count, bh, bw, h, w, batchSize int) bool {
	return bh != h || bw != w || count >= batchSize || (count+1)*h*w*3 > maxBatchBytes
}

// perBatch is how many images of size bytes a batch holds at most.
func perBatch(size, batchSize int) int {
	return max(1, min(batchSize, maxBatchBytes/size))
}

// fault attributes err to option key, as invalid input.
func fault(key string, err error) error {
	var oe *core.OptionError
	if errors.As(err, &oe) {
		return err
	}
	return core.OptionFault(key, core.InvalidInput(err))
}

func faultf(key, format string, args ...any) error {
	return fault(key, fmt.Errorf(format, args...))
}
