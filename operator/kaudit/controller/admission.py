"""What the validating webhook decides about an AuditConfig, without kopf: pure but for the
ConfigMap lookup, which the caller passes in.

A policy kube-apiserver would refuse to load is refused at `kubectl apply`, with the same
field path the API server would print, so that no node ever sees it. Lint findings (dead rules,
recorded Secret bodies) and log settings below the CIS benchmark are admission warnings:
kubectl shows them, and the object is accepted.

The handler never raises: the body and the ConfigMap come from whoever can reach the webhook,
and an exception would be a 500 that kube-apiserver turns into its failurePolicy, with no reason
the user can act on. Every input past a limit or unparsable is a denial naming the input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kaudit.cis_benchmark import cis_log_warnings
from kaudit.config import ConfigError, audit_config_from_object
from kaudit.desired import resolve_policy
from kaudit.limits import MAX_POLICY_BYTES, InputRefusedError, bounded_message, check_text_size
from kaudit.policy import PolicyError, check_rendered_size, lint_policy, render_policy
from kaudit.yamltext import YamlTextError

ConfigMapReader = Callable[[str, str, str], str | None]

_log = logging.getLogger(__name__)

# kube-apiserver keeps at most 4 KiB of warnings in all, cutting each to 256 characters past
# that (endpoints/filters/warning.go): more lint warnings than these would be lost anyway.
MAX_LINT_WARNINGS = 10

# Errors that are the input's fault; each message names the source, the field and the reason.
_INPUT_ERRORS = (ConfigError, PolicyError, InputRefusedError, YamlTextError)


@dataclass(frozen=True, kw_only=True)
class AdmissionDecision:
    allowed: bool
    message: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def review_audit_config(
    body: Mapping[str, Any], *, read_config_map: ConfigMapReader
) -> AdmissionDecision:
    source = "AuditConfig " + _object_name(body)
    decision = _decide(body, source=source, read_config_map=read_config_map)
    # A denial names every problem, and a hostile policy may have thousands of long ones.
    return replace(decision, message=bounded_message(decision.message))


def _decide(
    body: Mapping[str, Any], *, source: str, read_config_map: ConfigMapReader
) -> AdmissionDecision:
    try:
        return _review(body, source=source, read_config_map=read_config_map)
    except _INPUT_ERRORS as error:
        return AdmissionDecision(allowed=False, message=str(error))
    except Exception as error:  # the backstop: a 500 would hide the reason
        # Every known bad input is refused above with its reason; reaching this is a kaudit
        # bug, logged with its traceback for the operator, and still a clean denial.
        _log.exception("Admission review failed", extra={"source": source})
        return AdmissionDecision(
            allowed=False,
            message=f"{source}: kaudit could not check this AuditConfig "
            f"({type(error).__name__}); it is refused so that no node receives it",
        )


def _review(
    body: Mapping[str, Any], *, source: str, read_config_map: ConfigMapReader
) -> AdmissionDecision:
    config = audit_config_from_object(body, source=source)
    spec = config.spec
    # The benchmark's warnings come last: the policy's own problems matter more.
    cis = cis_log_warnings(spec)
    config_map_text = None
    ref = spec.policy.config_map_ref
    if ref is not None:
        where = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"
        try:
            config_map_text = read_config_map(ref.namespace, ref.name, ref.key)
        except Exception as error:  # the API client raises many types
            return AdmissionDecision(
                allowed=False,
                message=f"{source}: could not read {where} ({type(error).__name__}: {error}); "
                "try again when the API answers",
                warnings=cis,
            )
        if config_map_text is None:
            # A GitOps tool may apply the AuditConfig before the ConfigMap; refusing would
            # deadlock it. Nodes change nothing until the policy exists and is valid.
            missing = f"{where} not found: no node changes until it exists and holds a valid policy"
            return AdmissionDecision(allowed=True, warnings=(missing, *cis))
        check_text_size(config_map_text, limit=MAX_POLICY_BYTES, source=where, what="policy")
    try:
        policy = resolve_policy(spec.policy, source=source, config_map_text=config_map_text)
        check_rendered_size(render_policy(policy), source=f"{source} {spec.policy.source_name}")
    except _INPUT_ERRORS as error:
        return AdmissionDecision(allowed=False, message=str(error), warnings=cis)
    lint = [str(p) for p in lint_policy(policy, source=f"{source} {spec.policy.source_name}")]
    if len(lint) > MAX_LINT_WARNINGS:
        more = len(lint) - MAX_LINT_WARNINGS
        lint = [
            *lint[:MAX_LINT_WARNINGS],
            f"{more} more lint warnings: run `kaudit policy lint` on the policy to see them all",
        ]
    return AdmissionDecision(allowed=True, warnings=(*lint, *cis))


def _object_name(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) and name else "?"
