# shellcheck shell=bash
# What build-k8s.sh and build-etcd.sh share (sourced): the Go environment that keeps every Go
# cache in $KAUDIT_CACHE, and the progress each shows while it downloads and compiles.
# The caller sets CACHE_ROOT, LOG (Go's output) and, before compiling, writes packages.txt
# (the packages `go list -trimpath -deps` calls Stale: what the build will compile) in its
# working folder.
# shellcheck source=../progress.sh
source "$(dirname "${BASH_SOURCE[0]}")/../progress.sh"

export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

go_modules_downloaded() {
  printf '%s MB of modules downloaded' "$(du -sm "$GOMODCACHE/cache/download" 2>/dev/null | cut -f1)"
}

go_packages_compiled() {
  # `go build -v` prints each package it compiles as a bare import path, one per line.
  local built total
  built="$(grep -cE '^[A-Za-z0-9._~/+-]+$' "$LOG")"
  total="$(wc -l <packages.txt)"
  printf '%s of %s packages compiled (%s%%)' "$built" "$total" "$((built * 100 / (total > 0 ? total : 1)))"
}
