package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
)

// Files of the fitted state in the state directory. The arrays are float32
// .npy files (numpy.load opens them):
//
//	mean.npy                [D]     the centring point (see fit)
//	components.npy          [k, D]  unit principal axes, by decreasing variance (PCA only)
//	explained_variance.npy  [k]     their eigenvalues, ddof=1 (PCA only)
//	std.npy                 [k]     divisors of standardisation, 1 where constant (standardize only)
//	state.json              the options, geometry, sizes and the sha256 of each array
//
// state.json is written last: a directory without it, or whose arrays do
// not match its checksums, holds no usable state.
const (
	fileMean      = "mean.npy"
	fileComps     = "components.npy"
	fileVariances = "explained_variance.npy"
	fileStd       = "std.npy"
	fileState     = "state.json"
)

// stateMeta is state.json.
type stateMeta struct {
	Plugin   string          `json:"plugin"`
	Version  string          `json:"version"`
	Options  json.RawMessage `json:"options"`
	Identity string          `json:"identity"`
	Height   int             `json:"height"`
	Width    int             `json:"width"`
	Channels int             `json:"channels"`
	// InputDim = Height*Width*Channels; OutputDim is the embedding size.
	InputDim    int `json:"input_dim"`
	OutputDim   int `json:"output_dim"`
	TrainImages int `json:"train_images"`
	// FitImages is the number of images the PCA was fitted on.
	FitImages              int               `json:"pca_fit_images,omitempty"`
	ExplainedVarianceRatio float64           `json:"explained_variance_ratio,omitempty"`
	TotalVariance          float64           `json:"total_variance,omitempty"`
	Files                  map[string]string `json:"files"` // name -> sha256 hex
	Created                string            `json:"created"`
}

// state is a fitted state in memory.
type state struct {
	meta       stateMeta
	mean       []float32
	components []float32 // nil without PCA
	variances  []float32 // nil without PCA
	std        []float32 // nil without standardisation
	whiten     bool
}

func (s *state) geometry() geometry {
	return geometry{s.meta.Height, s.meta.Width, s.meta.Channels}
}

func (s *state) transform() *transform {
	return newTransform(s.meta.InputDim, s.mean, s.components, s.variances, s.std, s.whiten)
}

// arrays lists the arrays of the state with their shapes.
func (s *state) arrays() []stateArray {
	a := []stateArray{{fileMean, s.mean, []int{s.meta.InputDim}}}
	if s.components != nil {
		a = append(a,
			stateArray{fileComps, s.components, []int{s.meta.OutputDim, s.meta.InputDim}},
			stateArray{fileVariances, s.variances, []int{s.meta.OutputDim}})
	}
	if s.std != nil {
		a = append(a, stateArray{fileStd, s.std, []int{s.meta.OutputDim}})
	}
	return a
}

type stateArray struct {
	name  string
	data  []float32
	shape []int
}

// write stores the state in dir, atomically file by file, state.json last.
func (s *state) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pixels: create state directory: %w", err)
	}
	// An older state.json would vouch for arrays about to be replaced.
	if err := os.Remove(filepath.Join(dir, fileState)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pixels: remove the old state: %w", err)
	}
	for _, old := range []string{fileComps, fileVariances, fileStd} {
		os.Remove(filepath.Join(dir, old)) // stale arrays of other options; absent is fine
	}
	s.meta.Files = map[string]string{}
	for _, a := range s.arrays() {
		path := filepath.Join(dir, a.name)
		if err := npy.WriteFloat32(path, a.data, a.shape...); err != nil {
			return fmt.Errorf("pixels: write state: %w", err)
		}
		sum, err := store.FileSHA256(path)
		if err != nil {
			return fmt.Errorf("pixels: write state: %w", err)
		}
		s.meta.Files[a.name] = sum
	}
	s.meta.Created = time.Now().UTC().Format(time.RFC3339)
	js, err := json.MarshalIndent(s.meta, "", "  ")
	if err != nil {
		return fmt.Errorf("pixels: encode state.json: %w", err)
	}
	err = npy.WriteAtomic(filepath.Join(dir, fileState), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("pixels: write state: %w", err)
	}
	return nil
}

// loadState reads and checks the state fitted for p in dir.
func loadState(dir string, p params) (*state, error) {
	if dir == "" {
		return nil, fmt.Errorf("pixels: options %s need a fitted state, but no state directory was given; run Fit first", p.canonical)
	}
	raw, err := os.ReadFile(filepath.Join(dir, fileState))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pixels: no fitted state in %s (no %s); run Fit first with options %s", dir, fileState, p.canonical)
	}
	if err != nil {
		return nil, fmt.Errorf("pixels: read fitted state: %w", err)
	}
	s := &state{whiten: p.whiten}
	if err := json.Unmarshal(raw, &s.meta); err != nil {
		return nil, fmt.Errorf("pixels: %s in %s is damaged (%v); run Fit first", fileState, dir, err)
	}
	if s.meta.Plugin != "pixels" || s.meta.Version != Version {
		return nil, fmt.Errorf("pixels: the state in %s was fitted by %s %s, this is pixels %s; run Fit first", dir, s.meta.Plugin, s.meta.Version, Version)
	}
	var opts bytes.Buffer
	if err := json.Compact(&opts, s.meta.Options); err != nil || opts.String() != p.canonical {
		return nil, fmt.Errorf("pixels: the state in %s was fitted with options %s, not %s; run Fit first", dir, opts.String(), p.canonical)
	}
	g := s.geometry()
	if g.h <= 0 || g.w <= 0 || g.c <= 0 || s.meta.InputDim != g.dim() || s.meta.OutputDim <= 0 {
		return nil, fmt.Errorf("pixels: %s in %s has a bad geometry (%v, %d -> %d values); run Fit first", fileState, dir, g, s.meta.InputDim, s.meta.OutputDim)
	}
	want := []string{fileMean}
	if p.pcaDims > 0 {
		want = append(want, fileComps, fileVariances)
	}
	if p.standardize {
		want = append(want, fileStd)
	}
	for _, name := range want {
		path := filepath.Join(dir, name)
		sum, ok := s.meta.Files[name]
		if !ok {
			return nil, fmt.Errorf("pixels: %s in %s lists no %s; run Fit first", fileState, dir, name)
		}
		got, err := store.FileSHA256(path)
		if err != nil {
			return nil, fmt.Errorf("pixels: fitted state: %w; run Fit first", err)
		}
		if got != sum {
			return nil, fmt.Errorf("pixels: fitted state file %s is damaged or stale (sha256 %s, %s says %s); run Fit first", path, got, fileState, sum)
		}
		data, shape, err := npy.ReadFloat32(path)
		if err != nil {
			return nil, fmt.Errorf("pixels: fitted state: %w; run Fit first", err)
		}
		switch name {
		case fileMean:
			s.mean, err = checkShape(path, data, shape, s.meta.InputDim)
		case fileComps:
			s.components, err = checkShape(path, data, shape, s.meta.OutputDim, s.meta.InputDim)
		case fileVariances:
			s.variances, err = checkShape(path, data, shape, s.meta.OutputDim)
		case fileStd:
			s.std, err = checkShape(path, data, shape, s.meta.OutputDim)
		}
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func checkShape(path string, data []float32, shape []int, want ...int) ([]float32, error) {
	if fmt.Sprint(shape) != fmt.Sprint(want) {
		return nil, fmt.Errorf("pixels: fitted state file %s has shape %v, want %v; run Fit first", path, shape, want)
	}
	return data, nil
}
