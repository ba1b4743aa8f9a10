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

Finding the earlier rule that covers a later one is a lookup, not a scan: earlier rules are
indexed by what a covering rule must contain (its kind of request, the group and resource
pattern, or the URL), so a policy of thousands of distinct rules is linted in about linear
time. Rules that overlap in every index (thousands of rules on the same resource) still cost
one comparison each, and a comparison costs up to the product of the two rules' sizes (every
resource pattern against every resource). Lint counts that work (MAX_LINT_WORK, the product
of the sizes, about 0.2 microseconds a unit) and past it stops comparing and says so: a
hostile policy's lint stays well under a second, far inside the webhook's timeout.

Every check here only claims what the model can prove. "Rule B never applies" is said only when
one single earlier rule matches every request B could match; when several earlier rules share
the work between them, nothing is said (no false positives).
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

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


_UPSTREAM_NAMES: Final = sorted(UPSTREAM_API_GROUPS - {""})


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


# The comparison work lint may do for one policy: the sum, over the rule pairs it compares, of
# the product of their sizes (see _size). About 0.5 s in the worst shapes measured.
MAX_LINT_WORK: Final = 2_000_000


def lint_policy(
    policy: Policy, *, source: str, max_work: int = MAX_LINT_WORK
) -> list[PolicyProblem]:
    """Warnings for a policy (assumed to pass validation); each names the rule and says why."""
    problems: list[PolicyProblem] = []

    def warn(index: int, message: str, suffix: str = "") -> None:
        problems.append(PolicyProblem(source, f"rules[{index}]{suffix}", message, "warning"))

    rules = policy.rules
    earlier_rules = _EarlierRules(rules, max_work=max_work)
    stopped_at: int | None = None
    catch_all: int | None = None
    suggestions: dict[str, str] = {}
    for index, rule in enumerate(rules):
        if catch_all is not None:
            warn(
                index,
                f"never applies: it comes after rule {catch_all} ({_describe(rules[catch_all])}),"
                " which matches every request, and the first matching rule wins",
            )
            continue
        if stopped_at is None:
            try:
                _lint_against_earlier(rules, index, earlier_rules, warn)
            except _ComparisonBudgetSpentError:
                stopped_at = index
        earlier_rules.add(index)
        for entry_index, entry in enumerate(rule.resources):
            if entry.group not in UPSTREAM_API_GROUPS:
                suggestion = _group_suggestion(entry.group, suggestions)
                warn(
                    index,
                    f'API group "{entry.group}" is not served by upstream Kubernetes'
                    f"{suggestion}; fine for a CRD or aggregated API "
                    "installed on the cluster, otherwise this entry matches nothing",
                    suffix=f".resources[{entry_index}].group",
                )
        if is_catch_all(rule):
            catch_all = index
    if stopped_at is not None:
        problems.append(
            PolicyProblem(
                source,
                "rules",
                f"not fully linted: kaudit stopped comparing rules after its limit of "
                f"{max_work} units of work, so rules that never apply or record Secret "
                f"bodies were not looked for from "
                f"rules[{stopped_at}] on ({len(rules)} rules, many matching the same requests)",
                "warning",
            )
        )
    return problems


def _lint_against_earlier(
    rules: Sequence[PolicyRule],
    index: int,
    earlier_rules: _EarlierRules,
    warn: _Warn,
) -> None:
    shadow = earlier_rules.first_covering(rules[index])
    if shadow is not None:
        warn(
            index,
            f"never applies: rule {shadow} ({_describe(rules[shadow])}) comes first and "
            "matches every request this rule could match; the first matching rule wins, so "
            "move this rule above it or narrow that rule",
        )
        return
    for sensitive in _SENSITIVE:
        reason = _records_body(rules, index, sensitive, earlier_rules)
        if reason:
            warn(index, reason)


class _Warn(Protocol):
    def __call__(self, index: int, message: str, suffix: str = "") -> None: ...


class _ComparisonBudgetSpentError(Exception):
    """Lint made its allowed number of rule comparisons."""


