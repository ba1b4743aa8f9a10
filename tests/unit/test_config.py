"""The AuditConfig file a user applies: defaults, and the errors a wrong file gets."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from kaudit.config import (
    AuditConfigSpec,
    ConfigError,
    audit_config_spec_from_data,
    load_audit_config_text,
)
from kaudit.desired import desired_state

CRD = Path(__file__).resolve().parents[2] / "crds" / "auditconfig.yaml"

MINIMAL = """\
apiVersion: kaudit.io/v1alpha1
kind: AuditConfig
metadata:
  name: cluster
"""


def config_with_spec(spec: str) -> str:
    return MINIMAL + "spec:\n" + textwrap.indent(textwrap.dedent(spec), "  ")


def load_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_audit_config_text(text, source="auditconfig.yaml")
    return caught.value


def test_defaults_reproduce_the_seed_procedure() -> None:
    spec = load_audit_config_text(MINIMAL, source="auditconfig.yaml").spec
    assert spec.enabled is True
    assert spec.policy.preset == "Recommended"
    assert spec.log.path == "/var/log/audit/kube-apiserver-audit.log"
    assert (spec.log.max_age, spec.log.max_backup, spec.log.max_size) == (30, 1, 100)
    assert spec.log.format is None
    assert spec.host_paths.policy_file == "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"
    assert spec.host_paths.log_dir == "/var/log/kubernetes/audit"
    assert spec.host_paths.manifest == "/etc/kubernetes/manifests/kube-apiserver.yaml"
    assert spec.host_paths.backup_dir == "/etc/kubernetes/tmp/kaudit"
    assert dict(spec.node_selector) == {"node-role.kubernetes.io/control-plane": ""}
    assert spec.rollout.auto_rollback is True
    assert spec.kubeadm_config.record is True
    assert spec == AuditConfigSpec()


def with_schema_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server's structural defaulting makes of value (absent fields filled)."""
    if not isinstance(value, dict):
        return value
    for key, field in (schema.get("properties") or {}).items():
        if key not in value and "default" in field:
            value[key] = copy.deepcopy(field["default"])
        if key in value:
            value[key] = with_schema_defaults(field, value[key])
    return value


def test_the_crd_defaults_are_the_model_defaults() -> None:
    crd = YAML(typ="safe", pure=True).load(CRD.read_text())
    root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    defaulted = with_schema_defaults(root["properties"]["spec"], {})
    assert "kubeadmConfig" in defaulted
    assert audit_config_spec_from_data(defaulted, source="crd defaults") == AuditConfigSpec()


def test_kubeadm_config_record_is_read() -> None:
    spec = load_audit_config_text(
        config_with_spec("kubeadmConfig: {record: false}\n"), source="auditconfig.yaml"
    ).spec
    assert spec.kubeadm_config.record is False
    # As the API server returns it: the CRD defaults the object to {} and record to true.
    spec = load_audit_config_text(
        config_with_spec("kubeadmConfig: {record: true}\n"), source="auditconfig.yaml"
    ).spec
    assert spec == AuditConfigSpec()


def test_every_log_option_is_read() -> None:
    spec = load_audit_config_text(
        config_with_spec(
            """\
            log:
              path: /var/log/k8s-audit/audit.log
              maxAge: 7
              maxBackup: 3
              maxSize: 50
              format: legacy
              compress: true
              mode: batch
              version: audit.k8s.io/v1
              batch: {bufferSize: 100, maxSize: 10, maxWait: 5s, throttleEnable: true,
                      throttleQPS: 10.5, throttleBurst: 15}
              truncate: {enabled: true, maxBatchSize: 4000, maxEventSize: 2000}
            """
        ),
        source="auditconfig.yaml",
    ).spec
    assert spec.log.max_age == 7
    assert spec.log.format == "legacy"
    assert spec.log.compress is True
    assert spec.log.batch.max_wait == "5s"
    assert spec.log.batch.throttle_qps == 10.5
    assert spec.log.truncate.max_event_size == 2000


