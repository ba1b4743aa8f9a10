"""same_pod: which differences between two manifests count as drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaudit.manifest import same_pod

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
POD = """\
apiVersion: v1
kind: Pod
metadata:
  annotations:
    kaudit.io/config-hash: "sha256:1"
  name: kube-apiserver
spec:
  containers:
  - command:
    - kube-apiserver
    - --allow-privileged=true
    - --audit-log-path=/var/log/audit/audit.log
    - --secure-port=6443
    name: kube-apiserver
    volumeMounts:
    - mountPath: /var/log/audit
      name: audit-logs
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
  volumes:
  - hostPath:
      path: /var/log/kubernetes/audit
    name: audit-logs
  - hostPath:
      path: /etc/kubernetes/pki
    name: k8s-certs
"""


def moved(text: str, line: str, after: str) -> str:
    """The text with one line moved to just after another."""
    lines = text.splitlines(keepends=True)
    lines.remove(line + "\n")
    index = lines.index(after + "\n") + 1
    return "".join([*lines[:index], line + "\n", *lines[index:]])


def test_kubeadm_order_of_the_audit_flags_and_volumes_is_the_same_pod() -> None:
    kubeadm = (FIXTURES / "kubeadm-kube-apiserver.yaml").read_text()
    by_kubeadm = (FIXTURES / "kubeadm-kube-apiserver-upgraded-with-audit.yaml").read_text()
    flag = "    - --audit-log-maxage=30"
    sorted_in = moved(by_kubeadm, flag, "    - --allow-privileged=true")
    assert sorted_in != by_kubeadm
    assert same_pod(sorted_in, by_kubeadm)
    assert not same_pod(kubeadm, by_kubeadm)


def test_flags_volumes_and_mounts_in_another_order_are_the_same_pod() -> None:
    flags = moved(POD, "    - --allow-privileged=true", "    - --secure-port=6443")
    logs_mount = "    - mountPath: /var/log/audit\n      name: audit-logs\n"
    mounts = POD.replace(logs_mount, "").replace("  volumes:", logs_mount + "  volumes:")
    assert mounts != POD
    assert same_pod(flags, POD)
    assert same_pod(mounts, POD)


@pytest.mark.parametrize(
    ("what", "old", "new"),
    [
        ("a flag's value", "--secure-port=6443", "--secure-port=6444"),
        ("a flag removed", "    - --audit-log-path=/var/log/audit/audit.log\n", ""),
        ("the config-hash annotation", '"sha256:1"', '"sha256:2"'),
        ("a volume's path", "path: /var/log/kubernetes/audit", "path: /var/log/elsewhere"),
        (
            "a mount's name",
            "      name: audit-logs\n    - mountPath",
            "      name: x\n    - mountPath",
        ),
        ("the binary", "    - kube-apiserver\n", "    - /usr/local/bin/kube-apiserver\n"),
    ],
)
def test_any_other_difference_is_drift(what: str, old: str, new: str) -> None:
    changed = POD.replace(old, new, 1)
    assert changed != POD, what
    assert not same_pod(changed, POD), what


def test_order_counts_where_it_means_something() -> None:
    # A flag given twice: the last one wins.
    twice = POD.replace(
        "    - --secure-port=6443\n", "    - --secure-port=6443\n    - --v=2\n    - --v=4\n"
    )
    swapped = POD.replace(
        "    - --secure-port=6443\n", "    - --secure-port=6443\n    - --v=4\n    - --v=2\n"
    )
    assert not same_pod(twice, swapped)
    # A flag whose value is the next item.
    split = POD.replace("    - --secure-port=6443\n", "    - --secure-port\n    - '6443'\n")
    split_moved = moved(split, "    - --allow-privileged=true", "    - '6443'")
    assert not same_pod(split, split_moved)


def test_text_that_is_not_yaml_is_the_same_only_byte_for_byte() -> None:
    assert same_pod("a: [", "a: [")
    assert not same_pod("a: [", "a: [ ")
