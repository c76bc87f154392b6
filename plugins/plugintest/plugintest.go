// Package plugintest is the conformance suite of clusterlab's dataset and
// backbone plugins: what every plugin must do whoever writes it. A plugin's
// own tests call Dataset or Backbone with options that work and, where it
// has them, options that must fail; the suite checks the option schema, the
// errors for bad options (an *core.OptionError naming the key), streaming
// (order, offsets, counts, shapes), determinism and, for backbones, bad
// image shapes. Run it on the Go value (fast) and, to test the wire too, on
// the core.Dataset or core.Backbone of a plugins.Client.
//
// Loss plugins have their own suite, losstest.Conformance (it needs GoMLX).
//
//	func TestConformance(t *testing.T) {
//		plugintest.Dataset(t, mydataset.Dataset{}, plugintest.DatasetCase{
//			Options: core.Options{"root": "testdata/small"},
//		})
//	}
package plugintest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// BadOption is options that must fail with an *core.OptionError naming
// Key (besides the failures the suite derives from the schema).
type BadOption struct {
	Options core.Options
	Key     string
}

// CheckSchema checks an option schema as a plugin declares it: names
// unique and non-empty, known types, help for every option, bounds in
// order, defaults valid under the option's own rules, and references
// (DefaultFrom, AtMost) to run quantities the runner knows.
func CheckSchema(t testing.TB, d core.Description, kind string) {
	t.Helper()
	if d.Kind != kind {
		t.Errorf("Describe: kind %q, want %q", d.Kind, kind)
	}
	if d.Name == "" || d.Version == "" || d.Summary == "" {
		t.Errorf("Describe: name %q, version %q, summary %q: all three are needed", d.Name, d.Version, d.Summary)
	}
	seen := map[string]bool{}
	for _, o := range d.Options {
		switch {
		case o.Name == "":
			t.Errorf("an option without a name: %+v", o)
		case seen[o.Name]:
			t.Errorf("option %q declared twice", o.Name)
		case o.Name == "plugin":
			t.Errorf(`option "plugin" is reserved: it selects the plugin in a config section`)
		}
		seen[o.Name] = true
		if !slices.Contains([]string{core.TypeInt, core.TypeFloat, core.TypeBool, core.TypeString}, o.Type) {
			t.Errorf("option %q: unknown type %q", o.Name, o.Type)
		}
		if o.Help == "" {
			t.Errorf("option %q has no help", o.Name)
		}
		if o.Min != nil && o.Max != nil && *o.Min > *o.Max {
			t.Errorf("option %q: min %v above max %v", o.Name, *o.Min, *o.Max)
		}
		if o.Default != nil {
			if _, err := core.ResolveOptions([]core.Option{o}, core.Options{o.Name: o.Default}); err != nil {
				t.Errorf("option %q: its default %v breaks its own rules: %v", o.Name, o.Default, err)
			}
		}
		if o.Default == nil && o.Optional && o.DefaultFrom != "" {
			t.Errorf("option %q is optional and derived from %s: choose one", o.Name, o.DefaultFrom)
		}
		for _, ref := range append(slices.Clone(o.AtMost), o.DefaultFrom) {
			if ref != "" && !slices.Contains(core.Refs, ref) {
				t.Errorf("option %q refers to %q, not a run quantity (%v)", o.Name, ref, core.Refs)
			}
		}
	}
}

// BadOptions derives options that must fail from a schema: an unknown key,
// a wrong type and every bound and choice crossed, each on top of good.
func BadOptions(schema []core.Option, good core.Options) []BadOption {
	with := func(k string, v any) core.Options {
		o := core.Options{}
		for kk, vv := range good {
			o[kk] = vv
		}
		o[k] = v
		return o
	}
	bad := []BadOption{{Options: with("no_such_option_x", 1), Key: "no_such_option_x"}}
	for _, o := range schema {
		switch o.Type {
		case core.TypeInt, core.TypeFloat:
			bad = append(bad, BadOption{Options: with(o.Name, "not a number"), Key: o.Name})
			if o.Min != nil {
				bad = append(bad, BadOption{Options: with(o.Name, *o.Min-1), Key: o.Name})
			}
			if o.Max != nil {
				bad = append(bad, BadOption{Options: with(o.Name, *o.Max+1), Key: o.Name})
			}
		case core.TypeBool:
			bad = append(bad, BadOption{Options: with(o.Name, "perhaps"), Key: o.Name})
		case core.TypeString:
			bad = append(bad, BadOption{Options: with(o.Name, 3.5), Key: o.Name})
			if len(o.Choices) > 0 {
				bad = append(bad, BadOption{Options: with(o.Name, "not-a-choice-x"), Key: o.Name})
			}
		}
	}
	return bad
}

// CheckOptionError checks that err is an invalid-input error naming key.
func CheckOptionError(t testing.TB, what string, err error, key string) {
	t.Helper()
	var oe *core.OptionError
	switch {
	case err == nil:
		t.Errorf("%s: no error, want one naming option %q", what, key)
	case !errors.As(err, &oe):
		t.Errorf("%s: error %q is not a *core.OptionError naming %q (the runner could not point at the config key)", what, err, key)
	case oe.Key != key:
		t.Errorf("%s: error names option %q, want %q: %v", what, oe.Key, key, err)
	case !errors.Is(err, core.ErrInvalidInput):
		t.Errorf("%s: error is not invalid input (exit status 2): %v", what, err)
	}
}

// digest hashes a stream of batches, for determinism checks.
type digest struct{ h [32]byte }

func (d *digest) add(parts ...[]byte) {
	s := sha256.New()
	s.Write(d.h[:])
	for _, p := range parts {
		s.Write(p)
	}
	copy(d.h[:], s.Sum(nil))
}

func int32Bytes(v []int32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	return b
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

func describeOf(name string, opts core.Options) string { return fmt.Sprintf("%s(%v)", name, opts) }
