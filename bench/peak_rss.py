#!/usr/bin/python3
"""Runs a command and reports the peak resident memory (VmHWM) of it and
of every process it starts whose executable lies under a given folder
(clusterlab's plugins), sampled from /proc every 50 ms.

    /usr/bin/python3 bench/peak_rss.py BIN_DIR -- COMMAND ARGS...

Prints one JSON line per process to stderr at the end and exits with the
command's status. VmHWM is the kernel's own high-water mark of the
process's resident set, so sampling only has to see each process once
before it exits, not at its peak.
"""
import json
import os
import subprocess
import sys
import time


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
        out["exe"] = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return out


def main():
    if "--" not in sys.argv:
        sys.exit(__doc__)
    sep = sys.argv.index("--")
    bindir = os.path.realpath(sys.argv[1])
    cmd = sys.argv[sep + 1:]
    p = subprocess.Popen(cmd)
    peak = {}  # pid -> (exe, kB)
    while True:
        done = p.poll() is not None
        pids = [p.pid] + [int(d) for d in os.listdir("/proc") if d.isdigit()]
        for pid in pids:
            st = status(pid)
            if not st or "VmHWM" not in st:
                continue
            if pid != p.pid and not st["exe"].startswith(bindir + os.sep):
                continue
            kb = int(st["VmHWM"].split()[0])
            exe, old = peak.get(pid, (st["exe"], 0))
            peak[pid] = (exe, max(old, kb))
        if done:
            break
        time.sleep(0.05)
    for pid, (exe, kb) in sorted(peak.items()):
        print(json.dumps({"pid": pid, "exe": os.path.basename(exe), "peak_rss_mib": round(kb / 1024, 1)}), file=sys.stderr)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
