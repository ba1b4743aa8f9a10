"""The YAML syntax of kube-apiserver's policy reader, as ruamel.yaml subclasses and a decoder.

kube-apiserver reads `--audit-policy-file` with sigs.k8s.io/yaml, whose YAML parser is go-yaml
v2 (go.yaml.in/yaml/v2 v2.4.2 for kubernetes v1.34.4), a Go port of libyaml: YAML 1.1, with
libyaml's reader and scanner rules. ruamel.yaml, a descendant of PyYAML, leans to YAML 1.2 and
differs in ways that change verdicts (each checked against the real kube-apiserver v1.34.4, see
tests/unit/test_policy_yaml_syntax.py):

- Directives: only `%YAML 1.1` (one or two digits each) and `%TAG`; any other version or an
  unknown directive is an error (parserc.go, scannerc.go yaml_parser_scan_directive).
- Double-quoted escapes: `\\'` is one, `\\/` is not; `\\u`/`\\U` must not name a surrogate or
  a code point past U+10FFFF.
- Tabs: outside flow context, go-yaml skips a tab wherever a simple key cannot start (after
  `key:`, after a scalar, before a comment), and a plain scalar keeps tabs between its words.
- NEL, LS and PS are line breaks everywhere (the reader counts lines on them).
- In flow context `:` and `?` are always indicators: `[get, :a]` is an error, and `a?b` ends
  at the `?`; `a:b` stays one scalar.
- Tags: a tag ends at a blank (no `#` in it), `!!` needs a suffix, and the non-specific tag
  `!` makes a scalar a string, never a number or a boolean.
- Anchor and alias names are `[0-9A-Za-z_-]` only.
- A block scalar header may carry tabs and a `#` comment without a space before it; a tab in
  a block scalar's indentation is an error.
- Nothing after `...` is read once the first document is complete.

The encoding rules are those of readerc.go: a UTF-16 byte order mark selects UTF-16 (LE or
BE), anything else is UTF-8 (a UTF-8 BOM is dropped), so a UTF-32 file is refused; invalid
sequences are errors; the allowed characters are tab, LF, CR, NEL and the printable ranges of
YAML 1.1. Two places where kaudit is stricter on purpose, because following go-yaml exactly
would mean following its read buffer: the whole file is checked (go-yaml reads 512 bytes at a
time and stops after the first document, so it never sees a bad byte far into a later one),
and a U+FEFF that may start that buffer is refused (see _bom_hazards).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import DocumentEndEvent, ScalarEvent
from ruamel.yaml.parser import Parser, ParserError
from ruamel.yaml.reader import Reader
from ruamel.yaml.scanner import Scanner, ScannerError
from ruamel.yaml.tag import Tag
from ruamel.yaml.tokens import (
    DirectiveToken,
    DocumentEndToken,
    ScalarToken,
    TagToken,
)

from kaudit.yamltext import YamlTextError

_BLANK: Final = " \t"
_BREAK: Final = "\r\n\x85\u2028\u2029"
_BREAKZ: Final = _BREAK + "\0"
_BLANKZ: Final = _BLANK + _BREAKZ
_ALPHA: Final = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
_URI_CHARACTERS: Final = _ALPHA | frozenset(";/?:@&=+$,.!~*'()[]%")
_HEX: Final = frozenset("0123456789ABCDEFabcdef")
_ANCHOR_END: Final = _BLANKZ + "?:,]}%@`"
_PLAIN_START_EXCLUDED: Final = _BLANKZ + "-?:,[]{}#&*!|>'\"%@`"
_STR_TAG: Final = "tag:yaml.org,2002:str"
# readerc.go: the characters go-yaml accepts in a stream (YAML 1.1's printable set).
_NOT_ALLOWED: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)
# go-yaml's reader decodes its input 512 bytes at a time into a buffer, and its scanner skips
# one character at the start of a line whenever that buffer happens to begin with a U+FEFF
# (yamlprivateh.go is_bom looks at the buffer's first bytes, not at the current position).
# The buffer begins at a U+FEFF only if one is the first character of the text or sits just
# before a 512-byte boundary (the scanner looks at most 8 characters ahead): there the outcome
# depends on buffer state kaudit cannot follow, so kaudit refuses the file.
_READ_CHUNK_BYTES: Final = 512
_LOOKAHEAD_CHARACTERS: Final = 8
# scannerc.go's escapes: no `\/` (a JSON escape, not YAML 1.1), and `\'`.
_ESCAPES: Final = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\x09",
    "\t": "\x09",
    "n": "\x0a",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\x0d",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "'": "'",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_ESCAPE_CODE_LENGTHS: Final = {"x": 2, "u": 4, "U": 8}


class YamlEncodingError(YamlTextError):
    """Bytes kube-apiserver's YAML reader refuses: bad UTF-8 or UTF-16, or a forbidden character."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def configure_goyaml_syntax(yaml: YAML) -> None:
    """Make `yaml` read, scan and parse as go-yaml v2 does (policies only)."""
    yaml.Reader = GoYamlReader
    yaml.Scanner = GoYamlScanner
    yaml.Parser = GoYamlParser
    # YAML 1.1 processing: the 1.1 branches of ruamel's parser are libyaml's.
    yaml.version = (1, 1)


