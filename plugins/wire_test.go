package plugins

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/plugins/internal/testplugins/synthdata"
	"google.golang.org/grpc/status"
)

func TestSplitImages(t *testing.T) {
	b := synthdata.Batch("train", 30, 10, 4, 4, 3, 5) // 48 bytes per image
	parts := splitImages(b, 100)
	if len(parts) != 5 {
		t.Fatalf("%d parts, want 5 of 2 images", len(parts))
	}
	for i, p := range parts {
		if want := synthdata.Batch("train", 30+2*i, 2, 4, 4, 3, 5); !reflect.DeepEqual(p, want) {
			t.Fatalf("part %d: %+v, want %+v", i, p, want)
		}
	}
	if got := splitImages(b, 480); len(got) != 1 {
		t.Fatalf("a batch at the limit was split in %d", len(got))
	}
	// A single image larger than the limit travels alone.
	if got := splitImages(b, 10); len(got) != 10 || got[9].Offset != 39 || got[9].Count != 1 {
		t.Fatalf("oversized images: %d parts", len(got))
	}
}

func TestSplitEmbeddings(t *testing.T) {
	e := core.EmbeddingBatch{Offset: 7, Count: 5, Dim: 3}
	for i := 0; i < 15; i++ {
		e.Values = append(e.Values, float32(i))
	}
	parts := splitEmbeddings(e, 24) // two rows of 12 bytes
	want := []core.EmbeddingBatch{
		{Offset: 7, Count: 2, Dim: 3, Values: []float32{0, 1, 2, 3, 4, 5}},
		{Offset: 9, Count: 2, Dim: 3, Values: []float32{6, 7, 8, 9, 10, 11}},
		{Offset: 11, Count: 1, Dim: 3, Values: []float32{12, 13, 14}},
	}
	if !reflect.DeepEqual(parts, want) {
		t.Fatalf("parts %+v, want %+v", parts, want)
	}
}

