"""A seeded generator of audit policies for the differential test against kube-apiserver.

Each policy is a valid base (a small or a rich policy, written as block YAML, flow YAML or
JSON) with one or two mutations drawn from two families: the validator's rules (every field
ValidatePolicy checks, type errors, apiVersion and kind, unknown and duplicate fields, empty
rules) and the corners of the YAML and JSON layer (go-yaml v2's scalar typing, tags, quoting
and escapes, whitespace and line breaks, directives and documents, flow style, anchors and
merges, encodings, JSON's grammar and key order). The same seed gives the same bytes, so CI
runs one fixed set and a person can run others:

    python -m tests.parity.generate --seed 7 --count 20 --out /tmp/policies
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_SEED = 20261202
DEFAULT_COUNT = 1200
HEADER = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}


@dataclass(frozen=True)
class Raw:
    """A value written into YAML as it is (a plain scalar, a tagged value, an alias...)."""

    text: str


@dataclass(frozen=True)
class GeneratedPolicy:
    name: str
    data: bytes


Data = dict[str, Any]


def _small() -> Data:
    return {**HEADER, "rules": [{"level": "Metadata"}]}


def _rich() -> Data:
    return {
        **HEADER,
        "metadata": {"name": "generated", "labels": {"team": "ops"}},
        "omitStages": ["RequestReceived"],
        "omitManagedFields": True,
        "rules": [
            {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
            {
                "level": "Metadata",
                "resources": [{"group": "", "resources": ["secrets", "configmaps"]}],
                "namespaces": ["kube-system"],
            },
            {
                "level": "Request",
                "resources": [{"group": "apps", "resources": ["deployments"]}],
                "userGroups": ["system:authenticated"],
                "omitStages": ["ResponseStarted"],
            },
            {"level": "None", "nonResourceURLs": ["/healthz*", "/version"]},
            {
                "level": "RequestResponse",
                "resources": [{"group": "", "resources": ["pods"], "resourceNames": ["a"]}],
                "omitManagedFields": False,
            },
            {"level": "Metadata"},
        ],
    }


# --- rendering -----------------------------------------------------------------------------

_PLAIN_SAFE = re.compile(r"[A-Za-z][A-Za-z0-9._:/-]*|/[A-Za-z0-9._/*-]*")
_YAML11_WORDS = {
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "null",
    "Null",
    "NULL",
}


def _yaml_scalar(value: object) -> str:
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if _PLAIN_SAFE.fullmatch(text) and text not in _YAML11_WORDS and not text.endswith(":"):
        return text
    return json.dumps(text)


def render_block(data: object, indent: int = 0, *, list_indent: int = 0) -> str:
    """Block YAML; lists under a key indented by `list_indent` (kubeadm style is 0)."""
    return "".join(line + "\n" for line in _block_lines(data, indent, list_indent))


def _block_lines(data: object, indent: int, list_indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            key_text = _yaml_scalar(Raw(key) if isinstance(key, str) else key)
            if isinstance(value, dict) and value:
                lines.append(f"{pad}{key_text}:")
                lines.extend(_block_lines(value, indent + 2, list_indent))
            elif isinstance(value, list) and value:
                lines.append(f"{pad}{key_text}:")
                lines.extend(_block_lines(value, indent + list_indent, list_indent))
            else:
                lines.append(f"{pad}{key_text}: {_flow(value)}")
        return lines
    if isinstance(data, list):
        for item in data:
            if isinstance(item, dict | list) and item:
                inner = _block_lines(item, indent + 2, list_indent)
                lines.append(f"{pad}- {inner[0].lstrip()}")
                lines.extend(inner[1:])
            else:
                lines.append(f"{pad}- {_flow(item)}")
        return lines
    return [pad + _flow(data)]


def _flow(data: object) -> str:
    if isinstance(data, dict):
        inner = ", ".join(f"{_yaml_scalar(Raw(k))}: {_flow(v)}" for k, v in data.items())
        return "{" + inner + "}"
    if isinstance(data, list):
        return "[" + ", ".join(_flow(item) for item in data) + "]"
    return _yaml_scalar(data)


def render_flow(data: Data) -> str:
    """A flow mapping on one line: YAML, but its first character makes Go read it as JSON."""
    return _flow(data) + "\n"


def render_flow_after_comment(data: Data) -> str:
    return "# a comment first: this file is YAML to Go\n" + _flow(data) + "\n"


def render_json(data: object, *, pretty: bool) -> str:
    def plain(value: object) -> object:
        if isinstance(value, Raw):
            return value.text
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, list):
            return [plain(item) for item in value]
        return value

    if pretty:
        return json.dumps(plain(data), indent=2, ensure_ascii=False) + "\n"
    return json.dumps(plain(data), separators=(",", ":"), ensure_ascii=False)


RENDERERS: dict[str, Callable[[Data], str]] = {
    "block": render_block,
    "block-indented-lists": lambda data: render_block(data, list_indent=2),
    "flow": render_flow,
    "flow-after-comment": render_flow_after_comment,
    "json": lambda data: render_json(data, pretty=False),
    "json-pretty": lambda data: render_json(data, pretty=True),
}

# --- mutations of the data: the validator's rules ------------------------------------------

Mutation = Callable[[random.Random, Data], str]


def _rule(rng: random.Random, data: Data) -> dict[str, Any]:
    rules = data.get("rules")
    if isinstance(rules, list) and all(isinstance(rule, dict) for rule in rules) and rules:
        return rules[rng.randrange(len(rules))]  # type: ignore[no-any-return]
    data["rules"] = [{"level": "Metadata"}]
    return data["rules"][0]  # type: ignore[no-any-return]


def _entry(rng: random.Random, data: Data) -> dict[str, Any]:
    rule = _rule(rng, data)
    resources = rule.get("resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], dict):
        rule.pop("nonResourceURLs", None)
        rule["resources"] = [{"group": "", "resources": ["pods"]}]
    return rule["resources"][0]  # type: ignore[no-any-return]


LEVELS = [
    "None",
    "Metadata",
    "Request",
    "RequestResponse",
    "none",
    "",
    "Verbose",
    "Metadata ",
    None,
    1,
    True,
    "METADATA",
    Raw("!!str Metadata"),
    Raw("'None'"),
]
STAGES = [
    "RequestReceived",
    "ResponseStarted",
    "ResponseComplete",
    "Panic",
    "requestReceived",
    "",
    "Unknown",
    " Panic",
]
URLS = ["/x", "*", "/x*", "*x", "/a/*/b", "", "x", "/**", "/logs/*.log", "/api/*", "//", "/*"]
GROUPS = [
    "",
    "apps",
    "Apps",
    "rbac.authorization.k8s.io/v1",
    "a.b",
    "-a",
    "a_b",
    "*",
    "a-",
    "x" * 63,
    "x" * 64,
    ".".join(["a" * 63] * 4),
    "a..b",
    "policy",
]
API_VERSIONS = [
    "audit.k8s.io/v1",
    "audit.k8s.io/v1beta1",
    "audit.k8s.io/v1alpha1",
    "audit.k8s.io/v2",
    "v1",
    "",
    None,
    1,
    "Audit.k8s.io/v1",
    "audit.k8s.io/V1",
]
KINDS = ["Policy", "policy", "PolicyList", "Foo", "", None, "POLICY", 5]
TYPE_ERRORS: list[object] = ["text", 5, 1.5, True, None, [], {}, ["a"], {"a": "b"}, [5], [None]]


def _choose(rng: random.Random, values: list[Any]) -> Any:
    return copy.deepcopy(values[rng.randrange(len(values))])


def m_level(rng: random.Random, data: Data) -> str:
    value = _choose(rng, LEVELS)
    _rule(rng, data)["level"] = value
    return f"level={value!r}"


def m_drop_level(rng: random.Random, data: Data) -> str:
    _rule(rng, data).pop("level", None)
    return "no-level"


def m_stages(rng: random.Random, data: Data) -> str:
    value = [_choose(rng, STAGES) for _ in range(rng.randint(0, 2))]
    target = data if rng.random() < 0.4 else _rule(rng, data)
    target["omitStages"] = value
    return f"omitStages={value!r}"


def m_urls(rng: random.Random, data: Data) -> str:
    rule = _rule(rng, data)
    value = [_choose(rng, URLS) for _ in range(rng.randint(1, 2))]
    rule["nonResourceURLs"] = value
    if rng.random() < 0.5:
        rule.pop("resources", None)
        rule.pop("namespaces", None)
    return f"urls={value!r}"


def m_urls_with(rng: random.Random, data: Data) -> str:
    rule = _rule(rng, data)
    rule["nonResourceURLs"] = ["/x"]
    which = rng.choice(["resources", "namespaces", "empty-resources", "empty-namespaces"])
    if which == "resources":
        rule["resources"] = [{"group": ""}]
    elif which == "namespaces":
        rule["namespaces"] = ["a"]
    else:
        rule[which.removeprefix("empty-")] = []
    return f"urls-with-{which}"


def m_group(rng: random.Random, data: Data) -> str:
    value = _choose(rng, GROUPS)
    _entry(rng, data)["group"] = value
    return f"group={value!r}"


def m_resource_names(rng: random.Random, data: Data) -> str:
    entry = _entry(rng, data)
    entry["resourceNames"] = ["a"]
    which = rng.choice(["drop", "empty", "keep"])
    if which == "drop":
        entry.pop("resources", None)
    elif which == "empty":
        entry["resources"] = []
    return f"resourceNames-{which}"


def m_rules_shape(rng: random.Random, data: Data) -> str:
    which = rng.choice(["empty", "missing", "null", "map", "string", "null-item", "many"])
    if which == "empty":
        data["rules"] = []
    elif which == "missing":
        data.pop("rules", None)
    elif which == "null":
        data["rules"] = None
    elif which == "map":
        data["rules"] = {"level": "None"}
    elif which == "string":
        data["rules"] = ["Metadata"]
    elif which == "null-item":
        existing = data.get("rules")
        data["rules"] = [*(existing if isinstance(existing, list) else []), None]
    else:
        data["rules"] = [{"level": "None", "users": [f"u{i}"]} for i in range(rng.randint(2, 30))]
    return f"rules-{which}"


def m_api_version(rng: random.Random, data: Data) -> str:
    value = _choose(rng, API_VERSIONS)
    if value is None and rng.random() < 0.5:
        data.pop("apiVersion", None)
        return "no-apiVersion"
    data["apiVersion"] = value
    return f"apiVersion={value!r}"


def m_kind(rng: random.Random, data: Data) -> str:
    value = _choose(rng, KINDS)
    if value is None and rng.random() < 0.5:
        data.pop("kind", None)
        return "no-kind"
    data["kind"] = value
    return f"kind={value!r}"


def m_type_meta_keys(rng: random.Random, data: Data) -> str:
    """Keys that match apiVersion or kind only case-insensitively, before or after the real one."""
    spelling = rng.choice(
        [
            "Kind",
            "KIND",
            "kinD",
            "K\u0131nd",
            "\u212aind",
            "ApiVersion",
            "APIVERSION",
            "apiVer\u017fion",
            "apiversion",
        ]
    )
    value = rng.choice(["Policy", "Foo", "audit.k8s.io/v1", "v1", ""])
    items = list(data.items())
    position = rng.randrange(len(items) + 1)
    items.insert(position, (spelling, value))
    if rng.random() < 0.3:
        items = [
            item
            for item in items
            if item[0].lower() not in ("kind", "apiversion") or item[0] == spelling
        ]
    data.clear()
    data.update(items)
    return f"key-{spelling}={value}@{position}"


def m_unknown_field(rng: random.Random, data: Data) -> str:
    where = rng.choice(["top", "rule", "entry", "metadata"])
    key = rng.choice(["user", "extra", "Level", "levels", "omitstages", "webhook", "sink"])
    value = _choose(rng, TYPE_ERRORS[:6])
    target: dict[str, Any]
    if where == "top":
        target = data
    elif where == "rule":
        target = _rule(rng, data)
    elif where == "entry":
        target = _entry(rng, data)
    else:
        target = data.setdefault("metadata", {}) if isinstance(data.get("metadata"), dict) else data
    target[key] = value
    return f"unknown-{where}-{key}"


def m_type_error(rng: random.Random, data: Data) -> str:
    where = rng.choice(
        [
            "users",
            "userGroups",
            "verbs",
            "namespaces",
            "omitStages",
            "resources",
            "omitManagedFields",
            "group",
            "resourceNames",
            "metadata",
            "name",
            "labels",
            "nonResourceURLs",
        ]
    )
    value = _choose(rng, TYPE_ERRORS)
    if where in ("group", "resourceNames"):
        _entry(rng, data)[where] = value
    elif where == "metadata":
        data["metadata"] = value
    elif where in ("name", "labels"):
        data["metadata"] = {where: value}
    else:
        _rule(rng, data)[where] = value
    return f"type-{where}={value!r}"


def m_metadata(rng: random.Random, data: Data) -> str:
    key: str
    value: object
    key, value = rng.choice(
        [
            ("creationTimestamp", "yesterday"),
            ("creationTimestamp", "2024-01-01T00:00:00Z"),
            ("creationTimestamp", None),
            ("generation", 1.5),
            ("generation", 3),
            ("uid", 5),
            ("annotations", {"a": "b"}),
            ("annotations", {"a": 1}),
            ("labels", {"r": 3}),
            ("finalizers", ["x"]),
            ("ownerReferences", [{}]),
            ("nmae", "x"),
            ("name", "Bad Name"),
        ]
    )
    data["metadata"] = {key: value}
    return f"metadata-{key}={value!r}"


def m_omit_managed_fields(rng: random.Random, data: Data) -> str:
    value: object = _choose(
        rng, [True, False, "true", Raw("yes"), Raw("off"), 1, None, Raw("!!bool on")]
    )
    target = data if rng.random() < 0.5 else _rule(rng, data)
    target["omitManagedFields"] = value
    return f"omitManagedFields={value!r}"


DATA_MUTATIONS: list[Mutation] = [
    m_level,
    m_drop_level,
    m_stages,
    m_urls,
    m_urls_with,
    m_group,
    m_resource_names,
    m_rules_shape,
    m_api_version,
    m_kind,
    m_type_meta_keys,
    m_unknown_field,
    m_type_error,
    m_metadata,
    m_omit_managed_fields,
]

# --- raw YAML values: go-yaml v2's scalars and tags ----------------------------------------

SCALARS = [
    # YAML 1.1 words, numbers in every base and Go's float syntax
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "~",
    "null",
    "Null",
    "NULL",
    "true",
    "FALSE",
    "42",
    "-7",
    "+1",
    "-0",
    "017",
    "09",
    "0o17",
    "0b101",
    "0x1F",
    "0x_1F",
    "1_000",
    "1__0",
    "1e5",
    "1E5",
    "1.",
    "+.5",
    ".5",
    ".5_0",
    "._5",
    "5_",
    "1e400",
    "-1e400",
    "1e-400",
    "0x1p-2",
    ".inf",
    "-.Inf",
    "+.INF",
    ".NaN",
    ".nan",
    "inf",
    "nan",
    "Infinity",
    "99999999999999999999",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "1" * 30,
    "0." + "0" * 30 + "1",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2001-13-01",
    "12:30:45",
    "1:20",
    "190:20:30",
    "0755",
    "=",
    "<<",
    "-",
    "--",
    ":a",
    "a:b",
    "a :b",
    # tags
    "!!str 42",
    "!!str",
    "!!int '42'",
    "!!int 1_0",
    "!!int 0x10",
    "!!int 1.5",
    "!!float 1",
    "!!float .5_0",
    "!!float abc",
    "!!bool yes",
    "!!bool 'on'",
    "!!bool 1",
    "!!null ''",
    "!!null ~",
    "!!null x",
    "!!binary aGVsbG8=",
    "!!binary aGVsbG8",
    "!!binary 'aGVs bG8='",
    "!!binary !!!",
    "!!timestamp 2001-12-14",
    "!!timestamp hello",
    "!!timestamp 2001-02-29",
    "!!timestamp 2004-02-29T01:02:03Z",
    "!!seq x",
    "!!map x",
    "!!foo x",
    "!foo x",
    "! x",
    "! 42",
    "!<tag:yaml.org,2002:str> 42",
    "!<tag:yaml.org,2002:int> x",
    "!!merge x",
    "!!omap x",
    "!!set x",
    "!!value x",
    # quoting and escapes
    "'a''b'",
    "'multi\n  line'",
    '"\\x41"',
    '"\\u00e9"',
    '"\\uD800"',
    '"\\uDFFF"',
    '"\\U0001F600"',
    '"\\U00110000"',
    '"\\N"',
    '"\\_"',
    '"\\L"',
    '"\\P"',
    '"\\e"',
    '"\\0"',
    '"\\\'"',
    '"\\/"',
    '"\\q"',
    '"\\ "',
    '"\\\t"',
    '"a\\\n  b"',
    '"tab\there"',
    '"\\x"',
    '"\\u12"',
    "''",
    '""',
    # block scalars
    "|\n  None",
    ">\n  None",
    "|-\n  None",
    ">-\n  folded\n  text",
    "|+\n  keep\n",
]


def m_raw_value(rng: random.Random, data: Data) -> str:
    text = rng.choice(SCALARS)
    where = rng.choice(["users", "verbs", "level", "unknown", "name", "group", "label"])
    if where in ("users", "verbs"):
        if text.startswith(("|", ">")):
            text = "'x'"
        _rule(rng, data)[where] = [Raw(text), "x"] if rng.random() < 0.5 else [Raw(text)]
    elif where == "level":
        _rule(rng, data)["level"] = Raw(text)
    elif where == "unknown":
        data["extra"] = Raw(text)
    elif where == "name":
        data["metadata"] = {"name": Raw(text)}
    elif where == "group":
        _entry(rng, data)["group"] = Raw(text)
    else:
        data["metadata"] = {"labels": {"a": Raw(text)}}
    return f"raw-{where}={text!r}"


KEYS = [
    "yes",
    "on",
    "1",
    "42",
    "-1",
    "1.5",
    "1e3",
    ".inf",
    "~",
    "null",
    "99999999999999999999",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "0x10",
    "'quoted'",
    '"level"',
    "? level",
    "2001-12-14",
    "!!str 5",
    "!!int 5",
    "[a]",
    "{a: b}",
    "<<",
    '""',
    "a b",
    "!!binary aGVsbG8=",
]


def m_raw_key(rng: random.Random, data: Data) -> str:
    key = rng.choice(KEYS)
    target = data if rng.random() < 0.5 else _rule(rng, data)
    target[key] = "x"
    return f"key={key!r}"


def m_anchor_merge(rng: random.Random, data: Data) -> str:
    which = rng.choice(
        [
            "alias-rule",
            "merge-after",
            "merge-before",
            "merge-two-same",
            "merge-two-different",
            "merge-list-of-one",
            "alias-scalar",
            "redefined-anchor",
            "merge-scalar",
            "merge-override-in-both",
            "merge-nested",
            "alias-key",
        ]
    )
    rules = "rules:\n"
    snippets = {
        "alias-rule": "- &r {level: None, verbs: [get]}\n- *r\n",
        "merge-after": "- &b {level: None, verbs: [get]}\n- <<: *b\n  level: Metadata\n",
        "merge-before": "- &b {level: None, verbs: [get]}\n- level: Metadata\n  <<: *b\n",
        "merge-two-same": "- &a {level: None}\n- &b {level: Metadata}\n- <<: [*a, *b]\n",
        "merge-two-different": "- &a {level: None}\n- &b {verbs: [get]}\n- <<: [*a, *b]\n",
        "merge-list-of-one": "- &a {level: None}\n- <<: [*a]\n",
        "alias-scalar": "- level: &l None\n- level: *l\n",
        "redefined-anchor": "- level: &l None\n- level: &l Metadata\n- level: *l\n",
        "merge-scalar": "- level: &l None\n- <<: *l\n",
        "merge-override-in-both": "- &a {level: None, verbs: [get]}\n"
        "- &b {level: Metadata, verbs: [list]}\n- <<: [*a, *b]\n  verbs: [watch]\n",
        "merge-nested": "- &a {level: None}\n- &b {<<: *a, verbs: [get]}\n- <<: *b\n",
        "alias-key": "- &k level : None\n- *k : Metadata\n",
    }
    data["rules"] = Raw("\n" + snippets[which].rstrip("\n"))
    del rules
    return f"anchor-{which}"


RAW_MUTATIONS: list[Mutation] = [m_raw_value, m_raw_key, m_anchor_merge]

# --- mutations of the text: whitespace, breaks, comments, directives, documents ------------

TextMutation = Callable[[random.Random, str], tuple[str, str]]


def _replace_one(rng: random.Random, text: str, old: str, new: str) -> str:
    places = [match.start() for match in re.finditer(re.escape(old), text)]
    if not places:
        return text
    at = rng.choice(places)
    return text[:at] + new + text[at + len(old) :]


def t_whitespace(rng: random.Random, text: str) -> tuple[str, str]:
    which = rng.choice(
        [
            "tab-after-colon",
            "tab-after-dash",
            "tab-indent",
            "tab-before-comment",
            "trailing-spaces",
            "trailing-tab",
            "tab-line",
            "space-before-colon",
            "no-space-after-colon",
            "comment-no-space",
            "nbsp",
        ]
    )
    if which == "tab-after-colon":
        text = _replace_one(rng, text, ": ", ":\t")
    elif which == "tab-after-dash":
        text = _replace_one(rng, text, "- ", "-\t")
    elif which == "tab-indent":
        text = _replace_one(rng, text, "\n  ", "\n\t")
    elif which == "tab-before-comment":
        text = _replace_one(rng, text, "\n", "\t# comment\n")
    elif which == "trailing-spaces":
        text = _replace_one(rng, text, "\n", "   \n")
    elif which == "trailing-tab":
        text = _replace_one(rng, text, "\n", "\t\n")
    elif which == "tab-line":
        text = _replace_one(rng, text, "\n", "\n\t\n")
    elif which == "space-before-colon":
        text = _replace_one(rng, text, ": ", " : ")
    elif which == "no-space-after-colon":
        text = _replace_one(rng, text, ": ", ":")
    elif which == "comment-no-space":
        text = _replace_one(rng, text, "\n", "#comment\n")
    else:
        text = _replace_one(rng, text, " ", "\u00a0")
    return which, text


def t_breaks(rng: random.Random, text: str) -> tuple[str, str]:
    which = rng.choice(
        [
            "crlf",
            "cr",
            "nel",
            "ls",
            "ps",
            "one-nel",
            "no-final-newline",
            "blank-lines",
            "mixed-crlf",
        ]
    )
    if which == "crlf":
        text = text.replace("\n", "\r\n")
    elif which == "cr":
        text = text.replace("\n", "\r")
    elif which in ("nel", "ls", "ps"):
        text = text.replace("\n", {"nel": "\u0085", "ls": "\u2028", "ps": "\u2029"}[which])
    elif which == "one-nel":
        text = _replace_one(rng, text, "\n", "\u0085")
    elif which == "no-final-newline":
        text = text.rstrip("\n")
    elif which == "blank-lines":
        text = "\n\n" + text.replace("\n", "\n\n")
    else:
        text = _replace_one(rng, text, "\n", "\r\n")
    return which, text


def t_documents(rng: random.Random, text: str) -> tuple[str, str]:
    which = rng.choice(
        [
            "start",
            "end",
            "start-end",
            "second-valid",
            "second-broken",
            "empty-first",
            "yaml11",
            "yaml12",
            "yaml20",
            "yaml-twice",
            "tag-dir",
            "unknown-dir",
            "comment-first",
            "end-then-text",
            "start-inline",
        ]
    )
    prefix = {
        "start": "---\n",
        "start-end": "---\n",
        "yaml11": "%YAML 1.1\n---\n",
        "yaml12": "%YAML 1.2\n---\n",
        "yaml20": "%YAML 2.0\n---\n",
        "yaml-twice": "%YAML 1.1\n%YAML 1.1\n---\n",
        "tag-dir": "%TAG !e! tag:example.com,2000:\n---\n",
        "unknown-dir": "%FOO bar\n---\n",
        "comment-first": "# policy\n",
        "empty-first": "---\n---\n",
    }.get(which, "")
    suffix = {
        "end": "...\n",
        "start-end": "...\n",
        "second-valid": "---\nkind: Other\n",
        "second-broken": "---\nrules: [\n",
        "end-then-text": "...\n# after\n",
    }.get(which, "")
    if which == "start-inline":
        return which, "--- " + text
    return which, prefix + text + suffix


def t_flow(rng: random.Random, text: str) -> tuple[str, str]:
    which = rng.choice(
        [
            "trailing-comma-list",
            "trailing-comma-map",
            "comment-after",
            "colon-plain",
            "question-key",
            "empty-value",
            "nested-flow",
            "flow-multiline",
            "json-style-key",
        ]
    )
    if which == "trailing-comma-list":
        text = _replace_one(rng, text, "]", ", ]") if "]" in text else text + "x: [a, ]\n"
    elif which == "trailing-comma-map":
        text = _replace_one(rng, text, "}", ", }") if "}" in text else text + "x: {a: b, }\n"
    elif which == "comment-after":
        text = text.rstrip("\n") + " # trailing comment\n"
    elif which == "colon-plain":
        text = text + "extra: [get, :a]\n" if not text.startswith("{") else text
    elif which == "question-key":
        text = text + "extra: {? a : b}\n" if not text.startswith("{") else text
    elif which == "empty-value":
        text = text + "extra: {a: , b}\n" if not text.startswith("{") else text
    elif which == "nested-flow":
        text = text + "extra: [[a, {b: [c]}]]\n" if not text.startswith("{") else text
    elif which == "flow-multiline":
        text = text + "extra: [a,\n  b]\n" if not text.startswith("{") else text
    else:
        text = text + 'extra: {"a":b}\n' if not text.startswith("{") else text
    return which, text


def t_yaml_corners(rng: random.Random, text: str) -> tuple[str, str]:
    """Corners of go-yaml v2's scanner and parser that the other families do not reach."""
    appended = {
        "bom-in-quotes": 'extra: "\ufeff"\n',
        "anchor-dot-name": "extra: &a.b x\n",
        "undefined-alias": "extra: *nope\n",
        "complex-key": "? extra\n: x\n",
        "block-scalar-tab": "extra: |\n\tx\n",
        "block-scalar-header-comment": "extra: |-#c\n  x\n",
        "block-scalar-more-indented": "extra: |\n    a\n  b\n",
        "document-end-content": "... x\n",
        "long-key": "k" * 1030 + ": x\n",
        "tab-in-plain": "extra: a\tb\n",
        "tag-handle-undefined": "extra: !e!str x\n",
        "verbatim-tag": "extra: !<tag:yaml.org,2002:int> 5\n",
        "merge-of-list": "base: &l [a]\nextra:\n  <<: *l\n",
    }
    which = rng.choice([*appended, "tag-directive", "bom-line-start", "bom-first"])
    if which == "tag-directive":
        return which, "%TAG !e! tag:yaml.org,2002:\n---\n" + text + "extra: !e!str 5\n"
    if which == "bom-line-start":
        return which, _replace_one(rng, text, "\n", "\n\ufeff")
    if which == "bom-first":
        return which, "\ufeff" + text
    return which, text + appended[which]


