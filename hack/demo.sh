#!/usr/bin/env bash
# make demo: the whole story on the local test bed. Install and build what it needs (make setup;
# seconds when done before), bring up a kubeadm node, deploy kaudit, turn audit logging on with
# one `kubectl apply`, and show what a user would look at; at the end, how long each step took.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
# shellcheck source=progress.sh
source "$REPO/hack/progress.sh"
if [[ -t 1 ]]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi
demo_started=$(date +%s)
timings=()
step_started=$demo_started
# took NAME: records how long the step since the last call took.
took() {
  local now
  now=$(date +%s)
  timings+=("$(printf '  %-44s %s' "$1" "$(format_duration $((now - step_started)))")")
  step_started=$now
}

say "Setup: Debian packages, Python, Kubernetes and etcd builds, images (make setup)"
bash hack/setup.sh --require-bed
took "setup (make setup)"

say "Test bed: a kubeadm control-plane node (make testbed-up)"
make -s testbed-up >/dev/null  # progress on stderr; the env lines it prints come next
eval "$(bash hack/testbed/node.sh env)"
kubectl get nodes -o wide
took "test bed up (make testbed-up)"

say "Deploy kaudit (make deploy)"
bash hack/deploy.sh
took "kaudit built and deployed (make deploy)"

say "kubectl apply -f examples/auditconfig.yaml   (the seed procedure's settings)"
started=$(date +%s)
kubectl apply -f examples/auditconfig.yaml
# What each node is doing while we wait (the API server restarts in between: then nothing answers).
node_phases() {
  local phases
  phases="$(kubectl get auditconfig cluster --request-timeout=3s \
    -o jsonpath='{range .status.nodeStatuses[*]}{.nodeName} {.phase}; {end}' 2>/dev/null)" \
    || { echo "the API server is restarting"; return; }
  echo "${phases%; }"
}
PROGRESS_STATUS=node_phases run_with_progress "kubectl wait auditconfig/cluster --for=condition=Ready" \
  "${KAUDIT_TESTBED:-/var/lib/kaudit-testbed}/logs/demo-wait.log" \
  kubectl wait auditconfig/cluster --for=condition=Ready --timeout=600s
echo "Ready after $(( $(date +%s) - started ))s"
took "kubectl apply to Ready"

say "kubectl get auditconfig -o wide"
kubectl get auditconfig -o wide

say "The node's entry in status.nodeStatuses"
kubectl get auditconfig cluster -o jsonpath='{.status.nodeStatuses[0]}' | python3 -m json.tool

say "kube-apiserver's audit flags on the node"
tr '\0' '\n' < "/proc/$(pgrep -f -- "--advertise-address=.*--audit-policy-file" | head -1)/cmdline" | grep -- --audit || true

say "A Secret created now is logged at Metadata, without its data"
kubectl create secret generic kaudit-demo --from-literal=password=hunter2 --dry-run=client -o yaml | kubectl apply -f - >/dev/null
sleep 2
log="$KAUDIT_NODE_ROOT/var/log/kubernetes/audit/kube-apiserver-audit.log"
grep '"resource":"secrets"' "$log" | grep '"name":"kaudit-demo"' | tail -1 | python3 -m json.tool
grep -q hunter2 "$log" && echo "!! the Secret's data is in the log" || echo "(the Secret's data is not in the log)"

say "The last three audit events on the node ($log)"
tail -n 3 "$log" | python3 -c 'import json,sys
for line in sys.stdin:
    e = json.loads(line)
    print(e["stageTimestamp"], e["level"], e["verb"], e["user"]["username"], e["requestURI"])'

took "the audit events shown"

say "Done in $(format_duration $(($(date +%s) - demo_started)))"
printf '%s\n' "${timings[@]}"
echo
echo "Turn it off again: kubectl patch auditconfig cluster --type=merge -p '{\"spec\":{\"enabled\":false}}'"
echo "Keep the bed for more: eval \"\$(make -s testbed-env)\"; remove it: make testbed-down"
