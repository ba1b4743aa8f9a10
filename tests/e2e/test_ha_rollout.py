"""Three control-plane nodes behind HAProxy: one node at a time, health gate, rollback.

The bed is `make testbed-up NODES=3`: three kubeadm nodes (cp-1, cp-2, cp-3), each its own
kubelet, containerd and static-pod API server, joined with `kubeadm join --control-plane`, and
the API reached through HAProxy at 10.231.0.10:6443. kaudit is deployed from deploy/ with the
image built from the Dockerfile, as a user would.

Every test starts with no AuditConfig and kubeadm's manifests on all three nodes, and leaves
them so. Timings (rollout, API gap through the load balancer, rollback) are printed and kept in
$KAUDIT_TESTBED/logs/e2e-ha-timings.json for the record; no test asserts a duration.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kaudit.config import audit_config_spec_from_data
from kaudit.desired import desired_state
from kaudit.yamltext import YamlTextError, load_single_document
from tests.e2e.operator_support import CONFIG, KAUDIT, undeploy, wait_until
from tests.testbed import K8S_BIN, KAUDIT_TESTBED, REPO_ROOT, BedNode
from tests.unit.test_host import without_kaudit_annotations

pytestmark = pytest.mark.e2e

ROLLOUT_TIMEOUT = 900.0
POLICY_FLAG = "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
TIMINGS_FILE = KAUDIT_TESTBED / "logs" / "e2e-ha-timings.json"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def record_timing(name: str, value: Any) -> None:
    TIMINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(TIMINGS_FILE.read_text()) if TIMINGS_FILE.is_file() else {}
    data[name] = value
    TIMINGS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    print(f"timing {name}: {value}")


@dataclass
class Ha:
    nodes: list[BedNode]
    originals: dict[str, bytes] = field(default_factory=dict)

    @property
    def any(self) -> BedNode:
        return self.nodes[0]

    def node(self, name: str) -> BedNode:
        return next(n for n in self.nodes if n.name == name)

    def config(self) -> dict[str, Any] | None:
        """The AuditConfig, None when it does not exist; raises when the API did not answer."""
        result = self.any.kubectl("get", "auditconfig", "cluster", "-o", "json", check=False)
        if result.returncode == 0:
            body: dict[str, Any] = json.loads(result.stdout)
            return body
        if "(NotFound)" in result.stderr:
            return None
        raise AssertionError(f"kubectl get auditconfig cluster: {result.stderr.strip()}")

    def entries(self) -> dict[str, dict[str, Any]]:
        return entries_of(self.config() or {})

    def condition(self, kind: str) -> dict[str, Any]:
        body = self.config() or {}
        for condition in (body.get("status") or {}).get("conditions") or []:
            if condition["type"] == kind:
                return dict(condition)
        return {}

    def kubectl_until_accepted(self, *args: str, input: str | None = None) -> None:  # noqa: A002
        """Run a kubectl request until the API answers it, as a user at the terminal would.

        Through HAProxy a request can land on an API server that is shutting down for its
        restart (HAProxy notices only after two failed /readyz checks); kubectl does not retry
        a refused or reset connection. CI once lost a delete that way and then waited 15 min.
        """
        wait_until(
            f"kubectl {' '.join(args)} to be accepted",
            lambda: self.any.kubectl(*args, input=input),
            timeout=120,
            poll=1.0,
        )

    def apply(self, spec: str) -> None:
        self.kubectl_until_accepted("apply", "-f", "-", input=CONFIG.format(spec=spec))

    def wait_ready(self, timeout: float = ROLLOUT_TIMEOUT) -> float:
        started = time.monotonic()

        def ready() -> bool:
            result = self.any.kubectl(
                "wait", "auditconfig/cluster", "--for=condition=Ready", "--timeout=20s", check=False
            )
            return result.returncode == 0

        wait_until(
            "AuditConfig Ready on every node", ready, timeout=timeout, describe=self.describe
        )
        return time.monotonic() - started

    def describe(self) -> str:
        """The AuditConfig's status as `kubectl describe` would show it, for a failed wait."""
        body = self.config()
        if body is None:
            return "AuditConfig cluster: not found"
        status = body.get("status") or {}
        lines = [f"AuditConfig cluster, generation {body['metadata'].get('generation')}:"]
        for condition in status.get("conditions") or []:
            lines.append(
                f"  condition {condition['type']}={condition['status']} "
                f"({condition.get('reason', '')}): {condition.get('message', '')}"
            )
        for name, entry in sorted(entries_of(body).items()):
            lines.append(
                f"  {name}: {entry.get('phase')} (generation {entry.get('observedGeneration')}): "
                f"{entry.get('message', '')}"
            )
            if entry.get("lastFailedReason"):
                lines.append(f"    lastFailedReason: {entry['lastFailedReason']}")
        return "\n".join(lines)

    def delete_and_wait(self) -> None:
        """Delete the AuditConfig; its finalizer holds it until every node has audit off."""
        self.kubectl_until_accepted(
            "delete", "auditconfig", "cluster", "--ignore-not-found", "--wait=false"
        )
        wait_until(
            "the AuditConfig to be gone",
            lambda: self.config() is None,
            ROLLOUT_TIMEOUT,
            describe=self.describe,
        )

    def reported_running(self, node: BedNode) -> dict[str, Any] | None:
        """The node's mirror pod once its kubelet reports the container running, else None."""
        pod = self.mirror_pod(node)
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if (status.get("state") or {}).get("running", {}).get("startedAt"):
                return pod
        return None

    def mirror_pod(self, node: BedNode) -> dict[str, Any]:
        pod: dict[str, Any] = self.any.kubectl_json(
            "get", "pod", "-n", "kube-system", f"kube-apiserver-{node.name}"
        )
        return pod


