// Command clusterlab-loss-pmi is the PMI loss plugin (WMI with
// weight=head): the shared trainer of core/train around the PMI graph
// loss (see loss.go).
package main

import "github.com/clusterlab/clusterlab/plugins/lossplugin"

func main() { lossplugin.Serve(Loss{}) }
