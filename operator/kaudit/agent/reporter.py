"""This node's entry in status.nodeStatuses: kept in memory, sent by server-side apply.

The agent writes only its own entry (field manager kaudit-agent-<node>), so agents never
overwrite each other. On a single-node cluster the API server the agent reports to is the one it
restarts: a report that fails is kept and sent again on the next step, except the report that
announces a write (Applying), which must be on record before the write: it is what tells the
other nodes that this one is changing (kaudit.rollout.turn waits for it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kaudit.hostio.files import HostLayout, describe_host
from kaudit.kube.api import KubeError
from kaudit.limits import bounded_message
from kaudit.rollout.entries import NodeEntry, NodePhase, agent_field_manager, updated_entry

log = logging.getLogger("kaudit.agent")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    # Write and verify times of neighbouring nodes fall within the same second.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class EntryReporter:
    def __init__(
        self,
        api: Any,
        *,
        node: str,
        host_root: Path,
        clock: Callable[[], datetime],
        facts_seconds: float,
    ) -> None:
        self.api = api
        self.node = node
        self.host_root = host_root
        self.clock = clock
        self.facts_seconds = facts_seconds
        self.entry = NodeEntry(nodeName=node)
        self.dirty = False
        self.recovered = False
        self.facts_refreshed: datetime | None = None
        self.previous: tuple[str, str] | None = None

    @property
    def field_manager(self) -> str:
        return agent_field_manager(self.node)

    def recover(self, entries: Mapping[str, NodeEntry]) -> None:
        """After a restart, carry on from our last report (failure history included)."""
        if self.recovered:
            return
        self.recovered = True
        found = entries.get(self.node)
        if found is not None:
            self.entry = NodeEntry(**found)

    def report(
        self,
        phase: NodePhase,
        message: str,
        *,
        generation: int | None,
        target_hash: str | None,
        layout: HostLayout | None,
        config_hash: str | None = None,
        failure: str | None = None,
        write_time: str | None = None,
        verified_time: str | None = None,
    ) -> bool:
        """Update the entry and send it; True when the API has it."""
        # Every problem of a policy is named, and a hostile one may have thousands: the entry
        # must stay a small write.
        message = bounded_message(message)
        now = self.clock()
        entry = updated_entry(
            self.entry,
            phase=phase,
            message=message,
            now=iso(now),
            generation=generation,
            target_hash=target_hash,
            applied_hash=config_hash,
            failure=failure,
        )
        if write_time is not None:
            entry["lastWriteTime"] = write_time
        if verified_time is not None:
            entry["lastVerifiedTime"] = verified_time
        if layout is not None and self._facts_due(entry, now):
            self._add_host_facts(entry, layout)
        changed = entry != self.entry
        self.entry = entry
        if changed or self.dirty:
            if (phase, message) != self.previous:
                self.previous = (phase, message)
                first_line = message.splitlines()[0] if message else ""
                log.info("Node %s: %s: %s", self.node, phase, first_line)
            self.dirty = True
        return self.flush()

    def _facts_due(self, entry: NodeEntry, now: datetime) -> bool:
        # At most every facts_seconds: the log grows with every report (reports are audited).
        return (
            entry.get("phase") != self.entry.get("phase")
            or self.facts_refreshed is None
            or (now - self.facts_refreshed).total_seconds() >= self.facts_seconds
        )

    def _add_host_facts(self, entry: NodeEntry, layout: HostLayout) -> None:
        self.facts_refreshed = self.clock()
        try:
            facts = describe_host(layout)
        except Exception as error:  # the entry goes out without them; the next report retries
            log.info("Host facts not read: %s", error)
            return
        if facts.newest_backup is not None:
            entry["newestBackup"] = self._node_path(facts.newest_backup.path)
        audit_log = facts.audit_log
        if audit_log.exists and audit_log.last_write is not None:
            entry["auditLogSizeBytes"] = audit_log.size_bytes
            entry["auditLogLastWrite"] = audit_log.last_write[:19] + "Z"

    def _node_path(self, path: str) -> str:
        """A path as the node knows it (/etc/...), not as this container mounts it (/host/...)."""
        try:
            return "/" + str(Path(path).relative_to(self.host_root))
        except ValueError:
            return path

    def flush(self) -> bool:
        if not self.dirty:
            return True
        try:
            self.api.apply_audit_config_status(
                {"nodeStatuses": [dict(self.entry)]}, field_manager=self.field_manager
            )
        except KubeError as error:
            if error.not_found:
                self.dirty = False  # the AuditConfig is gone: nothing to report on
            else:
                log.info("Status report deferred: %s", error)
            return False
        self.dirty = False
        return True

    def remove(self) -> None:
        try:
            self.api.apply_audit_config_status(
                {"nodeStatuses": []}, field_manager=self.field_manager
            )
        except KubeError as error:
            if not error.not_found:
                raise
        self.entry = NodeEntry(nodeName=self.node)
        self.dirty = False
