"""Read policy YAML into plain values the way kube-apiserver's decoder sees it.

kube-apiserver turns the file into JSON with sigs.k8s.io/yaml, which parses with a fork of
go-yaml v2, and then decodes the JSON into its Go types. Three consequences shape this module:

- Only the first YAML document counts: `yaml.Unmarshal` reads one document and never looks at
  the rest, so later documents are reported as ignored, not parsed.
- Plain (unquoted) scalars are typed with go-yaml v2's YAML 1.1 rules, not YAML 1.2's:
  `yes`, `no`, `on`, `off`, `y`, `n` are booleans, `0x1F` and `0o17` are integers, `~` is null.
  A boolean or number where the Go type wants a string is a decode error, so `verbs: [on]` or
  `namespaces: [no]` break the file even though they look like words. ruamel.yaml's own
  resolver (YAML 1.2) would call them strings, so scalars are typed here instead, tags and
  map keys included, by the rules in kaudit.policy.goyaml_resolve.
- Duplicate keys: the strict decoder refuses them, the lenient fallback keeps the last value.
  A `<<` merge goes through the same check, so a merged key the mapping already has (or
  that two merged maps share) is a duplicate too. They are collected as findings with their
  lines; the caller decides the severity.

Every value gets a field path in kube-apiserver's style ("rules[3].resources[0].group") and the
line it was found on, so that later problems can point at the line.
"""

from __future__ import annotations

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
from kaudit.policy import goyaml_resolve
from kaudit.policy.goyaml_syntax import RefusedCharacterError, configure_goyaml_syntax
from kaudit.yamltext import YamlLimitError, YamlLimits, bounded_yaml, check_expansion, one_line

# A tag of our own for plain scalars, so that they can be typed with go-yaml v2's rules below
# while explicitly tagged (`!!str 5`) and quoted scalars keep the type they were given.
_PLAIN_TAG = "tag:kaudit.io,2025:plain"
_YAML_TAG = "tag:yaml.org,2002:"

