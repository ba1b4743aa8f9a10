"""One node's entry in status.nodeStatuses, and what it says about the rollout: pure, no I/O.

Each entry is written only by that node's agent (its own server-side apply field manager). The
controller and every agent read the same entries, so "this node is done for this target" and
"this node already failed this change" are defined once, here, for both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypedDict, cast, get_type_hints

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


class NodeEntry(TypedDict, total=False):
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


@dataclass(frozen=True, kw_only=True)
class RolloutTarget:
    """What every selected node must reach for one generation of the spec.

    config_hash: the hash of the render the nodes apply; None when audit logging is off or the
    spec cannot be rendered.
    """

    generation: int | None
    enabled: bool
    config_hash: str | None


def node_is_done(entry: NodeEntry | None, target: RolloutTarget) -> bool:
    """The node reported the target reached, for this very generation."""
    if entry is None or target.generation is None:
        return False
    if entry.get("observedGeneration") != target.generation:
        return False
    if target.enabled:
        return entry.get("phase") == "Applied" and entry.get("configHash") == target.config_hash
    return entry.get("phase") == "Disabled"


def failed_for_target(entry: NodeEntry | None, target: RolloutTarget) -> bool:
    """The node already failed this very change: trying again would fail the same way.

    A rollback reported for an older generation does not count: changing the spec is exactly
    how a user resumes a stopped rollout.
    """
    return (
        entry is not None
        and target.generation is not None
        and entry.get("phase") in ("RolledBack", "Failed")
        and entry.get("observedGeneration") == target.generation
    )


def agent_field_manager(node_name: str) -> str:
    """The server-side apply field manager that owns one node's entry."""
    return f"kaudit-agent-{node_name}"


# The type each field must have; a field of another type (anyone with status write access can
# put one there) is left out of the entry rather than trusted.
_FIELD_TYPES: Final[Mapping[str, type]] = {
    # Every field is a whole number or text (a phase is text checked against NODE_PHASES).
    name: int if hint is int else str
    for name, hint in get_type_hints(NodeEntry).items()
}


def entry_from_data(data: object) -> NodeEntry | None:
    """A node entry as read from the object; None when it names no node.

    Fields of the wrong type, unknown fields and an unknown phase are dropped, so that every
    reader can rely on NodeEntry's types.
    """
    if not isinstance(data, Mapping):
        return None
    entry: dict[str, Any] = {}
    for name, kind in _FIELD_TYPES.items():
        value = data.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            entry[name] = value
    if entry.get("phase") not in (None, *NODE_PHASES):
        del entry["phase"]
    if not entry.get("nodeName"):
        return None
    return cast(NodeEntry, entry)


def entries_by_node(items: object) -> dict[str, NodeEntry]:
    """status.nodeStatuses by node name; anything that is not an entry is left out."""
    if not isinstance(items, list | tuple):
        return {}
    entries: dict[str, NodeEntry] = {}
    for item in items:
        entry = entry_from_data(item)
        if entry is not None:
            entries.setdefault(entry["nodeName"], entry)
    return entries


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


def updated_entry(
    current: NodeEntry,
    *,
    phase: NodePhase,
    message: str,
    now: str,
    generation: int | None,
    target_hash: str | None,
    applied_hash: str | None,
    failure: str | None,
) -> NodeEntry:
    """A node's next entry.

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
    return cast(NodeEntry, entry)
