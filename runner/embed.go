package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/core/npy"
	"github.com/clusterlab/clusterlab/core/store"
)

// pluginRef is a launched plugin's config name and description, the parts
// that enter cache keys.
type pluginRef struct {
	Name     string // plugin name from Describe
	Identity string
	Options  core.Options
}

// splitData is one split's embeddings and labels in the store.
type splitData struct {
	Split      string
	Embeddings string // .npy [N, D] float32
	Labels     string // .npy [N] int32
	// Names is the .npy [N] of the images' names (strings) when the
	// dataset gives them (ImageBatch.Names), else "".
	Names  string
	N, D   int
	SHA256 string // of the embeddings file, verified when the entry was loaded
	Cached bool
}

// readBatchSize keeps image messages around 1 MiB, well under gRPC's 4 MiB.
func readBatchSize(info core.DatasetInfo) int {
	per := info.Height * info.Width * info.Channels
	if per <= 0 {
		return 64
	}
	n := (1 << 20) / per
	return max(1, min(n, 1024))
}

// datasetReader turns the dataset's push stream into a pull BatchReader
// for the backbone, recording labels on the way.
type datasetReader struct {
	ch     chan core.ImageBatch
	errc   chan error
	cancel context.CancelFunc
	labels []int32
	// names holds every image's name while each batch gives them; a
	// batch without names drops them all (noNames).
	names   []string
	noNames bool
	seen    int
	onRead  func(n int)
	mu      sync.Mutex
}

