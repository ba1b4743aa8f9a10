"""Write a Policy as audit.k8s.io/v1 YAML, the same bytes for the same policy.

The text is what lands on the control-plane host and what the policy hash is taken over, so it
is canonical: fixed field order, every user-supplied string double-quoted with JSON escapes
(a JSON string is a valid YAML double-quoted scalar, and quoting keeps words like `no` or `on`
from turning into booleans), lists of strings in flow style. Levels and stages are written
plain: they are fixed words that YAML reads back as the same strings. Parsing the rendering
gives back the same Policy, so render -> parse -> render is a fixed point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from kaudit.limits import KIB, MAX_POLICY_BYTES, too_large
from kaudit.policy.model import (
    API_VERSION,
    KIND,
    LEVELS,
    STAGES,
    Policy,
    PolicyError,
    PolicyProblem,
    PolicyRule,
)

# The policy file kaudit writes must be one kaudit (and its agents) will read back: within the
# policy size limit, with room for kaudit's header comment.
MAX_RENDERED_POLICY_BYTES = MAX_POLICY_BYTES - KIB

_PLAIN_WORDS = frozenset(LEVELS) | frozenset(STAGES)


def render_policy(policy: Policy, *, header: str | None = None) -> str:
    """The policy as YAML text; `header` (optional) is written first as `#` comment lines."""
    lines: list[str] = []
    if header:
        lines.extend(f"# {line}".rstrip() for line in header.splitlines())
    lines.append(f"apiVersion: {API_VERSION}")
    lines.append(f"kind: {KIND}")
    if policy.omit_stages:
        lines.append("omitStages:")
        lines.extend(f"  - {_scalar(stage)}" for stage in policy.omit_stages)
    if policy.omit_managed_fields:
        lines.append("omitManagedFields: true")
    if not policy.rules:
        lines.append("rules: []")
    else:
        lines.append("rules:")
        for rule in policy.rules:
            lines.extend(_rule_lines(rule))
    return "\n".join(lines) + "\n"


def check_rendered_size(text: str, *, source: str, limit: int = MAX_RENDERED_POLICY_BYTES) -> None:
    """PolicyError when the policy as kaudit writes it is over the limit.

    Quoting and escaping make the written text longer than the values it holds (a control
    character becomes six), so a policy read within the limits may still render past them.
    """
    size = len(text.encode("utf-8"))
    if size > limit:
        reason = too_large("policy as kaudit writes it", size, limit)
        raise PolicyError([PolicyProblem(source, "", reason, "error")])


def policy_hash(policy: Policy) -> str:
    """ "sha256:<hex>" of the canonical rendering (no header)."""
    digest = hashlib.sha256(render_policy(policy).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def _rule_lines(rule: PolicyRule) -> list[str]:
    lines = [f"  - level: {_scalar(rule.level)}"]
    indent = "    "
    if rule.users:
        lines.append(f"{indent}users: {_flow(rule.users)}")
    if rule.user_groups:
        lines.append(f"{indent}userGroups: {_flow(rule.user_groups)}")
    if rule.verbs:
        lines.append(f"{indent}verbs: {_flow(rule.verbs)}")
    if rule.resources:
        lines.append(f"{indent}resources:")
        for entry in rule.resources:
            lines.append(f"{indent}  - group: {_quoted(entry.group)}")
            if entry.resources:
                lines.append(f"{indent}    resources: {_flow(entry.resources)}")
            if entry.resource_names:
                lines.append(f"{indent}    resourceNames: {_flow(entry.resource_names)}")
    if rule.namespaces is not None:
        lines.append(f"{indent}namespaces: {_flow(rule.namespaces)}")
    if rule.non_resource_urls is not None:
        lines.append(f"{indent}nonResourceURLs: {_flow(rule.non_resource_urls)}")
    if rule.omit_stages is not None:
        stages = ", ".join(_scalar(stage) for stage in rule.omit_stages)
        lines.append(f"{indent}omitStages: [{stages}]")
    if rule.omit_managed_fields is not None:
        lines.append(f"{indent}omitManagedFields: {str(rule.omit_managed_fields).lower()}")
    return lines


def _flow(values: Sequence[str]) -> str:
    return "[" + ", ".join(_quoted(value) for value in values) + "]"


def _scalar(value: str) -> str:
    return value if value in _PLAIN_WORDS else _quoted(value)


def _quoted(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if not text.isprintable():
        # Line and paragraph separators and other non-printing characters: escape them all.
        text = json.dumps(value, ensure_ascii=True)
    return text
