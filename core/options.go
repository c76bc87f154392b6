package core

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Option types understood by ResolveOptions.
const (
	TypeInt    = "int"
	TypeFloat  = "float"
	TypeBool   = "bool"
	TypeString = "string"
)

// Option is one entry of a plugin's option schema.
type Option struct {
	Name    string
	Type    string // TypeInt, TypeFloat, TypeBool or TypeString
	Default any    // value of the option's type; nil means "no default" (required unless Optional)
	Help    string
	// Min and Max bound numeric options (inclusive) when set.
	Min, Max *float64
	// Choices restricts string options to a fixed set when not empty.
	Choices []string
	// Optional marks an option without default that may be left unset.
	Optional bool
	// DefaultFrom names a run setting (one of the Ref* constants) whose
	// value the runner uses as this option's default when the config does
	// not set it, so that coupled settings cannot disagree: the trainer's
	// knn follows neighbours.k. Default stays the value for callers
	// without a run (tests, other tools).
	DefaultFrom string
	// AtMost names run quantities (Ref* constants) the option's value must
	// not exceed; the runner checks them for every trial before any work
	// starts and names both settings when one is violated.
	AtMost []string
}

// Run quantities an option can refer to in DefaultFrom and AtMost.
const (
	// RefNeighboursK is the config key neighbours.k: neighbours stored per
	// train embedding in the k-NN graph.
	RefNeighboursK = "neighbours.k"
	// RefTrainSamples is the number of train images of the dataset (after
	// its limit options).
	RefTrainSamples = "train_samples"
	// RefImageValues is the number of values of one image (height x width
	// x channels).
	RefImageValues = "image_values"
)

// Refs lists the run quantities an option may refer to.
var Refs = []string{RefNeighboursK, RefTrainSamples, RefImageValues}

// Bound is a helper to write schema bounds inline: Min: core.Bound(0).
func Bound(v float64) *float64 { return &v }

// Options are plugin options by name, as decoded from config (YAML/env/flags)
// or from JSON on the wire. After ResolveOptions the values have the Go type
// of their schema: int64, float64, bool or string.
type Options map[string]any

// OptionError names the offending option; the runner adds the config key
// and where its value came from. Err, when set, is the cause (a missing
// file named by the option, say), kept for errors.Is and errors.As.
type OptionError struct {
	Key string
	Msg string
	Err error
}

func (e *OptionError) Error() string { return fmt.Sprintf("option %q: %s", e.Key, e.Msg) }

// Unwrap returns the cause.
func (e *OptionError) Unwrap() error { return e.Err }

// OptionFault attributes err, caused by the value of option key (a folder
// without the data, a model file that is not a model), to that option, so
// that the runner names the config key and its source. The message stays
// err's.
func OptionFault(key string, err error) error {
	if err == nil {
		return nil
	}
	return &OptionError{Key: key, Msg: err.Error(), Err: err}
}

// ResolveOptions validates given against schema and fills in defaults.
// Unknown keys, wrong types and out-of-range values are errors that name the
// key. Values are converted to their canonical Go type (int64, float64,
// bool, string); strings holding numbers or booleans (from environment
// variables and --set flags) are parsed.
func ResolveOptions(schema []Option, given Options) (Options, error) {
	byName := make(map[string]Option, len(schema))
	for _, o := range schema {
		byName[o.Name] = o
	}
	keys := make([]string, 0, len(given))
	for k := range given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(Options, len(schema))
	for _, k := range keys {
		o, ok := byName[k]
		if !ok {
			return nil, &OptionError{Key: k, Msg: "unknown option; known options: " + strings.Join(optionNames(schema), ", ")}
		}
		v, err := convertOption(o, given[k])
		if err != nil {
			return nil, &OptionError{Key: k, Msg: err.Error()}
		}
		out[k] = v
	}
	for _, o := range schema {
		if _, ok := out[o.Name]; ok {
			continue
		}
		if o.Default == nil {
			if o.Optional {
				continue
			}
			return nil, &OptionError{Key: o.Name, Msg: "required option is not set (" + o.Help + ")"}
		}
		v, err := convertOption(o, o.Default)
		if err != nil {
			return nil, &OptionError{Key: o.Name, Msg: "bad default in plugin schema: " + err.Error()}
		}
		out[o.Name] = v
	}
	return out, nil
}

