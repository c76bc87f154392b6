package hostmem

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgroupLayouts reads the bounds from copies of what Linux shows in
// two layouts this machine does not have: a cgroup v1 container without a
// cgroup namespace (/proc/self/cgroup names the host's path, the
// container's cgroup is mounted at the root), and a cgroup v2 process
// whose limit is set two levels up.
func TestCgroupLayouts(t *testing.T) {
	const mib = 1 << 20
	cases := []struct {
		name      string
		procCg    string
		files     map[string]string // under the cgroup root
		wantBytes uint64
		wantBound string
	}{
		{"v1 container", "12:memory:/docker/0123abc\n", map[string]string{
			"memory/memory.stat":           "cache 104857600\ntotal_cache 104857600\nhierarchical_memory_limit 1073741824\n",
			"memory/memory.usage_in_bytes": "629145600\n",
		}, 1024*mib - (600*mib - 100*mib), "the memory cgroup / (memory.limit_in_bytes 1.0 GiB)"},
		{"v2 limit two levels up", "0::/a/b/c\n", map[string]string{
			"a/b/c/memory.max":     "max\n",
			"a/b/c/memory.current": "104857600\n",
			"a/b/memory.max":       "max\n",
			"a/b/memory.current":   "104857600\n",
			"a/memory.max":         "2147483648\n",
			"a/memory.current":     "1610612736\n",
			"a/memory.stat":        "anon 1073741824\nfile 536870912\n",
		}, 1024 * mib, "the memory cgroup /a (memory.max 2.0 GiB)"},
	}
	oldProc, oldCg := procRoot, cgroupRoot
	t.Cleanup(func() { procRoot, cgroupRoot = oldProc, oldCg })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			procRoot, cgroupRoot = filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
			write := func(path, text string) {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(procRoot, "self", "cgroup"), c.procCg)
			write(filepath.Join(procRoot, "meminfo"), "MemTotal: 67108864 kB\nMemAvailable: 33554432 kB\nSwapFree: 0 kB\n")
			write(filepath.Join(procRoot, "self", "status"), "VmSize:\t 1048576 kB\nVmData:\t 524288 kB\n")
			for f, text := range c.files {
				write(filepath.Join(cgroupRoot, f), text)
			}
			h, ok := Free()
			if !ok || h.Bytes != c.wantBytes || h.Bound != c.wantBound {
				t.Errorf("Free() = %d (%s), %v; want %d (%s)", h.Bytes, h.Bound, ok, c.wantBytes, c.wantBound)
			}
			if err := Check(c.wantBytes+1, "one byte too many"); err == nil || !strings.Contains(err.Error(), c.wantBound) {
				t.Errorf("Check beyond the bound: %v", err)
			}
		})
	}
}
