"""The controller's kopf handlers, in a registry of their own (never kopf's global one).

kopf's bookkeeping lives under our own domain: the finalizer is kaudit.io/finalizer and the
progress and diff-base annotations use the kaudit.io prefix, so nothing says kopf.zalando.org
on a user's object. Only the controller has change handlers (and so a finalizer); agents use
event handlers, which write nothing to the object, so no two kaudit processes share kopf state.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

import kopf

from kaudit.audit_config import parse_audit_config
from kaudit.config import GROUP, VERSION
from kaudit.controller.admission import review_audit_config
from kaudit.controller.status_update import (
    nodes_still_enabled,
    record_node_transitions,
    refresh_status,
    release_kubeadm_config,
)
from kaudit.controller.webhook import build_webhook_server
from kaudit.kube.api import PLURAL, KubeApi, KubeError
from kaudit.kube.login import RetryForever, login_handler

log = logging.getLogger("kaudit.controller")

FINALIZER: Final = "kaudit.io/finalizer"
WEBHOOK_CONFIGURATION: Final = "kaudit.io"
WEBHOOK_CA_FIELD_MANAGER: Final = "kaudit-controller-webhook-ca"
RESYNC_SECONDS: Final = 10.0


@dataclass(frozen=True, kw_only=True)
class ControllerOptions:
    namespace: str
    webhook_port: int
    webhook_url_host: str | None
    webhook_service: tuple[str, str, int] | None


def build_registry(api: KubeApi, options: ControllerOptions) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    seen_phases: dict[str, str] = {}

    kopf.on.login(registry=registry)(login_handler(api))

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.networking.error_backoffs = RetryForever()
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kaudit.io")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="kaudit.io", key="last-handled-configuration"
        )
        # Events are ours (short CamelCase reasons), not kopf's per-handler log lines.
        settings.posting.enabled = False
        # In a cluster the configuration is shipped (deploy/webhook.yaml) and the server only
        # puts its CA bundle in; kopf would replace the webhooks with its own (without the
        # matchConditions) and needs create on every configuration. Local runs let kopf make it.
        if options.webhook_service is None:
            settings.admission.managed = WEBHOOK_CONFIGURATION
        settings.admission.server = build_webhook_server(
            port=options.webhook_port,
            url_host=options.webhook_url_host,
            service=options.webhook_service,
            publish_ca_bundle=publish_ca_bundle,
        )

    def publish_ca_bundle(bundle: str) -> None:
        api.apply_webhook_ca_bundle(
            WEBHOOK_CONFIGURATION, bundle, field_manager=WEBHOOK_CA_FIELD_MANAGER
        )

    @kopf.on.validate(
        GROUP, VERSION, PLURAL, registry=registry, operation="CREATE", id="validate-create"
    )
    @kopf.on.validate(
        GROUP, VERSION, PLURAL, registry=registry, operation="UPDATE", id="validate-update"
    )
    def validate(body: kopf.Body, warnings: list[str], **kwargs: Any) -> None:
        # kopf passes the old object as `old` (not in its typed protocol). A change that
        # leaves the spec alone (kopf's own finalizer and annotations, a deletion) must pass
        # even when the referenced ConfigMap went bad meanwhile, or deletion would deadlock.
        old = kwargs.get("old")
        if old is not None and dict(old.get("spec") or {}) == dict(body.get("spec") or {}):
            return
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            return
        decision = review_audit_config(dict(body), read_config_map=api.config_map_value)
        warnings.extend(decision.warnings)
        if not decision.allowed:
            raise kopf.AdmissionError(decision.message, code=422)

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def on_event(body: kopf.Body, type: str | None, **_: Any) -> None:  # noqa: A002
        if type == "DELETED":
            seen_phases.clear()
            return
        snapshot = dict(body)
        new_phases = await asyncio.to_thread(
            record_node_transitions, api, snapshot, dict(seen_phases)
        )
        seen_phases.clear()
        seen_phases.update(new_phases)
        await asyncio.to_thread(refresh_status, api)

    @kopf.timer(GROUP, VERSION, PLURAL, registry=registry, interval=RESYNC_SECONDS, idle=0)
    async def resync(body: kopf.Body, **_: Any) -> None:
        # Node labels and ConfigMaps change without touching the AuditConfig.
        await asyncio.to_thread(refresh_status, api)

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    async def on_config_map(body: kopf.Body, **_: Any) -> None:
        config = await asyncio.to_thread(api.get_audit_config)
        if config is None:
            return
        spec = parse_audit_config(config).spec
        ref = spec.policy.config_map_ref if spec is not None else None
        meta = body.get("metadata") or {}
        if ref is not None and (ref.namespace, ref.name) == (
            meta.get("namespace"),
            meta.get("name"),
        ):
            await asyncio.to_thread(refresh_status, api)

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry, backoff=5)
    async def on_delete(body: kopf.Body, **_: Any) -> None:
        """Hold the object until every node has audit logging off (agents disable on deletion).

        Then take kaudit's settings out of kubeadm's record, best effort: an API error there is
        logged, and must not keep a deleted AuditConfig (and its finalizer) around for good.
        """
        try:
            pending = await asyncio.to_thread(nodes_still_enabled, api, dict(body))
        except KubeError as error:
            raise kopf.TemporaryError(f"cannot list nodes: {error}", delay=5) from None
        if pending:
            await asyncio.to_thread(refresh_status, api)
            raise kopf.TemporaryError(
                f"waiting for {', '.join(pending)} to turn audit logging off", delay=5
            )
        await asyncio.to_thread(release_kubeadm_config, api, dict(body))
        log.info("Audit logging is off on every node; releasing AuditConfig cluster")

    return registry