def test_inline_rules_and_custom_rules_are_kept_as_written() -> None:
    spec = load_audit_config_text(
        config_with_spec(
            """\
            policy:
              rules:
                - level: Metadata
              omitStages: [RequestReceived]
              customRules:
                - level: None
                  users: [system:kube-proxy]
            """
        ),
        source="auditconfig.yaml",
    ).spec
    assert spec.policy.preset is None
    assert spec.policy.rules == ({"level": "Metadata"},)
    assert spec.policy.omit_stages == ("RequestReceived",)
    assert spec.policy.custom_rules == ({"level": "None", "users": ["system:kube-proxy"]},)


def test_config_map_reference_defaults_namespace_and_key() -> None:
    spec = load_audit_config_text(
        config_with_spec("policy:\n  configMapRef: {name: audit-policy}\n"),
        source="auditconfig.yaml",
    ).spec
    assert spec.policy.config_map_ref is not None
    assert spec.policy.config_map_ref.namespace == "kaudit-system"
    assert spec.policy.config_map_ref.key == "policy.yaml"
    assert spec.policy.source_name == "configmap kaudit-system/audit-policy key policy.yaml"


def test_two_policy_sources_are_refused() -> None:
    error = load_error(config_with_spec("policy:\n  preset: Metadata\n  rules: [{level: None}]\n"))
    assert error.field == "spec.policy"
    assert "exactly one policy source" in str(error)
    assert str(error).startswith("auditconfig.yaml: spec.policy: ")


def test_empty_inline_rules_are_refused_like_kube_apiserver_does() -> None:
    error = load_error(config_with_spec("policy:\n  rules: []\n"))
    assert error.field == "spec.policy.rules"
    assert "0 rules" in error.reason


def test_a_name_other_than_cluster_is_refused() -> None:
    error = load_error(MINIMAL.replace("name: cluster", "name: audit"))
    assert error.field == "metadata.name"
    assert "'cluster'" in error.reason


