"""kaudit deployed on the bed from deploy/, with the image built from the Dockerfile.

One AuditConfig goes through its life in order, as a user would drive it: enable with the seed
defaults, change the policy, refuse an invalid one, survive a hand edit, disable, enable again,
delete. Each step waits for what a user would wait for (`kubectl wait --for=condition=Ready`)
and checks what a user would check: the API server's flags, the node's audit log, the status.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.operator_support import CONFIG, KAUDIT, SEED_FLAGS, undeploy, wait_until
from tests.testbed import REPO_ROOT, BedNode

pytestmark = pytest.mark.e2e

# The controller (and the policy ConfigMaps) and the node agents, as deploy/ puts them.
POLICY_NAMESPACE = "kaudit-system"
KAUDIT_NAMESPACES = ("kaudit-system", "kaudit-node")


@pytest.fixture(scope="module")
def kubeadm_manifest(bed: BedNode) -> bytes:
    """kubeadm's manifest before kaudit touched it; an interrupted earlier run is undone first,
    with kaudit's own `node disable` (the manifest carries what to restore)."""
    if bed.kubectl("get", "auditconfig", "cluster", check=False).returncode == 0:
        bed.kubectl(
            "patch",
            "auditconfig",
            "cluster",
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
        bed.kubectl("delete", "auditconfig", "cluster", "--ignore-not-found", check=False)
    if b"kaudit.io/" in bed.manifest_path.read_bytes():
        subprocess.run([str(KAUDIT), "node", "disable", "--host-root", str(bed.root)], check=True)
        wait_until("kube-apiserver without audit flags", lambda: running_flags(bed) == set())
    original = bed.manifest_path.read_bytes()
    assert b"--audit-" not in original, "the bed's manifest already has audit flags"
    return original


@pytest.fixture(scope="module")
def deployed(bed: BedNode, kubeadm_manifest: bytes) -> Iterator[BedNode]:
    """`make deploy`: image from the Dockerfile into the node, deploy/ applied, pods ready."""
    subprocess.run(["make", "-s", "deploy"], cwd=REPO_ROOT, check=True, timeout=1800)
    yield bed
    # Leave the bed as found: no AuditConfig, kubeadm's own manifest.
    bed.kubectl(
        "delete",
        "auditconfig",
        "cluster",
        "--ignore-not-found",
        "--timeout=400s",
        check=False,
        timeout=420,
    )
    # The node had no audit log before this module; later tests read the folder afresh.
    for log_file in bed.audit_log_dir.glob("*"):
        log_file.unlink()
    undeploy(bed)
    if bed.manifest_path.read_bytes() != kubeadm_manifest:
        temporary = bed.manifest_path.with_name(".kube-apiserver.yaml.e2e-restore")
        temporary.write_bytes(kubeadm_manifest)
        temporary.replace(bed.manifest_path)


def apply(bed: BedNode, spec: str) -> subprocess.CompletedProcess[str]:
    return bed.kubectl("apply", "-f", "-", input=CONFIG.format(spec=spec), check=False)


def wait_ready(bed: BedNode) -> float:
    """`kubectl wait --for=condition=Ready`, as a user or a GitOps tool would; returns seconds."""
    started = time.monotonic()

    def ready() -> bool:
        result = bed.kubectl(
            "wait", "auditconfig/cluster", "--for=condition=Ready", "--timeout=20s", check=False
        )
        return result.returncode == 0

    wait_until("AuditConfig Ready for its current generation", ready)
    return time.monotonic() - started


def running_flags(bed: BedNode) -> set[str]:
    processes = bed.apiserver_processes()
    assert len(processes) == 1, processes
    return {arg for arg in processes[0][1] if arg.startswith("--audit")}


def audit_events(bed: BedNode) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(bed.audit_log_dir.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.strip():
                events.append(json.loads(line))
    return events


def find_events(bed: BedNode, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    return [event for event in audit_events(bed) if predicate(event)]


def entry(bed: BedNode) -> dict[str, Any]:
    body = bed.kubectl_json("get", "auditconfig", "cluster")
    (found,) = [e for e in body["status"]["nodeStatuses"] if e["nodeName"] == bed.name]
    return dict(found)


def test_enable_with_the_seed_defaults(deployed: BedNode) -> None:
    bed = deployed
    result = apply(bed, "  enabled: true\n")
    assert result.returncode == 0, result.stderr
    seconds = wait_ready(bed)
    print(f"kubectl apply -> Ready (enable, seed defaults): {seconds:.1f}s")

    assert running_flags(bed) == SEED_FLAGS
    status = bed.kubectl_json("get", "auditconfig", "cluster")["status"]
    assert status["nodesReady"] == "1/1"
    assert status["phase"] == "Enabled"
    node = entry(bed)
    assert node["phase"] == "Applied"
    assert node["configHash"] == status["targetConfigHash"]
    assert node["auditLogSizeBytes"] > 0
    assert node["newestBackup"].startswith("/etc/kubernetes/tmp/kaudit/kaudit-kube-apiserver.yaml.")
    table = bed.kubectl("get", "auditconfig").stdout.splitlines()[1].split()
    assert table[:6] == ["cluster", "true", "preset", "Recommended", "1/1", "Enabled"]

    # The policy decides what is logged: a Secret at Metadata without its data, no /healthz.
    name = f"kaudit-e2e-{uuid.uuid4().hex[:6]}"
    bed.kubectl("create", "secret", "generic", name, "-n", "default", "--from-literal=token=s3cr3t")
    created = wait_until(
        "the Secret's create event",
        lambda: find_events(
            bed,
            lambda e: (
                e.get("verb") == "create"
                and e.get("objectRef", {}).get("name") == name
                and e.get("objectRef", {}).get("resource") == "secrets"
            ),
        ),
        timeout=60,
    )
    assert {e["level"] for e in created} == {"Metadata"}
    assert all("requestObject" not in e and "responseObject" not in e for e in created)
    assert "s3cr3t" not in "".join(
        p.read_text(errors="replace") for p in bed.audit_log_dir.glob("*.log")
    )
    bed.kubectl("get", "--raw", "/healthz")
    assert not find_events(bed, lambda e: e.get("requestURI", "").startswith("/healthz"))
    bed.kubectl("delete", "secret", name, "-n", "default")


def test_a_policy_change_restarts_the_api_server_with_the_new_behaviour(deployed: BedNode) -> None:
    bed = deployed
    pid_before = bed.apiserver_processes()[0][0]
    result = apply(bed, "  policy:\n    preset: Metadata\n")
    assert result.returncode == 0, result.stderr
    seconds = wait_ready(bed)
    print(f"kubectl apply -> Ready (policy change): {seconds:.1f}s")
    assert bed.apiserver_processes()[0][0] != pid_before
    # Recommended logs a namespace create at RequestResponse; Metadata logs it without bodies.
    name = f"kaudit-e2e-{uuid.uuid4().hex[:6]}"
    bed.kubectl("create", "namespace", name)
    created = wait_until(
        "the namespace's create event",
        lambda: find_events(
            bed,
            lambda e: (
                e.get("verb") == "create"
                and e.get("objectRef", {}).get("resource") == "namespaces"
                and e.get("objectRef", {}).get("name") == name
            ),
        ),
        timeout=60,
    )
    assert {e["level"] for e in created} == {"Metadata"}
    bed.kubectl("delete", "namespace", name, "--wait=false")


def test_an_invalid_policy_is_refused_at_apply_and_the_node_is_untouched(deployed: BedNode) -> None:
    bed = deployed
    before = bed.manifest_path.stat()
    result = apply(
        bed,
        "  policy:\n    rules:\n      - level: Metadata\n        nonResourceURLs: ['/api/*/x']\n",
    )
    assert result.returncode != 0
    assert "denied the request" in result.stderr
    assert "rules[0].nonResourceURLs[0]" in result.stderr
    time.sleep(10)
    after = bed.manifest_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes of YAML whose aliases expand to width**levels strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        refs = ",".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(
        [
            "apiVersion: audit.k8s.io/v1",
            "kind: Policy",
            *lines,
            "rules:",
            "  - level: Metadata",
            f"    users: *a{levels - 1}",
            "",
        ]
    )


def kaudit_containers(bed: BedNode) -> dict[str, dict[str, Any]]:
    """The controller's and the agents' container statuses, by pod name."""
    found: dict[str, dict[str, Any]] = {}
    for namespace in KAUDIT_NAMESPACES:
        for pod in bed.kubectl_json("get", "pods", "-n", namespace)["items"]:
            for status in pod["status"].get("containerStatuses", []):
                found[pod["metadata"]["name"]] = status
    return found


def peak_memory_bytes(container_id: str) -> int:
    """The container's peak memory, from the cgroup of its processes as the host sees it
    (cgroup v1 memory.max_usage_in_bytes, v2 memory.peak): the figure its limit is held to."""
    wanted = container_id.rsplit("://", maxsplit=1)[-1]
    for proc in Path("/proc").iterdir():
        try:
            lines = (proc / "cgroup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            _, controllers, path = line.split(":", 2)
            if not path.endswith(wanted):
                continue
            if "memory" in controllers.split(","):
                return int(
                    Path(f"/sys/fs/cgroup/memory{path}/memory.max_usage_in_bytes").read_text()
                )
            if controllers == "":
                return int(Path(f"/sys/fs/cgroup{path}/memory.peak").read_text())
    raise AssertionError(f"no process of container {wanted} found on the host")


def test_an_alias_bomb_in_the_policy_configmap_is_reported_and_nothing_falls_over(
    deployed: BedNode,
) -> None:
    bed = deployed
    good = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: Metadata\n"
    bomb = billion_laughs()
    assert len(bomb.encode()) < 700
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "e2e-policy", "namespace": POLICY_NAMESPACE},
        "data": {"policy.yaml": good},
    }
    bed.kubectl("apply", "-f", "-", input=json.dumps(configmap))
    spec = (
        "  policy:\n    configMapRef:\n"
        f"      namespace: {POLICY_NAMESPACE}\n      name: e2e-policy\n      key: policy.yaml\n"
    )
    assert apply(bed, spec).returncode == 0
    wait_ready(bed)
    before = kaudit_containers(bed)
    manifest_before = bed.manifest_path.read_bytes()

    configmap["data"] = {"policy.yaml": bomb}
    bed.kubectl("apply", "-f", "-", input=json.dumps(configmap))

    def policy_invalid() -> str | None:
        conditions = bed.kubectl_json("get", "auditconfig", "cluster")["status"]["conditions"]
        stalled = [c for c in conditions if c["type"] == "Stalled" and c["status"] == "True"]
        if stalled and stalled[0]["reason"] == "PolicyInvalid":
            return str(stalled[0]["message"])
        return None

    message = wait_until("the AuditConfig to report the alias bomb", policy_invalid, timeout=120)
    print(f"reported: {message}")
    assert "alias" in message
    time.sleep(20)  # long enough for a runaway expansion to reach the containers' limits
    after = kaudit_containers(bed)
    assert set(after) == set(before), "a kaudit pod went away"
    for name, status in after.items():
        assert status["restartCount"] == before[name]["restartCount"], (name, status)
        assert status["ready"], (name, status)
        peak = peak_memory_bytes(status["containerID"])
        print(f"{name}: peak memory {peak / 2**20:.0f} MiB")
        assert peak < 256 * 2**20, f"{name} peaked at {peak} bytes, its limit is 256 MiB"
    assert bed.manifest_path.read_bytes() == manifest_before

    configmap["data"] = {"policy.yaml": good}
    bed.kubectl("apply", "-f", "-", input=json.dumps(configmap))
    assert apply(bed, "  enabled: true\n").returncode == 0
    wait_ready(bed)
    bed.kubectl("delete", "configmap", "e2e-policy", "-n", POLICY_NAMESPACE)


def test_a_hand_edit_that_removes_the_audit_flags_is_corrected(deployed: BedNode) -> None:
    bed = deployed

    def flag_items() -> list[str]:
        # List items only: the flag names also appear in kaudit's restore annotation.
        return [
            line.strip()
            for line in bed.manifest_path.read_text().splitlines()
            if line.lstrip().startswith("- --audit-")
        ]

    assert len(flag_items()) == 5
    # What a person does: delete the five flag lines (kaudit's annotations stay).
    edited = "".join(
        line
        for line in bed.manifest_path.read_text().splitlines(keepends=True)
        if not line.lstrip().startswith("- --audit-")
    )
    temporary = bed.manifest_path.with_name(".kube-apiserver.yaml.hand-edit")
    temporary.write_text(edited)
    temporary.replace(bed.manifest_path)
    edited_at = time.monotonic()
    # On one node the edit itself restarts the only API server; the agent corrects the file
    # once it can read the AuditConfig and take the rollout turn again.
    wait_until("the agent to put the audit flags back", lambda: len(flag_items()) == 5)
    print(f"hand edit -> flags back in the manifest: {time.monotonic() - edited_at:.1f}s")

    def reasons() -> set[str]:
        items = bed.kubectl_json(
            "get", "events", "-n", "default", "--field-selector", "involvedObject.name=cluster"
        )["items"]
        return {e["reason"] for e in items}

    wait_until("a DriftCorrected event", lambda: "DriftCorrected" in reasons(), timeout=120)
    wait_ready(bed)
    assert running_flags(bed) == SEED_FLAGS


def test_disable_restores_kubeadms_manifest_byte_for_byte(
    deployed: BedNode, kubeadm_manifest: bytes
) -> None:
    bed = deployed
    kubeadm = kubeadm_manifest
    result = apply(bed, "  enabled: false\n")
    assert result.returncode == 0, result.stderr
    seconds = wait_ready(bed)
    print(f"kubectl apply -> Ready (disable): {seconds:.1f}s")
    assert bed.manifest_path.read_bytes() == kubeadm
    assert running_flags(bed) == set()
    assert entry(bed)["phase"] == "Disabled"
    assert not bed.path("/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml").exists()
    sizes = {p: p.stat().st_size for p in bed.audit_log_dir.glob("*.log")}
    bed.kubectl("get", "namespaces")
    time.sleep(5)
    assert {p: p.stat().st_size for p in bed.audit_log_dir.glob("*.log")} == sizes


def test_deleting_the_auditconfig_turns_audit_off_before_it_goes(
    deployed: BedNode, kubeadm_manifest: bytes
) -> None:
    bed = deployed
    kubeadm = kubeadm_manifest
    assert apply(bed, "  enabled: true\n").returncode == 0
    wait_ready(bed)
    assert running_flags(bed) == SEED_FLAGS
    result = bed.kubectl(
        "delete", "auditconfig", "cluster", "--timeout=400s", check=False, timeout=420
    )
    assert result.returncode == 0, result.stderr
    assert bed.manifest_path.read_bytes() == kubeadm
    wait_until("kube-apiserver without audit flags", lambda: running_flags(bed) == set())
