package plugintest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// BackboneCase is what the backbone suite runs with.
type BackboneCase struct {
	// Options that describe the backbone and embed the images below.
	Options core.Options
	// Bad are options that must fail, beyond those derived from the schema.
	Bad []BadOption
	// Height, Width and Channels are the geometry of the suite's images
	// (random, seeded). Train images are fitted on (when the backbone needs
	// fitting) and embedded; keep them few for slow models.
	Height, Width, Channels int
	Train                   int
	// Tolerance is the largest absolute difference allowed between the
	// embeddings of the same image in batches of different sizes (0 for
	// backbones that must be exact; batched inference may differ in the
	// last bits).
	Tolerance float64
	// IgnoresPixels is true for a backbone that reads no pixels (features
	// computed elsewhere, looked up by offset): the bad-shape checks do not
	// apply to it.
	IgnoresPixels bool
}

// Backbone runs the conformance suite of a backbone plugin.
func Backbone(t *testing.T, b core.Backbone, c BackboneCase) {
	ctx := ctxT(t)
	schemaOnly, err := b.Describe(ctx, nil)
	if err != nil {
		t.Fatalf("Describe(nil), the schema only: %v", err)
	}
	t.Run("schema", func(t *testing.T) { CheckSchema(t, schemaOnly.Description, core.KindBackbone) })
	info, err := b.Describe(ctx, c.Options)
	if err != nil {
		t.Fatalf("%s: %v", describeOf("Describe", c.Options), err)
	}
	t.Run("describe", func(t *testing.T) {
		if info.Identity == "" {
			t.Errorf("Describe with options gave no identity: the cache could not tell these embeddings from others")
		}
		again, err := b.Describe(ctx, c.Options)
		if err != nil || again.Identity != info.Identity || again.NeedsFit != info.NeedsFit {
			t.Errorf("Describe is not deterministic: identity %q then %q (%v)", info.Identity, again.Identity, err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, bad := range append(BadOptions(schemaOnly.Options, c.Options), c.Bad...) {
			_, err := b.Describe(ctx, bad.Options)
			CheckOptionError(t, describeOf("Describe", bad.Options), err, bad.Key)
		}
	})

	ds := core.DatasetInfo{
		Description: core.Description{Kind: core.KindDataset, Name: "plugintest", Identity: "plugintest random images"},
		Splits:      []core.SplitInfo{{Name: core.SplitTrain, Count: c.Train}},
		Classes:     []string{"a", "b"},
		Height:      c.Height, Width: c.Width, Channels: c.Channels,
	}
	images := randomImages(c.Train, c.Height, c.Width, c.Channels)
	req := core.EmbedRequest{Options: c.Options, StateDir: t.TempDir(), Dataset: ds, Split: core.SplitTrain}
	if info.NeedsFit {
		if err := b.Fit(ctx, req, &Batches{List: split(images, c.Height, c.Width, c.Channels, 16)}); err != nil {
			t.Fatalf("Fit: %v", err)
		}
	}
	t.Run("embed", func(t *testing.T) {
		small := embedAll(t, b, req, split(images, c.Height, c.Width, c.Channels, 3))
		large := embedAll(t, b, req, split(images, c.Height, c.Width, c.Channels, 16))
		if small == nil || large == nil {
			return
		}
		if len(small) != len(large) {
			t.Fatalf("the same images embed to %d values in batches of 3 and %d in batches of 16", len(small), len(large))
		}
		worst := 0.0
		for i := range small {
			worst = math.Max(worst, math.Abs(float64(small[i]-large[i])))
		}
		if worst > c.Tolerance {
			t.Errorf("the same images embed differently in batches of 3 and of 16: largest difference %g, tolerance %g", worst, c.Tolerance)
		}
		again := embedAll(t, b, req, split(images, c.Height, c.Width, c.Channels, 3))
		var d1, d2 digest
		d1.add(float32Bytes(small))
		d2.add(float32Bytes(again))
		if d1 != d2 {
			t.Errorf("embedding the same images twice gave different values: the backbone is not deterministic")
		}
	})
	t.Run("bad shapes", func(t *testing.T) {
		if c.IgnoresPixels {
			t.Skip("the backbone reads no pixels")
		}
		// Images of another geometry than the dataset announced must be
		// refused, never embedded as garbage.
		wrong := randomImages(4, c.Height+1, c.Width, c.Channels)
		err := b.Embed(ctx, req, &Batches{List: split(wrong, c.Height+1, c.Width, c.Channels, 4)}, func(core.EmbeddingBatch) error { return nil })
		if err == nil {
			t.Errorf("Embed of %dx%dx%d images for a %dx%dx%d dataset: no error", c.Height+1, c.Width, c.Channels, c.Height, c.Width, c.Channels)
		}
		short := core.ImageBatch{Offset: 0, Count: 2, Height: c.Height, Width: c.Width, Channels: c.Channels,
			Pixels: make([]uint8, c.Height*c.Width*c.Channels), Labels: []int32{0, 0}}
		err = b.Embed(ctx, req, &Batches{List: []core.ImageBatch{short}}, func(core.EmbeddingBatch) error { return nil })
		if err == nil {
			t.Errorf("Embed of a batch of 2 images holding the pixels of 1: no error")
		}
	})
}

// embedAll embeds the batches and checks each answer; it returns the rows
// in order, nil after a failure.
func embedAll(t *testing.T, b core.Backbone, req core.EmbedRequest, list []core.ImageBatch) []float32 {
	t.Helper()
	var out []float32
	next, dim := 0, 0
	err := b.Embed(ctxT(t), req, &Batches{List: list}, func(e core.EmbeddingBatch) error {
		if dim == 0 {
			dim = e.Dim
		}
		switch {
		case e.Dim <= 0 || e.Dim != dim:
			t.Errorf("embedding batch of dimension %d (first was %d)", e.Dim, dim)
		case e.Offset != next:
			t.Errorf("embedding batch at offset %d, want %d (in order, without gaps)", e.Offset, next)
		case len(e.Values) != e.Count*e.Dim:
			t.Errorf("embedding batch of %d rows of %d holds %d values", e.Count, e.Dim, len(e.Values))
		}
		for _, v := range e.Values {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("non-finite embedding value %v", v)
				break
			}
		}
		out = append(out, e.Values...)
		next = e.Offset + e.Count
		return nil
	})
	if err != nil {
		t.Errorf("Embed: %v", err)
		return nil
	}
	if n := len(list); n > 0 {
		last := list[n-1]
		if want := last.Offset + last.Count; next != want {
			t.Errorf("embedded %d images of %d", next, want)
			return nil
		}
	}
	return out
}

// randomImages returns n seeded random HWC uint8 images, flat.
func randomImages(n, h, w, ch int) []uint8 {
	rng := rand.New(rand.NewPCG(1, uint64(h*w*ch)))
	px := make([]uint8, n*h*w*ch)
	for i := range px {
		px[i] = uint8(rng.IntN(256))
	}
	return px
}

// split cuts flat images into batches of at most size.
func split(px []uint8, h, w, ch, size int) []core.ImageBatch {
	per := h * w * ch
	n := len(px) / per
	var out []core.ImageBatch
	for off := 0; off < n; off += size {
		cnt := min(size, n-off)
		out = append(out, core.ImageBatch{Offset: off, Count: cnt, Height: h, Width: w, Channels: ch,
			Pixels: px[off*per : (off+cnt)*per], Labels: make([]int32, cnt)})
	}
	return out
}
