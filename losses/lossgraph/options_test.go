package lossopts

import (
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

var schema = []core.Option{
	{Name: "alpha", Type: core.TypeFloat, Default: 5.0, Min: core.Bound(0), Help: "weight"},
	{Name: "mode", Type: core.TypeString, Default: "a", Choices: []string{"a", "b"}, Help: "mode"},
}

func TestResolve(t *testing.T) {
	// Trainer options are ignored; strings from --set flags are parsed;
	// absent options get their default.
	got, err := Resolve("x", schema, core.Options{"epochs": 10, "lr": "bad for the trainer, not for us", "alpha": "2.5"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got.Float("alpha") != 2.5 || got.String("mode") != "a" {
		t.Fatalf("resolved %v, want alpha 2.5 and mode a only", got)
	}
	for _, bad := range []core.Options{{"alpha": -1.0}, {"alpha": "many"}, {"mode": "c"}} {
		_, err := Resolve("x", schema, bad)
		if err == nil || !strings.HasPrefix(err.Error(), "x loss: option ") {
			t.Errorf("Resolve(%v) error %v, want one naming the loss and the option", bad, err)
		}
	}
}
