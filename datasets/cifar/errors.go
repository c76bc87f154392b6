package main

import (
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// FormatError reports a malformed CIFAR file (distfile.Error, shared
// by the dataset plugins): invalid input naming the file, the archive
// member and the byte offset.
type FormatError = distfile.Error

// datasetName prefixes every FormatError's message.
const datasetName = "cifar"
