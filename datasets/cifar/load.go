package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// maxMemberBytes bounds one file the plugin reads into memory (the largest
// CIFAR file, CIFAR-100's python train pickle, has about 155 MB), so that a
// garbled size or a decompression bomb is an error rather than an
// exhausted machine.
const maxMemberBytes = 1 << 30

// part is one decoded data file and where it came from.
type part struct {
	*batch
	loc        location
	python     bool
	labelBytes int // binary version: label bytes per record
}

// location names a file, or a member of an archive, in errors.
type location struct{ file, member string }

func (l location) fail(offset int64, format string, args ...any) *FormatError {
	return &FormatError{Dataset: datasetName, File: l.file, Member: l.member, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// dataset is one CIFAR distribution, decoded: both splits, in file order,
// and the class names.
type dataset struct {
	layout      *layout
	where       string // the archive or folder, for messages
	train, test []part
	names       []string // CIFAR-10 names, or CIFAR-100 fine names
	coarse      []string // CIFAR-100 coarse names

	hashMu sync.Mutex
	hashes map[string]string // content sha256 by option name (cifar100 and cifar20 differ)
}

// cache keeps the most recently used datasets of this process, so that
// Describe and the Reads that follow decode the files once. Two entries:
// CIFAR-100 takes about 180 MB.
var cache = distfile.NewRecent[*dataset](2)

// load returns the decoded dataset at src, from the cache when the files
// have not changed.
func load(ctx context.Context, src source, w want) (*dataset, error) {
	ds, hit, err := cache.Get(cacheKey(src), func() (*dataset, error) {
		if src.archive != "" {
			return loadArchive(ctx, src.archive, w)
		}
		return loadFolder(ctx, src.dir, src.layout)
	})
	if err != nil {
		return nil, err
	}
	if hit {
		if err := w.check(ds.layout, ds.where); err != nil {
			return nil, err
		}
	}
	return ds, nil
}

// cacheKey identifies the files of src by path, size and modification
// time; "" when a file cannot be examined (loading then reports why).
func cacheKey(src source) string {
	kind, paths := "archive\x00", []string{src.archive}
	if src.archive == "" {
		kind, paths = "folder\x00"+src.layout.folder+"\x00", nil
		for _, m := range src.layout.members() {
			paths = append(paths, filepath.Join(src.dir, m))
		}
	}
	key, err := distfile.StatKey(paths...)
	if err != nil {
		return ""
	}
	return kind + key
}

// collector gathers the decoded files of one layout, in whatever order an
// archive holds them.
type collector struct {
	layout *layout
	where  string
	parts  map[string]part
	seen   map[string]location
	names  []string
	coarse []string
	// perBatch is CIFAR-10 python's num_cases_per_batch (0 if absent).
	perBatch int
	// Where the names and the coarse names came from, for errors.
	namesLoc, coarseLoc location
}

func newCollector(l *layout, where string) *collector {
	return &collector{layout: l, where: where, parts: map[string]part{}, seen: map[string]location{}}
}

func (c *collector) wants(base string) bool {
	for _, m := range c.layout.members() {
		if m == base {
			return true
		}
	}
	return false
}

// decode decodes one file of the layout from r (size bytes).
func (c *collector) decode(ctx context.Context, base string, r io.Reader, size int64, loc location) error {
	l := c.layout
	if prev, dup := c.seen[base]; dup {
		return loc.fail(-1, "the archive holds %s twice (also as %s); it is not a CIFAR archive as distributed", base, prev.member)
	}
	c.seen[base] = loc
	isMeta := false
	for _, m := range l.meta {
		isMeta = isMeta || m == base
	}
	if size > maxMemberBytes {
		return loc.fail(-1, "is %d bytes; no CIFAR file has more than %d", size, maxMemberBytes)
	}
	if !l.python && !isMeta { // binary data: decoded while streaming
		b, err := readBinary(ctx, r, size, map[bool]int{false: 1, true: 2}[l.c100])
		if err != nil {
			return wrapDecodeError(err, loc)
		}
		c.parts[base] = part{batch: b, loc: loc, labelBytes: map[bool]int{false: 1, true: 2}[l.c100]}
		return nil
	}
	if isMeta && !l.python && size > maxNamesBytes {
		return loc.fail(-1, "is %d bytes; a class-names file has at most %d", size, maxNamesBytes)
	}
	data, err := readAllSized(r, size)
	if err != nil {
		return wrapDecodeError(err, loc)
	}
	switch {
	case !l.python: // a names file
		names, err := parseNames(data)
		if err != nil {
			return wrapDecodeError(err, loc)
		}
		if base == l.meta[0] {
			c.names, c.namesLoc = names, loc
		} else {
			c.coarse, c.coarseLoc = names, loc
		}
	case isMeta:
		m, err := decodePyMeta(data, l.c100)
		if err != nil {
			return wrapDecodeError(err, loc)
		}
		c.names, c.coarse, c.perBatch, c.namesLoc, c.coarseLoc = m.names, m.coarse, m.perBatch, loc, loc
	default:
		b, err := decodePyBatch(data, l.c100)
		if err != nil {
			return wrapDecodeError(err, loc)
		}
		c.parts[base] = part{batch: b, loc: loc, python: true}
	}
	return nil
}

// readAllSized reads exactly size bytes. Short data is a *recordError
// wrapping io.ErrUnexpectedEOF at the offset where it ended.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, size)
	n, err := io.ReadFull(r, buf)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, &recordError{offset: int64(n), msg: fmt.Sprintf("data ends after %d of its %d bytes", n, size), err: err}
	}
	return buf, nil
}

