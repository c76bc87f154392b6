// Command clusterlab-loss-iic is an example loss plugin written outside the
// clusterlab module: IIC on TEMI's k-NN pairs (see loss.go).
package main

import "github.com/clusterlab/clusterlab/plugins/lossplugin"

func main() { lossplugin.Serve(Loss{}) }
