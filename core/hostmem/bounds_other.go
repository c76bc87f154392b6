//go:build !linux

package hostmem

// Outside Linux no bound is known: the check then lets every stage
// start.

func systemBound() (Headroom, bool) { return Headroom{}, false }

func limitBounds() []Headroom { return nil }
