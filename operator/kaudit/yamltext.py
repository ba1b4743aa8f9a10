"""Loading YAML of unknown origin with explicit limits, and user YAML into plain data.

Every YAML text kaudit reads (policies, AuditConfig files, host manifests) may be hostile: a
few hundred bytes of anchors and aliases ("billion laughs") expand to billions of nodes, a
recursive alias makes a cycle, and deep nesting exhausts Python's recursion. kube-apiserver
reads policies with sigs.k8s.io/yaml, whose go-yaml v2 fork refuses
"anchor 'a' value contains itself", "document contains excessive aliasing" (decode.go: past
1000 decode steps, more than 99% of them through aliases for documents up to 400,000 steps,
sliding to 10% at 4,000,000) and nesting past 10000 levels. kaudit applies the same two alias
rules, and lower fixed limits (kaudit.limits) on depth, node count and scalar length, checked
while composing so a bomb is stopped before it is expanded. The safe loader is enough for
files the user writes for kaudit (AuditConfig); host manifests, whose bytes must survive, are
handled by kaudit.manifest with the same composer.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import StringIO
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from kaudit.limits import MAX_YAML_DEPTH, MAX_YAML_EXPANDED_BYTES, MAX_YAML_NODES

# go-yaml v2 decode.go's alias heuristic (CVE-2019-11253), reproduced number for number.
_ALIAS_RATIO_RANGE_LOW = 400_000
_ALIAS_RATIO_RANGE_HIGH = 4_000_000


class YamlTextError(ValueError):
    """Text that is not one YAML document; the message gives the line and column."""


class YamlLimitError(YamlTextError):
    """YAML past one of kaudit's limits; the message names the limit and where it was hit."""


@dataclass(frozen=True, kw_only=True)
class YamlLimits:
    max_depth: int = MAX_YAML_DEPTH
    max_nodes: int = MAX_YAML_NODES
    # The characters of all scalars once aliases are expanded: one long value aliased many
    # times is a small text that renders (or is walked) as a huge one.
    max_expanded_bytes: int = MAX_YAML_EXPANDED_BYTES
    # None: no limit of its own (the text's size limit bounds it).
    max_scalar_bytes: int | None = None


def bounded_yaml(typ: Literal["safe", "rt"], limits: YamlLimits) -> YAML:
    """A pure-Python YAML whose composer refuses input past `limits` while composing."""
    yaml = YAML(typ=typ, pure=True)
    yaml.Composer = _composer_class(limits)
    return yaml


def _composer_class(limits: YamlLimits) -> type[Composer]:
    class BoundedComposer(Composer):
        def __init__(self, loader: Any = None) -> None:
            super().__init__(loader=loader)
            self.nodes = 0
            # YAML lets an anchor be defined again (go-yaml v2 too): the later one wins, and
            # ruamel's warning would be noise on stderr (an error under -W error).
            self.warn_double_anchors = False

        def compose_node(self, parent: Any, index: Any) -> Any:
            # Composing is recursive: stop before Python's stack does, and before a long
            # input turns into a long parse.
            mark = self.parser.peek_event().start_mark
            if self.depth >= limits.max_depth:
                raise YamlLimitError(
                    f"nesting deeper than kaudit's limit of {limits.max_depth} levels{_where(mark)}"
                )
            self.nodes += 1
            if self.nodes > limits.max_nodes:
                raise YamlLimitError(
                    f"more than kaudit's limit of {limits.max_nodes} YAML nodes{_where(mark)}"
                )
            return super().compose_node(parent, index)

        def compose_scalar_node(self, anchor: Any) -> Any:
            node = super().compose_scalar_node(anchor)
            maximum = limits.max_scalar_bytes
            text = str(node.value)
            if maximum is not None and len(text) > maximum // 4 and _utf8_size(text) > maximum:
                raise YamlLimitError(
                    f"a value of {_utf8_size(text)} bytes, over kaudit's limit of {maximum} "
                    f"bytes for one value{_where(node.start_mark)}"
                )
            return node

    return BoundedComposer


