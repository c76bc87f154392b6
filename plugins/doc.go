// Package plugins runs clusterlab's datasets, backbones and losses as
// separate executables and talks to them over gRPC with HashiCorp
// go-plugin. It holds both sides of that conversation:
//
//   - the plugin side: ServeDataset, ServeBackbone and ServeLoss turn a
//     plain Go implementation of a core interface into a plugin executable
//     (a loss written as a GoMLX graph uses package lossplugin, the only
//     part of the SDK that links GoMLX);
//   - the host side, for the runner: Find, Discover and List locate plugin
//     executables; Launch starts one and returns a Client whose Dataset,
//     Backbone or Loss method implements the core interface over gRPC;
//     KillAll stops every plugin (for the runner's signal handler).
//
// # Writing a plugin in Go
//
// Write a type that satisfies core.Dataset or core.Backbone (or, for a
// loss, train.GraphLoss served by lossplugin.Serve), and a main package
// whose main is one call:
//
//	package main
//
//	import "github.com/clusterlab/clusterlab/plugins"
//
//	func main() { plugins.ServeBackbone(&pixels{}) }
//
// Build it as clusterlab-<kind>-<name> (e.g. clusterlab-backbone-pixels) into
// a plugin directory: ./bin/plugins (`make build` does it), plugins/ beside
// the clusterlab executable, or a directory listed in
// $CLUSTERLAB_PLUGIN_PATH. Nothing in the plugin deals with gRPC. Return
// errors that wrap core.ErrInvalidInput (or a *core.OptionError) for input
// the user can fix, so the runner reports them as such; write diagnostics
// to stderr, which the runner quotes when the plugin fails. Set
// CLUSTERLAB_DEBUG=1 to see go-plugin's own logs on both sides.
//
// A plugin run by hand says that it is a plugin and exits with status 1;
// started by the runner, it exits by itself within a second once the runner
// is gone, even when the runner was killed.
//
// # Writing a plugin in another language
//
// The protocol is gRPC, described message by message in
// plugins/proto/clusterlab.proto, whose header explains the go-plugin
// handshake (environment, the one line printed on stdout, the health
// service) and the conventions shared by all services: options as JSON,
// batch splitting at 2 MiB per message (well under gRPC's 4 MiB), error
// codes. A backbone in Python needs only grpcio and that file
// (examples/backbone-python is one).
//
// # Failures
//
// A plugin that crashes, hangs (no answer to Describe within the timeout,
// no handshake within the start timeout) or is not a clusterlab plugin
// gives one *PluginError that names it (kind, name, path) and quotes the
// last lines of its stderr. Errors its implementation returns come back as
// plain errors with their message unchanged; IsInvalidInput tells the ones
// caused by bad input.
package plugins
