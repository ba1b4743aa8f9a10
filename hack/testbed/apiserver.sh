#!/usr/bin/env bash
# Tier 1 of the test bed: a real kube-apiserver and a real etcd as local processes on loopback.
#
#   apiserver.sh up       start (or reuse a healthy) etcd + kube-apiserver; prints the env lines
#   apiserver.sh down     stop both by PID, remove the state (logs are kept); left running
#                         while a pytest session uses it, unless `down --force`
#   apiserver.sh status   exit 0 when /readyz answers
#   apiserver.sh env      print `export KUBECONFIG=... PATH=...`
#
# Layout ($KAUDIT_TIER1_DIR, default $KAUDIT_TESTBED/tier1):
#   pki/                CA, serving cert, service-account keys, client certs (openssl)
#   kubeconfig/admin.conf    system:masters
#   kubeconfig/alice.conf    user alice, no groups (sees nothing until RBAC grants it)
#   kubeconfig/bob.conf      user bob in group kaudit:testers
#   etcd-data/  run/*.pid
# Logs: $KAUDIT_TESTBED/logs/tier1-{etcd,kube-apiserver}.log
#
# etcd: the 3.6.5 that build-etcd.sh builds (what kubeadm 1.34 deploys); Debian's etcd-server
# 3.4.23 as a fallback, which also works here (kube-apiserver logs "RequestWatchProgress feature
# is not supported" and serves consistent lists from etcd instead). Plain HTTP on loopback:
# nothing but this apiserver talks to it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

DIR="${KAUDIT_TIER1_DIR:-$KAUDIT_TESTBED/tier1}"
ETCD_PORT="${KAUDIT_TIER1_ETCD_PORT:-23790}"
ETCD_PEER_PORT="$((ETCD_PORT + 1))"
API_PORT="${KAUDIT_TIER1_API_PORT:-16443}"
SERVER="https://127.0.0.1:$API_PORT"
ETCD_BIN="${ETCD_BIN:-$ETCD_BUILT}"
[[ -x "$ETCD_BIN" ]] || ETCD_BIN="$(command -v etcd || echo /usr/bin/etcd)"

pki="$DIR/pki"
kc="$DIR/kubeconfig"
run="$DIR/run"

ready() {
  curl -fsS --max-time 2 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "$SERVER/readyz" >/dev/null 2>&1
}

etcd_healthy() {
  curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'
}

# make_client_cert NAME CN [O]: a client certificate signed by the bed's CA.
make_client_cert() {
  local name="$1" cn="$2" org="${3:-}" subj
  subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/$name.key" -subj "$subj" \
    -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 365 -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n') \
    -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr"
}

make_kubeconfig() {
  local name="$1" user="$2"
  cat >"$kc/$name.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kaudit-tier1
  cluster:
    server: $SERVER
    certificate-authority: $pki/ca.crt
users:
- name: $user
  user:
    client-certificate: $pki/$name.crt
    client-key: $pki/$name.key
contexts:
- name: $user@kaudit-tier1
  context: {cluster: kaudit-tier1, user: $user}
current-context: $user@kaudit-tier1
EOF
}

