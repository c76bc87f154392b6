// Command clusterlab-backbone-dinov2 is the backbone plugin that embeds
// images with a DINOv2 model exported to ONNX, run by ONNX Runtime (the
// library the project's setup installs; see core/backend.FindOrtLibrary).
//
// Each image goes through the torchvision pipeline of DINOv2 and TEMI on a
// PIL image, reproduced exactly by package backbones/internal/imageprep:
// Resize(resize, BICUBIC) with PIL's filter and its rounding to uint8, an
// optional CenterCrop, ToTensor, Normalize(mean, std). Grayscale images are
// repeated to RGB as PIL's convert("RGB") does. Images may differ in size
// from batch to batch (a folder of photos) as long as they all preprocess
// to the one input size of the model: with center_crop set, any shape does.
// The model's token output [N, 1+R+P, D] (CLS, R registers, P patches) is
// pooled to the CLS token, the mean of the patch tokens (registers
// excluded) or both concatenated.
// Hugging Face exports (pixel_values -> last_hidden_state, pooler_output)
// work with the defaults; other exports name their tensors and token
// layout with the options (run `clusterlab plugins --options`).
//
// The cache identity is the model file's sha256 with the preprocessing and
// pooling options; batch_size and threads only change the speed.
// testdata/make_fixtures.py makes the test models and reference embeddings.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeBackbone(Backbone{}) }
