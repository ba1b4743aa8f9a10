"""The webhook handler answers every AuditConfig with a decision; hostile ones are denials."""

from __future__ import annotations

from typing import Any

import pytest

from kaudit.controller.admission import review_audit_config
from kaudit.limits import MAX_MESSAGE_CHARS, MAX_POLICY_RULES
from tests.unit.policy_bombs import BAD_POLICIES, MANY_LONG_ERRORS, RENDERS_TOO_LARGE

CIS_LOG = {"maxAge": 30, "maxBackup": 10, "maxSize": 100}


def config(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": "cluster"},
        "spec": {"log": CIS_LOG, **spec},
    }


def from_config_map(text: str) -> Any:
    def read(namespace: str, name: str, key: str) -> str:
        return text

    return read


CONFIG_MAP = {"policy": {"configMapRef": {"name": "audit"}}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in BAD_POLICIES],
    ids=[name for name, _, _ in BAD_POLICIES],
)
def test_a_hostile_config_map_policy_is_denied_with_the_reason(text: str, expected: str) -> None:
    decision = review_audit_config(config(CONFIG_MAP), read_config_map=from_config_map(text))
    assert not decision.allowed
    assert expected in decision.message
    assert "kaudit-system/audit key policy.yaml" in decision.message


def test_a_policy_that_would_be_written_over_the_limit_is_denied() -> None:
    decision = review_audit_config(
        config(CONFIG_MAP), read_config_map=from_config_map(RENDERS_TOO_LARGE)
    )
    assert not decision.allowed
    assert (
        "the policy as kaudit writes it is 1440320 bytes, over kaudit's limit" in decision.message
    )


HOSTILE_SPECS = [
    ("too many inline rules", {"policy": {"rules": [{"level": "None"}] * (MAX_POLICY_RULES + 1)}}),
    ("a huge number as level", {"policy": {"rules": [{"level": 10**5000}]}}),
    ("a huge user name", {"policy": {"rules": [{"level": "None", "users": ["u" * 100_000]}]}}),
    ("rules that are not a list", {"policy": {"rules": {"level": "None"}}}),
    ("a spec that is a list", []),
    (
        "deeply nested custom rules",
        {"policy": {"preset": "Recommended", "customRules": [[[[[[]]]]]]}},
    ),
]


@pytest.mark.parametrize(
    "spec", [spec for _, spec in HOSTILE_SPECS], ids=[name for name, _ in HOSTILE_SPECS]
)
def test_a_hostile_inline_spec_is_denied(spec: Any) -> None:
    body = config({}) | {"spec": spec}
    decision = review_audit_config(body, read_config_map=from_config_map(""))
    assert not decision.allowed
    assert decision.message.startswith("AuditConfig cluster")


def test_a_body_without_usable_metadata_is_still_a_decision() -> None:
    decision = review_audit_config(
        {"metadata": ["not", "a", "mapping"], "spec": []}, read_config_map=from_config_map("")
    )
    assert not decision.allowed
    assert decision.message.startswith("AuditConfig ?")


def test_a_config_map_read_that_fails_is_a_denial_that_says_so() -> None:
    def failing(namespace: str, name: str, key: str) -> str:
        raise ConnectionError("API server not answering")

    decision = review_audit_config(config(CONFIG_MAP), read_config_map=failing)
    assert not decision.allowed
    assert "could not read ConfigMap kaudit-system/audit" in decision.message
    assert "API server not answering" in decision.message


def test_a_kaudit_bug_is_a_denial_not_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("kaudit.controller.admission.lint_policy", broken)
    decision = review_audit_config(config({}), read_config_map=from_config_map(""))
    assert not decision.allowed
    assert "could not check this AuditConfig (RecursionError)" in decision.message


# --- CIS benchmark warnings ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("log", "fields"),
    [
        (CIS_LOG, []),
        ({}, ["maxBackup"]),  # kaudit's defaults: the seed's 30 days, 1 backup, 100 MB
        ({"maxAge": 7, "maxBackup": 5, "maxSize": 50}, ["maxAge", "maxBackup", "maxSize"]),
        ({"maxAge": 90, "maxBackup": 20, "maxSize": 200}, []),
    ],
    ids=["cis", "defaults", "all short", "above"],
)
def test_log_settings_below_cis_are_warned_about_not_denied(
    log: dict[str, Any], fields: list[str]
) -> None:
    body = config({}) | {"spec": {"log": log}}
    decision = review_audit_config(body, read_config_map=from_config_map(""))
    assert decision.allowed
    cis = [w for w in decision.warnings if "CIS Kubernetes Benchmark" in w]
    assert [w.split(" ", 1)[0] for w in cis] == [f"spec.log.{field}" for field in fields]


def test_the_cis_warning_says_what_is_set_what_cis_asks_and_how_to_meet_it() -> None:
    body = config({}) | {"spec": {"log": {"maxBackup": 1}}}
    (warning,) = review_audit_config(body, read_config_map=from_config_map("")).warnings
    assert warning.startswith("spec.log.maxBackup is 1:")
    assert "--audit-log-maxbackup of at least 10 files" in warning
    assert "set spec.log.maxBackup: 10 or more" in warning
    assert "examples/auditconfig-cis.yaml" in warning


def test_a_disabled_config_gets_no_cis_warning() -> None:
    body = config({}) | {"spec": {"enabled": False}}
    assert review_audit_config(body, read_config_map=from_config_map("")).warnings == ()


def test_the_cis_warning_also_comes_with_a_missing_config_map_and_after_lint() -> None:
    body = config(CONFIG_MAP) | {"spec": {**CONFIG_MAP}}
    decision = review_audit_config(body, read_config_map=lambda namespace, name, key: None)
    assert decision.allowed
    assert "not found" in decision.warnings[0]
    assert decision.warnings[-1].startswith("spec.log.maxBackup is 1:")


def test_lint_warnings_past_what_kube_apiserver_keeps_are_summed_up() -> None:
    rules = [
        {"level": "Metadata", "resources": [{"group": f"g{index}.example.com"}]}
        for index in range(30)
    ]
    decision = review_audit_config(
        config({"policy": {"rules": rules}}), read_config_map=from_config_map("")
    )
    assert decision.allowed
    assert len(decision.warnings) == 11
    assert decision.warnings[-1].startswith("20 more lint warnings: run `kaudit policy lint`")


def test_a_denial_of_many_long_errors_stays_short() -> None:
    decision = review_audit_config(
        config(CONFIG_MAP), read_config_map=from_config_map(MANY_LONG_ERRORS)
    )
    assert not decision.allowed
    assert len(decision.message) < MAX_MESSAGE_CHARS + 200
    assert "rules[0].resources[0].group" in decision.message
    assert decision.message.endswith("more lines")
