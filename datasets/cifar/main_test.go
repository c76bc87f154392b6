package main

import (
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// TestMain removes the plugin executable TestPluginProcess built.
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
