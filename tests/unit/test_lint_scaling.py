"""Lint compares rules through an index, within a budget, with the answers of every pair."""

from __future__ import annotations

import random

from kaudit.limits import MAX_POLICY_RULES
from kaudit.policy import GroupResources, Policy, PolicyRule, covers, is_catch_all, lint_policy


def random_rule(chance: random.Random) -> PolicyRule:
    def some(values: list[str], most: int) -> tuple[str, ...]:
        return tuple(chance.sample(values, chance.randint(0, most)))

    kind = chance.choice(["resources", "namespaces", "urls", "all", "resources"])
    level = chance.choice(["None", "Metadata", "Request", "RequestResponse"])
    users, groups = some(["a", "b"], 2), some(["g", "h"], 1)
    verbs = some(["get", "create", "list", "patch"], 3)
    if kind == "resources":
        entries = tuple(
            GroupResources(
                chance.choice(["", "apps", "authentication.k8s.io"]),
                some(["*", "pods", "pods/*", "pods/log", "*/scale", "secrets", "configmaps"], 3),
                some(["x", "y"], 1) if chance.random() < 0.2 else (),
            )
            for _ in range(chance.randint(1, 2))
        )
        namespaces = (some(["n1", "n2"], 2) or ("n1",)) if chance.random() < 0.3 else None
        return PolicyRule(level, users, groups, verbs, entries, namespaces)
    if kind == "namespaces":
        return PolicyRule(level, users, groups, verbs, namespaces=some(["n1", "n2"], 2) or ("n1",))
    if kind == "urls":
        urls = some(["*", "/api*", "/api", "/apis/*", "/healthz", "/a*"], 2) or ("/api",)
        return PolicyRule(level, users, groups, verbs, non_resource_urls=urls)
    return PolicyRule(level, users, groups, verbs)


def first_covering_by_scan(rules: tuple[PolicyRule, ...], index: int) -> int | None:
    return next((j for j in range(index) if covers(rules[j], rules[index])), None)


def test_lint_finds_the_same_dead_rules_as_comparing_every_pair() -> None:
    chance = random.Random(10)
    for _ in range(500):
        rules = tuple(random_rule(chance) for _ in range(chance.randint(1, 12)))
        warnings = lint_policy(Policy(rules=rules), source="p")
        for index in range(len(rules)):
            if any(is_catch_all(rule) for rule in rules[:index]):
                continue
            shadow = first_covering_by_scan(rules, index)
            dead = [
                w for w in warnings if w.field == f"rules[{index}]" and "never applies" in w.message
            ]
            if shadow is None:
                assert not dead
            else:
                assert len(dead) == 1
                assert f"rule {shadow} (" in dead[0].message


def test_lint_of_thousands_of_overlapping_rules_stops_at_its_budget_and_says_so() -> None:
    # Every rule is on the same resource for another user: each is a candidate for the next.
    rules = tuple(
        PolicyRule("Metadata", users=(f"u{index}",), resources=(GroupResources("", ("pods",)),))
        for index in range(MAX_POLICY_RULES)
    )
    warnings = lint_policy(Policy(rules=rules), source="p", max_work=10_000)
    assert warnings[-1].field == "rules"
    assert "not fully linted: kaudit stopped comparing rules after its limit of 10000" in (
        warnings[-1].message
    )


def test_lint_of_thousands_of_distinct_rules_needs_no_pairwise_comparison() -> None:
    rules = tuple(
        PolicyRule("Metadata", resources=(GroupResources("", (f"r{index}",)),))
        for index in range(MAX_POLICY_RULES)
    )
    # No budget at all is enough: distinct resources share no index entry, so no comparison.
    assert lint_policy(Policy(rules=rules), source="p", max_work=0) == []


def test_lint_of_rules_with_long_lists_is_bounded_by_their_size() -> None:
    # Each rule almost covers the next: a comparison walks 50 patterns against 51 resources.
    patterns = tuple(f"r{index}" for index in range(50))
    rules = tuple(
        PolicyRule("Metadata", resources=(GroupResources("", (*patterns, f"x{index}")),))
        for index in range(600)
    )
    warnings = lint_policy(Policy(rules=rules), source="p")
    assert [w.field for w in warnings] == ["rules"]
    assert "not fully linted" in warnings[0].message
