// Command clusterlab-backbone-pixels is the backbone plugin that embeds
// images as their pixels: uint8/255 in [0, 1], flattened in H, W, C order,
// optionally reduced by PCA, whitened and standardised with statistics of
// the train split.
//
// Options: pca_dims (int, default 0 = no PCA), standardize (bool, default
// false), pca_fit_samples (int, default 0 = all train images), whiten (bool,
// default false). With pca_dims > 0 or standardize the runner calls Fit on
// the train split first; the fitted state is a set of .npy files and a
// state.json in the state directory (see state.go), and the exact
// computation is documented in pca.go and fit.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeBackbone(Backbone{}) }
