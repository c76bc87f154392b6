// Package clusterlabpb holds the Go code generated from clusterlab.proto,
// the wire protocol between the clusterlab runner and its plugins. The
// .proto file documents the protocol for plugin authors in any language.
package clusterlabpb

//go:generate ./generate.sh