func newDatasetReader(ctx context.Context, ds core.Dataset, opts core.Options, split string, batch int, n int, onRead func(int)) *datasetReader {
	ctx, cancel := context.WithCancel(ctx)
	r := &datasetReader{ch: make(chan core.ImageBatch, 4), errc: make(chan error, 1), cancel: cancel, labels: make([]int32, n), onRead: onRead}
	go func() {
		err := ds.Read(ctx, core.ReadRequest{Options: opts, Split: split, BatchSize: batch}, func(b core.ImageBatch) error {
			select {
			case r.ch <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		r.errc <- err
		close(r.ch)
	}()
	return r
}

func (r *datasetReader) Next() (core.ImageBatch, error) {
	b, ok := <-r.ch
	if !ok {
		if err := <-r.errc; err != nil {
			return core.ImageBatch{}, fmt.Errorf("dataset read: %w", err)
		}
		if r.seen != len(r.labels) {
			return core.ImageBatch{}, fmt.Errorf("dataset sent %d images, its description announced %d", r.seen, len(r.labels))
		}
		return core.ImageBatch{}, io.EOF
	}
	if b.Offset < 0 || b.Offset+b.Count > len(r.labels) || len(b.Labels) != b.Count {
		return core.ImageBatch{}, fmt.Errorf("dataset sent a bad batch (offset %d, count %d, %d labels) for a split of %d images", b.Offset, b.Count, len(b.Labels), len(r.labels))
	}
	copy(r.labels[b.Offset:], b.Labels)
	switch {
	case len(b.Names) == 0:
		r.noNames, r.names = true, nil
	case !r.noNames && len(b.Names) == b.Count:
		if r.names == nil {
			r.names = make([]string, len(r.labels))
		}
		copy(r.names[b.Offset:], b.Names)
	}
	r.seen += b.Count
	if r.onRead != nil {
		r.onRead(r.seen)
	}
	return b, nil
}

func (r *datasetReader) Close() {
	r.cancel()
	for range r.ch {
	}
}

// backboneStateEntry is the store entry of a backbone's state fitted on a
// dataset's train split, keyed by both identities (embedding writes it,
// assign reads it back).
func backboneStateEntry(st *store.Store, dsName, dsID, bbName, bbID string) store.Entry {
	return st.Entry("backbone-state", store.Hash("backbone-state", dsName, dsID, bbName, bbID))
}

// embedAll computes or reuses the embeddings of every split.
func embedAll(ctx context.Context, st *store.Store, ds core.Dataset, dsInfo core.DatasetInfo, dsRef pluginRef,
	bb core.Backbone, bbInfo core.BackboneInfo, bbRef pluginRef, log trialLog) (map[string]splitData, error) {
	out := map[string]splitData{}
	var stateDir string
	if bbInfo.NeedsFit {
		e := backboneStateEntry(st, dsRef.Name, dsRef.Identity, bbRef.Name, bbRef.Identity)
		stateDir = e.Dir
		if _, err := withEntry(ctx, e, log.Logf, func() (map[string]string, []string, error) {
			train, ok := dsInfo.Split(core.SplitTrain)
			if !ok {
				return nil, nil, fmt.Errorf("backbone %s must be fitted on the train split, which dataset %s does not have", bbRef.Name, dsRef.Name)
			}
			p := log.Progress("fit "+bbRef.Name, "img", train.Count)
			defer p.Stop()
			rd := newDatasetReader(ctx, ds, dsRef.Options, core.SplitTrain, readBatchSize(dsInfo), train.Count, func(n int) { p.Set(n, "") })
			defer rd.Close()
			err := bb.Fit(ctx, core.EmbedRequest{Options: bbRef.Options, StateDir: e.Dir, Dataset: dsInfo, Split: core.SplitTrain}, rd)
			if err != nil {
				return nil, nil, fmt.Errorf("fit backbone %s: %w", bbRef.Name, err)
			}
			p.Done(fmt.Sprintf("%d train images", train.Count))
			return map[string]string{"dataset": dsRef.Name, "dataset_identity": dsRef.Identity, "backbone": bbRef.Name, "backbone_identity": bbRef.Identity}, nil, nil
		}); err != nil {
			return nil, err
		}
	}
	for _, sp := range dsInfo.Splits {
		sd, err := embedSplit(ctx, st, ds, dsInfo, dsRef, bb, bbRef, stateDir, sp, log)
		if err != nil {
			return nil, err
		}
		out[sp.Name] = sd
	}
	return out, nil
}

// withEntry runs compute under the entry's lock unless the entry is
// already committed and intact; a damaged entry is reported and recomputed.
// compute returns the identity for meta.json and the array names written.
// It returns the entry's verified meta (shapes and checksums of its arrays).
func withEntry(ctx context.Context, e store.Entry, logf func(string, ...any), compute func() (map[string]string, []string, error)) (store.Meta, error) {
	if m, err := e.Load(); err == nil {
		return m, nil
	}
	// Another process (a trial beside this one, a job on another machine
	// sharing the cache) may be computing it: say whom we wait for.
	unlock, err := e.LockWait(ctx, func(h store.Holder) {
		logf("waiting for %s: in use by %s", e.Dir, h)
	})
	if errors.Is(err, store.ErrLockUnsupported) {
		return store.Meta{}, core.OptionFault("cache_dir", err)
	}
	if err != nil {
		return store.Meta{}, err
	}
	defer unlock()
	// Another run may have finished it while we waited for the lock.
	m, err := e.Load()
	if err == nil {
		return m, nil
	}
	if !errors.Is(err, store.ErrMissing) {
		logf("warning: %v; recomputing it", err)
		if err := e.Invalidate(); err != nil {
			return store.Meta{}, err
		}
	}
	// Nobody else writes here while we hold the lock.
	removeStaleTemps(e.Dir)
	id, names, err := compute()
	if err != nil {
		return store.Meta{}, err
	}
	return e.Commit(id, names...)
}

func embedSplit(ctx context.Context, st *store.Store, ds core.Dataset, dsInfo core.DatasetInfo, dsRef pluginRef,
	bb core.Backbone, bbRef pluginRef, stateDir string, sp core.SplitInfo, log trialLog) (splitData, error) {
	e := st.Entry("embeddings", store.Hash("embeddings", dsRef.Name, dsRef.Identity, sp.Name, bbRef.Name, bbRef.Identity))
	sd := splitData{Split: sp.Name, Embeddings: e.Path("embeddings"), Labels: e.Path("labels"), N: sp.Count, Cached: true}
	meta, err := withEntry(ctx, e, log.Logf, func() (map[string]string, []string, error) {
		sd.Cached = false
		p := log.Progress("embed "+sp.Name, "img", sp.Count)
		defer p.Stop()
		rd := newDatasetReader(ctx, ds, dsRef.Options, sp.Name, readBatchSize(dsInfo), sp.Count, nil)
		defer rd.Close()
		// Rows go to a temporary .npy as they arrive, so the runner holds
		// one batch, not the split; the file is renamed into place only
		// when every row is there.
		var rows *npy.RowWriter
		defer func() {
			if rows != nil {
				rows.Abort()
			}
		}()
		dim, got := 0, 0
		err := bb.Embed(ctx, core.EmbedRequest{Options: bbRef.Options, StateDir: stateDir, Dataset: dsInfo, Split: sp.Name}, rd, func(b core.EmbeddingBatch) error {
			if dim == 0 {
				if b.Dim <= 0 {
					return fmt.Errorf("backbone %s sent embeddings of dimension %d", bbRef.Name, b.Dim)
				}
				dim = b.Dim
				need := uint64(sp.Count) * uint64(dim+1) * 4
				if err := store.CheckFree(e.Dir, need, fmt.Sprintf("the %d x %d embeddings of split %s", sp.Count, dim, sp.Name)); err != nil {
					return err
				}
				var err error
				if rows, err = npy.CreateFloat32Rows(e.Path("embeddings"), sp.Count, dim); err != nil {
					return err
				}
			}
			if b.Dim != dim || b.Offset != got || b.Offset+b.Count > sp.Count || len(b.Values) != b.Count*dim {
				return fmt.Errorf("backbone %s sent a bad batch (offset %d, count %d, dim %d, %d values; expected offset %d)", bbRef.Name, b.Offset, b.Count, b.Dim, len(b.Values), got)
			}
			for i, v := range b.Values {
				if v != v || v > 3.4e38 || v < -3.4e38 {
					return fmt.Errorf("%w: backbone %s produced a non-finite feature for image %d of split %s", core.ErrInvalidInput, bbRef.Name, b.Offset+i/dim, sp.Name)
				}
			}
			if err := rows.Append(b.Values); err != nil {
				return err
			}
			got += b.Count
			p.Set(got, "")
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("embed split %s with backbone %s: %w", sp.Name, bbRef.Name, err)
		}
		if got != sp.Count || rows == nil {
			return nil, nil, fmt.Errorf("backbone %s returned %d embeddings for %d images of split %s", bbRef.Name, got, sp.Count, sp.Name)
		}
		if err := rows.Commit(); err != nil {
			return nil, nil, err
		}
		rows = nil
		if err := npy.WriteInt32(e.Path("labels"), rd.labels, sp.Count); err != nil {
			return nil, nil, err
		}
		arrays := []string{"embeddings", "labels"}
		if rd.names != nil {
			if err := npy.WriteStrings(e.Path("names"), rd.names); err != nil {
				return nil, nil, fmt.Errorf("names of split %s: %w", sp.Name, err)
			}
			arrays = append(arrays, "names")
		}
		p.Done(fmt.Sprintf("%d images -> %d dims", sp.Count, dim))
		return map[string]string{
			"dataset": dsRef.Name, "dataset_identity": dsRef.Identity, "split": sp.Name,
			"backbone": bbRef.Name, "backbone_identity": bbRef.Identity,
		}, arrays, nil
	})
	if err != nil {
		return splitData{}, err
	}
	arr := meta.Arrays["embeddings"]
	if len(arr.Shape) != 2 || arr.Shape[0] != sp.Count {
		return splitData{}, fmt.Errorf("embeddings %s have shape %v, want [%d, D]", sd.Embeddings, arr.Shape, sp.Count)
	}
	sd.D, sd.SHA256 = arr.Shape[1], arr.SHA256
	if _, ok := meta.Arrays["names"]; ok {
		sd.Names = e.Path("names")
	}
	if sd.Cached {
		log.Logf("embeddings of %s: cached (%s)", sp.Name, e.Dir)
	}
	return sd, nil
}
