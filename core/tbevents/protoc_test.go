package tbevents_test

import (
	"testing"
	"time"
)

// The tests check the files this package writes with a reader generated
// by protoc from TensorBoard's published protos (testdata/proto) and a
// Python script (testdata/read_events.py) that checks the TFRecord framing
// and checksums on its own: the format, not this package's own reader.
// internal/tbcheck runs them, for these tests and for the tests of the
// trainer's and the runner's event files.

// waitFor polls cond until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}
