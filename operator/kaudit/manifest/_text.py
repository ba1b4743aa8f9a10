"""Surgical text edits on a YAML document, located through ruamel.yaml's composed nodes.

Re-dumping a document with ruamel.yaml changes bytes the user wrote (quoting, comments near
edited nodes, indentation of flow lists, line endings). The manifest patcher must give back the
exact original on disable, so it never re-dumps: the composer gives every node's start and end
offset in the original string, and every change is an `Edit` (a span of the original text and
what replaces it). New block lines copy the indentation of their siblings and the file's line
ending; new flow items copy the separator their siblings use.

Insertions and removals are written as pairs that undo each other exactly:

* block lines inserted before a line are removed as whole lines; block lines appended after the
  last line of a file without a final newline are preceded by a line ending, and removing them
  removes that line ending too;
* a run of flow items inserted after an item brings its separator before each new item, a run
  inserted before the first item brings its separator after each, so the removal of a run of
  consecutive items is one span: from the end of the item before the run to the end of the run,
  else from the start of the run to the start of the item after it.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


@dataclass(frozen=True)
class Edit:
    """Replace text[start:end] with `text` (an insertion when start == end)."""

    start: int
    end: int
    text: str


def apply_edits(text: str, edits: Iterable[Edit]) -> str:
    """Apply non-overlapping edits given against the same original text.

    Insertions at one offset keep the order they were given in, and come before a replacement
    that starts at the same offset.
    """
    ordered = sorted(enumerate(edits), key=lambda pair: (pair[1].start, pair[1].end, pair[0]))
    parts: list[str] = []
    position = 0
    for _, edit in ordered:
        if edit.start < position or edit.end < edit.start:
            raise AssertionError(f"overlapping edits at offset {edit.start}")
        parts.append(text[position : edit.start])
        parts.append(edit.text)
        position = edit.end
    parts.append(text[position:])
    return "".join(parts)


class Lines:
    """Line arithmetic on one text: where lines start and end, and its line ending."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [match.end() for match in re.finditer(r"\r\n|\n", text)]
        if self.starts[-1] == len(text) and len(self.starts) > 1:
            self.starts.pop()  # the final line break ends the last line; no empty line after it
        first_break = re.search(r"\r\n|\n", text)
        self.eol = first_break.group() if first_break else "\n"

    def line_of(self, index: int) -> int:
        return bisect.bisect_right(self.starts, index) - 1

    def start(self, line: int) -> int:
        return self.starts[line]

    def end(self, line: int) -> int:
        """Offset just past the line's line ending (or the end of the text)."""
        return self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)

    def content_end(self, line: int) -> int:
        """Offset of the line's line ending (or the end of the text)."""
        end = self.end(line)
        if self.text.endswith("\r\n", 0, end):
            return end - 2
        if self.text.endswith("\n", 0, end):
            return end - 1
        return end

    def has_eol(self, line: int) -> bool:
        return self.content_end(line) != self.end(line)

    def indent_before(self, index: int) -> str | None:
        """The text between the line start and `index` when it is only spaces, else None."""
        prefix = self.text[self.start(self.line_of(index)) : index]
        return prefix if prefix.strip(" ") == "" else None

    def insert_before(self, line: int, new_lines: Sequence[str]) -> Edit:
        at = self.start(line)
        return Edit(at, at, "".join(new + self.eol for new in new_lines))

    def insert_after(self, line: int, new_lines: Sequence[str]) -> Edit:
        if self.has_eol(line):
            at = self.end(line)
            return Edit(at, at, "".join(new + self.eol for new in new_lines))
        at = len(self.text)
        return Edit(at, at, "".join(self.eol + new for new in new_lines))

    def remove(self, first: int, last: int) -> Edit:
        """Remove lines first..last, the inverse of insert_before / insert_after."""
        if self.has_eol(last) or first == 0:
            return Edit(self.start(first), self.end(last), "")
        return Edit(self.content_end(first - 1), len(self.text), "")


# --- nodes -----------------------------------------------------------------------------------


def is_flow(node: Node) -> bool:
    return bool(getattr(node, "flow_style", False))


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def scalar_text(node: Node) -> str | None:
    """The value of a scalar node as a string, or None for anything else."""
    if isinstance(node, ScalarNode) and not is_null(node):
        return str(node.value)
    return None


