#!/usr/bin/env bash
# Tier 2 of the test bed: a kubeadm-made control-plane node, in namespaces of its own.
#
#   node.sh up         make the node (or reuse a healthy one); prints the env lines
#   node.sh down       kubeadm reset, stop every process by PID, remove netns, mounts, iptables
#                      rule, cgroups and the node's files (logs are kept)
#   node.sh status     exit 0 when the node's API server answers and the node is Ready
#   node.sh env        `export KUBECONFIG=... PATH=... KAUDIT_NODE_ROOT=...`
#   node.sh exec CMD   run CMD "on the node" (its mount, network and UTS namespaces)
#   node.sh path P     print where the node's path P is on the host
#
# The node (NODE, default cp-1; NODE_INDEX 1):
#   network  netns kaudit-cp-1, eth0 10.231.0.11/24, veth kb-cp-1 to bridge kaudit0
#            (10.231.0.1/24) in the host namespace; pods 10.232.1.0/24 on bridge cni0 in the
#            node; services 10.233.0.0/16 (kube-proxy, iptables mode). Nothing is routed off the
#            machine: the host does not forward (ip_forward stays as found) and a FORWARD rule
#            drops anything from kaudit0 to another interface.
#   files    a mount namespace (kept in /run/kaudit-testbed/ns/cp-1.mnt) where
#            /etc/kubernetes, /var/lib/kubelet, /var/log, /var/lib/etcd, /var/lib/containerd,
#            /run/containerd, /etc/containerd, /etc/cni/net.d, /var/lib/cni are bind mounts of
#            $KAUDIT_TESTBED/nodes/cp-1/root/<same path>; /etc/hosts and /etc/resolv.conf are
#            the node's own (no DNS query leaves the node); hostname cp-1 (UTS namespace).
#   cgroups  the kubelet's cgroupRoot is /kaudit-cp-1 (so NODES=3 kubelets do not collide).
#   procs    containerd and a kubelet supervisor started here, PIDs in $NODE_DIR/run/.
# kubeadm: v1beta4 config, DNS addon disabled (no CoreDNS image), no control-plane taint.
# Logs: $KAUDIT_TESTBED/logs/<node>-{containerd,kubelet,kubeadm}.log.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

NODE="${NODE:-cp-1}"
NODE_INDEX="${NODE_INDEX:-1}"
BRIDGE="kaudit0"
BRIDGE_IP="10.231.0.1"
NODE_IP="10.231.0.$((10 + NODE_INDEX))"
POD_SUBNET="10.232.0.0/16"
NODE_POD_SUBNET="10.232.$NODE_INDEX.0/24"
SERVICE_SUBNET="10.233.0.0/16"
CONTROL_PLANE_ENDPOINT="${CONTROL_PLANE_ENDPOINT:-$NODE_IP:6443}"
NETNS="kaudit-$NODE"
VETH="kb-$NODE"
NS_DIR="/run/kaudit-testbed/ns"
MNT_NS="$NS_DIR/$NODE.mnt"
UTS_NS="$NS_DIR/$NODE.uts"
NODE_DIR="$KAUDIT_TESTBED/nodes/$NODE"
NODE_ROOT="$NODE_DIR/root"
RUN="$NODE_DIR/run"
CGROUP_ROOT="kaudit-$NODE"
# cp-1's is the bed's kubeconfig; another single node (NODE=cp-2 ... for experiments) has its own;
# the nodes of one cluster (cluster.sh) share the cluster's (KAUDIT_KUBECONFIG).
if [[ -n "${KAUDIT_KUBECONFIG:-}" ]]; then HOST_KUBECONFIG="$KAUDIT_KUBECONFIG"
elif [[ "$NODE" == cp-1 ]]; then HOST_KUBECONFIG="$KAUDIT_TESTBED/kubeconfig/admin.conf"
else HOST_KUBECONFIG="$KAUDIT_TESTBED/kubeconfig/admin-$NODE.conf"; fi
# CLUSTER_MODE: "" a single-node cluster; "init" the first control-plane node of several (uploads
# its certificates, writes JOIN_ENV); "join" another control-plane node (kubeadm join
# --control-plane with what JOIN_ENV holds). cluster.sh sets these.
CLUSTER_MODE="${CLUSTER_MODE:-}"
JOIN_ENV="$KAUDIT_TESTBED/cluster/join.env"
EXTRA_SANS="${EXTRA_SANS:-}"
CRI_SOCKET="unix:///run/containerd/containerd.sock"
HOST_SOCKET="$NODE_ROOT/run/containerd/containerd.sock"
FORWARD_RULE=(FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment kaudit-testbed -j DROP)
NODE_PATHS=(/etc/kubernetes /var/lib/kubelet /var/log /var/lib/etcd /var/lib/containerd
  /run/containerd /etc/containerd /etc/cni/net.d /var/lib/cni)

