// Command clusterlab-loss-temi is the TEMI loss plugin: the shared trainer
// of core/train around the TEMI graph loss (see loss.go).
package main

import "github.com/clusterlab/clusterlab/plugins/lossplugin"

func main() { lossplugin.Serve(Loss{}) }