// wrapDecodeError turns a decoder's error into a FormatError naming the
// file, the member and the offset.
func wrapDecodeError(err error, loc location) error {
	var (
		re *recordError
		pe *PickleError
		ye *pyError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &re):
		msg := re.msg
		if re.err != nil {
			msg += ": " + distfile.StreamProblem(re.err, loc.member != "")
		}
		return &FormatError{Dataset: datasetName, File: loc.file, Member: loc.member, Offset: re.offset, Msg: msg, Err: re.err}
	case errors.As(err, &pe):
		msg := "garbled pickle: " + pe.Msg
		if pe.Op != "" {
			msg = fmt.Sprintf("garbled pickle: opcode %s: %s", pe.Op, pe.Msg)
		}
		return &FormatError{Dataset: datasetName, File: loc.file, Member: loc.member, Offset: pe.Offset, Msg: msg}
	case errors.As(err, &ye):
		return &FormatError{Dataset: datasetName, File: loc.file, Member: loc.member, Offset: -1, Msg: ye.msg}
	}
	return &FormatError{Dataset: datasetName, File: loc.file, Member: loc.member, Offset: -1, Msg: distfile.StreamProblem(err, loc.member != ""), Err: err}
}

// loadFolder decodes an unpacked folder of layout l.
func loadFolder(ctx context.Context, dir string, l *layout) (*dataset, error) {
	c := newCollector(l, "folder "+dir)
	for _, m := range l.members() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, m)
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, distfile.Invalidf("folder %s has no %s; the %s needs %s (as %s unpacks); restore the file or point root at the archive",
				dir, m, l, strings.Join(l.members(), ", "), l.archive)
		}
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, distfile.Invalidf("%s is not a regular file", p)
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		err = c.decode(ctx, m, distfile.ContextReader{Ctx: ctx, R: f}, st.Size(), location{file: p})
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return c.finish()
}

// loadArchive decodes a CIFAR archive as distributed (a gzip-compressed
// tar; a plain tar works too), streaming: nothing is unpacked to disk, and
// binary members are decoded record by record.
func loadArchive(ctx context.Context, file string, w want) (*dataset, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(distfile.ContextReader{Ctx: ctx, R: f}, 1<<16)
	var (
		r  io.Reader = br
		zr *gzip.Reader
	)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		if zr, err = gzip.NewReader(br); err != nil {
			return nil, &FormatError{Dataset: datasetName, File: file, Offset: 0, Msg: fmt.Sprintf("not a valid gzip file (%v); the download may be damaged", err), Err: err}
		}
		r = zr
	}
	tr := tar.NewReader(r)
	var (
		c    *collector
		last string // last member read, for errors
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			msg := "not a tar archive (the CIFAR archives are .tar.gz files)"
			switch {
			case last != "" && errors.Is(err, io.ErrUnexpectedEOF):
				msg = fmt.Sprintf("the archive ends after member %s: it is truncated (the download may be incomplete); download it again", last)
			case last != "":
				msg = fmt.Sprintf("after member %s: %s", last, distfile.StreamProblem(err, last != ""))
			}
			return nil, &FormatError{Dataset: datasetName, File: file, Offset: -1, Msg: msg, Err: err}
		}
		last = hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		dir, base := path.Split(name)
		l := layoutByFolder(path.Base(dir))
		if l == nil {
			continue // readme.html and anything else
		}
		if c == nil {
			if err := w.check(l, "archive "+file); err != nil {
				return nil, err
			}
			c = newCollector(l, "archive "+file)
		} else if l != c.layout {
			return nil, &FormatError{Dataset: datasetName, File: file, Member: hdr.Name, Offset: -1,
				Msg: fmt.Sprintf("the archive mixes the %s and the %s; it is not a CIFAR archive as distributed", c.layout, l)}
		}
		if !c.wants(base) {
			continue
		}
		if err := c.decode(ctx, base, tr, hdr.Size, location{file: file, member: hdr.Name}); err != nil {
			var fe *FormatError
			if zr != nil && errors.As(err, &fe) && fe.Err == nil {
				// Garbled data may be a damaged archive rather than a bad
				// file: gzip's checksum, at the end of the stream, tells.
				if _, derr := io.Copy(io.Discard, zr); derr != nil {
					return nil, &FormatError{Dataset: datasetName, File: file, Member: hdr.Name, Offset: -1, Err: derr,
						Msg: fmt.Sprintf("%s (decoding this member failed: %s)", distfile.StreamProblem(derr, hdr.Name != ""), fe.Msg)}
				}
			}
			return nil, err
		}
	}
	if zr != nil { // gzip checks its CRC only at the end of the stream
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return nil, &FormatError{Dataset: datasetName, File: file, Offset: -1, Msg: "after the tar archive: " + distfile.StreamProblem(err, last != ""), Err: err}
		}
	}
	if c == nil {
		var folders []string
		for _, l := range w.candidates() {
			folders = append(folders, l.folder+"/")
		}
		return nil, distfile.Invalidf("archive %s holds no CIFAR data: none of its members is in %s; use the archive as distributed (%s)",
			file, strings.Join(folders, " or "), strings.Join(archiveNames(w), " or "))
	}
	return c.finish()
}

