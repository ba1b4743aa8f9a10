"""The seed procedure (shared/seed/enable-k8s-audit-logs.md), done by hand on the bed's node.

This is what kaudit automates; doing it by hand on a real kubeadm node proves the bed can show
what the operator must achieve: the kubelet restarts the API server when the manifest changes,
audit events land in the node's /var/log/kubernetes/audit, the seed policy logs Secrets at
Metadata (without their data) and drops /healthz, and removing the flags turns it off again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.corpus import shared_file
from tests.testbed import BedNode

AUDIT_FLAGS = [
    "--audit-log-maxage=30",
    "--audit-log-maxbackup=1",
    "--audit-log-maxsize=100",
    "--audit-log-path=/var/log/audit/kube-apiserver-audit.log",
    "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
]
AUDIT_MOUNTS = [
    {"mountPath": "/var/log/audit", "name": "audit-logs"},
    {"mountPath": "/etc/kubernetes/audit-policy", "name": "audit-policy"},
]
AUDIT_VOLUMES = [
    {"hostPath": {"path": "/var/log/kubernetes/audit", "type": ""}, "name": "audit-logs"},
    {"hostPath": {"path": "/etc/kubernetes/audit-policy", "type": ""}, "name": "audit-policy"},
]
RESTART_TIMEOUT = 240.0


def wait_until(what: str, check: Callable[[], Any], timeout: float = RESTART_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def write_manifest_like_a_person(bed: BedNode, text: str) -> None:
    """Write a dot-file in the manifests folder (the kubelet ignores those), then rename."""
    temporary = bed.manifest_path.with_name(".kube-apiserver.yaml.edit")
    temporary.write_text(text)
    os.replace(temporary, bed.manifest_path)


def seed_manifest(original: str) -> str:
    """The seed's three edits: 5 flags, 2 volume mounts, 2 volumes."""
    pod = yaml.safe_load(original)
    container = pod["spec"]["containers"][0]
    container["command"].extend(AUDIT_FLAGS)
    container.setdefault("volumeMounts", []).extend(AUDIT_MOUNTS)
    pod["spec"].setdefault("volumes", []).extend(AUDIT_VOLUMES)
    return str(yaml.safe_dump(pod, default_flow_style=False, sort_keys=False))


def running_with_audit(bed: BedNode, enabled: bool) -> bool:
    """Exactly one kube-apiserver runs, its flags match `enabled`, and it answers /readyz."""
    processes = bed.apiserver_processes()
    if len(processes) != 1:
        return False
    has_flag = any(a.startswith("--audit-policy-file=") for a in processes[0][1])
    return has_flag == enabled and bed.readyz()


def audit_events(bed: BedNode) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(bed.audit_log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


@pytest.fixture
def restorable_manifest(bed: BedNode) -> Iterator[str]:
    """The node's original manifest; put back (and the API server awaited) whatever happens."""
    original = bed.manifest_path.read_text()
    policy_dir = bed.path("/etc/kubernetes/audit-policy")
    try:
        yield original
    finally:
        if bed.manifest_path.read_text() != original:
            write_manifest_like_a_person(bed, original)
            wait_until("the original API server", lambda: running_with_audit(bed, enabled=False))
        shutil.rmtree(policy_dir, ignore_errors=True)
        shutil.rmtree(bed.audit_log_dir, ignore_errors=True)
        shutil.rmtree(bed.path("/etc/kubernetes/tmp"), ignore_errors=True)


def test_seed_procedure_enables_audit_logging_and_reverts(
    bed: BedNode, restorable_manifest: str
) -> None:
    shared_file("seed", "enable-k8s-audit-logs.md")
    seed_policy = shared_file("seed", "apiserver-audit-policy.yaml").read_text()
    original = restorable_manifest
    assert running_with_audit(bed, enabled=False), "the bed must start without audit logging"

    # 1. Back the manifest up outside the manifests folder (a copy inside would be a 2nd pod).
    backup = bed.path("/etc/kubernetes/tmp/kube-apiserver.yaml")
    backup.parent.mkdir(parents=True, exist_ok=True)
    backup.write_text(original)
    # 2. The policy file.
    policy_file = bed.path("/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml")
    policy_file.parent.mkdir(parents=True, exist_ok=True)
    policy_file.write_text(seed_policy)
    # 3. Flags, mounts, volumes.
    write_manifest_like_a_person(bed, seed_manifest(original))

    # Events of this run only: the folder may hold older logs (another test, another policy).
    enabled_after = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    wait_until("the API server restarted with audit flags", lambda: running_with_audit(bed, True))
    log_file = bed.audit_log_dir / "kube-apiserver-audit.log"
    wait_until(f"audit events in {log_file}", lambda: log_file.is_file() and audit_events(bed))
    assert bed.kubectl("get", "namespaces").returncode == 0

    for _ in range(3):
        assert bed.kubectl("get", "--raw", "/healthz").stdout.strip() == "ok"
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    name = f"seed-{uuid.uuid4().hex[:8]}"
    bed.kubectl("create", "secret", "generic", name, f"--from-literal=password={secret_value}")
    try:

        def secret_create_events() -> list[dict[str, Any]]:
            return [
                e
                for e in audit_events(bed)
                if e.get("verb") == "create"
                and e.get("objectRef", {}).get("resource") == "secrets"
                and e.get("objectRef", {}).get("name") == name
            ]

        events = wait_until("the Secret's create event", secret_create_events, timeout=60)
        assert {e["level"] for e in events} == {"Metadata"}
        assert all("requestObject" not in e and "responseObject" not in e for e in events)
        assert {e["stage"] for e in events} == {"ResponseComplete"}
        raw = "".join(p.read_text(errors="replace") for p in bed.audit_log_dir.glob("*.log"))
        assert secret_value not in raw
        assert not [
            e
            for e in audit_events(bed)
            if e.get("requestURI", "").startswith("/healthz")
            and e.get("stageTimestamp", "") >= enabled_after
        ]
    finally:
        bed.kubectl("delete", "secret", name, "--ignore-not-found")

    # Revert: the backup goes back, and the API server runs without audit flags again.
    write_manifest_like_a_person(bed, backup.read_text())
    wait_until("the API server without audit flags", lambda: running_with_audit(bed, False))

    def mirror_pod_without_audit_flags() -> bool:
        # The kubelet replaces the mirror pod a moment after the new container runs.
        mirror = bed.kubectl_json("-n", "kube-system", "get", "pod", f"kube-apiserver-{bed.name}")
        command = mirror["spec"]["containers"][0]["command"]
        return not [a for a in command if a.startswith("--audit")]

    wait_until("the mirror pod without audit flags", mirror_pod_without_audit_flags, timeout=90)
    assert bed.manifest_path.read_text() == original
    assert bed.kubectl("get", "namespaces").returncode == 0
