"""From per-node entries to the AuditConfig's conditions and summary: pure, no I/O.

Conditions follow what GitOps tools read (kstatus, as Flux uses it): `Ready`; `Reconciling`
while a rollout is under way; `Stalled` when it cannot go on without a spec change (a node
rolled back or failed, the policy is invalid, no node is selected). Reconciling and Stalled are
never true together. Every condition carries the generation it was computed for, so that
`kubectl wait --for=condition=Ready` does not trust a condition from an older spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict, cast

NodePhase = Literal[
    "Pending", "Applying", "Verifying", "Applied", "Disabled", "RolledBack", "Failed"
]
NODE_PHASES: Final[tuple[NodePhase, ...]] = (
    "Pending",
    "Applying",
    "Verifying",
    "Applied",
    "Disabled",
    "RolledBack",
    "Failed",
)
ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(TypedDict):
    type: str
    status: ConditionStatus
    reason: str
    message: str
    observedGeneration: int
    lastTransitionTime: str


class NodeStatus(TypedDict, total=False):
    """One node's entry in status.nodeStatuses, written only by that node's agent."""

    nodeName: str
    phase: NodePhase
    observedGeneration: int
    configHash: str
    targetConfigHash: str
    lastFailedConfigHash: str
    lastFailedTime: str
    lastFailedReason: str
    failureCount: int
    newestBackup: str
    auditLogSizeBytes: int
    auditLogLastWrite: str
    lastTransitionTime: str
    # When kaudit last wrote this node's manifest, and when the API server was last seen
    # healthy after it (millisecond precision): the spans of two nodes never overlap.
    lastWriteTime: str
    lastVerifiedTime: str
    message: str


def agent_field_manager(node_name: str) -> str:
    """The server-side apply field manager that owns one node's entry."""
    return f"kaudit-agent-{node_name}"


def entries_not_listed(
    node_statuses: Iterable[Mapping[str, Any]], listed_nodes: Iterable[str]
) -> list[str]:
    """Names of the entries whose node is not in the list.

    With the selected nodes: the candidates for a node that left the cluster, whose agent is no
    longer there to remove its entry itself.
    """
    listed = set(listed_nodes)
    return sorted(
        name
        for entry in node_statuses
        if (name := str(entry.get("nodeName") or "")) and name not in listed
    )


@dataclass(frozen=True, kw_only=True)
class Summary:
    """What the controller writes besides the per-node entries."""

    phase: str
    message: str
    nodes_ready: str
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the nodes should reach for the current generation."""

    generation: int
    enabled: bool
    config_hash: str | None
    policy_problem: str | None = None


def summarize(
    *,
    target: Target,
    selected_nodes: Sequence[str],
    node_statuses: Iterable[NodeStatus],
    previous: Sequence[Mapping[str, Any]] = (),
    now: str,
) -> Summary:
    """Conditions and a one-line summary from the nodes' own reports."""
    by_node = {entry.get("nodeName"): entry for entry in node_statuses if entry.get("nodeName")}
    done = [name for name in selected_nodes if _is_done(by_node.get(name), target)]
    nodes_ready = f"{len(done)}/{len(selected_nodes)}"
    failed = [
        (name, by_node[name])
        for name in selected_nodes
        if name in by_node
        and by_node[name].get("phase") in ("RolledBack", "Failed")
        and _is_current_failure(by_node[name], target)
    ]

    if target.policy_problem is not None:
        ready, reconciling, stalled = False, False, True
        reason, message, phase = "PolicyInvalid", target.policy_problem, "Degraded"
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
            f"{name} {by_node[name].get('phase')}"
            for name in waiting
            if name in by_node and by_node[name].get("phase") in ("Applying", "Verifying")
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
            generation=target.generation,
            now=now,
        )
        for type_, value, why, text in wanted
    )
    return Summary(phase=phase, message=message, nodes_ready=nodes_ready, conditions=conditions)


def _is_done(entry: NodeStatus | None, target: Target) -> bool:
    if entry is None or entry.get("observedGeneration") != target.generation:
        return False
    if target.enabled:
        return entry.get("phase") == "Applied" and entry.get("configHash") == target.config_hash
    return entry.get("phase") == "Disabled"


def _is_current_failure(entry: NodeStatus, target: Target) -> bool:
    # A rollback reported for an older spec does not stall a newer one: fixing the spec is
    # exactly how a user resumes a stopped rollout.
    return entry.get("observedGeneration") == target.generation


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


def updated_entry(
    current: NodeStatus,
    *,
    phase: NodePhase,
    message: str,
    now: str,
    generation: int | None,
    target_hash: str | None,
    applied_hash: str | None,
    failure: str | None,
) -> NodeStatus:
    """A node's next status entry.

    applied_hash: the config now running on the node; None leaves the recorded one as it is
    (a report about progress says nothing about it), "" clears it (audit logging is off).
    """
    entry: dict[str, Any] = dict(current)
    if entry.get("phase") != phase:
        entry["lastTransitionTime"] = now
    entry["phase"] = phase
    entry["message"] = message[:2000]
    if generation is not None:
        entry["observedGeneration"] = generation
    if target_hash:
        entry["targetConfigHash"] = target_hash
    else:
        entry.pop("targetConfigHash", None)
    if applied_hash:
        entry["configHash"] = applied_hash
    elif applied_hash == "":
        entry.pop("configHash", None)
    if failure is not None:
        entry["lastFailedReason"] = failure[:2000]
        entry["lastFailedTime"] = now
        entry["failureCount"] = int(str(entry.get("failureCount") or 0)) + 1
        if target_hash:
            entry["lastFailedConfigHash"] = target_hash
    return cast(NodeStatus, entry)
