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
//
// Before flattening, resize (int, unset = keep), interpolation (bilinear,
// bicubic or nearest; unset = bilinear) and center_crop (int, unset = none)
// resize and crop each image exactly as torchvision's Resize and
// CenterCrop do to a PIL image (package backbones/internal/imageprep,
// bit for bit with Pillow 9.4). Images of different sizes, such as a folder
// of photos, need them: every image must give as many values (see prep.go).
// They enter the identity only when set, so configs without them keep
// their identity and cached embeddings.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeBackbone(Backbone{}) }
