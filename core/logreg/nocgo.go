//go:build !cgo

package logreg

// Package logreg computes through OpenBLAS (blas.go), which needs cgo: the
// build then stops here with a name that says what to do.
var _ = logreg_needs_cgo__build_with_CGO_ENABLED_1_and_Debian_libopenblas_dev
