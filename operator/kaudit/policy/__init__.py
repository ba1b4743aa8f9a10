"""The audit-policy engine: model, kube-apiserver-exact validation, lint, presets, rendering.

Pure: no I/O beyond reading the packaged preset files, no Kubernetes client, no kopf.
"""

from __future__ import annotations

from kaudit.policy.lint import UPSTREAM_API_GROUPS, covers, is_catch_all, lint_policy
from kaudit.policy.model import (
    API_VERSION,
    KIND,
    LEVELS,
    STAGES,
    GroupResources,
    Policy,
    PolicyError,
    PolicyProblem,
    PolicyRule,
    compose_policy,
)
from kaudit.policy.presets import preset_names, preset_policy, preset_text
from kaudit.policy.render import check_rendered_size, policy_hash, render_policy
from kaudit.policy.validation import (
    check_policy_bytes,
    check_policy_data,
    check_policy_text,
    check_rules_data,
    parse_policy_bytes,
    parse_policy_text,
    policy_from_data,
    rules_from_data,
    validate_policy,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "LEVELS",
    "STAGES",
    "UPSTREAM_API_GROUPS",
    "GroupResources",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "PolicyRule",
    "check_policy_bytes",
    "check_policy_data",
    "check_policy_text",
    "check_rendered_size",
    "check_rules_data",
    "compose_policy",
    "covers",
    "is_catch_all",
    "lint_policy",
    "parse_policy_bytes",
    "parse_policy_text",
    "policy_from_data",
    "policy_hash",
    "preset_names",
    "preset_policy",
    "preset_text",
    "render_policy",
    "rules_from_data",
    "validate_policy",
]