def decode_yaml_bytes(data: bytes) -> str:
    """Decode a (non-JSON) policy file as go-yaml's reader does, or raise YamlEncodingError."""
    if data.startswith(codecs.BOM_UTF16_LE):
        encoding, skipped = "utf-16-le", 2
    elif data.startswith(codecs.BOM_UTF16_BE):
        encoding, skipped = "utf-16-be", 2
    elif data.startswith(codecs.BOM_UTF8):
        encoding, skipped = "utf-8", 3
    else:
        encoding, skipped = "utf-8", 0
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise YamlEncodingError(
            "not valid YAML: the file is UTF-32 (it starts with a UTF-32 byte order mark); "
            "kube-apiserver's YAML reader reads UTF-8 and UTF-16 only (it refuses this file "
            'with "control characters are not allowed"): save it as UTF-8',
            line=1,
        )
    body = data[skipped:]
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as error:
        before = body[: error.start].decode(encoding, "replace")
        line = _line_of(before, len(before))
        name = "UTF-8" if encoding == "utf-8" else "UTF-16"
        byte = body[error.start : error.start + 1].hex()
        raise YamlEncodingError(
            f"not valid YAML: the bytes at offset {error.start + skipped} (line {line}, byte "
            f"0x{byte}) are not valid {name} ({error.reason}); kube-apiserver reads a policy "
            "as UTF-8, or as UTF-16 when it starts with a UTF-16 byte order mark (UTF-32 "
            "is not supported)",
            line=line,
        ) from None
    check_yaml_characters(text)
    for index in _bom_hazards(text, encoding, skipped=skipped):
        message, line = _bom_hazard(text, index)
        raise YamlEncodingError(message, line=line)
    return text


def check_yaml_characters(text: str) -> None:
    """Refuse a character go-yaml's reader refuses ("control characters are not allowed")."""
    found = _NOT_ALLOWED.search(text)
    if found is None:
        return
    code = ord(found.group())
    line = _line_of(text, found.start())
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    raise YamlEncodingError(
        f"not valid YAML: character U+{code:04X} on line {line} is not allowed "
        "(kube-apiserver: control characters are not allowed); YAML allows tab, line feed, "
        "carriage return, NEL and printable characters only: write it as an escape in a "
        f'double-quoted value ("{escape}")',
        line=line,
    )


def _line_of(text: str, index: int) -> int:
    """The line of text[index], counting line breaks as go-yaml does (CR LF is one)."""
    before = text[:index].replace("\r\n", "\n")
    return 1 + sum(before.count(brk) for brk in "\n\r\x85\u2028\u2029")