TEXT_MUTATIONS: list[TextMutation] = [t_whitespace, t_breaks, t_documents, t_flow, t_yaml_corners]

# --- mutations of the bytes: encodings -----------------------------------------------------

ByteMutation = Callable[[random.Random, str], tuple[str, bytes]]


def b_encoding(rng: random.Random, text: str) -> tuple[str, bytes]:
    which = rng.choice(
        [
            "utf8-bom",
            "utf16le-bom",
            "utf16be-bom",
            "utf16le",
            "utf32le-bom",
            "utf32be-bom",
            "latin1-byte",
            "invalid-utf8",
            "nul",
            "control-7f",
            "control-01",
            "c1-control",
            "bom-inside",
            "overlong",
        ]
    )
    if which == "utf8-bom":
        return which, b"\xef\xbb\xbf" + text.encode()
    if which == "utf16le-bom":
        return which, b"\xff\xfe" + text.encode("utf-16-le")
    if which == "utf16be-bom":
        return which, b"\xfe\xff" + text.encode("utf-16-be")
    if which == "utf16le":
        return which, text.encode("utf-16-le")
    if which == "utf32le-bom":
        return which, b"\xff\xfe\x00\x00" + text.encode("utf-32-le")
    if which == "utf32be-bom":
        return which, b"\x00\x00\xfe\xff" + text.encode("utf-32-be")
    inserts = {
        "latin1-byte": b"\xe9",
        "invalid-utf8": b"\xff",
        "nul": b"\x00",
        "control-7f": b"\x7f",
        "control-01": b"\x01",
        "c1-control": "\u0086".encode(),
        "bom-inside": b"\xef\xbb\xbf",
        "overlong": b"\xc0\xaf",
    }
    data = text.encode()
    places = [index for index, byte in enumerate(data) if byte in b' \n:"x'] or [0]
    at = rng.choice(places)
    return which, data[:at] + inserts[which] + data[at:]


