package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// maxSmallBytes bounds a file the plugin reads into memory: the label
// files (5000 and 8000 bytes as distributed), the class names and the fold
// indices (about 50 KB). The image files are never read into memory.
const maxSmallBytes = 16 << 20

// file is one file of the distribution as found: where it is, its size,
// its content's sha256 once known and, for the small files, its bytes.
type file struct {
	base   string // name in the distribution, e.g. train_X.bin
	loc    location
	size   int64
	data   []byte // small files only
	digest []byte // sha256 of the content; nil until computed (folders)
}

// small reports whether base is read into memory.
func small(base string) bool {
	switch base {
	case fileTrainY, fileTestY, fileNames, fileFolds:
		return true
	}
	return false
}

// index is what the plugin knows of a source without holding its images:
// which files it has, their sizes and digests, and the small files' bytes.
type index struct {
	src   source
	files map[string]*file // by base name; a missing file is absent
}

// missing explains that the file base, needed for what, is not there.
func (ix *index) missing(base, what string) error {
	if ix.src.archive != "" {
		return distfile.Invalidf("archive %s has no member %s/%s (%s); it is not %s as distributed, or it is damaged; download it again",
			ix.src.archive, folderName, base, what, archiveName)
	}
	return distfile.Invalidf("folder %s has no %s (%s); STL-10 as distributed (%s, unpacked to %s/) has %s; restore the file, or point root at the archive",
		ix.src.dir, base, what, archiveName, folderName, strings.Join(memberNames, ", "))
}

// indexFolder indexes an unpacked folder: it stats every file and reads
// the small ones. Cheap: it runs on every Describe and Read.
func indexFolder(ctx context.Context, dir string) (*index, error) {
	ix := &index{src: source{dir: dir}, files: map[string]*file{}}
	for _, base := range memberNames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := filepath.Join(dir, base)
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // an error only when the options need it
		}
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, distfile.Invalidf("%s is not a regular file", p)
		}
		f := &file{base: base, loc: location{file: p}, size: st.Size()}
		if small(base) {
			if f.size > maxSmallBytes {
				return nil, f.loc.fail(-1, "is %d bytes; %s", f.size, smallLimitMsg(base))
			}
			if f.data, err = os.ReadFile(p); err != nil {
				return nil, err
			}
			if int64(len(f.data)) != f.size {
				return nil, f.loc.fail(int64(len(f.data)), "the file changed while it was read (%d bytes, then %d); was it being written?", f.size, len(f.data))
			}
			sum := sha256.Sum256(f.data)
			f.digest = sum[:]
		}
		ix.files[base] = f
	}
	return ix, nil
}

func smallLimitMsg(base string) string {
	switch base {
	case fileTrainY, fileTestY:
		return fmt.Sprintf("a label file holds one byte per image (5000 and 8000 as distributed); this plugin reads at most %d", maxSmallBytes)
	}
	return fmt.Sprintf("the distribution's text files are a few KB; this plugin reads at most %d", maxSmallBytes)
}

// folderDigests caches the sha256 of image files of folders, by path, size
// and modification time (distfile.StatKey): hashing the unlabeled images
// (2.8 GB) takes seconds, and Describe is called several times per
// process. A folder has three image files (train, test, unlabeled); the
// small files are hashed as they are indexed. 12 keeps four folders' files.
var folderDigests = distfile.NewRecent[[]byte](12)

// digestOf returns the sha256 of f's content, computing it for a file of
// a folder on first use (archives are hashed while they are indexed).
func digestOf(ctx context.Context, f *file) ([]byte, error) {
	if f.digest != nil {
		return f.digest, nil
	}
	key, err := distfile.StatKey(f.loc.file)
	if err != nil {
		return nil, err
	}
	d, _, err := folderDigests.Get(key, func() ([]byte, error) { return hashFile(ctx, f) })
	if err != nil {
		return nil, err
	}
	f.digest = d
	return d, nil
}

