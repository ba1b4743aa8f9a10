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
# builds the etcd command (server/main.go).
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
CACHE_ROOT="${KAUDIT_CACHE:-/var/cache/kaudit}"
OUT="$CACHE_ROOT/etcd/$ETCD_VERSION/bin"

if [[ -x "$OUT/etcd" ]]; then
  echo "etcd $ETCD_VERSION: cached in $OUT"
  exit 0
fi

export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build"
export GOFLAGS="-mod=mod"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

work="$CACHE_ROOT/etcd/$ETCD_VERSION/module"
mkdir -p "$work" "$OUT"
exec 9>"$CACHE_ROOT/etcd/$ETCD_VERSION/.build.lock"
flock 9
[[ -x "$OUT/etcd" ]] && exit 0
cd "$work"
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
go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
started=$(date +%s)
echo "build-etcd: building etcd $ETCD_VERSION"
go build -trimpath -ldflags "-s -w" -o "$OUT/.etcd.tmp" go.etcd.io/etcd/server/v3
mv "$OUT/.etcd.tmp" "$OUT/etcd"
echo "build-etcd: built etcd $ETCD_VERSION in $(( $(date +%s) - started ))s into $OUT"
