#!/usr/bin/env bash
# make deploy: build the image from the Dockerfile, load it into the bed's node, apply deploy/
# with only the image name changed, and wait for the controller, its webhook and the agents.
#
# The tag is a hash of what goes into the image, so a changed tree gets a new tag and the pods
# really restart (a fixed :dev tag with imagePullPolicy IfNotPresent would keep the old one).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
eval "$(bash hack/testbed/node.sh env)"
log() { echo "deploy: $*" >&2; }

tag="$( { cat Dockerfile pyproject.toml; find operator -type f \( -name '*.py' -o -name '*.yaml' -o -name py.typed \) | LC_ALL=C sort | xargs cat; } | sha256sum | cut -c1-12)"
image="localhost/kaudit:$tag"
# Every node of the cluster (one, or three with NODES=3) runs an agent: each node's containerd
# gets the image.
archive="${KAUDIT_CACHE:-/var/cache/kaudit}/images/kaudit-dev.tar"
built=""
for node in $(kubectl get nodes -o jsonpath='{.items[*].metadata.name}'); do
  socket="${KAUDIT_TESTBED:-/var/lib/kaudit-testbed}/nodes/$node/root/run/containerd/containerd.sock"
  if ctr --address "$socket" -n k8s.io images ls -q | grep -qx "$image"; then
    log "image $image already on $node"
    continue
  fi
  if [[ -z "$built" ]]; then
    KAUDIT_IMAGE="$image" bash hack/testbed/build-image.sh --no-import >/dev/null
    built=yes
  fi
  ctr --address "$socket" -n k8s.io images import "$archive" >/dev/null
  log "image $image imported into $node"
done

# A namespace still going away (a kubectl delete -k deploy/ just before) refuses new content:
# wait for it to be gone rather than fail half-applied.
for namespace in kaudit-system kaudit-node; do
  waited=0
  while [[ "$(kubectl get namespace "$namespace" -o jsonpath='{.status.phase}' 2>/dev/null)" == Terminating ]]; do
    if (( waited >= 300 )); then
      log "namespace $namespace is still terminating after ${waited}s; see kubectl get namespace $namespace -o yaml"
      exit 1
    fi
    (( waited % 15 == 0 )) && log "waiting for namespace $namespace to finish terminating (${waited}s)"
    sleep 3
    waited=$((waited + 3))
  done
done

# The agents moved from kaudit-system to kaudit-node: an agent left from an older deploy would
# be a second one on each node (apply does not prune it).
kubectl -n kaudit-system delete daemonset/kaudit-agent serviceaccount/kaudit-agent \
  role/kaudit-agent rolebinding/kaudit-agent lease/kaudit-rollout --ignore-not-found >/dev/null
kubectl kustomize deploy | sed "s#image: localhost/kaudit:dev#image: $image#" \
  | kubectl apply --server-side --force-conflicts -f - >/dev/null
kubectl wait --for=condition=Established crd/auditconfigs.kaudit.io --timeout=60s >/dev/null
kubectl -n kaudit-system rollout status deployment/kaudit-controller --timeout=300s
kubectl -n kaudit-node rollout status daemonset/kaudit-agent --timeout=300s
wait_started=$(date +%s)
next_word=$((wait_started + 15))
for _ in $(seq 1 90); do
  if (( $(date +%s) >= next_word )); then
    log "still waiting for the API server to reach the admission webhook ($(( $(date +%s) - wait_started ))s)"
    next_word=$(( $(date +%s) + 15 ))
  fi
  # The configuration is shipped without a CA bundle: wait until the controller has put its
  # bundle in. Then wait until the API server can really call it: right after the rollout,
  # kube-proxy may not have programmed the new Service yet, and an apply would time out.
  if [[ -n "$(kubectl get validatingwebhookconfiguration kaudit.io -o jsonpath='{.webhooks[*].clientConfig.caBundle}' 2>/dev/null)" ]] \
    && kubectl apply --dry-run=server -f examples/auditconfig.yaml --request-timeout=10s >/dev/null 2>&1; then
    log "kaudit $image is running; the API server reaches its admission webhook"
    exit 0
  fi
  sleep 2
done
log "the controller did not put its CA bundle into the webhook configuration; its log:"
kubectl -n kaudit-system logs deployment/kaudit-controller --tail=40 >&2 || true
exit 1
