#!/usr/bin/env bash
# Starts and stops a private, single-node Slurm cluster for tests, from
# Debian's slurm-wlm and munge (packages slurm-wlm, munge; this script
# installs nothing). Every file it writes lives under DIR: slurm.conf, the
# munge key, socket and seed, controller state, slurmd spool, logs and pid
# files, so several clusters can run side by side (each picks its own free
# ports) and nothing in /etc, /var or /run is touched. Nothing needs systemd
# or cgroups: processes are tracked by walking /proc (proctrack/linuxproc)
# and tasks are not confined (task/none).
#
#   scripts/slurm-local.sh start DIR   start munged, slurmctld, slurmd; wait
#                                       until the node is idle; print the
#                                       environment a client needs (also
#                                       written to DIR/env)
#   scripts/slurm-local.sh stop DIR    cancel every job, stop the daemons,
#                                       leave no process of this cluster
#
# Exit status: 0 ok, 1 failure (the daemons' logs are printed), 2 usage or
# missing packages. Clients need only SLURM_CONF=DIR/slurm.conf: slurm.conf
# names the munge socket (AuthInfo=socket=...).
set -eEuo pipefail

start_timeout=${SLURM_LOCAL_START_TIMEOUT:-60}

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
# Set by start for the daemons only; never inherited from a caller.
unset SLURM_LOCAL_DIR
cmd=$1
dir=$2
case "$cmd" in start | stop) ;; *) usage ;; esac

# need_tools exits 2 naming the Debian packages to install when a program
# this script runs is missing.
need_tools() {
  local missing="" t pkg
  for t in munged:munge mungekey:munge slurmctld:slurmctld slurmd:slurmd \
    sinfo:slurm-client scontrol:slurm-client squeue:slurm-client scancel:slurm-client; do
    # Debian puts the daemons in /usr/sbin, which a non-login PATH may lack.
    command -v "${t%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${t%%:*}" ] || {
      pkg=${t#*:}
      case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    }
  done
  if [ -n "$missing" ]; then
    echo "slurm-local: missing Debian packages:$missing; install them with: apt-get install -y slurm-wlm munge" >&2
    exit 2
  fi
}

PATH=$PATH:/usr/sbin:/sbin

# listening_ports prints the TCP ports something listens on (IPv4 and IPv6),
# read from /proc so that no extra tool is needed.
listening_ports() {
  local f
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    # column 2 is local_address ADDR:PORT in hex, column 4 the state; 0A is LISTEN.
    while read -r _ addr _ st _; do
      if [ "$st" = 0A ]; then echo $((16#${addr##*:})); fi
    done <"$f"
  done
}

# free_port prints a random port below the kernel's ephemeral range (so an
# outgoing connection cannot take it meanwhile) that nothing listens on and
# that is not in the arguments. Two clusters starting at once may still pick
# the same port; start retries with new ports when a daemon cannot bind.
free_port() {
  local used p i
  used=" $(listening_ports | tr '\n' ' ') $* "
  for i in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
    case "$used" in *" $p "*) continue ;; esac
    echo "$p"
    return 0
  done
  echo "slurm-local: no free TCP port found in 20000-31999" >&2
  return 1
}

# alive PIDFILE: the daemon whose pid the file holds is running.
alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# stop_pid PIDFILE NAME: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
  local pf=$1 pid i
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "slurm-local: $2 (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pf"
}

