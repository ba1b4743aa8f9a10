"""Read policy YAML into plain values the way kube-apiserver's decoder sees it.

kube-apiserver turns the file into JSON with sigs.k8s.io/yaml, which parses with a fork of
go-yaml v2, and then decodes the JSON into its Go types. Three consequences shape this module:

- Only the first YAML document counts: `yaml.Unmarshal` reads one document and never looks at
  the rest, so later documents are reported as ignored, not parsed.
- Plain (unquoted) scalars are typed with go-yaml v2's YAML 1.1 rules, not YAML 1.2's:
  `yes`, `no`, `on`, `off`, `y`, `n` are booleans, `0x1F` and `0o17` are integers, `~` is null.
  A boolean or number where the Go type wants a string is a decode error, so `verbs: [on]` or
  `namespaces: [no]` break the file even though they look like words. ruamel.yaml's own
  resolver (YAML 1.2) would call them strings, so plain scalars are typed here instead.
- Duplicate keys: the strict decoder refuses them, the lenient fallback keeps the last value.
  They are collected as findings with their lines; the caller decides the severity.

Every value gets a field path in kube-apiserver's style ("rules[3].resources[0].group") and the
line it was found on, so that later problems can point at the line.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tag import Tag

from kaudit.limits import MAX_POLICY_SCALAR_BYTES
from kaudit.policy.goyaml_syntax import RefusedCharacterError, configure_goyaml_syntax
from kaudit.yamltext import YamlLimitError, YamlLimits, bounded_yaml, check_expansion, one_line

# A tag of our own for plain scalars, so that they can be typed with go-yaml v2's rules below
# while explicitly tagged (`!!str 5`) and quoted scalars keep the type they were given.
_PLAIN_TAG = "tag:kaudit.io,2025:plain"
_YAML_TAG = "tag:yaml.org,2002:"

# go-yaml v2 resolve.go: the words it reads as null, booleans and special floats.
_NULL_WORDS = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE_WORDS = frozenset({"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
_FALSE_WORDS = frozenset(
    {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}
)
_INF_WORDS = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_NEG_INF_WORDS = frozenset({"-.inf", "-.Inf", "-.INF"})
_NAN_WORDS = frozenset({".nan", ".NaN", ".NAN"})
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT64_MIN = -(2**63)
# No int64 or uint64 needs more digits than this in any base (64 binary digits); longer digit
# strings (after leading zeros) are out of range for strconv, and Python refuses to convert
# decimal strings over 4300 digits at all.
_MAX_INT_DIGITS = 64
POLICY_YAML_LIMITS = YamlLimits(max_scalar_bytes=MAX_POLICY_SCALAR_BYTES)
_UINT64_MAX = 2**64 - 1


class _PlainScalarResolver(VersionedResolver):
    """Leaves every plain scalar untyped (our own tag) and every quoted one a string."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode:
            if implicit[0]:
                return Tag(suffix=_PLAIN_TAG)
            return Tag(suffix=_YAML_TAG + "str")
        return super().resolve(kind, value, implicit)


@dataclass(frozen=True)
class Finding:
    """Something noticed while reading: a field path ("" for the file), a message, a line."""

    field: str
    message: str
    line: int | None


@dataclass
class LoadedDocument:
    """The first YAML document as plain values (dict, list, str, int, float, bool, None)."""

    value: object = None
    found: bool = False
    lines: dict[str, int] = field(default_factory=dict)
    # The text of plain scalars that YAML typed as something other than a string, by path, so
    # that a type error can say "YAML reads `no` as a boolean; quote it".
    plain_texts: dict[str, str] = field(default_factory=dict)
    errors: list[Finding] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)
    ignored_documents: int = 0


def child_path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def load_first_document(text: str) -> LoadedDocument:
    """Parse the first document of `text`; problems are returned as findings, never raised."""
    loaded = LoadedDocument()
    yaml = bounded_yaml("safe", POLICY_YAML_LIMITS)
    yaml.Resolver = _PlainScalarResolver
    # kube-apiserver's scanner is go-yaml v2's (libyaml's rules), not ruamel's: policies only.
    configure_goyaml_syntax(yaml)
    documents: Iterator[Node] = yaml.compose_all(text)
    try:
        first = next(documents, None)
        if first is not None:
            check_expansion(first, POLICY_YAML_LIMITS)
    except YAMLError as error:
        loaded.errors.append(_yaml_error_finding(error))
        return loaded
    except YamlLimitError as error:
        loaded.errors.append(Finding("", str(error), None))
        return loaded
    if first is None:
        return loaded
    loaded.found = True
    converter = _Converter(loaded)
    loaded.value = converter.convert(first, "")
    try:
        for _ in documents:
            loaded.ignored_documents += 1
    except (YAMLError, YamlLimitError):
        # A broken later document is never read by kube-apiserver either; count it as ignored.
        loaded.ignored_documents += 1
    return loaded


def _yaml_error_finding(error: YAMLError) -> Finding:
    if isinstance(error, RefusedCharacterError):
        return Finding("", str(error), error.line)
    if isinstance(error, MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})"
        context = f"{error.context}: " if error.context else ""
        message = f"not valid YAML: {context}{error.problem}{where}"
        return Finding("", message, mark.line + 1)
    return Finding("", f"not valid YAML: {one_line(error)}", None)


