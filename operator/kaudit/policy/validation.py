"""Decide what kube-apiserver (v1.34) does with a policy file: start, start with a warning, refuse.

kube-apiserver loads `--audit-policy-file` in `LoadPolicyFromBytes`
(staging/src/k8s.io/apiserver/pkg/audit/policy/reader.go):

1. A file whose first character after Unicode spaces is `{` is JSON, anything else YAML
   (kaudit.policy.jsondoc and kaudit.policy.yamldoc read each as Go does). It decodes strictly
   first; on a *strict* decoding error (an unknown field, a duplicate key) it logs "Audit
   policy contains errors, falling back to lenient decoding" and decodes again leniently,
   which drops unknown fields and keeps the last of duplicate keys. Any other decode
   error (YAML that does not parse, a number where a string is expected, a missing or foreign
   apiVersion/kind) fails the start: "failed decoding: ...".
2. The group/version must be audit.k8s.io/v1 (the only one left since 1.24, PR #108092); a
   file without apiVersion decodes as the internal version and fails
   "unknown group version field ... in policy".
3. ValidatePolicy (staging/src/k8s.io/apiserver/pkg/apis/audit/validation/validation.go)
   checks policy omitStages, then per rule: level, nonResourceURLs, resources, omitStages, and
   that nonResourceURLs do not mix with resources or namespaces.
4. A policy with no rules fails: "loaded illegal policy with 0 rules".

Here errors are exactly what fails step 1-4; warnings are what step 1 falls back on, plus two
things kube-apiserver accepts silently but a user wants to know (later YAML documents are
ignored; a missing `kind` is assumed to be Policy).

Field paths are kube-apiserver's, with one deliberate difference: for `group` and
`resourceNames` the apiserver prints `rules[0].resources.group` without the entry's index; we
print `rules[0].resources[1].group` so the entry can be found.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeGuard

from kaudit.limits import MAX_POLICY_RULES, MAX_POLICY_SCALAR_BYTES
from kaudit.policy.goyaml_syntax import YamlEncodingError, decode_yaml_bytes
from kaudit.policy.jsondoc import (
    JsonDocument,
    ShadowedValue,
    is_json_buffer,
    load_json_document,
)
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
    Severity,
)
from kaudit.policy.yamldoc import Finding, LoadedDocument, child_path, load_first_document

_LENIENT: Final = (
    'kube-apiserver logs "Audit policy contains errors, falling back to lenient decoding"'
)

_POLICY_FIELDS: Final = frozenset(
    {"apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields"}
)
_RULE_FIELDS: Final = frozenset(
    {
        "level",
        "users",
        "userGroups",
        "verbs",
        "resources",
        "namespaces",
        "nonResourceURLs",
        "omitStages",
        "omitManagedFields",
    }
)
_GROUP_RESOURCES_FIELDS: Final = frozenset({"group", "resources", "resourceNames"})
_RULE_STRING_LISTS: Final = frozenset(
    {"users", "userGroups", "verbs", "namespaces", "nonResourceURLs", "omitStages"}
)

# encoding/json (fold.go) matches a key to a field by folding every rune to the smallest of
# its unicode.SimpleFold orbit. For ASCII names only ASCII letters and two more runes fold in:
# U+017F (long s) to S and U+212A (Kelvin sign) to K (checked against Go's tables).
_GO_FOLD: Final = str.maketrans(
    {
        **{chr(code): chr(code - 32) for code in range(ord("a"), ord("z") + 1)},
        "\u017f": "S",
        "\u212a": "K",
    }
)
_TYPE_META_FIELDS: Final = ("apiVersion", "kind")
_TYPE_META_FOLDED: Final = frozenset(name.translate(_GO_FOLD) for name in _TYPE_META_FIELDS)
# managedFields[].fieldsV1 is kept as raw JSON (metav1.FieldsV1): Go never looks inside, so a
# duplicate key there is no strict error (checked against kube-apiserver 1.34.4).
_RAW_JSON_FIELD: Final = re.compile(r"metadata\.managedFields\[\d+\]\.fieldsV1[.\[]")

# metav1.ObjectMeta's JSON fields and how each decodes. The insides of ownerReferences and
# managedFields are not checked (nobody writes them in a policy file).
_META_STRINGS: Final = frozenset(
    {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"}
)
_META_INTS: Final = frozenset({"generation", "deletionGracePeriodSeconds"})
_META_TIMES: Final = frozenset({"creationTimestamp", "deletionTimestamp"})
_META_STRING_MAPS: Final = frozenset({"labels", "annotations"})
_META_STRING_LISTS: Final = frozenset({"finalizers"})
_META_OBJECT_LISTS: Final = frozenset({"ownerReferences", "managedFields"})
_META_FIELDS: Final = (
    _META_STRINGS
    | _META_INTS
    | _META_TIMES
    | _META_STRING_MAPS
    | _META_STRING_LISTS
    | _META_OBJECT_LISTS
)
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)

# apimachinery IsDNS1123Subdomain, used through NameIsDNSSubdomain for resources[].group.
_DNS1123_SUBDOMAIN: Final = re.compile(
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
)
_DNS1123_SUBDOMAIN_MAX_LENGTH: Final = 253
_DNS1123_SUBDOMAIN_MESSAGE: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    "regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

_LEVELS_TEXT: Final = ", ".join(f'"{level}"' for level in LEVELS)
_STAGES_TEXT: Final = ",".join(STAGES)


# --- public entry points -------------------------------------------------------------------


def check_policy_text(text: str, *, source: str) -> list[PolicyProblem]:
    """Every problem kube-apiserver would have with this file: errors first, then warnings."""
    problems, _ = _check_text(text, source=source)
    return problems


def check_policy_bytes(data: bytes, *, source: str) -> list[PolicyProblem]:
    """Like check_policy_text, for the file's bytes: what kube-apiserver reads from disk."""
    problems, _ = _check_text(data, source=source)
    return problems


