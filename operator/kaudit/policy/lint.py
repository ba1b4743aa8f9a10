"""Warnings about policies kube-apiserver accepts but that probably do not do what was meant.

Matching is modelled on kube-apiserver's checker
(staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go): rules are tried in order and the
first match decides the level. A rule matches when every field it sets matches: users by name,
userGroups by any shared group, verbs exactly; a rule with resources or namespaces matches only
resource requests, one with nonResourceURLs only non-resource requests, one with neither every
request. A resource entry matches its group exactly and, in its resources list, "*" (all
resources and subresources), "pods" (pods, no subresource), "pods/log", "pods/*" (pods and all
of its subresources: the checker compares the resource alone) and "*/scale" (that subresource
of every resource). A non-resource URL is "*", an exact path, or a prefix ending in "*".

Every check here only claims what the model can prove. "Rule B never applies" is said only when
one single earlier rule matches every request B could match; when several earlier rules share
the work between them, nothing is said (no false positives).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from kaudit.policy.model import GroupResources, Policy, PolicyProblem, PolicyRule

# API groups served by upstream Kubernetes, from the groups registered in kubernetes/kubernetes
# (pkg/apis/*, staging/src/k8s.io/api/*, kube-aggregator's apiregistration.k8s.io,
# apiextensions-apiserver's apiextensions.k8s.io) as of v1.34, plus groups that have been
# removed but are still listed in widely copied policies (extensions: Kubernetes <= 1.21;
# settings.k8s.io: removed in 1.20; auditregistration.k8s.io: removed in 1.19) and groups that
# SIG projects serve on most clusters (metrics-server's metrics.k8s.io and the custom/external
# metrics APIs of k8s.io/metrics, SIG Storage's volume snapshots, SIG Network's Gateway API).
UPSTREAM_API_GROUPS: Final = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
        # removed, still common in policies
        "extensions",
        "settings.k8s.io",
        "auditregistration.k8s.io",
        # served by SIG projects
        "metrics.k8s.io",
        "custom.metrics.k8s.io",
        "external.metrics.k8s.io",
        "snapshot.storage.k8s.io",
        "gateway.networking.k8s.io",
    }
)


@dataclass(frozen=True)
class _Sensitive:
    group: str
    resource: str
    label: str


# Resources whose bodies carry credentials or arbitrary configuration (the upstream example
# policies log them at Metadata only for this reason).
_SENSITIVE: Final = (
    _Sensitive("", "secrets", "Secret"),
    _Sensitive("", "configmaps", "ConfigMap"),
    _Sensitive("authentication.k8s.io", "tokenreviews", "TokenReview"),
)

# At level Request only the request body is kept: reads and deletes send no object, so only
# these verbs put a Secret's or ConfigMap's data (or a TokenReview's token) into the log.
_BODY_WRITE_VERBS: Final = ("create", "update", "patch")
# At RequestResponse the response body is kept too, and it holds the object for all of these.
_BODY_READ_WRITE_VERBS: Final = (
    "create",
    "update",
    "patch",
    "get",
    "list",
    "watch",
    "delete",
    "deletecollection",
)


def lint_policy(policy: Policy, *, source: str) -> list[PolicyProblem]:
    """Warnings for a policy (assumed to pass validation); each names the rule and says why."""
    problems: list[PolicyProblem] = []

    def warn(index: int, message: str, suffix: str = "") -> None:
        problems.append(PolicyProblem(source, f"rules[{index}]{suffix}", message, "warning"))

    rules = policy.rules
    catch_all: int | None = None
    for index, rule in enumerate(rules):
        if catch_all is not None:
            warn(
                index,
                f"never applies: it comes after rule {catch_all} ({_describe(rules[catch_all])}),"
                " which matches every request, and the first matching rule wins",
            )
            continue
        shadow = next((earlier for earlier in range(index) if covers(rules[earlier], rule)), None)
        if shadow is not None:
            warn(
                index,
                f"never applies: rule {shadow} ({_describe(rules[shadow])}) comes first and "
                "matches every request this rule could match; the first matching rule wins, so "
                "move this rule above it or narrow that rule",
            )
        else:
            for sensitive in _SENSITIVE:
                reason = _records_body(rules, index, sensitive)
                if reason:
                    warn(index, reason)
        for entry_index, entry in enumerate(rule.resources):
            if entry.group not in UPSTREAM_API_GROUPS:
                warn(
                    index,
                    f'API group "{entry.group}" is not served by upstream Kubernetes'
                    f"{_group_suggestion(entry.group)}; fine for a CRD or aggregated API "
                    "installed on the cluster, otherwise this entry matches nothing",
                    suffix=f".resources[{entry_index}].group",
                )
        if is_catch_all(rule):
            catch_all = index
    return problems


def is_catch_all(rule: PolicyRule) -> bool:
    """A rule with nothing but a level (and stage/field options): it matches every request."""
    return not (
        rule.users
        or rule.user_groups
        or rule.verbs
        or rule.resources
        or rule.namespaces
        or rule.non_resource_urls
    )


def covers(first: PolicyRule, later: PolicyRule) -> bool:
    """True when every request `later` matches is certainly matched by `first`."""
    if not _list_covers(first.users, later.users):
        return False
    if not _list_covers(first.user_groups, later.user_groups):
        return False
    if not _list_covers(first.verbs, later.verbs):
        return False
    first_resource = bool(first.resources or first.namespaces)
    later_resource = bool(later.resources or later.namespaces)
    if first_resource:
        if not later_resource:
            return False
        if not _list_covers(first.namespaces or (), later.namespaces or ()):
            return False
        if not first.resources:
            return True
        if not later.resources:
            return False
        return all(
            any(_entry_covers(mine, theirs) for mine in first.resources)
            for theirs in later.resources
        )
    if first.non_resource_urls:
        if later_resource or not later.non_resource_urls:
            return False
        return all(
            any(_url_covers(mine, theirs) for mine in first.non_resource_urls)
            for theirs in later.non_resource_urls
        )
    return True


def _list_covers(first: Sequence[str], later: Sequence[str]) -> bool:
    """An empty list matches everything; otherwise `later` must be a non-empty subset."""
    if not first:
        return True
    return bool(later) and set(later) <= set(first)


def _entry_covers(first: GroupResources, later: GroupResources) -> bool:
    if first.group != later.group:
        return False
    if not first.resources:
        return True
    if not later.resources:
        # `later` matches every resource of the group, subresources included.
        return "*" in first.resources and not first.resource_names
    if first.resource_names and not (
        later.resource_names and set(later.resource_names) <= set(first.resource_names)
    ):
        return False
    return all(
        any(_resource_covers(mine, theirs) for mine in first.resources)
        for theirs in later.resources
    )


def _resource_covers(first: str, later: str) -> bool:
    """Does the resource pattern `first` match everything the pattern `later` matches?"""
    if first in ("*", later):
        return True
    later_resource, _, later_sub = later.partition("/")
    if first.endswith("/*") and first != "*/*":
        # "pods/*" matches pods itself and every subresource of pods.
        return later_resource == first[:-2] and later_resource != "*"
    if first.startswith("*/") and first != "*/*":
        return bool(later_sub) and later_sub == first[2:] and "*" not in later_sub
    return False


def _url_covers(first: str, later: str) -> bool:
    if first in ("*", later):
        return True
    if first.endswith("*"):
        prefix = first.rstrip("*")
        return later != "*" and later.rstrip("*").startswith(prefix)
    return False


def _records_body(rules: Sequence[PolicyRule], index: int, sensitive: _Sensitive) -> str:
    """Why rule `index` logs bodies of `sensitive` requests that no earlier rule took, or ""."""
    rule = rules[index]
    verbs: tuple[str, ...]
    if rule.level == "Request":
        verbs = _BODY_WRITE_VERBS
    elif rule.level == "RequestResponse":
        verbs = _BODY_READ_WRITE_VERBS
    else:
        return ""
    if rule.non_resource_urls and not (rule.resources or rule.namespaces):
        return ""
    body_verbs = tuple(verb for verb in rule.verbs if verb in verbs) if rule.verbs else verbs
    if not body_verbs:
        return ""
    names: tuple[str, ...] = ()
    if rule.resources:
        entries = [e for e in rule.resources if _entry_matches(e, sensitive)]
        if not entries:
            return ""
        # An entry without resourceNames exposes the most; judge by it when there is one.
        names = min((e.resource_names for e in entries), key=len)
    # The part of this rule that would log those bodies, as a rule of its own: if one earlier
    # rule matches all of it, those requests never reach this rule.
    exposed = replace(
        rule,
        verbs=body_verbs,
        resources=(GroupResources(sensitive.group, (sensitive.resource,), names),),
    )
    if any(covers(earlier, exposed) for earlier in rules[:index]):
        return ""
    group = f'"{sensitive.group}"' if sensitive.group else "core"
    return (
        f"records {sensitive.label} bodies: level {rule.level} applies to {sensitive.resource} "
        f"({group} API group, verbs {', '.join(body_verbs)}) and no earlier rule takes those "
        f"requests; put a Metadata rule for {sensitive.resource} before this rule"
    )


def _entry_matches(entry: GroupResources, sensitive: _Sensitive) -> bool:
    """Can this entry match a plain (no subresource) request on the sensitive resource?"""
    if entry.group != sensitive.group:
        return False
    if not entry.resources:
        return True
    return any(
        resource in ("*", sensitive.resource, f"{sensitive.resource}/*")
        for resource in entry.resources
    )


def _group_suggestion(group: str) -> str:
    close = difflib.get_close_matches(group, sorted(UPSTREAM_API_GROUPS - {""}), n=1, cutoff=0.8)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _describe(rule: PolicyRule) -> str:
    parts = [f"level {rule.level}"]
    for label, values in (
        ("users", rule.users),
        ("userGroups", rule.user_groups),
        ("verbs", rule.verbs),
        ("namespaces", rule.namespaces or ()),
        ("nonResourceURLs", rule.non_resource_urls or ()),
    ):
        if values:
            parts.append(f"{label} {', '.join(values)}")
    if rule.resources:
        parts.append("resources " + "; ".join(_describe_entry(entry) for entry in rule.resources))
    return ", ".join(parts)


def _describe_entry(entry: GroupResources) -> str:
    group = entry.group or "core"
    if not entry.resources:
        return f"all of {group}"
    return f"{group}: {', '.join(entry.resources)}"
