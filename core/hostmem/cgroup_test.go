package hostmem_test

// An external test: internal/testcgroup itself reads the cgroups through
// hostmem.

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/clusterlab/clusterlab/core/hostmem"
	"github.com/clusterlab/clusterlab/core/store"
	"github.com/clusterlab/clusterlab/internal/testcgroup"
)

// TestCgroupLimit runs this test binary again inside a memory cgroup
// limited to 256 MiB; the child reports its headroom, which the cgroup
// must bound.
func TestCgroupLimit(t *testing.T) {
	if os.Getenv("HOSTMEM_TEST_CHILD") == "1" {
		h, ok := hostmem.Free()
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"bytes": h.Bytes, "bound": h.Bound, "ok": ok})
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("memory cgroups are Linux's")
	}
	const limit = 256 << 20
	cg := testcgroup.New(t, limit)
	if cg == "" {
		t.Skip("LOUD SKIP: cannot create a memory cgroup here (needs root and a writable cgroup hierarchy); the cgroup bound is untested on this machine (TestAddressSpaceLimit still tests a limit)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCgroupLimit$")
	cmd.Env = append(os.Environ(), "HOSTMEM_TEST_CHILD=1")
	testcgroup.Enter(cmd, cg)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var got struct {
		Bytes uint64
		Bound string
		OK    bool
	}
	line := strings.SplitN(string(out), "\n", 2)[0]
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("child said %q: %v", out, err)
	}
	t.Logf("in a %s cgroup: %s free, bounded by %s", store.HumanBytes(limit), store.HumanBytes(got.Bytes), got.Bound)
	if !got.OK || !strings.Contains(got.Bound, "memory cgroup") || got.Bytes > limit || got.Bytes < limit/2 {
		t.Errorf("headroom in a 256 MiB cgroup: %+v; want the cgroup as the bound, between 128 and 256 MiB", got)
	}
}