POLICY_YAML_LIMITS = YamlLimits(max_scalar_bytes=MAX_POLICY_SCALAR_BYTES)


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
    """Builds what go-yaml v2 decodes into interface{}, then what sigs.k8s.io/yaml makes of it.

    Two steps, as in kube-apiserver: first the Go map (keys typed, `<<` merges applied, a key
    set twice noted: strict decoding fails on it), then the JSON object, where a null or uint64
    key and a NaN or infinity refuse the file. The JSON step walks only what survived the
    first (a later duplicate replaces a value with everything under it).
    """

    def __init__(self, loaded: LoadedDocument) -> None:
        self.loaded = loaded
        # Nodes already decoded once, in document order: meeting one again means an alias
        # (the composer gives an alias the anchor's node itself).
        self._seen: set[int] = set()
        self._aliases: dict[tuple[int, int], bool] = {}

    def convert(self, node: Node, path: str) -> object:
        return self._json(self._decode(node, path), path)

    # step 1: go-yaml v2's decoder (decode.go) into interface{}

    def _decode(self, node: Node, path: str) -> _GoValue:
        self._seen.add(id(node))
        line = _line(node)
        if isinstance(node, ScalarNode):
            return _GoScalar(self._scalar(node, path), str(node.value), line)
        if isinstance(node, SequenceNode):
            items = [
                self._decode(item, f"{path}[{index}]") for index, item in enumerate(node.value)
            ]
            return _GoList(items, line)
        if isinstance(node, MappingNode):
            target = _GoMap(line, path)
            self._fill(node, path, target)
            return target
        self._error(path, f"unsupported YAML node {type(node).__name__}", line)
        return _GoScalar(None, "", line)

    def _fill(
        self, node: MappingNode, path: str, target: _GoMap, merge_line: int | None = None
    ) -> None:
        """decode.go `mapping`: every key set through setMapIndex, merges into the same map.

        `merge_line` is the line of the `<<` that brought this mapping's keys in, if any.
        """
        self._seen.add(id(node))
        for index, (key_node, value_node) in enumerate(node.value):
            # An alias of `<<` is no merge key to go-yaml (isMerge wants a scalar node).
            if not self._alias_at(node, 2 * index, key_node) and _is_merge_key(key_node):
                self._seen.add(id(key_node))
                alias = self._alias_at(node, 2 * index + 1, value_node)
                self._merge(value_node, path, target, merge_line or _line(key_node), alias=alias)
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            text = goyaml_resolve.json_key(key.value)
            item_path = child_path(path, text if text is not None else str(key_node.value))
            value = self._decode(value_node, item_path)
            self._set(target, _GoEntry(key.value, key.identity, key.line, value, merge_line))

    def _set(self, target: _GoMap, entry: _GoEntry) -> None:
        """setMapIndex: strict mode fails on a key already in the map, lenient replaces it."""
        earlier = target.entries.get(entry.identity)
        if earlier is not None:
            text = goyaml_resolve.json_key(entry.key)
            path = child_path(target.path, text if text is not None else "")
            self.loaded.duplicates.append(
                Finding(path, _duplicate_message(earlier, entry), entry.line)
            )
        target.entries[entry.identity] = entry

    def _alias_at(self, parent: MappingNode, index: int, child: Node) -> bool:
        """Whether the document has an alias at this place of `parent` (child 2i key, 2i+1 value).

        Decided the first time the parent is decoded, in document order: the child was already
        decoded then only if it is an alias. Later walks of the parent (through an alias of
        it) reuse the answer, since they meet the same nodes again.
        """
        place = (id(parent), index)
        known = self._aliases.get(place)
        if known is None:
            known = id(child) in self._seen
            self._aliases[place] = known
        return known

    def _merge(
        self, node: Node, path: str, target: _GoMap, merge_line: int, *, alias: bool
    ) -> None:
        """decode.go `merge`: a mapping, an alias of one, or a list of them (the first wins)."""
        if isinstance(node, MappingNode):
            self._fill(node, path, target, merge_line)
        elif isinstance(node, SequenceNode) and not alias:
            self._seen.add(id(node))
            # Backwards, as go-yaml does: earlier maps are set last and so win.
            for item in reversed(node.value):
                if not isinstance(item, MappingNode):
                    self._error(path, _MERGE_NEEDS_MAPS, _line(item))
                    return
                self._fill(item, path, target, merge_line)
        else:
            # A scalar, or an alias of a list (go-yaml only looks into a list written inline).
            self._error(path, _MERGE_NEEDS_MAPS, _line(node))

    def _key(self, node: Node, path: str) -> _GoKey | None:
        if not isinstance(node, ScalarNode):
            # go-yaml: "invalid map key" (a list or mapping cannot be a Go map key).
            self._decode(node, path)
            self._error(
                path, "a mapping key must be a plain value, not a list or mapping", _line(node)
            )
            return None
        self._seen.add(id(node))
        value = self._scalar(node, path)
        return _GoKey(value, _go_identity(value), _line(node))

    def _scalar(self, node: ScalarNode, path: str) -> object:
        tag, quoted = _scalar_tag(node)
        try:
            return goyaml_resolve.resolve_scalar(tag, str(node.value), quoted=quoted).value
        except goyaml_resolve.ScalarError as error:
            self._error(path, f"{error} (kube-apiserver cannot decode the file)", _line(node))
            return None

    # step 2: sigs.k8s.io/yaml convertToJSONableObject and json.Marshal

    def _json(self, value: _GoValue, path: str) -> object:
        self.loaded.lines.setdefault(path, value.line)
        if isinstance(value, _GoScalar):
            return self._json_scalar(value, path)
        if isinstance(value, _GoList):
            return [self._json(item, f"{path}[{index}]") for index, item in enumerate(value.items)]
        result: dict[str, object] = {}
        for entry in value.entries.values():
            text = goyaml_resolve.json_key(entry.key)
            if text is None:
                kind = goyaml_resolve.unsupported_key_type(entry.key)
                self._error(
                    path,
                    f"unsupported map key of type {kind} ({_quoted_key(entry.key)}): "
                    "sigs.k8s.io/yaml cannot turn it into JSON, kube-apiserver refuses the file",
                    entry.line,
                )
                continue
            item_path = child_path(path, text)
            self.loaded.lines[item_path] = entry.line
            result[text] = self._json(entry.value, item_path)
        return result

    def _json_scalar(self, scalar: _GoScalar, path: str) -> object:
        value = scalar.value
        if isinstance(value, float) and not math.isfinite(value):
            self._error(
                path,
                f"{scalar.text} is {_go_float_name(value)}, which JSON cannot hold "
                f'(kube-apiserver: "json: unsupported value"); quote it',
                scalar.line,
            )
            return None
        if value is not None and not isinstance(value, str):
            self.loaded.plain_texts[path] = scalar.text
        return value

    def _error(self, path: str, message: str, line: int | None) -> None:
        self.loaded.errors.append(Finding(path, message, line))


_MERGE_NEEDS_MAPS = (
    "a merge key (<<) needs a mapping, an alias of one or a list of them "
    '(kube-apiserver: "map merge requires map or sequence of maps as the value")'
)


@dataclass
class _GoScalar:
    value: object
    text: str
    line: int


@dataclass
class _GoList:
    items: list[_GoValue]
    line: int


