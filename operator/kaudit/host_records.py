"""The records an agent step reads from a host, as plain typed values: pure, no I/O.

kaudit.hostio reads and writes them (the pending change is a JSON file beside the backups);
kaudit.rollout.node_step decides from them. They live here so that deciding needs no I/O module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal


@dataclass(frozen=True, kw_only=True)
class HostSnapshot:
    """The two files a change touches, as they were just before it: what a rollback restores."""

    manifest_text: str
    policy_text: str | None


@dataclass(frozen=True, kw_only=True)
class ChangeTarget:
    """What a written change is for: the spec's generation and what it asked."""

    generation: int | None
    enabled: bool
    config_hash: str | None


PendingStage = Literal["written", "restoring"]
PENDING_STAGES: Final[frozenset[str]] = frozenset({"written", "restoring"})
# The spec's default (RolloutSpec): what an agent from before issue 12 waited.
DEFAULT_HEALTH_TIMEOUT_SECONDS: Final = 300


@dataclass(frozen=True, kw_only=True)
class PendingChange:
    """A change written but not yet verified, kept on the host so a restarted agent can finish it
    (verify) or undo it (restore the snapshot) whatever the AuditConfig says by then.

    It carries what the gate needs from the spec it was written for (the target, the timeout,
    autoRollback): a spec changed meanwhile must not change how this change is judged.
    """

    snapshot: HostSnapshot
    target: ChangeTarget
    written_at: str  # ISO UTC with milliseconds, "2026-12-02T18:00:00.123Z"
    health_timeout_seconds: int = DEFAULT_HEALTH_TIMEOUT_SECONDS
    auto_rollback: bool = True
    # False: made with no entry to report it on (no AuditConfig, or the node not selected).
    reported: bool = True
    stage: PendingStage = "written"
    restored_at: str | None = None  # set when stage == "restoring"
    nudged: bool = False  # the kubelet nudge (kubernetes#109596) was done
    # The config hash of the snapshot's manifest: what a restore must bring back.
    snapshot_hash: str | None = None
    # Why the change is being rolled back (stage "restoring"), for the report after it.
    failure: str | None = None


@dataclass(frozen=True, kw_only=True)
class HostFacts:
    """What one agent step reads from the host, exact: the texts are the files' own."""

    manifest_text: str | None
    policy_text: str | None
    pending: PendingChange | None
    audit_log_size: int | None
    audit_log_mtime: float | None
    audit_enabled_by_kaudit: bool  # the manifest carries kaudit's annotations
