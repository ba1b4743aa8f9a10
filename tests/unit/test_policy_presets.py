"""Presets, composition, canonical rendering and the policy hash."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kaudit.policy import (
    GroupResources,
    Policy,
    PolicyError,
    PolicyRule,
    check_policy_text,
    compose_policy,
    lint_policy,
    parse_policy_text,
    policy_hash,
    preset_names,
    preset_policy,
    preset_text,
    render_policy,
)
from tests.corpus import CORPUS_ROOT, corpus_params, shared_file


def accepted_corpus_params() -> list[object]:
    """The corpus policies kube-apiserver loads (all of them where VERDICTS.json is absent)."""
    params = corpus_params("policies")
    verdicts_path = CORPUS_ROOT / "policies" / "VERDICTS.json"
    if not verdicts_path.exists():
        return params
    verdicts = json.loads(verdicts_path.read_text(encoding="utf-8"))
    return [param for param in params if verdicts.get(getattr(param, "id", ""), False)]


SECRET_LIKE = {("", "secrets"), ("", "configmaps"), ("authentication.k8s.io", "tokenreviews")}


def test_preset_names_are_the_documented_five() -> None:
    assert preset_names() == (
        "Recommended",
        "Metadata",
        "WriteRequestBodies",
        "AllRequestBodies",
        "None",
    )


@pytest.mark.parametrize("name", preset_names())
def test_preset_file_passes_validation_and_lint_without_warnings(name: str) -> None:
    text = preset_text(name)

    assert check_policy_text(text, source=f"preset {name}") == []
    assert lint_policy(preset_policy(name), source=f"preset {name}") == []


@pytest.mark.parametrize("name", preset_names())
def test_preset_file_explains_itself_in_comments(name: str) -> None:
    assert preset_text(name).startswith(f'# kaudit preset "{name}".')


def test_unknown_preset_raises_naming_the_valid_ones() -> None:
    with pytest.raises(PolicyError) as raised:
        preset_policy("recommended")
    message = str(raised.value)
    assert "'recommended'" in message
    assert all(name in message for name in preset_names())


def test_none_preset_logs_nothing_with_one_rule() -> None:
    assert preset_policy("None").rules == (PolicyRule(level="None"),)


def test_metadata_preset_logs_everything_at_metadata() -> None:
    assert [rule.level for rule in preset_policy("Metadata").rules] == ["Metadata"]


@pytest.mark.parametrize("name", ["WriteRequestBodies", "AllRequestBodies"])
def test_body_presets_keep_secret_like_resources_at_metadata_first(name: str) -> None:
    first = preset_policy(name).rules[0]
    assert first.level == "Metadata"
    assert (first.users, first.user_groups, first.verbs, first.namespaces) == ((), (), (), None)
    covered = {(entry.group, resource) for entry in first.resources for resource in entry.resources}
    assert covered == SECRET_LIKE
    assert preset_policy(name).rules[-1].level in ("Metadata", "RequestResponse")


def test_recommended_is_the_seed_with_the_kube_admin_rules_reordered() -> None:
    seed = parse_policy_text(
        shared_file("seed", "apiserver-audit-policy.yaml").read_text(encoding="utf-8"),
        source="seed",
    )
    recommended = preset_policy("Recommended")
    kube_admin = [rule for rule in recommended.rules if rule.users == ("kube-admin",)]

    assert recommended.omit_stages == seed.omit_stages
    assert [rule.level for rule in kube_admin] == ["Metadata", "Request", "None"]
    assert kube_admin[1].verbs == ("create", "update", "patch", "delete")
    assert not kube_admin[1].resources
    # Apart from the kube-admin rules, the seed's rules are all there, in the same order.
    others = [rule for rule in recommended.rules if rule.users != ("kube-admin",)]
    assert others == [rule for rule in seed.rules if rule.users != ("kube-admin",)]
    assert "kaudit fix" in preset_text("Recommended")


def test_compose_puts_custom_rules_first_and_keeps_the_base_settings() -> None:
    base = Policy(
        rules=(PolicyRule(level="Metadata"),), omit_stages=("Panic",), omit_managed_fields=True
    )
    custom = [PolicyRule(level="None", users=("bot",))]

    composed = compose_policy(base=base, custom_rules=custom)

    assert composed.rules == (custom[0], base.rules[0])
    assert (composed.omit_stages, composed.omit_managed_fields) == (("Panic",), True)
    assert compose_policy(base=base) == base


def test_render_is_deterministic_audit_v1_yaml() -> None:
    policy = Policy(
        rules=(
            PolicyRule(
                level="None",
                users=("system:kube-proxy",),
                verbs=("watch",),
                resources=(GroupResources("", ("endpoints",)),),
            ),
            PolicyRule(level="Metadata", omit_stages=("RequestReceived",)),
        ),
        omit_stages=("RequestReceived",),
    )
    assert render_policy(policy) == (
        "apiVersion: audit.k8s.io/v1\n"
        "kind: Policy\n"
        "omitStages:\n"
        "  - RequestReceived\n"
        "rules:\n"
        "  - level: None\n"
        '    users: ["system:kube-proxy"]\n'
        '    verbs: ["watch"]\n'
        "    resources:\n"
        '      - group: ""\n'
        '        resources: ["endpoints"]\n'
        "  - level: Metadata\n"
        "    omitStages: [RequestReceived]\n"
    )


def test_render_writes_a_header_as_comments() -> None:
    text = render_policy(preset_policy("None"), header="Written by kaudit.\nDo not edit.")
    assert text.startswith("# Written by kaudit.\n# Do not edit.\napiVersion: audit.k8s.io/v1\n")
    assert parse_policy_text(text, source="x") == preset_policy("None")


def test_render_keeps_unset_apart_from_empty() -> None:
    rule = PolicyRule(level="None", namespaces=(), omit_stages=(), omit_managed_fields=False)
    text = render_policy(Policy(rules=(rule,)))
    assert "namespaces: []" in text
    assert "omitStages: []" in text
    assert "omitManagedFields: false" in text
    assert parse_policy_text(text, source="x").rules == (rule,)


def test_render_quotes_words_yaml_would_read_as_booleans_or_numbers() -> None:
    rule = PolicyRule(
        level="None",
        users=("yes", "no", "on", "123", "0x1F", "~", "", 'say "hi"', "tab\there", "línea"),
        namespaces=("null",),
        non_resource_urls=None,
    )
    policy = Policy(rules=(rule,))
    assert parse_policy_text(render_policy(policy), source="x") == policy


@pytest.mark.parametrize("name", preset_names())
def test_render_parse_render_is_a_fixed_point_for_presets(name: str) -> None:
    once = render_policy(preset_policy(name))
    assert render_policy(parse_policy_text(once, source="rendered")) == once
    assert parse_policy_text(once, source="rendered") == preset_policy(name)


@pytest.mark.parametrize("path", accepted_corpus_params())
def test_render_parse_render_is_a_fixed_point_for_accepted_corpus_policies(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    policy = parse_policy_text(text, source=path.name)
    once = render_policy(policy)
    assert parse_policy_text(once, source="rendered") == policy
    assert render_policy(parse_policy_text(once, source="rendered")) == once
    assert check_policy_text(once, source="rendered") == []


def test_policy_hash_is_sha256_of_the_rendering_and_tracks_changes() -> None:
    policy = preset_policy("Recommended")
    digest = policy_hash(policy)

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest)
    assert policy_hash(parse_policy_text(render_policy(policy), source="x")) == digest
    assert policy_hash(compose_policy(base=policy, custom_rules=[PolicyRule(level="None")])) != (
        digest
    )
    assert policy_hash(preset_policy("Metadata")) != digest