def parse_policy_text(text: str, *, source: str) -> Policy:
    """The policy kube-apiserver would load from this file; PolicyError if it would refuse it."""
    problems, policy = _check_text(text, source=source)
    return _policy_or_raise(problems, policy)


def parse_policy_bytes(data: bytes, *, source: str) -> Policy:
    """Like parse_policy_text, for the file's bytes."""
    problems, policy = _check_text(data, source=source)
    return _policy_or_raise(problems, policy)


def check_policy_data(
    data: Mapping[str, Any], *, source: str
) -> tuple[list[PolicyProblem], Policy | None]:
    """Like check_policy_text, for a Policy already parsed into Python values."""
    checker = _Checker(source=source)
    policy = checker.policy_document(data)
    return checker.sorted_problems(), policy


def policy_from_data(data: Mapping[str, Any], *, source: str) -> Policy:
    """The policy in already-parsed data (an AuditConfig inline policy); PolicyError if invalid."""
    problems, policy = check_policy_data(data, source=source)
    return _policy_or_raise(problems, policy)


def check_rules_data(
    rules: Sequence[Any], *, source: str, field_prefix: str
) -> tuple[list[PolicyProblem], tuple[PolicyRule, ...]]:
    """Decode and validate a list of rules alone; paths read f"{field_prefix}[i].level"."""
    checker = _Checker(source=source)
    decoded = checker.rules(rules, field_prefix)
    return checker.sorted_problems(), tuple(rule for rule in decoded if rule is not None)


def rules_from_data(
    rules: Sequence[Any], *, source: str, field_prefix: str
) -> tuple[PolicyRule, ...]:
    """Validated rules from data (AuditConfig rules or customRules); PolicyError if invalid.

    An empty list is fine here: whether a policy has rules is checked on the whole policy.
    """
    problems, decoded = check_rules_data(rules, source=source, field_prefix=field_prefix)
    if any(problem.severity == "error" for problem in problems):
        raise PolicyError(problems)
    return decoded


