// Package examples holds plugins written the way an author outside this
// repository would write them, and the tests that run them through the real
// runner:
//
//   - backbone-python: a backbone plugin in Python with grpcio (go-plugin
//     handshake, mutual TLS, health, errors, parent watch); its README.md
//     explains how to write a clusterlab plugin in any language.
//
// The package has no Go code of its own besides its tests.
package examples
