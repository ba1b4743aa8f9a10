"""Which node may change its API server now: pure decisions, no I/O.

Production control planes run three or five API servers behind a load balancer. Restarting
two at once can take the cluster down, and a bad change on every node at once takes it down for
good. So one node changes at a time, in a stable order (sorted node names, as
system-upgrade-controller orders its plans), and a node starts only when every node before it is
done for the same generation. A rollback or failure for the current generation stops the
rollout until the spec changes. The turn itself is a coordination.k8s.io Lease, so the rule
holds even when the controller is down; a crashed agent's turn expires (as kured's lock does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kaudit.rollout.entries import NodeEntry, RolloutTarget, failed_for_target, node_is_done


@dataclass(frozen=True, kw_only=True)
class TurnDecision:
    may_start: bool
    reason: str


def rollout_order(nodes: Sequence[str]) -> list[str]:
    """A stable order every agent computes the same way from the same node list."""
    return sorted(set(nodes))


def decide_turn(
    *,
    me: str,
    order: Sequence[str],
    entries: Mapping[str, NodeEntry],
    target: RolloutTarget,
    drift_only: bool = False,
) -> TurnDecision:
    """May this node start changing its API server now (lease aside)?

    drift_only: this node was done for the target and only needs its host put back (a hand
    edit, kubeadm upgrade); that does not wait for earlier nodes, but still for a stopped
    rollout and for the lease.
    """
    if failed_for_target(entries.get(me), target):
        return TurnDecision(
            may_start=False,
            reason="this change failed here already; the rollout waits for a spec change",
        )
    stopped = [
        name for name in order if name != me and failed_for_target(entries.get(name), target)
    ]
    if stopped:
        return TurnDecision(
            may_start=False,
            reason=f"rollout stopped: {', '.join(stopped)} "
            f"{entries[stopped[0]].get('phase')}; change the spec to resume",
        )
    if drift_only or me not in order:
        return TurnDecision(may_start=True, reason="drift correction")
    before = order[: order.index(me)]
    waiting = [name for name in before if not node_is_done(entries.get(name), target)]
    if waiting:
        return TurnDecision(
            may_start=False, reason=f"waiting for {', '.join(waiting)} to finish first"
        )
    return TurnDecision(may_start=True, reason="every node before this one is done")


# --- the Lease ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LeaseView:
    holder: str | None
    renewed: datetime | None
    duration_seconds: int

    def expired(self, now: datetime) -> bool:
        if self.renewed is None:
            return True
        return now > self.renewed + timedelta(seconds=self.duration_seconds)

    def free_for(self, me: str, now: datetime) -> bool:
        return self.holder in (None, "", me) or self.expired(now)


def lease_view(lease: Mapping[str, Any] | None) -> LeaseView:
    spec = (lease or {}).get("spec") or {}
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    return LeaseView(
        holder=spec.get("holderIdentity"),
        renewed=parse_time(renewed) if isinstance(renewed, str) else None,
        duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
    )


def parse_time(text: str) -> datetime:
    # MicroTime ("2026-11-26T12:00:00.123456Z") and Time ("...:00Z") both parse here.
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
