"""From a spec to the flags, volumes, policy text and hash a host must carry."""

from __future__ import annotations

import pytest

from kaudit.config import (
    AuditConfigSpec,
    BatchSpec,
    ConfigError,
    ConfigMapKeyRef,
    HostPathsSpec,
    LogSpec,
    PolicySpec,
)
from kaudit.desired import (
    DisabledState,
    EnabledState,
    audit_flags,
    desired_state,
    resolve_policy,
)
from kaudit.manifest import AuditVolume
from kaudit.policy import PolicyError, check_policy_text, preset_policy

SEED_FLAGS = (
    ("--audit-log-maxage", "30"),
    ("--audit-log-maxbackup", "1"),
    ("--audit-log-maxsize", "100"),
    ("--audit-log-path", "/var/log/audit/kube-apiserver-audit.log"),
    ("--audit-policy-file", "/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml"),
)


def test_defaults_give_exactly_the_seed_procedures_five_flags_and_two_volumes() -> None:
    state = desired_state(AuditConfigSpec(), source="test")
    assert state.patch is not None
    assert state.patch.flags == SEED_FLAGS
    assert state.patch.volumes == (
        AuditVolume(
            name="audit-logs",
            host_path="/var/log/kubernetes/audit",
            mount_path="/var/log/audit",
            read_only=False,
            host_path_type="DirectoryOrCreate",
        ),
        AuditVolume(
            name="audit-policy",
            host_path="/etc/kubernetes/audit-policy",
            mount_path="/etc/kubernetes/audit-policy",
            read_only=True,
            host_path_type="DirectoryOrCreate",
        ),
    )


def test_the_written_policy_file_is_valid_and_says_who_wrote_it() -> None:
    state = desired_state(AuditConfigSpec(), source="test")
    assert state.policy_text is not None
    assert state.policy_text.startswith("# Written by kaudit from preset Recommended.")
    assert [
        p for p in check_policy_text(state.policy_text, source="x") if p.severity == "error"
    ] == []


def test_optional_log_flags_appear_only_when_set_and_in_kubeadm_order() -> None:
    log = LogSpec(format="json", compress=True, batch=BatchSpec(max_wait="5s", throttle_qps=10.0))
    flags = dict(audit_flags(log, "/etc/kubernetes/audit-policy/p.yaml"))
    assert flags["--audit-log-format"] == "json"
    assert flags["--audit-log-compress"] == "true"
    assert flags["--audit-log-batch-max-wait"] == "5s"
    assert flags["--audit-log-batch-throttle-qps"] == "10"
    names = [name for name, _ in audit_flags(log, "/p.yaml")]
    assert names == sorted(names)
    assert "--audit-log-mode" not in flags


def test_a_policy_change_changes_the_hash_and_equal_specs_share_it() -> None:
    recommended = desired_state(AuditConfigSpec(), source="a")
    again = desired_state(AuditConfigSpec(), source="b")
    metadata = desired_state(AuditConfigSpec(policy=PolicySpec(preset="Metadata")), source="a")
    assert recommended.config_hash == again.config_hash
    assert recommended.config_hash != metadata.config_hash


def test_a_log_setting_change_changes_the_hash() -> None:
    base = desired_state(AuditConfigSpec(), source="a")
    longer = desired_state(AuditConfigSpec(log=LogSpec(max_age=60)), source="a")
    assert base.config_hash != longer.config_hash


def test_disabled_spec_wants_no_policy_and_no_patch() -> None:
    state = desired_state(AuditConfigSpec(enabled=False), source="test")
    assert isinstance(state, DisabledState)
    assert not state.enabled
    assert state.config_hash is None
    assert not hasattr(state, "patch")
    assert not hasattr(state, "policy_text")


def test_an_enabled_spec_carries_its_policy_and_patch_and_hash() -> None:
    state = desired_state(AuditConfigSpec(), source="test")
    assert isinstance(state, EnabledState)
    assert state.enabled
    assert state.config_hash == state.patch.config_hash


def test_an_enabled_state_cannot_be_made_without_its_patch_or_policy() -> None:
    # Issue 12's defect 1: an "enabled" state without a patch expected no config hash from a
    # healthy API server and rolled the node back.
    with pytest.raises(TypeError):
        EnabledState(host_paths=HostPathsSpec(), log_file_name="audit.log")  # type: ignore[call-arg]


def test_custom_rules_go_before_the_preset_rules() -> None:
    spec = PolicySpec(custom_rules=({"level": "None", "users": ["system:kube-proxy"]},))
    policy = resolve_policy(spec, source="test")
    recommended = preset_policy("Recommended")
    assert len(policy.rules) == len(recommended.rules) + 1
    assert policy.rules[0].level == "None"
    assert policy.rules[1:] == recommended.rules


def test_inline_rules_are_validated_with_the_apiserver_rules() -> None:
    spec = PolicySpec(preset=None, rules=({"level": "Metadata"}, {"level": "Loud"}))
    with pytest.raises(PolicyError) as caught:
        resolve_policy(spec, source="auditconfig.yaml")
    assert "rules[1].level" in str(caught.value)


def test_a_bad_custom_rule_is_named_under_spec_policy_custom_rules() -> None:
    spec = PolicySpec(custom_rules=({"level": "Metadata", "nonResourceURLs": ["healthz"]},))
    with pytest.raises(PolicyError) as caught:
        resolve_policy(spec, source="auditconfig.yaml")
    assert "spec.policy.customRules[0].nonResourceURLs" in str(caught.value)


def test_an_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_policy(PolicySpec(preset="Everything"), source="auditconfig.yaml")
    assert caught.value.field == "spec.policy.preset"
    assert "Recommended" in caught.value.reason


def test_a_config_map_policy_without_its_text_is_an_error_not_a_default() -> None:
    spec = PolicySpec(
        preset=None, config_map_ref=ConfigMapKeyRef(namespace="ns", name="p", key="k")
    )
    with pytest.raises(ConfigError) as caught:
        resolve_policy(spec, source="auditconfig.yaml")
    assert "ns/p" in caught.value.reason
    text = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Request\n"
    policy = resolve_policy(spec, source="auditconfig.yaml", config_map_text=text)
    assert [rule.level for rule in policy.rules] == ["Request"]


def test_omit_stages_override_applies_to_a_preset_and_is_validated() -> None:
    policy = resolve_policy(
        PolicySpec(preset="Metadata", omit_stages=("RequestReceived",)), source="test"
    )
    assert tuple(policy.omit_stages) == ("RequestReceived",)
    with pytest.raises(PolicyError):
        resolve_policy(PolicySpec(preset="Metadata", omit_stages=("Whenever",)), source="test")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (AuditConfigSpec(host_paths=HostPathsSpec(log_dir="/")), "spec.hostPaths.logDir"),
        (AuditConfigSpec(log=LogSpec(path="//etc/kubernetes/pki/a.log")), "spec.log.path"),
        (
            AuditConfigSpec(host_paths=HostPathsSpec(backup_dir="/etc/kubernetes/tmp")),
            "spec.hostPaths.backupDir",
        ),
    ],
)
def test_a_spec_built_in_code_gets_the_same_path_rules(spec: AuditConfigSpec, field: str) -> None:
    # Not only parsed specs: these paths become kube-apiserver's hostPath volumes.
    with pytest.raises(ConfigError) as caught:
        desired_state(spec, source="test")
    assert caught.value.field == field