def entries_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An AuditConfig's node entries by node name."""
    return {e["nodeName"]: e for e in (body.get("status") or {}).get("nodeStatuses") or []}


def running_audit_flags(node: BedNode) -> set[str]:
    processes = node.apiserver_processes()
    assert len(processes) == 1, processes
    return {arg for arg in processes[0][1] if arg.startswith("--audit")}


def apiserver_pid(node: BedNode) -> int:
    processes = node.apiserver_processes()
    assert len(processes) == 1, processes
    return processes[0][0]


def set_agent_env(ha: Ha, **values: str) -> None:
    """Change the agents' DaemonSet environment and wait until every agent runs with it."""
    pairs = [f"{name}={value}" for name, value in values.items()]
    ha.any.kubectl("set", "env", "-n", "kaudit-node", "daemonset/kaudit-agent", *pairs)
    ha.any.kubectl(
        "rollout",
        "status",
        "-n",
        "kaudit-node",
        "daemonset/kaudit-agent",
        "--timeout=300s",
        timeout=320,
    )


@pytest.fixture(scope="module")
def ha(ha_bed: list[BedNode]) -> Iterator[Ha]:
    cluster = Ha(nodes=ha_bed)
    first = cluster.any
    subprocess.run(["make", "-s", "deploy"], cwd=REPO_ROOT, check=True, timeout=1800)
    # Undo what an interrupted earlier run may have left: no AuditConfig (the operator turns
    # audit logging off before it lets the object go), kubeadm's manifests.
    if cluster.config() is not None:
        cluster.delete_and_wait()
    for node in cluster.nodes:
        if b"kaudit.io/" in node.manifest_path.read_bytes():
            subprocess.run(
                [str(KAUDIT), "node", "disable", "--host-root", str(node.root)], check=True
            )
        for marker in node.path("/etc/kubernetes/tmp/kaudit").glob("kaudit-crashed-*"):
            marker.unlink()
    for node in cluster.nodes:
        wait_until(
            f"{node.name}'s kube-apiserver without audit flags",
            lambda n=node: running_audit_flags(n) == set(),
        )
        cluster.originals[node.name] = node.manifest_path.read_bytes()
        assert b"--audit-" not in cluster.originals[node.name]
    yield cluster
    cluster.delete_and_wait()
    undeploy(first)
    for node in cluster.nodes:
        if not node.root.is_dir():
            continue  # removed by the node-removal test
        for log_file in node.audit_log_dir.glob("*"):
            if log_file.is_file():
                log_file.unlink()
        if node.manifest_path.read_bytes() != cluster.originals[node.name]:
            temporary = node.manifest_path.with_name(".kube-apiserver.yaml.e2e-restore")
            temporary.write_bytes(cluster.originals[node.name])
            temporary.replace(node.manifest_path)


@pytest.fixture
def clean(ha: Ha) -> Iterator[Ha]:
    """Each test leaves no AuditConfig and kubeadm's manifests behind, even when it fails."""
    yield ha
    ha.delete_and_wait()
    for node in ha.nodes:
        if node.root.is_dir():
            assert node.manifest_path.read_bytes() == ha.originals[node.name], node.name


# --- watching -----------------------------------------------------------------------------


class Poller:
    """Calls poll() every `interval` seconds on a thread, from `with` until its end."""

    interval = 1.0

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.poll()
            self.stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def poll(self) -> None:
        raise NotImplementedError


class ApiProbe(Poller):
    """Lists Namespaces through the load balancer every 200 ms; records every answer."""

    interval = 0.2

    def __init__(self, kubeconfig: Path) -> None:
        super().__init__()
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        # No retries inside the client: a retried request would hide the gap it waited out.
        configuration.retries = False
        self.api = k8s.CoreV1Api(k8s.ApiClient(configuration))
        self.successes: list[float] = []  # wall-clock times (time.time())
        self.failures = 0

    def poll(self) -> None:
        try:
            self.api.list_namespace(_request_timeout=(1, 2), limit=1)
            self.successes.append(time.time())
        except Exception:  # any failure is a failed answer
            self.failures += 1

    def longest_gap(self) -> float:
        times = self.successes
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def answered_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.successes if start <= t <= end)


KUBEADM_FOUR = frozenset(
    ("kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml", "etcd.yaml")
)