make_pki() {
  [[ -s "$pki/admin.crt" && -s "$kc/bob.conf" ]] && return 0
  log "tier1: generating certificates in $pki"
  mkdir -p "$pki" "$kc"
  openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -days 3650 \
    -subj "/CN=kaudit-tier1-ca" -out "$pki/ca.crt" 2>/dev/null
  openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/apiserver.key" \
    -subj "/CN=kube-apiserver" -out "$pki/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
    -CAcreateserial -days 365 -out "$pki/apiserver.crt" -extfile <(cat <<EOF
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature,keyEncipherment
EOF
) 2>/dev/null
  rm -f "$pki/apiserver.csr"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
  make_client_cert admin kubernetes-admin system:masters
  make_client_cert alice alice
  make_client_cert bob bob kaudit:testers
  make_kubeconfig admin kubernetes-admin
  make_kubeconfig alice alice
  make_kubeconfig bob bob
  chmod 600 "$pki"/*.key
}

start_etcd() {
  if pid_alive "$run/etcd.pid" && etcd_healthy; then return 0; fi
  stop_pid "$run/etcd.pid" tier1-etcd
  log "tier1: starting etcd ($("$ETCD_BIN" --version | head -1)) on 127.0.0.1:$ETCD_PORT"
  mkdir -p "$DIR/etcd-data" "$run" "$LOG_DIR"
  chmod 700 "$DIR/etcd-data"
  # setsid: the process outlives the shell (and pytest) that started it; its PID is recorded.
  setsid "$ETCD_BIN" --name tier1 --data-dir "$DIR/etcd-data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "tier1=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 2147483648 \
    </dev/null >>"$LOG_DIR/tier1-etcd.log" 2>&1 8>&- &
  echo $! >"$run/etcd.pid"
  wait_for 30 "tier1 etcd /health" etcd_healthy || {
    tail -20 "$LOG_DIR/tier1-etcd.log" >&2
    die "tier1 etcd did not become healthy (log: $LOG_DIR/tier1-etcd.log)"
  }
}

start_apiserver() {
  if pid_alive "$run/kube-apiserver.pid" && ready; then return 0; fi
  stop_pid "$run/kube-apiserver.pid" tier1-kube-apiserver
  log "tier1: starting kube-apiserver $K8S_VERSION on $SERVER"
  setsid "$K8S_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --client-ca-file="$pki/ca.crt" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --api-audiences=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.0.0.0/24 \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --endpoint-reconciler-type=none \
    --v=1 \
    </dev/null >>"$LOG_DIR/tier1-kube-apiserver.log" 2>&1 8>&- &
  echo $! >"$run/kube-apiserver.pid"
  wait_for 90 "tier1 kube-apiserver /readyz" ready || {
    tail -30 "$LOG_DIR/tier1-kube-apiserver.log" >&2
    die "tier1 kube-apiserver did not become ready (log: $LOG_DIR/tier1-kube-apiserver.log)"
  }
}

print_env() {
  echo "export KUBECONFIG=$kc/admin.conf"
  echo "export PATH=$K8S_BIN:\$PATH"
}

# One `up` or `down` at a time (pytest sessions of several people may start tier 1 at once).
# The processes started under the lock must not inherit its descriptor (8>&-), or they would
# hold it for as long as they run.
take_lock() {
  mkdir -p "$KAUDIT_TESTBED"
  exec 8>"$KAUDIT_TESTBED/.tier1.lock"
  flock 8
}

cmd_up() {
  need_root
  take_lock
  need_k8s_bin kube-apiserver kubectl
  [[ -x "$ETCD_BIN" ]] || die "etcd not found: run 'make setup'"
  local started
  started=$(date +%s%N)
  make_pki
  start_etcd
  start_apiserver
  # The default service account's namespace objects appear a moment after /readyz; tests that
  # create namespaces right away are fine, so no further wait.
  log "tier1: ready at $SERVER in $(( ($(date +%s%N) - started) / 1000000 )) ms"
  print_env
}

# PIDs of live pytest sessions using tier 1 (tests/integration/conftest.py registers them).
live_sessions() {
  local f pid
  for f in "$KAUDIT_TESTBED"/tier1-sessions/pid-*; do
    [[ -e "$f" ]] || continue
    pid="${f##*/pid-}"
    kill -0 "$pid" 2>/dev/null && echo "$pid"
  done
}

cmd_down() {
  take_lock
  local users
  users="$(live_sessions | tr '\n' ' ')"
  if [[ -n "$users" && "${1:-}" != "--force" ]]; then
    log "tier1: in use by pytest session(s) $users: left running (down --force stops it anyway)"
    return 0
  fi
  stop_pid "$run/kube-apiserver.pid" tier1-kube-apiserver
  stop_pid "$run/etcd.pid" tier1-etcd
  rm -rf "$DIR"
  log "tier1: stopped; logs kept in $LOG_DIR"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down "${2:-}" ;;
  status) ready ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