class _Converter:
    """Turns composed nodes into plain values with go-yaml v2 typing and JSON-able keys."""

    def __init__(self, loaded: LoadedDocument) -> None:
        self.loaded = loaded

    def convert(self, node: Node, path: str) -> object:
        line = node.start_mark.line + 1
        self.loaded.lines.setdefault(path, line)
        if isinstance(node, ScalarNode):
            value = self._scalar(node, path)
            if isinstance(value, float) and not math.isfinite(value):
                self._error(path, f"{node.value} cannot be converted to JSON", line)
                return None
            if value is not None and not isinstance(value, str):
                self.loaded.plain_texts[path] = str(node.value)
            return value
        if isinstance(node, SequenceNode):
            return [
                self.convert(child, f"{path}[{index}]") for index, child in enumerate(node.value)
            ]
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        self._error(path, f"unsupported YAML node {type(node).__name__}", line)
        return None

    def _mapping(self, node: MappingNode, path: str) -> dict[str, object]:
        result: dict[str, object] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if _is_merge_key(key_node):
                # A key the merge brought in and the mapping then sets again is a duplicate
                # to go-yaml v2's strict mode too (checked against kube-apiserver 1.34.4).
                for merged_key in self._merge(value_node, path, result):
                    seen.setdefault(merged_key, key_line)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            item_path = child_path(path, key)
            if key in seen:
                self.loaded.duplicates.append(
                    Finding(
                        item_path,
                        f'duplicate key "{key}" (lines {seen[key]} and {key_line})',
                        key_line,
                    )
                )
            seen[key] = key_line
            self.loaded.lines[item_path] = key_line
            result[key] = self.convert(value_node, item_path)
        return result

    def _merge(self, value_node: Node, path: str, result: dict[str, object]) -> list[str]:
        """Merge `<<: *anchor` or `<<: [*a, *b]` (earlier maps win in a list); the keys."""
        sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        keys: list[str] = []
        for source in reversed(sources):
            merged = self.convert(source, path)
            if isinstance(merged, dict):
                result.update(merged)
                keys.extend(merged)
            else:
                line = source.start_mark.line + 1
                self._error(path, "a merge key (<<) needs a mapping or a list of mappings", line)
        return keys

    def _key(self, node: Node, path: str) -> str | None:
        line = node.start_mark.line + 1
        if not isinstance(node, ScalarNode):
            self._error(path, "a mapping key must be a plain value, not a list or mapping", line)
            return None
        value = self._scalar(node, path)
        # sigs.k8s.io/yaml turns non-string keys into JSON object keys; null has no spelling.
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _go_float_key(value)
        self._error(path, f"unsupported map key {node.value!r} (a null key)", line)
        return None

    def _scalar(self, node: ScalarNode, path: str) -> object:
        tag = str(node.tag)
        text = str(node.value)
        if tag == _PLAIN_TAG:
            return resolve_plain(text)
        if not tag.startswith(_YAML_TAG):
            # go-yaml v2 keeps the text of a scalar with a tag it does not know.
            return text
        kind = tag[len(_YAML_TAG) :]
        if kind in {"str", "timestamp"}:
            return text
        if kind == "binary":
            try:
                return base64.b64decode(text, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                self._error(path, f"!!binary value {text!r} is not base64", _line(node))
                return None
        resolved = resolve_plain(text)
        wanted: dict[str, tuple[type, ...]] = {
            "int": (int,),
            "float": (float, int),
            "bool": (bool,),
            "null": (type(None),),
        }
        types = wanted.get(kind)
        if types is None:
            return text
        if isinstance(resolved, bool) and bool not in types:
            resolved = text
        if not isinstance(resolved, types):
            self._error(path, f"cannot decode {text!r} as a !!{kind}", _line(node))
            return None
        if kind == "float" and isinstance(resolved, int):
            return float(resolved)
        return resolved

    def _error(self, path: str, message: str, line: int | None) -> None:
        self.loaded.errors.append(Finding(path, message, line))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _is_merge_key(node: Node) -> bool:
    return isinstance(node, ScalarNode) and str(node.tag) == _PLAIN_TAG and node.value == "<<"


def _go_float_key(value: float) -> str:
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value)


def resolve_plain(text: str) -> object:
    """Type a plain scalar the way go-yaml v2 does (resolve.go)."""
    if text in _NULL_WORDS:
        return None
    if text in _TRUE_WORDS:
        return True
    if text in _FALSE_WORDS:
        return False
    if text in _INF_WORDS:
        return math.inf
    if text in _NEG_INF_WORDS:
        return -math.inf
    if text in _NAN_WORDS:
        return math.nan
    first = text[0]
    if first == ".":
        if _YAML_STYLE_FLOAT.fullmatch(text):
            return _go_parse_float(text, text)
        return text
    if first in "+-0123456789":
        plain = text.replace("_", "")
        number = _go_parse_int(plain)
        if number is not None:
            return number
        if _YAML_STYLE_FLOAT.fullmatch(plain):
            return _go_parse_float(plain, text)
    return text


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), falling back to ParseUint, as go-yaml v2 does."""
    negative = text.startswith("-")
    body = text[1:] if text[:1] in "+-" else text
    lower = body.lower()
    if lower.startswith("0x"):
        base, digits = 16, body[2:]
    elif lower.startswith("0o"):
        base, digits = 8, body[2:]
    elif lower.startswith("0b"):
        base, digits = 2, body[2:]
    elif body.startswith("0") and len(body) > 1:
        base, digits = 8, body[1:]
    else:
        base, digits = 10, body
    allowed = "0123456789abcdef"[:base]
    if not digits or any(character not in allowed for character in digits.lower()):
        return None
    if len(digits.lstrip("0")) > _MAX_INT_DIGITS:
        return None
    value = int(digits, base)
    value = -value if negative else value
    if _INT64_MIN <= value <= _UINT64_MAX and not (text.startswith("+") and value > 2**63 - 1):
        return value
    return None


def _go_parse_float(number: str, text: str) -> object:
    """strconv.ParseFloat(number, 64): out of range is an error, and go-yaml keeps the text."""
    value = float(number)
    return text if math.isinf(value) else value