// finish checks that every file was found and that the files agree, and
// assembles the dataset.
func (c *collector) finish() (*dataset, error) {
	l := c.layout
	for _, m := range l.members() {
		if _, ok := c.seen[m]; !ok {
			return nil, distfile.Invalidf("%s has no member %s/%s; the %s needs %s; download the archive again",
				c.where, l.folder, m, l, strings.Join(l.members(), ", "))
		}
	}
	ds := &dataset{layout: l, where: c.where, names: c.names, coarse: c.coarse, hashes: map[string]string{}}
	for _, m := range l.train {
		ds.train = append(ds.train, c.parts[m])
	}
	for _, m := range l.test {
		ds.test = append(ds.test, c.parts[m])
	}
	if !l.c100 {
		// Every CIFAR-10 batch holds the same number of images (10000);
		// a batch cut at a record boundary shows here.
		all := append(append([]part(nil), ds.train...), ds.test...)
		for _, p := range all {
			if c.perBatch > 0 && p.n != c.perBatch {
				return nil, p.loc.fail(-1, "holds %d images but %s says every batch holds %d (num_cases_per_batch); the file is truncated or from another copy",
					p.n, c.namesLoc, c.perBatch)
			}
			if p.n != all[0].n {
				return nil, p.loc.fail(-1, "holds %d images but %s holds %d; every CIFAR-10 batch holds the same number (10000 as distributed); the file is truncated or from another copy",
					p.n, all[0].loc, all[0].n)
			}
		}
	}
	for _, p := range append(append([]part(nil), ds.train...), ds.test...) {
		if err := checkLabels(p, l.c100, false, c.names, c.namesLoc); err != nil {
			return nil, err
		}
		if l.c100 {
			if err := checkLabels(p, true, true, c.coarse, c.coarseLoc); err != nil {
				return nil, err
			}
		}
	}
	return ds, nil
}

func (l location) String() string {
	if l.member != "" {
		return l.member
	}
	return l.file
}

// checkLabels verifies that every label of a part names a class: the
// labels (CIFAR-10), fine labels or coarse labels (CIFAR-100).
func checkLabels(p part, c100, coarse bool, names []string, meta location) error {
	labels, kind, key := p.labels, "label", "labels"
	switch {
	case coarse:
		labels, kind, key = p.coarse, "coarse label", "coarse_labels"
	case c100:
		kind, key = "fine label", "fine_labels"
	}
	for i, lab := range labels {
		if int(lab) < len(names) {
			continue
		}
		if p.python {
			return p.loc.fail(-1, "%s %d of image %d (in %q) is not below the number of classes, %d, that %s names",
				kind, lab, i, key, len(names), meta)
		}
		off := int64(i) * int64(p.labelBytes+imageBytes)
		if c100 && !coarse { // the fine label is the second byte of a record
			off++
		}
		return p.loc.fail(off, "%s %d of image %d is not below the number of classes, %d, that %s names", kind, lab, i, len(names), meta)
	}
	return nil
}