# marked_pids prints the processes started by this cluster: the daemons and
# munged carry SLURM_LOCAL_DIR=DIR in their environment (start sets it);
# slurmstepd carries SLURM_CONF=DIR/slurm.conf (slurmd sets it) and job
# processes carry it with SLURM_JOB_ID (Slurm sets both in every job). A caller that merely has SLURM_CONF set is not matched.
marked_pids() {
  local e p env
  for e in /proc/[0-9]*/environ; do
    p=${e#/proc/}
    p=${p%/environ}
    [ "$p" = $$ ] || [ "$p" = "$PPID" ] && continue
    env=$({ tr '\0' '\n' <"$e"; } 2>/dev/null) || continue
    if grep -qxF "SLURM_LOCAL_DIR=$dir" <<<"$env" ||
      { grep -qxF "SLURM_CONF=$dir/slurm.conf" <<<"$env" &&
        { grep -q '^SLURM_JOB_ID=' <<<"$env" || [ "$(cat "/proc/$p/comm" 2>/dev/null)" = slurmstepd ]; }; }; then
      echo "$p"
    fi
  done
}

do_stop() {
  local i left
  if [ -f "$dir/slurm.conf" ] && alive "$dir/run/slurmctld.pid"; then
    # Cancel every job so that slurmstepd signals the job's processes and
    # exits; killing slurmd alone would leave jobs running.
    SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" >/dev/null 2>&1 || true
    for i in $(seq 1 150); do
      left=$(SLURM_CONF=$dir/slurm.conf squeue -h -o %i 2>/dev/null | wc -l) || break
      [ "$left" -eq 0 ] && break
      sleep 0.2
    done
  fi
  stop_pid "$dir/run/slurmd.pid" slurmd
  stop_pid "$dir/run/slurmctld.pid" slurmctld
  stop_pid "$dir/run/munged.pid" munged
  # Whatever is left (a job that outlived KillWait, a slurmstepd): kill it.
  left=$(marked_pids | tr '\n' ' ')
  if [ -n "${left// /}" ]; then
    echo "slurm-local: killing leftover processes of $dir: $left" >&2
    kill -KILL $left 2>/dev/null || true
  fi
  return 0
}

show_logs() {
  local f
  for f in "$dir"/log/*; do
    [ -f "$f" ] || continue
    echo "----- $f (last 30 lines) -----" >&2
    tail -n 30 "$f" >&2
  done
}

# write_conf PORT_CTLD PORT_SLURMD writes DIR/slurm.conf.
write_conf() {
  local host=$1 cpus=$2 user=$3 pctld=$4 pslurmd=$5
  cat >"$dir/slurm.conf" <<EOF
# Generated by scripts/slurm-local.sh: a private single-node test cluster.
ClusterName=clusterlab-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$pctld
SlurmdPort=$pslurmd
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long + 1 s before it may start
# again (default 120).
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/plugstack.conf
# No systemd, no cgroup delegation: track processes through /proc, do not
# confine tasks, no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
# Several 1-CPU tasks at once on the one node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# Schedule on every event, without the backfill pass's delay; the periodic
# pass (which starts jobs whose begin time has come, e.g. requeued ones) runs
# every 2 s instead of 60.
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
# Finished jobs stay visible to scontrol/squeue for MinJobAge seconds (no
# accounting, so sacct does not work). KillWait: seconds between SIGTERM and
# SIGKILL when a job is cancelled or times out.
MinJobAge=600
KillWait=10
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

do_start() {
  local host cpus user pctld pslurmd attempt i state
  need_tools
  if alive "$dir/run/slurmctld.pid" || alive "$dir/run/slurmd.pid" || alive "$dir/run/munged.pid"; then
    echo "slurm-local: a cluster is already running in $dir; stop it first: $0 stop $dir" >&2
    exit 1
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  case "$dir" in *[[:space:]]* | *[=\(\)\#]*)
    echo "slurm-local: DIR must not contain spaces or = ( ) #, which slurm.conf cannot hold: $dir" >&2
    exit 2 ;;
  esac
  rm -rf "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge"
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge" "$dir/spool/slurmd-$(hostname -s)"
  : >"$dir/plugstack.conf"
  # munged refuses a key readable by others and a socket directory others
  # cannot reach; DIR/munge is ours alone, and --force accepts a parent such
  # as t.TempDir() that is mode 0700 (all clients run as this user).
  chmod 0700 "$dir/munge"
  trap 'echo "slurm-local: start failed; daemon logs follow" >&2; show_logs; do_stop' ERR
  mungekey --create --keyfile="$dir/munge/munge.key" --bits=1024 2>"$dir/log/mungekey.err"
  # SLURM_LOCAL_DIR marks the daemons (see marked_pids); only they get it.
  SLURM_LOCAL_DIR=$dir munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/munge/munged.seed" </dev/null >>"$dir/log/munged.out" 2>&1

  host=$(hostname -s)
  cpus=$(nproc)
  user=$(id -un)
  for attempt in 1 2 3; do
    pctld=$(free_port)
    pslurmd=$(free_port "$pctld")
    write_conf "$host" "$cpus" "$user" "$pctld" "$pslurmd"
    # Daemons fork into the background; their stdio goes to files so that a
    # caller reading this script's output (a Go test) is not held open.
    SLURM_LOCAL_DIR=$dir slurmctld -f "$dir/slurm.conf" -i </dev/null >>"$dir/log/slurmctld.out" 2>&1
    SLURM_LOCAL_DIR=$dir slurmd -f "$dir/slurm.conf" -N "$host" </dev/null >>"$dir/log/slurmd.out" 2>&1
    state=""
    for i in $(seq 1 $((start_timeout * 5))); do
      state=$(SLURM_CONF=$dir/slurm.conf sinfo -h -N -n "$host" -o %T 2>/dev/null || true)
      [ "$state" = idle ] && break
      # A port taken by another cluster between the probe and the bind.
      if grep -qs -e 'Address already in use' -e 'Unable to bind' "$dir/log/slurmctld.log" "$dir/log/slurmd.log"; then
        state=bind
        break
      fi
      if ! alive "$dir/run/slurmctld.pid" && [ "$i" -gt 10 ]; then break; fi
      sleep 0.2
    done
    [ "$state" = idle ] && break
    if [ "$state" = bind ] && [ "$attempt" -lt 3 ]; then
      echo "slurm-local: port $pctld or $pslurmd taken; retrying with others" >&2
      stop_pid "$dir/run/slurmd.pid" slurmd
      stop_pid "$dir/run/slurmctld.pid" slurmctld
      mv "$dir/log/slurmctld.log" "$dir/log/slurmctld.log.$attempt" 2>/dev/null || true
      mv "$dir/log/slurmd.log" "$dir/log/slurmd.log.$attempt" 2>/dev/null || true
      rm -rf "$dir/state" && mkdir -p "$dir/state"
      continue
    fi
    echo "slurm-local: node $host not idle after ${start_timeout}s (state: ${state:-none})" >&2
    false
  done
  trap - ERR
  printf 'export SLURM_CONF=%s/slurm.conf\n' "$dir" >"$dir/env"
  cat "$dir/env"
}

case "$cmd" in
  start) do_start ;;
  stop)
    [ -d "$dir" ] || { echo "slurm-local: no such directory: $dir" >&2; exit 2; }
    dir=$(cd "$dir" && pwd -P)
    do_stop
    ;;
esac
