"""What the operator's end-to-end modules share: the AuditConfig template and patient waiting."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.testbed import REPO_ROOT, Cluster

STEP_TIMEOUT = 420.0
KAUDIT = Path(sys.executable).with_name("kaudit")
CONFIG = """\
apiVersion: kaudit.io/v1alpha1
kind: AuditConfig
metadata:
  name: cluster
spec:
{spec}"""
SEED_FLAGS = {
    "--audit-log-maxage=30",
    "--audit-log-maxbackup=1",
    "--audit-log-maxsize=100",
    "--audit-log-path=/var/log/audit/kube-apiserver-audit.log",
    "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
}


def wait_until(
    what: str,
    check: Callable[[], Any],
    timeout: float = STEP_TIMEOUT,
    poll: float = 2.0,
    *,
    describe: Callable[[], str] | None = None,
) -> Any:
    """Poll `check` until it returns something true; on timeout fail with the last result and,
    when given, `describe()`: what a user would look at next (the AuditConfig's status)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, subprocess.SubprocessError, ValueError) as error:
            last = error  # the API server may be restarting
        else:
            if last:
                return last
        time.sleep(poll)
    message = f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
    if describe is not None:
        try:
            message += "\n" + describe()
        except (AssertionError, subprocess.SubprocessError, ValueError) as error:
            message += f"\n(could not describe the state: {error})"
    pytest.fail(message)


def undeploy(cluster: Cluster) -> None:
    """Remove what `make deploy` applied, and the webhook configurations kopf made."""
    # --wait=false: the namespace's finalization takes longer than kubectl's budget here.
    cluster.kubectl(
        "delete",
        "-k",
        str(REPO_ROOT / "deploy"),
        "--ignore-not-found",
        "--wait=false",
        check=False,
        timeout=120,
    )
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        cluster.kubectl("delete", kind, "kaudit.io", "--ignore-not-found", check=False)