on_node() {
  nsenter --mount="$MNT_NS" --net="/run/netns/$NETNS" --uts="$UTS_NS" -- "$@"
}

# start_on_node PIDFILE LOGFILE CMD...: CMD in the node's namespaces, in its own session, in the
# background; its own PID (not a wrapper's) lands in PIDFILE.
start_on_node() {
  local pidfile="$1" logfile="$2"
  shift 2
  rm -f "$pidfile"
  nsenter --mount="$MNT_NS" --net="/run/netns/$NETNS" --uts="$UTS_NS" -- \
    setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 8>&- &
  wait_for 10 "$pidfile" test -s "$pidfile"
}

kubectl_admin() {
  "$K8S_BIN/kubectl" --kubeconfig="$HOST_KUBECONFIG" --request-timeout=10s "$@"
}

api_ready() {
  [[ -s "$HOST_KUBECONFIG" ]] && kubectl_admin get --raw /readyz >/dev/null 2>&1
}

node_ready() {
  [[ "$(kubectl_admin get node "$NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

healthy() {
  pid_alive "$RUN/containerd.pid" && pid_alive "$RUN/kubelet-supervise.pid" && api_ready && node_ready
}

# ---- network ---------------------------------------------------------------------------------

setup_network() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  iptables -C "${FORWARD_RULE[@]}" 2>/dev/null || iptables -I "${FORWARD_RULE[@]}"
  # `ip netns add` turns /run/netns into a mount point that outlives the last netns: remember
  # whether it was one, so down leaves it as found.
  if ! mountpoint -q /run/netns 2>/dev/null && [[ ! -f "$KAUDIT_TESTBED/created-run-netns-mount" ]]; then
    mkdir -p "$KAUDIT_TESTBED"
    if [[ -d /run/netns ]]; then echo mount >"$KAUDIT_TESTBED/created-run-netns-mount"
    else echo dir >"$KAUDIT_TESTBED/created-run-netns-mount"; fi
  fi
  [[ -e "/run/netns/$NETNS" ]] || ip netns add "$NETNS"
  if ! ip link show "$VETH" >/dev/null 2>&1; then
    ip link add "$VETH" type veth peer name eth0 netns "$NETNS"
    ip link set "$VETH" master "$BRIDGE" up
    ip -n "$NETNS" addr add "$NODE_IP/24" dev eth0
    ip -n "$NETNS" link set eth0 up
    ip -n "$NETNS" link set lo up
    ip -n "$NETNS" route add default via "$BRIDGE_IP"
  fi
  ip netns exec "$NETNS" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$NETNS" sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
  ip netns exec "$NETNS" sysctl -qw net.bridge.bridge-nf-call-ip6tables=1 2>/dev/null || true
}

teardown_network() {
  ip netns del "$NETNS" 2>/dev/null || true
  ip link del "$VETH" 2>/dev/null || true
  # The bridge and the FORWARD rule are shared by all nodes: remove them with the last one.
  local other others=0
  for other in "$KAUDIT_TESTBED"/nodes/*; do
    [[ -d "$other" && "${other##*/}" != "$NODE" ]] && others=1
  done
  if (( others == 0 )); then
    while iptables -C "${FORWARD_RULE[@]}" 2>/dev/null; do iptables -D "${FORWARD_RULE[@]}"; done
    ip link del "$BRIDGE" 2>/dev/null || true
    local made
    made="$(cat "$KAUDIT_TESTBED/created-run-netns-mount" 2>/dev/null || true)"
    if [[ -n "$made" && -z "$(ls -A /run/netns 2>/dev/null)" ]]; then
      umount /run/netns 2>/dev/null || true
      [[ "$made" == dir ]] && rmdir /run/netns 2>/dev/null
      rm -f "$KAUDIT_TESTBED/created-run-netns-mount"
    fi
  fi
}

# ---- mount + UTS namespaces -------------------------------------------------------------------

setup_namespaces() {
  local p
  mkdir -p "$NS_DIR" "$RUN" "$LOG_DIR"
  # A namespace file can only be bind-mounted onto a file in a private mount.
  if ! mountpoint -q "$NS_DIR"; then
    mount --bind "$NS_DIR" "$NS_DIR"
    mount --make-private "$NS_DIR"
  fi
  for p in "${NODE_PATHS[@]}"; do
    mkdir -p "$NODE_ROOT$p"
    if [[ ! -d "$p" ]]; then
      mkdir -p "$p"
      echo "$p" >>"$KAUDIT_TESTBED/created-host-dirs"
    fi
  done
  [[ -d /lib/modules ]] || { mkdir -p /lib/modules; echo /lib/modules >>"$KAUDIT_TESTBED/created-host-dirs"; }
  printf '127.0.0.1 localhost\n::1 localhost\n%s %s\n' "$NODE_IP" "$NODE" >"$NODE_DIR/hosts"
  # Nothing listens on port 53 in the node: a lookup fails at once instead of leaving the machine.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$NODE_DIR/resolv.conf"

  if ! mountpoint -q "$UTS_NS" 2>/dev/null; then
    touch "$UTS_NS"
    unshare --uts="$UTS_NS" hostname "$NODE"
  fi
  if ! mountpoint -q "$MNT_NS" 2>/dev/null; then
    touch "$MNT_NS"
    unshare --mount="$MNT_NS" --propagation private true
    local script="set -e; mount -t tmpfs -o mode=755 tmpfs /run/netns"
    for p in "${NODE_PATHS[@]}"; do script+="; mount --bind '$NODE_ROOT$p' '$p'"; done
    script+="; mount --bind '$NODE_DIR/hosts' /etc/hosts; mount --bind '$NODE_DIR/resolv.conf' /etc/resolv.conf"
    nsenter --mount="$MNT_NS" -- sh -c "$script"
  fi
}

teardown_namespaces() {
  local f
  for f in "$MNT_NS" "$UTS_NS"; do
    if mountpoint -q "$f" 2>/dev/null; then umount "$f" || umount -l "$f"; fi
    rm -f "$f"
  done
  if mountpoint -q "$NS_DIR" && [[ -z "$(ls -A "$NS_DIR")" ]]; then
    umount "$NS_DIR"
    rmdir "$NS_DIR" /run/kaudit-testbed 2>/dev/null || true
  fi
}

# ---- cgroups ---------------------------------------------------------------------------------

setup_cgroups() {
  local c dir
  for c in /sys/fs/cgroup/*/; do
    c="${c%/}"
    [[ "$c" == */unified ]] && continue
    dir="$c/$CGROUP_ROOT"
    [[ -d "$dir" ]] && continue
    mkdir "$dir"
    if [[ -f "$c/cpuset.cpus" ]]; then
      cat "$c/cpuset.cpus" >"$dir/cpuset.cpus"
      cat "$c/cpuset.mems" >"$dir/cpuset.mems"
    fi
  done
}