func TestOptionsJSON(t *testing.T) {
	in := core.Options{"n": int64(1) << 60, "lr": 0.001, "flag": true, "s": "x", "list": []any{1, 2.5}}
	raw, err := encodeOptions(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := core.Options{"n": int64(1) << 60, "lr": 0.001, "flag": true, "s": "x", "list": []any{int64(1), 2.5}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("decoded %#v, want %#v", out, want)
	}
	if o, err := decodeOptions(nil); o != nil || err != nil {
		t.Fatalf("empty options: %v %v", o, err)
	}
	if o, err := decodeOptions([]byte("{}")); o == nil || len(o) != 0 || err != nil {
		t.Fatalf("{} options: %#v %v", o, err)
	}
	if _, err := decodeOptions([]byte("[1]")); !IsInvalidInput(err) {
		t.Fatalf("non-object options: %v", err)
	}
}

func TestOptionSchemaRoundTrip(t *testing.T) {
	for _, o := range []core.Option{
		{Name: "a", Type: core.TypeInt, Default: 3, Min: core.Bound(-1), Max: core.Bound(10), Help: "h"},
		{Name: "b", Type: core.TypeFloat, Default: 2, Min: core.Bound(0)},
		{Name: "c", Type: core.TypeString, Default: "x", Choices: []string{"x", "y"}},
		{Name: "d", Type: core.TypeBool, Default: true},
		{Name: "e", Type: core.TypeString, Optional: true},
		{Name: "f", Type: core.TypeInt},
		{Name: "g", Type: core.TypeInt, Default: int64(50), DefaultFrom: core.RefNeighboursK, AtMost: []string{core.RefNeighboursK, core.RefTrainSamples}},
	} {
		p, err := optionToPB(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := optionFromPB(p)
		if err != nil {
			t.Fatal(err)
		}
		want := o
		switch o.Name {
		case "a":
			want.Default = int64(3)
		case "b":
			want.Default = 2.0
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("option %s: got %#v, want %#v", o.Name, got, want)
		}
	}
}

func TestMalformedBatchesAreRejected(t *testing.T) {
	b := synthdata.Batch("train", 0, 3, 2, 2, 1, 2)
	b.Pixels = b.Pixels[:11]
	if err := checkImageBatch(b); err == nil || !strings.Contains(err.Error(), "11 pixel bytes for 3 images of 2x2x1, want 12") {
		t.Fatalf("short pixels: %v", err)
	}
	p := imageBatchToPB(synthdata.Batch("train", 0, 3, 2, 2, 1, 2))
	p.Labels = p.Labels[:2]
	if _, err := imageBatchFromPB(p); err == nil || !strings.Contains(err.Error(), "2 labels for 3 images") {
		t.Fatalf("short labels: %v", err)
	}
	e := embeddingBatchToPB(core.EmbeddingBatch{Offset: 4, Count: 2, Dim: 3, Values: make([]float32, 5)})
	if _, err := embeddingBatchFromPB(e); err == nil || !strings.Contains(err.Error(), "5 values for 2 embeddings of dimension 3") {
		t.Fatalf("short embeddings: %v", err)
	}
}

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(64)
	for i := 0; i < 100; i++ {
		tb.Write([]byte(strings.Repeat("x", 9) + "\n"))
	}
	if s := tb.String(); len(s) > 64 || !strings.HasPrefix(s, "xxxxxxxxx\n") {
		t.Fatalf("kept %q", s)
	}
	tb = newTailBuffer(1 << 10)
	tb.Write([]byte("panic: boom\n\ngoroutine 1:\n"))
	for i := 0; i < 30; i++ {
		tb.Write([]byte("frame\n"))
	}
	lines := strings.Split(tb.Tail(5), "\n")
	if want := []string{"panic: boom", "...", "frame", "frame", "frame", "frame"}; !reflect.DeepEqual(lines, want) {
		t.Fatalf("tail %q, want %q", lines, want)
	}
}

// TestErrorKindsCrossTheWire: what kind of error a plugin returned reaches
// the runner through ErrorDetail, never through its message text: an
// option error keeps its key, a full disk stays a full disk, and other
// invalid input stays invalid input.
func TestErrorKindsCrossTheWire(t *testing.T) {
	cross := func(err error) error {
		st, ok := status.FromError(toStatus(err))
		if !ok {
			t.Fatalf("toStatus(%v) is not a status", err)
		}
		return remoteErrorFromStatus(st)
	}
	opt := cross(fmt.Errorf("loss %q options: %w", "temi", &core.OptionError{Key: "beta", Msg: "-1 is below the minimum 0"}))
	var oe *core.OptionError
	if !errors.As(opt, &oe) || oe.Key != "beta" || oe.Msg != "-1 is below the minimum 0" || !errors.Is(opt, core.ErrInvalidInput) {
		t.Errorf("option error after the wire: %v (%#v)", opt, oe)
	}
	for _, full := range []error{
		fmt.Errorf("write state: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}),
		fmt.Errorf("write state: %w", syscall.EFBIG),
		fmt.Errorf("%w: need 1 GiB", core.ErrNoSpace),
	} {
		got := cross(full)
		if !core.NoSpace(got) || errors.Is(got, core.ErrInvalidInput) || got.Error() != full.Error() {
			t.Errorf("disk full %v after the wire: %v (no space %v)", full, got, core.NoSpace(got))
		}
	}
	bad := cross(fmt.Errorf("%w: no train split", core.ErrInvalidInput))
	if !errors.Is(bad, core.ErrInvalidInput) || core.NoSpace(bad) || errors.As(bad, &oe) && oe.Key != "beta" {
		t.Errorf("invalid input after the wire: %v", bad)
	}
	// A message that merely reads like an option error is not one.
	text := cross(errors.New(`option "beta": looks like an option error`))
	if errors.Is(text, core.ErrInvalidInput) || errors.As(text, new(*core.OptionError)) {
		t.Errorf("plain error classified by its text: %v", text)
	}
}