# --- the JSON grammar, for bases written as JSON ---------------------------------------------


def j_grammar(rng: random.Random, text: str) -> tuple[str, str]:
    which = rng.choice(
        [
            "trailing-comma",
            "comment",
            "single-quotes",
            "nan",
            "big-float",
            "big-int",
            "surrogate",
            "slash-escape",
            "trailing-data",
            "two-objects",
            "lead-space",
            "lead-nbsp",
            "lead-nel",
            "lead-vt",
            "lead-ff",
            "unquoted-key",
            "dup-exact",
            "dup-case",
            "kind-before",
            "kind-after",
            "control-in-string",
            "deep",
            "bare-word",
            "hex-number",
            "plus-number",
            "yaml-after",
            "leading-zero",
            "escape-u-upper",
        ]
    )
    core = text.rstrip()
    inner = core[1:-1] if core.startswith("{") and core.endswith("}") else core
    patches: dict[str, str] = {
        "trailing-comma": "{" + inner + ",}",
        "comment": "{" + inner + "} // comment",
        "single-quotes": "{" + inner.replace('"level"', "'level'", 1) + "}",
        "nan": "{" + inner + ',"extra":NaN}',
        "big-float": "{" + inner + ',"extra":1e400}',
        "big-int": "{" + inner + ',"extra":99999999999999999999999}',
        "surrogate": "{" + inner + ',"extra":"\\ud800"}',
        "slash-escape": "{" + inner.replace("audit.k8s.io/v1", "audit.k8s.io\\/v1") + "}",
        "trailing-data": core + " x",
        "two-objects": core + " {}",
        "lead-space": " \t\r\n" + core,
        "lead-nbsp": "\u00a0" + core,
        "lead-nel": "\u0085" + core,
        "lead-vt": "\v" + core,
        "lead-ff": "\f" + core,
        "unquoted-key": "{" + inner.replace('"kind"', "kind", 1) + "}",
        "dup-exact": "{" + inner + ',"kind":"Policy"}',
        "dup-case": "{" + inner + ',"Kind":"Policy"}',
        "kind-before": '{"Kind":"Foo",' + inner + "}",
        "kind-after": "{" + inner + ',"Kind":"Foo"}',
        "control-in-string": "{" + inner + ',"extra":"a\tb"}',
        "deep": "{" + inner + ',"extra":' + "[" * 40 + "]" * 40 + "}",
        "bare-word": "{" + inner + ',"extra":yes}',
        "hex-number": "{" + inner + ',"extra":0x10}',
        "plus-number": "{" + inner + ',"extra":+1}',
        "yaml-after": core + "\n---\nkind: Other\n",
        "leading-zero": "{" + inner + ',"extra":01}',
        "escape-u-upper": "{" + inner.replace("Policy", "\\u0050olicy", 1) + "}",
    }
    return which, patches[which]


