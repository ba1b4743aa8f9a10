#!/usr/bin/env bash
# Makes the Debian base image the bed's images start FROM, without any image registry:
# debootstrap (minbase) a bookworm root, tar it into the cache once, and import it into
# buildah's storage as localhost/kaudit-base:bookworm.
#
# One base serves two images: the operator's (python3, python3-venv) and kube-proxy's (iptables
# and conntrack, which kube-proxy runs in iptables mode). Cached in
# $KAUDIT_CACHE/base/bookworm-minbase.tar; a second run only re-imports when buildah lacks it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

BASE_IMAGE="${KAUDIT_BASE_IMAGE:-localhost/kaudit-base:bookworm}"
BASE_TAR="$KAUDIT_CACHE/base/bookworm-minbase.tar"
INCLUDE="python3,python3-venv,iptables,conntrack,ca-certificates"

need_root

debian_mirror() {
  # The machine's own apt source (the only Debian mirror this workplace reaches).
  local uri
  uri="$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)"
  [[ -n "$uri" ]] || uri="$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)"
  echo "${uri:-http://deb.debian.org/debian}"
}

if [[ ! -s "$BASE_TAR" ]]; then
  mkdir -p "$(dirname "$BASE_TAR")" "$BUILD_LOG_DIR"
  root="$(mktemp -d "$KAUDIT_CACHE/base/rootfs.XXXXXX")"
  started=$(date +%s)
  log "base: debootstrap bookworm minbase (+$INCLUDE) into $root"
  unpacked() { printf '%s packages unpacked, %s' "$(grep -c '^I: Unpacking\|^I: Extracting' "$BUILD_LOG_DIR/debootstrap.log")" "$(du -sh "$root" 2>/dev/null | cut -f1)"; }
  : >"$BUILD_LOG_DIR/debootstrap.log"
  if ! PROGRESS_STATUS=unpacked run_with_progress "base: debootstrap" "$BUILD_LOG_DIR/debootstrap.log" \
      debootstrap --variant=minbase --include="$INCLUDE" bookworm "$root" "$(debian_mirror)"; then
    rm -rf "$root"
    die "debootstrap failed (log: $BUILD_LOG_DIR/debootstrap.log)"
  fi
  # Trim what no container needs: apt lists and caches, docs, man pages.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" --numeric-owner -cf "$BASE_TAR.tmp" .
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$root"
  log "base: $BASE_TAR made in $(( $(date +%s) - started ))s ($(du -sh "$BASE_TAR" | cut -f1))"
fi

if ! buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
  log "base: importing $BASE_TAR into buildah as $BASE_IMAGE"
  ctr="$(buildah from scratch)"
  buildah add --quiet "$ctr" "$BASE_TAR" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
fi
echo "$BASE_IMAGE"