# Every PID in the node's cgroups, or in its mount namespace (containerd, shims, kubelet).
node_pids() {
  local ino pid
  cat /sys/fs/cgroup/*/"$CGROUP_ROOT"/cgroup.procs 2>/dev/null || true
  find /sys/fs/cgroup/ -path "*/$CGROUP_ROOT/*" -name cgroup.procs -exec cat {} + 2>/dev/null || true
  if mountpoint -q "$MNT_NS" 2>/dev/null; then
    ino="$(stat -L -c %i "$MNT_NS")"
    for pid in /proc/[0-9]*; do
      [[ "$(readlink "$pid/ns/mnt" 2>/dev/null)" == "mnt:[$ino]" ]] && echo "${pid#/proc/}"
    done
  fi
}

kill_node_pids() {
  local pids
  for _ in 1 2 3; do
    mapfile -t pids < <(node_pids | sort -u | grep -v "^$$\$" || true)
    [[ ${#pids[@]} -eq 0 ]] && return 0
    log "$NODE: stopping leftover processes ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    sleep 2
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.5
  done
}

teardown_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
    [[ -d "$c" ]] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

# ---- containerd ------------------------------------------------------------------------------

write_containerd_config() {
  local pause
  pause="registry.k8s.io/pause:$("$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null | sed -n 's|.*/pause:||p')"
  cat >"$NODE_ROOT/etc/containerd/config.toml" <<EOF
# The bed's node containerd (1.6, config version 2): cgroupfs, runc, CNI from Debian's plugins.
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$pause"
  enable_selinux = false
  # The bed's root lacks CAP_SYS_RESOURCE (CapBnd 0x1fffeffffff): nobody may lower an
  # oom_score_adj below its own, and runc would fail every pod with "failed to update
  # /proc/self/oom_score_adj: Permission denied". Clamp to containerd's own value instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
EOF
  cat >"$NODE_ROOT/etc/cni/net.d/10-kaudit.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "kaudit",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_SUBNET"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

start_containerd() {
  if pid_alive "$RUN/containerd.pid" && [[ -S "$HOST_SOCKET" ]]; then return 0; fi
  stop_pid "$RUN/containerd.pid" "$NODE-containerd"
  write_containerd_config
  log "$NODE: starting containerd ($(containerd --version | awk '{print $3}'))"
  start_on_node "$RUN/containerd.pid" "$LOG_DIR/$NODE-containerd.log" \
    containerd --config /etc/containerd/config.toml
  wait_for 30 "containerd socket" ctr --address "$HOST_SOCKET" version || die "containerd did not start (log: $LOG_DIR/$NODE-containerd.log)"
}

# ---- kubelet + kubeadm -----------------------------------------------------------------------

start_kubelet_supervisor() {
  if pid_alive "$RUN/kubelet-supervise.pid"; then return 0; fi
  start_on_node "$RUN/kubelet-supervise.pid" "$LOG_DIR/$NODE-kubelet.log" \
    bash "$HERE/kubelet-supervise.sh" "$K8S_BIN/kubelet" "$RUN/kubelet.pid" "$LOG_DIR/$NODE-kubelet.log"
}

# kubeadm distributes one KubeletConfiguration to every node; what must differ per node (the
# cgroup root, so that kubelets never see the cgroups of one another's pods) is a kubeadm patch.
write_kubelet_patch() {
  mkdir -p "$NODE_DIR/patches"
  printf 'cgroupRoot: /%s\n' "$CGROUP_ROOT" >"$NODE_DIR/patches/kubeletconfiguration+merge.yaml"
}

node_registration() {
  cat <<EOF
nodeRegistration:
  name: $NODE
  criSocket: $CRI_SOCKET
  imagePullPolicy: Never
  # No control-plane taint: the operator's pods must run on the control-plane nodes.
  taints: []
  kubeletExtraArgs:
    - name: node-ip
      value: $NODE_IP
patches:
  directory: $NODE_DIR/patches
EOF
}

write_kubeadm_config() {
  local upload=""
  write_kubelet_patch
  if [[ "$CLUSTER_MODE" == init ]]; then
    local token key
    token="$("$K8S_BIN/kubeadm" token generate)"
    key="$("$K8S_BIN/kubeadm" certs certificate-key)"
    mkdir -p "$(dirname "$JOIN_ENV")"
    printf 'JOIN_TOKEN=%s\nJOIN_CERT_KEY=%s\nJOIN_ENDPOINT=%s\n' "$token" "$key" "$CONTROL_PLANE_ENDPOINT" >"$JOIN_ENV"
    upload="bootstrapTokens:
- token: $token
  ttl: 24h0m0s
  usages: [signing, authentication]
  groups: [system:bootstrappers:kubeadm:default-node-token]
certificateKey: $key"
  fi
  cat >"$NODE_DIR/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: $NODE_IP
  bindPort: 6443
$upload
$(node_registration)
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: kaudit-testbed
kubernetesVersion: $K8S_VERSION
controlPlaneEndpoint: $CONTROL_PLANE_ENDPOINT
networking:
  podSubnet: $POD_SUBNET
  serviceSubnet: $SERVICE_SUBNET
  dnsDomain: cluster.local
dns:
  disabled: true
apiServer:
  certSANs: [$NODE_IP, 127.0.0.1, localhost, $NODE${EXTRA_SANS:+, $EXTRA_SANS}]
etcd:
  local:
    dataDir: /var/lib/etcd
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
failSwapOn: false
# No CAP_SYS_RESOURCE here (see the containerd config): the kubelet keeps oom_score_adj 0.
oomScoreAdj: 0
containerRuntimeEndpoint: $CRI_SOCKET
# No host DNS for pods: nothing inside the bed may query a server outside the machine.
resolvConf: ""
# A shared build machine's disk is often fuller than a kubelet likes: never evict for it.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
---
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_SUBNET
# In a network namespace nf_conntrack_max is read-only: leave conntrack sysctls alone (as kind does).
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
}

# kubeadm 1.34's preflight only warns about cgroup v1 and the missing kubelet service: nothing is
# ignored unless KUBEADM_IGNORE_PREFLIGHT names checks (1.35+ makes cgroup v1 an error).
preflight=()
[[ -n "${KUBEADM_IGNORE_PREFLIGHT:-}" ]] && preflight=(--ignore-preflight-errors="$KUBEADM_IGNORE_PREFLIGHT")

# The phase kubeadm last announced ("[control-plane] Creating static Pod manifest ..."), for progress.
kubeadm_phase() { grep -o '^\[[a-z-]*\]' "$LOG_DIR/$NODE-kubeadm.log" | tail -1; }

kubeadm_init() {
  local extra=()
  write_kubeadm_config
  [[ "$CLUSTER_MODE" == init ]] && extra=(--upload-certs)
  log "$NODE: kubeadm init"
  if ! PROGRESS_STATUS=kubeadm_phase run_with_progress "$NODE: kubeadm init" "$LOG_DIR/$NODE-kubeadm.log" \
      on_node env PATH="$K8S_BIN:$PATH" "$K8S_BIN/kubeadm" init --config "$NODE_DIR/kubeadm.yaml" \
      "${extra[@]}" "${preflight[@]}" --v=1; then
    die "kubeadm init failed (logs: $LOG_DIR/$NODE-kubeadm.log, $LOG_DIR/$NODE-kubelet.log)"
  fi
  if [[ "$CLUSTER_MODE" == init ]]; then
    echo "JOIN_CA_HASH=sha256:$(openssl x509 -pubkey -noout -in "$NODE_ROOT/etc/kubernetes/pki/ca.crt" \
      | openssl pkey -pubin -outform der 2>/dev/null | sha256sum | cut -d' ' -f1)" >>"$JOIN_ENV"
  fi
  mkdir -p "$(dirname "$HOST_KUBECONFIG")"
  cp "$NODE_ROOT/etc/kubernetes/admin.conf" "$HOST_KUBECONFIG"
  chmod 600 "$HOST_KUBECONFIG"
}

kubeadm_join() {
  [[ -s "$JOIN_ENV" ]] || die "$JOIN_ENV missing: the first node (CLUSTER_MODE=init) must be up"
  # shellcheck disable=SC1090
  source "$JOIN_ENV"
  write_kubelet_patch
  cat >"$NODE_DIR/kubeadm.yaml" <<EOF
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: $JOIN_ENDPOINT
    token: $JOIN_TOKEN
    caCertHashes: [$JOIN_CA_HASH]
controlPlane:
  localAPIEndpoint:
    advertiseAddress: $NODE_IP
    bindPort: 6443
  certificateKey: $JOIN_CERT_KEY
$(node_registration)
EOF
  log "$NODE: kubeadm join --control-plane via $JOIN_ENDPOINT"
  if ! PROGRESS_STATUS=kubeadm_phase run_with_progress "$NODE: kubeadm join" "$LOG_DIR/$NODE-kubeadm.log" \
      on_node env PATH="$K8S_BIN:$PATH" "$K8S_BIN/kubeadm" join --config "$NODE_DIR/kubeadm.yaml" \
      "${preflight[@]}" --v=1; then
    die "kubeadm join failed (logs: $LOG_DIR/$NODE-kubeadm.log, $LOG_DIR/$NODE-kubelet.log)"
  fi
}

wait_workloads() {
  wait_for 180 "node $NODE Ready" node_ready || die "node $NODE not Ready (log: $LOG_DIR/$NODE-kubelet.log)"
  wait_for 180 "kube-proxy running" bash -c "[[ \$('$K8S_BIN/kubectl' --kubeconfig='$HOST_KUBECONFIG' -n kube-system get ds kube-proxy -o jsonpath='{.status.numberReady}') -ge 1 ]]" \
    || die "kube-proxy did not become ready"
  # Pods need a service account in their namespace; it appears shortly after the namespace.
  wait_for 60 "default service account" kubectl_admin -n default get serviceaccount default
}

# A pod gets an address and a Service ClusterIP answers (through kube-proxy's rules) from the node.
smoke_test() {
  local ip
  kubectl_admin apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: testbed-smoke, namespace: default, labels: {app: testbed-smoke}}
spec:
  containers:
  - name: httpd
    image: localhost/kaudit-testbed-busybox:dev
    imagePullPolicy: Never
    command: [httpd, -f, -p, "8080", -h, /www]
---
apiVersion: v1
kind: Service
metadata: {name: testbed-smoke, namespace: default}
spec:
  selector: {app: testbed-smoke}
  ports: [{port: 80, targetPort: 8080}]
EOF
  kubectl_admin -n default wait --for=condition=Ready pod/testbed-smoke --timeout=120s >/dev/null \
    || die "smoke pod not Ready"
  ip="$(kubectl_admin -n default get svc testbed-smoke -o jsonpath='{.spec.clusterIP}')"
  wait_for 60 "Service $ip answers" on_node curl -fsS --max-time 2 "http://$ip/" \
    || die "Service ClusterIP $ip does not answer"
  log "$NODE: pod $(kubectl_admin -n default get pod testbed-smoke -o jsonpath='{.status.podIP}') serves through ClusterIP $ip"
  kubectl_admin -n default delete pod/testbed-smoke svc/testbed-smoke --wait=false >/dev/null
}

