package main

import (
	"fmt"

	"github.com/clusterlab/clusterlab/datasets/internal/distfile"
)

// FormatError reports a malformed STL-10 file (distfile.Error, shared
// by the dataset plugins): invalid input naming the file, the archive
// member and the byte offset.
type FormatError = distfile.Error

// datasetName prefixes every FormatError's message.
const datasetName = "stl10"

// location names a file, or a member of an archive, in errors.
type location struct{ file, member string }

func (l location) fail(offset int64, format string, args ...any) *FormatError {
	return &FormatError{Dataset: datasetName, File: l.file, Member: l.member, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// String is the member's name inside an archive, else the file's path.
func (l location) String() string {
	if l.member != "" {
		return l.member
	}
	return l.file
}
