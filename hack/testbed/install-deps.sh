#!/usr/bin/env bash
# Installs everything the test bed needs on a Debian 12 machine of this workplace, as root, and
# builds the Kubernetes binaries (cached). Idempotent: a second run installs nothing new and the
# build is a no-op once the binaries are in the cache.
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

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # --no-install-recommends keeps docker-ish recommends (and their services) off the machine.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The Debian packages would start containerd/etcd/haproxy under an init system; there is none
  # here, but a policy-rc.d-less machine with sysvinit scripts may have started them: stop those
  # we did not start, so the bed owns its processes.
  for svc in containerd etcd haproxy; do
    if [[ -x /etc/init.d/$svc ]]; then /etc/init.d/$svc stop >/dev/null 2>&1 || true; fi
  done
else
  echo "install-deps: all Debian packages present"
fi

# Python packages the tests and bench use (PyPI). The project's own dev install is CI's job;
# pyyaml is what the bed's helpers need to edit manifests without the project.
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml

if [[ "${KAUDIT_SKIP_K8S_BUILD:-}" != 1 ]]; then
  "$HERE/build-k8s.sh"
  "$HERE/build-etcd.sh"
fi
