#!/usr/bin/env bash
# Builds the images a kubeadm control plane runs, from the binaries built here, with buildah
# (no registry: --pull-never, FROM scratch or the local debootstrap base), under the exact names
# `kubeadm config images list` prints, and saves each as a docker-archive in the cache.
#
#   images.sh build              build what is missing; prints the archive paths
#   images.sh import SOCKET      build if needed, then import every archive into the containerd
#                                at SOCKET (namespace k8s.io), so kubeadm and the kubelet pull nothing
#
# Images (K8S_VERSION v1.34.4; kubeadm 1.34.4 defaults):
#   registry.k8s.io/kube-{apiserver,controller-manager,scheduler}:v1.34.4  FROM scratch + binary
#   registry.k8s.io/kube-proxy:v1.34.4      FROM the debootstrap base (kube-proxy runs iptables, conntrack)
#   registry.k8s.io/etcd:3.6.5-0            FROM scratch + etcd built by build-etcd.sh
#   registry.k8s.io/pause:3.10.1            FROM scratch + Kubernetes' pause.c compiled static
#   localhost/kaudit-testbed-busybox:dev    FROM scratch + busybox-static (test pods: httpd, sh)
# CoreDNS is not built: the bed's kubeadm config disables the DNS addon.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

REGISTRY="registry.k8s.io"
PAUSE_VERSION="${PAUSE_VERSION:-3.10.1}"
ETCD_IMAGE_TAG="${ETCD_IMAGE_TAG:-3.6.5-0}"
BUSYBOX_IMAGE="localhost/kaudit-testbed-busybox:dev"
IMG_CACHE="$KAUDIT_CACHE/images/$K8S_VERSION"
BUILDAH=(buildah --log-level=error)

# name|archive — the archive name is stable so a cached one is reused.
image_list() {
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    echo "$REGISTRY/$c:$K8S_VERSION|$IMG_CACHE/$c.tar"
  done
  echo "$REGISTRY/etcd:$ETCD_IMAGE_TAG|$IMG_CACHE/etcd-$ETCD_IMAGE_TAG.tar"
  echo "$REGISTRY/pause:$PAUSE_VERSION|$IMG_CACHE/pause-$PAUSE_VERSION.tar"
  echo "$BUSYBOX_IMAGE|$IMG_CACHE/busybox.tar"
}

# bud NAME ARCHIVE CONTEXT: buildah bud the Containerfile in CONTEXT, save it as a docker-archive.
bud() {
  local name="$1" archive="$2" context="$3"
  rm -f "$archive.tmp"
  run_with_progress "images: building $name" "$BUILD_LOG_DIR/images.log" \
    "${BUILDAH[@]}" bud --quiet --isolation chroot --pull-never --layers=false -t "$name" "$context"
  run_with_progress "images: saving $name" "$BUILD_LOG_DIR/images.log" \
    "${BUILDAH[@]}" push --quiet "$name" "docker-archive:$archive.tmp:$name"
  mv "$archive.tmp" "$archive"
}

build_one() {
  local name="$1" archive="$2" ctx bin
  ctx="$(mktemp -d)"
  case "$name" in
    */kube-proxy:*)
      "$HERE/build-base.sh" >/dev/null
      cp "$K8S_BIN/kube-proxy" "$ctx/"
      cat >"$ctx/Containerfile" <<EOF
FROM ${KAUDIT_BASE_IMAGE:-localhost/kaudit-base:bookworm}
COPY kube-proxy /usr/local/bin/kube-proxy
EOF
      ;;
    */kube-*)
      bin="${name##*/}"; bin="${bin%%:*}"
      cp "$K8S_BIN/$bin" "$ctx/"
      cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY $bin /usr/local/bin/$bin
ENV PATH=/usr/local/bin:/usr/bin:/bin
EOF
      ;;
    */etcd:*)
      [[ -x "$ETCD_BUILT" ]] || "$HERE/build-etcd.sh"
      cp "$ETCD_BUILT" "$ctx/etcd"
      mkdir -p "$ctx/tmp" "$ctx/var/lib/etcd"
      cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY etcd /usr/local/bin/etcd
COPY tmp /tmp
ENV PATH=/usr/local/bin:/usr/bin:/bin
EOF
      ;;
    */pause:*)
      local src="$KAUDIT_CACHE/go/mod/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
      [[ -f "$src" ]] || die "$src missing (build-k8s.sh downloads it)"
      gcc -Os -static -DVERSION="v$PAUSE_VERSION" -o "$ctx/pause" "$src"
      strip "$ctx/pause"
      cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
EOF
      ;;
    "$BUSYBOX_IMAGE")
      mkdir -p "$ctx/bin" "$ctx/tmp" "$ctx/www"
      cp /bin/busybox "$ctx/bin/busybox"
      for a in sh ls cat echo sleep wget httpd hostname env; do ln -s busybox "$ctx/bin/$a"; done
      echo "kaudit testbed" >"$ctx/www/index.html"
      cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY bin /bin
COPY tmp /tmp
COPY www /www
ENV PATH=/bin
CMD ["/bin/sh"]
EOF
      ;;
    *) die "unknown image $name" ;;
  esac
  bud "$name" "$archive" "$ctx"
  rm -rf "$ctx"
}

cmd_build() {
  need_root
  need_k8s_bin kube-apiserver kube-controller-manager kube-scheduler kube-proxy
  [[ -x /bin/busybox ]] || die "/bin/busybox missing: run 'make setup'"
  mkdir -p "$IMG_CACHE"
  local name archive started n=0 i=0 all
  all="$(image_list)"
  while IFS='|' read -r name archive; do [[ -s "$archive" ]] || n=$((n + 1)); done <<<"$all"
  while IFS='|' read -r name archive; do
    [[ -s "$archive" ]] && continue
    i=$((i + 1))
    started=$(date +%s)
    log "images: $i/$n building $name (log: $BUILD_LOG_DIR/images.log)"
    build_one "$name" "$archive"
    log "images: $i/$n $name built in $(format_duration $(( $(date +%s) - started )))"
  done <<<"$all"
  ((n > 0)) || log "images: all $(wc -l <<<"$all") images cached in $IMG_CACHE"
  image_list | cut -d'|' -f2
}

cmd_import() {
  local sock="$1" name archive
  cmd_build >/dev/null
  while IFS='|' read -r name archive; do
    if ctr --address "$sock" -n k8s.io images ls -q | grep -qxF "$name"; then continue; fi
    ctr --address "$sock" -n k8s.io images import "$archive" >/dev/null
  done < <(image_list)
  ctr --address "$sock" -n k8s.io images ls -q
}

case "${1:-}" in
  build) cmd_build ;;
  import) [[ -n "${2:-}" ]] || die "usage: $0 import SOCKET"; cmd_import "$2" ;;
  list) image_list | cut -d'|' -f1 ;;
  *) echo "usage: $0 build|import SOCKET|list" >&2; exit 2 ;;
esac