print_env() {
  echo "export KUBECONFIG=$HOST_KUBECONFIG"
  echo "export PATH=$K8S_BIN:\$PATH"
  echo "export KAUDIT_NODE_ROOT=$NODE_ROOT"
}

# One `up` or `down` of a node at a time. Daemons started under it close fd 8 (start_on_node).
take_lock() {
  [[ -n "${KAUDIT_NODE_LOCKED:-}" ]] && return 0
  mkdir -p "$KAUDIT_TESTBED"
  exec 8>"$KAUDIT_TESTBED/.node-$NODE.lock"
  flock 8
  export KAUDIT_NODE_LOCKED=1
}

cmd_up() {
  need_root
  take_lock
  need_k8s_bin kubeadm kubelet kubectl kube-apiserver
  local started
  started=$(date +%s)
  if healthy; then
    log "$NODE: healthy, reusing it"
    print_env
    return 0
  fi
  if [[ -d "$NODE_DIR" ]]; then
    log "$NODE: exists but is not healthy: tearing it down first"
    cmd_down
  fi
  mkdir -p "$NODE_DIR" "$LOG_DIR"
  setup_network
  setup_namespaces
  setup_cgroups
  start_containerd
  log "$NODE: importing images"
  "$HERE/images.sh" import "$HOST_SOCKET" >/dev/null
  start_kubelet_supervisor
  if [[ "$CLUSTER_MODE" == join ]]; then
    kubeadm_join
    wait_workloads
  else
    kubeadm_init
    wait_workloads
    smoke_test
  fi
  log "$NODE: ready in $(( $(date +%s) - started ))s; API server https://$NODE_IP:6443"
  print_env
}