class ManifestWatcher(Poller):
    """Reads every node's manifest every 20 ms: the kubelet must never see a partial file."""

    interval = 0.02

    def __init__(self, ha: Ha, allowed: Callable[[str, bytes], str | None]) -> None:
        super().__init__()
        self.ha = ha
        self.allowed = allowed
        self.problems: list[str] = []
        self.reads = 0

    def poll(self) -> None:
        for node in self.ha.nodes:
            folder = node.manifest_path.parent
            text = node.manifest_path.read_bytes()
            self.reads += 1
            problem = self.allowed(node.name, text)
            if problem:
                self.problems.append(f"{node.name}: {problem}")
            # The kubelet runs every file in the folder whose name does not start with a dot
            # (v1.34.4 pkg/kubelet/config: file.go lists "[^.]*", file_linux.go drops dot-named
            # events): only kubeadm's four may be there. kaudit's dot-named temporary file may be
            # seen while a write is under way (a .ci/run rehearsal caught one, 2026-12-01);
            # leftovers() checks that none stays.
            extra = {p.name for p in folder.iterdir() if not p.name.startswith(".")} - KUBEADM_FOUR
            if extra:
                self.problems.append(f"{node.name}: extra files in manifests: {extra}")

    def leftovers(self) -> dict[str, set[str]]:
        """Files besides kubeadm's four in each node's manifests folder, dot-named ones too."""
        found = {
            node.name: {p.name for p in node.manifest_path.parent.iterdir()} - KUBEADM_FOUR
            for node in self.ha.nodes
        }
        return {name: files for name, files in found.items() if files}


def record_phases(
    ha: Ha, until: Callable[[dict[str, dict[str, Any]]], bool]
) -> list[dict[str, str]]:
    """Poll the node entries each second; every distinct {node: phase} seen, in order.

    Each is one read of the object, so it is a consistent view of all nodes at one moment.
    """
    views: list[dict[str, str]] = []
    deadline = time.monotonic() + ROLLOUT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            entries = ha.entries()
        except (AssertionError, subprocess.SubprocessError):
            time.sleep(1)
            continue
        view = {name: str(entry.get("phase", "")) for name, entry in entries.items()}
        if not views or views[-1] != view:
            views.append(view)
        if until(entries):
            return views
        time.sleep(1)
    pytest.fail(f"timed out; phases seen so far: {views}")


# --- the tests ----------------------------------------------------------------------------


