# shellcheck shell=bash
# Progress for long steps (sourced by hack/setup.sh, hack/testbed/lib.sh and the build scripts).
#
# Why: a first run on a new machine builds Kubernetes, etcd and a Debian base for many minutes;
# a person must see what is running, for how long, how far it got and where its log is, never a
# silent minute. A command's own output goes to its log file, named on screen.

PROGRESS_EVERY="${KAUDIT_PROGRESS_EVERY:-15}"

# format_duration SECONDS: 42s, 3m07s, 1h02m.
format_duration() {
  local s="$1"
  if ((s >= 3600)); then
    printf '%dh%02dm' $((s / 3600)) $((s % 3600 / 60))
  elif ((s >= 60)); then
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  else
    printf '%ds' "$s"
  fi
}

progress_say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# run_with_progress DESCRIPTION LOGFILE COMMAND...
#   Runs COMMAND (a program or a shell function) with stdout and stderr appended to LOGFILE.
#   Every PROGRESS_EVERY seconds it prints "DESCRIPTION: 1m15s[, STATUS] (log: LOGFILE)", where
#   STATUS is what the function named in $PROGRESS_STATUS prints, when set. On failure it prints
#   the log's last 25 lines. Returns COMMAND's exit status.
run_with_progress() {
  local what="$1" logfile="$2" pid started now next rc=0 status
  shift 2
  mkdir -p "$(dirname "$logfile")"
  started=$(date +%s)
  next=$((started + PROGRESS_EVERY))
  "$@" >>"$logfile" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    now=$(date +%s)
    if ((now >= next)) && kill -0 "$pid" 2>/dev/null; then
      status=""
      if [[ -n "${PROGRESS_STATUS:-}" ]]; then status="$("$PROGRESS_STATUS" 2>/dev/null || true)"; fi
      progress_say "  $what: $(format_duration $((now - started)))${status:+, $status} (log: $logfile)"
      next=$((now + PROGRESS_EVERY))
    fi
  done
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    progress_say "  $what FAILED (exit $rc) after $(format_duration $(($(date +%s) - started))); last lines of $logfile:"
    tail -n 25 "$logfile" | sed 's/^/    | /' >&2
  fi
  return "$rc"
}
