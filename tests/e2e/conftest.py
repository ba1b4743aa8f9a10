"""Tier 2 of the test bed: the kubeadm-made node (hack/testbed/node.sh, `make testbed-up`).

`bed` (session scope) uses the running node, or brings it up through the script when it is not
(CI runs `make testbed-up` before the tests and `make testbed-down` after, always). It never
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
    TESTBED_SCRIPTS,
    BedNode,
    check_bed_prerequisites,
    parse_env_lines,
    run_script,
)


@pytest.fixture(scope="session")
def bed() -> BedNode:
    check_bed_prerequisites("kubeadm", "kubelet", "kubectl", "kube-apiserver")
    up = subprocess.run(
        ["bash", str(TESTBED_SCRIPTS / "node.sh"), "status"], capture_output=True, check=False
    )
    if up.returncode != 0:
        run_script("node.sh", "up", timeout=900)
    env = parse_env_lines(run_script("node.sh", "env", timeout=30))
    kubeconfig = Path(env["KUBECONFIG"])
    server = ""
    for line in kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            server = line.split(":", 1)[1].strip()
    ip = server.removeprefix("https://").rsplit(":", 1)[0]
    return BedNode(
        kubeconfig=kubeconfig,
        server=server,
        users={"admin": kubeconfig},
        name="cp-1",
        ip=ip,
        root=Path(env["KAUDIT_NODE_ROOT"]),
    )
