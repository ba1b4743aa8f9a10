"""The AuditConfig CRD on a real API server: defaults, CEL rules, columns, status subresource."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.operator_fixtures import wait_for
from tests.testbed import REPO_ROOT, Cluster

CRD = REPO_ROOT / "crds" / "auditconfig.yaml"


@pytest.fixture
def crd(apiserver: Cluster) -> Iterator[Cluster]:
    apiserver.kubectl("apply", "--server-side", "-f", str(CRD))
    apiserver.kubectl(
        "wait", "--for=condition=Established", "crd/auditconfigs.kaudit.io", "--timeout=60s"
    )
    yield apiserver
    apiserver.kubectl("delete", "auditconfig", "--all", "--wait=false", check=False)
    for name in ("cluster", "prod"):
        apiserver.kubectl(
            "patch",
            "auditconfig",
            name,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )


def apply_config(cluster: Cluster, spec: str, name: str = "cluster") -> tuple[int, str]:
    manifest = (
        f"apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\nmetadata:\n  name: {name}\n"
        f"spec:\n{spec}"
    )
    result = cluster.kubectl("apply", "-f", "-", input=manifest, check=False)
    return result.returncode, result.stderr


def test_the_seed_defaults_are_filled_in_by_the_api_server(crd: Cluster) -> None:
    code, err = apply_config(crd, "  enabled: true\n")
    assert code == 0, err
    spec = crd.kubectl_json("get", "auditconfig", "cluster")["spec"]
    assert spec["log"] == {
        "path": "/var/log/audit/kube-apiserver-audit.log",
        "maxAge": 30,
        "maxBackup": 1,
        "maxSize": 100,
    }
    assert spec["hostPaths"]["backupDir"] == "/etc/kubernetes/tmp/kaudit"
    assert spec["rollout"] == {"healthTimeoutSeconds": 300, "autoRollback": True}
    assert spec["kubeadmConfig"] == {"record": True}


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("prod", "  enabled: true\n", "must be named 'cluster'"),
        (
            "cluster",
            "  policy:\n    preset: Metadata\n    rules: [{level: None}]\n",
            "exactly one policy source",
        ),
        ("cluster", "  policy:\n    rules: [{level: Loud}]\n", 'Unsupported value: "Loud"'),
        ("cluster", "  policy:\n    rules: []\n", "should have at least 1 items"),
        ("cluster", "  log: {maxAge: -1}\n", "should be greater than or equal to 0"),
        ("cluster", "  log: {format: yaml}\n", 'Unsupported value: "yaml"'),
        ("cluster", "  log: {path: audit.log}\n", "must be an absolute path to a file"),
        (
            "cluster",
            "  hostPaths: {backupDir: /etc/kubernetes/manifests/old}\n",
            "backupDir must be outside the manifests folder",
        ),
        (
            "cluster",
            "  policy:\n    rules: [{level: None, nonResourceURLs: [/healthz], namespaces: [a]}]\n",
            "nonResourceURLs cannot be combined",
        ),
        (
            "cluster",
            "  policy:\n    rules: [{level: None, resources: [{resourceNames: [x]}]}]\n",
            "resourceNames requires resources",
        ),
        ("cluster", "  rollout: {healthTimeoutSeconds: 5}\n", "greater than or equal to 10"),
        ("cluster", "  policy:\n    preset: Loud\n", 'Unsupported value: "Loud"'),
    ],
)
def test_malformed_specs_are_refused_at_apply_with_a_clear_message(
    crd: Cluster, name: str, spec: str, message: str
) -> None:
    code, err = apply_config(crd, spec, name=name)
    assert code != 0
    assert message in err
    assert crd.kubectl("get", "auditconfig", "-o", "name").stdout.strip() == ""


def test_unknown_fields_are_refused_by_kubectl_strict_validation(crd: Cluster) -> None:
    code, err = apply_config(crd, "  log: {maxage: 3}\n")
    assert code != 0
    assert 'unknown field "spec.log.maxage"' in err


def test_get_shows_the_columns_a_user_looks_at(crd: Cluster) -> None:
    apply_config(crd, "  enabled: true\n")
    crd.kubectl(
        "patch",
        "auditconfig",
        "cluster",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Progressing","nodesReady":"1/3","policySource":"preset Recommended",'
        '"message":"cp-2 Verifying"}}',
    )
    table = crd.kubectl("get", "auditconfig").stdout.splitlines()
    assert table[0].split() == ["NAME", "ENABLED", "POLICY", "NODES", "PHASE", "AGE"]
    assert (
        table[1].split()[:7]
        == ["cluster", "true", "preset", "Recommended", "1/3", "Progressing"][:6]
        + table[1].split()[6:7]
    )
    wide = crd.kubectl("get", "auditconfig", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-1] == "MESSAGE"
    assert "cp-2 Verifying" in wide[1]


def test_status_is_a_subresource_so_spec_writers_cannot_set_it(crd: Cluster) -> None:
    apply_config(crd, "  enabled: true\n")
    crd.kubectl(
        "patch", "auditconfig", "cluster", "--type=merge", "-p", '{"status":{"phase":"Enabled"}}'
    )
    body = wait_for("the object", lambda: crd.kubectl_json("get", "auditconfig", "cluster"))
    assert "phase" not in (body.get("status") or {})


def test_deploy_kustomization_is_accepted_by_the_api_server(apiserver: Cluster) -> None:
    # Server-side dry-run: the API server validates every object (RBAC, DaemonSet, Service...)
    # without creating them. The namespace must exist for the namespaced objects.
    apiserver.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "namespace.yaml"))
    result = apiserver.kubectl("apply", "-k", str(REPO_ROOT / "deploy"), "--dry-run=server")
    assert "daemonset.apps/kaudit-agent created (server dry run)" in result.stdout
    assert "deployment.apps/kaudit-controller created (server dry run)" in result.stdout
