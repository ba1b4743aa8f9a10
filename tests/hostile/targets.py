"""The three targets a hostile case can hit, what a case is, and the host it runs against.

Each target is driven the way production drives it, but without a cluster:
- cli: `kaudit.cli.run(argv)`, the function `main()` wraps, with files on disk (and stdin);
- webhook: `review_audit_config(body, read_config_map=...)`, the admission handler kopf calls
  with the AdmissionReview's object (a JSON body) and the ConfigMap reader;
- agent: `NodeAgent.reconcile_once()` against a fake API. kaudit has no pure plan function
  yet, so this is the smallest unit that turns an observed AuditConfig, a ConfigMap policy and
  the host files into a decision. The fake API refuses every server-side dry-run, so the agent
  stops before it writes: the agent cases prove its reading and deciding, the cli `node` cases
  prove the host writes.

A case is prepared in the parent (host files written there, so that the tree can be compared
before and after), and its target runs in a bounded child (tests.hostile.harness). kaudit is
imported lazily here so that a fixer's worktree on PYTHONPATH is the one the suite judges.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from tests.hostile.harness import Limits, Result

Target = Literal["cli", "webhook", "agent"]
Expectation = Literal["refused", "any"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KUBEADM_MANIFEST = FIXTURES / "kubeadm-kube-apiserver.yaml"
MIB = 1024 * 1024
KIB = 1024

# Planted in files kaudit must never read, copy or rewrite.
SECRET = b"-----BEGIN PRIVATE KEY-----\nSECRET-SIGNING-KEY-kaudit-hostile\n"
VICTIM = b"VICTIM-FILE-kaudit-hostile: not kaudit's to write\n"
NODE = "cp-1"


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """A case ready to run: what the child calls, under which limits, and what to check."""

    run: Callable[[], Result]
    limits: Limits = field(default_factory=Limits)
    # Strings of which a refusal must name one (a file, a field).
    names: tuple[str, ...] = ()
    # Extra checks on the case folder afterwards: each returns its complaints.
    after: tuple[Callable[[Path, Result], list[str]], ...] = ()
    # Paths (relative to the case folder) the case expects kaudit to change even when it
    # refuses the input: a recovery that undoes an earlier, unfinished change.
    may_change: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    target: Target
    input: str
    expect: Expectation
    prepare: Callable[[Path], Prepared]
    # Why this case cannot run here (None: it can).
    skip: str | None = None


# --- the three targets --------------------------------------------------------------------


def cli_target(argv: list[str]) -> Callable[[], Result]:
    def call() -> Result:
        from kaudit.cli import run  # noqa: PLC0415 - imported by the parent already; cheap

        out, err = io.StringIO(), io.StringIO()
        code = run(argv, out=out, err=err)
        return {
            "refused": code != 0,
            "code": code,
            "message": err.getvalue(),
            "out": out.getvalue(),
        }

    return call


def audit_config_body(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": "cluster", "generation": 1, "uid": "hostile"},
        "spec": dict(spec),
    }


def webhook_target(
    spec: Callable[[], Mapping[str, Any]], config_map: Callable[[], str] | None = None
) -> Callable[[], Result]:
    def call() -> Result:
        from kaudit.controller.admission import review_audit_config  # noqa: PLC0415

        # The API server sends JSON and kopf parses it: the handler sees what json.loads makes.
        body = json.loads(json.dumps(audit_config_body(spec())))
        text = config_map() if config_map is not None else None
        decision = review_audit_config(body, read_config_map=lambda namespace, name, key: text)
        return {
            "refused": not decision.allowed,
            "message": decision.message,
            "warnings": len(decision.warnings),
            "longest_warning": max((len(w) for w in decision.warnings), default=0),
        }

    return call


class FakeApi:
    """The API as one node agent sees it; it refuses every server-side dry-run."""

    DRY_RUN_REFUSAL = "the hostile suite's fake API refuses every dry-run"

    def __init__(self, body: Mapping[str, Any] | None, config_map_text: str | None) -> None:
        self.body = body
        self.config_map_text = config_map_text
        self.reports: list[Mapping[str, Any]] = []
        self.dry_runs = 0
        self.lease: dict[str, Any] | None = None

    def get_audit_config(self) -> Mapping[str, Any] | None:
        return self.body

    def node_names(self, selector: Mapping[str, str]) -> list[str]:
        return [NODE]

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.config_map_text

    def apply_audit_config_status(self, patch: Mapping[str, Any], *, field_manager: str) -> None:
        self.reports.append(patch)

    def get_pod(self, namespace: str, name: str) -> None:
        return None

    def dry_run_create_pod(self, namespace: str, pod: Mapping[str, Any]) -> None:
        from kaudit.kube.api import KubeError  # noqa: PLC0415

        self.dry_runs += 1
        raise KubeError(self.DRY_RUN_REFUSAL, status=403, reason="Forbidden")

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.lease

    def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        self.lease = dict(lease)
        return self.lease

    def replace_lease(self, namespace: str, name: str, lease: Mapping[str, Any]) -> dict[str, Any]:
        self.lease = dict(lease)
        return self.lease

    def record_event(self, **_: Any) -> None:
        return None

    def last_message(self) -> str:
        for patch in reversed(self.reports):
            for entry in patch.get("nodeStatuses") or []:
                return str(entry.get("phase", "")) + ": " + str(entry.get("message", ""))
        return ""


class GateReached(BaseException):
    """The agent wrote and now polls its health gate: the pass has decided, stop it here.

    A BaseException, so that no `except Exception` in kaudit turns it into a report.
    """


def _stop_at_the_gate(seconds: float) -> None:
    raise GateReached


class _WarningsKept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage()


def agent_target(
    root: Path,
    spec: Callable[[], Mapping[str, Any]] | None,
    config_map: Callable[[], str] | None = None,
) -> Callable[[], Result]:
    """One reconcile pass; spec None means no AuditConfig exists (the agent then reads the
    state file to find what it changed)."""

    def call() -> Result:
        from kaudit.agent.node_agent import AgentSettings, NodeAgent  # noqa: PLC0415
        from kaudit.kube.api import KubeApi, KubeError  # noqa: PLC0415

        body = None if spec is None else json.loads(json.dumps(audit_config_body(spec())))
        api = FakeApi(body, config_map() if config_map is not None else None)
        settings = AgentSettings(
            node_name=NODE,
            host_root=root,
            readyz_url="https://127.0.0.1:9/readyz",  # the discard port: refused at once
            pod_log_root=root / "var/log/pods",
        )
        warnings = _WarningsKept()
        logging.getLogger("kaudit").addHandler(warnings)
        agent = NodeAgent(cast(KubeApi, api), settings, sleep=_stop_at_the_gate)
        try:
            agent.reconcile_once()
        except KubeError as error:
            # run_forever handles these as "API not usable" and retries: not a crash.
            return {"refused": True, "message": f"API error: {error}", "dry_runs": api.dry_runs}
        except GateReached:
            # A disable needs no dry-run: it writes, then waits for the API server.
            return {"refused": False, "message": "wrote, then waited in the health gate"}
        # Refused: the pass stopped before it asked the API server to validate a new pod.
        # Without an AuditConfig there is no status to report to: the log says why.
        return {
            "refused": api.dry_runs == 0,
            "message": api.last_message() or warnings.last,
            "dry_runs": api.dry_runs,
        }

    return call


# --- host trees ---------------------------------------------------------------------------


def default_layout(root: Path) -> Any:
    """kaudit's own default layout (so the suite follows a worktree that moves a default)."""
    from kaudit.config import HostPathsSpec  # noqa: PLC0415
    from kaudit.hostio.files import HostLayout  # noqa: PLC0415

    return HostLayout(root=root, paths=HostPathsSpec())