def content_end(node: Node, text: str) -> int | None:
    """Offset just past the last character written for the node, None for an empty scalar.

    Block collections end where the next token starts (after trailing blank and comment
    lines), so their content ends with their last child's content.
    """
    if isinstance(node, ScalarNode):
        start, end = node.start_mark.index, node.end_mark.index
        if start == end:
            return None
        if node.style in ("|", ">"):
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
        return int(end)
    if is_flow(node):
        return int(node.end_mark.index)
    if isinstance(node, MappingNode):
        for key, value in reversed(node.value):
            last = content_end(value, text)
            if last is None:
                last = content_end(key, text)
            if last is not None:
                return last
        return None
    if isinstance(node, SequenceNode):
        for item in reversed(node.value):
            last = content_end(item, text)
            if last is not None:
                return last
        return None
    return None


def walk(node: Node) -> Iterator[Node]:
    yield node
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield from walk(key)
            yield from walk(value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from walk(item)


# --- rendering -------------------------------------------------------------------------------


class DoubleQuoted(str):
    """A string always written in double quotes (hashes: digits-only would read as a number)."""

    __slots__ = ()


class SingleQuoted(str):
    """A string always written in single quotes (JSON: no escapes to double)."""

    __slots__ = ()


_PLAIN = re.compile(r"[A-Za-z0-9_./=,+-]+")
_NOT_A_STRING = re.compile(
    r"""[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d+)([eE][-+]?\d+)?   # numbers
    |0[xXoObB][0-9a-fA-F_]+
    |[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)
    |\d{4}-\d\d?-\d\d?.*                                  # timestamps
    |(?i:y|n|yes|no|on|off|true|false|null|~)""",
    re.VERBOSE,
)


def needs_quotes(value: str) -> bool:
    """Whether a plain scalar would not read back as this exact string (conservative)."""
    return (
        not _PLAIN.fullmatch(value)
        or value == "-"
        or value.startswith("- ")
        or bool(_NOT_A_STRING.fullmatch(value))
    )


def double_quoted(value: str) -> str:
    # JSON string escapes are a subset of YAML double-quoted escapes.
    return json.dumps(value, ensure_ascii=False)


def single_quoted(value: str) -> str:
    if any(char in value for char in "\r\n\t") or not value.isprintable():
        return double_quoted(value)
    return "'" + value.replace("'", "''") + "'"


def scalar(value: object) -> str:
    """A block-context scalar for a str or bool."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        raise TypeError(f"cannot write {type(value).__name__} as a scalar")
    if isinstance(value, SingleQuoted):
        return single_quoted(value)
    if isinstance(value, DoubleQuoted) or needs_quotes(value):
        return double_quoted(value)
    return value


def scalar_like(node: ScalarNode, value: str) -> str:
    """A scalar for `value` in the quoting style of the node it replaces."""
    if node.style == "'":
        return single_quoted(value)
    if node.style == '"' or needs_quotes(value):
        return double_quoted(value)
    return value


def flow(value: object) -> str:
    """A flow-context value: JSON, which is valid YAML flow style."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@dataclass(frozen=True)
class BlockStyle:
    """How this document indents: nested mappings, and block sequences under a key."""

    mapping_step: int = 2  # columns from a key to the keys of its mapping value
    sequence_offset: int = 0  # columns from a key to the dash of its sequence value ("- " style)
    item_offset: int = 2  # columns from a dash to the item's content


def block_mapping_lines(value: Mapping[str, object], column: int, style: BlockStyle) -> list[str]:
    lines: list[str] = []
    for key, child in value.items():
        lines.extend(block_entry_lines(key, child, column, style))
    return lines


def block_entry_lines(key: str, value: object, column: int, style: BlockStyle) -> list[str]:
    indent = " " * column
    if isinstance(value, Mapping):
        return [f"{indent}{key}:", *block_mapping_lines(value, column + style.mapping_step, style)]
    if isinstance(value, list):
        lines = [f"{indent}{key}:"]
        for item in value:
            lines.extend(block_item_lines(item, column + style.sequence_offset, style))
        return lines
    return [f"{indent}{key}: {scalar(value)}"]


def block_item_lines(item: object, dash_column: int, style: BlockStyle) -> list[str]:
    content_column = dash_column + style.item_offset
    dash = " " * dash_column + "-" + " " * (style.item_offset - 1)
    if isinstance(item, Mapping):
        lines = block_mapping_lines(item, content_column, style)
        return [dash + lines[0][content_column:], *lines[1:]]
    return [dash + scalar(item)]


def block_value_text(value: object, column: int, style: BlockStyle, eol: str) -> str:
    """A mapping or scalar written from `column` onwards, its first line not indented."""
    if isinstance(value, Mapping):
        lines = block_mapping_lines(value, column, style)
        return eol.join([lines[0][column:], *lines[1:]])
    return scalar(value)
