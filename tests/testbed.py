"""Helpers shared by the integration and e2e fixtures: a handle on a running API server.

The bed itself is made by the scripts in hack/testbed/ (so a person can start the same thing by
hand); the fixtures only call them and wrap the result.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.run_summary import not_run_here

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTBED_SCRIPTS = REPO_ROOT / "hack" / "testbed"
K8S_VERSION = os.environ.get("K8S_VERSION", "v1.34.4")
KAUDIT_CACHE = Path(os.environ.get("KAUDIT_CACHE", "/var/cache/kaudit"))
KAUDIT_TESTBED = Path(os.environ.get("KAUDIT_TESTBED", "/var/lib/kaudit-testbed"))
K8S_BIN = Path(os.environ.get("K8S_BIN", str(KAUDIT_CACHE / "kubernetes" / K8S_VERSION / "bin")))


def testbed_required() -> bool:
    """In CI (or with KAUDIT_REQUIRE_TESTBED=1) a missing bed fails the run instead of skipping."""
    return os.environ.get("CI") == "true" or os.environ.get("KAUDIT_REQUIRE_TESTBED") == "1"


@functools.cache
def bed_unavailable_reason() -> str | None:
    """Why the test bed cannot run on this machine at all, or None (hack/testbed/preflight.sh,
    the one answer that `make setup` and `make test` also go by)."""
    result = subprocess.run(
        ["bash", str(TESTBED_SCRIPTS / "preflight.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 0:
        return None
    return result.stdout.strip() or f"hack/testbed/preflight.sh exited {result.returncode}"


def check_bed_prerequisites(*binaries: str) -> None:
    """Skip (or fail in CI) when this machine cannot run the bed at all; fail when it can but a
    build is missing: that is never a reason to skip, `make test` builds it first."""
    reason = bed_unavailable_reason()
    if reason is not None:
        message = f"no test bed on this machine: {reason}"
        if testbed_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(not_run_here(message))
    missing = [b for b in binaries if not (K8S_BIN / b).is_file()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not in {K8S_BIN}: `make test` builds them before it runs "
            "pytest (or `make setup` alone)",
            pytrace=False,
        )


def run_script(*args: str, timeout: float) -> str:
    """Run a hack/testbed script, returning stdout; its stderr (progress) goes to the test log."""
    result = subprocess.run(
        ["bash", str(TESTBED_SCRIPTS / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{args[0]} {' '.join(args[1:])} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout


@dataclass(frozen=True)
class Cluster:
    """A running API server: where it is, how to authenticate, and kubectl bound to it.

    kubeconfig  the admin kubeconfig (system:masters)
    server      the API server URL as the host reaches it
    users       name -> kubeconfig path; tier 1 has "admin", "alice" (no groups) and
                "bob" (group kaudit:testers); tier 2 has "admin"
    """

    kubeconfig: Path
    server: str
    users: dict[str, Path] = field(default_factory=dict)
    kubectl_path: Path = K8S_BIN / "kubectl"

    def kubectl(
        self,
        *args: str,
        user: str = "admin",
        input: str | None = None,  # noqa: A002 - same name as subprocess.run's
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server as `user`; raises with kubectl's stderr on failure."""
        kubeconfig = self.users.get(user, self.kubeconfig) if user != "admin" else self.kubeconfig
        result = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result

    def kubectl_json(self, *args: str, user: str = "admin") -> Any:
        """kubectl ... -o json, parsed."""
        return json.loads(self.kubectl(*args, "-o", "json", user=user).stdout)

    def apply(self, manifest: str, *extra: str) -> None:
        """kubectl apply -f - with `manifest` (YAML or JSON text)."""
        self.kubectl("apply", "-f", "-", *extra, input=manifest)

    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG and PATH for processes under test (the operator, kopf)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.kubectl_path.parent}{os.pathsep}{env.get('PATH', '')}"
        return env


def parse_env_lines(text: str) -> dict[str, str]:
    """The `export NAME=VALUE` lines the scripts print, as a dict (PATH's $PATH left as is)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            values[name] = value
    return values


@dataclass(frozen=True)
class BedNode(Cluster):
    """A tier-2 node: a Cluster plus the node's files and processes as seen from the host.

    name        the node's name (cp-1)
    ip          its address (10.231.0.11); the API server is https://<ip>:6443
    root        host folder holding the node's own /etc/kubernetes, /var/lib/kubelet, /var/log,
                ...: node path /etc/kubernetes/x is root / "etc/kubernetes/x" (see path())
    """

    name: str = "cp-1"
    ip: str = ""
    root: Path = Path("/nonexistent")

    def path(self, node_path: str) -> Path:
        """Where the node's absolute path `node_path` is on the host."""
        return self.root / node_path.lstrip("/")

    @property
    def manifest_path(self) -> Path:
        return self.path("/etc/kubernetes/manifests/kube-apiserver.yaml")

    @property
    def audit_log_dir(self) -> Path:
        return self.path("/var/log/kubernetes/audit")

    def exec(self, *command: str, check: bool = True, timeout: float = 60) -> str:
        """Run `command` on the node (its mount, network and UTS namespaces); returns stdout."""
        result = subprocess.run(
            ["bash", str(TESTBED_SCRIPTS / "node.sh"), "exec", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "NODE": self.name},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"on {self.name}: {' '.join(command)} failed: {result.stderr}")
        return result.stdout

    def apiserver_processes(self) -> list[tuple[int, list[str]]]:
        """(pid, argv) of every kube-apiserver process of this node (the host sees its PIDs)."""
        found: list[tuple[int, list[str]]] = []
        marker = f"--advertise-address={self.ip}"
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            args = [a.decode(errors="replace") for a in argv if a]
            if args and args[0].endswith("kube-apiserver") and marker in args:
                found.append((int(proc.name), args))
        return found

    def readyz(self, timeout: float = 2.0) -> bool:
        """True when the node's API server answers /readyz with ok (admin credentials)."""
        result = subprocess.run(
            [
                str(self.kubectl_path),
                f"--kubeconfig={self.kubeconfig}",
                f"--request-timeout={timeout}s",
                "get",
                "--raw",
                "/readyz",
            ],
            capture_output=True,
            text=True,
            timeout=timeout + 5,
            check=False,
        )
        return result.returncode == 0 and result.stdout.strip() == "ok"
