"""Tier 1 of the test bed: a real kube-apiserver with a real etcd, as local processes.

`apiserver` (session scope) starts them with hack/testbed/apiserver.sh, or reuses ones that
already answer (someone ran `make testbed-apiserver-up`, which is also how to keep them between
runs). Several pytest sessions may share one tier 1: each registers itself, and the last one
to finish stops it, by PID through the same script, when a pytest session started it (one
started by hand is left running). Logs: /var/lib/kaudit-testbed/logs/tier1-*.log.

Tests get a `tests.testbed.Cluster`:
    apiserver.kubeconfig           admin kubeconfig path (system:masters)
    apiserver.server               https://127.0.0.1:16443
    apiserver.users                {"admin": ..., "alice": ..., "bob": ...} kubeconfig paths
    apiserver.kubectl(*args, user="alice", input=..., check=...)
    apiserver.kubectl_json(*args)  apiserver.apply(yaml)  apiserver.env()
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.testbed import (
    TESTBED_SCRIPTS,
    Cluster,
    check_bed_prerequisites,
    parse_env_lines,
    run_script,
)

USERS = ("admin", "alice", "bob")
TESTBED_STATE = Path(os.environ.get("KAUDIT_TESTBED", "/var/lib/kaudit-testbed"))
SESSIONS = TESTBED_STATE / "tier1-sessions"
OWNED_MARKER = SESSIONS / "started-by-pytest"


@contextmanager
def sessions_lock() -> Iterator[None]:
    SESSIONS.mkdir(parents=True, exist_ok=True)
    with (SESSIONS / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def live_sessions() -> list[Path]:
    live = []
    for entry in SESSIONS.glob("pid-*"):
        try:
            os.kill(int(entry.name.removeprefix("pid-")), 0)
        except (ProcessLookupError, ValueError):
            entry.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        live.append(entry)
    return live


def tier1_answers() -> bool:
    status = subprocess.run(
        ["bash", str(TESTBED_SCRIPTS / "apiserver.sh"), "status"], capture_output=True, check=False
    )
    return status.returncode == 0


@pytest.fixture(scope="session")
def apiserver() -> Iterator[Cluster]:
    check_bed_prerequisites("kube-apiserver", "kubectl")
    me = SESSIONS / f"pid-{os.getpid()}"
    with sessions_lock():
        if not tier1_answers() and not live_sessions():
            OWNED_MARKER.touch()
        env = parse_env_lines(run_script("apiserver.sh", "up", timeout=180))
        me.touch()
    kubeconfig = Path(env["KUBECONFIG"])
    users = {name: kubeconfig.with_name(f"{name}.conf") for name in USERS}
    server = ""
    for line in kubeconfig.read_text().splitlines():
        if line.strip().startswith("server:"):
            server = line.split(":", 1)[1].strip()
    try:
        yield Cluster(kubeconfig=kubeconfig, server=server, users=users)
    finally:
        with sessions_lock():
            me.unlink(missing_ok=True)
            if not live_sessions() and OWNED_MARKER.exists():
                OWNED_MARKER.unlink()
                run_script("apiserver.sh", "down", timeout=120)
