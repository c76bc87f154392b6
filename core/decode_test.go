package core

import (
	"errors"
	"strings"
	"testing"
)

var decodeSchema = []Option{
	{Name: "dims", Type: TypeInt, Default: 64, Min: Bound(0)},
	{Name: "beta", Type: TypeFloat, Default: 0.6},
	{Name: "whiten", Type: TypeBool, Default: false},
	{Name: "mode", Type: TypeString, Default: "a", Choices: []string{"a", "b"}},
	{Name: "root", Type: TypeString, Help: "where the data is"},
	{Name: "limit", Type: TypeInt, Optional: true},
}

type decoded struct {
	Dims   int     `option:"dims"`
	Beta   float64 `option:"beta"`
	Whiten bool    `option:"whiten"`
	Mode   string  `option:"mode"`
	Root   string  `option:"root"`
	Limit  *int64  `option:"limit"`
}

func TestDecode(t *testing.T) {
	var d decoded
	resolved, err := Decode(decodeSchema, Options{"root": "data", "dims": "32", "limit": 5}, &d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Dims != 32 || d.Beta != 0.6 || d.Whiten || d.Mode != "a" || d.Root != "data" || d.Limit == nil || *d.Limit != 5 {
		t.Fatalf("decoded %+v", d)
	}
	if resolved.Int("dims") != 32 || resolved.String("mode") != "a" {
		t.Fatalf("resolved %v", resolved)
	}
	d = decoded{}
	if _, err := Decode(decodeSchema, Options{"root": "x"}, &d); err != nil || d.Limit != nil {
		t.Fatalf("unset optional: %v %+v", err, d)
	}
	// The user's mistakes name the option.
	for given, key := range map[string]Options{
		"root": {},                            // required, missing
		"dimz": {"root": "x", "dimz": 3},      // unknown
		"dims": {"root": "x", "dims": -1},     // out of range
		"mode": {"root": "x", "mode": "c"},    // not a choice
		"beta": {"root": "x", "beta": "many"}, // wrong type
	} {
		_, err := Decode(decodeSchema, key, &decoded{})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Key != given || !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%v: error %v, want an OptionError naming %q", key, err, given)
		}
	}
	// The plugin's mistakes are not the user's.
	var missing struct {
		Dims int `option:"dims"`
	}
	if _, err := Decode(decodeSchema, Options{"root": "x"}, &missing); err == nil || errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), `no field for option "beta"`) {
		t.Errorf("struct without every option: %v", err)
	}
	var extra struct {
		Dims   int     `option:"dims"`
		Beta   float64 `option:"beta"`
		Whiten bool    `option:"whiten"`
		Mode   string  `option:"mode"`
		Root   string  `option:"root"`
		Limit  *int64  `option:"limit"`
		Other  int     `option:"other"`
	}
	if _, err := Decode(decodeSchema, Options{"root": "x"}, &extra); err == nil || !strings.Contains(err.Error(), `option "other", which the schema does not declare`) {
		t.Errorf("struct with an undeclared option: %v", err)
	}
	var badType struct {
		Dims   string  `option:"dims"`
		Beta   float64 `option:"beta"`
		Whiten bool    `option:"whiten"`
		Mode   string  `option:"mode"`
		Root   string  `option:"root"`
		Limit  *int64  `option:"limit"`
	}
	if _, err := Decode(decodeSchema, Options{"root": "x"}, &badType); err == nil || !strings.Contains(err.Error(), `"dims" of type int cannot go into a field of type string`) {
		t.Errorf("wrong field type: %v", err)
	}
}

func TestDecodeEmbedded(t *testing.T) {
	type shared struct {
		Beta   float64 `option:"beta"`
		Whiten bool    `option:"whiten"`
	}
	var d struct {
		shared
		Dims  int    `option:"dims"`
		Mode  string `option:"mode"`
		Root  string `option:"root"`
		Limit *int64 `option:"limit"`
	}
	if _, err := Decode(decodeSchema, Options{"root": "r", "beta": 2}, &d); err != nil || d.Beta != 2 || d.Dims != 64 {
		t.Fatalf("embedded: %v %+v", err, d)
	}
}

func TestOptionsWithout(t *testing.T) {
	o := Options{"lr": 0.1, "checkpoint_every": 5, "epochs": 3}
	got := o.Without("checkpoint_every", "absent")
	if len(got) != 2 || got["lr"] != 0.1 || got["epochs"] != 3 || len(o) != 3 {
		t.Errorf("Without: %v (original %v)", got, o)
	}
}
