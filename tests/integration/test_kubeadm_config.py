"""kubeadm's ConfigMap on a real API server: the guarded replace, the sync, and its RBAC.

Tier 1 has no kubelet, so no node ever reports Applied: the decision of when to record is
unit-tested (tests/unit/test_kubeadm_sync.py); here the sync is driven with the rollout
declared complete, to see what the API server makes of the writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from ruamel.yaml import YAML

from kaudit.config import AuditConfigSpec
from kaudit.controller.kubeadm_sync import (
    NOT_KUBEADM,
    RECORDED,
    RECORDED_ANNOTATION,
    REMOVED,
    sync_kubeadm_config,
)
from kaudit.desired import desired_state
from kaudit.kube.api import KubeApi, KubeError, new_api_client
from kaudit.kubeadm_config import record_audit_settings
from tests.testbed import REPO_ROOT, Cluster
from tests.unit.test_kubeadm_config import V1BETA4

PATCH = desired_state(AuditConfigSpec(), source="test").patch
FIELD_MANAGER = "kaudit-controller"


@pytest.fixture
def api(apiserver: Cluster) -> KubeApi:
    return KubeApi(new_api_client(str(apiserver.kubeconfig)))


def config_map_manifest(namespace: str, name: str, text: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"ClusterConfiguration": text},
        }
    )


@pytest.fixture
def scratch_config_map(apiserver: Cluster) -> Iterator[str]:
    name = f"kaudit-test-{uuid.uuid4().hex[:8]}"
    apiserver.kubectl("create", "-f", "-", input=config_map_manifest("default", name, "a: 1\n"))
    yield name
    apiserver.kubectl("delete", "configmap", name, "-n", "default", check=False)


@pytest.fixture
def kubeadm_config(apiserver: Cluster) -> Iterator[Cluster]:
    apiserver.kubectl("delete", "configmap", "kubeadm-config", "-n", "kube-system", check=False)
    # Created as kubeadm does (no kubectl last-applied annotation).
    manifest = config_map_manifest("kube-system", "kubeadm-config", V1BETA4)
    apiserver.kubectl("create", "-f", "-", input=manifest)
    yield apiserver
    apiserver.kubectl("delete", "configmap", "kubeadm-config", "-n", "kube-system", check=False)


def test_replace_takes_the_read_resource_version_as_a_precondition(
    api: KubeApi, scratch_config_map: str
) -> None:
    read = api.get_config_map("default", scratch_config_map)
    assert read is not None
    version = read["metadata"]["resourceVersion"]
    changed = {**read, "data": {"ClusterConfiguration": "a: 2\n"}}
    written = api.replace_config_map(
        "default",
        scratch_config_map,
        changed,
        resource_version=version,
        field_manager=FIELD_MANAGER,
    )
    assert written["data"] == {"ClusterConfiguration": "a: 2\n"}
    assert written["metadata"]["resourceVersion"] != version
    assert FIELD_MANAGER in {m["manager"] for m in written["metadata"]["managedFields"]}

    # A second writer holding the old read loses, visibly, and changes nothing.
    with pytest.raises(KubeError) as caught:
        api.replace_config_map(
            "default",
            scratch_config_map,
            {**read, "data": {"ClusterConfiguration": "a: 3\n"}},
            resource_version=version,
            field_manager=FIELD_MANAGER,
        )
    assert caught.value.conflict
    assert "updating configmap default/" in str(caught.value)
    assert api.config_map_value("default", scratch_config_map, "ClusterConfiguration") == "a: 2\n"


def test_replace_of_a_missing_config_map_is_not_found(api: KubeApi) -> None:
    body = json.loads(config_map_manifest("default", "kaudit-test-missing", "a: 1\n"))
    with pytest.raises(KubeError) as caught:
        api.replace_config_map(
            "default",
            "kaudit-test-missing",
            body,
            resource_version="1",
            field_manager=FIELD_MANAGER,
        )
    assert caught.value.not_found


def test_sync_records_and_removes_in_the_real_config_map(
    api: KubeApi, kubeadm_config: Cluster
) -> None:
    assert PATCH is not None
    recorded = sync_kubeadm_config(
        api,
        record=True,
        enabled=True,
        rollout_complete=True,
        patch=PATCH,
        field_manager=FIELD_MANAGER,
    )
    assert recorded.message == RECORDED
    assert recorded.event is not None
    found = kubeadm_config.kubectl_json("get", "configmap", "kubeadm-config", "-n", "kube-system")
    assert found["data"]["ClusterConfiguration"] == record_audit_settings(V1BETA4, PATCH)
    assert found["metadata"]["annotations"] == {RECORDED_ANNOTATION: "true"}
    parsed = YAML(typ="safe", pure=True).load(found["data"]["ClusterConfiguration"])
    assert {"name": "audit-log-maxage", "value": "30"} in parsed["apiServer"]["extraArgs"]

    removed = sync_kubeadm_config(
        api,
        record=True,
        enabled=False,
        rollout_complete=True,
        patch=None,
        field_manager=FIELD_MANAGER,
    )
    assert removed.message == REMOVED
    found = kubeadm_config.kubectl_json("get", "configmap", "kubeadm-config", "-n", "kube-system")
    assert found["data"]["ClusterConfiguration"] == V1BETA4
    assert RECORDED_ANNOTATION not in (found["metadata"].get("annotations") or {})

    kubeadm_config.kubectl("delete", "configmap", "kubeadm-config", "-n", "kube-system")
    gone = sync_kubeadm_config(
        api,
        record=True,
        enabled=True,
        rollout_complete=True,
        patch=PATCH,
        field_manager=FIELD_MANAGER,
    )
    assert gone.message == NOT_KUBEADM


def test_the_controller_may_read_and_replace_only_kubeadm_config(apiserver: Cluster) -> None:
    # Only the two kube-system objects this feature adds; the rest of deploy/ is not needed.
    documents = [
        d
        for d in YAML(typ="safe", pure=True).load_all((REPO_ROOT / "deploy/rbac.yaml").read_text())
        if d
        and (d.get("metadata") or {}).get("namespace") == "kube-system"
        and d["metadata"]["name"] == "kaudit-controller-kubeadm-config"
    ]
    assert {d["kind"] for d in documents} == {"Role", "RoleBinding"}
    apiserver.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}))
    try:
        who = "--as=system:serviceaccount:kaudit-system:kaudit-controller"

        def can(*args: str) -> bool:
            result = apiserver.kubectl("auth", "can-i", who, *args, check=False)
            return result.stdout.strip() == "yes"

        assert can("get", "configmap/kubeadm-config", "-n", "kube-system")
        assert can("update", "configmap/kubeadm-config", "-n", "kube-system")
        assert not can("patch", "configmap/kubeadm-config", "-n", "kube-system")
        assert not can("delete", "configmap/kubeadm-config", "-n", "kube-system")
        assert not can("get", "configmap/kube-proxy", "-n", "kube-system")
        assert not can("update", "configmap/kubeadm-config", "-n", "default")
        assert not can("list", "configmaps", "-n", "kube-system")
    finally:
        for document in documents:
            apiserver.kubectl(
                "delete",
                document["kind"].lower(),
                document["metadata"]["name"],
                "-n",
                "kube-system",
                check=False,
            )
