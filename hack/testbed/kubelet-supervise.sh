#!/usr/bin/env bash
# Runs the kubelet the way kubeadm's systemd drop-in (10-kubeadm.conf) would, without systemd:
# waits until kubeadm has written /var/lib/kubelet/config.yaml and kubeadm-flags.env, starts the
# kubelet with those flags, and starts it again whenever it exits (kubeadm's kubelet-start phase
# expects a service manager that restarts it). Runs inside the node's namespaces.
#
# usage: kubelet-supervise.sh KUBELET_BINARY PIDFILE_FOR_KUBELET LOGFILE
set -uo pipefail
kubelet="$1" pidfile="$2" logfile="$3"
child=""

stop() {
  if [[ -n "$child" ]]; then
    kill -TERM "$child" 2>/dev/null
    wait "$child" 2>/dev/null
  fi
  rm -f "$pidfile"
  exit 0
}
trap stop TERM INT

while true; do
  if [[ -s /var/lib/kubelet/config.yaml && -s /var/lib/kubelet/kubeadm-flags.env ]]; then
    KUBELET_KUBEADM_ARGS=""
    # shellcheck disable=SC1091
    source /var/lib/kubelet/kubeadm-flags.env
    echo "$(date -Is) kubelet-supervise: starting kubelet $KUBELET_KUBEADM_ARGS" >>"$logfile"
    # shellcheck disable=SC2086
    "$kubelet" --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
      --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml \
      $KUBELET_KUBEADM_ARGS >>"$logfile" 2>&1 &
    child=$!
    echo "$child" >"$pidfile"
    wait "$child"
    echo "$(date -Is) kubelet-supervise: kubelet exited with $?" >>"$logfile"
    child=""
    rm -f "$pidfile"
    sleep 2
  else
    sleep 0.5
  fi
done
