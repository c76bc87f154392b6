package lossgraph

import (
	"errors"
	"testing"

	"github.com/clusterlab/clusterlab/core"
)

// TestPMIParams: the shared options decode into PMIParams, and the bounds
// the schema cannot express name their option.
func TestPMIParams(t *testing.T) {
	schema := PMIOptions("x", "y")
	var p PMIParams
	if _, err := core.Decode(schema, core.Options{OptBeta: "0.8"}, &p); err != nil {
		t.Fatal(err)
	}
	if p.Beta != 0.8 || p.Momentum != 0.9 || p.PositivePMI || p.Check() != nil {
		t.Fatalf("decoded %+v", p)
	}
	for key, bad := range map[string]PMIParams{
		OptBeta:          {Beta: 0, Momentum: 0.5},
		OptProbsMomentum: {Beta: 1, Momentum: 1},
	} {
		var oe *core.OptionError
		if err := bad.Check(); !errors.As(err, &oe) || oe.Key != key {
			t.Errorf("%+v: %v, want an error naming %s", bad, err, key)
		}
	}
	if _, err := UniformPrior("x", 2, 1); err == nil {
		t.Errorf("a prior of one cluster")
	}
	sv, err := UniformPrior("x", 2, 4)
	if err != nil || len(sv) != 1 || sv[0].Name != StatePrior || len(sv[0].Init) != 8 || sv[0].Init[3] != 0.25 {
		t.Fatalf("uniform prior %+v %v", sv, err)
	}
}
