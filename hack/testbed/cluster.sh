#!/usr/bin/env bash
# Several control-plane nodes behind a load balancer (NODES, default 3):
#
#   cluster.sh up      HAProxy in netns kaudit-lb (10.231.0.10:6443), then cp-1 (kubeadm init
#                      --upload-certs, controlPlaneEndpoint 10.231.0.10:6443) and cp-2..cpN
#                      (kubeadm join --control-plane), each a node.sh node in its own namespaces
#   cluster.sh down    every node down (last joined first), HAProxy stopped, its netns removed
#   cluster.sh status  every node Ready and the API answers through the load balancer
#   cluster.sh env     the same lines as node.sh env (the cluster's kubeconfig names the LB)
#   cluster.sh down-all  every node found under $KAUDIT_TESTBED/nodes and the LB (`make testbed-down`)
#
# The single-node bed (node.sh, `make testbed-up`) is unchanged; this is `make testbed-up NODES=3`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

NODES="${NODES:-3}"
# FIRST_INDEX/CLUSTER_KUBECONFIG let a second cluster (cp-5..cp-7, say) run beside the usual cp-1.
FIRST_INDEX="${FIRST_INDEX:-1}"
LAST_INDEX=$((FIRST_INDEX + NODES - 1))
BRIDGE="kaudit0"
BRIDGE_IP="10.231.0.1"
LB_NETNS="kaudit-lb"
LB_VETH="kb-lb"
LB_IP="10.231.0.10"
LB_DIR="$KAUDIT_TESTBED/cluster"
KUBECONFIG_PATH="${CLUSTER_KUBECONFIG:-$KAUDIT_TESTBED/kubeconfig/admin.conf}"
FORWARD_RULE=(FORWARD -i "$BRIDGE" ! -o "$BRIDGE" -m comment --comment kaudit-testbed -j DROP)

node_sh() {
  local i="$1"
  shift
  NODE="cp-$i" NODE_INDEX="$i" KAUDIT_KUBECONFIG="$KUBECONFIG_PATH" \
    CONTROL_PLANE_ENDPOINT="$LB_IP:6443" EXTRA_SANS="$LB_IP" bash "$HERE/node.sh" "$@"
}

lb_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_IP/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  iptables -C "${FORWARD_RULE[@]}" 2>/dev/null || iptables -I "${FORWARD_RULE[@]}"
  if [[ ! -e "/run/netns/$LB_NETNS" ]]; then
    # node.sh records whether /run/netns was a mount point before the bed; do it here too.
    if ! mountpoint -q /run/netns 2>/dev/null && [[ ! -f "$KAUDIT_TESTBED/created-run-netns-mount" ]]; then
      mkdir -p "$KAUDIT_TESTBED"
      if [[ -d /run/netns ]]; then echo mount >"$KAUDIT_TESTBED/created-run-netns-mount"
      else echo dir >"$KAUDIT_TESTBED/created-run-netns-mount"; fi
    fi
    ip netns add "$LB_NETNS"
    ip link add "$LB_VETH" type veth peer name eth0 netns "$LB_NETNS"
    ip link set "$LB_VETH" master "$BRIDGE" up
    ip -n "$LB_NETNS" addr add "$LB_IP/24" dev eth0
    ip -n "$LB_NETNS" link set eth0 up
    ip -n "$LB_NETNS" link set lo up
  fi
  mkdir -p "$LB_DIR" "$LOG_DIR"
  {
    cat <<CFG
# kube-apiservers of the bed's control-plane nodes; TCP passthrough, /readyz health checks.
global
  maxconn 2000
defaults
  mode tcp
  timeout connect 3s
  timeout client 1h
  timeout server 1h
frontend kube-apiserver
  bind $LB_IP:6443
  default_backend control-plane
backend control-plane
  option httpchk GET /readyz
  http-check expect status 200
  default-server check check-ssl verify none inter 1s fall 2 rise 1
CFG
    local i
    for i in $(seq "$FIRST_INDEX" "$LAST_INDEX"); do echo "  server cp-$i 10.231.0.$((10 + i)):6443"; done
  } >"$LB_DIR/haproxy.cfg"
  if pid_alive "$LB_DIR/haproxy.pid"; then return 0; fi
  ip netns exec "$LB_NETNS" setsid sh -c 'echo $$ >"$0"; exec haproxy -db -f "$1"' \
    "$LB_DIR/haproxy.pid" "$LB_DIR/haproxy.cfg" </dev/null >>"$LOG_DIR/lb-haproxy.log" 2>&1 8>&- &
  wait_for 10 "haproxy" pid_alive "$LB_DIR/haproxy.pid" || die "haproxy did not start (log: $LOG_DIR/lb-haproxy.log)"
  log "lb: haproxy on $LB_IP:6443 for $NODES nodes"
}

