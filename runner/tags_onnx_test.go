//go:build onnx

package main

const buildTags = "onnx"