class _EarlierRules:
    """The rules already linted, indexed by what a rule covering a later one must contain.

    Each index is a necessary condition of `covers` (see its branches): a rule that matches
    every kind of request; a resource rule without resources (namespaces only); a resource
    rule by (group, resource pattern) of its entries, "" standing for an entry without
    resources; a non-resource rule by URL, prefixes ("/api*") kept apart. The candidates are
    then checked with `covers` itself, in rule order, so the first covering rule is found.
    """

    def __init__(self, rules: Sequence[PolicyRule], *, max_work: int) -> None:
        self.rules = rules
        self.work_left = max_work
        self.sizes: dict[int, int] = {}
        self.everything: list[int] = []
        self.all_resources: list[int] = []
        self.by_resource: dict[tuple[str, str], list[int]] = {}
        self.by_url: dict[str, list[int]] = {}
        self.by_url_prefix: dict[str, list[int]] = {}

    def add(self, index: int) -> None:
        rule = self.rules[index]
        if rule.resources or rule.namespaces:
            if not rule.resources:
                self.all_resources.append(index)
            keys = {
                (entry.group, resource)
                for entry in rule.resources
                for resource in (entry.resources or ("",))
            }
            for key in keys:
                self.by_resource.setdefault(key, []).append(index)
        elif rule.non_resource_urls:
            for url in set(rule.non_resource_urls):
                if url != "*" and url.endswith("*"):
                    self.by_url_prefix.setdefault(url.rstrip("*"), []).append(index)
                else:
                    self.by_url.setdefault(url, []).append(index)
        else:
            self.everything.append(index)

    def first_covering(self, later: PolicyRule) -> int | None:
        """The first indexed rule that covers `later`; raises once the budget is spent."""
        later_size = _size(later)
        for candidate in self._candidates(later):
            earlier_size = self.sizes.get(candidate)
            if earlier_size is None:
                earlier_size = self.sizes[candidate] = _size(self.rules[candidate])
            self._spend(earlier_size * later_size)
            if covers(self.rules[candidate], later):
                return candidate
        return None

    def _candidates(self, later: PolicyRule) -> Iterator[int]:
        lists: list[list[int]] = [self.everything]
        if later.resources or later.namespaces:
            lists.append(self.all_resources)
            if later.resources:
                entry = later.resources[0]
                patterns = {"", "*"}
                if entry.resources:
                    resource = entry.resources[0]
                    base, _, sub = resource.partition("/")
                    patterns.add(resource)
                    if base != "*":
                        patterns.add(f"{base}/*")
                    if sub:
                        patterns.add(f"*/{sub}")
                lists.extend(self.by_resource.get((entry.group, p), []) for p in patterns)
        elif later.non_resource_urls:
            url = later.non_resource_urls[0]
            lists.extend(self.by_url.get(key, []) for key in {"*", url})
            if url != "*":
                self._spend(len(self.by_url_prefix))
                bare = url.rstrip("*")
                lists.extend(
                    indices
                    for prefix, indices in self.by_url_prefix.items()
                    if bare.startswith(prefix)
                )
        previous = -1
        for candidate in heapq.merge(*lists):
            if candidate != previous:
                previous = candidate
                yield candidate

    def _spend(self, work: int) -> None:
        self.work_left -= work
        if self.work_left < 0:
            raise _ComparisonBudgetSpentError


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


def _size(rule: PolicyRule) -> int:
    """How many values `covers` may look at in this rule: its cost is at most a product."""
    return (
        1
        + len(rule.users)
        + len(rule.user_groups)
        + len(rule.verbs)
        + len(rule.namespaces or ())
        + len(rule.non_resource_urls or ())
        + sum(1 + len(entry.resources) + len(entry.resource_names) for entry in rule.resources)
    )


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


def _records_body(
    rules: Sequence[PolicyRule], index: int, sensitive: _Sensitive, earlier_rules: _EarlierRules
) -> str:
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
    if earlier_rules.first_covering(exposed) is not None:
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


# Distinct unknown groups lint looks for a close upstream name for (difflib: ~0.1 ms each).
_MAX_GROUP_SUGGESTIONS: Final = 200


def _group_suggestion(group: str, suggestions: dict[str, str]) -> str:
    if group in suggestions:
        return suggestions[group]
    if len(suggestions) >= _MAX_GROUP_SUGGESTIONS:
        return ""
    close = difflib.get_close_matches(group, _UPSTREAM_NAMES, n=1, cutoff=0.8)
    suggestions[group] = f' (did you mean "{close[0]}"?)' if close else ""
    return suggestions[group]


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
