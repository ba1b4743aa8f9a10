"""A node agent's next step, decided from what it observed: pure, no I/O.

The agent's promise (never two API servers changing at once, never a healthy node rolled
back, always back to what the spec says) rests on these decisions, so they are one function
of plain values, table-tested like library-go's installer controller, and run by the model
test over crashes, spec changes and outages. The executor (kaudit.agent.executor) reads the
world into an `Observation`, asks `decide`, and performs the one `Action` it gets.

A change written to the host is recorded first (the pending-change record) with everything
needed to finish it: the snapshot to restore, the change's own target (generation, config
hash), its health timeout and whether it may be rolled back. Verifying and rolling back read
that record, never the current spec, so an agent that died mid-change and comes back after
the spec moved on still verifies what it wrote (issue 12, defect 1). The deadline counts
from the write, with a minimum watch for a restarted agent: it must see the API server for
itself before it may call it unhealthy.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from kaudit.audit_config import ParsedAuditConfig
from kaudit.desired import DesiredState, DisabledState, EnabledState
from kaudit.host_records import HostFacts, PendingChange
from kaudit.manifest import ManifestError, enable_audit, inspect_manifest, same_pod
from kaudit.rollout.entries import (
    NodeEntry,
    NodePhase,
    RolloutTarget,
    failed_for_target,
    node_is_done,
)
from kaudit.rollout.health import KUBELET_REPORT_GRACE_SECONDS, HealthVerdict
from kaudit.rollout.turn import LeaseView, decide_turn, parse_time

# A restarted agent watches a pending change at least this long before it may roll it back:
# the kubelet's report lags the API server by up to its grace, and the readyz streak starts
# again with the new process.
MIN_WATCH_SECONDS: Final = KUBELET_REPORT_GRACE_SECONDS * 2
EPOCH: Final = datetime.fromtimestamp(0, UTC)


@dataclass(frozen=True, kw_only=True)
class HostView:
    """The host's files held against the desired state (computed by pure manifest code)."""

    # The manifest carries kaudit's annotations: audit logging is kaudit's here.
    managed: bool
    # Enabling (or disabling) again would change nothing.
    matches_desired: bool


@dataclass(frozen=True, kw_only=True)
class MirrorPodView:
    """What the API says runs on this node, for a steady-state check."""

    running_hash: str | None
    api_error: str | None


@dataclass(frozen=True, kw_only=True)
class Observation:
    node: str
    now: datetime
    config: ParsedAuditConfig | None  # None: there is no AuditConfig
    desired: DesiredState | None  # None: the spec or its policy cannot be used
    problem: str | None  # why desired is None
    selected: bool
    order: tuple[str, ...]
    host: HostFacts
    view: HostView | None  # None when there is no desired state to compare with
    # What "audit logging off" means on this host (its recorded paths): for a host kaudit
    # changed that no AuditConfig, or no longer this node, asks for.
    disabled_here: DisabledState
    lease: LeaseView | None
    entry: NodeEntry  # this agent's own entry as last reported
    health: HealthVerdict | None = None  # observed only when a decision needs it
    mirror: MirrorPodView | None = None
    # When this agent process began watching the pending change (None: not yet).
    watching_since: datetime | None = None

    @property
    def target(self) -> RolloutTarget:
        generation = self.config.generation if self.config is not None else None
        if self.desired is None:
            return RolloutTarget(generation=generation, enabled=False, config_hash=None)
        return RolloutTarget(
            generation=generation,
            enabled=self.desired.enabled,
            config_hash=self.desired.config_hash,
        )

    @property
    def entries(self) -> Mapping[str, NodeEntry]:
        return self.config.entries if self.config is not None else {}


@functools.lru_cache(maxsize=64)
def host_view(
    manifest_text: str | None, policy_text: str | None, desired: DesiredState
) -> HostView:
    """The host's manifest and policy against the desired state.

    Not just the config-hash annotation: a hand edit that deletes the audit flags leaves the
    annotation in place, and must still count as drift.
    """
    if manifest_text is None:
        return HostView(managed=False, matches_desired=False)
    try:
        managed = inspect_manifest(manifest_text, source="manifest").managed
        if not isinstance(desired, EnabledState):
            return HostView(managed=managed, matches_desired=not managed)
        wanted = enable_audit(manifest_text, desired.patch, source="manifest")
    except ManifestError:
        return HostView(managed=False, matches_desired=False)
    matches = same_pod(wanted, manifest_text) and policy_text == desired.policy_text
    return HostView(managed=managed, matches_desired=matches)


# --- actions -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ObserveHealth:
    """The decision needs the health gate's view (of the pending change, or the steady state)."""

    expectation: HealthWanted


@dataclass(frozen=True, kw_only=True)
class HealthWanted:
    config_hash: str | None
    since: datetime
    check_log: bool


