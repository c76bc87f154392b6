// Command clusterlab-loss-scan is the SCAN loss plugin: the shared trainer
// of core/train around the SCAN graph loss (see loss.go).
package main

import "github.com/clusterlab/clusterlab/plugins/lossplugin"

func main() { lossplugin.Serve(Loss{}) }