def validate_policy(policy: Policy, *, source: str) -> list[PolicyProblem]:
    """kube-apiserver's checks on a Policy built in code (ValidatePolicy and the rule count)."""
    checker = _Checker(source=source)
    checker.validate(policy)
    return checker.sorted_problems()


def _policy_or_raise(problems: list[PolicyProblem], policy: Policy | None) -> Policy:
    if policy is None or any(problem.severity == "error" for problem in problems):
        raise PolicyError([problem for problem in problems if problem.severity == "error"])
    return policy


def _load_policy_file(text: str | bytes) -> LoadedDocument:
    """kube-apiserver's universal decoder: JSON if the file starts with `{`, else YAML.

    A text is read as its UTF-8 bytes, so that both entry points decide alike. JSON is
    detected on the raw bytes, before any decoding: a UTF-16 or BOM-led file is YAML to Go.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if is_json_buffer(data):
        return load_json_document(data)
    try:
        decoded = decode_yaml_bytes(data)
    except YamlEncodingError as error:
        return LoadedDocument(errors=[Finding("", str(error), error.line)])
    return load_first_document(decoded)


def _check_text(text: str | bytes, *, source: str) -> tuple[list[PolicyProblem], Policy | None]:
    loaded = _load_policy_file(text)
    from_json = isinstance(loaded, JsonDocument)
    checker = _Checker(
        source=source, lines=loaded.lines, plain_texts=loaded.plain_texts, from_json=from_json
    )
    for finding in loaded.errors:
        checker.add("error", finding.field, finding.message, line=finding.line)
    if loaded.errors:
        return checker.sorted_problems(), None
    # Go's JSON decoder assigns a duplicate after the first (a later object fills the earlier
    # one in); YAML reaches it with the last value only.
    kept = "decodes the later value over the earlier" if from_json else "keeps the last value"
    for finding in loaded.duplicates:
        if from_json and _RAW_JSON_FIELD.match(finding.field):
            continue
        checker.add(
            "warning",
            finding.field,
            f"{finding.message}: strict decoding fails, {_LENIENT} and {kept}",
            line=finding.line,
        )
    if loaded.ignored_documents:
        count = loaded.ignored_documents
        documents = "document" if count == 1 else "documents"
        checker.add(
            "warning",
            "",
            f"{count} more YAML {documents} after the first: kube-apiserver reads only the "
            f"first document of a policy file and ignores the rest",
        )
    if not loaded.found or loaded.value is None:
        checker.add(
            "error",
            "",
            "the file holds no policy (it is empty or only comments): kube-apiserver fails "
            "with \"Object 'Kind' is missing\"; a policy needs apiVersion: audit.k8s.io/v1, "
            "kind: Policy and at least one rule",
        )
        return checker.sorted_problems(), None
    if not isinstance(loaded.value, dict):
        checker.add(
            "error",
            "",
            f"the document is {_json_type_phrase(loaded.value)}, not a Policy mapping "
            "(apiVersion, kind, rules): kube-apiserver cannot decode it",
        )
        return checker.sorted_problems(), None
    if isinstance(loaded, JsonDocument):
        for shadowed in loaded.shadowed:
            _check_shadowed(checker, shadowed)
    policy = checker.policy_document(loaded.value)
    return checker.sorted_problems(), policy


def _check_shadowed(checker: _Checker, shadowed: ShadowedValue) -> None:
    """Decode a value a later duplicate key replaced, for its type errors only.

    Go's decoder decoded it into the field before the duplicate came, and a type error there
    fails the file even though the final value is fine. Where it sits decides its type.
    """
    value, path = shadowed.value, shadowed.path
    match shadowed.parts:
        case (str() as key,) if key.translate(_GO_FOLD) in _TYPE_META_FOLDED:
            if value is not None and not isinstance(value, str):
                checker.type_error(value, path, "a string")
        case ("rules",):
            checker.rules(value, path, validate=False)
        case ("omitStages",):
            checker.string_list(value, path)
        case ("omitManagedFields",):
            checker.boolean(value, path)
        case ("metadata",):
            checker._object_meta(value, path)
        case ("metadata", str() as key) if key in _META_FIELDS:
            checker._object_meta({key: value}, "metadata")
        case ("metadata", "labels" | "annotations", str()) | ("metadata", "finalizers", int()):
            checker.string(value, path)
        case ("omitStages", int()):
            checker.string(value, path)
        case ("rules", int()):
            checker.rule(value, path)
        case ("rules", int() as index, str() as key) if key in _RULE_FIELDS:
            checker.rule({key: value}, f"rules[{index}]")
        case ("rules", int(), str() as key, int()) if key in _RULE_STRING_LISTS:
            checker.string(value, path)
        case ("rules", int() as index, "resources", int() as entry):
            checker.group_resources(value, f"rules[{index}].resources[{entry}]")
        case ("rules", int() as index, "resources", int() as entry, str() as key) if (
            key in _GROUP_RESOURCES_FIELDS
        ):
            checker.group_resources({key: value}, f"rules[{index}].resources[{entry}]")
        case ("rules", int(), "resources", int(), "resources" | "resourceNames", int()):
            checker.string(value, path)
        case _:
            # An unknown field, or a place whose insides are not checked: Go skips it unread.
            pass


# --- the checker ---------------------------------------------------------------------------


class _Checker:
    """Decodes plain values into the model like Go's JSON decoder, then validates them."""

    def __init__(
        self,
        *,
        source: str,
        lines: Mapping[str, int] | None = None,
        plain_texts: Mapping[str, str] | None = None,
        from_json: bool = False,
    ) -> None:
        self.source = source
        self.lines: Mapping[str, int] = lines or {}
        self.plain_texts: Mapping[str, str] = plain_texts or {}
        # A JSON file reaches Go's decoder as written (keys in document order, numbers as
        # literals); YAML reaches it re-encoded by sigs.k8s.io/yaml (keys sorted).
        self.from_json = from_json
        self.problems: list[PolicyProblem] = []

    # reporting

    def add(self, severity: Severity, path: str, message: str, *, line: int | None = None) -> None:
        if line is None:
            line = self._line_for(path)
        self.problems.append(PolicyProblem(self.source, path, message, severity, line=line))

    def sorted_problems(self) -> list[PolicyProblem]:
        errors = [problem for problem in self.problems if problem.severity == "error"]
        warnings = [problem for problem in self.problems if problem.severity == "warning"]
        return errors + warnings

    def has_errors(self) -> bool:
        return any(problem.severity == "error" for problem in self.problems)

    def _line_for(self, path: str) -> int | None:
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = re.sub(r"(\[\d+\]|\.?[^.\[\]]+)$", "", path)

    # the document

    def policy_document(self, document: Mapping[str, Any]) -> Policy | None:
        if not self._type_meta(document):
            return None
        fields = self.object_fields(document, "", _POLICY_FIELDS, what="a Policy")
        if "metadata" in fields:
            self._object_meta(fields["metadata"], "metadata")
        omit_stages = self.string_list(fields.get("omitStages"), "omitStages") or ()
        omit_managed_fields = bool(
            self.boolean(fields.get("omitManagedFields"), "omitManagedFields")
        )
        rules = self.rules(fields.get("rules"), "rules", validate=False)
        if self.has_errors():
            # A decode error stops kube-apiserver before validation; still report what
            # validation would say about the rules that did decode, so one edit fixes all.
            self._validate_stages(omit_stages, "omitStages")
            for index, rule in enumerate(rules):
                if rule is not None:
                    self.validate_rule(rule, f"rules[{index}]")
            return None
        policy = Policy(
            rules=tuple(rule for rule in rules if rule is not None),
            omit_stages=omit_stages,
            omit_managed_fields=omit_managed_fields,
        )
        self.validate(policy)
        return None if self.has_errors() else policy

    def _type_meta(self, document: Mapping[str, Any]) -> bool:
        """apiVersion and kind as kube-apiserver's decoder finds them; False stops the check.

        They are read with encoding/json, which matches keys case-insensitively; sorted keys
        come out of sigs.k8s.io/yaml, so of `Kind` and `kind` the later, `kind`, wins.
        """
        api_version = self._type_meta_field(document, "apiVersion")
        kind = self._type_meta_field(document, "kind")
        if api_version is None or kind is None:
            return False
        if api_version == API_VERSION:
            if kind == KIND:
                return True
            if kind == "":
                self.add(
                    "warning",
                    "kind",
                    'Required value: kind is missing; kube-apiserver assumes "Policy" for '
                    "audit.k8s.io/v1 and loads the file, but write kind: Policy",
                )
                return True
            self.add(
                "error",
                "kind",
                f'Unsupported value: "{kind}": an audit policy file must have kind "Policy" '
                f'(kube-apiserver fails: no kind "{kind}" is registered for version '
                f'"{API_VERSION}" as a policy)',
            )
            return False
        if api_version == "":
            self.add(
                "error",
                "apiVersion",
                f"Required value: kube-apiserver needs apiVersion: {API_VERSION} and kind: Policy "
                '(without them it fails with "unknown group version field '
                'audit.k8s.io/__internal, Kind=Policy in policy")',
            )
            return False
        if api_version in ("audit.k8s.io/v1beta1", "audit.k8s.io/v1alpha1"):
            hint = (
                f"{api_version} was removed in Kubernetes 1.24: change apiVersion to "
                f"{API_VERSION} (the Policy fields are the same)"
            )
        elif kind not in ("", KIND):
            hint = (
                f"this is a {kind} object of {api_version}, not an audit policy: "
                f"kube-apiserver reads --audit-policy-file only as apiVersion {API_VERSION}, "
                "kind Policy"
            )
        else:
            hint = f"kube-apiserver reads audit policies only as apiVersion {API_VERSION}"
        self.add("error", "apiVersion", f'Unsupported value: "{api_version}": {hint}')
        return False

    def _type_meta_field(self, document: Mapping[str, Any], name: str) -> str | None:
        """The field as meta.go SimpleMetaFactory.Interpret reads it with encoding/json.

        Every key that folds to `name` (Go's EqualFold) sets the field, one after the other:
        the last non-null one wins, and a non-string anywhere fails the decode. JSON input
        keeps its keys in document order (the loader orders a duplicate key by its last
        assignment); YAML comes out of sigs.k8s.io/yaml with its keys sorted.
        """
        wanted = name.translate(_GO_FOLD)
        keys = [key for key in document if str(key).translate(_GO_FOLD) == wanted]
        if not self.from_json:
            keys.sort(key=str)
        found = ""
        for key in keys:
            value = document[key]
            if value is None:
                continue
            if not isinstance(value, str):
                self.type_error(value, str(key), "a string")
                return None
            found = value
        return found

    def _object_meta(self, value: object, path: str) -> None:
        fields = self.object_fields(value, path, _META_FIELDS, what="object metadata")
        for key, item in fields.items():
            item_path = child_path(path, key)
            if key in _META_STRINGS:
                self.string(item, item_path)
            elif key in _META_INTS:
                # JSON reaches strconv.ParseInt as written: 1.0, 1e2 or 2**63 fail there.
                # From YAML a float that json.Marshal writes as a whole number fits, but a
                # uint64 or a float past int64 (1e21 is written `1e+21`) does not (1.34.4).
                number_types = int if self.from_json else int | float
                if item is not None and not (
                    isinstance(item, number_types)
                    and not isinstance(item, bool)
                    and -(2**63) <= item < 2**63
                    and float(item).is_integer()
                ):
                    self.type_error(item, item_path, "an integer")
            elif key in _META_TIMES:
                if item is not None and not (isinstance(item, str) and _RFC3339.fullmatch(item)):
                    self.type_error(item, item_path, "an RFC 3339 time")
            elif key in _META_STRING_MAPS:
                entries = self.object_fields(item, item_path, None, what="a map of strings")
                for entry_key, entry in entries.items():
                    self.string(entry, child_path(item_path, entry_key))
            elif key in _META_STRING_LISTS:
                self.string_list(item, item_path)
            elif item is not None and not _is_list(item):
                self.type_error(item, item_path, "a list")

    # rules

    def rules(self, value: object, path: str, *, validate: bool = True) -> list[PolicyRule | None]:
        """Decode each rule; None stands for a rule that did not decode (to keep indices)."""
        if value is None:
            return []
        if not _is_list(value):
            self.type_error(value, path, "a list of rules")
            return []
        if len(value) > MAX_POLICY_RULES:
            self.add(
                "error",
                path,
                f"{len(value)} rules, over kaudit's limit of {MAX_POLICY_RULES} rules "
                "(kube-apiserver tries every rule on every request; real policies have dozens)",
            )
            return []
        decoded: list[PolicyRule | None] = []
        for index, item in enumerate(value):
            rule_path = f"{path}[{index}]"
            rule = self.rule(item, rule_path)
            if rule is not None and validate:
                self.validate_rule(rule, rule_path)
            decoded.append(rule)
        return decoded

    def rule(self, value: object, path: str) -> PolicyRule | None:
        if value is not None and not isinstance(value, Mapping):
            self.type_error(value, path, "a rule (a mapping with level, users, resources, ...)")
            return None
        fields = self.object_fields(value, path, _RULE_FIELDS, what="a rule")
        resources: list[GroupResources] = []
        raw_resources = fields.get("resources")
        if raw_resources is not None and not _is_list(raw_resources):
            self.type_error(
                raw_resources, f"{path}.resources", "a list of {group, resources} entries"
            )
        elif raw_resources is not None:
            for index, item in enumerate(raw_resources):
                entry = self.group_resources(item, f"{path}.resources[{index}]")
                if entry is not None:
                    resources.append(entry)
        return PolicyRule(
            level=self.string(fields.get("level"), f"{path}.level"),
            users=self.string_list(fields.get("users"), f"{path}.users") or (),
            user_groups=self.string_list(fields.get("userGroups"), f"{path}.userGroups") or (),
            verbs=self.string_list(fields.get("verbs"), f"{path}.verbs") or (),
            resources=tuple(resources),
            namespaces=self.string_list(fields.get("namespaces"), f"{path}.namespaces"),
            non_resource_urls=self.string_list(
                fields.get("nonResourceURLs"), f"{path}.nonResourceURLs"
            ),
            omit_stages=self.string_list(fields.get("omitStages"), f"{path}.omitStages"),
            omit_managed_fields=self.boolean(
                fields.get("omitManagedFields"), f"{path}.omitManagedFields"
            ),
        )

    def group_resources(self, value: object, path: str) -> GroupResources | None:
        if value is not None and not isinstance(value, Mapping):
            hint = ""
            if isinstance(value, str):
                hint = f' (write - group: "" and resources: ["{value}"] instead)'
            self.type_error(value, path, "a {group, resources} entry" + hint)
            return None
        empty_note = (
            "; with it gone this entry is empty, which matches every resource of the core "
            'API group ("")'
        )
        known = {key for key in value or {} if key in _GROUP_RESOURCES_FIELDS}
        fields = self.object_fields(
            value,
            path,
            _GROUP_RESOURCES_FIELDS,
            what="a {group, resources} entry",
            unknown_note=empty_note if not known else "",
        )
        return GroupResources(
            group=self.string(fields.get("group"), f"{path}.group"),
            resources=self.string_list(fields.get("resources"), f"{path}.resources") or (),
            resource_names=self.string_list(fields.get("resourceNames"), f"{path}.resourceNames")
            or (),
        )

    # decoding helpers, after Go's encoding/json into typed fields

    def object_fields(
        self,
        value: object,
        path: str,
        known: frozenset[str] | None,
        *,
        what: str,
        unknown_note: str = "",
    ) -> dict[str, Any]:
        """The known fields of a mapping; unknown ones are strict-decoding warnings."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.type_error(value, path, what)
            return {}
        fields: dict[str, Any] = {}
        for raw_key, item in value.items():
            key = str(raw_key)
            if known is None or key in known:
                fields[key] = item
                continue
            message = (
                f'unknown field "{key}": strict decoding fails, {_LENIENT} and ignores it'
                f"{unknown_note}"
            )
            near = [name for name in known if name.lower() == key.lower()]
            if near:
                message += f' (field names are case-sensitive: did you mean "{near[0]}"?)'
            self.add("warning", child_path(path, key), message)
        return fields

    def string(self, value: object, path: str) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            if (
                len(value) > MAX_POLICY_SCALAR_BYTES // 4
                and _utf8_size(value) > MAX_POLICY_SCALAR_BYTES
            ):
                self.add(
                    "error",
                    path,
                    f"a value of {_utf8_size(value)} bytes, over kaudit's limit of "
                    f"{MAX_POLICY_SCALAR_BYTES} bytes for one value",
                )
                return ""
            return value
        self.type_error(value, path, "a string")
        return ""

    def string_list(self, value: object, path: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not _is_list(value):
            hint = f' (write ["{value}"])' if isinstance(value, str) else ""
            self.type_error(value, path, "a list of strings" + hint)
            return None
        return tuple(self.string(item, f"{path}[{index}]") for index, item in enumerate(value))

    def boolean(self, value: object, path: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.type_error(value, path, "true or false")
        return None

    def type_error(self, value: object, path: str, expected: str) -> None:
        message = (
            f"Invalid type: expected {expected}, got {_json_type_phrase(value)}: "
            "kube-apiserver cannot decode the file"
        )
        text = self.plain_texts.get(path)
        if text is not None and expected.startswith("a string"):
            message += (
                f" (YAML reads the unquoted {text} as {_json_type_phrase(value, article=True)};"
                f' quote it: "{text}")'
            )
        self.add("error", path, message)

    # validation: validation.go ValidatePolicy, then the reader's rule count

    def validate(self, policy: Policy, *, rules_path: str = "rules") -> None:
        self._validate_stages(policy.omit_stages, "omitStages")
        for index, rule in enumerate(policy.rules):
            self.validate_rule(rule, f"{rules_path}[{index}]")
        if not policy.rules:
            self.add(
                "error",
                rules_path,
                'Required value: kube-apiserver fails with "loaded illegal policy with 0 '
                'rules"; a policy needs at least one rule (to log nothing: - level: None)',
            )

    def validate_rule(self, rule: PolicyRule, path: str) -> None:
        self._validate_level(rule.level, f"{path}.level")
        self._validate_non_resource_urls(rule.non_resource_urls or (), f"{path}.nonResourceURLs")
        for index, entry in enumerate(rule.resources):
            self._validate_group_resources(entry, f"{path}.resources[{index}]")
        self._validate_stages(rule.omit_stages or (), f"{path}.omitStages")
        if rule.non_resource_urls and (rule.resources or rule.namespaces):
            mixed = "resources" if rule.resources else "namespaces"
            self.add(
                "error",
                f"{path}.nonResourceURLs",
                f"Invalid value: {_json_list(rule.non_resource_urls)}: rules cannot apply to "
                f"both regular resources and non-resource URLs (this rule also has {mixed}; "
                "split it into two rules)",
            )

    def _validate_level(self, level: str, path: str) -> None:
        if level in LEVELS:
            return
        if level == "":
            self.add(
                "error",
                path,
                f"Required value: every rule needs a level, one of {_LEVELS_TEXT}",
            )
            return
        message = f'Unsupported value: "{level}": supported values: {_LEVELS_TEXT}'
        near = [name for name in LEVELS if name.lower() == level.strip().lower()]
        if near:
            message += f' (levels are case-sensitive: did you mean "{near[0]}"?)'
        self.add("error", path, message)

    def _validate_non_resource_urls(self, urls: Sequence[str], path: str) -> None:
        for index, url in enumerate(urls):
            if url == "*":
                continue
            if not url.startswith("/"):
                self.add(
                    "error",
                    f"{path}[{index}]",
                    f"Invalid value: {json.dumps(url)}: non-resource URL rules must begin with "
                    "a '/' character (or be exactly \"*\")",
                )
            if url and "*" in url[:-1]:
                self.add(
                    "error",
                    f"{path}[{index}]",
                    f"Invalid value: {json.dumps(url)}: non-resource URL wildcards '*' must be "
                    'the final character of the rule (a trailing "*" matches every path with '
                    "that prefix; there is no other pattern syntax)",
                )

    def _validate_group_resources(self, entry: GroupResources, path: str) -> None:
        if entry.group:
            messages = []
            if len(entry.group) > _DNS1123_SUBDOMAIN_MAX_LENGTH:
                messages.append(f"must be no more than {_DNS1123_SUBDOMAIN_MAX_LENGTH} characters")
            if not _DNS1123_SUBDOMAIN.fullmatch(entry.group):
                messages.append(_DNS1123_SUBDOMAIN_MESSAGE)
            if messages:
                self.add(
                    "error",
                    f"{path}.group",
                    f"Invalid value: {json.dumps(entry.group)}: {','.join(messages)}"
                    f"{_group_hint(entry.group)}",
                )
        if entry.resource_names and not entry.resources:
            self.add(
                "error",
                f"{path}.resourceNames",
                f"Invalid value: {_json_list(entry.resource_names)}: using resourceNames "
                "requires at least one resource (add resources: [...] to this entry)",
            )

    def _validate_stages(self, stages: Sequence[str], path: str) -> None:
        for index, stage in enumerate(stages):
            if stage not in STAGES:
                self.add(
                    "error",
                    f"{path}[{index}]",
                    f"Invalid value: {json.dumps(stage)}: allowed stages are {_STAGES_TEXT}",
                )


def _group_hint(group: str) -> str:
    if group == "*":
        return (
            ' (group "*" for every API group is accepted only by kube-apiserver releases '
            "after 1.34, kubernetes PR #135262; for 1.34 leave resources out to match every "
            "group, or list the groups)"
        )
    if "/" in group:
        name = group.split("/", 1)[0]
        return f' (a group has no version: write "{name}")' if name else ""
    if group.lower() != group and _DNS1123_SUBDOMAIN.fullmatch(group.lower()):
        return f' (groups are lower case: "{group.lower()}")'
    return ""


def _is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))


def _json_type_phrase(value: object, *, article: bool = False) -> str:
    """How Go's JSON decoder would name the value's type, with the value where it is short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean" if article else f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return "a number" if article else f"number {_short(_number_text(value))}"
    if isinstance(value, str):
        return "a string" if article else f"string {_short(json.dumps(value))}"
    if isinstance(value, Mapping):
        return "a mapping"
    if _is_list(value):
        return "a list"
    return type(value).__name__


def _number_text(value: int | float) -> str:
    # Python refuses to print ints over 4300 digits; JSON from the webhook may carry one.
    if isinstance(value, int) and value.bit_length() > 256:
        return "(too long to show)"
    return str(value)


def _short(text: str) -> str:
    """A value in a message: whole when short, its start and length when not."""
    if len(text) <= 120:
        return text
    return f"{text[:80]}... ({len(text)} characters)"


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))
