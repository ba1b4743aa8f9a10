"""The agent's kopf handlers: watch events only wake the reconcile loop.

Event handlers keep no per-object progress and add no finalizer, so several agents (one per
node) and the controller can watch the same AuditConfig without touching each other's kopf
state. kopf's own names are still moved to a per-node prefix, in case a later handler needs one.
"""

from __future__ import annotations

import threading
from typing import Any

import kopf

from kaudit.agent.node_agent import NodeAgent
from kaudit.config import GROUP, VERSION
from kaudit.kube.api import PLURAL
from kaudit.kube.login import RetryForever, login_handler


def build_registry(agent: NodeAgent) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    api = agent.api
    stop = threading.Event()
    node = agent.settings.node_name

    kopf.on.login(registry=registry)(login_handler(api))

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

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    def on_audit_config(**_: Any) -> None:
        agent.wake.set()

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    def on_config_map(**_: Any) -> None:
        agent.wake.set()

    return registry
