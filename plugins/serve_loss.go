package plugins

import "github.com/clusterlab/clusterlab/core/train"

// ServeLoss serves a loss written as a GoMLX graph: the shared trainer of
// core/train runs around gl inside the plugin process (see docs/ARCHITECTURE.md, "Why
// the loss plugin trains"). It is the whole main of a loss plugin
// (clusterlab-loss-<name>):
//
//	func main() { plugins.ServeLoss(temi.Loss{}) }
func ServeLoss(gl train.GraphLoss) { ServeLossImpl(train.NewLoss(gl)) }
