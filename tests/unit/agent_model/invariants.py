"""The five promises, checked after every event (and at every host write for invariant 2).

1. At most one node between "manifest written" and "verified": a node is in flight from the
   moment its manifest differs from the text it last settled on, or while it holds a pending
   change whose manifest was written (or is being restored), until the agent records it
   verified or restored (the pending record goes).
2. The kubelet never reads a manifest that is not the original or a whole kaudit render of it
   for a spec of the universe (partial and invalid texts are neither).
3. A node whose kube-apiserver ran the change healthily, as its agent could see at a step (the
   server runs the written config and is Ready, the mirror pod says so, the API answers, the
   audit log is written since the write), is never reported RolledBack or Failed for it.
4. Once faults stop, every node converges to the spec, or the rollout stops at a node whose
   start-up really failed, restored byte for byte, with no later node touched.
5. Disable and delete give back the original bytes (CRLF and no final newline included) and
   take away the policy file kaudit wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.unit.agent_model.universe import PENDING_PATH, Rendering

_LIMIT = 1 << 22


class InvariantViolationError(AssertionError):
    """An invariant that did not hold: which one and what was seen."""

    def __init__(self, invariant: str, detail: str) -> None:
        super().__init__(f"invariant {invariant}: {detail}")
        self.invariant = invariant
        self.detail = detail


@dataclass(kw_only=True)
class Write:
    """The manifest of a node took a new text."""

    text: str
    config_hash: str | None
    at: float  # the world clock (epoch seconds) when it was seen
    healthy_seen: bool = False


@dataclass(kw_only=True)
class PendingView:
    """The parts of the agent's pending-change file the invariants read."""

    snapshot_text: str | None
    restoring: bool


@dataclass(kw_only=True)
class NodeBook:
    """What the invariants remember about one node."""

    original: str
    renderings: dict[str, Rendering]
    settled_text: str
    last_text: str
    had_pending: bool = False
    last_inode: int = -1
    rewrites: int = 0  # manifest writes that kept the text (kubelet nudges)
    phases: list[str] = field(default_factory=list)  # the entry's phases, as they changed
    writes: list[Write] = field(default_factory=list)
    last_entry: dict[str, Any] | None = None
    # Config hashes written here since the spec (or its ConfigMap) last changed.
    hashes_since_change: set[str | None] = field(default_factory=set)

    def rendering(self, text: str) -> Rendering | None:
        return self.renderings.get(text)


def read_pending(files: Any) -> PendingView | None:
    text = files.read_text(PENDING_PATH, limit=_LIMIT, what="pending change")
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return PendingView(snapshot_text=None, restoring=False)
    snapshot = data.get("manifestText")
    if snapshot is None and isinstance(data.get("snapshot"), dict):
        snapshot = data["snapshot"].get("manifestText")
    return PendingView(
        snapshot_text=snapshot if isinstance(snapshot, str) else None,
        restoring=data.get("stage") == "restoring",
    )


def check_text(node: str, book: NodeBook, text: str | None, *, reader: str) -> None:
    """Invariant 2 for one text someone may read as the manifest."""
    if text is None:
        raise InvariantViolationError("2", f"{node}: {reader} found no manifest at all")
    if book.rendering(text) is None:
        crlf = "\r\n" in text
        raise InvariantViolationError(
            "2",
            f"{node}: {reader} read a manifest that is neither the original nor a kaudit render"
            f" of it ({len(text)} chars, CRLF {crlf}, starts {text[:80]!r},"
            f" ends {text[-80:]!r})",
        )


def in_flight(book: NodeBook, text: str, pending: PendingView | None) -> bool:
    if pending is not None:
        written = pending.snapshot_text is not None and text != pending.snapshot_text
        return written or pending.restoring
    return text != book.settled_text


def settle(
    book: NodeBook, text: str, pending: PendingView | None, entry: dict[str, Any] | None
) -> None:
    """The agent recorded the node verified or restored: its text is the settled one."""
    if pending is None and book.had_pending:
        book.settled_text = text
    elif pending is None and entry is not None:
        rendering = book.rendering(text)
        reported = entry.get("phase")
        if rendering is not None and (
            (reported == "Applied" and entry.get("configHash") == rendering.config_hash)
            or (reported == "Disabled" and rendering.config_hash is None)
        ):
            book.settled_text = text
    book.had_pending = pending is not None


def check_failure_report(node: str, book: NodeBook, entry: dict[str, Any] | None) -> None:
    """Invariant 3, when an entry turns RolledBack or Failed."""
    before = book.last_entry or {}
    book.last_entry = entry
    phase = (entry or {}).get("phase")
    if phase is not None and (not book.phases or book.phases[-1] != phase):
        book.phases.append(str(phase))
    if entry is None or entry.get("phase") not in ("RolledBack", "Failed"):
        return
    if entry.get("phase") == before.get("phase") and entry.get("failureCount") == before.get(
        "failureCount"
    ):
        return
    target_hash = entry.get("targetConfigHash")
    # The change is the last write, or the one before it when the last was the restore.
    for write in book.writes[-2:][::-1]:
        if write.config_hash == target_hash:
            if write.healthy_seen:
                raise InvariantViolationError(
                    "3",
                    f"{node} reported {entry.get('phase')} for config "
                    f"{target_hash or '(audit off)'} although its API server ran that config"
                    f" healthily and its agent stepped while it did: {entry.get('message')!r}",
                )
            return
