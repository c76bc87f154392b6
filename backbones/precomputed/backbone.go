package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
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

// options are the backbone's options as given (core.Decode fills them).
type options struct {
	Dir   string `option:"dir"`
	Train string `option:"train"`
	Test  string `option:"test"`
}

// splitFile returns the file of a split under the options.
func splitFile(opts options, split string) (string, error) {
	if f := map[string]string{"train": opts.Train, "test": opts.Test}[split]; f != "" {
		return f, nil
	}
	if opts.Dir != "" {
		return filepath.Join(opts.Dir, split+".npy"), nil
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
	var opts options
	resolved, err := core.Decode(schema, given, &opts)
	if err != nil {
		return info, err
	}
	if opts.Dir == "" && opts.Train == "" {
		return info, &core.OptionError{Key: "dir", Msg: "set dir (a folder with train.npy, test.npy) or train/test paths"}
	}
	files := map[string]string{} // file -> the option that names it
	if d := opts.Dir; d != "" {
		m, _ := filepath.Glob(filepath.Join(d, "*.npy"))
		for _, f := range m {
			files[f] = "dir"
		}
		if len(m) == 0 {
			return info, &core.OptionError{Key: "dir", Msg: fmt.Sprintf("%s holds no .npy files", d)}
		}
	}
	for _, kv := range [][2]string{{"train", opts.Train}, {"test", opts.Test}} {
		if kv[1] != "" {
			files[kv[1]] = kv[0]
		}
	}
	var id []string
	for _, f := range slices.Sorted(maps.Keys(files)) {
		h, err := fileHash(f)
		if errors.Is(err, core.ErrInvalidInput) {
			return info, core.OptionFault(files[f], err)
		} else if err != nil {
			return info, err
		}
		id = append(id, filepath.Base(f)+"="+h)
	}
	info.Identity = "precomputed " + Version + " " + strings.Join(id, ",") + " " + resolved.Canonical()
	return info, nil
}

// Fit is never called: NeedsFit is false.
func (Backbone) Fit(ctx context.Context, req core.EmbedRequest, in core.BatchReader) error {
	return nil
}

// Embed sends the rows of the split's file that match each image batch.
func (Backbone) Embed(ctx context.Context, req core.EmbedRequest, in core.BatchReader, send func(core.EmbeddingBatch) error) error {
	var opts options
	if _, err := core.Decode(schema, req.Options, &opts); err != nil {
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
