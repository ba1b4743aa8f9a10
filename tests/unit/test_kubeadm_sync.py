"""When the controller records the audit settings in kubeadm's configuration, and takes them out."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from kaudit.config import AuditConfigSpec
from kaudit.controller.kubeadm_sync import (
    NOT_KUBEADM,
    OFF,
    OPTED_OUT,
    RECORDED,
    RECORDED_ANNOTATION,
    REMOVED,
    KubeadmPlan,
    plan_kubeadm_config,
    sync_kubeadm_config,
    updated_config_map,
)
from kaudit.desired import desired_state
from kaudit.kube.api import KubeApi, KubeError
from kaudit.kubeadm_config import record_audit_settings
from kaudit.manifest import AuditPatch
from tests.unit.test_kubeadm_config import V1BETA4

PATCH = desired_state(AuditConfigSpec(), source="test").patch
assert PATCH is not None
RECORDED_TEXT = record_audit_settings(V1BETA4, PATCH)


def config_map(text: str = V1BETA4, *, marked: bool = False, **extra: str) -> dict[str, Any]:
    annotations = {RECORDED_ANNOTATION: "true"} if marked else {}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "kubeadm-config",
            "namespace": "kube-system",
            "resourceVersion": "41",
            "annotations": annotations,
            "managedFields": [{"manager": "kubeadm"}],
        },
        "data": {"ClusterConfiguration": text, **extra},
    }


def plan(
    *,
    record: bool = True,
    enabled: bool = True,
    complete: bool = True,
    patch: AuditPatch | None = PATCH,
    found: dict[str, Any] | None = None,
) -> KubeadmPlan:
    return plan_kubeadm_config(
        record=record,
        enabled=enabled,
        rollout_complete=complete,
        patch=patch if enabled else None,
        config_map=found if found is not None else config_map(),
    )


def test_a_complete_rollout_is_recorded_and_marked() -> None:
    decided = plan()
    assert decided.write
    assert decided.text == RECORDED_TEXT
    assert decided.recorded
    assert decided.message == RECORDED
    assert decided.event == "KubeadmConfigRecorded"


def test_nothing_is_recorded_while_the_rollout_runs() -> None:
    decided = plan(complete=False)
    assert not decided.write
    assert decided.message.startswith("waiting for every node to apply the current settings")
    assert "recorded before" not in decided.message


def test_an_earlier_record_waits_for_the_new_rollout() -> None:
    older = RECORDED_TEXT.replace("'30'", "'7'")
    decided = plan(complete=False, found=config_map(older, marked=True))
    assert not decided.write
    assert decided.message.endswith("; it still holds the settings recorded before")


def test_what_is_recorded_and_marked_is_left_alone() -> None:
    decided = plan(found=config_map(RECORDED_TEXT, marked=True), complete=False)
    assert decided == KubeadmPlan(message=RECORDED)


def test_identical_settings_written_by_hand_are_claimed_with_the_marker_only() -> None:
    decided = plan(found=config_map(RECORDED_TEXT))
    assert decided.write
    assert decided.text == RECORDED_TEXT
    assert decided.recorded


def test_a_dropped_record_is_put_back() -> None:
    # kaudit recorded, someone (or a tool) took the flags out: recorded again, with an Event.
    decided = plan(found=config_map(V1BETA4, marked=True))
    assert decided.write
    assert decided.text == RECORDED_TEXT


def test_turning_audit_logging_off_removes_the_record_once_every_node_is_off() -> None:
    marked = config_map(RECORDED_TEXT, marked=True)
    waiting = plan(enabled=False, complete=False, found=marked)
    assert not waiting.write
    assert waiting.message.startswith("waiting for every node to turn audit logging off")
    done = plan(enabled=False, complete=True, found=marked)
    assert done.write
    assert done.text == V1BETA4
    assert not done.recorded
    assert done.message == REMOVED
    assert done.event == "KubeadmConfigRemoved"


def test_record_false_removes_what_kaudit_recorded_at_once() -> None:
    decided = plan(record=False, complete=False, found=config_map(RECORDED_TEXT, marked=True))
    assert decided.write
    assert decided.text == V1BETA4
    assert decided.message == REMOVED


@pytest.mark.parametrize(("record", "enabled"), [(False, True), (False, False), (True, False)])
def test_audit_settings_kaudit_did_not_record_are_never_removed(
    record: bool, enabled: bool
) -> None:
    decided = plan(record=record, enabled=enabled, found=config_map(RECORDED_TEXT))
    assert not decided.write
    assert decided.message == (OPTED_OUT if not record else OFF)


def test_a_cluster_without_the_config_map_is_not_kubeadm() -> None:
    decided = plan_kubeadm_config(
        record=True, enabled=True, rollout_complete=True, patch=PATCH, config_map=None
    )
    assert decided == KubeadmPlan(message=NOT_KUBEADM)
    assert decided.message == "not a kubeadm cluster: no ConfigMap kube-system/kubeadm-config"


def test_a_config_map_without_the_key_or_with_another_version_is_left_alone() -> None:
    no_key = config_map()
    del no_key["data"]["ClusterConfiguration"]
    assert plan(found=no_key).message == (
        "left alone: ConfigMap kube-system/kubeadm-config has no key ClusterConfiguration"
    )
    old = plan(found=config_map(V1BETA4.replace("v1beta4", "v1beta2")))
    assert not old.write
    assert old.message.startswith(
        "left alone: ConfigMap kube-system/kubeadm-config key ClusterConfiguration: apiVersion: "
    )


def test_no_valid_settings_means_nothing_is_written() -> None:
    decided = plan(patch=None)
    assert not decided.write
    assert decided.message.startswith("not recorded")
    kept = plan(patch=None, found=config_map(RECORDED_TEXT, marked=True))
    assert not kept.write
    assert kept.message.startswith("kube-system/kubeadm-config keeps the settings recorded before")


def test_the_written_config_map_changes_only_the_text_and_the_marker() -> None:
    before = config_map(extra_key="kept")
    before["metadata"]["annotations"] = {"someone/else": "x"}
    after = updated_config_map(before, plan(found=before))
    assert after["data"] == {"ClusterConfiguration": RECORDED_TEXT, "extra_key": "kept"}
    assert after["metadata"]["annotations"] == {"someone/else": "x", RECORDED_ANNOTATION: "true"}
    assert "managedFields" not in after["metadata"]
    assert after["metadata"]["resourceVersion"] == "41"
    removed = updated_config_map(after, plan(enabled=False, found=after))
    assert removed["data"]["ClusterConfiguration"] == V1BETA4
    assert removed["metadata"]["annotations"] == {"someone/else": "x"}
    bare = config_map(RECORDED_TEXT, marked=True)
    assert (
        "annotations" not in updated_config_map(bare, plan(enabled=False, found=bare))["metadata"]
    )


@dataclass
class FakeApi:
    """get_config_map and replace_config_map over one stored ConfigMap, with scripted errors."""

    stored: dict[str, Any] | None
    replace_errors: list[KubeError] = field(default_factory=list)
    get_error: KubeError | None = None
    writes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    on_get: list[dict[str, Any]] = field(default_factory=list)  # what the next reads return

    def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        assert (namespace, name) == ("kube-system", "kubeadm-config")
        if self.get_error is not None:
            raise self.get_error
        if self.on_get:
            self.stored = self.on_get.pop(0)
        return copy.deepcopy(self.stored)

    def replace_config_map(
        self,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        resource_version: str,
        field_manager: str,
    ) -> dict[str, Any]:
        assert field_manager == "kaudit-controller"
        if self.replace_errors:
            raise self.replace_errors.pop(0)
        self.writes.append((resource_version, body))
        self.stored = body
        return body


def sync(fake: FakeApi, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "record": True,
        "enabled": True,
        "rollout_complete": True,
        "patch": PATCH,
        "field_manager": "kaudit-controller",
    }
    arguments.update(overrides)
    return sync_kubeadm_config(cast(KubeApi, fake), **arguments)


def test_sync_writes_with_the_resource_version_read_and_reports_an_event() -> None:
    fake = FakeApi(stored=config_map())
    result = sync(fake)
    assert result.message == RECORDED
    assert result.event == ("KubeadmConfigRecorded", RECORDED)
    ((version, body),) = fake.writes
    assert version == "41"
    assert body["data"]["ClusterConfiguration"] == RECORDED_TEXT
    again = sync(fake)
    assert again.message == RECORDED
    assert again.event is None
    assert len(fake.writes) == 1


def test_a_conflict_is_read_again_and_retried_once() -> None:
    newer = config_map()
    newer["metadata"]["resourceVersion"] = "42"
    fake = FakeApi(
        stored=config_map(),
        replace_errors=[KubeError("updating configmap: conflict", status=409)],
        on_get=[config_map(), newer],
    )
    result = sync(fake)
    assert result.event is not None
    assert [version for version, _ in fake.writes] == ["42"]


def test_two_conflicts_leave_it_to_the_next_resync() -> None:
    conflict = KubeError("updating configmap: conflict", status=409)
    fake = FakeApi(stored=config_map(), replace_errors=[conflict, conflict])
    result = sync(fake)
    assert result.event is None
    assert "changed while kaudit wrote it" in result.message
    assert fake.writes == []


def test_api_errors_are_reported_not_raised() -> None:
    forbidden = KubeError("reading configmap kube-system/kubeadm-config: forbidden", status=403)
    assert sync(FakeApi(stored=None, get_error=forbidden)).message == f"not checked: {forbidden}"
    denied = KubeError("updating configmap kube-system/kubeadm-config: forbidden", status=403)
    result = sync(FakeApi(stored=config_map(), replace_errors=[denied]))
    assert result.message == f"not updated: {denied}"
    assert result.event is None


def test_sync_without_the_config_map_writes_nothing() -> None:
    fake = FakeApi(stored=None)
    assert sync(fake).message == NOT_KUBEADM
    assert fake.writes == []
