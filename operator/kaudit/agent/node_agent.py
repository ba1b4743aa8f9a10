"""One control-plane node's agent: observe, decide, act, one step at a time.

Every step reads the desired state fresh (the AuditConfig from the API, the node list) and the
actual state from the host files (kaudit.agent.observe), asks the pure decision
(kaudit.rollout.node_step.decide) for one action, and performs it (kaudit.agent.executor).
Nothing depends on having seen a particular event, so a missed watch event, a restart or a hand
edit all end the same way. Steps run on every AuditConfig or ConfigMap event, on a host file
change, on a timer, and every gate poll while a change is being verified.

Nothing a user or another process wrote may stop the agent: a policy or spec that cannot be
used, and host files that cannot be read (over a size limit, a symlink, a FIFO, a broken state
or pending-change file), become the problem reported on this node's entry.

On a single-node cluster the API server the agent talks to is the one it restarts: every API
call may fail for tens of seconds. A step whose reads fail ends (the next one retries); a
report that fails is kept and sent again; the gate's deadline comes from the pending-change
record on the host, so it holds across failed steps and restarts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kaudit.agent.executor import Executor, ExecutorSettings
from kaudit.agent.observe import AgentApi, Observer
from kaudit.agent.reporter import EntryReporter
from kaudit.hostio.files import HostError
from kaudit.hostio.fs import HostFileSystem
from kaudit.hostio.probes import HostProbes, NodeProbes
from kaudit.kube.api import KubeError
from kaudit.limits import InputRefusedError
from kaudit.manifest import ManifestError
from kaudit.rollout.entries import agent_field_manager
from kaudit.rollout.node_step import Action, Observation, ObserveHealth, decide

log = logging.getLogger("kaudit.agent")

# Host files that cannot be used: reported on the node's entry, never a crash loop.
_HOST_PROBLEMS = (HostError, InputRefusedError, ManifestError)
COMPONENT: Final = "kaudit-agent"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    node_name: str
    host_root: Path
    namespace: str = "kaudit-system"
    lease_name: str = "kaudit-rollout"
    events_namespace: str = "default"
    resync_seconds: float = 30.0
    file_poll_seconds: float = 2.0
    gate_poll_seconds: float = 2.0
    facts_seconds: float = 30.0
    ca_file: str | None = None
    readyz_url: str | None = None
    pod_log_root: Path | None = None
    # Fault injection for the end-to-end tests: points ("after-backup", "after-write",
    # "hold-after-write") where this agent exits (or hangs) at once, as a crash would, the
    # first time it passes them.
    crash_points: frozenset[str] = frozenset()

    @property
    def field_manager(self) -> str:
        return agent_field_manager(self.node_name)


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    action: str
    # When the next step is due; None: at the next event, host file change or resync.
    wait_seconds: float | None


class NodeAgent:
    def __init__(
        self,
        api: AgentApi,
        settings: AgentSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
        probes: NodeProbes | None = None,
        files: HostFileSystem | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.wake = threading.Event()
        node = settings.node_name
        self.probes = probes or HostProbes(
            pod_log_root=settings.pod_log_root or settings.host_root / "var/log/pods",
            ca_file=settings.ca_file,
        )
        self.reporter = EntryReporter(
            api,
            node=node,
            host_root=settings.host_root,
            clock=clock,
            facts_seconds=settings.facts_seconds,
        )
        self.observer = Observer(
            api,
            node=node,
            host_root=settings.host_root,
            files=files,
            probes=self.probes,
            readyz_url=settings.readyz_url,
            lease_namespace=settings.namespace,
            lease_name=settings.lease_name,
            clock=clock,
        )
        self.executor = Executor(
            api,
            self.reporter,
            self.probes,
            ExecutorSettings(
                node=node,
                namespace=settings.namespace,
                lease_name=settings.lease_name,
                events_namespace=settings.events_namespace,
                crash_points=settings.crash_points,
            ),
            clock=clock,
        )
        # Which pending change this process watches, and since when (a restarted agent
        # watches it at least a little before it may call it unhealthy).
        self.watching: tuple[str, datetime] | None = None

    # --- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            wait: float | None
            try:
                wait = self.step().wait_seconds
                backoff = 1.0
            except Exception:
                log.exception("Step failed")
                backoff = min(backoff * 2, 5.0)
                wait = backoff
            if wait is not None:
                stop.wait(wait)
            else:
                self._wait_for_cause(stop)

    def reconcile_once(self) -> None:
        """Steps until the agent would wait for something outside: for tests and the CLI."""
        for _ in range(1000):
            outcome = self.step()
            if outcome.wait_seconds is None:
                return
            self.sleep(outcome.wait_seconds)

    def _wait_for_cause(self, stop: threading.Event) -> None:
        """Sleep until an event, a host file change or the resync timer."""
        deadline = time.monotonic() + self.settings.resync_seconds
        fingerprint = self._host_fingerprint()
        while not stop.is_set() and time.monotonic() < deadline:
            if self.wake.wait(self.settings.file_poll_seconds):
                self.wake.clear()
                return
            if self._host_fingerprint() != fingerprint:
                log.info("Host files changed", extra={"node": self.settings.node_name})
                return

    def _host_fingerprint(self) -> tuple[object, ...]:
        try:
            layout = self.observer.layout(None)
            return tuple(
                layout.files.file_facts(path)
                for path in (layout.paths.manifest, layout.paths.policy_file)
            )
        except HostError as error:
            # A state file kaudit cannot use: the next step reports it; waiting goes on.
            return ("unusable host file", error.reason)

    # --- one step ------------------------------------------------------------------------

    def step(self) -> StepOutcome:
        try:
            body = self.api.get_audit_config()
        except KubeError as error:
            log.warning("Step skipped: API not usable (%s)", error)
            return StepOutcome(action="ApiUnavailable", wait_seconds=2.0)
        entries = _entries_of(body)
        self.reporter.recover(entries)
        self.reporter.flush()
        try:
            return self._step_with(body)
        except KubeError as error:
            log.warning("Step ended: API not usable (%s)", error)
            return StepOutcome(action="ApiUnavailable", wait_seconds=2.0)
        except _HOST_PROBLEMS as error:
            self._report_host_problem(body, error)
            return StepOutcome(action="HostProblem", wait_seconds=None)

    def _step_with(self, body: Mapping[str, Any] | None) -> StepOutcome:
        seen, layout = self.observer.observe(body, self.reporter.entry, self._watching_since(None))
        pending = seen.host.pending
        if pending is not None:
            seen = replace(seen, watching_since=self._watching_since(pending.written_at))
        else:
            self.watching = None
        action = decide(seen)
        if isinstance(action, ObserveHealth):
            seen = self._with_health(seen, action)
            action = decide(seen)
        self.executor.perform(action, seen, layout)
        return StepOutcome(action=type(action).__name__, wait_seconds=self._next_step(action))

    def _with_health(self, seen: Observation, action: ObserveHealth) -> Observation:
        pending = seen.host.pending
        log_before = (
            self.executor.log_before.get(pending.written_at) if pending is not None else None
        )
        verdict, mirror = self.observer.health(seen.host, action.expectation, log_before=log_before)
        return replace(seen, health=verdict, mirror=mirror)

    def _watching_since(self, written_at: str | None) -> datetime | None:
        if written_at is None:
            return self.watching[1] if self.watching is not None else None
        if self.watching is None or self.watching[0] != written_at:
            self.watching = (written_at, self.clock())
        return self.watching[1]

    def _next_step(self, action: Action) -> float | None:
        name = type(action).__name__
        if name in ("StartChange", "KeepVerifying", "RollBack", "UndoUnwritten"):
            return self.settings.gate_poll_seconds
        if name == "Report" and getattr(action, "phase", "") == "Verifying":
            return self.settings.gate_poll_seconds
        return None

    def _report_host_problem(self, body: Mapping[str, Any] | None, error: Exception) -> None:
        message = f"host files not usable: {error}"
        log.error("Step stopped: %s", message, extra={"node": self.settings.node_name})
        if body is None:
            return
        generation = (body.get("metadata") or {}).get("generation")
        self.reporter.report(
            self.reporter.entry.get("phase", "Pending"),
            message,
            generation=generation if isinstance(generation, int) else None,
            target_hash=self.reporter.entry.get("targetConfigHash"),
            layout=None,
        )


def _entries_of(body: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if body is None:
        return {}
    status = body.get("status")
    entries = status.get("nodeStatuses") if isinstance(status, Mapping) else None
    if not isinstance(entries, list):
        return {}
    return {
        str(entry.get("nodeName")): entry
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("nodeName")
    }