@dataclass
class _GoEntry:
    key: object
    identity: object
    line: int
    value: _GoValue
    # The line of the `<<` that set it, None for a key of the mapping itself.
    merge_line: int | None


@dataclass
class _GoMap:
    line: int
    path: str
    # By the key's Go identity: int 1, float 1.0, string "1" and bool true are four keys.
    entries: dict[object, _GoEntry] = field(default_factory=dict)


_GoValue = _GoScalar | _GoList | _GoMap


@dataclass(frozen=True)
class _GoKey:
    value: object
    identity: object
    line: int


def _duplicate_message(earlier: _GoEntry, later: _GoEntry) -> str:
    key = _quoted_key(later.key)
    if earlier.merge_line is None and later.merge_line is None:
        return f"duplicate key {key} (lines {earlier.line} and {later.line})"
    # go-yaml v2 merges into the map being built, through the same duplicate check; its
    # lenient mode keeps whichever is set last, a merged value over an earlier key too.
    return (
        f"duplicate key {key}: {_setter(earlier)}, then {_setter(later)} again "
        "(go-yaml v2 checks keys a << merge sets like any other)"
    )


def _setter(entry: _GoEntry) -> str:
    if entry.merge_line is None:
        return f"line {entry.line} sets it"
    if entry.merge_line == entry.line:
        return f"the << merge on line {entry.line} sets it"
    return f"the << merge on line {entry.merge_line} sets it (from line {entry.line})"


def _go_identity(value: object) -> object:
    """The key as a Go interface{} compares: by type and value; NaN equals nothing."""
    if isinstance(value, float) and math.isnan(value):
        return object()
    return (type(value).__name__, value)


def _quoted_key(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _go_float_name(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _scalar_tag(node: ScalarNode) -> tuple[str, bool]:
    """The tag go-yaml's parser gives the scalar, and whether it was quoted or a block."""
    tag = str(node.tag)
    quoted = node.style is not None
    if tag == _PLAIN_TAG:
        # The composer types `!` scalars with the resolver, as if they were plain (quoted ones
        # too): only the text shows the tag. go-yaml keeps their text as a string.
        if quoted or _written_with_non_specific_tag(node):
            return goyaml_resolve.NON_SPECIFIC, quoted
        return goyaml_resolve.PLAIN, False
    return tag, quoted


def _written_with_non_specific_tag(node: ScalarNode) -> bool:
    """Whether the node's properties (`&anchor`, tag) in the source include a bare `!`.

    The node starts at its first property, except that ruamel starts a node written
    `! &anchor value` at the anchor: so look at the properties from the start on, and at what
    precedes the start on the same line (a comment cannot come before a node on its line).
    """
    mark = node.start_mark
    buffer = getattr(mark, "buffer", None)
    pointer = getattr(mark, "pointer", None)
    if not isinstance(buffer, str) or not isinstance(pointer, int):
        return False
    # A plain scalar never starts with `!` or `&`: if the node does, these are properties.
    # Read at most two of them (an anchor and a tag, in either order).
    if buffer[pointer : pointer + 1] not in ("!", "&"):
        return False
    rest = buffer[pointer : pointer + 1024]
    for _ in range(2):
        if rest[:1] not in ("!", "&"):
            break
        word = _PROPERTY.match(rest)
        token = word.group(0) if word else ""
        if token in _NON_SPECIFIC_TAGS:
            return True
        rest = rest[len(token) :].lstrip(" \t\r\n")
    if buffer[pointer : pointer + 1] != "&":
        return False
    line_start = buffer.rfind("\n", max(0, pointer - 1024), pointer) + 1
    before = buffer[line_start:pointer].rstrip(" \t")
    return any(
        before.endswith(tag) and before[: -len(tag)][-1:] in ("", " ", "\t", "[", "{", ",")
        for tag in _NON_SPECIFIC_TAGS
    )


# A node property as the scanner reads it: up to a space, a line break or a flow indicator.
_PROPERTY = re.compile(r"[^\s,\[\]{}]*")
_NON_SPECIFIC_TAGS = ("!", "!<!>")


def _is_merge_key(node: Node) -> bool:
    """decode.go isMerge: `<<` untagged (plain, or with the non-specific `!`) or `!!merge`."""
    if not isinstance(node, ScalarNode) or node.value != "<<":
        return False
    tag, quoted = _scalar_tag(node)
    if tag in (goyaml_resolve.MERGE_TAG, goyaml_resolve.NON_SPECIFIC):
        return True
    return tag == goyaml_resolve.PLAIN and not quoted


def resolve_plain(text: str) -> object:
    """Type a plain scalar the way go-yaml v2 does (resolve.go); see goyaml_resolve."""
    return goyaml_resolve.resolve_scalar(goyaml_resolve.PLAIN, text).value
