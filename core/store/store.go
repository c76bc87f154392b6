// Package store is clusterlab's cache of computed arrays: embeddings per
// split, backbone state (e.g. a fitted PCA) and k-NN graphs. Every entry is
// a directory named by a hash of what produced it, holding .npy arrays and
// a meta.json that records their identity and sha256. Entries are written
// atomically (temporary files, fsync, rename; meta.json last), read back
// only after their size, header and checksum are verified, and a damaged
// entry is reported and recomputed, never used.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/clusterlab/clusterlab/core/npy"
)

// ToolVersion is recorded in every meta.json.
var ToolVersion = "clusterlab-dev"

// Store is a cache rooted at a directory.
type Store struct {
	Root string
}

// Open creates the root if needed and checks it is writable, so a run fails
// before long work rather than after.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create cache directory %s: %w", root, err)
	}
	f, err := os.CreateTemp(root, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("cache directory %s is not writable: %w; set cache_dir to a writable folder", root, err)
	}
	f.Close()
	os.Remove(f.Name())
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return &Store{Root: abs}, nil
}

// Hash is the hex sha256 of the parts, joined unambiguously.
func Hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Entry is one cache directory.
type Entry struct {
	Dir string
}

// RootOf is the root of the store that holds the array at path (a path
// Entry.Path gave): entries are Root/<kind>/<2 hex>/<key>/<name>.npy.
func RootOf(arrayPath string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(arrayPath))))
}

// Entry returns the entry of the given kind ("embeddings", "backbone-state",
// "knn") and key (a Hash); the directory is created lazily by writers.
func (s *Store) Entry(kind, key string) Entry {
	return Entry{Dir: filepath.Join(s.Root, kind, key[:2], key)}
}

// Meta is the content of meta.json.
type Meta struct {
	// Identity holds what produced the entry (dataset, backbone, split, k, ...).
	Identity map[string]string `json:"identity"`
	Arrays   map[string]Array  `json:"arrays"`
	Tool     string            `json:"tool"`
	Created  time.Time         `json:"created"`
}

// Array describes one .npy file of an entry.
type Array struct {
	Shape  []int  `json:"shape"`
	DType  string `json:"dtype"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// MetaFile is the file of an entry that describes it (Meta), written last.
const MetaFile = "meta.json"

// Path is the path of a named array of the entry.
func (e Entry) Path(name string) string { return filepath.Join(e.Dir, name+".npy") }

// ErrMissing means the entry has not been computed (or was removed).
var ErrMissing = errors.New("not in cache")

// Load verifies the entry and returns its meta. A missing entry gives
// ErrMissing; a damaged one (missing array, wrong size, header or checksum)
// gives an error describing the damage, so the caller can report it and
// recompute.
func (e Entry) Load() (Meta, error) {
	b, err := os.ReadFile(filepath.Join(e.Dir, MetaFile))
	if errors.Is(err, os.ErrNotExist) {
		return Meta{}, ErrMissing
	}
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("cache entry %s: meta.json is damaged: %w", e.Dir, err)
	}
	names := make([]string, 0, len(m.Arrays))
	for n := range m.Arrays {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := verifyArray(e.Path(n), m.Arrays[n]); err != nil {
			return Meta{}, fmt.Errorf("cache entry %s: %w", e.Dir, err)
		}
	}
	return m, nil
}

func verifyArray(path string, want Array) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("array %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != want.Size {
		return fmt.Errorf("array %s has %d bytes, meta.json says %d (partial or damaged file)", filepath.Base(path), st.Size(), want.Size)
	}
	h, err := npy.ReadHeader(f)
	if err != nil {
		return fmt.Errorf("array %s: %w", filepath.Base(path), err)
	}
	if h.DType != want.DType || !slices.Equal(h.Shape, want.Shape) {
		return fmt.Errorf("array %s header says %s %v, meta.json says %s %v", filepath.Base(path), h.DType, h.Shape, want.DType, want.Shape)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return err
	}
	if sum != want.SHA256 {
		return fmt.Errorf("array %s checksum mismatch (damaged file)", filepath.Base(path))
	}
	return nil
}

// Describe records an array file already written (atomically) into the
// entry directory, for the meta.json written by Commit.
func Describe(path string) (Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return Array{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Array{}, err
	}
	h, err := npy.ReadHeader(f)
	if err != nil {
		return Array{}, fmt.Errorf("%s: %w", path, err)
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return Array{}, err
	}
	return Array{Shape: h.Shape, DType: h.DType, Size: st.Size(), SHA256: sum}, nil
}

// Commit writes meta.json for the named arrays (already written to
// e.Path(name)). Until Commit, the entry does not exist for readers.
func (e Entry) Commit(identity map[string]string, names ...string) (Meta, error) {
	m := Meta{Identity: identity, Arrays: map[string]Array{}, Tool: ToolVersion, Created: time.Now().UTC()}
	for _, n := range names {
		a, err := Describe(e.Path(n))
		if err != nil {
			return Meta{}, fmt.Errorf("commit cache entry %s: %w", e.Dir, err)
		}
		m.Arrays[n] = a
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Meta{}, err
	}
	err = npy.WriteAtomic(filepath.Join(e.Dir, MetaFile), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
	return m, err
}

// Invalidate removes meta.json (so the entry reads as missing) before it
// is recomputed.
func (e Entry) Invalidate() error {
	err := os.Remove(filepath.Join(e.Dir, MetaFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Lock takes an exclusive lock on the entry (a lock file beside it), so two
// runs sharing a cache, on this machine or on others sharing the
// filesystem (see "The lock primitive" in lock.go), do not compute and
// write the same entry at once. The second waits, then finds the entry
// committed. Unlock with the returned function. LockWait also says who it
// waits for, and stops waiting when its context ends.
func (e Entry) Lock() (func(), error) {
	return e.LockWait(context.Background(), nil)
}

// LockWait is Lock that, when another process holds the entry, first
// calls onWait (when not nil) with that process as the lock file names it
// (Holder.String gives "process 4242 on node12 since ...", or "another
// process" when the file names none), then waits until the lock is free
// or ctx ends; an ended ctx gives an error wrapping ctx.Err(). The lock
// file records this process (see LockHolder) once it holds the lock. A
// filesystem that refuses locks gives an error wrapping
// ErrLockUnsupported that says what to do.
func (e Entry) LockWait(ctx context.Context, onWait func(Holder)) (func(), error) {
	return lockEntryDir(ctx, e.Dir, onWait)
}

// FileSHA256 returns the hex sha256 of a file (for identities and
// checksums).
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
