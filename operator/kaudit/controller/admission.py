"""What the validating webhook decides about an AuditConfig, without kopf: pure but for the
ConfigMap lookup, which the caller passes in.

A policy kube-apiserver would refuse to load is refused at `kubectl apply`, with the same
field path the API server would print, so that no node ever sees it. Lint findings (dead rules,
recorded Secret bodies) are admission warnings: kubectl shows them, and the object is accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kaudit.config import ConfigError, audit_config_from_object
from kaudit.desired import resolve_policy
from kaudit.policy import PolicyError, lint_policy

ConfigMapReader = Callable[[str, str, str], str | None]


@dataclass(frozen=True, kw_only=True)
class AdmissionDecision:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def review_audit_config(
    body: Mapping[str, Any], *, read_config_map: ConfigMapReader
) -> AdmissionDecision:
    source = "AuditConfig " + str((body.get("metadata") or {}).get("name", "?"))
    try:
        config = audit_config_from_object(body, source=source)
    except ConfigError as error:
        return AdmissionDecision(allowed=False, message=str(error))
    spec = config.spec
    warnings: list[str] = []
    config_map_text = None
    ref = spec.policy.config_map_ref
    if ref is not None:
        config_map_text = read_config_map(ref.namespace, ref.name, ref.key)
        if config_map_text is None:
            # A GitOps tool may apply the AuditConfig before the ConfigMap; refusing would
            # deadlock it. Nodes change nothing until the policy exists and is valid.
            return AdmissionDecision(
                allowed=True,
                warnings=(
                    f"ConfigMap {ref.namespace}/{ref.name} key {ref.key} not found: no node "
                    "changes until it exists and holds a valid policy",
                ),
            )
    try:
        policy = resolve_policy(spec.policy, source=source, config_map_text=config_map_text)
    except (ConfigError, PolicyError) as error:
        return AdmissionDecision(allowed=False, message=str(error))
    warnings.extend(
        str(problem)
        for problem in lint_policy(policy, source=f"{source} {spec.policy.source_name}")
    )
    return AdmissionDecision(allowed=True, warnings=tuple(warnings))
