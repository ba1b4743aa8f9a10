"""What `kubectl apply` of an AuditConfig gets back from the validating webhook."""

from __future__ import annotations

from typing import Any

from kaudit.controller.admission import review_audit_config


def config(spec: dict[str, Any], name: str = "cluster") -> dict[str, Any]:
    return {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": name},
        "spec": spec,
    }


def no_config_maps(namespace: str, name: str, key: str) -> str | None:
    return None


def test_the_default_spec_is_allowed_with_only_the_cis_backup_count_warning() -> None:
    # The defaults reproduce the seed procedure (1 backup); CIS asks for 10.
    decision = review_audit_config(config({}), read_config_map=no_config_maps)
    assert decision.allowed
    assert len(decision.warnings) == 1
    assert decision.warnings[0].startswith("spec.log.maxBackup is 1: the CIS Kubernetes Benchmark")


def test_a_policy_kube_apiserver_would_refuse_is_refused_with_its_field() -> None:
    decision = review_audit_config(
        config({"policy": {"rules": [{"level": "Metadata", "nonResourceURLs": ["/logs/*.log"]}]}}),
        read_config_map=no_config_maps,
    )
    assert not decision.allowed
    assert "rules[0].nonResourceURLs" in decision.message


def test_a_dead_rule_is_allowed_with_a_warning() -> None:
    rules = [
        {"level": "None", "users": ["kube-admin"]},
        {"level": "Request", "users": ["kube-admin"], "verbs": ["create"]},
    ]
    decision = review_audit_config(
        config({"policy": {"rules": rules}}), read_config_map=no_config_maps
    )
    assert decision.allowed
    assert any("rules[1]" in warning for warning in decision.warnings)


def test_a_missing_config_map_is_allowed_with_a_warning_so_gitops_order_does_not_matter() -> None:
    decision = review_audit_config(
        config({"policy": {"configMapRef": {"name": "audit"}}}), read_config_map=no_config_maps
    )
    assert decision.allowed
    assert "kaudit-system/audit" in decision.warnings[0]


def test_an_invalid_config_map_policy_is_refused() -> None:
    def read(namespace: str, name: str, key: str) -> str:
        return "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n"

    decision = review_audit_config(
        config({"policy": {"configMapRef": {"name": "audit"}}}), read_config_map=read
    )
    assert not decision.allowed
    assert "apiVersion" in decision.message


def test_another_name_is_refused() -> None:
    decision = review_audit_config(config({}, name="prod"), read_config_map=no_config_maps)
    assert not decision.allowed
    assert "metadata.name" in decision.message