def test_enable_changes_one_node_at_a_time_while_the_api_stays_up(clean: Ha) -> None:
    """And the controller restarts in the middle of it: the agents do not need it to go on.

    Then `kubeadm upgrade` on cp-2 keeps the audit settings (kaudit recorded them in
    kubeadm-config), and deleting the AuditConfig still turns audit logging off everywhere.
    """
    ha = clean
    pids_before = {n.name: apiserver_pid(n) for n in ha.nodes}
    controller_before = ha.any.kubectl_json(
        "get", "pods", "-n", "kaudit-system", "-l", "app.kubernetes.io/component=controller"
    )["items"][0]["metadata"]["uid"]
    restarted_controller = False

    def cp2_verifying_then_all_applied(entries: dict[str, dict[str, Any]]) -> bool:
        nonlocal restarted_controller
        if not restarted_controller and entries.get("cp-2", {}).get("phase") == "Verifying":
            ha.any.kubectl(
                "delete",
                "pod",
                "-n",
                "kaudit-system",
                "-l",
                "app.kubernetes.io/component=controller",
                "--wait=false",
            )
            restarted_controller = True
        return all(entries.get(n.name, {}).get("phase") == "Applied" for n in ha.nodes)

    with ApiProbe(ha.any.kubeconfig) as probe:
        started = time.time()
        ha.apply("  enabled: true\n")
        transitions = record_phases(ha, cp2_verifying_then_all_applied)
        ha.wait_ready()
        finished = time.time()
    assert restarted_controller

    body = ha.config()
    assert body is not None
    assert body["status"]["rolloutOrder"] == ["cp-1", "cp-2", "cp-3"]
    entries = ha.entries()
    spans = []
    for node in ha.nodes:
        entry = entries[node.name]
        written = parse_time(entry["lastWriteTime"]).timestamp()
        verified = parse_time(entry["lastVerifiedTime"]).timestamp()
        spans.append((written, verified, node.name))
        # The restart the kubelet made happened inside the node's span. The kubelet's report of
        # it may come after the gate passed on the node's own evidence (health.py), so wait.
        pod = wait_until(
            f"{node.name}'s kubelet to report its kube-apiserver container running",
            lambda n=node: ha.reported_running(n),
            timeout=180,
        )
        status = pod["status"]["containerStatuses"][0]
        started_at = parse_time(status["state"]["running"]["startedAt"]).timestamp()
        assert written - 1 <= started_at <= verified, (node.name, written, started_at, verified)
        assert pod["metadata"]["annotations"]["kaudit.io/config-hash"] == entry["configHash"]
        assert apiserver_pid(node) != pids_before[node.name]
        assert POLICY_FLAG in running_audit_flags(node)
        assert any(f.stat().st_size > 0 for f in node.audit_log_dir.glob("*.log"))
    # One at a time, in the order shown in the status: a node starts after the one before it
    # was verified, so no two API servers ever restarted together.
    spans.sort()
    assert [name for _, _, name in spans] == ["cp-1", "cp-2", "cp-3"]
    for (_, before_verified, before), (after_written, _, after) in itertools.pairwise(spans):
        assert after_written >= before_verified, f"{after} started before {before} was verified"
    # Every view of the status agrees: never two nodes Applying or Verifying at once.
    for view in transitions:
        busy = [name for name, phase in view.items() if phase in ("Applying", "Verifying")]
        assert len(busy) <= 1, transitions
    # The API answered through the load balancer while each node restarted.
    for written, verified, name in spans:
        assert probe.answered_between(written, verified) > 0, f"no answer while {name} restarted"
    controller_after = ha.any.kubectl_json(
        "get", "pods", "-n", "kaudit-system", "-l", "app.kubernetes.io/component=controller"
    )["items"][0]["metadata"]["uid"]
    assert controller_after != controller_before
    # kubeadm's cluster configuration records the audit settings, so kubeadm upgrade keeps them.
    wait_until(
        "the audit flags in kubeadm-config",
        lambda: kubeadm_audit_settings(ha) == (SEED_KUBEADM_ARGS, {"audit-logs", "audit-policy"}),
        timeout=120,
    )
    enable_timing = {
        "apply_to_ready_seconds": round(finished - started, 1),
        "per_node_gate_seconds": {n: round(v - w, 1) for w, v, n in spans},
        "longest_gap_through_lb_seconds": round(probe.longest_gap(), 2),
        "probe_answers": len(probe.successes),
        "probe_failures": probe.failures,
    }
    record_timing("enable_3_nodes", enable_timing)

    # The real `kubeadm upgrade` (same version) on cp-2 rewrites its manifest from kubeadm-config.
    cp2 = ha.node("cp-2")
    upgraded_at = time.time()
    cp2.exec(
        str(K8S_BIN / "kubeadm"),
        "upgrade",
        "node",
        "phase",
        "control-plane",
        "--etcd-upgrade=false",
        "--certificate-renewal=false",
        timeout=600,
    )
    wait_until(
        "kaudit's annotations back on cp-2 and cp-2 Applied",
        lambda: (
            b"kaudit.io/config-hash" in cp2.manifest_path.read_bytes()
            and ha.entries()["cp-2"]["phase"] == "Applied"
            and parse_time(ha.entries()["cp-2"]["lastVerifiedTime"]).timestamp() > upgraded_at
        ),
    )
    # What kubeadm wrote (kaudit backed it up before correcting the drift) kept the audit
    # settings, because they are in kubeadm-config; only kaudit's annotations were gone.
    backups = sorted(cp2.path("/etc/kubernetes/tmp/kaudit").glob("kaudit-kube-apiserver.yaml.*"))
    by_kubeadm = [b.read_text() for b in backups if b.stat().st_mtime >= upgraded_at]
    assert by_kubeadm, "kaudit made no backup of the manifest kubeadm wrote"
    assert POLICY_FLAG in by_kubeadm[0]
    assert "kaudit.io/" not in by_kubeadm[0]
    # kaudit put its annotations back and left kubeadm's flags where kubeadm put them (after its
    # own): moving them would restart the API server once more, for nothing. Two more agent
    # passes (resync every 30 s) write nothing.
    corrected = cp2.manifest_path.read_text()
    assert without_kaudit_annotations(corrected) == by_kubeadm[0]
    time.sleep(70)
    assert cp2.manifest_path.read_text() == corrected
    backups = sorted(cp2.path("/etc/kubernetes/tmp/kaudit").glob("kaudit-kube-apiserver.yaml.*"))
    assert len([b for b in backups if b.stat().st_mtime >= upgraded_at]) == 1
    assert POLICY_FLAG in running_audit_flags(cp2)

    # Deleting the AuditConfig turns audit logging off node by node (on cp-2 too, although its
    # audit settings now came from kubeadm), and takes them out of kubeadm's configuration.
    with ApiProbe(ha.any.kubeconfig) as probe:
        started = time.time()
        ha.delete_and_wait()
        finished = time.time()
    for node in ha.nodes:
        assert running_audit_flags(node) == set()
        text = node.manifest_path.read_bytes()
        assert b"--audit-" not in text
        assert b"kaudit.io/" not in text
        if node is not cp2:
            assert text == ha.originals[node.name]
    assert kubeadm_audit_settings(ha) == (set(), set())
    record_timing(
        "delete_3_nodes",
        {
            "delete_to_gone_seconds": round(finished - started, 1),
            "longest_gap_through_lb_seconds": round(probe.longest_gap(), 2),
            "cp2_as_before_kubeadm_upgrade": cp2.manifest_path.read_bytes() == ha.originals["cp-2"],
        },
    )
    # kubeadm's own rewrite is cp-2's manifest from now on.
    ha.originals["cp-2"] = cp2.manifest_path.read_bytes()


