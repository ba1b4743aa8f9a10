"""Performs the one action kaudit.rollout.node_step decided: host writes, the turn, reports.

Every host read and write goes through kaudit.hostio (byte-exact, atomic); every API call
through the agent's API object. The order inside an action is what keeps the promises:
- a change is announced (Applying, on record) and recorded on the host (the pending change)
  before the first write, so that other nodes wait and a restarted agent finishes it;
- a rollback records itself (stage "restoring") before it restores, so that a crash in
  between restores again instead of verifying a half-restored host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from kaudit.agent.observe import AgentApi, manifest_facts
from kaudit.agent.reporter import EntryReporter, iso, iso_millis
from kaudit.config import RolloutSpec
from kaudit.desired import DesiredState, EnabledState
from kaudit.host_records import ChangeTarget, HostSnapshot, PendingChange
from kaudit.hostio.files import (
    HostError,
    HostLayout,
    apply_desired_state,
    clear_pending_change,
    restore_snapshot,
    save_pending_change,
    snapshot_host,
    write_file_atomically,
    write_manifest_atomically,
)
from kaudit.hostio.probes import NodeProbes
from kaudit.kube.api import KubeError
from kaudit.kube.lease import RolloutLease
from kaudit.limits import InputRefusedError
from kaudit.manifest import ManifestError, enable_audit, inspect_manifest
from kaudit.rollout.entries import NodePhase
from kaudit.rollout.node_step import (
    Action,
    FinishRolledBack,
    FinishVerified,
    GiveUp,
    Idle,
    KeepVerifying,
    Observation,
    RemoveEntry,
    Report,
    RollBack,
    StartChange,
    UndoUnwritten,
)
from kaudit.yamltext import YamlTextError, load_single_document

log = logging.getLogger("kaudit.agent")

COMPONENT = "kaudit-agent"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutorSettings:
    node: str
    namespace: str
    lease_name: str
    events_namespace: str
    crash_points: frozenset[str]


class Executor:
    def __init__(
        self,
        api: AgentApi,
        reporter: EntryReporter,
        probes: NodeProbes,
        settings: ExecutorSettings,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.api = api
        self.reporter = reporter
        self.probes = probes
        self.settings = settings
        self.clock = clock
        # The audit log's size and time just before this process wrote a change: the gate
        # wants new events after it. Lost with the process; the gate then goes by the time.
        self.log_before: dict[str, tuple[int, float]] = {}

    # --- dispatch --------------------------------------------------------------------------

    def perform(self, action: Action, seen: Observation, layout: HostLayout) -> None:
        handlers: dict[type, Callable[[Any, Observation, HostLayout], None]] = {
            Idle: self._idle,
            Report: self._report_only,
            StartChange: self._start_change,
            UndoUnwritten: self._undo_unwritten,
            KeepVerifying: self._keep_verifying,
            FinishVerified: self._finish_verified,
            RollBack: self._roll_back,
            GiveUp: self._give_up,
            FinishRolledBack: self._finish_rolled_back,
            RemoveEntry: self._remove_entry,
        }
        handlers[type(action)](action, seen, layout)

    # --- reports ---------------------------------------------------------------------------

    def _report(
        self,
        seen: Observation,
        phase: NodePhase,
        message: str,
        layout: HostLayout | None,
        *,
        pending: PendingChange | None = None,
        **fields: Any,
    ) -> bool:
        """A report about the spec as it is now, or (pending) about the change on the host."""
        if pending is not None:
            if not pending.reported or seen.config is None:
                return True
            generation, target_hash = pending.target.generation, pending.target.config_hash
        else:
            if seen.config is None:
                return True
            generation, target_hash = seen.target.generation, seen.target.config_hash
        return self.reporter.report(
            phase, message, generation=generation, target_hash=target_hash, layout=layout, **fields
        )

    def _event(self, seen: Observation, reason: str, message: str, *, warning: bool) -> None:
        if seen.config is None:
            log.warning("%s: %s", reason, message)
            return
        try:
            self.api.record_event(
                namespace=self.settings.events_namespace,
                involved=seen.config.body,
                reason=reason,
                message=message,
                warning=warning,
                component=COMPONENT,
            )
        except KubeError as error:
            log.warning("Event %s not recorded: %s", reason, error)

    def _fail(
        self,
        seen: Observation,
        layout: HostLayout,
        reason: str,
        *,
        rolled_back: bool,
        pending: PendingChange | None,
        verified_time: str | None = None,
    ) -> None:
        phase: NodePhase = "RolledBack" if rolled_back else "Failed"
        self._report(
            seen,
            phase,
            reason,
            layout,
            pending=pending,
            failure=reason,
            verified_time=verified_time,
        )
        self._event(seen, phase, f"node {self.settings.node}: {reason}", warning=True)

    # --- the turn --------------------------------------------------------------------------

    def _lease(self, timeout_seconds: int) -> RolloutLease:
        # Long enough to cover a whole health gate and its rollback, so a live holder never
        # loses its turn; a crashed holder's turn expires after it.
        return RolloutLease(
            self.api,  # type: ignore[arg-type]
            namespace=self.settings.namespace,
            name=self.settings.lease_name,
            holder=self.settings.node,
            duration_seconds=timeout_seconds * 2 + 60,
            clock=self.clock,
        )

    def _release(self, seen: Observation) -> None:
        if seen.lease is None or seen.lease.holder != self.settings.node:
            return
        with contextlib.suppress(KubeError):
            self._lease(seen.lease.duration_seconds).release()

    # --- actions ---------------------------------------------------------------------------

    def _idle(self, action: Idle, seen: Observation, layout: HostLayout) -> None:
        if action.release_lease:
            self._release(seen)
        if seen.config is not None and seen.selected and seen.entry.get("phase"):
            # Nothing to do: the entry's host facts are refreshed when due, and a report that
            # could not be sent is sent now.
            self._report(seen, seen.entry["phase"], seen.entry.get("message", ""), layout)

    def _report_only(self, action: Report, seen: Observation, layout: HostLayout) -> None:
        self._report(seen, action.phase, action.message, layout, config_hash=action.config_hash)
        if action.release_lease:
            self._release(seen)

    def _start_change(self, action: StartChange, seen: Observation, layout: HostLayout) -> None:
        timeout, auto_rollback = _rollout_settings(seen)
        lease = self._lease(timeout)
        if not lease.try_acquire():
            if action.report:
                holder = lease.current_holder()
                self._report(
                    seen, "Pending", f"waiting for the rollout turn held by {holder}", layout
                )
            return
        if action.report and not self._report(
            seen, "Applying", "validating and writing the policy and manifest", layout
        ):
            # Not on record: the other nodes would not know this one is changing.
            with contextlib.suppress(KubeError):
                lease.release()
            return
        if action.drift:
            self._event(
                seen,
                "DriftCorrected",
                f"node {self.settings.node}: the host no longer matched the AuditConfig "
                "(hand edit or kubeadm upgrade); writing it again",
                warning=True,
            )
        written = self._write_change(
            action, seen, layout, lease, timeout=timeout, auto_rollback=auto_rollback
        )
        if written is None:
            return
        self._crash_point(layout, "after-write")
        self._crash_point(layout, "hold-after-write")
        self._report(
            seen,
            "Verifying",
            "waiting for the API server to restart",
            layout,
            pending=written,
            write_time=written.written_at,
        )

    def _write_change(
        self,
        action: StartChange,
        seen: Observation,
        layout: HostLayout,
        lease: RolloutLease,
        *,
        timeout: int,
        auto_rollback: bool,
    ) -> PendingChange | None:
        """Validate, back up, record and write; the pending change when something was written."""
        desired = action.desired
        try:
            snapshot = snapshot_host(layout)
            self._dry_run(desired, snapshot, layout)
            pending = PendingChange(
                snapshot=snapshot,
                snapshot_hash=_config_hash_of(snapshot.manifest_text),
                target=ChangeTarget(
                    generation=seen.target.generation if action.report else None,
                    enabled=desired.enabled,
                    config_hash=desired.config_hash,
                ),
                written_at=iso_millis(self.clock()),
                health_timeout_seconds=timeout,
                auto_rollback=auto_rollback,
                reported=action.report,
            )
            if seen.host.audit_log_size is not None and seen.host.audit_log_mtime is not None:
                self.log_before[pending.written_at] = (
                    seen.host.audit_log_size,
                    seen.host.audit_log_mtime,
                )
            save_pending_change(layout, pending)
            result = apply_desired_state(
                layout,
                desired,
                clock=self.clock,
                checkpoint=lambda point: self._crash_point(layout, point),
            )
        except (HostError, ManifestError, KubeError, InputRefusedError) as error:
            with contextlib.suppress(HostError):
                clear_pending_change(layout)
            with contextlib.suppress(KubeError):
                lease.release()
            self._fail(
                seen, layout, f"nothing was changed: {error}", rolled_back=False, pending=None
            )
            return None
        log.info(
            "Wrote host files", extra={"node": self.settings.node, "hash": desired.config_hash}
        )
        if not result.changed:
            clear_pending_change(layout)
            return None
        return pending

    def _undo_unwritten(self, action: UndoUnwritten, seen: Observation, layout: HostLayout) -> None:
        # The previous run stopped between its backup and its manifest write: the kubelet never
        # saw a change. The next step makes the change again from the start, if still wanted.
        log.warning("Found a change a previous run backed up but never wrote; undoing it")
        restore_snapshot(layout, action.pending.snapshot, clock=self.clock)
        clear_pending_change(layout)

    def _keep_verifying(self, action: KeepVerifying, seen: Observation, layout: HostLayout) -> None:
        with contextlib.suppress(KubeError):
            self._lease(action.pending.health_timeout_seconds).renew()
        if action.nudge:
            self._nudge_kubelet(action.pending, seen, layout)
        self._report(seen, "Verifying", action.message, layout, pending=action.pending)

    def _nudge_kubelet(self, pending: PendingChange, seen: Observation, layout: HostLayout) -> None:
        """Write the manifest again, same bytes, new inode: kubernetes/kubernetes#109596."""
        text = seen.host.manifest_text
        if text is None:
            return
        save_pending_change(layout, dataclasses.replace(pending, nudged=True))
        try:
            write_manifest_atomically(layout, text)
            log.warning("The kubelet had not restarted kube-apiserver; wrote the manifest again")
        except (OSError, HostError, InputRefusedError) as error:
            log.warning("Could not rewrite the manifest to nudge the kubelet: %s", error)

    def _finish_verified(
        self, action: FinishVerified, seen: Observation, layout: HostLayout
    ) -> None:
        pending = action.pending
        clear_pending_change(layout)
        self.log_before.pop(pending.written_at, None)
        phase: NodePhase = "Applied" if pending.target.enabled else "Disabled"
        self._report(
            seen,
            phase,
            action.message,
            layout,
            pending=pending,
            config_hash=pending.target.config_hash or "",
            verified_time=iso_millis(self.clock()),
        )
        self._release_turn(pending)

    def _roll_back(self, action: RollBack, seen: Observation, layout: HostLayout) -> None:
        pending = action.pending
        reason = action.reason
        if pending.stage == "written":
            logs = self.probes.container_log_tail(
                manifest_facts(seen.host.manifest_text or "", self.settings.node).pod_name
            )
            if logs:
                reason += "\nlast kube-apiserver log lines:\n" + logs
        log.warning("Rolling back", extra={"node": self.settings.node, "reason": reason})
        restoring = dataclasses.replace(
            pending, stage="restoring", restored_at=iso_millis(self.clock()), failure=reason
        )
        try:
            save_pending_change(layout, restoring)
            restore_snapshot(layout, pending.snapshot, clock=self.clock)
        except (HostError, OSError) as error:
            with contextlib.suppress(HostError):
                clear_pending_change(layout)
            self._fail(
                seen,
                layout,
                f"{reason}; restoring the backup failed too: {error}",
                rolled_back=False,
                pending=pending,
            )
            self._release_turn(pending)
            return
        self._report(seen, "Verifying", f"rolling back: {reason}", layout, pending=pending)

    def _give_up(self, action: GiveUp, seen: Observation, layout: HostLayout) -> None:
        clear_pending_change(layout)
        self._fail(seen, layout, action.reason, rolled_back=False, pending=action.pending)
        self._release_turn(action.pending)

    def _finish_rolled_back(
        self, action: FinishRolledBack, seen: Observation, layout: HostLayout
    ) -> None:
        clear_pending_change(layout)
        self._fail(
            seen,
            layout,
            action.message,
            rolled_back=True,
            pending=action.pending,
            verified_time=iso_millis(self.clock()),
        )
        self._release_turn(action.pending)

    def _remove_entry(self, action: RemoveEntry, seen: Observation, layout: HostLayout) -> None:
        self.reporter.remove()

    def _release_turn(self, pending: PendingChange) -> None:
        with contextlib.suppress(KubeError):
            self._lease(pending.health_timeout_seconds).release()

    # --- validation and fault injection ------------------------------------------------------

    def _dry_run(self, desired: DesiredState, snapshot: HostSnapshot, layout: HostLayout) -> None:
        """Let the API server validate the whole new pod before the kubelet ever sees it."""
        if not isinstance(desired, EnabledState):
            return
        new_text = enable_audit(snapshot.manifest_text, desired.patch, source=str(layout.manifest))
        try:
            pod = load_single_document(new_text)
        except YamlTextError as error:
            # The round-trip reader kept something the plain one refuses (a number too long to
            # convert): the manifest is not one kaudit can have validated, so nothing is written.
            raise ManifestError(str(layout.manifest), "(file)", str(error)) from None
        if not isinstance(pod, dict):
            return
        metadata = dict(pod.get("metadata") or {})
        metadata["name"] = f"kaudit-dry-run-{self.settings.node}"[:63]
        metadata["namespace"] = self.settings.namespace
        metadata.pop("resourceVersion", None)
        metadata.pop("uid", None)
        pod = {
            **pod,
            "metadata": metadata,
            "spec": {**(pod.get("spec") or {}), "nodeName": self.settings.node},
        }
        pod.pop("status", None)
        self.api.dry_run_create_pod(self.settings.namespace, pod)

    def _crash_point(self, layout: HostLayout, point: str) -> None:
        """Fault injection for the end-to-end tests: exit (or hang) here once per node."""
        if point not in self.settings.crash_points:
            return
        marker = layout.backup_dir / f"kaudit-crashed-{point}"
        if marker.exists():
            return  # once per node: the restarted agent must be able to finish
        write_file_atomically(marker, iso(self.clock()) + "\n")
        if point.startswith("hold-"):
            log.error("Fault injection: holding at %s as a hung process would", point)
            threading.Event().wait()
        log.error("Fault injection: exiting at %s as a crash would", point)
        logging.shutdown()
        os._exit(86)


def _rollout_settings(seen: Observation) -> tuple[int, bool]:
    spec = seen.config.spec if seen.config is not None else None
    rollout = spec.rollout if spec is not None else RolloutSpec()
    return rollout.health_timeout_seconds, rollout.auto_rollback


def _config_hash_of(manifest_text: str) -> str | None:
    try:
        return inspect_manifest(manifest_text, source="backup").config_hash
    except ManifestError:
        return None