# The agents' and API servers' own logs live in the node's /var/log/pods, which down removes
# with the node; a failed CI run is read afterwards from what stays in $LOG_DIR (the last bed's
# copy only: each down replaces it).
keep_pod_logs() {
  local pods="$NODE_ROOT/var/log/pods" kept="$LOG_DIR/$NODE-pods" dir
  [[ -d $pods ]] || return 0
  rm -rf "$kept"
  mkdir -p "$kept"
  for dir in "$pods"/kaudit-system_* "$pods"/kaudit-node_* "$pods"/kube-system_kube-apiserver-* "$pods"/kube-system_etcd-*; do
    [[ -d $dir ]] && cp -r "$dir" "$kept/"
  done
  log "$NODE: pod logs of kaudit, kube-apiserver and etcd kept in $kept"
}

cmd_down() {
  need_root
  take_lock
  if mountpoint -q "$MNT_NS" 2>/dev/null; then
    stop_pid "$RUN/kubelet-supervise.pid" "$NODE-kubelet-supervise"
    stop_pid "$RUN/kubelet.pid" "$NODE-kubelet"
    keep_pod_logs
    if pid_alive "$RUN/containerd.pid" && [[ -e /run/netns/$NETNS ]]; then
      log "$NODE: kubeadm reset"
      on_node env PATH="$K8S_BIN:$PATH" "$K8S_BIN/kubeadm" reset -f --cri-socket "$CRI_SOCKET" \
        >>"$LOG_DIR/$NODE-kubeadm.log" 2>&1 || log "$NODE: kubeadm reset failed (see log); cleaning up anyway"
    fi
    stop_pid "$RUN/containerd.pid" "$NODE-containerd"
  fi
  kill_node_pids
  teardown_namespaces
  teardown_cgroups
  teardown_network
  rm -rf "$NODE_DIR"
  rmdir "$KAUDIT_TESTBED/nodes" 2>/dev/null || true
  rm -f "$HOST_KUBECONFIG"
  if [[ ! -d "$KAUDIT_TESTBED/nodes" ]]; then
    rmdir "$(dirname "$HOST_KUBECONFIG")" 2>/dev/null || true
    if [[ -f "$KAUDIT_TESTBED/created-host-dirs" ]]; then
      tac "$KAUDIT_TESTBED/created-host-dirs" | while read -r d; do rmdir "$d" 2>/dev/null || true; done
      rm -f "$KAUDIT_TESTBED/created-host-dirs"
    fi
  fi
  log "$NODE: down; logs kept in $LOG_DIR"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) healthy ;;
  env) print_env ;;
  exec) shift; on_node "$@" ;;
  path) echo "$NODE_ROOT${2:?usage: $0 path /node/path}" ;;
  *) echo "usage: $0 up|down|status|env|exec CMD...|path PATH" >&2; exit 2 ;;
esac