def _bom_hazards(text: str, encoding: str, *, skipped: int) -> Iterator[int]:
    """Indexes of the U+FEFF characters that may start go-yaml's read buffer (see above)."""
    if "\ufeff" not in text:
        return
    sizes = [_encoded_size(character, encoding) for character in text]
    starts = [skipped, *accumulate(sizes, initial=skipped)][1:]
    for index, character in enumerate(text):
        if character != "\ufeff":
            continue
        if index == 0:
            yield index
            continue
        start = starts[index]
        boundary = (start // _READ_CHUNK_BYTES + 1) * _READ_CHUNK_BYTES
        ahead = starts[min(index + _LOOKAHEAD_CHARACTERS, len(starts) - 1)]
        # Still in the buffer when the scanner asks for the next chunk, or the first
        # character decoded from it (one split across the boundary is carried over).
        if ahead >= boundary or start + sizes[index] > boundary or start % _READ_CHUNK_BYTES == 0:
            yield index


def _bom_hazard(text: str, index: int) -> tuple[str, int]:
    line = _line_of(text, index)
    message = (
        f"not valid YAML: a byte order mark (U+FEFF) on line {line} where kube-apiserver's "
        "YAML reader may skip a character it should not (go-yaml's BOM check looks at its "
        "read buffer, not at the text): remove the U+FEFF"
    )
    return message, line


def _encoded_size(character: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(character.encode("utf-8"))
    return 4 if ord(character) > 0xFFFF else 2


class GoYamlReader(Reader):
    """ruamel's reader with go-yaml's character check and line counting."""

    def check_printable(self, data: Any) -> None:
        text = str(data)
        try:
            check_yaml_characters(text)
        except YamlEncodingError as error:
            raise RefusedCharacterError(str(error), line=error.line) from None
        # A str input: go-yaml would have read it as UTF-8 and dropped a leading BOM.
        bom = 1 if text.startswith("\ufeff") else 0
        for index in _bom_hazards(text[bom:], "utf-8", skipped=3 * bom):
            message, line = _bom_hazard(text, index + bom)
            raise RefusedCharacterError(message, line=line)

    def forward(self, length: int = 1) -> None:
        # go-yaml's skip_line counts NEL, LS and PS as line breaks, and every other character
        # (U+FEFF too, unless it is the byte order mark that starts the text) as a column.
        if self.pointer + length + 1 >= len(self.buffer):
            self.update(length + 1)
        while length != 0:
            character = self.buffer[self.pointer]
            self.pointer += 1
            self.index += 1
            if character in "\n\x85\u2028\u2029" or (
                character == "\r" and self.buffer[self.pointer] != "\n"
            ):
                self.line += 1
                self.column = 0
            elif not (character == "\ufeff" and self.index == 1):
                self.column += 1
            length -= 1


class RefusedCharacterError(MarkedYAMLError):
    """A character go-yaml's reader refuses, found by the reader: the message says where."""

    def __init__(self, message: str, *, line: int | None) -> None:
        super().__init__(problem=message)
        self.line = line

    def __str__(self) -> str:
        return str(self.problem)


class GoYamlScanner(Scanner):
    """ruamel's scanner with scannerc.go's rules where they differ (see the module docstring)."""

    @property
    def scanner_processing_version(self) -> Any:
        return (1, 1)

    # --- where a token may start ----------------------------------------------------------

    def fetch_more_tokens(self) -> Any:
        try:
            return super().fetch_more_tokens()
        except ScannerError as error:
            if error.problem is not None and "'\\t'" in error.problem:
                error.problem += (
                    " (kube-apiserver's YAML reader takes a tab as a separator only where no "
                    "key can start: after `key:`, after a value, inside [] or {}; it cannot "
                    "indent a line or follow `- `: use spaces)"
                )
            raise

    def check_value(self) -> Any:
        if self.flow_level:
            return True
        return self.reader.peek(1) in _BLANKZ

    def check_plain(self) -> Any:
        peek = self.reader.peek
        character = peek()
        if character not in _PLAIN_START_EXCLUDED:
            return True
        following = peek(1)
        if character == "-" and following not in _BLANK:
            return True
        return not self.flow_level and character in "?:" and following not in _BLANKZ

    def scan_to_next_token(self) -> Any:
        reader = self.reader
        peek = reader.peek
        if reader.index == 0 and peek() == "\ufeff":
            reader.forward()
        while True:
            # A tab separates tokens wherever a simple key cannot start (yaml_parser_scan_
            # to_next_token): after `key:`, after a scalar, in flow context.
            while peek() == " " or (
                peek() == "\t" and (self.flow_level or not self.allow_simple_key)
            ):
                reader.forward()
            if peek() == "#":
                while peek() not in _BREAKZ:
                    reader.forward()
            if peek() not in _BREAK:
                return None
            self.scan_line_break()
            if not self.flow_level:
                self.allow_simple_key = True

    # --- directives -----------------------------------------------------------------------

    def scan_directive(self) -> Any:
        reader = self.reader
        start_mark = reader.get_mark()
        reader.forward()
        name = self._scan_alpha()
        if not name:
            self._directive_error(start_mark, "could not find expected directive name")
        if reader.peek() not in _BLANKZ:
            self._directive_error(start_mark, "found unexpected non-alphabetical character")
        value: Any
        if name == "YAML":
            value = self._scan_version_directive_value(start_mark)
        elif name == "TAG":
            value = self._scan_tag_directive_value(start_mark)
        else:
            self._directive_error(
                start_mark,
                f"found unknown directive name %{name} (kube-apiserver's YAML reader knows only "
                "%YAML and %TAG)",
            )
        end_mark = reader.get_mark()
        self._skip_blanks()
        if reader.peek() == "#":
            while reader.peek() not in _BREAKZ:
                reader.forward()
        if reader.peek() not in _BREAKZ:
            self._directive_error(start_mark, "did not find expected comment or line break")
        self.scan_line_break()
        return DirectiveToken(name, value, start_mark, end_mark)

    def _scan_version_directive_value(self, start_mark: Any) -> tuple[int, int]:
        self._skip_blanks()
        major = self._scan_version_number(start_mark)
        if self.reader.peek() != ".":
            self._directive_error(start_mark, "did not find expected digit or '.' character")
        self.reader.forward()
        minor = self._scan_version_number(start_mark)
        return major, minor

    def _scan_version_number(self, start_mark: Any) -> int:
        digits = ""
        while self.reader.peek() in "0123456789":
            digits += self.reader.peek()
            self.reader.forward()
            if len(digits) > 2:
                self._directive_error(start_mark, "found extremely long version number")
        if not digits:
            self._directive_error(start_mark, "did not find expected version number")
        return int(digits)

    def _scan_tag_directive_value(self, start_mark: Any) -> tuple[str, str]:
        self._skip_blanks()
        handle = self._scan_tag_handle(start_mark, directive=True)
        if self.reader.peek() not in _BLANK:
            self._directive_error(start_mark, "did not find expected whitespace")
        self._skip_blanks()
        prefix = self._scan_tag_uri(start_mark, "", directive=True)
        if self.reader.peek() not in _BLANKZ:
            self._directive_error(start_mark, "did not find expected whitespace or line break")
        return handle, prefix

    def _directive_error(self, start_mark: Any, problem: str) -> None:
        raise ScannerError(
            "while scanning a directive", start_mark, problem, self.reader.get_mark()
        )

    # --- anchors, aliases, tags -----------------------------------------------------------

    def scan_anchor(self, TokenClass: Any) -> Any:  # noqa: N803 (ruamel's signature)
        reader = self.reader
        start_mark = reader.get_mark()
        kind = "an alias" if reader.peek() == "*" else "an anchor"
        reader.forward()
        name = self._scan_alpha()
        end_mark = reader.get_mark()
        if not name or reader.peek() not in _ANCHOR_END:
            raise ScannerError(
                f"while scanning {kind}",
                start_mark,
                "did not find expected alphabetic or numeric character (kube-apiserver's YAML "
                "reader allows only letters, digits, '_' and '-' in anchor names)",
                reader.get_mark(),
            )
        return TokenClass(name, start_mark, end_mark)

    def scan_tag(self) -> Any:
        reader = self.reader
        start_mark = reader.get_mark()
        handle: str | None
        if reader.peek(1) == "<":
            reader.forward(2)
            handle, suffix = None, self._scan_tag_uri(start_mark, "")
            if reader.peek() != ">":
                self._tag_error(start_mark, "did not find the expected '>'")
            reader.forward()
        else:
            handle = self._scan_tag_handle(start_mark)
            if len(handle) > 1 and handle.endswith("!"):
                suffix = self._scan_tag_uri(start_mark, "")
            else:
                # Not a handle after all: `!suffix`, or `!` alone (the non-specific tag).
                suffix = self._scan_tag_uri(start_mark, handle)
                handle = "!"
                if not suffix:
                    handle, suffix = None, "!"
        if reader.peek() not in _BLANKZ:
            self._tag_error(start_mark, "did not find expected whitespace or line break")
        return TagToken((handle, suffix), start_mark, reader.get_mark())

    def _scan_tag_handle(self, start_mark: Any, *, directive: bool = False) -> str:
        if self.reader.peek() != "!":
            self._tag_error(start_mark, "did not find expected '!'", directive=directive)
        self.reader.forward()
        handle = "!" + self._scan_alpha()
        if self.reader.peek() == "!":
            self.reader.forward()
            handle += "!"
        elif directive and handle != "!":
            self._tag_error(start_mark, "did not find expected '!'", directive=directive)
        return handle

    def _scan_tag_uri(self, start_mark: Any, head: str, *, directive: bool = False) -> str:
        reader = self.reader
        chunks = [head[1:]]
        found = bool(head)
        while reader.peek() in _URI_CHARACTERS:
            if reader.peek() == "%":
                chunks.append(self._scan_uri_escapes(start_mark, directive=directive))
            else:
                chunks.append(reader.peek())
                reader.forward()
            found = True
        if not found:
            self._tag_error(start_mark, "did not find expected tag URI", directive=directive)
        return "".join(chunks)

    def _scan_uri_escapes(self, start_mark: Any, *, directive: bool) -> str:
        reader = self.reader
        octets = bytearray()
        width = 1
        while len(octets) < width:
            if not (reader.peek() == "%" and reader.peek(1) in _HEX and reader.peek(2) in _HEX):
                self._tag_error(start_mark, "did not find URI escaped octet", directive=directive)
            octet = int(reader.peek(1) + reader.peek(2), 16)
            if not octets:
                width = _utf8_width(octet)
                if width == 0:
                    self._tag_error(
                        start_mark, "found an incorrect leading UTF-8 octet", directive=directive
                    )
            elif octet & 0xC0 != 0x80:
                self._tag_error(
                    start_mark, "found an incorrect trailing UTF-8 octet", directive=directive
                )
            octets.append(octet)
            reader.forward(3)
        return octets.decode("utf-8", "replace")

    def _tag_error(self, start_mark: Any, problem: str, *, directive: bool = False) -> None:
        context = "while parsing a %TAG directive" if directive else "while parsing a tag"
        raise ScannerError(context, start_mark, problem, self.reader.get_mark())

    # --- block scalars: the header and the indentation ------------------------------------

    def scan_block_scalar_indicators(self, start_mark: Any) -> Any:
        reader = self.reader
        chomping: bool | None = None
        increment: int | None = None
        for _ in range(2):
            character = reader.peek()
            if character in "+-" and chomping is None:
                chomping = character == "+"
            elif character in "0123456789" and increment is None:
                if character == "0":
                    raise ScannerError(
                        "while scanning a block scalar",
                        start_mark,
                        "found an indentation indicator equal to 0",
                        reader.get_mark(),
                    )
                increment = int(character)
            else:
                break
            reader.forward()
        return chomping, increment

    def scan_block_scalar_ignored_line(self, start_mark: Any) -> Any:
        # Blanks (tabs too), then a comment that needs no space before its `#`.
        self._skip_blanks()
        if self.reader.peek() == "#":
            while self.reader.peek() not in _BREAKZ:
                self.reader.forward()
        if self.reader.peek() not in _BREAKZ:
            raise ScannerError(
                "while scanning a block scalar",
                start_mark,
                "did not find expected comment or line break",
                self.reader.get_mark(),
            )
        self.scan_line_break()
        return None

    def scan_block_scalar_indentation(self) -> Any:
        # No "more indented follow up line" error (ruamel's own), but go-yaml's tab check.
        reader = self.reader
        chunks: list[str] = []
        max_indent = 0
        end_mark = reader.get_mark()
        while True:
            while reader.peek() == " ":
                reader.forward()
            max_indent = max(max_indent, reader.column)
            self._check_block_scalar_tab(0)
            if reader.peek() not in _BREAK:
                return chunks, max_indent, end_mark
            chunks.append(self.scan_line_break())
            end_mark = reader.get_mark()

    def scan_block_scalar_breaks(self, indent: int) -> Any:
        reader = self.reader
        chunks: list[str] = []
        end_mark = reader.get_mark()
        while True:
            while reader.column < indent and reader.peek() == " ":
                reader.forward()
            self._check_block_scalar_tab(indent)
            if reader.peek() not in _BREAK:
                return chunks, end_mark
            chunks.append(self.scan_line_break())
            end_mark = reader.get_mark()

    def _check_block_scalar_tab(self, indent: int) -> None:
        if self.reader.peek() == "\t" and (indent == 0 or self.reader.column < indent):
            raise ScannerError(
                "while scanning a block scalar",
                None,
                "found a tab character where an indentation space is expected",
                self.reader.get_mark(),
            )

    # --- quoted scalars: go-yaml's escapes ------------------------------------------------

    def scan_flow_scalar_non_spaces(self, double: Any, start_mark: Any) -> Any:
        reader = self.reader
        chunks: list[str] = []
        while True:
            length = 0
            while reader.peek(length) not in " \n'\"\\\0\t\r\x85\u2028\u2029":
                length += 1
            if length:
                chunks.append(reader.prefix(length))
                reader.forward(length)
            character = reader.peek()
            if not double and character == "'" and reader.peek(1) == "'":
                chunks.append("'")
                reader.forward(2)
            elif (double and character == "'") or (not double and character in '"\\'):
                chunks.append(character)
                reader.forward()
            elif double and character == "\\":
                reader.forward()
                chunks.extend(self._scan_escape(start_mark))
            else:
                return chunks

    def _scan_escape(self, start_mark: Any) -> list[str]:
        reader = self.reader
        character = reader.peek()
        if character in _ESCAPES:
            reader.forward()
            return [_ESCAPES[character]]
        if character in _ESCAPE_CODE_LENGTHS:
            length = _ESCAPE_CODE_LENGTHS[character]
            reader.forward()
            digits = reader.prefix(length)
            if len(digits) < length or any(digit not in _HEX for digit in digits):
                self._quoted_error(start_mark, "did not find expected hexdecimal number")
            code = int(digits, 16)
            if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
                self._quoted_error(
                    start_mark,
                    f"found invalid Unicode character escape code \\{character}{digits} (a "
                    "surrogate or past U+10FFFF)",
                )
            reader.forward(length)
            return [chr(code)]
        if character in _BREAK:
            self.scan_line_break()
            return list(self.scan_flow_scalar_breaks(True, start_mark))
        hint = " (YAML 1.1 has no \\/ escape: write / as it is)" if character == "/" else ""
        self._quoted_error(start_mark, f"found unknown escape character {character!r}{hint}")
        return []

    def _quoted_error(self, start_mark: Any, problem: str) -> None:
        raise ScannerError(
            "while parsing a quoted scalar", start_mark, problem, self.reader.get_mark()
        )

    # --- plain scalars: yaml_parser_scan_plain_scalar -------------------------------------

    def scan_plain(self) -> Any:
        reader = self.reader
        peek = reader.peek
        chunks: list[str] = []
        start_mark = end_mark = reader.get_mark()
        indent = self.indent + 1
        whitespaces: list[str] = []
        leading_break = ""
        trailing_breaks: list[str] = []
        leading_blanks = False
        while not self._at_document_marker() and peek() != "#":
            while peek() not in _BLANKZ:
                character = peek()
                if (character == ":" and peek(1) in _BLANKZ) or (
                    self.flow_level and character in ",?[]{}"
                ):
                    break
                if leading_blanks:
                    chunks.append(_folded(leading_break, trailing_breaks))
                    leading_break, trailing_breaks, leading_blanks = "", [], False
                elif whitespaces:
                    chunks.extend(whitespaces)
                    whitespaces = []
                chunks.append(character)
                reader.forward()
                end_mark = reader.get_mark()
            if peek() not in _BLANK + _BREAK:
                break
            while peek() in _BLANK + _BREAK:
                if peek() in _BLANK:
                    if leading_blanks and reader.column < indent and peek() == "\t":
                        raise ScannerError(
                            "while scanning a plain scalar",
                            start_mark,
                            "found a tab character that violates indentation",
                            reader.get_mark(),
                        )
                    if not leading_blanks:
                        whitespaces.append(peek())
                    reader.forward()
                elif not leading_blanks:
                    whitespaces = []
                    leading_break = self.scan_line_break()
                    leading_blanks = True
                else:
                    trailing_breaks.append(self.scan_line_break())
            if not self.flow_level and reader.column < indent:
                break
        if leading_blanks:
            self.allow_simple_key = True
        return ScalarToken("".join(chunks), True, start_mark, end_mark)

    def _at_document_marker(self) -> bool:
        reader = self.reader
        return (
            reader.column == 0 and reader.prefix(3) in ("---", "...") and reader.peek(3) in _BLANKZ
        )

    # --- helpers --------------------------------------------------------------------------

    def _scan_alpha(self) -> str:
        length = 0
        while self.reader.peek(length) in _ALPHA:
            length += 1
        text = str(self.reader.prefix(length))
        self.reader.forward(length)
        return text

    def _skip_blanks(self) -> None:
        while self.reader.peek() in _BLANK:
            self.reader.forward()


def _folded(leading_break: str, trailing_breaks: list[str]) -> str:
    # A single line break folds into a space; LS and PS are kept (go-yaml and the spec).
    if leading_break == "\n":
        return "".join(trailing_breaks) if trailing_breaks else " "
    return leading_break + "".join(trailing_breaks)


def _utf8_width(octet: int) -> int:
    if octet & 0x80 == 0:
        return 1
    if octet & 0xE0 == 0xC0:
        return 2
    if octet & 0xF0 == 0xE0:
        return 3
    if octet & 0xF8 == 0xF0:
        return 4
    return 0


class GoYamlParser(Parser):
    """ruamel's parser with parserc.go's directives, document end and `!` tag."""

    def process_directives(self) -> Any:
        version = None
        self.tag_handles: dict[Any, Any] = {}
        while self.scanner.check_token(DirectiveToken):
            token = self.scanner.get_token()
            if token.name == "YAML":
                if version is not None:
                    raise ParserError(
                        None, None, "found duplicate %YAML directive", token.start_mark
                    )
                if tuple(token.value) != (1, 1):
                    major, minor = token.value
                    raise ParserError(
                        None,
                        None,
                        f"found incompatible YAML document: %YAML {major}.{minor} "
                        "(kube-apiserver's YAML reader accepts only %YAML 1.1)",
                        token.start_mark,
                    )
                version = (1, 1)
            else:
                handle, prefix = token.value
                if handle in self.tag_handles:
                    raise ParserError(
                        None, None, "found duplicate %TAG directive", token.start_mark
                    )
                self.tag_handles[handle] = prefix
        declared = self.tag_handles.copy() or None
        for handle, prefix in self.DEFAULT_TAGS.items():
            self.tag_handles.setdefault(handle, prefix)
        return version, declared

    def parse_document_end(self) -> Any:
        # go-yaml reads nothing after `...`: no check of what follows on that line.
        token = self.scanner.peek_token()
        start_mark = end_mark = token.start_mark
        explicit = False
        if self.scanner.check_token(DocumentEndToken):
            end_mark = self.scanner.get_token().end_mark
            explicit = True
        self.state = self.parse_document_start
        return DocumentEndEvent(start_mark, end_mark, explicit=explicit)

    def parse_node(self, block: Any = False, indentless_sequence: Any = False) -> Any:
        event = super().parse_node(block=block, indentless_sequence=indentless_sequence)
        if isinstance(event, ScalarEvent) and event.ctag is not None and str(event.ctag) == "!":
            if event.value == "<<":
                # decode.go isMerge: a `!`-tagged << is implicit, so still a merge key.
                event.ctag = None
                event.implicit = (True, False)
            else:
                # resolve.go: "!" is no tag it resolves, so the value stays a string.
                event.ctag = Tag(suffix=_STR_TAG)
                event.implicit = (False, False)
        return event
