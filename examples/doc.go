// Package examples holds plugins written the way an author outside this
// repository would write them, and the tests that run them through the real
// runner:
//
//   - loss-go: a loss plugin (IIC) in a Go module of its own, built against
//     the public SDK: one file of maths, a 3-line main, and the loss
//     conformance suite as its test;
//   - backbone-python: a backbone plugin in Python with grpcio (go-plugin
//     handshake, mutual TLS, health, errors, parent watch); its README.md
//     explains how to write a clusterlab plugin in any language.
//
// The package has no Go code of its own besides its tests.
package examples