def make_host(case_dir: Path) -> Path:
    """A kubeadm node's files under case_dir/host, a signing key, and a victim outside."""
    root = case_dir / "host"
    layout = default_layout(root)
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_bytes(KUBEADM_MANIFEST.read_bytes())
    layout.manifest.chmod(0o600)
    pki = root / "etc/kubernetes/pki"
    pki.mkdir(parents=True)
    (pki / "sa.key").write_bytes(SECRET)
    (pki / "sa.key").chmod(0o600)
    outside = case_dir / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(VICTIM)
    (outside / "victim.txt").chmod(0o644)
    return root


def enable_in_parent(root: Path) -> None:
    """Audit logging already on (as `kaudit node apply` leaves it), for disable cases."""
    from kaudit.config import AuditConfigSpec  # noqa: PLC0415
    from kaudit.desired import desired_state  # noqa: PLC0415
    from kaudit.hostio.files import apply_desired_state, layout_for  # noqa: PLC0415

    desired = desired_state(AuditConfigSpec(), source="suite")
    apply_desired_state(layout_for(desired, root=root), desired)


def secret_not_copied(case_dir: Path, result: Result) -> list[str]:
    """The signing key's and the victim's bytes are nowhere but in their own files.

    Compared by inode, not name: a hard link planted by the test is the victim itself.
    """
    originals = set()
    complaints = []
    for original in (case_dir / "host/etc/kubernetes/pki/sa.key", case_dir / "outside/victim.txt"):
        try:
            facts = original.lstat()
        except FileNotFoundError:
            complaints.append(f"{original.relative_to(case_dir)} was deleted")
            continue
        originals.add((facts.st_dev, facts.st_ino))
    for path in case_dir.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        facts = path.stat()
        if (facts.st_dev, facts.st_ino) in originals or facts.st_size > 64 * MIB:
            continue
        data = path.read_bytes()
        for marker in (b"SECRET-SIGNING-KEY", b"VICTIM-FILE"):
            if marker in data:
                complaints.append(f"{path.relative_to(case_dir)} holds a copy of {marker.decode()}")
    return complaints


def pending_change_gone(case_dir: Path, result: Result) -> list[str]:
    from kaudit.hostio.files import PENDING_FILE_NAME  # noqa: PLC0415

    layout = default_layout(case_dir / "host")
    if (layout.backup_dir / PENDING_FILE_NAME).exists():
        return ["the pending change was not recovered (still on the host after the pass)"]
    return []
