"""kube-apiserver's verdict on constructed policies: the cases the corpus does not cover."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaudit.policy import (
    GroupResources,
    Policy,
    PolicyError,
    PolicyProblem,
    PolicyRule,
    check_policy_data,
    check_policy_text,
    check_rules_data,
    parse_policy_text,
    policy_from_data,
    rules_from_data,
    validate_policy,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"
HEADER = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def policy_text(rules: str, *, top: str = "") -> str:
    return HEADER + top + "rules:\n" + rules


def errors(text: str, source: str = "policy.yaml") -> list[PolicyProblem]:
    return [p for p in check_policy_text(text, source=source) if p.severity == "error"]


def warnings(text: str, source: str = "policy.yaml") -> list[PolicyProblem]:
    return [p for p in check_policy_text(text, source=source) if p.severity == "warning"]


def only_error(text: str) -> PolicyProblem:
    found = errors(text)
    assert len(found) == 1, [str(problem) for problem in found]
    return found[0]


# --- the file and its type -------------------------------------------------------------------


def test_minimal_policy_is_valid_without_problems() -> None:
    assert check_policy_text(policy_text("- level: Metadata\n"), source="p.yaml") == []


def test_crlf_line_ends_and_missing_final_newline_parse() -> None:
    text = policy_text("- level: Metadata\n  verbs: [get]").replace("\n", "\r\n")

    policy = parse_policy_text(text, source="p.yaml")

    assert policy.rules == (PolicyRule(level="Metadata", verbs=("get",)),)


def test_empty_file_is_rejected_as_a_whole_file_problem() -> None:
    problem = only_error("")
    assert problem.field == ""
    assert "empty" in problem.message
    assert str(problem) == f"policy.yaml: {problem.message}"


def test_comment_only_file_is_rejected_like_an_empty_one() -> None:
    assert "empty" in only_error("# nothing here\n\n").message


def test_yaml_that_does_not_parse_is_rejected_with_its_line() -> None:
    problem = only_error(policy_text("- level: None\n   users: [a]\n  - level: x\n"))
    assert problem.field == ""
    assert problem.message.startswith("not valid YAML")
    assert problem.line is not None
    assert "line" in problem.message


def test_a_list_document_is_not_a_policy() -> None:
    problem = only_error("- level: Metadata\n")
    assert problem.field == ""
    assert "a list" in problem.message


def test_missing_apiversion_is_rejected_even_with_kind() -> None:
    problem = only_error("kind: Policy\nrules:\n- level: Metadata\n")
    assert problem.field == "apiVersion"
    assert "Required value" in problem.message


def test_missing_kind_with_v1_apiversion_loads_with_a_warning() -> None:
    # The decoder fills an empty kind from the type it decodes into (gvkWithDefaults).
    text = "apiVersion: audit.k8s.io/v1\nrules:\n- level: Metadata\n"
    assert errors(text) == []
    assert [problem.field for problem in warnings(text)] == ["kind"]


def test_apiversion_key_is_found_case_insensitively_like_encoding_json() -> None:
    text = "ApiVersion: audit.k8s.io/v1\nKind: Policy\nrules:\n- level: Metadata\n"
    assert errors(text) == []
    assert {problem.field for problem in warnings(text)} == {"ApiVersion", "Kind"}


def test_v1alpha1_is_refused_with_advice_to_use_v1() -> None:
    problem = only_error("apiVersion: audit.k8s.io/v1alpha1\nkind: Policy\nrules: [{level: None}]")
    assert problem.field == "apiVersion"
    assert "audit.k8s.io/v1" in problem.message


def test_a_number_as_apiversion_is_a_decode_error() -> None:
    assert only_error("apiVersion: 1\nkind: Policy\nrules: [{level: None}]").field == "apiVersion"


def test_metadata_is_allowed() -> None:
    text = HEADER + "metadata:\n  name: audit\n  labels: {team: ops}\nrules:\n- level: None\n"
    assert check_policy_text(text, source="p.yaml") == []


def test_unknown_metadata_field_warns() -> None:
    text = HEADER + "metadata:\n  nmae: audit\nrules:\n- level: None\n"
    assert [problem.field for problem in warnings(text)] == ["metadata.nmae"]


def test_bad_metadata_type_is_a_decode_error() -> None:
    text = HEADER + "metadata:\n  labels: {replicas: 3}\nrules:\n- level: None\n"
    assert only_error(text).field == "metadata.labels.replicas"


def test_only_the_first_yaml_document_counts() -> None:
    text = (FIXTURES / "multi-document-second-ignored.yaml").read_text(encoding="utf-8")

    policy = parse_policy_text(text, source="multi.yaml")
    found = warnings(text)

    assert policy.rules == (PolicyRule(level="Metadata"),)
    assert len(found) == 1
    assert "first document" in found[0].message


def test_a_broken_second_document_does_not_fail_the_file() -> None:
    text = policy_text("- level: None\n") + "---\nrules: [\n"
    assert errors(text) == []


def test_leading_document_marker_is_fine() -> None:
    assert check_policy_text("---\n" + policy_text("- level: None\n"), source="p") == []


# --- strict decoding and its lenient fallback ------------------------------------------------


def test_unknown_rule_field_warns_and_is_dropped() -> None:
    text = policy_text("- level: Metadata\n  user: [alice]\n")

    found = warnings(text)
    policy = parse_policy_text(text, source="p.yaml")

    assert [problem.field for problem in found] == ["rules[0].user"]
    assert "falling back to lenient decoding" in found[0].message
    assert policy.rules[0].users == ()


def test_wrong_case_field_name_warns_with_the_right_spelling() -> None:
    found = warnings(policy_text("- level: None\n  Verbs: [get]\n"))
    assert 'did you mean "verbs"' in found[0].message


def test_wrong_case_level_key_leaves_the_rule_without_a_level() -> None:
    text = policy_text("- Level: Metadata\n")
    assert only_error(text).field == "rules[0].level"
    assert [problem.field for problem in warnings(text)] == ["rules[0].Level"]


def test_duplicate_keys_warn_and_the_last_value_wins() -> None:
    text = (FIXTURES / "duplicate-keys-last-wins.yaml").read_text(encoding="utf-8")

    found = warnings(text)
    policy = parse_policy_text(text, source="dup.yaml")

    assert [problem.field for problem in found] == ["rules[0].level"]
    assert "duplicate key" in found[0].message
    assert found[0].line == 6
    assert policy.rules[0].level == "Metadata"


# --- wrong types are decode errors even when lenient ------------------------------------------


def test_a_number_in_a_string_list_is_a_decode_error() -> None:
    problem = only_error(policy_text("- level: None\n  namespaces: [default, 42]\n"))
    assert problem.field == "rules[0].namespaces[1]"
    assert "expected a string, got number 42" in problem.message
    assert 'quote it: "42"' in problem.message


def test_yaml_1_1_no_is_a_boolean_and_breaks_a_string_list() -> None:
    text = (FIXTURES / "yaml11-boolean-namespace.yaml").read_text(encoding="utf-8")
    problem = only_error(text)
    assert problem.field == "rules[0].namespaces[0]"
    assert "YAML reads the unquoted no as a boolean" in problem.message


@pytest.mark.parametrize("word", ["yes", "on", "off", "y", "N", "True"])
def test_yaml_1_1_boolean_words_are_not_verbs(word: str) -> None:
    assert only_error(policy_text(f"- level: None\n  verbs: [{word}]\n")).field == (
        "rules[0].verbs[0]"
    )


def test_quoted_yaml_1_1_words_are_strings() -> None:
    text = policy_text("- level: None\n  verbs: [\"on\"]\n  namespaces: ['no']\n")
    assert errors(text) == []


@pytest.mark.parametrize("number", ["0x1F", "0o17", "017", "1_000", "1e3", ".5", "-7"])
def test_go_yaml_numbers_are_not_strings(number: str) -> None:
    assert only_error(policy_text(f"- level: None\n  users: [{number}]\n")).field == (
        "rules[0].users[0]"
    )


def test_a_string_where_a_list_is_expected_is_a_decode_error() -> None:
    problem = only_error(policy_text("- level: None\n  users: alice\n"))
    assert problem.field == "rules[0].users"
    assert '["alice"]' in problem.message


def test_resource_names_straight_under_resources_is_a_decode_error() -> None:
    text = (FIXTURES / "resources-as-strings.yaml").read_text(encoding="utf-8")
    found = errors(text)
    assert [problem.field for problem in found] == [
        "rules[0].resources[0]",
        "rules[0].resources[1]",
    ]
    assert 'group: ""' in found[0].message


def test_a_string_as_omit_managed_fields_is_a_decode_error() -> None:
    text = policy_text('- level: None\n  omitManagedFields: "true"\n')
    assert only_error(text).field == "rules[0].omitManagedFields"


def test_a_rule_that_is_a_string_is_a_decode_error() -> None:
    assert only_error(policy_text("- Metadata\n")).field == "rules[0]"


def test_rules_as_a_mapping_is_a_decode_error() -> None:
    assert only_error(HEADER + "rules:\n  level: None\n").field == "rules"


def test_a_null_rule_has_no_level() -> None:
    assert only_error(policy_text("- level: None\n-\n")).field == "rules[1].level"


def test_validation_errors_are_reported_alongside_decode_errors() -> None:
    found = errors(policy_text("- level: Verbose\n  users: [1]\n"))
    assert {problem.field for problem in found} == {"rules[0].users[0]", "rules[0].level"}


def test_nan_cannot_become_json() -> None:
    assert only_error(HEADER + "rules:\n- level: None\nextra: .nan\n").field == "extra"


def test_anchors_and_merge_keys_are_followed() -> None:
    text = HEADER + (
        "rules:\n- &base {level: None, verbs: [get]}\n- <<: *base\n  level: Metadata\n"
    )
    policy = parse_policy_text(text, source="p.yaml")
    assert policy.rules[1] == PolicyRule(level="Metadata", verbs=("get",))
    # Setting a merged key again fails strict decoding (seen on kube-apiserver 1.34.4).
    assert [problem.field for problem in warnings(text)] == ["rules[1].level"]


# --- ValidatePolicy -----------------------------------------------------------------------------


def test_level_values_are_exact_and_case_sensitive() -> None:
    problem = only_error(policy_text("- level: requestresponse\n"))
    assert problem.field == "rules[0].level"
    assert problem.message.startswith('Unsupported value: "requestresponse": supported values')
    assert '"RequestResponse"' in problem.message


def test_quoted_level_with_a_trailing_space_is_unsupported() -> None:
    assert only_error(policy_text('- level: "Metadata "\n')).field == "rules[0].level"


def test_empty_level_is_required() -> None:
    assert only_error(policy_text('- level: ""\n')).message.startswith("Required value")


@pytest.mark.parametrize(
    "stage", ["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]
)
def test_every_known_stage_is_accepted(stage: str) -> None:
    text = policy_text(f"- level: None\n  omitStages: [{stage}]\n", top=f"omitStages: [{stage}]\n")
    assert errors(text) == []


def test_stage_names_are_case_sensitive() -> None:
    text = policy_text("- level: None\n  omitStages: [RequestReceived, panic]\n")
    assert only_error(text).field == "rules[0].omitStages[1]"


@pytest.mark.parametrize("url", ["*", "/", "/healthz", "/healthz*", "/api/*", "/logs*"])
def test_valid_non_resource_urls(url: str) -> None:
    assert errors(policy_text(f'- level: None\n  nonResourceURLs: ["{url}"]\n')) == []


def test_wildcard_not_last_in_non_resource_url_is_rejected() -> None:
    problem = only_error(policy_text('- level: None\n  nonResourceURLs: ["/a", "/a/*/b"]\n'))
    assert problem.field == "rules[0].nonResourceURLs[1]"
    assert "must be the final character" in problem.message


def test_double_trailing_wildcard_is_rejected() -> None:
    problem = only_error(policy_text('- level: None\n  nonResourceURLs: ["/logs/**"]\n'))
    assert problem.field == "rules[0].nonResourceURLs[0]"


def test_leading_wildcard_breaks_both_url_rules() -> None:
    found = errors(policy_text('- level: None\n  nonResourceURLs: ["*foo"]\n'))
    assert [problem.field for problem in found] == ["rules[0].nonResourceURLs[0]"] * 2


def test_non_resource_urls_with_an_empty_resources_list_are_fine() -> None:
    # The apiserver checks len(resources) > 0: an explicit empty list mixes nothing.
    text = policy_text(
        '- level: None\n  resources: []\n  namespaces: []\n  nonResourceURLs: ["/x"]\n'
    )
    assert errors(text) == []


def test_resource_names_with_resources_are_fine() -> None:
    text = policy_text(
        '- level: None\n  resources:\n  - group: ""\n    resources: [configmaps]\n'
        "    resourceNames: [controller-leader]\n"
    )
    assert errors(text) == []


def test_group_star_is_refused_by_kube_apiserver_1_34() -> None:
    problem = only_error(policy_text('- level: None\n  resources:\n  - group: "*"\n'))
    assert problem.field == "rules[0].resources[0].group"
    assert "#135262" in problem.message


def test_group_longer_than_253_characters_is_rejected() -> None:
    group = ".".join(["a" * 60] * 5)
    problem = only_error(policy_text(f"- level: None\n  resources:\n  - group: {group}\n"))
    assert "no more than 253 characters" in problem.message


@pytest.mark.parametrize("group", ["apps", "rbac.authorization.k8s.io", "batch.volcano.sh", "x-1"])
def test_dns_subdomain_groups_are_accepted(group: str) -> None:
    assert errors(policy_text(f"- level: None\n  resources:\n  - group: {group}\n")) == []


def test_problems_name_the_right_entry_index() -> None:
    text = policy_text(
        "- level: None\n- level: Metadata\n  resources:\n  - group: apps\n  - group: Apps\n"
    )
    problem = only_error(text)
    assert str(problem).startswith("policy.yaml: rules[1].resources[1].group: Invalid value")
    assert problem.line == 8


def test_made_up_users_verbs_and_resources_are_not_validated() -> None:
    text = policy_text(
        "- level: None\n  users: ['']\n  verbs: [frobnicate]\n"
        "  resources:\n  - resources: ['container', '*/*']\n"
    )
    assert errors(text) == []


def test_policy_omit_managed_fields_and_rule_override_are_kept() -> None:
    text = policy_text(
        "- level: Request\n  omitManagedFields: false\n  omitStages: []\n- level: None\n",
        top="omitManagedFields: true\n",
    )
    policy = parse_policy_text(text, source="p")
    assert policy.omit_managed_fields is True
    assert policy.rules[0].omit_managed_fields is False
    assert policy.rules[0].omit_stages == ()
    assert policy.rules[1].omit_managed_fields is None
    assert policy.rules[1].omit_stages is None


# --- the raising entry points ------------------------------------------------------------------


def test_parse_policy_text_raises_with_every_error() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy_text(policy_text("- level: Foo\n- level: Bar\n"), source="bad.yaml")

    assert [problem.field for problem in raised.value.problems] == [
        "rules[0].level",
        "rules[1].level",
    ]
    assert str(raised.value).splitlines()[0].startswith("bad.yaml: rules[0].level: Unsupported")
    assert isinstance(raised.value, ValueError)


def test_policy_from_data_accepts_python_values() -> None:
    data = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "None", "resources": [{"group": "", "resources": ["events"]}]}],
    }
    policy = policy_from_data(data, source="AuditConfig spec.policy")
    assert policy == Policy(
        rules=(PolicyRule(level="None", resources=(GroupResources("", ("events",)),)),),
        omit_stages=("RequestReceived",),
    )


def test_policy_from_data_names_the_source_and_field() -> None:
    data = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": 3}]}
    with pytest.raises(PolicyError) as raised:
        policy_from_data(data, source="AuditConfig spec.policy")
    assert str(raised.value).startswith("AuditConfig spec.policy: rules[0].level: Invalid type")


def test_policy_data_with_an_unknown_field_warns() -> None:
    data = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None"}], "x": 1}
    problems, policy = check_policy_data(data, source="s")
    assert policy is not None
    assert [problem.severity for problem in problems] == ["warning"]


def test_rules_from_data_uses_the_field_prefix() -> None:
    rules = [{"level": "None"}, {"level": "Metadata"}, {"level": "Loud"}]
    with pytest.raises(PolicyError) as raised:
        rules_from_data(rules, source="AuditConfig cluster", field_prefix="spec.policy.rules")
    assert [str(problem) for problem in raised.value.problems] == [
        'AuditConfig cluster: spec.policy.rules[2].level: Unsupported value: "Loud": '
        'supported values: "None", "Metadata", "Request", "RequestResponse"'
    ]


def test_rules_from_data_allows_an_empty_list() -> None:
    assert rules_from_data([], source="s", field_prefix="spec.policy.customRules") == ()


def test_check_rules_data_returns_unknown_fields_as_warnings() -> None:
    problems, rules = check_rules_data(
        [{"level": "None", "usernames": ["a"]}], source="s", field_prefix="spec.policy.customRules"
    )
    assert rules == (PolicyRule(level="None"),)
    assert [problem.field for problem in problems] == ["spec.policy.customRules[0].usernames"]


def test_validate_policy_checks_a_policy_built_in_code() -> None:
    policy = Policy(
        rules=(PolicyRule(level="None", non_resource_urls=("/a*b",), namespaces=("x",)),),
        omit_stages=("Nope",),
    )
    fields = [problem.field for problem in validate_policy(policy, source="code")]
    assert fields == ["omitStages[0]", "rules[0].nonResourceURLs[0]", "rules[0].nonResourceURLs"]
    assert [p.field for p in validate_policy(Policy(rules=()), source="code")] == ["rules"]


def test_problem_string_omits_an_empty_field_and_equality_ignores_the_line() -> None:
    with_line = PolicyProblem("f.yaml", "", "broken", "error", line=3)
    assert str(with_line) == "f.yaml: broken"
    assert with_line == PolicyProblem("f.yaml", "", "broken", "error")
