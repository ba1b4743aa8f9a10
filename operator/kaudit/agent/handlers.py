"""The agent's kopf handlers: watch events only wake the reconcile loop.

Event handlers keep no per-object progress and add no finalizer, so several agents (one per
node) and the controller can watch the same AuditConfig without touching each other's kopf
state. kopf's own names are still moved to a per-node prefix, in case a later handler needs one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, cast

import kopf

from kaudit.agent.node_agent import NodeAgent
from kaudit.config import GROUP, VERSION
from kaudit.kube.api import PLURAL, KubeApi
from kaudit.kube.login import RetryForever, login_handler


def wake_trigger(body: Mapping[str, Any], *, deleted: bool) -> object:
    """What of an AuditConfig event can change an agent's decision."""
    metadata = body.get("metadata") or {}
    entries = (body.get("status") or {}).get("nodeStatuses") or []
    return (
        deleted,
        metadata.get("generation"),
        metadata.get("deletionTimestamp"),
        tuple(
            sorted(
                (
                    str(e.get("nodeName")),
                    str(e.get("phase")),
                    str(e.get("observedGeneration")),
                    str(e.get("configHash")),
                )
                for e in entries
            )
        ),
    )


def build_registry(agent: NodeAgent) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    api = agent.api
    stop = threading.Event()
    node = agent.settings.node_name

    # The registry runs the real agent only: its API is the Kubernetes client's.
    kopf.on.login(registry=registry)(login_handler(cast(KubeApi, api)))

    @kopf.on.startup(registry=registry)
    def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        prefix = f"{node}.agent.kaudit.io"
        settings.persistence.finalizer = f"agent.kaudit.io/{node}"
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=prefix)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix=prefix, key="last-handled-configuration"
        )
        settings.posting.enabled = False
        settings.networking.error_backoffs = RetryForever()
        thread = threading.Thread(
            target=agent.run_forever, args=(stop,), name=f"reconcile-{node}", daemon=True
        )
        thread.start()

    @kopf.on.cleanup(registry=registry)
    def finish(**_: Any) -> None:
        stop.set()
        agent.wake.set()

    last_trigger: list[object] = [None]

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def on_audit_config(body: kopf.Body, type: str | None, **_: Any) -> None:  # noqa: A002
        # Only what can change a decision wakes the loop: the spec (generation), a deletion, and
        # the nodes' phases. Not every status write: a report carries the audit log's size, the
        # report is itself audited, and waking on it made agents report in a loop.
        trigger = wake_trigger(body, deleted=type == "DELETED")
        if trigger != last_trigger[0]:
            last_trigger[0] = trigger
            agent.wake.set()

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    def on_config_map(**_: Any) -> None:
        agent.wake.set()

    return registry
