"""Hostile YAML and policies end in a clear error that names the limit, never an exception."""

from __future__ import annotations

import pytest

from kaudit.limits import MAX_POLICY_RULES, MAX_POLICY_SCALAR_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from kaudit.policy import (
    PolicyError,
    check_policy_text,
    parse_policy_text,
    policy_from_data,
)
from kaudit.policy.yamldoc import resolve_plain
from kaudit.yamltext import YamlLimitError, YamlTextError, load_single_document
from tests.unit.policy_bombs import HEAD, laughs


def policy_rules(count: int) -> str:
    rule = '- level: Metadata\n  resources:\n  - group: ""\n    resources: ["r{}"]\n'
    return HEAD + "rules:\n" + "".join(rule.format(index) for index in range(count))


HOSTILE_POLICIES = [
    ("billion laughs", HEAD + "rules: [{level: Metadata}]\n" + laughs(9), "excessive aliasing"),
    (
        "billion laughs inside the rules",
        HEAD + laughs(9) + "rules:\n- level: Metadata\n  users: *a9\n",
        "excessive aliasing",
    ),
    ("recursive alias", HEAD + "rules: &r\n- level: Metadata\n  users: *r\n", "contains itself"),
    ("recursive mapping", "a: &a\n  b: *a\n", "contains itself"),
    ("deep flow nesting", HEAD + "rules: " + "[" * 5000 + "]" * 5000 + "\n", "nesting deeper"),
    (
        "deep block nesting",
        HEAD + "rules:\n" + "".join("  " * i + "- \n" for i in range(200)),
        "nesting deeper",
    ),
    (
        "too many nodes",
        HEAD + "rules:\n- level: Metadata\n  users: [" + ", ".join(["u"] * MAX_YAML_NODES) + "]\n",
        f"limit of {MAX_YAML_NODES} YAML nodes",
    ),
    (
        "too many nodes through aliases",
        # Under go-yaml's aliasing ratio (half of the values are written out), over the count.
        HEAD + "x: &x [" + ", ".join(["u"] * 16_000) + "]\ny: *x\nrules:\n- level: Metadata\n",
        f"limit of {MAX_YAML_NODES} YAML values once aliases are expanded",
    ),
    (
        "a huge scalar",
        HEAD
        + "rules:\n- level: Metadata\n  users: ["
        + "u" * (MAX_POLICY_SCALAR_BYTES + 1)
        + "]\n",
        f"limit of {MAX_POLICY_SCALAR_BYTES} bytes for one value",
    ),
    (
        "too many rules",
        HEAD + "rules:\n" + "- {level: None}\n" * (MAX_POLICY_RULES + 1),
        f"limit of {MAX_POLICY_RULES} rules",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in HOSTILE_POLICIES],
    ids=[name for name, _, _ in HOSTILE_POLICIES],
)
def test_a_hostile_policy_is_refused_with_the_limit_it_passed(text: str, expected: str) -> None:
    problems = check_policy_text(text, source="hostile.yaml")
    errors = [problem for problem in problems if problem.severity == "error"]
    assert errors, problems
    assert expected in str(errors[0])
    assert str(errors[0]).startswith("hostile.yaml")


def test_a_policy_past_a_limit_cannot_be_loaded() -> None:
    with pytest.raises(PolicyError, match="excessive aliasing"):
        parse_policy_text(HEAD + "rules: [{level: Metadata}]\n" + laughs(9), source="b.yaml")


def test_aliases_a_real_policy_might_use_are_still_read() -> None:
    text = HEAD + (
        "rules:\n"
        "- level: Metadata\n  users: &admins [alice, bob]\n  verbs: [get]\n"
        "- level: Request\n  users: *admins\n"
    )
    policy = parse_policy_text(text, source="aliases.yaml")
    assert policy.rules[1].users == ("alice", "bob")


def test_the_largest_policy_within_the_limits_is_read() -> None:
    policy = parse_policy_text(policy_rules(MAX_POLICY_RULES), source="big.yaml")
    assert len(policy.rules) == MAX_POLICY_RULES


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1" * 5000, "1" * 5000),  # strconv range error: go-yaml keeps the text
        ("0x" + "f" * 5000, "0x" + "f" * 5000),
        ("-" + "9" * 4400, "-" + "9" * 4400),
        ("1e999999", "1e999999"),
        ("0" * 100 + "17", 0o17),  # leading zeros: octal, as strconv reads it
        ("18446744073709551615", 18446744073709551615),
        ("18446744073709551616", 18446744073709551616.0),  # past uint64: a float
    ],
    ids=["5000 digits", "long hex", "long negative", "float overflow", "zeros", "uint64", "float"],
)
def test_long_numbers_resolve_as_go_yaml_does(text: str, expected: object) -> None:
    assert resolve_plain(text) == expected


def test_a_5000_digit_number_in_a_policy_is_a_type_error_not_a_crash() -> None:
    text = HEAD + "rules:\n- level: Metadata\n  omitManagedFields: " + "1" * 5000 + "\n"
    errors = [p for p in check_policy_text(text, source="n.yaml") if p.severity == "error"]
    assert errors
    assert "omitManagedFields" in str(errors[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (laughs(9), "excessive aliasing"),
        ("a: &a\n  b: *a\n", "contains itself"),
        ("[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), "nesting deeper"),
        ("a: " + "1" * 5000 + "\n", "too long to convert"),
    ],
    ids=["alias bomb", "recursive alias", "deep", "5000 digits"],
)
def test_a_hostile_yaml_file_is_a_yaml_text_error(text: str, expected: str) -> None:
    with pytest.raises(YamlTextError, match=expected):
        load_single_document(text)


def test_the_limit_errors_are_yaml_text_errors_for_callers_that_catch_those() -> None:
    assert issubclass(YamlLimitError, YamlTextError)


def test_inline_rules_past_the_limits_are_refused() -> None:
    data = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}
    with pytest.raises(PolicyError, match=f"limit of {MAX_POLICY_RULES} rules"):
        policy_from_data(
            {**data, "rules": [{"level": "None"}] * (MAX_POLICY_RULES + 1)}, source="x"
        )
    long_user = "u" * (MAX_POLICY_SCALAR_BYTES + 1)
    with pytest.raises(PolicyError, match="bytes for one value"):
        policy_from_data({**data, "rules": [{"level": "None", "users": [long_user]}]}, source="x")


def test_a_huge_number_in_inline_rules_is_a_type_error() -> None:
    data = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}
    with pytest.raises(PolicyError, match="too long to show"):
        policy_from_data({**data, "rules": [{"level": 10**5000}]}, source="x")


def test_an_anchor_defined_twice_is_read_as_go_yaml_does_without_a_warning() -> None:
    # The later definition wins (yaml-test-suite 3GZX, in go-yaml v2's own tests).
    assert load_single_document("x: &a 1\ny: &a 2\nz: *a\n") == {"x": 1, "y": 2, "z": 2}


def test_a_value_its_tag_cannot_convert_is_a_yaml_text_error() -> None:
    with pytest.raises(YamlTextError, match="cannot be converted"):
        load_single_document('a: !!int ""\n')