func optionNames(schema []Option) []string {
	names := make([]string, len(schema))
	for i, o := range schema {
		names[i] = o.Name
	}
	sort.Strings(names)
	return names
}

func convertOption(o Option, v any) (any, error) {
	switch o.Type {
	case TypeInt:
		f, err := ToFloat(v)
		if err != nil {
			return nil, fmt.Errorf("want an integer: %w", err)
		}
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want an integer, got %v", v)
		}
		if err := checkRange(o, f); err != nil {
			return nil, err
		}
		return int64(f), nil
	case TypeFloat:
		f, err := ToFloat(v)
		if err != nil {
			return nil, fmt.Errorf("want a number: %w", err)
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a finite number, got %v", v)
		}
		if err := checkRange(o, f); err != nil {
			return nil, err
		}
		return f, nil
	case TypeBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			p, err := strconv.ParseBool(b)
			if err != nil {
				return nil, fmt.Errorf("want true or false, got %q", b)
			}
			return p, nil
		}
		return nil, fmt.Errorf("want true or false, got %v (%T)", v, v)
	case TypeString:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case nil:
			s = ""
		default:
			return nil, fmt.Errorf("want a string, got %v (%T)", v, v)
		}
		if len(o.Choices) > 0 {
			for _, c := range o.Choices {
				if c == s {
					return s, nil
				}
			}
			return nil, fmt.Errorf("want one of %s, got %q", strings.Join(o.Choices, ", "), s)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown option type %q in plugin schema", o.Type)
}

func checkRange(o Option, f float64) error {
	if o.Min != nil && f < *o.Min {
		return fmt.Errorf("%v is below the minimum %v", f, *o.Min)
	}
	if o.Max != nil && f > *o.Max {
		return fmt.Errorf("%v is above the maximum %v", f, *o.Max)
	}
	return nil
}

// ToFloat reads a number of any Go numeric type, a json.Number or a string
// holding a number (from environment variables and --set flags).
func ToFloat(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case json.Number:
		return x.Float64()
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %q as a number", x)
		}
		return f, nil
	}
	return 0, fmt.Errorf("got %v (%T)", v, v)
}

// Int returns an integer option (after ResolveOptions).
func (o Options) Int(name string) int {
	switch x := o[name].(type) {
	case int64:
		return int(x)
	case float64:
		return int(x)
	case int:
		return x
	}
	return 0
}

// Float returns a float option (after ResolveOptions).
func (o Options) Float(name string) float64 {
	switch x := o[name].(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case int:
		return float64(x)
	}
	return 0
}

// Bool returns a boolean option (after ResolveOptions).
func (o Options) Bool(name string) bool { b, _ := o[name].(bool); return b }

// String returns a string option (after ResolveOptions).
func (o Options) String(name string) string { s, _ := o[name].(string); return s }

// Has reports whether the option is set.
func (o Options) Has(name string) bool { _, ok := o[name]; return ok }

// Without returns a copy of o without the named options (those that
// cannot change a plugin's numbers, left out of its identity).
func (o Options) Without(names ...string) Options {
	out := make(Options, len(o))
	for k, v := range o {
		if !slices.Contains(names, k) {
			out[k] = v
		}
	}
	return out
}

// Canonical renders options as sorted JSON, for identities and cache keys.
func (o Options) Canonical() string {
	b, _ := json.Marshal(map[string]any(o)) // encoding/json sorts map keys
	return string(b)
}