def test_a_file_of_another_kind_is_refused() -> None:
    error = load_error("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cluster}\n")
    assert error.field == "apiVersion/kind"


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ("enabled: yes-please\n", "spec.enabled", "true or false"),
        ("log: {maxAge: -1}\n", "spec.log.maxAge", "at least 0"),
        ("log: {maxSize: '100'}\n", "spec.log.maxSize", "whole number"),
        ("log: {format: yaml}\n", "spec.log.format", "json, legacy"),
        ("log: {mode: async}\n", "spec.log.mode", "blocking"),
        ("log: {path: relative/audit.log}\n", "spec.log.path", "absolute path"),
        ("log: {path: /var/log/audit/}\n", "spec.log.path", "a file"),
        ("log: {batch: {maxWait: soon}}\n", "spec.log.batch.maxWait", "Go duration"),
        ("log: {maxage: 3}\n", "spec.log.maxage", "unknown field"),
        (
            "hostPaths: {backupDir: /etc/kubernetes/manifests/backups}\n",
            "spec.hostPaths.backupDir",
            "run a file there as a pod",
        ),
        (
            "hostPaths: {policyFile: /etc/kubernetes/manifests/policy.yaml}\n",
            "spec.hostPaths.policyFile",
            "manifests folder",
        ),
        (
            "hostPaths: {policyFile: /etc/kubernetes/pki/policy.yaml}\n",
            "spec.hostPaths.policyFile",
            "certificates and keys",
        ),
        ("log: {path: /var/log/audit.log}\n", "spec.log.path", "/var/log itself"),
        ("log: {path: /etc/kubernetes/audit-policy/audit.log}\n", "spec.log.path", "not under"),
        (
            "log: {path: //etc/kubernetes/pki/audit.log}\n",
            "spec.log.path",
            "write it as '/etc/kubernetes/pki/audit.log'",
        ),
        (
            "hostPaths: {policyFile: //etc/kubernetes/manifests/audit-policy.yaml}\n",
            "spec.hostPaths.policyFile",
            "without '//'",
        ),
        ("hostPaths: {logDir: /}\n", "spec.hostPaths.logDir", "not under /var/log/"),
        ("hostPaths: {logDir: /etc/kubernetes/pki}\n", "spec.hostPaths.logDir", "not under"),
        ("hostPaths: {backupDir: /etc/kubernetes/tmp}\n", "spec.hostPaths.backupDir", "kubeadm"),
        (
            "rollout: {healthTimeoutSeconds: 1}\n",
            "spec.rollout.healthTimeoutSeconds",
            "at least 10",
        ),
        # Published once, never acted on: refused with why, not silently ignored.
        (
            "rollout: {maxUnavailable: 1}\n",
            "spec.rollout.maxUnavailable",
            "removed: kaudit always changes one node at a time",
        ),
        ("nodeSelector: {'bad key!': ''}\n", "spec.nodeSelector", "label key"),
        ("policy: {configMapRef: {key: p.yaml}}\n", "spec.policy.configMapRef.name", "required"),
        ("colour: blue\n", "spec.colour", "unknown field"),
        ("kubeadmConfig: {record: 'yes'}\n", "spec.kubeadmConfig.record", "true or false"),
        ("kubeadmConfig: {recorded: true}\n", "spec.kubeadmConfig.recorded", "unknown field"),
        ("kubeadmConfig: [record]\n", "spec.kubeadmConfig", "must be a mapping"),
        # kube-apiserver exits at start on these (apiserver/pkg/server/options/audit.go).
        (
            "log: {truncate: {maxBatchSize: 1000, maxEventSize: 2000}}\n",
            "spec.log.truncate.maxBatchSize",
            "less than maxEventSize 2000",
        ),
        (
            "log: {truncate: {maxEventSize: 20000000}}\n",
            "spec.log.truncate.maxBatchSize",
            "10485760 is less than maxEventSize",
        ),
        ("log: {batch: {throttleQPS: 0}}\n", "spec.log.batch.throttleQPS", "greater than 0"),
        # kube-apiserver's flags are Go ints and float32s: past them it would not start.
        (f"log: {{maxAge: {'9' * 4000}}}\n", "spec.log.maxAge", "at most 2147483647, found a"),
        ("log: {maxSize: 2147483648}\n", "spec.log.maxSize", "at most 2147483647"),
        ("log: {batch: {throttleQPS: .nan}}\n", "spec.log.batch.throttleQPS", "finite"),
        ("log: {batch: {throttleQPS: .inf}}\n", "spec.log.batch.throttleQPS", "finite"),
        ("log: {batch: {throttleQPS: 1.0e+39}}\n", "spec.log.batch.throttleQPS", "finite"),
        ("nodeSelector: {role: 'not a value!'}\n", "spec.nodeSelector.role", "label value"),
        (f"nodeSelector: {{{'k' * 64}: ''}}\n", "spec.nodeSelector", "not a valid label key"),
    ],
)
def test_a_wrong_field_is_named_with_the_reason(spec: str, field: str, reason: str) -> None:
    error = load_error(config_with_spec(spec))
    assert error.field == field
    assert reason in error.reason
    assert str(error).startswith(f"auditconfig.yaml: {field}: ")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("apiVersion: [\n", "not valid YAML: line 2"),
        (MINIMAL + "---\n" + MINIMAL, "one YAML document"),
        ("- a\n- b\n", "mapping"),
    ],
)
def test_text_that_is_not_one_auditconfig_document_is_refused(text: str, reason: str) -> None:
    assert reason in str(load_error(text))


@pytest.mark.parametrize(
    "spec",
    [
        f"policy: {{preset: {'P' * 100_000}}}\n",
        f"{'x' * 100_000}: 1\n",
        f"log: {{format: {'y' * 100_000}}}\n",
        f"log: {{path: /var/log/a/{'b' * 100_000}}}\n",
        f"nodeSelector: {{{'k' * 100_000}: ''}}\n",
    ],
)
def test_a_huge_value_is_not_echoed_whole(spec: str) -> None:
    with pytest.raises(ConfigError) as caught:
        desired_state(load_audit_config_text(config_with_spec(spec), source="a").spec, source="a")
    assert len(str(caught.value)) < 600