def j_decoding(rng: random.Random, text: str) -> tuple[str, str]:
    """What Go's JSON decoder does with duplicate keys, escapes and number types."""
    core = text.rstrip()
    inner = core[1:-1] if core.startswith("{") and core.endswith("}") else core
    extras = {
        "dup-nested-object": ',"metadata":{"name":"a"},"metadata":{"labels":{"a":"b"}}',
        "dup-array-shorter": ',"omitStages":["RequestReceived","Panic"],"omitStages":["Panic"]',
        "dup-null-after": ',"kind":null',
        "dup-type-first": ',"omitManagedFields":"yes","omitManagedFields":true',
        "dup-rules-null": ',"rules":null',
        "nul-escape": ',"extra":"\\u0000"',
        "int-field-float": ',"metadata":{"generation":1.0}',
        "int-field-exponent": ',"metadata":{"generation":1e2}',
        "lone-surrogate": ',"metadata":{"name":"\\udc00"}',
    }
    which = rng.choice([*extras, "escaped-key", "level-capital", "kelvin-kind"])
    if which == "escaped-key":
        return which, "{" + inner.replace('"kind"', '"\\u006bind"', 1) + "}"
    if which == "level-capital":
        return which, "{" + inner.replace('"level"', '"Level"', 1) + "}"
    if which == "kelvin-kind":
        return which, "{" + inner + ',"\u212aind":"Policy"}'
    return which, "{" + inner + extras[which] + "}"