def kubeadm_audit_settings(ha: Ha) -> tuple[set[str], set[str]]:
    """The audit extraArgs and the extraVolumes in kubeadm's ClusterConfiguration (v1beta4)."""
    config_map = ha.any.kubectl_json("get", "configmap", "-n", "kube-system", "kubeadm-config")
    document = load_single_document(config_map["data"]["ClusterConfiguration"])
    assert isinstance(document, dict)
    api_server = document.get("apiServer") or {}
    args = {str(a["name"]) for a in api_server.get("extraArgs") or []}
    volumes = {str(v["name"]) for v in api_server.get("extraVolumes") or []}
    return {a for a in args if a.startswith("audit-")}, volumes


SEED_KUBEADM_ARGS = {
    "audit-log-maxage",
    "audit-log-maxbackup",
    "audit-log-maxsize",
    "audit-log-path",
    "audit-policy-file",
}


def test_a_node_that_fails_its_gate_is_rolled_back_and_the_rollout_stops(clean: Ha) -> None:
    """A fault only cp-1 has: a folder where kube-apiserver must open its audit log file.

    No check before the write can see it (the spec is valid, the dry-run pod is valid); the
    API server exits at start with "is a directory". cp-1 must come back as it was, and cp-2
    and cp-3 must never be touched, until the spec changes.
    """
    ha = clean
    cp1 = ha.node("cp-1")
    blocker = cp1.audit_log_dir / "kube-apiserver-audit.log"
    cp1.audit_log_dir.mkdir(parents=True, exist_ok=True)
    if blocker.is_file():
        blocker.unlink()
    blocker.mkdir(exist_ok=True)
    try:
        pids = {n.name: apiserver_pid(n) for n in ha.nodes}
        ha.apply("  rollout:\n    healthTimeoutSeconds: 120\n")
        wait_until(
            "cp-1 RolledBack",
            lambda: ha.entries().get("cp-1", {}).get("phase") == "RolledBack",
            timeout=600,
            describe=ha.describe,
        )
        entry = ha.entries()["cp-1"]
        # The reason carries the API server's own last words, from the node's pod log folder.
        assert "is a directory" in entry["lastFailedReason"], entry["lastFailedReason"]
        stalled = ha.condition("Stalled")
        assert stalled["status"] == "True", stalled
        assert stalled["reason"] == "RolledBack", stalled
        assert "cp-1" in stalled["message"]
        assert ha.condition("Ready")["status"] == "False"
        assert cp1.manifest_path.read_bytes() == ha.originals["cp-1"]
        wait_until(
            "cp-1's API server back without audit flags", lambda: not running_audit_flags(cp1)
        )
        wait_until(
            "cp-1's mirror pod Ready again",
            lambda: (
                (pod := ha.reported_running(cp1)) is not None
                and any(status.get("ready") for status in pod["status"]["containerStatuses"])
            ),
            timeout=180,
        )
        for name in ("cp-2", "cp-3"):
            node = ha.node(name)
            assert node.manifest_path.read_bytes() == ha.originals[name]
            assert apiserver_pid(node) == pids[name], f"{name}'s API server was restarted"
            other = ha.entries()[name]
            assert other["phase"] == "Pending"
            assert "rollout stopped" in other["message"]
        events = ha.any.kubectl_json("get", "events", "-n", "default")["items"]
        assert any(
            e["reason"] == "RolledBack" and e["type"] == "Warning" and "cp-1" in e["message"]
            for e in events
        )
        record_timing(
            "rollback_1_node",
            {
                "health_timeout_seconds": 120,
                "message": entry["message"].splitlines()[0][:200],
                "write_to_rolled_back_seconds": round(
                    parse_time(entry["lastVerifiedTime"]).timestamp()
                    - parse_time(entry["lastWriteTime"]).timestamp(),
                    1,
                ),
            },
        )

        # Fixing the spec (a log file name that cp-1 can open) resumes the rollout.
        ha.apply(
            "  rollout:\n    healthTimeoutSeconds: 120\n"
            "  log:\n    path: /var/log/audit/audit.log\n"
        )
        ha.wait_ready()
        for node in ha.nodes:
            assert "--audit-log-path=/var/log/audit/audit.log" in running_audit_flags(node)
            assert ha.entries()[node.name]["phase"] == "Applied"
    finally:
        ha.delete_and_wait()
        blocker.rmdir()


AUDIT_FLAG_NAMES = frozenset(
    (
        "--audit-log-maxage",
        "--audit-log-maxbackup",
        "--audit-log-maxsize",
        "--audit-log-path",
        "--audit-policy-file",
    )
)
BUSY_PHASES = ("Applying", "Verifying")


