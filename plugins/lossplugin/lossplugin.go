// Package lossplugin serves a loss written as a GoMLX graph: the shared
// trainer of core/train runs around it inside the plugin process (see
// docs/ARCHITECTURE.md, "Why the loss plugin trains"). It is the one
// package of the plugin SDK that links GoMLX; dataset and backbone plugins
// use package plugins alone.
//
// The whole main of a loss plugin (clusterlab-loss-<name>):
//
//	package main
//
//	import "github.com/clusterlab/clusterlab/plugins/lossplugin"
//
//	func main() { lossplugin.Serve(MyLoss{}) }
package lossplugin

import (
	"github.com/clusterlab/clusterlab/core/train"
	"github.com/clusterlab/clusterlab/plugins"
)

// Serve serves gl, trained by the shared trainer, as a loss plugin. Like
// plugins.ServeDataset it owns the process: it returns when the runner
// stops the plugin and exits when the program is run by hand.
func Serve(gl train.GraphLoss) { plugins.ServeLoss(train.NewLoss(gl)) }
