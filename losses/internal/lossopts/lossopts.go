// Package lossopts resolves a loss plugin's own options out of the option
// map the trainer hands to train.GraphLoss (the loss section of the
// config: the trainer's options and the loss's together, or only what the
// user set).
package lossopts

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
)

// Resolve picks the options of schema from opts, validates them and fills
// in the defaults of the ones absent. Keys of opts outside schema belong
// to the trainer and are ignored here (the trainer validates them). loss
// names the loss in the error.
func Resolve(loss string, schema []core.Option, opts core.Options) (core.Options, error) {
	mine := make(core.Options, len(schema))
	for _, o := range schema {
		if v, ok := opts[o.Name]; ok {
			mine[o.Name] = v
		}
	}
	resolved, err := core.ResolveOptions(schema, mine)
	if err != nil {
		return nil, fmt.Errorf("%s loss: %w", loss, err)
	}
	return resolved, nil
}