@dataclass(frozen=True, kw_only=True)
class Idle:
    reason: str
    release_lease: bool = False


@dataclass(frozen=True, kw_only=True)
class Report:
    """Only this node's entry changes (a problem, a wait, a steady-state check)."""

    phase: NodePhase
    message: str
    config_hash: str | None = None  # "" clears it; None keeps it
    release_lease: bool = False


@dataclass(frozen=True, kw_only=True)
class StartChange:
    """Take the turn, validate, back up, record the pending change, write."""

    desired: DesiredState
    report: bool  # False: no entry to report on (no AuditConfig, node not selected)
    drift: bool  # the node was done and its host no longer matches: an Event says so


@dataclass(frozen=True, kw_only=True)
class UndoUnwritten:
    """A previous run recorded a change and died before the manifest write: put back what
    else it wrote (the policy file); the kubelet never saw a change."""

    pending: PendingChange


@dataclass(frozen=True, kw_only=True)
class KeepVerifying:
    pending: PendingChange
    message: str
    nudge: bool  # write the manifest again, same bytes (kubernetes#109596)


@dataclass(frozen=True, kw_only=True)
class FinishVerified:
    pending: PendingChange
    message: str


@dataclass(frozen=True, kw_only=True)
class RollBack:
    pending: PendingChange
    reason: str


@dataclass(frozen=True, kw_only=True)
class GiveUp:
    """Unhealthy and autoRollback is off, or the restore did not bring it back."""

    pending: PendingChange
    reason: str


@dataclass(frozen=True, kw_only=True)
class FinishRolledBack:
    pending: PendingChange
    message: str


@dataclass(frozen=True, kw_only=True)
class RemoveEntry:
    """The node is no longer selected and its host is clean: its entry goes."""


Action = (
    ObserveHealth
    | Idle
    | Report
    | StartChange
    | UndoUnwritten
    | KeepVerifying
    | FinishVerified
    | RollBack
    | GiveUp
    | FinishRolledBack
    | RemoveEntry
)


# --- the decision ------------------------------------------------------------------------


def decide(seen: Observation) -> Action:
    """The one next action for this node."""
    # First, whatever the AuditConfig says now: a change on the host is finished or undone.
    if seen.host.pending is not None:
        return _decide_pending(seen, seen.host.pending)
    if seen.config is None or not seen.selected:
        return _decide_unmanaged(seen)
    if seen.desired is None or seen.view is None:
        return Report(
            phase=seen.entry.get("phase", "Pending"), message=seen.problem or "no desired state"
        )
    if seen.view.matches_desired:
        return _decide_confirm(seen, seen.desired)
    return _decide_turn(seen, seen.desired)


def _decide_pending(seen: Observation, pending: PendingChange) -> Action:
    if pending.stage == "restoring":
        return _decide_restoring(seen, pending)
    if seen.host.manifest_text == pending.snapshot.manifest_text:
        return UndoUnwritten(pending=pending)
    written_at = parse_time(pending.written_at)
    if seen.health is None:
        return ObserveHealth(
            expectation=HealthWanted(
                config_hash=pending.target.config_hash,
                since=written_at,
                check_log=pending.target.enabled,
            )
        )
    if seen.health.healthy:
        elapsed = (seen.now - written_at).total_seconds()
        return FinishVerified(
            pending=pending,
            message=f"API server restarted healthy in {max(elapsed, 0):.0f} s"
            + (" and is writing audit events" if pending.target.enabled else ""),
        )
    timeout = pending.health_timeout_seconds
    if seen.now < _deadline(seen, written_at, timeout):
        nudge = (
            not pending.nudged
            and not seen.health.annotation_moved
            and seen.now >= written_at + timedelta(seconds=timeout / 2)
        )
        return KeepVerifying(pending=pending, message=seen.health.first_failure, nudge=nudge)
    reason = f"not healthy {timeout} s after the write: {seen.health.failures}"
    if not pending.auto_rollback:
        return GiveUp(pending=pending, reason=f"health check failed, autoRollback is off: {reason}")
    return RollBack(pending=pending, reason=reason)


def _decide_restoring(seen: Observation, pending: PendingChange) -> Action:
    reason = pending.failure or "the change was not healthy"
    if seen.host.manifest_text != pending.snapshot.manifest_text:
        # The restore was cut short (a crash): it is idempotent, so it runs again.
        return RollBack(pending=pending, reason=reason)
    restored_at = parse_time(pending.restored_at or pending.written_at)
    if seen.health is None:
        return ObserveHealth(
            expectation=HealthWanted(
                config_hash=pending.snapshot_hash,
                since=restored_at,
                check_log=pending.snapshot_hash is not None,
            )
        )
    if seen.health.healthy:
        elapsed = (seen.now - restored_at).total_seconds()
        return FinishRolledBack(
            pending=pending,
            message=f"rolled back (healthy again {max(elapsed, 0):.0f} s after the restore): "
            + reason,
        )
    if seen.now < _deadline(seen, restored_at, pending.health_timeout_seconds):
        return KeepVerifying(
            pending=pending,
            message=f"rolled back, waiting for the API server: {seen.health.first_failure}",
            nudge=False,
        )
    return GiveUp(
        pending=pending,
        reason=f"{reason}; after restoring the backup the API server is still unhealthy: "
        + seen.health.first_failure,
    )


