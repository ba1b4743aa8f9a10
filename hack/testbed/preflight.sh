#!/usr/bin/env bash
# Can the test bed run on this machine at all? Prints why not and exits 1; exits 0 silently
# when it can. One place for the answer: hack/setup.sh, hack/test.sh and the tests' fixtures
# (tests/testbed.py) all ask this script.
#
# Only what no install step can fix counts: not root, no cgroups, no namespaces, not a Debian
# with apt. A missing package or build is never a reason: `make setup` installs and builds it.
set -uo pipefail

why_not() { echo "$*"; exit 1; }

[[ $(id -u) -eq 0 ]] || why_not "the test bed needs root (it runs a kubelet, containerd and network namespaces): run as root"
[[ "$(uname -s)" == Linux ]] || why_not "the test bed needs Linux"
command -v apt-get >/dev/null && command -v dpkg-query >/dev/null \
  || why_not "the test bed installs its packages with apt: it needs Debian 12 (bookworm)"
# cgroup v1 (a memory controller folder) or v2 (cgroup.controllers): the kubelet needs one.
[[ -d /sys/fs/cgroup/memory || -f /sys/fs/cgroup/cgroup.controllers ]] \
  || why_not "no cgroups mounted at /sys/fs/cgroup: the kubelet cannot run pods"
unshare --mount --net --uts true 2>/dev/null \
  || why_not "cannot create mount, network and UTS namespaces (unshare failed): a container without CAP_SYS_ADMIN?"
exit 0
