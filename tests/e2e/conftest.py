"""Tier 2 of the test bed: the kubeadm-made node (hack/testbed/node.sh, `make testbed-up`).

`bed` (session scope) uses the running node, or brings it up through the script when it is not
(`make test` runs `make testbed-up` before pytest; .ci/run runs `make testbed-down` after). It never
tears the node down: a developer keeps it between runs, `make testbed-down` removes it.

Tests get a `tests.testbed.BedNode`:
    bed.kubeconfig, bed.server, bed.kubectl(...), bed.kubectl_json(...), bed.apply(...)
    bed.root                   host folder of the node's files; bed.path("/etc/kubernetes/x")
    bed.manifest_path          the node's /etc/kubernetes/manifests/kube-apiserver.yaml
    bed.audit_log_dir          the node's /var/log/kubernetes/audit
    bed.exec("cmd", ...)       run a command on the node
    bed.apiserver_processes()  (pid, argv) of the node's kube-apiserver processes
    bed.readyz()               the node's API server answers /readyz
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.testbed import (
    KAUDIT_TESTBED,
    REPO_ROOT,
    TESTBED_SCRIPTS,
    BedNode,
    check_bed_prerequisites,
    parse_env_lines,
    run_script,
)

CLUSTER_JOIN_ENV = KAUDIT_TESTBED / "cluster" / "join.env"
HA_NODES = ("cp-1", "cp-2", "cp-3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The three-node modules turn the bed into a three-node cluster: they run after every
    # single-node one, so the bed changes shape once per run (a stable sort keeps the rest).
    items.sort(key=lambda item: item.path.name.startswith("test_ha_"))


def _node_count_is(wanted: int) -> bool:
    nodes = sorted((KAUDIT_TESTBED / "nodes").glob("cp-*"))
    clustered = CLUSTER_JOIN_ENV.is_file()
    return len(nodes) == wanted and clustered == (wanted > 1)


@pytest.fixture(scope="session")
def bed() -> BedNode:
    check_bed_prerequisites("kubeadm", "kubelet", "kubectl", "kube-apiserver")
    if (KAUDIT_TESTBED / "nodes").is_dir() and not _node_count_is(1):
        # A three-node bed left by an earlier run: these tests are about one node.
        run_script("cluster.sh", "down-all", timeout=600)
    up = subprocess.run(
        ["bash", str(TESTBED_SCRIPTS / "node.sh"), "status"], capture_output=True, check=False
    )
    if up.returncode != 0:
        run_script("node.sh", "up", timeout=900)
    return _bed_nodes("cp-1")[0]


@pytest.fixture(scope="session")
def ha_bed() -> list[BedNode]:
    """Three control-plane nodes behind HAProxy (`make testbed-up NODES=3`), cp-1 first."""
    check_bed_prerequisites("kubeadm", "kubelet", "kubectl", "kube-apiserver")
    if (KAUDIT_TESTBED / "nodes").is_dir() and not _node_count_is(len(HA_NODES)):
        run_script("cluster.sh", "down-all", timeout=600)
    # Reuses healthy nodes (a second or two) and repairs the rest.
    subprocess.run(
        ["make", "-s", "testbed-up", f"NODES={len(HA_NODES)}"],
        cwd=REPO_ROOT,
        check=True,
        timeout=1800,
        capture_output=True,
    )
    return _bed_nodes(*HA_NODES)


def _bed_nodes(*names: str) -> list[BedNode]:
    """Handles on the bed's nodes; they share one admin kubeconfig (node or load balancer)."""
    env = parse_env_lines(run_script("node.sh", "env", timeout=30))
    kubeconfig = Path(env["KUBECONFIG"])
    server = ""
    for line in kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            server = line.split(":", 1)[1].strip()
    return [
        BedNode(
            kubeconfig=kubeconfig,
            server=server,
            users={"admin": kubeconfig},
            name=name,
            # node.sh's address plan; the kubeconfig may name the load balancer instead.
            ip=f"10.231.0.{10 + int(name.removeprefix('cp-'))}",
            root=KAUDIT_TESTBED / "nodes" / name / "root",
        )
        for name in names
    ]
