"""deploy/ agrees with the code and the CRD it deploys: what a reviewer of the manifests checks.

The admission policies and RBAC themselves are proven on the bed
(tests/e2e/test_least_privilege.py); these are the cross-references a change to one file could
silently break.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from kaudit.config import DEFAULT_BACKUP_DIR
from kaudit.controller.handlers import WEBHOOK_CONFIGURATION
from kaudit.limits import WEBHOOK_TIMEOUT_SECONDS
from kaudit.roles import POLICY_NAMESPACE

REPO = Path(__file__).resolve().parents[2]
AGENT = "system:serviceaccount:kaudit-node:kaudit-agent"


def documents(*names: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in names:
        text = (REPO / name).read_text()
        found.extend(d for d in YAML(typ="safe", pure=True).load_all(text) if d)
    return found


def one(kind: str, name: str, *files: str) -> dict[str, Any]:
    (document,) = [
        d for d in documents(*files) if d["kind"] == kind and d["metadata"]["name"] == name
    ]
    return document


def test_the_status_policy_keeps_every_status_field_but_the_node_entries() -> None:
    crd = documents("crds/auditconfig.yaml")[0]
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    fields = set(schema["properties"]["status"]["properties"]) - {"nodeStatuses"}
    policy = one(
        "ValidatingAdmissionPolicy",
        "kaudit-agent-own-status-entry",
        "deploy/admission-policies.yaml",
    )
    summary = next(v for v in policy["spec"]["variables"] if v["name"] == "summaryUnchanged")
    compared = set(re.findall(r"object\.\?status\.\?(\w+)", summary["expression"]))
    assert compared == fields


def test_the_admission_policies_apply_to_the_agent_that_is_deployed() -> None:
    agent = one("DaemonSet", "kaudit-agent", "deploy/agent.yaml")
    spec = agent["spec"]["template"]["spec"]
    who = f"system:serviceaccount:{agent['metadata']['namespace']}:{spec['serviceAccountName']}"
    assert who == AGENT
    assert f"--namespace={agent['metadata']['namespace']}" in spec["containers"][0]["args"]
    for document in documents("deploy/admission-policies.yaml"):
        if document["kind"] == "ValidatingAdmissionPolicy":
            (condition,) = document["spec"]["matchConditions"]
            assert condition["expression"] == f"request.userInfo.username == '{AGENT}'"
            assert document["spec"]["failurePolicy"] == "Fail"


def test_the_agent_mounts_only_kaudit_s_backup_folder_of_etc_kubernetes_tmp() -> None:
    agent = one("DaemonSet", "kaudit-agent", "deploy/agent.yaml")
    volumes = agent["spec"]["template"]["spec"]["volumes"]
    host_paths = {v["hostPath"]["path"] for v in volumes if "hostPath" in v}
    assert DEFAULT_BACKUP_DIR in host_paths
    assert not [
        p for p in host_paths if p.startswith("/etc/kubernetes/tmp") and p != DEFAULT_BACKUP_DIR
    ]
    assert "/etc/kubernetes" not in host_paths


def test_the_webhook_configuration_calls_the_controller_s_handlers_within_the_budget() -> None:
    configuration = one(
        "ValidatingWebhookConfiguration", WEBHOOK_CONFIGURATION, "deploy/webhook.yaml"
    )
    controller = one("Deployment", "kaudit-controller", "deploy/controller.yaml")
    args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--webhook-service=kaudit-system/kaudit-webhook:443" in args
    for webhook in configuration["webhooks"]:
        handler = webhook["name"].removesuffix(f".{WEBHOOK_CONFIGURATION}")
        assert webhook["clientConfig"]["service"] == {
            "namespace": "kaudit-system",
            "name": "kaudit-webhook",
            "port": 443,
            "path": f"/{handler}",
        }
        assert webhook["timeoutSeconds"] == WEBHOOK_TIMEOUT_SECONDS
        assert webhook["failurePolicy"] == "Fail"
    update = next(w for w in configuration["webhooks"] if "UPDATE" in w["rules"][0]["operations"])
    assert update["matchConditions"], "a crashed controller would block finalizer removal"


def test_no_role_creates_webhook_configurations_or_writes_one_not_kaudit_s() -> None:
    for document in documents("deploy/rbac.yaml"):
        for rule in document.get("rules") or []:
            if "admissionregistration.k8s.io" in rule["apiGroups"]:
                assert "create" not in rule["verbs"]
                assert rule["resourceNames"] == [WEBHOOK_CONFIGURATION]


def test_policy_config_maps_are_readable_where_the_agent_watches_them() -> None:
    role = one("Role", "kaudit-policy-reader", "deploy/rbac.yaml")
    assert role["metadata"]["namespace"] == POLICY_NAMESPACE
    binding = one("RoleBinding", "kaudit-policy-reader", "deploy/rbac.yaml")
    assert {f"{s['namespace']}/{s['name']}" for s in binding["subjects"]} == {
        "kaudit-system/kaudit-controller",
        "kaudit-node/kaudit-agent",
    }
