"""Every corpus policy gets the verdict kube-apiserver gave it (../shared/corpus/policies)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaudit.policy import PolicyProblem, check_policy_text, lint_policy, parse_policy_text
from tests.corpus import corpus_params, shared_file

# For each file kube-apiserver refuses: the field our first error must name (kube-apiserver's
# own path; "" for a whole-file problem).
REFUSED_FIELD = {
    "05-openshift-v1beta1-profile-default.yaml": "apiVersion",
    "06-openshift-v1beta1-profile-writerequestbodies.yaml": "apiVersion",
    "07-openshift-v1beta1-profile-allrequestbodies.yaml": "apiVersion",
    "08-falco-example-v1beta1.yaml": "apiVersion",
    "17-gardener-example-configmap-v1beta1-strip-chomp.yaml": "apiVersion",
    "20-real-auditsink-not-a-policy-multidoc.yaml": "apiVersion",
    "21-real-broken-yaml-indentation-v1beta1-capital-rules.yaml": "",
    "invalid-01-level-unknown-value.yaml": "rules[0].level",
    "invalid-02-level-wrong-case.yaml": "rules[0].level",
    "invalid-03-level-missing.yaml": "rules[0].level",
    "invalid-04-rule-omitstage-unknown.yaml": "rules[0].omitStages[0]",
    "invalid-05-policy-omitstage-unknown.yaml": "omitStages[0]",
    "invalid-06-nonresourceurl-wildcard-not-at-end.yaml": "rules[0].nonResourceURLs[0]",
    "invalid-07-nonresourceurl-missing-leading-slash.yaml": "rules[0].nonResourceURLs[0]",
    "invalid-08-nonresourceurl-empty-string.yaml": "rules[0].nonResourceURLs[0]",
    "invalid-09-nonresourceurls-with-resources.yaml": "rules[0].nonResourceURLs",
    "invalid-10-nonresourceurls-with-namespaces.yaml": "rules[0].nonResourceURLs",
    "invalid-11-resourcenames-without-resources.yaml": "rules[0].resources[0].resourceNames",
    "invalid-12-group-with-version-suffix.yaml": "rules[0].resources[0].group",
    "invalid-13-group-uppercase.yaml": "rules[0].resources[0].group",
    "invalid-14-apiversion-v1beta1-removed.yaml": "apiVersion",
    "invalid-15-apiversion-unknown-v2.yaml": "apiVersion",
    "invalid-16-apiversion-core-v1.yaml": "apiVersion",
    "invalid-17-kind-auditpolicy.yaml": "kind",
    "invalid-18-missing-apiversion-and-kind.yaml": "apiVersion",
    "invalid-19-empty-rules-list.yaml": "rules",
    "invalid-20-no-rules-key.yaml": "rules",
    "invalid-21-empty-file.yaml": "",
}

# Accepted only through the lenient fallback: the field kube-apiserver's strict decoder names.
WARNED_FIELD = {
    "10-selectel-mks-unknown-field-username-crlf-no-eol.yaml": "rules[8].resources[0].username",
    "12-unknown-toplevel-webhook-field.yaml": "webhook",
    "15-wazuh-4space-single-quotes-verbs-in-resources.yaml": "rules[3].resources[0].verbs",
}


def _verdicts() -> dict[str, bool]:
    path = shared_file("corpus", "policies", "VERDICTS.json")
    verdicts: dict[str, bool] = json.loads(path.read_text(encoding="utf-8"))
    return verdicts


def _problems(path: Path) -> list[PolicyProblem]:
    return check_policy_text(_read(path), source=path.name)


def _read(path: Path) -> str:
    # Bytes, decoded: read_text would turn CRLF into LF and hide what the file really holds.
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("path", corpus_params("policies"))
def test_corpus_policy_gets_kube_apiservers_verdict(path: Path) -> None:
    expected_valid = _verdicts()[path.name]
    problems = _problems(path)
    errors = [problem for problem in problems if problem.severity == "error"]
    warnings = [problem for problem in problems if problem.severity == "warning"]

    assert (not errors) is expected_valid, [str(problem) for problem in problems]
    if not expected_valid:
        assert errors[0].field == REFUSED_FIELD[path.name], str(errors[0])
        assert str(errors[0]).startswith(f"{path.name}: ")
    elif path.name in WARNED_FIELD:
        assert [problem.field for problem in warnings] == [WARNED_FIELD[path.name]]
        assert "falling back to lenient decoding" in warnings[0].message
    else:
        assert warnings == []


def test_every_corpus_policy_has_a_recorded_verdict_and_an_expected_field() -> None:
    verdicts = _verdicts()
    folder = shared_file("corpus", "policies")
    names = {path.name for path in folder.iterdir() if path.suffix == ".yaml"}
    assert names == set(verdicts)
    assert {name for name, valid in verdicts.items() if not valid} == set(REFUSED_FIELD)
    agreeing = sum(
        (not any(p.severity == "error" for p in _problems(folder / name))) is valid
        for name, valid in verdicts.items()
    )
    assert agreeing == len(verdicts) == 46


def test_unknown_group_resources_field_leaves_an_entry_matching_all_core_resources() -> None:
    path = shared_file(
        "corpus", "policies", "10-selectel-mks-unknown-field-username-crlf-no-eol.yaml"
    )
    text = _read(path)
    assert "\r\n" in text
    assert not text.endswith("\n")

    policy = parse_policy_text(text, source=path.name)
    warning = check_policy_text(text, source=path.name)[0]

    entry = policy.rules[8].resources[0]
    assert (entry.group, entry.resources, entry.resource_names) == ("", (), ())
    assert "matches every resource of the core API group" in warning.message
    assert warning.line == 66


def test_lenient_fallback_drops_verbs_placed_inside_a_resources_entry() -> None:
    path = shared_file(
        "corpus", "policies", "15-wazuh-4space-single-quotes-verbs-in-resources.yaml"
    )
    policy = parse_policy_text(path.read_text(encoding="utf-8"), source=path.name)

    pods_rule = policy.rules[3]
    assert pods_rule.level == "RequestResponse"
    assert pods_rule.verbs == ()
    assert pods_rule.resources[0].resources == ("pods",)


def test_yaml_1_1_capital_true_is_a_boolean_for_omit_managed_fields() -> None:
    path = shared_file("corpus", "policies", "19-omitmanagedfields-capital-true-crd-group.yaml")
    policy = parse_policy_text(path.read_text(encoding="utf-8"), source=path.name)

    assert policy.omit_managed_fields is True
    assert policy.omit_stages == ("RequestReceived", "ResponseStarted")


def test_seed_policy_is_valid_and_its_kube_admin_request_rule_is_reported_dead() -> None:
    path = shared_file("seed", "apiserver-audit-policy.yaml")
    policy = parse_policy_text(path.read_text(encoding="utf-8"), source=path.name)

    warnings = lint_policy(policy, source=path.name)

    assert [warning.field for warning in warnings] == ["rules[13]"]
    assert policy.rules[13].level == "Request"
    assert "never applies" in warnings[0].message
    assert "rule 10" in warnings[0].message