def manifest_is_whole(original: bytes) -> Callable[[str, bytes], str | None]:
    """A manifest the kubelet may see: kubeadm's own, or one with all of kaudit's change."""

    def check(_node: str, text: bytes) -> str | None:
        if text == original:
            return None
        try:
            pod = load_single_document(text.decode("utf-8"))
        except (UnicodeDecodeError, YamlTextError) as error:
            return f"not a YAML document: {error}"
        if not isinstance(pod, dict) or pod.get("kind") != "Pod":
            return "not a Pod"
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        command = (pod.get("spec") or {}).get("containers", [{}])[0].get("command") or []
        flags = {str(arg).split("=", 1)[0] for arg in command if str(arg).startswith("--audit")}
        if "kaudit.io/config-hash" not in annotations:
            return "changed without kaudit's annotation"
        if flags != AUDIT_FLAG_NAMES:
            return f"audit flags {sorted(flags)}"
        return None

    return check


def kubelet_log_size(node: BedNode) -> int:
    path = KAUDIT_TESTBED / "logs" / f"{node.name}-kubelet.log"
    return path.stat().st_size if path.is_file() else 0


def kubelet_log_since(node: BedNode, offset: int) -> str:
    path = KAUDIT_TESTBED / "logs" / f"{node.name}-kubelet.log"
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read().decode("utf-8", "replace")


def test_an_agent_killed_mid_change_leaves_no_partial_file_and_its_successor_finishes(
    clean: Ha,
) -> None:
    """cp-1's agent dies between its backup and its write; cp-2's between write and verify."""
    ha = clean
    set_agent_env(ha, KAUDIT_CRASH_AT="cp-1:after-backup,cp-2:after-write")
    kubelet_offsets = {n.name: kubelet_log_size(n) for n in ha.nodes}
    try:
        checks = {n.name: manifest_is_whole(ha.originals[n.name]) for n in ha.nodes}
        with ManifestWatcher(ha, lambda name, text: checks[name](name, text)) as watcher:
            ha.apply("  enabled: true\n")
            ha.wait_ready()
        assert watcher.problems == []
        assert watcher.leftovers() == {}
        assert watcher.reads > 100
        for name, point in (("cp-1", "after-backup"), ("cp-2", "after-write")):
            node = ha.node(name)
            assert node.path(f"/etc/kubernetes/tmp/kaudit/kaudit-crashed-{point}").is_file()
            pods = ha.any.kubectl_json(
                "get",
                "pods",
                "-n",
                "kaudit-node",
                "-l",
                "app.kubernetes.io/component=agent",
                "--field-selector",
                f"spec.nodeName={name}",
            )["items"]
            status = pods[0]["status"]["containerStatuses"][0]
            assert status["restartCount"] >= 1
            assert status["lastState"]["terminated"]["exitCode"] == 86
        for node in ha.nodes:
            assert ha.entries()[node.name]["phase"] == "Applied"
            assert (
                "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
                in (running_audit_flags(node))
            )
            # The kubelet never met a manifest it could not read.
            log = kubelet_log_since(node, kubelet_offsets[node.name])
            assert "Could not process manifest file" not in log
            assert "failed to decode" not in log.lower()
        # cp-1's crash left a backup of kubeadm's manifest, and no second one was needed to
        # redo the change: the backup folder holds kubeadm's manifest as it was.
        backups = (
            ha.node("cp-1").path("/etc/kubernetes/tmp/kaudit").glob("kaudit-kube-apiserver.yaml.*")
        )
        assert ha.originals["cp-1"] in {b.read_bytes() for b in backups}
    finally:
        ha.any.kubectl(
            "set", "env", "-n", "kaudit-node", "daemonset/kaudit-agent", "KAUDIT_CRASH_AT-"
        )
        ha.delete_and_wait()
        for node in ha.nodes:
            for marker in node.path("/etc/kubernetes/tmp/kaudit").glob("kaudit-crashed-*"):
                marker.unlink()


def agent_pod(ha: Ha, node: str) -> dict[str, Any]:
    """The kaudit agent pod the DaemonSet runs on `node` (the newest, while one is replaced)."""
    pods: list[dict[str, Any]] = ha.any.kubectl_json(
        "get",
        "pods",
        "-n",
        "kaudit-node",
        "-l",
        "app.kubernetes.io/component=agent",
        "--field-selector",
        f"spec.nodeName={node}",
    )["items"]
    assert pods, f"no agent pod on {node}"
    return max(pods, key=lambda pod: str(pod["metadata"]["creationTimestamp"]))


def config_hash_for(spec: str) -> str:
    """The config hash kaudit writes for an AuditConfig with this spec (what a node must run)."""
    body = load_single_document(CONFIG.format(spec=spec))
    assert isinstance(body, dict)
    parsed = audit_config_spec_from_data(body["spec"], source="test")
    config_hash = desired_state(parsed, source="test").config_hash
    assert config_hash
    return config_hash


def manifest_config_hash(node: BedNode) -> str | None:
    """The kaudit.io/config-hash annotation of the node's manifest: the change written there."""
    pod = load_single_document(node.manifest_path.read_text())
    assert isinstance(pod, dict)
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get("kaudit.io/config-hash")
    return str(value) if value is not None else None