lb_down() {
  stop_pid "$LB_DIR/haproxy.pid" lb-haproxy
  ip netns del "$LB_NETNS" 2>/dev/null || true
  ip link del "$LB_VETH" 2>/dev/null || true
  rm -rf "$LB_DIR"
}

cmd_up() {
  need_root
  local started i
  started=$(date +%s)
  if [[ -d "$KAUDIT_TESTBED/nodes/cp-$FIRST_INDEX" && ! -s "$LB_DIR/join.env" ]]; then
    die "cp-$FIRST_INDEX runs as a single-node bed: 'make testbed-down' first"
  fi
  lb_up
  CLUSTER_MODE=init node_sh "$FIRST_INDEX" up >/dev/null
  for i in $(seq $((FIRST_INDEX + 1)) "$LAST_INDEX"); do
    # shellcheck disable=SC2209  # an environment assignment for one call of a function
    CLUSTER_MODE=join node_sh "$i" up >/dev/null
  done
  pod_routes
  log "cluster: $NODES control-plane nodes ready in $(( $(date +%s) - started ))s behind https://$LB_IP:6443"
  "$K8S_BIN/kubectl" --kubeconfig="$KUBECONFIG_PATH" get nodes -o wide >&2
  node_sh "$FIRST_INDEX" env
}

# No overlay network: every node routes the other nodes' pod subnets to those nodes over the
# bridge (host-gw style). Without it a pod on cp-1 reaches the kubernetes Service only when
# kube-proxy picks cp-1's own API server, and times out for the other two.
pod_routes() {
  local i j
  for i in $(seq "$FIRST_INDEX" "$LAST_INDEX"); do
    for j in $(seq "$FIRST_INDEX" "$LAST_INDEX"); do
      [[ "$i" == "$j" ]] && continue
      ip -n "kaudit-cp-$i" route replace "10.232.$j.0/24" via "10.231.0.$((10 + j))"
    done
  done
}

cmd_down() {
  need_root
  local i
  for i in $(seq "$LAST_INDEX" -1 $((FIRST_INDEX + 1))); do node_sh "$i" down || true; done
  lb_down
  node_sh "$FIRST_INDEX" down || true
}

# Every node the bed has (single or clustered), highest index first, with the load balancer kept
# until only the lowest is left (joined nodes leave etcd through it), then the LB, then the last.
cmd_down_all() {
  need_root
  local dirs=() idx=() i n
  shopt -s nullglob
  dirs=("$KAUDIT_TESTBED"/nodes/cp-*)
  for n in "${dirs[@]}"; do idx+=("${n##*/cp-}"); done
  mapfile -t idx < <(printf '%s\n' "${idx[@]}" | sort -rn)
  for ((i = 0; i < ${#idx[@]}; i++)); do
    if (( i == ${#idx[@]} - 1 )); then lb_down; fi
    NODE="cp-${idx[$i]}" NODE_INDEX="${idx[$i]}" bash "$HERE/node.sh" down || true
  done
  if (( ${#idx[@]} == 0 )); then lb_down; fi
}

cmd_status() {
  local i
  for i in $(seq "$FIRST_INDEX" "$LAST_INDEX"); do node_sh "$i" status || return 1; done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  down-all) cmd_down_all ;;
  status) cmd_status ;;
  env) node_sh "$FIRST_INDEX" env ;;
  *) echo "usage: NODES=3 $0 up|down|status|env" >&2; exit 2 ;;
esac
