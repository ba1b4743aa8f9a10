#!/usr/bin/env bash
# Builds the Kubernetes commands the test bed needs from the k8s.io/kubernetes Go module,
# through the Go module proxy, with this machine's Go toolchain.
#
# Why a throwaway module: k8s.io/kubernetes requires its staging modules (k8s.io/api, ...) as
# v0.0.0 with `replace` directives into its own tree, so `go install k8s.io/kubernetes/cmd/x@v`
# is refused. A module of ours that requires k8s.io/kubernetes and replaces every staging
# module with its published v0.Y.Z builds the same code.
#
# Everything lands in a cache outside the repository, keyed by version; a second run whose
# binaries are all present does nothing. Go's own output (`go build -v`: one line per package
# compiled) goes to $KAUDIT_CACHE/logs/build-k8s-VERSION.log; the screen shows each command as
# it is built, with the packages compiled so far against those Go's cache lacks (`go list`'s Stale).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
CACHE_ROOT="${KAUDIT_CACHE:-/var/cache/kaudit}"
# shellcheck source=gobuild.sh
source "$HERE/gobuild.sh"
OUT="$CACHE_ROOT/kubernetes/$K8S_VERSION/bin"
COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubeadm kube-proxy kubectl)

have_all() {
  local c
  for c in "${COMMANDS[@]}"; do [[ -x "$OUT/$c" ]] || return 1; done
}

if have_all; then
  progress_say "build-k8s: kubernetes $K8S_VERSION: cached in $OUT"
  exit 0
fi

# One build at a time: a second caller (install-deps while a background build runs) waits for
# the first and then finds the binaries cached.
mkdir -p "$OUT"
exec 9>"$CACHE_ROOT/kubernetes/$K8S_VERSION/.build.lock"
if ! flock -n 9; then
  # The lock belongs to the open file, so a child's flock on fd 9 holds it for this script too.
  run_with_progress "build-k8s: another build of $K8S_VERSION is running; waiting for it" /dev/null flock 9
fi
if have_all; then
  progress_say "build-k8s: kubernetes $K8S_VERSION: cached in $OUT"
  exit 0
fi

work="$CACHE_ROOT/kubernetes/$K8S_VERSION/module"
LOG="$CACHE_ROOT/logs/build-k8s-$K8S_VERSION.log"
mkdir -p "$work" "$OUT" "$(dirname "$LOG")"
: >"$LOG"
cd "$work"

minor="${K8S_VERSION#v1.}"          # 34.4
staging_version="v0.${minor}"       # v0.34.4

# The module of ours, and every module the seven commands need, downloaded; packages.txt lists
# every package (standard library included) the build will compile: those not in Go's cache
# for these flags (-trimpath), so the count is right for a cold cache and a half-warm one.
prepare_module() {
  # The staging list comes from k8s.io/kubernetes's own go.mod, so a new release that adds a
  # staging module needs no edit here.
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >download.json
  local gomod
  gomod="$(python3 -c 'import json,sys; print(json.load(open("download.json"))["GoMod"])')"
  mapfile -t staging < <(grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}')
  if [[ ${#staging[@]} -eq 0 ]]; then
    echo "build-k8s: no staging replace directives found in $gomod" >&2
    return 1
  fi
  {
    echo "module kaudit.io/testbed/k8sbuild"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
    echo ")"
  } >go.mod
  cat >tools.go <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy -e || true
  # tidy drops requirements only a build-tagged file needs on some Go versions; `go get` pins them.
  go get "k8s.io/kubernetes@$K8S_VERSION"
  local targets=() c
  for c in "${COMMANDS[@]}"; do targets+=("k8s.io/kubernetes/cmd/$c"); done
  go list -trimpath -deps -f '{{if .Stale}}{{.ImportPath}}{{end}}' "${targets[@]}" | sed '/^$/d' | sort -u >packages.txt.tmp
  mv packages.txt.tmp packages.txt
}

started=$(date +%s)
progress_say "build-k8s: Kubernetes $K8S_VERSION from the Go module proxy into $OUT (Go's output: $LOG)"
PROGRESS_STATUS=go_modules_downloaded run_with_progress "build-k8s: downloading k8s.io/kubernetes $K8S_VERSION and its modules" \
  "$LOG" prepare_module
progress_say "build-k8s: modules ready in $(format_duration $(($(date +%s) - started))) ($(go_modules_downloaded); $(wc -l <packages.txt) packages to compile)"

# ldflags give the binaries a real version, so `kubeadm init` and `kubectl version` report it.
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
i=0
for c in "${COMMANDS[@]}"; do
  i=$((i + 1))
  if [[ -x "$OUT/$c" ]]; then
    progress_say "build-k8s: $i/${#COMMANDS[@]} $c already built"
    continue
  fi
  one=$(date +%s)
  PROGRESS_STATUS=go_packages_compiled run_with_progress "build-k8s: $i/${#COMMANDS[@]} building $c" "$LOG" \
    go build -v -trimpath -ldflags "$ldflags" -o "$OUT/.$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$OUT/.$c.tmp" "$OUT/$c"
  progress_say "build-k8s: $i/${#COMMANDS[@]} $c built ($(format_duration $(($(date +%s) - one))); $(go_packages_compiled); $(format_duration $(($(date +%s) - started))) in all)"
done
progress_say "build-k8s: built ${COMMANDS[*]} in $(format_duration $(($(date +%s) - started))) into $OUT"
