"""From the nodes' entries to the AuditConfig's conditions and summary: pure, no I/O.

Conditions follow what GitOps tools read (kstatus, as Flux uses it): `Ready`; `Reconciling`
while a rollout is under way; `Stalled` when it cannot go on without a spec change (a node
rolled back or failed, the policy is invalid, no node is selected). Reconciling and Stalled are
never true together. Every condition carries the generation it was computed for, so that
`kubectl wait --for=condition=Ready` does not trust a condition from an older spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from kaudit.rollout.entries import NodeEntry, RolloutTarget, failed_for_target, node_is_done

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(TypedDict):
    type: str
    status: ConditionStatus
    reason: str
    message: str
    observedGeneration: int
    lastTransitionTime: str


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What the controller writes besides the per-node entries."""

    phase: str
    message: str
    nodes_ready: str
    conditions: tuple[Condition, ...]


def summarize(
    *,
    target: RolloutTarget,
    policy_problem: str | None = None,
    selected_nodes: Sequence[str],
    entries: Mapping[str, NodeEntry],
    previous: Sequence[Mapping[str, Any]] = (),
    now: str,
) -> Summary:
    """Conditions and a one-line summary from the nodes' own reports.

    policy_problem: why the spec or its policy cannot be used; the rollout is stalled on it.
    entries: status.nodeStatuses by node name.
    """
    done = [name for name in selected_nodes if node_is_done(entries.get(name), target)]
    nodes_ready = f"{len(done)}/{len(selected_nodes)}"
    failed = [
        (name, entries[name])
        for name in selected_nodes
        if name in entries and failed_for_target(entries[name], target)
    ]

    if policy_problem is not None:
        ready, reconciling, stalled = False, False, True
        reason, message, phase = "PolicyInvalid", policy_problem, "Degraded"
    elif not selected_nodes:
        ready, reconciling, stalled = False, False, True
        reason, phase = "NoNodesSelected", "Degraded"
        message = "no node matches spec.nodeSelector; no API server is configured"
    elif failed:
        ready, reconciling, stalled = False, False, True
        name, entry = failed[0]
        reason = "NodeFailed" if entry.get("phase") == "Failed" else "RolledBack"
        detail = entry.get("lastFailedReason") or entry.get("message") or "health check failed"
        message = (
            f"node {name} {entry.get('phase')}: {detail}; "
            "the rollout is stopped until the spec changes"
        )
        phase = "Degraded"
    elif len(done) == len(selected_nodes):
        ready, reconciling, stalled = True, False, False
        if target.enabled:
            reason, phase = "AuditLogging", "Enabled"
            message = f"audit logging is on on {nodes_ready} nodes"
        else:
            reason, phase = "AuditLoggingOff", "Disabled"
            message = f"audit logging is off on {nodes_ready} nodes"
    else:
        ready, reconciling, stalled = False, True, False
        reason, phase = "RollingOut", "Progressing"
        waiting = [name for name in selected_nodes if name not in done]
        busy = [
            f"{name} {entries[name].get('phase')}"
            for name in waiting
            if name in entries and entries[name].get("phase") in ("Applying", "Verifying")
        ]
        message = f"{nodes_ready} nodes done"
        message += f"; {', '.join(busy)}" if busy else f"; waiting for {', '.join(waiting)}"

    wanted: list[tuple[str, bool, str, str]] = [
        ("Ready", ready, reason, message),
        ("Reconciling", reconciling, reason if reconciling else "Idle", message),
        ("Stalled", stalled, reason if stalled else "Progressing", message),
    ]
    conditions = tuple(
        set_condition(
            previous,
            type_=type_,
            status="True" if value else "False",
            reason=why,
            message=text,
            # An object always has a generation; 0 only for a body without one (hand-made).
            generation=target.generation or 0,
            now=now,
        )
        for type_, value, why, text in wanted
    )
    return Summary(phase=phase, message=message, nodes_ready=nodes_ready, conditions=conditions)


def set_condition(
    previous: Sequence[Mapping[str, Any]],
    *,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> Condition:
    """A condition whose lastTransitionTime moves only when its status changes."""
    before = next((c for c in previous if c.get("type") == type_), None)
    moved = before is None or before.get("status") != status
    transition = now if moved or before is None else str(before.get("lastTransitionTime") or now)
    return Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observedGeneration=generation,
        lastTransitionTime=transition,
    )
