//go:build dnnl && !cgo

package dnnl

// Package dnnl calls oneDNN (dnnl.go), which needs cgo: the build then
// stops here with a name that says what to do.
var _ = dnnl_needs_cgo__build_with_CGO_ENABLED_1_and_Debian_libdnnl_dev
