package store

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const mountinfo = `22 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 22 0:40 / /shared rw,relatime shared:5 - nfs4 fs1:/export rw,vers=4.2,hard,proto=tcp,local_lock=none
31 22 0:41 / /nolock rw,relatime - nfs fs2:/export rw,vers=3,nolock,local_lock=all
32 22 0:42 / /lustre rw - lustre 10.0.0.1@o2ib:/scratch rw,localflock,lazystatfs
33 22 0:43 / /lustre2 rw - lustre 10.0.0.1@o2ib:/work rw,flock,lazystatfs
34 22 0:44 / /beegfs rw - beegfs beegfs_nodev rw,cfgFile=/etc/beegfs/beegfs-client.conf
35 22 0:45 / /gpfs rw - gpfs gpfs0 rw
36 22 0:46 / /sshfs rw,nosuid,nodev - fuse.sshfs me@host:/data rw,user_id=1000
37 22 0:47 / /ceph rw - fuse.ceph-fuse ceph-fuse rw
38 22 0:48 / /my\040data rw - cifs //srv/share rw,vers=3.1.1,nobrl
39 30 0:49 / /shared/scratch rw - tmpfs tmpfs rw
40 22 0:50 / /shared2 rw - nfs4 fs1:/a rw,vers=4.2
41 22 0:51 / /shared2 rw - nfs fs3:/b rw,vers=3,local_lock=posix
`

func TestMountOfAndLockWarning(t *testing.T) {
	for _, c := range []struct {
		path, point, fstype string
		warn                string // a part of the warning; "" for none
	}{
		{"/home/me/cache", "/", "ext4", ""},
		{"/shared/cache", "/shared", "nfs4", ""},
		{"/sharedx/cache", "/", "ext4", ""}, // a prefix that is not a parent
		{"/shared/scratch/run", "/shared/scratch", "tmpfs", ""},
		{"/nolock/c", "/nolock", "nfs", "mounted with nolock"},
		{"/lustre/c", "/lustre", "lustre", "mounted with localflock"},
		{"/lustre2/c", "/lustre2", "lustre", ""},
		{"/beegfs/c", "/beegfs", "beegfs", "tuneUseGlobalFileLocks=true"},
		{"/gpfs/c", "/gpfs", "gpfs", ""},
		{"/sshfs", "/sshfs", "fuse.sshfs", "FUSE"},
		{"/ceph/c", "/ceph", "fuse.ceph-fuse", ""},
		{"/my data/c", "/my data", "cifs", "mounted with nobrl"},
		{"/shared2/c", "/shared2", "nfs", "mounted with local_lock=posix"}, // stacked: the last mount counts
	} {
		m, err := mountOf(strings.NewReader(mountinfo), c.path)
		if err != nil || m.point != c.point || m.fstype != c.fstype {
			t.Errorf("mountOf(%s) = %+v, %v; want %s at %s", c.path, m, err, c.fstype, c.point)
			continue
		}
		w := lockWarning(m)
		if c.warn == "" && w != "" || c.warn != "" && !strings.Contains(w, c.warn) {
			t.Errorf("%s on %s: warning %q, want %q", c.path, c.fstype, w, c.warn)
		}
		if c.warn != "" && !strings.Contains(w, "give each machine its own folder") {
			t.Errorf("%s: warning %q does not say what to do", c.path, w)
		}
	}
	if _, err := mountOf(strings.NewReader(""), "/x"); err == nil {
		t.Error("mountOf in an empty table: no error")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:            "/plain",
		`/a\040b`:           "/a b",
		`/tab\011x\134y`:    "/tab\tx\\y",
		`/odd\04`:           `/odd\04`,
		`/not\999octal\040`: `/not\999octal `,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// The real table: a test folder is on a local disk or tmpfs here, never a
// network mount with a warning; a folder that does not exist yet is
// looked up by its parent.
func TestLockWarningOnThisMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/self/mountinfo")
	}
	dir := t.TempDir()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	abs, err := existingAbs(filepath.Join(dir, "not", "yet"))
	if err != nil || abs != mustEval(t, dir) {
		t.Fatalf("existingAbs = %q, %v; want %q", abs, err, mustEval(t, dir))
	}
	m, err := mountOf(f, abs)
	if err != nil {
		t.Fatal(err)
	}
	if w := LockWarning(dir); w != "" && lockWarning(m) == "" || w == "" && lockWarning(m) != "" {
		t.Errorf("LockWarning(%s) = %q, but the mount %+v says %q", dir, w, m, lockWarning(m))
	}
	t.Logf("%s: %s at %s, warning %q", dir, m.fstype, m.point, LockWarning(dir))
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