# --- putting it together -------------------------------------------------------------------


def generate(seed: int = DEFAULT_SEED, count: int = DEFAULT_COUNT) -> list[GeneratedPolicy]:
    rng = random.Random(seed)
    policies: list[GeneratedPolicy] = []
    seen: set[bytes] = set()
    attempts = 0
    while len(policies) < count and attempts < count * 5:
        attempts += 1
        made = _one(rng)
        if made.data not in seen:
            seen.add(made.data)
            policies.append(GeneratedPolicy(f"gen-{len(policies):04d}-{made.name}", made.data))
    return policies


def _one(rng: random.Random) -> GeneratedPolicy:
    data = _small() if rng.random() < 0.5 else _rich()
    renderer = rng.choice(list(RENDERERS))
    names = [renderer]
    for _ in range(1 if rng.random() < 0.6 else 2):
        family = rng.random()
        if family < 0.40:
            names.append(rng.choice(DATA_MUTATIONS)(rng, data))
        elif family < 0.60 and renderer.startswith(("block", "flow")):
            names.append(rng.choice(RAW_MUTATIONS)(rng, data))
        elif family < 0.80:
            names.append("text")
        else:
            names.append("bytes")
    text = RENDERERS[renderer](data) if _renderable(data, renderer) else render_block(data)
    encoded: bytes | None = None
    for index, name in enumerate(names):
        if name == "text":
            if renderer.startswith("json") and rng.random() < 0.7:
                json_family = j_grammar if rng.random() < 0.6 else j_decoding
                names[index], text = json_family(rng, text)
            else:
                names[index], text = rng.choice(TEXT_MUTATIONS)(rng, text)
        elif name == "bytes" and encoded is None:
            names[index], encoded = b_encoding(rng, text)
    data_bytes = encoded if encoded is not None else text.encode("utf-8", "surrogatepass")
    return GeneratedPolicy(_slug("+".join(names)), data_bytes)


def _renderable(data: Data, renderer: str) -> bool:
    """Raw YAML values have no JSON spelling, and a multi-line one no flow spelling."""

    def walk(value: object) -> bool:
        if isinstance(value, Raw):
            return not renderer.startswith("json") and (
                renderer.startswith("block") or "\n" not in value.text
            )
        if isinstance(value, dict):
            return all(walk(item) for item in value.values())
        if isinstance(value, list):
            return all(walk(item) for item in value)
        return True

    return walk(data)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=._+-]+", "_", text)[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    for policy in generate(arguments.seed, arguments.count):
        (arguments.out / f"{policy.name}.yaml").write_bytes(policy.data)


if __name__ == "__main__":
    main()
