"""Running kaudit's own processes against the tier-1 API server: the controller and agents.

Each is the real `kaudit` command in its own process, as in a cluster, with its own kubeconfig
and (for agents) its own host root. Their logs are kept and shown when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.testbed import REPO_ROOT, Cluster

KAUDIT = Path(sys.executable).with_name("kaudit")
KUBEADM_MANIFEST = REPO_ROOT / "tests" / "fixtures" / "kubeadm-kube-apiserver.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    what: str, check: Callable[[], Any], *, timeout: float = 90.0, every: float = 1.0
) -> Any:
    """Poll until check() returns something truthy; fail naming what was awaited."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last seen: {last!r}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    cluster: Cluster
    folder: Path
    running: list[Process] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Process:
        log = self.folder / f"{name}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as handle:  # the child keeps its own descriptor
            popen = subprocess.Popen(
                [str(KAUDIT), *args, "--kubeconfig", str(self.cluster.kubeconfig)],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
            )
        process = Process(name=name, popen=popen, log=log)
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.running):
            process.stop()

    def report(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.tail()}" for p in self.running)


def running_processes(apiserver: Cluster, tmp_path: Path) -> Iterator[Processes]:
    """Body of the `processes` fixture: start what a test asks for, stop it all afterwards."""
    group = Processes(cluster=apiserver, folder=tmp_path)
    yield group
    group.stop_all()
    # pytest shows captured output only for a failed test: the processes' last log lines.
    print(group.report())


def audit_config(cluster: Cluster) -> dict[str, Any] | None:
    result = cluster.kubectl("get", "auditconfig", "cluster", "-o", "json", check=False)
    if result.returncode != 0:
        return None
    body: dict[str, Any] = json.loads(result.stdout)
    return body


def node_entries(cluster: Cluster) -> dict[str, dict[str, Any]]:
    body = audit_config(cluster) or {}
    return {e["nodeName"]: e for e in (body.get("status") or {}).get("nodeStatuses") or []}


def conditions(cluster: Cluster) -> dict[str, dict[str, Any]]:
    body = audit_config(cluster) or {}
    return {c["type"]: c for c in (body.get("status") or {}).get("conditions") or []}
