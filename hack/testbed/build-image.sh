#!/usr/bin/env bash
# Builds the kaudit image from this working tree with buildah (no registry) and imports it into
# the bed node's containerd (namespace k8s.io) as localhost/kaudit:dev, so pods with
# `image: localhost/kaudit:dev` and `imagePullPolicy: Never` (or IfNotPresent) run it.
#
#   build-image.sh [--no-import]
#
# The base is the debootstrap-made Debian bookworm (python3, python3-venv) that build-base.sh
# caches and imports as localhost/kaudit-base:bookworm; the Dockerfile's default BASE
# (python:3.11-slim) is for workstations with a registry. `pip install` inside the build reaches
# PyPI for the project's dependencies.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

IMAGE="${KAUDIT_IMAGE:-localhost/kaudit:dev}"
NODE="${NODE:-cp-1}"
SOCKET="$KAUDIT_TESTBED/nodes/$NODE/root/run/containerd/containerd.sock"
ARCHIVE="$KAUDIT_CACHE/images/kaudit-dev.tar"

need_root
base="$("$HERE/build-base.sh")"
started=$(date +%s)
log "image: building $IMAGE FROM $base"
# This workplace reaches PyPI through a proxy whose CA only the host's bundle has: lend the
# bundle to the build's RUN steps (a read-only mount, not a layer of the image).
ca_args=()
host_ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
if [[ -s "$host_ca" ]]; then
  ca_args=(--volume "$host_ca:/run/kaudit-build-ca.crt:ro" --build-arg PIP_CERT=/run/kaudit-build-ca.crt)
fi
mkdir -p "$LOG_DIR"
if ! run_with_progress "image: buildah bud $IMAGE (pip installs the dependencies from PyPI)" \
    "$LOG_DIR/build-image.log" buildah bud --isolation chroot --pull-never --layers=false \
    --build-arg "BASE=$base" "${ca_args[@]}" -f "$REPO/Dockerfile" -t "$IMAGE" "$REPO"; then
  die "buildah bud failed (log: $LOG_DIR/build-image.log)"
fi
mkdir -p "$(dirname "$ARCHIVE")"
rm -f "$ARCHIVE"
buildah push --quiet "$IMAGE" "docker-archive:$ARCHIVE:$IMAGE" >/dev/null
log "image: $IMAGE built in $(( $(date +%s) - started ))s ($(du -h "$ARCHIVE" | cut -f1)), saved as $ARCHIVE"

if [[ "${1:-}" == "--no-import" ]]; then exit 0; fi
[[ -S "$SOCKET" ]] || die "node $NODE is not up ($SOCKET missing): run 'make testbed-up', or pass --no-import"
ctr --address "$SOCKET" -n k8s.io images import "$ARCHIVE" >/dev/null
log "image: imported $IMAGE into $NODE's containerd (k8s.io)"
echo "$IMAGE"
