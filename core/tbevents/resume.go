package tbevents

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempPattern names Resume's file while it is being written. It must not
// contain "tfevents", or TensorBoard would read it half-written.
const tempPattern = ".tbevents-resume-*.tmp"

// Resume continues the event files of dir for a run resumed from a
// checkpoint taken after step keepUpTo: it rewrites dir so that no record
// with a later step remains, and returns a Writer that appends to the
// rewritten file. Steps are compared as the caller wrote them; a
// directory whose records use several step axes (global step and epoch)
// cannot be cut at one step, so give each axis its own directory.
//
// It reads every event file of dir, in name order, with this package's
// reader (checking checksums; a truncated or corrupt tail ends that file,
// since what follows is lost anyway), keeps the events with step <=
// keepUpTo except the file_version records, drops events byte-identical
// to one already kept (the copies an interrupted Resume left), writes a
// new file_version record and the kept events to a temporary file, syncs
// it, renames it to a new event file name that sorts after the old ones,
// and removes the old files. Each step leaves a directory TensorBoard can
// read, and a Resume interrupted at any point can be run again. With no
// event file in dir, Resume is Create.
func Resume(dir string, keepUpTo int64, opts ...Option) (*Writer, error) {
	return ResumeFunc(dir, func(r Record) bool { return r.Step <= keepUpTo }, opts...)
}

// ResumeFunc is Resume keeping the events whose every record keep
// accepts: for a directory that two writers fill one after the other
// (the second's records told apart by their tags), or any other cut than
// a step.
func ResumeFunc(dir string, keep func(Record) bool, opts ...Option) (*Writer, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tbevents: create the event directory: %w (check the run directory's permissions)", err)
	}
	if err := removeStaleTemps(dir); err != nil {
		return nil, err
	}
	old, err := Files(dir)
	if err != nil {
		return nil, err
	}
	if len(old) == 0 {
		return Create(dir, opts...)
	}

	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return nil, fmt.Errorf("tbevents: resume in %s: %w (check the directory's permissions and free space)", dir, err)
	}
	created := cfg.now()
	size, err := writeKept(tmp, old, keep, wallTime(created))
	if err == nil {
		err = tmp.Sync()
	}
	if e := tmp.Close(); e != nil && err == nil {
		err = e
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("tbevents: resume in %s: write the kept records: %w (free disk space or fix permissions, then resume again; the old event files are unchanged)", dir, err)
	}
	path := newFilePath(dir, created, old)
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("tbevents: resume in %s: %w (the old event files are unchanged)", dir, err)
	}
	syncDir(dir)
	var rmErrs []error
	for _, p := range old {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			rmErrs = append(rmErrs, err)
		}
	}
	if len(rmErrs) > 0 {
		return nil, fmt.Errorf("tbevents: resume in %s: remove the old event files: %w (remove them by hand: %s holds the records to keep)", dir, errors.Join(rmErrs...), filepath.Base(path))
	}
	syncDir(dir)

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("tbevents: resume in %s: open %s: %w", dir, filepath.Base(path), err)
	}
	return start(path, f, size, cfg), nil
}

// writeKept writes a file_version record and the kept events of the old
// files to f and returns the bytes written.
func writeKept(f *os.File, old []string, keep func(Record) bool, wall float64) (int64, error) {
	bw := bufio.NewWriterSize(f, 256<<10)
	var size int64
	put := func(event []byte) error {
		rec := appendRecord(nil, event)
		size += int64(len(rec))
		_, err := bw.Write(rec)
		return err
	}
	if err := put(fileVersionEvent(wall)); err != nil {
		return 0, err
	}
	seen := map[[sha256.Size]byte]bool{}
	plugins := map[string]string{}
	for _, p := range old {
		_, err := scanRecords(p, func(off int64, data []byte) error {
			ev, err := decodeEvent(data)
			if err != nil {
				// A checksummed record that is not an Event: treat it as
				// the corrupt tail it is to TensorBoard too.
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			if ev.fileVersion != nil {
				return nil
			}
			recs, err := ev.records(plugins)
			if err != nil {
				return fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			for _, r := range recs {
				if !keep(r) {
					return nil
				}
			}
			sum := sha256.Sum256(data)
			if seen[sum] {
				return nil
			}
			seen[sum] = true
			return put(data)
		})
		if err != nil {
			return 0, err
		}
	}
	return size, bw.Flush()
}

// removeStaleTemps removes what an interrupted Resume left before its
// rename: never a complete event file, so nothing is lost.
func removeStaleTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("tbevents: resume: %w", err)
	}
	prefix, suffix, _ := strings.Cut(tempPattern, "*")
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("tbevents: resume: remove a stale temporary file: %w", err)
			}
		}
	}
	return nil
}

// syncDir makes a rename or removal in dir durable where the system
// allows syncing a directory; where it does not, the rename is still
// atomic, only not yet on disk, so the error is ignored.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
