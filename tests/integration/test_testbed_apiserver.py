"""The tier-1 bed itself works: what later integration tests rely on."""

from __future__ import annotations

import uuid

from tests.testbed import Cluster


def test_namespace_created_with_kubectl_reads_back(apiserver: Cluster) -> None:
    name = f"kaudit-it-{uuid.uuid4().hex[:8]}"
    apiserver.kubectl("create", "namespace", name)
    try:
        body = apiserver.kubectl_json("get", "namespace", name)
        assert body["metadata"]["name"] == name
        assert body["status"]["phase"] == "Active"
    finally:
        apiserver.kubectl("delete", "namespace", name, "--wait=false")


def test_user_without_rbac_is_forbidden_and_admin_is_not(apiserver: Cluster) -> None:
    denied = apiserver.kubectl("get", "secrets", "-n", "default", user="alice", check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert (
        apiserver.kubectl(
            "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", user="bob"
        ).stdout
        == "bob"
    )
    assert apiserver.kubectl("auth", "can-i", "get", "secrets").stdout.strip() == "yes"
