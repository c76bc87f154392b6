// Command clusterlab-backbone-precomputed serves features computed
// elsewhere: one .npy file [N, D] per split (float16, float32 or float64),
// row i being the embedding of image i of the split in the dataset's order.
// The dataset plugin still supplies the labels (and the image count the
// files are checked against), so any dataset plugin pairs with any
// features a researcher brings.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeBackbone(Backbone{}) }
