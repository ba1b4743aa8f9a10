"""Lint warnings: dead rules, logged Secret bodies, unknown API groups, rules after a catch-all."""

from __future__ import annotations

import pytest

from kaudit.policy import (
    GroupResources,
    Policy,
    PolicyProblem,
    PolicyRule,
    covers,
    lint_policy,
    parse_policy_text,
)

HEADER = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"


def lint(rules: str) -> list[PolicyProblem]:
    return lint_policy(parse_policy_text(HEADER + rules, source="p.yaml"), source="p.yaml")


def fields(rules: str) -> list[str]:
    return [problem.field for problem in lint(rules)]


def core(*resources: str, names: tuple[str, ...] = ()) -> GroupResources:
    return GroupResources("", resources, names)


def test_lint_warnings_are_warnings_with_source_and_rule() -> None:
    found = lint("- level: None\n  users: [a]\n- level: Request\n  users: [a]\n  verbs: [get]\n")
    assert len(found) == 1
    assert found[0].severity == "warning"
    assert str(found[0]).startswith("p.yaml: rules[1]: never applies: rule 0")


# --- dead rules ----------------------------------------------------------------------------------


def test_rule_shadowed_by_an_earlier_broader_user_rule_is_reported() -> None:
    assert fields(
        "- level: None\n  users: [kube-admin]\n- level: Request\n  users: [kube-admin]\n"
    ) == ["rules[1]"]


def test_rule_for_another_user_is_not_shadowed() -> None:
    assert fields("- level: None\n  users: [a]\n- level: Metadata\n  users: [a, b]\n") == []


def test_rule_without_users_is_not_shadowed_by_a_user_rule() -> None:
    assert fields("- level: None\n  users: [a]\n- level: Request\n  verbs: [get]\n") == []


def test_user_groups_and_verbs_must_be_subsets() -> None:
    assert fields(
        "- level: None\n  userGroups: [g1, g2]\n  verbs: [get, list]\n"
        "- level: Request\n  userGroups: [g1]\n  verbs: [get]\n"
    ) == ["rules[1]"]
    assert (
        fields(
            "- level: None\n  userGroups: [g1]\n  verbs: [get]\n"
            "- level: Metadata\n  userGroups: [g1]\n  verbs: [get, create]\n"
        )
        == []
    )


def test_resource_rule_does_not_shadow_a_non_resource_rule() -> None:
    assert (
        fields(
            "- level: None\n  resources: [{group: ''}]\n"
            "- level: Metadata\n  nonResourceURLs: ['/x']\n"
        )
        == []
    )


def test_namespaced_rule_shadows_a_narrower_namespaced_rule() -> None:
    assert fields(
        "- level: None\n  namespaces: [a, b]\n"
        "- level: Metadata\n  namespaces: [a]\n  resources: [{group: apps}]\n"
        "- level: Metadata\n  resources: [{group: apps}]\n"
    ) == ["rules[1]"]


def test_group_entry_without_resources_covers_every_resource_of_that_group() -> None:
    assert fields(
        "- level: None\n  resources: [{group: apps}]\n"
        "- level: Request\n  resources: [{group: apps, resources: [deployments/scale]}]\n"
    ) == ["rules[1]"]


@pytest.mark.parametrize(
    ("earlier", "later", "covered"),
    [
        ("*", "pods/log", True),
        ("pods/*", "pods", True),  # the checker compares the resource alone for "pods/*"
        ("pods/*", "pods/log", True),
        ("*/scale", "deployments/scale", True),
        ("pods", "pods/log", False),  # "pods" does not match subresources
        ("pods/log", "pods/*", False),
        ("*/scale", "*", False),
        ("pods/*", "*/status", False),
        ("*/status", "pods/*", False),
    ],
)
def test_resource_wildcards_follow_the_apiserver_checker(
    earlier: str, later: str, covered: bool
) -> None:
    first = PolicyRule(level="None", resources=(core(earlier),))
    second = PolicyRule(level="Metadata", resources=(core(later),))
    assert covers(first, second) is covered


def test_resource_names_must_be_covered_too() -> None:
    named = PolicyRule(level="None", resources=(core("configmaps", names=("a",)),))
    unnamed = PolicyRule(level="None", resources=(core("configmaps"),))
    assert covers(unnamed, named)
    assert not covers(named, unnamed)


def test_group_entry_without_resources_is_covered_only_by_a_star() -> None:
    everything = PolicyRule(level="None", resources=(core(),))
    assert covers(PolicyRule(level="None", resources=(core("*"),)), everything)
    assert not covers(PolicyRule(level="None", resources=(core("pods"),)), everything)


