package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
)

// Version enters the identity: a change in how files are read changes it.
const Version = "1.0.0"

// Backbone reads precomputed embeddings.
type Backbone struct{}

var schema = []core.Option{
	{Name: "dir", Type: core.TypeString, Default: "", Help: "folder holding <split>.npy for every split of the dataset (train.npy, test.npy, ...)"},
	{Name: "train", Type: core.TypeString, Default: "", Help: "the train split's .npy [N, D] (overrides dir)"},
	{Name: "test", Type: core.TypeString, Default: "", Help: "the test split's .npy [N, D] (overrides dir)"},
}

// splitFile returns the file of a split under the options.
func splitFile(opts core.Options, split string) (string, error) {
	if opts.Has(split) && opts.String(split) != "" {
		return opts.String(split), nil
	}
	if d := opts.String("dir"); d != "" {
		return filepath.Join(d, split+".npy"), nil
	}
	return "", fmt.Errorf("%w: no features for split %q: set dir (a folder with %s.npy) or %s", core.ErrInvalidInput, split, split, split)
}

// hashes caches file checksums per process: Describe is called more than once.
var hashes sync.Map // path -> sha256

func fileHash(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("%w: features file: %v", core.ErrInvalidInput, err)
	}
	key := fmt.Sprintf("%s|%d|%d", abs, st.Size(), st.ModTime().UnixNano())
	if h, ok := hashes.Load(key); ok {
		return h.(string), nil
	}
	h, err := store.FileSHA256(abs)
	if err != nil {
		return "", err
	}
	hashes.Store(key, h)
	return h, nil
}

// Describe validates the options; the identity is the sha256 of every
// features file named, so new features never reuse stale cache entries.
func (Backbone) Describe(ctx context.Context, given core.Options) (core.BackboneInfo, error) {
	info := core.BackboneInfo{Description: core.Description{
		Kind: core.KindBackbone, Name: "precomputed", Version: Version,
		Summary: "features computed elsewhere, one .npy [N, D] per split (float16/32/64)",
		Options: schema,
	}}
	if given == nil {
		return info, nil
	}
	opts, err := core.ResolveOptions(schema, given)
	if err != nil {
		return info, err
	}
	if opts.String("dir") == "" && opts.String("train") == "" {
		return info, &core.OptionError{Key: "dir", Msg: "set dir (a folder with train.npy, test.npy) or train/test paths"}
	}
	var files []string
	if d := opts.String("dir"); d != "" {
		m, _ := filepath.Glob(filepath.Join(d, "*.npy"))
		files = append(files, m...)
		if len(m) == 0 {
			return info, &core.OptionError{Key: "dir", Msg: fmt.Sprintf("%s holds no .npy files", d)}
		}
	}
	for _, s := range []string{"train", "test"} {
		if p := opts.String(s); p != "" {
			files = append(files, p)
		}
	}
	sort.Strings(files)
	var id []string
	for _, f := range files {
		h, err := fileHash(f)
		if err != nil {
			return info, err
		}
		id = append(id, filepath.Base(f)+"="+h)
	}
	info.Identity = "precomputed " + Version + " " + strings.Join(id, ",") + " " + opts.Canonical()
	return info, nil
}

// Fit is never called: NeedsFit is false.
func (Backbone) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	return nil
}

// Embed sends the rows of the split's file that match each image batch.
func (Backbone) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	opts, err := core.ResolveOptions(schema, req.Options)
	if err != nil {
		return err
	}
	path, err := splitFile(opts, req.Split)
	if err != nil {
		return err
	}
	values, shape, err := npy.ReadFloat32(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, npy.ErrFormat) {
			return fmt.Errorf("%w: features of split %s: %v", core.ErrInvalidInput, req.Split, err)
		}
		return err
	}
	if len(shape) != 2 || shape[1] == 0 {
		return fmt.Errorf("%w: features %s have shape %v, want [N, D]", core.ErrInvalidInput, path, shape)
	}
	n, d := shape[0], shape[1]
	if sp, ok := req.Dataset.Split(req.Split); ok && sp.Count != n {
		return fmt.Errorf("%w: features %s have %d rows but split %s of dataset %s has %d images", core.ErrInvalidInput, path, n, req.Split, req.Dataset.Name, sp.Count)
	}
	for i, v := range values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: features %s: non-finite value at row %d, column %d", core.ErrInvalidInput, path, i/d, i%d)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := in.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if b.Offset < 0 || b.Offset+b.Count > n {
			return fmt.Errorf("%w: image batch %d..%d is beyond the %d rows of %s", core.ErrInvalidInput, b.Offset, b.Offset+b.Count, n, path)
		}
		if err := send(core.EmbeddingBatch{Offset: b.Offset, Count: b.Count, Dim: d, Values: values[b.Offset*d : (b.Offset+b.Count)*d]}); err != nil {
			return err
		}
	}
}