class EntryWatcher(Poller):
    """Reads the node entries every second: each distinct view, and every failure shown."""

    def __init__(self, ha: Ha) -> None:
        super().__init__()
        self.ha = ha
        self.views: list[dict[str, str]] = []
        self.failures: list[str] = []

    def poll(self) -> None:
        try:
            entries = self.ha.entries()
        except (AssertionError, subprocess.SubprocessError, ValueError):
            return  # the API server behind the load balancer may be restarting
        view = {
            name: f"{entry.get('phase', '')}@{entry.get('observedGeneration')}"
            for name, entry in sorted(entries.items())
        }
        if not self.views or self.views[-1] != view:
            self.views.append(view)
        for name, entry in sorted(entries.items()):
            if entry.get("phase") in ("RolledBack", "Failed"):
                message = str(entry.get("message", "")).splitlines()[:1]
                seen = (
                    f"{name} {entry['phase']} (generation {entry.get('observedGeneration')}): "
                    f"{message[0] if message else ''}"
                )
                if seen not in self.failures:
                    self.failures.append(seen)


def test_a_change_left_unverified_by_a_crash_is_verified_after_a_spec_change_and_the_rollout_goes_on(  # noqa: E501
    clean: Ha,
) -> None:
    """Issue 12, defect 1: a change written for generation 1 meets generation 2 after a crash.

    cp-1's agent writes its change for generation 1 and hangs before verifying it (the
    hold-after-write fault point: no renewal, no report); only then does the spec move to
    generation 2 (another preset), and only then is the hung agent killed, so its successor
    always finds a change written for a generation that is no longer the spec's. The kubelet
    runs that change healthily: cp-1 must verify it, never be RolledBack or Failed, and the
    rollout must go on to generation 2 on every node. Before the fix the successor's gate
    expected no config hash at all, rolled the healthy change back and reported the failure for
    generation 2, and decide_turn then kept every node from moving until the spec changed again.
    """
    ha = clean
    cp1 = ha.node("cp-1")
    marker = cp1.path("/etc/kubernetes/tmp/kaudit/kaudit-crashed-hold-after-write")
    first = "  rollout:\n    healthTimeoutSeconds: 120\n"
    second = first + "  policy:\n    preset: Metadata\n"
    first_hash, second_hash = config_hash_for(first), config_hash_for(second)
    assert first_hash != second_hash
    set_agent_env(ha, KAUDIT_CRASH_AT="cp-1:hold-after-write")
    kubelet_offsets = {n.name: kubelet_log_size(n) for n in ha.nodes}
    try:
        checks = {n.name: manifest_is_whole(ha.originals[n.name]) for n in ha.nodes}
        with (
            ManifestWatcher(ha, lambda name, text: checks[name](name, text)) as watcher,
            EntryWatcher(ha) as entries_seen,
        ):
            ha.apply(first)
            wait_until(
                "cp-1's agent to hold after its write",
                marker.is_file,
                timeout=ROLLOUT_TIMEOUT,
                describe=ha.describe,
            )
            held = agent_pod(ha, "cp-1")
            # The change on cp-1 is generation 1's, and its agent is held, not restarted.
            assert manifest_config_hash(cp1) == first_hash
            assert held["status"]["containerStatuses"][0]["restartCount"] == 0
            ha.apply(second)
            body = ha.config()
            assert body is not None
            assert body["metadata"]["generation"] == 2
            # What the issue's successor meets: the kubelet runs generation 1's change healthily.
            wait_until(
                "cp-1's kubelet to run generation 1's change",
                lambda: (
                    (pod := ha.reported_running(cp1)) is not None
                    and pod["metadata"]["annotations"].get("kaudit.io/config-hash") == first_hash
                    and any(s.get("ready") for s in pod["status"]["containerStatuses"])
                ),
                timeout=300,
                describe=ha.describe,
            )
            ha.kubectl_until_accepted(
                "delete",
                "pod",
                "-n",
                "kaudit-node",
                "--force",
                "--grace-period=0",
                held["metadata"]["name"],
            )

            def every_node_applied_for_generation_2() -> bool:
                if entries_seen.failures:
                    pytest.fail(
                        f"a node was rolled back or failed: {entries_seen.failures}\n"
                        f"{ha.describe()}\nphases seen: {entries_seen.views}",
                        pytrace=False,
                    )
                entries = ha.entries()
                return all(
                    entries.get(n.name, {}).get("phase") == "Applied"
                    and entries[n.name].get("observedGeneration") == 2
                    and entries[n.name].get("configHash") == second_hash
                    for n in ha.nodes
                )

            wait_until(
                "every node Applied for generation 2",
                every_node_applied_for_generation_2,
                timeout=ROLLOUT_TIMEOUT,
                describe=lambda: f"{ha.describe()}\nphases seen: {entries_seen.views}",
            )
            ha.wait_ready()
        assert entries_seen.failures == [], entries_seen.views
        assert watcher.problems == []
        assert watcher.leftovers() == {}
        assert watcher.reads > 100
        # One node at a time all along, the held one included.
        for view in entries_seen.views:
            busy = [name for name, seen in view.items() if seen.split("@")[0] in BUSY_PHASES]
            assert len(busy) <= 1, entries_seen.views
        assert agent_pod(ha, "cp-1")["metadata"]["uid"] != held["metadata"]["uid"]
        body = ha.config()
        assert body is not None
        for node in ha.nodes:
            entry = entries_of(body)[node.name]
            assert entry["phase"] == "Applied", ha.describe()
            assert entry["observedGeneration"] == 2
            assert entry["configHash"] == second_hash
            # No failure was ever recorded, not even one too brief for the watcher to see.
            assert "lastFailedReason" not in entry, entry["lastFailedReason"]
            assert not entry.get("failureCount"), entry
            assert manifest_config_hash(node) == second_hash
            pod = wait_until(
                f"{node.name}'s kubelet to report generation 2's kube-apiserver running",
                lambda n=node: (
                    (pod := ha.reported_running(n)) is not None
                    and pod["metadata"]["annotations"].get("kaudit.io/config-hash") == second_hash
                    and pod
                ),
                timeout=180,
            )
            assert pod
            flags = running_audit_flags(node)
            assert POLICY_FLAG in flags
            assert {flag.split("=", 1)[0] for flag in flags} == AUDIT_FLAG_NAMES
            # The kubelet never met a manifest it could not read.
            log = kubelet_log_since(node, kubelet_offsets[node.name])
            assert "Could not process manifest file" not in log
            assert "failed to decode" not in log.lower()
        # Neither the agent's own Events nor the controller's AuditConfigDegraded ("node cp-1
        # RolledBack: ...") about this AuditConfig: a user would see either one.
        events = ha.any.kubectl_json("get", "events", "-n", "default")["items"]
        failure_events = [
            f"{e.get('reason')}: {e.get('message', '')}"
            for e in events
            if e["involvedObject"].get("uid") == body["metadata"]["uid"]
            and e.get("type") == "Warning"
            and (
                e.get("reason") in ("RolledBack", "Failed", "AuditConfigDegraded")
                or any(word in e.get("message", "") for word in ("RolledBack", "Failed"))
            )
        ]
        assert failure_events == []
    finally:
        ha.any.kubectl(
            "set", "env", "-n", "kaudit-node", "daemonset/kaudit-agent", "KAUDIT_CRASH_AT-"
        )
        ha.delete_and_wait()
        for marker_file in cp1.path("/etc/kubernetes/tmp/kaudit").glob("kaudit-crashed-*"):
            marker_file.unlink()


