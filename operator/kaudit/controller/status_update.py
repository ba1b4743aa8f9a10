"""The controller's status update: the nodes' entries in, conditions, counts and Events out.

The controller owns these fields through server-side apply (field manager kaudit-controller);
each agent owns its own nodeStatuses entry. Neither overwrites the other. status.kubeadmConfig
is written with the others, in the same apply: a field the manager leaves out of an apply is
removed, so every field it owns is computed on every refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from kaudit.audit_config import ParsedAuditConfig, parse_audit_config
from kaudit.config import AuditConfigSpec, ConfigError
from kaudit.controller.kubeadm_sync import KubeadmSync, sync_kubeadm_config
from kaudit.desired import desired_state
from kaudit.kube.api import KubeApi, KubeError
from kaudit.manifest import AuditPatch
from kaudit.policy import PolicyError
from kaudit.rollout.conditions import Summary, summarize
from kaudit.rollout.entries import RolloutTarget, agent_field_manager, entries_not_listed
from kaudit.rollout.turn import rollout_order

log = logging.getLogger("kaudit.controller")

FIELD_MANAGER: Final = "kaudit-controller"
COMPONENT: Final = "kaudit-controller"
EVENTS_NAMESPACE: Final = "default"
# Node phases worth an Event from the controller. Agents record RolledBack, Failed and
# DriftCorrected themselves (they know the details, and they work without the controller).
_NODE_EVENTS: Final = {"Applied": "NodeApplied", "Disabled": "NodeDisabled"}


@dataclass(frozen=True, kw_only=True)
class Computed:
    """The summary, the status fields it gives, and what the kubeadm record is decided from."""

    summary: Summary
    fields: dict[str, Any]
    spec: AuditConfigSpec  # the defaults when the spec cannot be read
    enabled: bool  # audit logging wanted on: spec.enabled and not being deleted
    patch: AuditPatch | None  # what the nodes apply; None when off or invalid


def compute_summary(api: KubeApi, config: ParsedAuditConfig, selected: list[str]) -> Computed:
    """The summary and the status fields the controller writes, for the object as it is now.

    selected: the nodes spec.nodeSelector picks, in rollout order (selected_nodes gives them).
    """
    problem = config.problem
    spec = config.spec or AuditConfigSpec()
    config_hash = None
    patch = None
    if config.spec is not None:
        try:
            ref = spec.policy.config_map_ref
            text = api.config_map_value(ref.namespace, ref.name, ref.key) if ref else None
            if ref is not None and text is None:
                problem = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key} not found"
            else:
                wanted = spec if not config.deleting else AuditConfigSpec(enabled=False)
                desired = desired_state(wanted, source="AuditConfig cluster", config_map_text=text)
                config_hash, patch = desired.config_hash, desired.patch
        except (ConfigError, PolicyError) as error:
            problem = str(error)
    enabled = spec.enabled and not config.deleting
    status = status_of(config.body)
    summary = summarize(
        target=RolloutTarget(
            generation=config.generation, enabled=enabled, config_hash=config_hash
        ),
        policy_problem=problem,
        selected_nodes=selected,
        entries=config.entries,
        previous=[c for c in _as_list(status.get("conditions")) if isinstance(c, Mapping)],
        now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    fields: dict[str, Any] = {
        "observedGeneration": config.generation or 0,
        "phase": summary.phase,
        "message": summary.message,
        "nodesReady": summary.nodes_ready,
        "policySource": spec.policy.source_name,
        "rolloutOrder": selected,
        "conditions": [dict(c) for c in summary.conditions],
    }
    if config_hash:
        fields["targetConfigHash"] = config_hash
    return Computed(summary=summary, fields=fields, spec=spec, enabled=enabled, patch=patch)


def refresh_status(api: KubeApi) -> Summary | None:
    """Write the summary when it differs from what the object shows; record Events.

    Computed from the object as it is now, not from the event that triggered this: an older
    body would overwrite a newer summary (a node Applied a moment ago shown as Verifying). The
    write carries the resourceVersion it was computed from, and is redone on a conflict.
    """
    for _ in range(5):
        body = api.get_audit_config()
        if body is None:
            return None
        config = parse_audit_config(body)
        selected = selected_nodes(api, config)
        if _forget_removed_nodes(api, config, selected):
            continue
        computed = compute_summary(api, config, selected)
        summary, fields = computed.summary, computed.fields
        kubeadm = sync_kubeadm(api, body, computed)
        fields["kubeadmConfig"] = kubeadm.message
        status = status_of(body)
        if {key: status.get(key) for key in fields} == fields:
            return summary
        try:
            api.apply_audit_config_status(
                fields,
                field_manager=FIELD_MANAGER,
                resource_version=str(body["metadata"]["resourceVersion"]),
            )
        except KubeError as error:
            if error.conflict:
                continue
            raise
        if status.get("phase") != summary.phase:
            _record(
                api,
                body,
                f"AuditConfig{summary.phase}",
                summary.message,
                summary.phase == "Degraded",
            )
        return summary
    return None


def selected_nodes(api: KubeApi, config: ParsedAuditConfig) -> list[str]:
    """The nodes spec.nodeSelector picks, in rollout order (the default spec's when unreadable)."""
    spec = config.spec or AuditConfigSpec()
    return rollout_order(api.node_names(spec.node_selector))


def _forget_removed_nodes(api: KubeApi, config: ParsedAuditConfig, selected: list[str]) -> bool:
    """Drop the entries of nodes deleted from the cluster; True when one was dropped.

    Only an entry of a node the selector did not list is looked up: usually none.
    Applying an empty list as the node's own field manager removes exactly its entry.
    """
    unlisted = entries_not_listed(config.entries.values(), selected)
    removed = [name for name in unlisted if not api.node_exists(name)]
    for name in removed:
        log.info("Node %s left the cluster; removing its status entry", name)
        api.apply_audit_config_status({"nodeStatuses": []}, field_manager=agent_field_manager(name))
    return bool(removed)


def sync_kubeadm(api: KubeApi, body: Mapping[str, Any], computed: Computed) -> KubeadmSync:
    """Bring kubeadm's record in step with the rollout the summary describes; Event if changed.

    The Event is recorded here, right after the write, not after the status apply: a status
    conflict redoes the refresh, which then finds the ConfigMap already changed.
    """
    result = sync_kubeadm_config(
        api,
        record=computed.spec.kubeadm_config.record,
        enabled=computed.enabled,
        rollout_complete=is_ready(computed.summary),
        patch=computed.patch,
        field_manager=FIELD_MANAGER,
    )
    if result.event is not None:
        _record(api, body, result.event[0], result.event[1], False)
    return result


def release_kubeadm_config(api: KubeApi, body: Mapping[str, Any]) -> None:
    """On deletion, once every node is off: take kaudit's settings out of kubeadm's record.

    The deletion handler calls this just before it lets the object go, when its own check
    (every selected node Disabled) has passed; the summary of a deleted object may not have
    caught up with the agents' last reports by then, and there will be no later refresh.
    """
    spec = parse_audit_config(body).spec or AuditConfigSpec()
    result = sync_kubeadm_config(
        api,
        record=spec.kubeadm_config.record,
        enabled=False,
        rollout_complete=True,
        patch=None,
        field_manager=FIELD_MANAGER,
    )
    if result.event is not None:
        _record(api, body, result.event[0], result.event[1], False)


def is_ready(summary: Summary) -> bool:
    """Every selected node reached the target of this generation (the Ready condition)."""
    return any(c["type"] == "Ready" and c["status"] == "True" for c in summary.conditions)


def record_node_transitions(
    api: KubeApi, body: Mapping[str, Any], previous: Mapping[str, str]
) -> dict[str, str]:
    """Events for node phases that changed since the last seen body; returns the new phases."""
    phases: dict[str, str] = {}
    for name, entry in parse_audit_config(body).entries.items():
        phase = entry.get("phase")
        if not phase:
            continue
        phases[name] = phase
        if previous.get(name) != phase and phase in _NODE_EVENTS and name in previous:
            _record(
                api, body, _NODE_EVENTS[phase], f"node {name}: {entry.get('message', phase)}", False
            )
    return phases


def nodes_still_enabled(api: KubeApi, body: Mapping[str, Any]) -> list[str]:
    """Selected nodes whose agent has not yet reported audit logging off."""
    config = parse_audit_config(body)
    return [
        name
        for name in selected_nodes(api, config)
        if (config.entries.get(name) or {}).get("phase") != "Disabled"
    ]


def status_of(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object's status as read; {} when there is none or it is not a mapping."""
    status = body.get("status")
    return status if isinstance(status, Mapping) else {}


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _record(
    api: KubeApi, body: Mapping[str, Any], reason: str, message: str, warning: bool
) -> None:
    api.record_event(
        namespace=EVENTS_NAMESPACE,
        involved=body,
        reason=reason,
        message=message,
        warning=warning,
        component=COMPONENT,
    )
