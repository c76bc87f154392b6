// Command clusterlab-dataset-features is the dataset plugin for features
// computed elsewhere (another framework, another team's backbone): it
// serves the splits, sample counts and labels of a folder of .npy
// features, and no pixels. Pair it with the precomputed backbone on the
// same folder:
//
//	dataset:  {plugin: features, dir: feats/}
//	backbone: {plugin: precomputed, dir: feats/}
//
// The folder holds <split>.npy [N, D] for every split (train is required;
// test and any other name become splits too), and optionally labels:
// <split>_labels.npy ([N] integers; -1 = unknown) or <split>_labels.txt
// (one label per line: an integer, or a class name; an empty line or -1 =
// unknown), and classes.txt (one class name per line; line i names label
// i). Class names in a labels .txt must be listed in classes.txt when it
// exists; without it the classes are the sorted distinct names. Without
// any labels file the dataset is unlabelled: every label is -1, and a run
// needs `clusters` set.
//
// Only the header of each features file is read (for N); the precomputed
// backbone reads and checks the values. The identity is the plugin
// version, each split's N and the sha256 of every labels and classes
// file.
package main

import "github.com/clusterlab/clusterlab/plugins"

func main() { plugins.ServeDataset(Dataset{}) }
