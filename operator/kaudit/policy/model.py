"""The audit Policy as immutable values, shaped like kube-apiserver's audit.k8s.io/v1 types.

Field names follow `staging/src/k8s.io/apiserver/pkg/apis/audit/v1/types.go` in snake case.
Where kube-apiserver tells "unset" from "empty" we do too: a rule's `omitManagedFields` is a
`*bool` there (unset means "use the policy default"), so it is `bool | None` here; the optional
lists `namespaces`, `nonResourceURLs` and `omitStages` keep `None` (absent) apart from `()`
(written as `[]`) so that rendering gives back what the user wrote. For matching, an empty list
and an absent one mean the same thing ("every ..."), exactly as in the apiserver's checker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

API_VERSION: Final = "audit.k8s.io/v1"
KIND: Final = "Policy"

# The order kube-apiserver prints in its "supported values" message (validation.go validLevels).
LEVELS: Final = ("None", "Metadata", "Request", "RequestResponse")
# The order kube-apiserver prints in "allowed stages are ..." (validation.go validOmitStages).
STAGES: Final = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class PolicyProblem:
    """One thing wrong with a policy, named the way kube-apiserver names it.

    `field` is the apiserver-style path ("rules[3].level"); "" means the whole file. `line` is
    the 1-based line in the source text where we know it; it is left out of equality so that a
    problem built by hand compares equal to one found in a file.
    """

    source: str
    field: str
    message: str
    severity: Severity
    line: int | None = dataclasses.field(default=None, compare=False)

    def __str__(self) -> str:
        if self.field:
            return f"{self.source}: {self.field}: {self.message}"
        return f"{self.source}: {self.message}"


class PolicyError(ValueError):
    """A policy kube-apiserver would refuse; carries every problem found, errors first."""

    def __init__(self, problems: Sequence[PolicyProblem]) -> None:
        self.problems: tuple[PolicyProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


@dataclass(frozen=True)
class GroupResources:
    """Resources of one API group; empty `resources` means every resource of the group."""

    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRule:
    """One rule; the first rule that matches a request decides its level."""

    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] | None = None
    non_resource_urls: tuple[str, ...] | None = None
    omit_stages: tuple[str, ...] | None = None
    omit_managed_fields: bool | None = None


@dataclass(frozen=True)
class Policy:
    """An audit.k8s.io/v1 Policy. `metadata` is accepted in files but not kept."""

    rules: tuple[PolicyRule, ...]
    omit_stages: tuple[str, ...] = ()
    omit_managed_fields: bool = False


def compose_policy(*, base: Policy, custom_rules: Sequence[PolicyRule] = ()) -> Policy:
    """The base policy with custom rules in front: the first matching rule wins, so they win."""
    return Policy(
        rules=(*custom_rules, *base.rules),
        omit_stages=base.omit_stages,
        omit_managed_fields=base.omit_managed_fields,
    )
