#!/usr/bin/env bash
# Builds etcd from its Go module (go.etcd.io/etcd/server/v3) into the cache, like build-k8s.sh.
#
# Why not Debian's etcd-server 3.4.23: kubeadm 1.34 generates an etcd static pod whose liveness,
# readiness and startup probes ask /livez and /readyz on the metrics port; etcd 3.4 answers 404
# there (those endpoints came in 3.5.11/3.6), so the kubelet kills etcd in a loop. kubeadm 1.34
# also names etcd 3.6.5-0 as its default and refuses external etcd older than 3.5.24. So the
# node runs the etcd kubeadm expects, built here; tier 1 uses it too when present.
#
# etcd's own go.mod replaces its sibling modules with ../api etc.; a module that requires
# server/v3 gets the published siblings instead, and `go build go.etcd.io/etcd/server/v3`
# builds the etcd command (server/main.go). Go's output: $KAUDIT_CACHE/logs/build-etcd-VERSION.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
CACHE_ROOT="${KAUDIT_CACHE:-/var/cache/kaudit}"
# shellcheck source=gobuild.sh
source "$HERE/gobuild.sh"
OUT="$CACHE_ROOT/etcd/$ETCD_VERSION/bin"

if [[ -x "$OUT/etcd" ]]; then
  progress_say "build-etcd: etcd $ETCD_VERSION: cached in $OUT"
  exit 0
fi

work="$CACHE_ROOT/etcd/$ETCD_VERSION/module"
LOG="$CACHE_ROOT/logs/build-etcd-$ETCD_VERSION.log"
mkdir -p "$work" "$OUT" "$(dirname "$LOG")"
exec 9>"$CACHE_ROOT/etcd/$ETCD_VERSION/.build.lock"
if ! flock -n 9; then
  run_with_progress "build-etcd: another build of $ETCD_VERSION is running; waiting for it" /dev/null flock 9
fi
[[ -x "$OUT/etcd" ]] && exit 0
: >"$LOG"
cd "$work"

prepare_module() {
  cat >go.mod <<EOF
module kaudit.io/testbed/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
  cat >tools.go <<'GO'
//go:build tools

package etcdbuild

import _ "go.etcd.io/etcd/server/v3"
GO
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go list -trimpath -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}' go.etcd.io/etcd/server/v3 | sed '/^$/d' | sort -u >packages.txt.tmp
  mv packages.txt.tmp packages.txt
}

started=$(date +%s)
progress_say "build-etcd: etcd $ETCD_VERSION from the Go module proxy into $OUT (Go's output: $LOG)"
PROGRESS_STATUS=go_modules_downloaded run_with_progress "build-etcd: downloading go.etcd.io/etcd/server/v3 $ETCD_VERSION" \
  "$LOG" prepare_module
PROGRESS_STATUS=go_packages_compiled run_with_progress "build-etcd: building etcd" "$LOG" \
  go build -v -trimpath -ldflags "-s -w" -o "$OUT/.etcd.tmp" go.etcd.io/etcd/server/v3
mv "$OUT/.etcd.tmp" "$OUT/etcd"
progress_say "build-etcd: built etcd $ETCD_VERSION in $(format_duration $(($(date +%s) - started))) ($(go_packages_compiled)) into $OUT"
