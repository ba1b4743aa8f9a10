#!/usr/bin/env bash
# Installs the Debian packages the test bed needs on a Debian 12 machine, as root. Idempotent: a
# second run finds them all and installs nothing. The first of the steps of hack/setup.sh
# (`make setup`, which `make demo` and `make test` run first); the builds are its later steps.
#
# Why these packages:
#   containerd, runc                  the node's container runtime (tier 2); Debian's containerd 1.6
#                                     has a CRI plugin that kubelet 1.34 accepts
#   containernetworking-plugins       bridge, host-local, portmap, loopback for the node's CNI
#   etcd-server                       etcd for tier 1 (local process) and, as a binary copied into
#                                     an image, the node's static etcd pod
#   conntrack socat iptables          kubelet / kube-proxy needs (iptables proxy mode, port-forward)
#   iproute2                          network namespaces and veth for the node
#   ethtool ebtables                  kubeadm preflight warns without them
#   buildah debootstrap               images are built locally (no image registry here)
#   haproxy                           the later NODES=3 variant puts the API servers behind it
#   busybox-static                    a shell and tools inside scratch-based images (pause, tests)
#   openssl curl jq                   certificates for tier 1, probes, JSON in scripts
#   gcc libc6-dev                     the pause image is Kubernetes' pause.c, compiled static
#   util-linux                        unshare, nsenter, mount
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../progress.sh
source "$HERE/../progress.sh"
LOGS="${KAUDIT_CACHE:-/var/cache/kaudit}/logs"

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root" >&2
  exit 1
fi

PACKAGES=(
  containerd runc containernetworking-plugins etcd-server etcd-client
  conntrack socat iptables iproute2 ethtool ebtables
  buildah debootstrap haproxy busybox-static
  openssl curl jq util-linux procps psmisc gcc libc6-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

apt_install() {
  apt-get update -q
  # --no-install-recommends keeps docker-ish recommends (and their services) off the machine.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}
installed_count() { printf '%s packages unpacked' "$(grep -c '^Unpacking ' "$LOGS/apt.log" 2>/dev/null || echo 0)"; }

if [[ ${#missing[@]} -gt 0 ]]; then
  progress_say "install-deps: installing ${#missing[@]} packages and what they need: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  mkdir -p "$LOGS"
  : >"$LOGS/apt.log"
  PROGRESS_STATUS=installed_count run_with_progress "install-deps: apt-get install" "$LOGS/apt.log" apt_install
  # apt's own figure: Debian's docker-clean hook empties the archive folder after each install.
  progress_say "install-deps: $(installed_count); $(grep -o 'Need to get [^ ]* [kMG]*B' "$LOGS/apt.log" | tail -1 | sed 's/Need to get/downloaded/')"
  # The Debian packages would start containerd/etcd/haproxy under an init system; there is none
  # here, but a policy-rc.d-less machine with sysvinit scripts may have started them: stop those
  # we did not start, so the bed owns its processes.
  for svc in containerd etcd haproxy; do
    if [[ -x /etc/init.d/$svc ]]; then /etc/init.d/$svc stop >/dev/null 2>&1 || true; fi
  done
else
  progress_say "install-deps: all ${#PACKAGES[@]} Debian packages present"
fi

# pyyaml is what the bed's helpers need to edit manifests without the project's environment.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