def _deadline(seen: Observation, since: datetime, timeout: int) -> datetime:
    deadline = since + timedelta(seconds=timeout)
    if seen.watching_since is not None:
        watch = min(float(timeout), MIN_WATCH_SECONDS)
        deadline = max(deadline, seen.watching_since + timedelta(seconds=watch))
    return deadline


def _decide_unmanaged(seen: Observation) -> Action:
    """No AuditConfig, or this node is not selected: a host kaudit changed goes back."""
    if seen.host.audit_enabled_by_kaudit:
        if seen.lease is not None and not seen.lease.free_for(seen.node, seen.now):
            return Idle(reason=f"waiting for the rollout turn held by {seen.lease.holder}")
        return StartChange(desired=seen.disabled_here, report=False, drift=False)
    if seen.config is not None and seen.node in seen.config.entries:
        return RemoveEntry()
    return Idle(reason="nothing of kaudit's on this node", release_lease=_holding(seen))


def _decide_confirm(seen: Observation, desired: DesiredState) -> Action:
    phase: NodePhase = "Applied" if desired.enabled else "Disabled"
    target = seen.target
    if node_is_done(seen.entry, target):
        return Idle(reason="the host is as the spec says", release_lease=_holding(seen))
    if (
        seen.entry.get("phase") == phase
        and seen.entry.get("configHash") == (desired.config_hash or None)
        and seen.entry.get("observedGeneration") is not None
    ):
        # Only the generation moved (a spec change that changes nothing on this host): the
        # configuration it runs was verified already.
        return Report(
            phase=phase,
            message=seen.entry.get("message", ""),
            config_hash=desired.config_hash or "",
            release_lease=_holding(seen),
        )
    if not desired.enabled:
        if seen.mirror is None:
            return ObserveHealth(
                expectation=HealthWanted(config_hash=None, since=seen.now, check_log=False)
            )
        if seen.mirror.api_error is not None:
            return Report(phase="Verifying", message=f"API not answering: {seen.mirror.api_error}")
        if seen.mirror.running_hash:
            return Report(
                phase="Verifying",
                message=f"kube-apiserver still runs kaudit's configuration "
                f"{seen.mirror.running_hash}",
            )
        return Report(
            phase=phase, message="audit logging is off", config_hash="", release_lease=True
        )
    if seen.health is None:
        # Steady state: no write to compare with, so any start time and any log file will do.
        return ObserveHealth(
            expectation=HealthWanted(config_hash=desired.config_hash, since=EPOCH, check_log=True)
        )
    if not seen.health.healthy:
        return Report(phase="Verifying", message=seen.health.first_failure)
    return Report(
        phase=phase,
        message="audit logging is on; the API server runs the configuration",
        config_hash=desired.config_hash,
        release_lease=True,
    )


def _decide_turn(seen: Observation, desired: DesiredState) -> Action:
    target = seen.target
    mine = seen.entries.get(seen.node)
    drift = node_is_done(mine, target)
    decision = decide_turn(
        me=seen.node,
        order=seen.order,
        entries=seen.entries,
        target=target,
        drift_only=drift,
    )
    if not decision.may_start:
        if seen.entry.get("phase") in ("RolledBack", "Failed") and failed_for_target(mine, target):
            return Idle(reason="the failure stays on display until the spec changes")
        return Report(phase="Pending", message=decision.reason)
    if seen.lease is not None and not seen.lease.free_for(seen.node, seen.now):
        return Report(
            phase="Pending", message=f"waiting for the rollout turn held by {seen.lease.holder}"
        )
    return StartChange(desired=desired, report=True, drift=drift)


def _holding(seen: Observation) -> bool:
    return (
        seen.lease is not None
        and seen.lease.holder == seen.node
        and not seen.lease.expired(seen.now)
    )


# Every action, for the model test's coverage line and the docs.
ACTION_NAMES: Final = tuple(
    sorted(
        cls.__name__
        for cls in (
            ObserveHealth,
            Idle,
            Report,
            StartChange,
            UndoUnwritten,
            KeepVerifying,
            FinishVerified,
            RollBack,
            GiveUp,
            FinishRolledBack,
            RemoveEntry,
        )
    )
)
