package examples

import (
	"os"
	"testing"

	"github.com/clusterlab/clusterlab/internal/testbin"
)

// TestMain removes the executables the tests built (see buildBinaries).
func TestMain(m *testing.M) { os.Exit(testbin.Main(m)) }