// hashFile is the sha256 of a folder's file, which must still have the
// size it was indexed with.
func hashFile(ctx context.Context, f *file) ([]byte, error) {
	fh, err := os.Open(f.loc.file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, distfile.ContextReader{Ctx: ctx, R: fh}, make([]byte, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, f.loc.fail(n, "reading the file failed: %v", err)
	}
	if n != f.size {
		return nil, f.loc.fail(n, "the file changed while it was read (%d bytes, then %d); was it being written?", f.size, n)
	}
	return h.Sum(nil), nil
}

// archives caches the index of the most recently used archives of this
// process: indexing one means decompressing all of it (about 3.1 GB for
// the real archive), since its class names and fold indices are its last
// members. An index is small (sizes, digests, labels, names, folds).
var archives = distfile.NewRecent[*index](2)

// indexArchive returns the index of the archive at p, from the cache when
// the file has not changed.
func indexArchive(ctx context.Context, p string) (*index, error) {
	key, err := distfile.StatKey(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	ix, _, err := archives.Get(key, func() (*index, error) {
		ix, err := scanArchive(ctx, p)
		if err != nil {
			return nil, err
		}
		if again, err := distfile.StatKey(p); err != nil || again != key {
			return nil, distfile.Invalidf("archive %s changed while it was read; was it being written?", p)
		}
		return ix, nil
	})
	return ix, err
}

// archiveStream is an opened archive: the tar reader over the
// (decompressed) file.
type archiveStream struct {
	file string
	f    *os.File
	zr   *gzip.Reader // nil for a plain tar
	tr   *tar.Reader
	last string // the last member header read, for errors
}

// openArchive opens a gzip-compressed tar (or a plain tar) for streaming.
func openArchive(ctx context.Context, p string) (*archiveStream, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	br := bufio.NewReaderSize(distfile.ContextReader{Ctx: ctx, R: f}, 1<<20)
	s := &archiveStream{file: p, f: f}
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		if s.zr, err = gzip.NewReader(br); err != nil {
			f.Close()
			return nil, &FormatError{Dataset: datasetName, File: p, Offset: 0, Msg: fmt.Sprintf("not a valid gzip file (%v); the download may be damaged", err), Err: err}
		}
		r = s.zr
	}
	s.tr = tar.NewReader(r)
	return s, nil
}

func (s *archiveStream) Close() error { return s.f.Close() }

// next returns the next regular member of the STL-10 folder and its base
// name, skipping everything else; io.EOF at the end of the archive.
func (s *archiveStream) next() (*tar.Header, string, error) {
	for {
		hdr, err := s.tr.Next()
		if err == io.EOF {
			return nil, "", io.EOF
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, "", err
			}
			msg := fmt.Sprintf("not a tar archive (%s is a .tar.gz file)", archiveName)
			if s.zr != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
				// A garbled header may be a damaged archive: gzip's
				// checksum, at the end of the stream, tells.
				if _, derr := io.Copy(io.Discard, s.zr); derr != nil {
					err = derr
				}
			}
			switch {
			case s.last != "" && errors.Is(err, io.ErrUnexpectedEOF):
				msg = fmt.Sprintf("the archive ends after member %s: it is truncated (the download may be incomplete); download it again", s.last)
			case s.last != "":
				msg = fmt.Sprintf("after member %s: %s", s.last, distfile.StreamProblem(err, true))
			}
			return nil, "", &FormatError{Dataset: datasetName, File: s.file, Offset: -1, Msg: msg, Err: err}
		}
		s.last = hdr.Name
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		dir, base := path.Split(name)
		if path.Clean(dir) != folderName || !isMember(base) {
			continue
		}
		return hdr, base, nil
	}
}

// scanArchive indexes an archive by reading all of it: every member of
// stl10_binary/ is hashed, the small ones kept, and gzip's checksum at the
// end of the stream verified.
func scanArchive(ctx context.Context, p string) (*index, error) {
	s, err := openArchive(ctx, p)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ix := &index{src: source{archive: p}, files: map[string]*file{}}
	buf := make([]byte, 1<<20)
	for {
		hdr, base, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		loc := location{file: p, member: hdr.Name}
		if prev, dup := ix.files[base]; dup {
			return nil, loc.fail(-1, "the archive holds %s twice (also as %s); it is not %s as distributed", base, prev.loc.member, archiveName)
		}
		f := &file{base: base, loc: loc, size: hdr.Size}
		if small(base) && hdr.Size > maxSmallBytes {
			return nil, loc.fail(-1, "is %d bytes; %s", hdr.Size, smallLimitMsg(base))
		}
		h := sha256.New()
		var w io.Writer = h
		var data bytes.Buffer
		if small(base) {
			data.Grow(int(hdr.Size))
			w = io.MultiWriter(h, &data)
		}
		n, err := io.CopyBuffer(w, s.tr, buf)
		if err != nil {
			return nil, s.memberError(loc, n, hdr.Size, err)
		}
		f.digest = h.Sum(nil)
		if small(base) {
			f.data = data.Bytes()
		}
		ix.files[base] = f
	}
	if s.zr != nil { // gzip checks its CRC only at the end of the stream
		if _, err := io.Copy(io.Discard, s.zr); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &FormatError{Dataset: datasetName, File: p, Offset: -1, Msg: "after the tar archive: " + distfile.StreamProblem(err, true), Err: err}
		}
	}
	if len(ix.files) == 0 {
		return nil, distfile.Invalidf("archive %s holds no STL-10 data: none of its members is one of %s in %s/; use %s as distributed",
			p, strings.Join(memberNames, ", "), folderName, archiveName)
	}
	return ix, nil
}

// memberError explains a failure to read a member's data after n of its
// size bytes.
func (s *archiveStream) memberError(loc location, n, size int64, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	what := "data ends"
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		what = "reading fails"
	}
	return &FormatError{Dataset: datasetName, File: loc.file, Member: loc.member, Offset: n, Err: err,
		Msg: fmt.Sprintf("%s after %d of its %d bytes: %s", what, n, size, distfile.StreamProblem(err, true))}
}