def check_expansion(root: Node, limits: YamlLimits) -> None:
    """Refuse a composed document that aliases itself or expands past the limits.

    The composer shares one node for an anchor and all its aliases; a decoder (go-yaml's, or
    kaudit's converter) walks each alias again. The walk here counts those steps as go-yaml
    v2 does, without building anything, and stops at the first limit.
    """
    decode_count = 0
    alias_count = 0
    expanded = 0
    visited: set[int] = set()
    on_path: set[int] = set()
    # (node, inside an alias, leaving): a stack instead of recursion.
    stack: list[tuple[Node, bool, bool]] = [(root, False, False)]
    while stack:
        node, aliased, leaving = stack.pop()
        key = id(node)
        if leaving:
            on_path.discard(key)
            continue
        if key in on_path:
            anchor = getattr(node, "anchor", None) or "?"
            where = _where(node.start_mark)
            raise YamlLimitError(f"anchor {anchor!r} value contains itself (recursive){where}")
        if key in visited:
            # An alias: everything under it is decoded again.
            aliased = True
        visited.add(key)
        decode_count += 1
        if aliased:
            alias_count += 1
        if (
            alias_count > 100
            and decode_count > 1000
            and alias_count / decode_count > _allowed_alias_ratio(decode_count)
        ):
            raise YamlLimitError(
                "document contains excessive aliasing (kube-apiserver's YAML decoder refuses "
                f"it too): {alias_count} of {decode_count} values come from aliases"
            )
        if decode_count > limits.max_nodes:
            raise YamlLimitError(
                f"more than kaudit's limit of {limits.max_nodes} YAML values once aliases are "
                "expanded"
            )
        if isinstance(node, ScalarNode):
            expanded += len(str(node.value))
            if expanded > limits.max_expanded_bytes:
                raise YamlLimitError(
                    f"values longer than kaudit's limit of {limits.max_expanded_bytes} "
                    "characters in all once aliases are expanded"
                )
        if isinstance(node, MappingNode | SequenceNode):
            on_path.add(key)
            stack.append((node, aliased, True))
            children: list[Node] = []
            if isinstance(node, MappingNode):
                for key_node, value_node in node.value:
                    children.extend((key_node, value_node))
            else:
                children.extend(node.value)
            stack.extend((child, aliased, False) for child in reversed(children))


def _allowed_alias_ratio(decode_count: int) -> float:
    if decode_count <= _ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decode_count >= _ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    span = _ALIAS_RATIO_RANGE_HIGH - _ALIAS_RATIO_RANGE_LOW
    return 0.99 - 0.89 * (decode_count - _ALIAS_RATIO_RANGE_LOW) / span


def _where(mark: Any) -> str:
    if mark is None:
        return ""
    return f" (line {mark.line + 1}, column {mark.column + 1})"


def one_line(error: YAMLError) -> str:
    """A YAML error without the marks ruamel prints on lines of their own."""
    if isinstance(error, ReaderError) and isinstance(error.character, int):
        return (
            f"character #x{error.character:04x} at position {error.position} is not allowed "
            "in YAML (no control characters but tab, line feed and carriage return)"
        )
    return " ".join(str(error).split())


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def load_single_document(text: str, *, limits: YamlLimits | None = None) -> object:
    """Parse exactly one YAML document; an empty text or several documents are errors."""
    if not text.strip():
        raise YamlTextError("the file is empty")
    limits = limits or YamlLimits()
    yaml = bounded_yaml("safe", limits)
    try:
        nodes = list(yaml.compose_all(StringIO(text)))
    except MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise YamlTextError(f"not valid YAML: {where}{error.problem}") from None
    except YAMLError as error:
        raise YamlTextError(f"not valid YAML: {one_line(error)}") from None
    documents = [node for node in nodes if not _is_null_document(node)]
    if not documents:
        raise YamlTextError("the file holds no YAML document")
    if len(documents) > 1:
        raise YamlTextError(f"expected one YAML document, found {len(documents)}")
    check_expansion(documents[0], limits)
    try:
        return yaml.constructor.construct_document(documents[0])
    except YAMLError as error:
        raise YamlTextError(f"not valid YAML: {one_line(error)}") from None
    except (ValueError, OverflowError, IndexError, TypeError, KeyError, AttributeError):
        # The safe constructor's own conversions: Python refuses ints over 4300 digits, and
        # an empty `!!int ""` or `!!float ""` fails on an index.
        raise YamlTextError(
            "not valid YAML: a value cannot be converted to the type YAML reads it as (a number "
            "too long to convert, an empty !!int or !!float); quote it"
        ) from None


def _is_null_document(node: Node) -> bool:
    return (
        isinstance(node, ScalarNode)
        and str(node.tag) == "tag:yaml.org,2002:null"
        and node.value in ("", "~", "null", "Null", "NULL")
    )
