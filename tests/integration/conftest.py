"""Tier 1 of the test bed: a real kube-apiserver with a real etcd, as local processes.

`apiserver` (session scope) starts them with hack/testbed/apiserver.sh, or reuses ones that
already answer (someone ran `make testbed-apiserver-up`, which is also how to keep them between
runs). It stops only what it started, by PID, through the same script. Logs are in
/var/lib/kaudit-testbed/logs/tier1-*.log.

Tests get a `tests.testbed.Cluster`:
    apiserver.kubeconfig           admin kubeconfig path (system:masters)
    apiserver.server               https://127.0.0.1:16443
    apiserver.users                {"admin": ..., "alice": ..., "bob": ...} kubeconfig paths
    apiserver.kubectl(*args, user="alice", input=..., check=...)
    apiserver.kubectl_json(*args)  apiserver.apply(yaml)  apiserver.env()
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.operator_fixtures import processes  # noqa: F401 - a fixture
from tests.testbed import Cluster, check_bed_prerequisites, parse_env_lines, run_script

USERS = ("admin", "alice", "bob")


@pytest.fixture(scope="session")
def apiserver() -> Iterator[Cluster]:
    check_bed_prerequisites("kube-apiserver", "kubectl")
    already_up = (
        subprocess.run(
            ["bash", "hack/testbed/apiserver.sh", "status"],
            cwd=Path(__file__).resolve().parents[2],
            check=False,
            capture_output=True,
        ).returncode
        == 0
    )
    env = parse_env_lines(run_script("apiserver.sh", "up", timeout=180))
    kubeconfig = Path(env["KUBECONFIG"])
    users = {name: kubeconfig.with_name(f"{name}.conf") for name in USERS}
    server = ""
    for line in kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            server = line.split(":", 1)[1].strip()
    try:
        yield Cluster(kubeconfig=kubeconfig, server=server, users=users)
    finally:
        if not already_up:
            run_script("apiserver.sh", "down", timeout=120)