def wait_for_phase(ha: Ha, node: str, phase: str) -> None:
    wait_until(
        f"{node} {phase}",
        lambda: ha.entries().get(node, {}).get("phase") == phase,
        timeout=ROLLOUT_TIMEOUT,
        poll=0.5,
        describe=ha.describe,
    )


def test_deleting_the_auditconfig_mid_rollout_turns_audit_off_everywhere(clean: Ha) -> None:
    ha = clean
    cp3 = ha.node("cp-3")
    cp3_pid = apiserver_pid(cp3)
    ha.apply("  enabled: true\n")
    wait_for_phase(ha, "cp-2", "Verifying")
    ha.delete_and_wait()
    for node in ha.nodes:
        assert node.manifest_path.read_bytes() == ha.originals[node.name]
        wait_until(f"{node.name} without audit flags", lambda n=node: not running_audit_flags(n))
    # The rollout never reached cp-3: its API server was never restarted.
    assert apiserver_pid(cp3) == cp3_pid
    assert kubeadm_audit_settings(ha) == (set(), set())


def test_removing_a_node_mid_rollout_lets_the_others_finish(clean: Ha) -> None:
    """cp-3 leaves the cluster (kubeadm reset, Node deleted) while cp-2 restarts.

    Runs last: the bed has two nodes afterwards, and the next run's fixture rebuilds the third.
    """
    ha = clean
    ha.apply("  enabled: true\n")
    wait_for_phase(ha, "cp-2", "Verifying")
    subprocess.run(
        ["bash", str(REPO_ROOT / "hack/testbed/node.sh"), "down"],
        env={**os.environ, "NODE": "cp-3", "NODE_INDEX": "3"},
        check=True,
        capture_output=True,
        timeout=300,
    )
    ha.kubectl_until_accepted("delete", "node", "cp-3", "--ignore-not-found")
    ha.nodes = [n for n in ha.nodes if n.name != "cp-3"]
    ha.wait_ready()
    body = ha.config()
    assert body is not None
    assert body["status"]["rolloutOrder"] == ["cp-1", "cp-2"]
    assert body["status"]["nodesReady"] == "2/2"
    wait_until(
        "cp-3's entry to be dropped",
        lambda: "cp-3" not in ha.entries(),
        timeout=60,
        describe=ha.describe,
    )
    for node in ha.nodes:
        assert ha.entries()[node.name]["phase"] == "Applied"
        assert running_audit_flags(node)
