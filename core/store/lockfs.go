package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// A lock a filesystem keeps on one machine is taken without an error on
// every machine at once: nothing at lock time tells. LockWarning reads
// the mount table instead, to say so before processes on several
// machines share a folder.

// LockWarning says why the locks of the filesystem holding dir (a
// cache_dir or runs_dir that processes on several machines may share)
// may not reach other machines: its mount keeps them on this host (NFS
// mounted with nolock or local_lock=all|posix, Lustre with localflock,
// GFS2 with localflocks, SMB with nobrl), or whether they do cannot be
// seen from here (BeeGFS, whose setting is in beegfs-client.conf, and
// FUSE filesystems). It is "" for a filesystem whose locks reach every
// host that mounts it (NFS with its lock manager, GPFS, Lustre with
// -o flock, CephFS, GFS2, SMB), for a local disk (which one machine
// has to itself), and where the mount table cannot be read (not Linux).
func LockWarning(dir string) string {
	path, err := existingAbs(dir)
	if err != nil {
		return ""
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	m, err := mountOf(f, path)
	if err != nil {
		return ""
	}
	w := lockWarning(m)
	if w == "" {
		return ""
	}
	return fmt.Sprintf("%s is on %s (%s at %s): %s", dir, m.fstype, m.source, m.point, w)
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point, fstype, source string
	options               []string // the mount's and the superblock's
}

// lockWarning is LockWarning's verdict on a mount ("" when its locks
// reach other hosts or it is local).
func lockWarning(m mount) string {
	has := func(o string) bool { return slices.Contains(m.options, o) }
	const only = "its file locks hold only among processes of this machine, so processes on other machines that share it may compute the same cache entry or run the same trial at once"
	fstype := m.fstype
	switch {
	case fstype == "nfs" || fstype == "nfs4":
		for _, o := range []string{"nolock", "local_lock=all", "local_lock=posix"} {
			if has(o) {
				return fmt.Sprintf("mounted with %s, %s; mount it without (and, for NFSv3, with rpc.statd running), or give each machine its own folder", o, only)
			}
		}
	case fstype == "lustre":
		if has("localflock") {
			return "mounted with localflock, " + only + "; mount it with -o flock, or give each machine its own folder"
		}
	case fstype == "gfs2":
		if has("localflocks") {
			return "mounted with localflocks, " + only + "; mount it without, or give each machine its own folder"
		}
	case fstype == "cifs" || fstype == "smb3":
		if has("nobrl") {
			return "mounted with nobrl, " + only + "; mount it without, or give each machine its own folder"
		}
	case fstype == "beegfs":
		return "its file locks reach other machines only with tuneUseGlobalFileLocks=true in beegfs-client.conf (not visible from here); " +
			"set it on every client, or give each machine its own folder"
	case fstype == "fuse" || strings.HasPrefix(fstype, "fuse."):
		if fstype == "fuse.ceph-fuse" {
			return ""
		}
		return "a FUSE filesystem's file locks reach other machines only if it implements them (most do not); " +
			"share this folder between machines only if yours does, or give each machine its own folder"
	}
	return ""
}

// mountOf finds, in a mountinfo table, the mount that holds path (an
// absolute path without symbolic links): the longest mount point that
// contains it, the last such line where mounts are stacked.
func mountOf(r io.Reader, path string) (mount, error) {
	var best mount
	found := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// "36 35 98:0 /root /mnt rw,noatime master:1 - ext4 /dev/sda1 rw,errors=continue":
		// optional fields end at "-"; then type, source, superblock options.
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 {
			continue
		}
		point := unescapeMount(fields[4])
		if !within(path, point) || (found && len(point) < len(best.point)) {
			continue
		}
		best = mount{
			point:   point,
			fstype:  fields[sep+1],
			source:  unescapeMount(fields[sep+2]),
			options: append(strings.Split(fields[5], ","), strings.Split(fields[sep+3], ",")...),
		}
		found = true
	}
	if err := sc.Err(); err != nil {
		return mount{}, err
	}
	if !found {
		return mount{}, errors.New("no mount holds " + path)
	}
	return best, nil
}

// within reports whether path is point or below it.
func within(path, point string) bool {
	if point == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == point || strings.HasPrefix(path, point+"/")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, \011,
// \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isOctal reports three octal digits that make one byte.
func isOctal(s string) bool {
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return s[0] <= '3'
}

// existingAbs is dir made absolute with symbolic links resolved, or the
// same of its nearest existing parent when it does not exist yet (a
// cache_dir the first run will create).
func existingAbs(dir string) (string, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return r, nil
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		p = parent
	}
}
