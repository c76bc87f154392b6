package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/core"
	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// FormatError reports a malformed CIFAR file (distfile.Error, shared
// by the dataset plugins): invalid input naming the file, the archive
// member and the byte offset.
type FormatError = distfile.Error

// datasetName prefixes every FormatError's message.
const datasetName = "cifar"

// invalidf is an invalid-input error that is not about one file's bytes
// (a missing file, an option that does not fit the data).
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{core.ErrInvalidInput}, args...)...)
}
