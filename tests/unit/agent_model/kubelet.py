"""One node's kubelet and its kube-apiserver static pod, tick by tick.

The kubelet notices a manifest change after a delay (or, with kubernetes#109596, not until
the file's inode changes again), stops the old server and starts the new one, which either
becomes Ready after a few ticks or crash-loops (a config the schedule says fails on this
node, or a window of failing starts). It reports the container on the mirror pod late, and
sometimes only once the node's own API server is up. While it runs with audit logging on it
appends to the audit log file the manifest names. Every manifest text it reads goes through
`on_read`, which is where invariant 2 looks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tests.unit.agent_model.universe import MANIFEST_PATH, Rendering

ServerState = Literal["stopped", "starting", "running", "crashlooping"]

_MANIFEST_LIMIT = 1 << 20


@dataclass(kw_only=True)
class ServerProcess:
    """What kube-apiserver on this node runs, as the node (not the API) knows it."""

    state: ServerState = "running"
    text: str = ""
    config_hash: str | None = None
    host_log_path: str | None = None
    started_at: datetime | None = None
    ready: bool = True
    ready_at_tick: int = 0
    pod_uid: str = ""


@dataclass(kw_only=True)
class KubeletFaults:
    """What the schedule did to this kubelet; all of it ends when the faults stop."""

    notice_delay: int = 0  # ticks between a manifest change and the restart
    report_delay: int = 0  # ticks between a container change and the mirror pod report
    report_needs_api: bool = False  # the report waits for this node's API server
    ignore_next_change: bool = False  # kubernetes#109596: blind until the inode moves again
    failing_until_tick: int = -1  # every start fails until then
    ready_ticks: int = 1  # ticks from start to Ready


@dataclass(kw_only=True)
class Kubelet:
    node: str
    files: Any  # the node's HostFileSystem
    renderings: dict[str, Rendering]
    failing_hashes: frozenset[str]
    on_read: Callable[[str, str], None]  # (node, text) for invariant 2
    process: ServerProcess = field(default_factory=ServerProcess)
    faults: KubeletFaults = field(default_factory=KubeletFaults)
    seen_inode: int = -1
    notice_due: int | None = None
    published: dict[str, Any] | None = None  # the mirror pod as the API shows it
    report_due: int | None = None
    container_log_mtimes: dict[str, float] = field(default_factory=dict)
    audit_events: int = 0
    # Every config hash whose start really failed here (invariant 4 accepts a stop there).
    failed_starts: set[str | None] = field(default_factory=set)

    # --- set up ----------------------------------------------------------------------

    def boot(self, now: datetime, tick: int) -> None:
        """The node as the schedule finds it: the original manifest running and reported."""
        facts = self.files.file_facts(MANIFEST_PATH)
        self.seen_inode = facts.inode if facts is not None else -1
        text = self._read()
        self._start(text, now, tick)
        self.process.state = "running"
        self.process.ready = True
        self.published = self.true_pod()

    # --- one tick ----------------------------------------------------------------------

    def tick(self, now: datetime, tick: int, *, api_up: bool) -> None:
        self._notice(now, tick)
        self._progress(now, tick)
        if self.process.state in ("running", "starting", "crashlooping"):
            self.container_log_mtimes[self.process.pod_uid] = now.timestamp()
        if self.process.state == "running" and self.process.ready:
            self._write_audit_log(now)
        self._report(tick, api_up=api_up)

    def _notice(self, now: datetime, tick: int) -> None:
        facts = self.files.file_facts(MANIFEST_PATH)
        inode = facts.inode if facts is not None else -1
        if inode != self.seen_inode:
            self.seen_inode = inode
            if self.faults.ignore_next_change and self._peek() != self.process.text:
                # kubernetes#109596: this change goes unseen until the file is written again.
                self.faults.ignore_next_change = False
            elif self.notice_due is None:
                self.notice_due = tick + self.faults.notice_delay
        if self.notice_due is not None and tick >= self.notice_due:
            self.notice_due = None
            text = self._read()
            if text is not None and text != self.process.text:
                self._start(text, now, tick)

    def _peek(self) -> str | None:
        return self.files.read_text(MANIFEST_PATH, limit=_MANIFEST_LIMIT, what="manifest")

    def _read(self) -> str | None:
        text = self._peek()
        if text is not None:
            self.on_read(self.node, text)
        return text

    def _start(self, text: str | None, now: datetime, tick: int) -> None:
        rendering = self.renderings.get(text or "")
        process = self.process
        process.text = text or ""
        process.config_hash = rendering.config_hash if rendering else None
        process.host_log_path = rendering.host_log_path if rendering else None
        process.pod_uid = _pod_uid(self.node, process.text)
        process.started_at = now
        process.ready = False
        fails = rendering is None or (
            process.config_hash is not None and process.config_hash in self.failing_hashes
        )
        if fails or tick <= self.faults.failing_until_tick:
            process.state = "crashlooping"
            self.failed_starts.add(process.config_hash)
        else:
            process.state = "starting"
            process.ready_at_tick = tick + self.faults.ready_ticks
        self._container_changed(tick)

    def _progress(self, now: datetime, tick: int) -> None:
        process = self.process
        if process.state == "starting" and tick >= process.ready_at_tick:
            process.state = "running"
            process.ready = True
            self._container_changed(tick)
        elif process.state == "crashlooping" and tick > self.faults.failing_until_tick:
            fails = process.config_hash is not None and process.config_hash in self.failing_hashes
            if not fails and self.renderings.get(process.text) is not None:
                # The back-off restart after a passing fault.
                process.state = "starting"
                process.started_at = now
                process.ready_at_tick = tick + self.faults.ready_ticks
                self._container_changed(tick)

    def _container_changed(self, tick: int) -> None:
        if self.report_due is None:
            self.report_due = tick + self.faults.report_delay

    def _report(self, tick: int, *, api_up: bool) -> None:
        if self.report_due is None or tick < self.report_due:
            return
        if self.faults.report_needs_api and not self.server_ready:
            return
        if not api_up:
            return
        self.report_due = None
        self.published = self.true_pod()

    def _write_audit_log(self, now: datetime) -> None:
        path = self.process.host_log_path
        if path is None:
            return
        self.audit_events += 1
        folder = path.rsplit("/", 1)[0]
        self.files.make_folders(folder)
        self.files.write_atomically(path, f"{self.audit_events} audit events\n", mode=0o600)

    # --- what others see -------------------------------------------------------------

    @property
    def server_ready(self) -> bool:
        return self.process.state == "running" and self.process.ready

    def true_pod(self) -> dict[str, Any]:
        """The mirror pod as the kubelet would report it now."""
        process = self.process
        annotations = {"kubernetes.io/config.mirror": process.pod_uid}
        if process.config_hash is not None:
            annotations["kaudit.io/config-hash"] = process.config_hash
        state: dict[str, Any]
        if process.state in ("running", "starting") and process.started_at is not None:
            state = {"running": {"startedAt": process.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")}}
        elif process.state == "crashlooping":
            state = {"waiting": {"reason": "CrashLoopBackOff"}}
        else:
            state = {"terminated": {"reason": "Completed"}}
        return {
            "metadata": {
                "name": f"kube-apiserver-{self.node}",
                "namespace": "kube-system",
                "annotations": annotations,
            },
            "status": {
                "containerStatuses": [
                    {"name": "kube-apiserver", "state": state, "ready": self.server_ready}
                ]
            },
        }

    def container_log_mtime(self, pod_uid: str) -> float | None:
        return self.container_log_mtimes.get(pod_uid)

    def end_faults(self) -> None:
        self.faults = KubeletFaults(ready_ticks=self.faults.ready_ticks)


def _pod_uid(node: str, text: str) -> str:
    # The kubelet derives a static pod's UID from its content: a new text is a new pod.
    return hashlib.sha256(f"{node}\0{text}".encode()).hexdigest()[:32]
