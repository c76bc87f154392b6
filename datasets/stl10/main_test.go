package main

import (
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// TestMain removes the executables the process and end-to-end tests built.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
