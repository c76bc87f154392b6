// Package core holds clusterlab's contracts (the plain Go interfaces that
// dataset, backbone and loss plugins implement) and the logic shared by the
// runner and the plugins: option schemas, the embedding store, neighbours,
// metrics, baselines and the GoMLX trainer (in sub-packages).
//
// Nothing in this package knows about gRPC: the plugins package adapts these
// interfaces to the wire protocol on both sides.
package core

// Plugin kinds. A plugin executable is named "clusterlab-<kind>-<name>".
const (
	KindDataset  = "dataset"
	KindBackbone = "backbone"
	KindLoss     = "loss"
)

// Kinds lists the plugin kinds in the order the runner launches them.
var Kinds = []string{KindDataset, KindBackbone, KindLoss}

// Description is what every plugin says about itself in Describe.
type Description struct {
	Kind    string // one of the Kind* constants
	Name    string // short name, e.g. "idx", "pixels", "temi"
	Version string
	Summary string // one line for `clusterlab plugins`
	// Options is the schema of the plugin's options: names, types, defaults
	// and help. The runner validates the config section of the plugin
	// against it (see ResolveOptions).
	Options []Option
	// Identity is a string that changes whenever the plugin would produce
	// different output for the options it was described with (e.g. the
	// model file's sha256 plus preprocessing). It enters cache keys. Empty
	// when Describe was called without options.
	Identity string
	// NoNeighbours is set by a loss that does not read the train k-NN
	// graph (FitRequest.Neighbours), as TURTLE: the runner then computes
	// none and passes an empty path.
	NoNeighbours bool
}
