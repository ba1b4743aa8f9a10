"""The rollout turn: one coordination.k8s.io Lease that at most one node agent holds.

Acquiring and renewing replace the Lease with the resourceVersion that was read, so two agents
that both see it free cannot both win: the second replace gets 409 Conflict and loses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kaudit.kube.api import KubeApi, KubeError
from kaudit.rollout.turn import lease_view, micro_time


class RolloutLease:
    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str,
        name: str,
        holder: str,
        duration_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.name = name
        self.holder = holder
        self.duration_seconds = duration_seconds
        self.clock = clock

    def current_holder(self) -> str | None:
        view = lease_view(self.api.get_lease(self.namespace, self.name))
        return None if view.expired(self.clock()) else view.holder or None

    def try_acquire(self) -> bool:
        """Take the turn if it is free, expired or already ours; False when another holds it."""
        now = self.clock()
        lease = self.api.get_lease(self.namespace, self.name)
        if lease is None:
            try:
                self.api.create_lease(self.namespace, self._body(None, now, acquire=True))
            except KubeError as error:
                if error.conflict:
                    return False
                raise
            return True
        view = lease_view(lease)
        if not view.free_for(self.holder, now):
            return False
        try:
            self.api.replace_lease(
                self.namespace,
                self.name,
                self._body(lease, now, acquire=view.holder != self.holder),
            )
        except KubeError as error:
            if error.conflict:
                return False
            raise
        return True

    def renew(self) -> bool:
        return self.try_acquire()

    def release(self) -> None:
        lease = self.api.get_lease(self.namespace, self.name)
        if lease is None or lease_view(lease).holder != self.holder:
            return
        body = dict(lease)
        body["spec"] = {**lease.get("spec", {}), "holderIdentity": None}
        try:
            self.api.replace_lease(self.namespace, self.name, body)
        except KubeError as error:
            if not error.conflict:
                raise

    def _body(
        self, lease: dict[str, Any] | None, now: datetime, *, acquire: bool
    ) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        transitions = int(spec.get("leaseTransitions") or 0)
        spec.update(
            holderIdentity=self.holder,
            leaseDurationSeconds=self.duration_seconds,
            renewTime=micro_time(now),
        )
        if acquire:
            spec["acquireTime"] = micro_time(now)
            spec["leaseTransitions"] = transitions + (1 if lease is not None else 0)
        metadata = dict((lease or {}).get("metadata") or {})
        metadata.setdefault("name", self.name)
        metadata.setdefault("namespace", self.namespace)
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": spec,
        }
