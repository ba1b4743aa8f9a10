"""The agent's decisions, state by state (table-driven, as library-go tests its installer).

Each row is a situation a node can be in, and the one action the agent must take there.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kaudit.audit_config import ParsedAuditConfig
from kaudit.config import AuditConfigSpec, PolicySpec
from kaudit.desired import DisabledState, EnabledState, desired_state
from kaudit.host_records import ChangeTarget, HostFacts, HostSnapshot, PendingChange
from kaudit.manifest import enable_audit, inspect_manifest
from kaudit.rollout.entries import NodeEntry
from kaudit.rollout.health import HealthVerdict
from kaudit.rollout.node_step import (
    FinishRolledBack,
    FinishVerified,
    GiveUp,
    Idle,
    KeepVerifying,
    Observation,
    ObserveHealth,
    RemoveEntry,
    Report,
    RollBack,
    StartChange,
    UndoUnwritten,
    decide,
    host_view,
)
from kaudit.rollout.turn import LeaseView

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"
ORIGINAL = (FIXTURES / "kubeadm-v1.34.yaml").read_text()
NOW = datetime(2026, 12, 2, 12, 0, 0, tzinfo=UTC)


def enabled(preset: str = "Recommended") -> EnabledState:
    state = desired_state(
        AuditConfigSpec(enabled=True, policy=PolicySpec(preset=preset)), source="test"
    )
    assert isinstance(state, EnabledState)
    return state


GEN1 = enabled("Recommended")
GEN2 = enabled("Metadata")
OFF = DisabledState(host_paths=GEN1.host_paths, log_file_name=GEN1.log_file_name)
RENDER1 = enable_audit(ORIGINAL, GEN1.patch, source="test")
HEALTHY = HealthVerdict(healthy=True, steps=(("mirror pod has the new config", True, "ok"),))
UNHEALTHY = HealthVerdict(
    healthy=False, steps=(("mirror pod has the new config", False, "annotation (none)"),)
)
STARTED = HealthVerdict(
    healthy=False,
    steps=(
        ("mirror pod has the new config", True, "ok"),
        ("/readyz answers ok", False, "not answering"),
    ),
)


def pending(
    *,
    generation: int = 1,
    written: timedelta = timedelta(seconds=10),
    **changes: Any,
) -> PendingChange:
    record = PendingChange(
        snapshot=HostSnapshot(manifest_text=ORIGINAL, policy_text=None),
        snapshot_hash=None,
        target=ChangeTarget(generation=generation, enabled=True, config_hash=GEN1.config_hash),
        written_at=(NOW - written).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        health_timeout_seconds=120,
        auto_rollback=True,
        reported=True,
    )
    return dataclasses.replace(record, **changes)


def entry(phase: str, *, generation: int = 1, config_hash: str | None = None) -> NodeEntry:
    found: dict[str, Any] = {"nodeName": "x", "phase": phase, "observedGeneration": generation}
    if config_hash:
        found["configHash"] = config_hash
    return NodeEntry(**found)  # type: ignore[typeddict-item]


def observe(
    *,
    node: str = "cp-1",
    generation: int = 1,
    desired: EnabledState | DisabledState | None = GEN1,
    manifest: str | None = ORIGINAL,
    policy: str | None = None,
    record: PendingChange | None = None,
    entries: dict[str, NodeEntry] | None = None,
    mine: NodeEntry | None = None,
    lease_holder: str | None = None,
    config: bool = True,
    selected: bool = True,
    **extra: Any,
) -> Observation:
    entries = dict(entries or {})
    if mine is not None:
        entries[node] = mine
    parsed = (
        ParsedAuditConfig(
            generation=generation,
            deleting=False,
            spec=AuditConfigSpec(enabled=desired is not None and desired.enabled),
            problem=None if desired is not None else "spec.policy.preset: unknown preset",
            entries=entries,
            body={"metadata": {"name": "cluster", "generation": generation}},
        )
        if config
        else None
    )
    facts = HostFacts(
        manifest_text=manifest,
        policy_text=policy,
        pending=record,
        audit_log_size=None,
        audit_log_mtime=None,
        audit_enabled_by_kaudit=bool(manifest) and inspect_manifest(manifest, source="t").managed,
    )
    return Observation(
        node=node,
        now=NOW,
        config=parsed,
        desired=desired if config else None,
        problem=None if desired is not None else "spec.policy.preset: unknown preset",
        selected=selected,
        order=("cp-1", "cp-2", "cp-3") if selected else ("cp-2", "cp-3"),
        host=facts,
        view=host_view(manifest, policy, desired) if (desired is not None and config) else None,
        lease=LeaseView(holder=lease_holder, renewed=NOW, duration_seconds=300),
        entry=mine or NodeEntry(nodeName=node),
        disabled_here=OFF,
        **extra,
    )


ROWS: list[tuple[str, Observation, type, dict[str, Any]]] = [
    ("no AuditConfig, host untouched", observe(config=False), Idle, {}),
    (
        "no AuditConfig, kaudit's manifest: disable without a report",
        observe(config=False, manifest=RENDER1),
        StartChange,
        {"report": False, "desired": OFF},
    ),
    (
        "no AuditConfig, kaudit's manifest, another node's turn",
        observe(config=False, manifest=RENDER1, lease_holder="cp-2"),
        Idle,
        {},
    ),
    (
        "spec unusable: the problem is reported, the phase kept",
        observe(desired=None, mine=entry("Applied")),
        Report,
        {"phase": "Applied"},
    ),
    ("first node, host differs: change", observe(), StartChange, {"report": True, "drift": False}),
    (
        "second node waits for the first",
        observe(node="cp-2"),
        Report,
        {"phase": "Pending", "message": "waiting for cp-1 to finish first"},
    ),
    (
        "second node goes once the first is done",
        observe(node="cp-2", entries={"cp-1": entry("Applied", config_hash=GEN1.config_hash)}),
        StartChange,
        {"report": True},
    ),
    (
        "another node is changing: wait even out of order (never two API servers down)",
        observe(
            node="cp-1",
            entries={"cp-3": entry("Verifying", generation=1)},
            mine=entry("Applied", config_hash=GEN1.config_hash),
        ),
        Report,
        {"phase": "Pending"},
    ),
    (
        "the turn is held by another node",
        observe(lease_holder="cp-3"),
        Report,
        {"phase": "Pending", "message": "waiting for the rollout turn held by cp-3"},
    ),
    (
        "this change failed here already: the failure stays on display",
        observe(mine=entry("RolledBack")),
        Idle,
        {},
    ),
    (
        "an earlier node rolled back: the rollout stops",
        observe(node="cp-2", entries={"cp-1": entry("RolledBack")}),
        Report,
        {"phase": "Pending"},
    ),
    (
        "host as desired, entry done: nothing",
        observe(
            manifest=RENDER1,
            policy=GEN1.policy_text,
            mine=entry("Applied", config_hash=GEN1.config_hash),
        ),
        Idle,
        {},
    ),
    (
        "host as desired, not yet confirmed: look at the API server",
        observe(manifest=RENDER1, policy=GEN1.policy_text),
        ObserveHealth,
        {},
    ),
    (
        "host as desired and healthy: Applied",
        observe(manifest=RENDER1, policy=GEN1.policy_text, health=HEALTHY),
        Report,
        {"phase": "Applied", "config_hash": GEN1.config_hash},
    ),
    (
        "host as desired but unhealthy: Verifying",
        observe(manifest=RENDER1, policy=GEN1.policy_text, health=UNHEALTHY),
        Report,
        {"phase": "Verifying"},
    ),
    (
        "a recorded change never written: undo it",
        observe(record=pending()),
        UndoUnwritten,
        {},
    ),
    (
        "a written change: look at the API server",
        observe(manifest=RENDER1, record=pending()),
        ObserveHealth,
        {},
    ),
    (
        "a written change, healthy: verified",
        observe(manifest=RENDER1, record=pending(), health=HEALTHY),
        FinishVerified,
        {},
    ),
    (
        "defect 1: written for generation 1, the spec is at 2: verified against what was written",
        observe(generation=2, desired=GEN2, manifest=RENDER1, record=pending(), health=HEALTHY),
        FinishVerified,
        {},
    ),
    (
        "a written change, not yet healthy: keep verifying",
        observe(manifest=RENDER1, record=pending(), health=STARTED),
        KeepVerifying,
        {"nudge": False},
    ),
    (
        "half the timeout and the kubelet has not moved: nudge it",
        observe(manifest=RENDER1, record=pending(written=timedelta(seconds=70)), health=UNHEALTHY),
        KeepVerifying,
        {"nudge": True},
    ),
    (
        "nudged once already: no second nudge",
        observe(
            manifest=RENDER1,
            record=pending(written=timedelta(seconds=70), nudged=True),
            health=UNHEALTHY,
        ),
        KeepVerifying,
        {"nudge": False},
    ),
    (
        "past the timeout: roll back",
        observe(manifest=RENDER1, record=pending(written=timedelta(seconds=130)), health=UNHEALTHY),
        RollBack,
        {},
    ),
    (
        "past the timeout, autoRollback off: Failed",
        observe(
            manifest=RENDER1,
            record=pending(written=timedelta(seconds=130), auto_rollback=False),
            health=UNHEALTHY,
        ),
        GiveUp,
        {},
    ),
    (
        "past the timeout but this process has only just started watching: keep watching",
        observe(
            manifest=RENDER1,
            record=pending(written=timedelta(seconds=600)),
            health=UNHEALTHY,
            watching_since=NOW - timedelta(seconds=5),
        ),
        KeepVerifying,
        {},
    ),
    (
        "a restore cut short by a crash: restore again",
        observe(
            manifest=RENDER1,
            record=pending(stage="restoring", restored_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ),
        RollBack,
        {},
    ),
    (
        "restored and healthy: RolledBack",
        observe(
            record=pending(stage="restoring", restored_at=NOW.strftime("%Y-%m-%dT%H:%M:%SZ")),
            health=HEALTHY,
        ),
        FinishRolledBack,
        {},
    ),
    (
        "restored and still unhealthy after the timeout: Failed",
        observe(
            record=pending(
                stage="restoring",
                restored_at=(NOW - timedelta(seconds=200)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            ),
            health=UNHEALTHY,
        ),
        GiveUp,
        {},
    ),
    (
        "not selected, host clean, entry listed: remove it",
        observe(selected=False, entries={"cp-1": entry("Applied")}),
        RemoveEntry,
        {},
    ),
    (
        "not selected, kaudit's manifest: disable without a report",
        observe(selected=False, manifest=RENDER1),
        StartChange,
        {"report": False},
    ),
]


@pytest.mark.parametrize(
    ("situation", "seen", "kind", "fields"), ROWS, ids=[row[0] for row in ROWS]
)
def test_the_agent_takes_the_one_right_action(
    situation: str, seen: Observation, kind: type, fields: dict[str, Any]
) -> None:
    action = decide(seen)
    assert isinstance(action, kind), f"{situation}: got {action}"
    for name, value in fields.items():
        assert getattr(action, name) == value, f"{situation}: {name} of {action}"


def test_a_change_left_by_a_crash_is_verified_against_its_own_record_not_the_new_spec() -> None:
    seen = observe(generation=2, desired=GEN2, manifest=RENDER1, record=pending(generation=1))
    action = decide(seen)
    assert isinstance(action, ObserveHealth)
    assert action.expectation.config_hash == GEN1.config_hash
