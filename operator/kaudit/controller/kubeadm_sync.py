"""Keeping kubeadm's record of the cluster (kube-system/kubeadm-config) in step with the nodes.

When, decided by plan_kubeadm_config (pure):

* spec.kubeadmConfig.record true and audit logging on: the flags and volumes are recorded once
  the rollout is complete (Ready: every selected node Applied this generation's config hash).
  Recording earlier would let a `kubeadm upgrade` or control-plane join during the rollout
  start an API server with settings no node has yet passed the health gate with.
* audit logging off, or the AuditConfig being deleted: what kaudit recorded is removed once
  every node is Disabled, so the record never claims less than the nodes still run.
* record turned false: what kaudit recorded is removed at once (the ClusterConfiguration is
  read only by kubeadm, never by a running API server, so there is nothing to wait for).
  Leaving it would keep settings that no longer follow the spec, and a later `kubeadm upgrade`
  would bring them back after audit logging was turned off.

"What kaudit recorded" is known from the annotation kaudit.io/kubeadm-config-recorded, set
with the entries and dropped with them: kubeadm's configuration itself says nothing about who
wrote an entry, and audit flags a person put there while kaudit records nothing (record false,
or audit logging off) are theirs, not kaudit's to delete.

No ConfigMap means the cluster was not made by kubeadm: nothing is done, and the status says
so. The write carries the resourceVersion read; on a conflict the ConfigMap is read and planned
again once, then left to the next resync. API errors are logged and shown in the status; they
never stop the controller's status updates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kaudit.kube.api import KubeApi, KubeError
from kaudit.kubeadm_config import (
    CONFIG_MAP,
    KEY,
    NAMESPACE,
    KubeadmConfigError,
    record_audit_settings,
    records_audit_settings,
    remove_audit_settings,
)
from kaudit.manifest import AuditPatch

log = logging.getLogger("kaudit.controller")

RECORDED_ANNOTATION: Final = "kaudit.io/kubeadm-config-recorded"
WHERE: Final = f"{NAMESPACE}/{CONFIG_MAP}"
RECORDED: Final = f"recorded the audit flags and volumes in {WHERE}"
REMOVED: Final = f"removed the audit flags and volumes kaudit recorded from {WHERE}"
NOT_KUBEADM: Final = f"not a kubeadm cluster: no ConfigMap {WHERE}"
OPTED_OUT: Final = "not recorded: spec.kubeadmConfig.record is false"
OFF: Final = f"nothing recorded in {WHERE}: audit logging is off"
EVENT_RECORDED: Final = "KubeadmConfigRecorded"
EVENT_REMOVED: Final = "KubeadmConfigRemoved"


@dataclass(frozen=True, kw_only=True)
class KubeadmPlan:
    """What to do with the ConfigMap, and what status.kubeadmConfig says."""

    message: str
    write: bool = False
    text: str = ""  # the new ClusterConfiguration, when write
    recorded: bool = False  # whether the written ConfigMap carries kaudit's entries
    event: str = ""  # the Event's reason, when write


@dataclass(frozen=True, kw_only=True)
class KubeadmSync:
    """What happened: the status message, and an Event (reason, message) when it was changed."""

    message: str
    event: tuple[str, str] | None = None


def plan_kubeadm_config(
    *,
    record: bool,
    enabled: bool,
    rollout_complete: bool,
    patch: AuditPatch | None,
    config_map: Mapping[str, Any] | None,
) -> KubeadmPlan:
    """The decision, from the spec, the rollout's state and the ConfigMap as read.

    enabled: audit logging wanted on (spec.enabled, and the AuditConfig not being deleted).
    rollout_complete: every selected node reached the target (the summary's Ready).
    patch: the flags and volumes the nodes apply; None when the spec has none (off, invalid).
    config_map: the ConfigMap's JSON, None when there is none.
    """
    if config_map is None:
        return KubeadmPlan(message=NOT_KUBEADM)
    text = (config_map.get("data") or {}).get(KEY)
    if not isinstance(text, str):
        return KubeadmPlan(message=f"left alone: ConfigMap {WHERE} has no key {KEY}")
    annotations = (config_map.get("metadata") or {}).get("annotations") or {}
    marked = RECORDED_ANNOTATION in annotations
    try:
        if enabled and record:
            return _plan_record(text, marked, patch, rollout_complete)
        return _plan_removal(text, marked, record=record, enabled=enabled, done=rollout_complete)
    except KubeadmConfigError as error:
        return KubeadmPlan(message=f"left alone: {error}")


def _plan_record(
    text: str, marked: bool, patch: AuditPatch | None, rollout_complete: bool
) -> KubeadmPlan:
    if patch is None:
        # The spec or its policy is invalid (status.message says why): nothing to record, and
        # nothing is taken out either, as for any change that cannot be rolled out.
        if marked:
            return KubeadmPlan(
                message=f"{WHERE} keeps the settings recorded before: the AuditConfig has no "
                "valid settings to record"
            )
        return KubeadmPlan(message="not recorded: the AuditConfig has no valid settings to record")
    already = records_audit_settings(text, patch)
    if already and marked:
        return KubeadmPlan(message=RECORDED)
    if not rollout_complete:
        before = "; it still holds the settings recorded before" if marked else ""
        return KubeadmPlan(
            message=f"waiting for every node to apply the current settings before recording "
            f"them in {WHERE}{before}"
        )
    return KubeadmPlan(
        message=RECORDED,
        write=True,
        text=record_audit_settings(text, patch),
        recorded=True,
        event=EVENT_RECORDED,
    )


def _plan_removal(
    text: str, marked: bool, *, record: bool, enabled: bool, done: bool
) -> KubeadmPlan:
    if not marked:
        return KubeadmPlan(message=OPTED_OUT if not record else OFF)
    if not enabled and not done:
        return KubeadmPlan(
            message=f"waiting for every node to turn audit logging off before removing the "
            f"audit settings from {WHERE}"
        )
    return KubeadmPlan(
        message=REMOVED,
        write=True,
        text=remove_audit_settings(text),
        recorded=False,
        event=EVENT_REMOVED,
    )


def updated_config_map(config_map: Mapping[str, Any], plan: KubeadmPlan) -> dict[str, Any]:
    """The ConfigMap to write for a plan: the new text and the annotation, nothing else."""
    metadata = {k: v for k, v in (config_map.get("metadata") or {}).items() if k != "managedFields"}
    annotations = dict(metadata.get("annotations") or {})
    if plan.recorded:
        annotations[RECORDED_ANNOTATION] = "true"
    else:
        annotations.pop(RECORDED_ANNOTATION, None)
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    data = {**(config_map.get("data") or {}), KEY: plan.text}
    return {**config_map, "metadata": metadata, "data": data}


def sync_kubeadm_config(
    api: KubeApi,
    *,
    record: bool,
    enabled: bool,
    rollout_complete: bool,
    patch: AuditPatch | None,
    field_manager: str,
) -> KubeadmSync:
    """Read the ConfigMap, carry out the plan, and say what happened."""
    for _ in range(2):
        try:
            config_map = api.get_config_map(NAMESPACE, CONFIG_MAP)
        except KubeError as error:
            log.warning("kubeadm configuration not checked: %s", error)
            return KubeadmSync(message=f"not checked: {error}")
        plan = plan_kubeadm_config(
            record=record,
            enabled=enabled,
            rollout_complete=rollout_complete,
            patch=patch,
            config_map=config_map,
        )
        if not plan.write or config_map is None:
            return KubeadmSync(message=plan.message)
        try:
            api.replace_config_map(
                NAMESPACE,
                CONFIG_MAP,
                updated_config_map(config_map, plan),
                resource_version=str(config_map["metadata"]["resourceVersion"]),
                field_manager=field_manager,
            )
        except KubeError as error:
            if error.conflict:
                continue  # changed since it was read: plan again from what it is now
            log.warning("kubeadm configuration not updated: %s", error)
            return KubeadmSync(message=f"not updated: {error}")
        log.info("ConfigMap %s: %s", WHERE, plan.message)
        return KubeadmSync(message=plan.message, event=(plan.event, plan.message))
    log.warning("kubeadm configuration not updated: %s changed twice while being written", WHERE)
    return KubeadmSync(
        message=f"not updated: {WHERE} changed while kaudit wrote it; trying again at the next "
        "resync"
    )
