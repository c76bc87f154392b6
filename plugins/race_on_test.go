//go:build race

package plugins

// raceEnabled: under `go test -race` the test plugins are built with the
// race detector too, and a race report on a plugin's stderr fails the test.
const raceEnabled = true
