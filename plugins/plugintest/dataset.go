package plugintest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// DatasetCase is what the dataset suite runs with.
type DatasetCase struct {
	// Options that describe and read a small dataset (keep it to a few
	// thousand images: every split is read twice).
	Options core.Options
	// Bad are options that must fail, beyond those derived from the schema
	// (an unknown key, wrong types, bounds crossed).
	Bad []BadOption
	// Unlabelled is true for a dataset without labels (every label -1).
	Unlabelled bool
	// NoImages is true for a dataset that serves labels and counts but no
	// pixels (features computed elsewhere): geometry 0x0x0.
	NoImages bool
}

// Dataset runs the conformance suite of a dataset plugin.
func Dataset(t *testing.T, d core.Dataset, c DatasetCase) {
	ctx := ctxT(t)
	schemaOnly, err := d.Describe(ctx, nil)
	if err != nil {
		t.Fatalf("Describe(nil), the schema only: %v", err)
	}
	t.Run("schema", func(t *testing.T) { CheckSchema(t, schemaOnly.Description, core.KindDataset) })

	info, err := d.Describe(ctx, c.Options)
	if err != nil {
		t.Fatalf("%s: %v", describeOf("Describe", c.Options), err)
	}
	t.Run("describe", func(t *testing.T) {
		if info.Identity == "" {
			t.Errorf("Describe with options gave no identity: the cache could not tell this data from other data")
		}
		again, err := d.Describe(ctx, c.Options)
		if err != nil || again.Identity != info.Identity {
			t.Errorf("Describe is not deterministic: identity %q then %q (%v)", info.Identity, again.Identity, err)
		}
		if _, ok := info.Split(core.SplitTrain); !ok {
			t.Errorf("no %q split: the runner fits and clusters on it (splits %+v)", core.SplitTrain, info.Splits)
		}
		for _, s := range info.Splits {
			if s.Name == "" || s.Count <= 0 {
				t.Errorf("split %+v: a split needs a name and at least one image", s)
			}
		}
		switch {
		case c.NoImages:
			if info.Height != 0 || info.Width != 0 || info.Channels != 0 {
				t.Errorf("a dataset without images gave the geometry %dx%dx%d, want 0x0x0", info.Height, info.Width, info.Channels)
			}
		case info.Channels <= 0:
			t.Errorf("image geometry %dx%dx%d: images need a positive number of channels", info.Height, info.Width, info.Channels)
		case (info.Height == 0) != (info.Width == 0) || info.Height < 0 || info.Width < 0:
			t.Errorf("image geometry %dx%dx%d: height and width are both positive (one size) or both 0 (sizes vary)", info.Height, info.Width, info.Channels)
		}
		if !c.Unlabelled && len(info.Classes) == 0 {
			t.Errorf("a labelled dataset with no class names")
		}
	})

	t.Run("bad options", func(t *testing.T) {
		for _, b := range append(BadOptions(schemaOnly.Options, c.Options), c.Bad...) {
			_, err := d.Describe(ctx, b.Options)
			CheckOptionError(t, describeOf("Describe", b.Options), err, b.Key)
		}
	})

	t.Run("read", func(t *testing.T) {
		for _, s := range info.Splits {
			first := readSplit(t, d, c, info, s, 64)
			second := readSplit(t, d, c, info, s, 1000)
			if first != second {
				t.Errorf("split %s: reading it again (another batch size) gave other images or labels", s.Name)
			}
		}
		err := d.Read(ctx, core.ReadRequest{Options: c.Options, Split: "no-such-split-x", BatchSize: 8}, func(core.ImageBatch) error { return nil })
		if err == nil || !errors.Is(err, core.ErrInvalidInput) {
			t.Errorf("Read of an unknown split: %v, want invalid input", err)
		}
		err = d.Read(ctx, core.ReadRequest{Options: c.Options, Split: core.SplitTrain, BatchSize: 0}, func(core.ImageBatch) error { return nil })
		if err == nil {
			t.Errorf("Read with batch size 0: no error")
		}
	})
}

// readSplit reads one split, checks every batch and returns the digest of
// its images and labels.
func readSplit(t *testing.T, d core.Dataset, c DatasetCase, info core.DatasetInfo, s core.SplitInfo, batch int) digest {
	t.Helper()
	var dg digest
	next := 0
	varies := info.Height == 0 && info.Width == 0 && info.Channels > 0
	err := d.Read(ctxT(t), core.ReadRequest{Options: c.Options, Split: s.Name, BatchSize: batch}, func(b core.ImageBatch) error {
		per := b.Height * b.Width * b.Channels
		switch {
		case b.Offset != next:
			t.Errorf("split %s: batch at offset %d, want %d (batches come in order, without gaps)", s.Name, b.Offset, next)
		case b.Count <= 0 || b.Count > batch:
			t.Errorf("split %s: batch of %d images for batch size %d", s.Name, b.Count, batch)
		case varies && (b.Height <= 0 || b.Width <= 0 || b.Channels != info.Channels):
			t.Errorf("split %s: batch images %dx%dx%d; sizes vary, but each batch needs a positive size and the dataset's %d channels", s.Name, b.Height, b.Width, b.Channels, info.Channels)
		case !varies && (b.Height != info.Height || b.Width != info.Width || b.Channels != info.Channels):
			t.Errorf("split %s: batch images %dx%dx%d, Describe said %dx%dx%d", s.Name, b.Height, b.Width, b.Channels, info.Height, info.Width, info.Channels)
		case len(b.Pixels) != b.Count*per || len(b.Labels) != b.Count:
			t.Errorf("split %s: batch of %d images holds %d pixel values and %d labels", s.Name, b.Count, len(b.Pixels), len(b.Labels))
		case len(b.Names) != 0 && len(b.Names) != b.Count:
			t.Errorf("split %s: batch of %d images has %d names (one per image, or none)", s.Name, b.Count, len(b.Names))
		}
		for _, l := range b.Labels {
			// -1 is an unknown label; others index the class names.
			if l < -1 || int(l) >= len(info.Classes) || c.Unlabelled && l != -1 {
				t.Errorf("split %s: label %d with %d classes (unlabelled: %v)", s.Name, l, len(info.Classes), c.Unlabelled)
				break
			}
		}
		if len(b.Pixels) == b.Count*per && len(b.Labels) == b.Count {
			// Image by image, so that the digest does not depend on batching.
			for j := range b.Count {
				name := ""
				if len(b.Names) == b.Count {
					name = b.Names[j]
				}
				dg.add(b.Pixels[j*per:(j+1)*per], int32Bytes(b.Labels[j:j+1]), []byte(fmt.Sprintf("%dx%dx%d %q", b.Height, b.Width, b.Channels, name)))
			}
		}
		next = b.Offset + b.Count
		return nil
	})
	if err != nil {
		t.Errorf("Read %s: %v", s.Name, err)
	}
	if next != s.Count {
		t.Errorf("split %s: read %d images, Describe said %d", s.Name, next, s.Count)
	}
	return dg
}
