package testbin

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// PluginDirs is the Makefile's PLUGIN_DIRS, and Plugin names each plugin
// as make build does.
func TestPluginDirsAreTheMakefiles(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLUGIN_DIRS\s*:=(.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no PLUGIN_DIRS in the Makefile")
	}
	if want := strings.Fields(string(m[1])); !slices.Equal(PluginDirs, want) {
		t.Errorf("PluginDirs %v, the Makefile's PLUGIN_DIRS %v", PluginDirs, want)
	}
	for pkg, out := range map[string]string{
		"datasets/idx":          "plugins/clusterlab-dataset-idx",
		"backbones/precomputed": "plugins/clusterlab-backbone-precomputed",
		"losses/temi":           "plugins/clusterlab-loss-temi",
	} {
		if got := Plugin(pkg); got.Out != out || got.Pkg != pkg {
			t.Errorf("Plugin(%q) = %+v, want Out %q", pkg, got, out)
		}
	}
}

// Build builds a package once, installs it under every name asked for,
// and Cleanup removes the directory.
func TestBuildOnceAndCleanup(t *testing.T) {
	a := PluginAs("plugins/internal/testplugins/notaplugin", "loss", "a")
	b := PluginAs("plugins/internal/testplugins/notaplugin", "loss", "b")
	dir := Build(t, a)
	if again := Build(t, a, b); again != dir {
		t.Fatalf("second Build in %s, first in %s", again, dir)
	}
	sa, err := os.Stat(filepath.Join(dir, a.Out))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := os.Stat(Path(t, b))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(sa, sb) || sa.Mode()&0o111 == 0 {
		t.Errorf("%s and %s: not one executable built once", a.Out, b.Out)
	}
	Cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Cleanup: %v", err)
	}
}
