# shellcheck shell=bash disable=SC2034  # sourced: the variables are the callers'
# Shared settings of the test-bed scripts (sourced, not run).
#
# Everything the bed makes lives under one state folder (KAUDIT_TESTBED, default
# /var/lib/kaudit-testbed) and every log under $KAUDIT_TESTBED/logs, so `testbed-down` can
# remove what it made and a failed CI run has one folder to look at.

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
KAUDIT_CACHE="${KAUDIT_CACHE:-/var/cache/kaudit}"
K8S_BIN="${K8S_BIN:-$KAUDIT_CACHE/kubernetes/$K8S_VERSION/bin}"
KAUDIT_TESTBED="${KAUDIT_TESTBED:-/var/lib/kaudit-testbed}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
ETCD_BUILT="$KAUDIT_CACHE/etcd/$ETCD_VERSION/bin/etcd"
LOG_DIR="${KAUDIT_TESTBED_LOGS:-$KAUDIT_TESTBED/logs}"
# Logs of what is built once into the cache (images, the Debian base), kept with the cache.
BUILD_LOG_DIR="$KAUDIT_CACHE/logs"
# shellcheck source=../progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/../progress.sh"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

need_k8s_bin() {
  local c
  for c in "$@"; do
    [[ -x "$K8S_BIN/$c" ]] || die "$K8S_BIN/$c is missing: run 'make setup' (hack/setup.sh; make demo and make test run it first)"
  done
}

# pid_alive PIDFILE: the process named in PIDFILE runs, and is what the file is named for
# (foo.pid: its command line mentions foo), so a PID reused after a reboot is never ours.
pid_alive() {
  local pid name
  [[ -s "$1" ]] || return 1
  pid="$(cat "$1")"
  name="$(basename "$1" .pid)"
  kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$name"
}

# stop_pid PIDFILE [NAME]: TERM the process in PIDFILE, wait up to 20 s, then KILL; remove the file.
stop_pid() {
  local file="$1" name="${2:-$(basename "$1" .pid)}" pid
  [[ -s "$file" ]] || { rm -f "$file"; return 0; }
  pid="$(cat "$file")"
  if pid_alive "$file"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) did not stop in 20 s: KILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds; says
# every PROGRESS_EVERY seconds that it is still waiting.
wait_for() {
  local timeout="$1" what="$2" started deadline next now
  shift 2
  started=$(date +%s)
  deadline=$(( started + timeout ))
  next=$(( started + PROGRESS_EVERY ))
  until "$@" >/dev/null 2>&1; do
    now=$(date +%s)
    if (( now >= deadline )); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    if (( now >= next )); then
      log "  still waiting for $what ($(format_duration $(( now - started ))) of at most $(format_duration "$timeout"))"
      next=$(( now + PROGRESS_EVERY ))
    fi
    sleep 0.5
  done
}