@pytest.mark.parametrize(
    ("earlier", "later", "covered"),
    [
        ("/healthz*", "/healthz/ready", True),
        ("/healthz*", "/healthz*", True),
        ("/api*", "/apis*", True),
        ("*", "/anything*", True),
        ("/healthz", "/healthz*", False),
        ("/apis*", "/api", False),
        ("/x*", "*", False),
    ],
)
def test_non_resource_urls_use_trailing_star_prefixes(
    earlier: str, later: str, covered: bool
) -> None:
    first = PolicyRule(level="None", non_resource_urls=(earlier,))
    second = PolicyRule(level="Metadata", non_resource_urls=(later,))
    assert covers(first, second) is covered


def test_rules_shared_between_two_earlier_rules_are_not_claimed_dead() -> None:
    # Together the first two rules take everything the third could match; one alone does not.
    assert (
        fields(
            "- level: None\n  verbs: [get]\n- level: None\n  verbs: [list]\n"
            "- level: Request\n  verbs: [get, list]\n"
        )
        == []
    )


# --- catch-all ---------------------------------------------------------------------------------


def test_rules_after_a_catch_all_are_reported_once_each() -> None:
    found = lint("- level: Metadata\n- level: None\n  users: [a]\n- level: Request\n")
    assert [problem.field for problem in found] == ["rules[1]", "rules[2]"]
    assert all("after rule 0" in problem.message for problem in found)


def test_a_catch_all_at_the_end_is_fine() -> None:
    assert fields("- level: None\n  users: [a]\n- level: Metadata\n  omitStages: [Panic]\n") == []


# --- sensitive bodies -------------------------------------------------------------------------


def test_request_level_for_everything_records_secret_configmap_and_tokenreview_bodies() -> None:
    found = lint("- level: Request\n")
    assert [problem.field for problem in found] == ["rules[0]"] * 3
    assert [problem.message.split(":")[0] for problem in found] == [
        "records Secret bodies",
        "records ConfigMap bodies",
        "records TokenReview bodies",
    ]


def test_an_earlier_metadata_rule_protects_sensitive_resources() -> None:
    assert (
        fields(
            "- level: Metadata\n  resources:\n  - {group: '', resources: [secrets, configmaps]}\n"
            "  - {group: authentication.k8s.io, resources: [tokenreviews]}\n"
            "- level: RequestResponse\n"
        )
        == []
    )


def test_read_verbs_at_request_level_record_no_body() -> None:
    assert (
        fields("- level: Request\n  verbs: [get, list, watch]\n  resources: [{group: ''}]\n") == []
    )


def test_read_verbs_at_request_response_level_record_secret_bodies() -> None:
    found = lint(
        "- level: RequestResponse\n  verbs: [get]\n"
        "  resources: [{group: '', resources: [secrets]}]\n"
    )
    assert len(found) == 1
    assert "Secret" in found[0].message
    assert "verbs get" in found[0].message


def test_a_protection_for_other_users_does_not_count() -> None:
    found = lint(
        "- level: Metadata\n  users: [alice]\n  resources: [{group: '', resources: [secrets]}]\n"
        "- level: Request\n  resources: [{group: '', resources: [secrets]}]\n"
    )
    assert [problem.field for problem in found] == ["rules[1]"]


def test_rule_for_other_resources_does_not_record_secrets() -> None:
    assert fields("- level: RequestResponse\n  resources: [{group: apps}]\n") == []


def test_non_resource_rule_does_not_record_secrets() -> None:
    assert fields("- level: RequestResponse\n  nonResourceURLs: ['/logs*']\n") == []


def test_named_secret_rule_is_protected_by_an_unnamed_metadata_rule() -> None:
    assert fields(
        "- level: Metadata\n  resources: [{group: '', resources: [secrets]}]\n"
        "- level: Request\n  resources: [{group: '', resources: [secrets], resourceNames: [x]}]\n"
    ) == ["rules[1]"]


# --- API groups --------------------------------------------------------------------------------


def test_unknown_api_group_is_reported_with_a_suggestion() -> None:
    found = lint("- level: Metadata\n  resources: [{group: rbac.authorization.k8s}]\n")
    assert [problem.field for problem in found] == ["rules[0].resources[0].group"]
    assert 'did you mean "rbac.authorization.k8s.io"' in found[0].message


def test_crd_group_is_reported_without_a_suggestion() -> None:
    found = lint("- level: Metadata\n  resources: [{group: postgresql.cnpg.io}]\n")
    assert "did you mean" not in found[0].message
    assert "CRD" in found[0].message


@pytest.mark.parametrize(
    "group", ["", "extensions", "metrics.k8s.io", "settings.k8s.io", "resource.k8s.io"]
)
def test_upstream_and_historical_groups_are_known(group: str) -> None:
    rules = (PolicyRule(level="None", resources=(GroupResources(group),)),)
    assert lint_policy(Policy(rules=rules), source="p") == []
