"""Read a JSON policy file into plain values the way kube-apiserver's JSON serializer sees it.

kube-apiserver's universal decoder asks its JSON serializer first, and that one claims every
file whose first character after Unicode spaces is `{` (k8s.io/apimachinery util/yaml
IsJSONBuffer: `bytes.TrimLeftFunc(buf, unicode.IsSpace)`, so NEL, NBSP, U+2028 and the other
Unicode spaces are skipped too, though JSON itself allows only space, tab, CR and LF). Such a
file is decoded as JSON only, never as YAML: a YAML flow mapping with a comment, a trailing
comma or a later `---` is a syntax error, not a policy.

The JSON is read twice on the Go side, and both readers shape this module:

- runtime/serializer/json/meta.go SimpleMetaFactory.Interpret runs encoding/json over the whole
  text for apiVersion and kind. So every syntax error anywhere refuses the file (encoding/json
  checks the whole text first, trailing data included), and the two fields match keys with
  Go's simple case folding, the last one in document order winning (see validation.py).
- sigs.k8s.io/json (a fork of encoding/json: case-sensitive, ints kept as int64) then decodes
  the Policy strictly: a duplicate key of a struct field or map is a strict error (kube-apiserver
  logs the lenient fallback); the lenient decode assigns the duplicates one after the other, so
  a later null leaves a string, bool or struct as it was, a later object is merged into the
  earlier one, and anything else replaces it. A type error in a value a duplicate replaced still
  fails the decode, so replaced values are kept (`JsonDocument.shadowed`) for the checker.

Strings are read as Go reads them: a lone or mismatched `\\u` surrogate becomes U+FFFD, and so
does every byte of invalid UTF-8 (one U+FFFD per byte, like utf8.DecodeRune). Numbers follow
PreserveInts: an integer literal (no `.`) within int64 is an int, anything else a float; a
literal past float64's range (1e400) is kept as an infinite float, which fails wherever a typed
field reads it, as strconv does, and is harmless in an unknown field, which Go skips unread.

kaudit's own limits apply as for YAML: nesting depth (MAX_YAML_DEPTH, where Go allows 10000),
number of values (MAX_YAML_NODES) and the length of one string (MAX_POLICY_SCALAR_BYTES); the
caller checks the size of the file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Final

from kaudit.limits import MAX_POLICY_SCALAR_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES
from kaudit.policy.yamldoc import Finding, LoadedDocument, child_path

# Go's unicode.IsSpace: the Latin-1 spaces and the Unicode White_Space property (Go's tables),
# as UTF-8, so that a file of a million spaces is skipped by one regular expression.
_GO_SPACES: Final = re.compile(
    rb"(?:[\t\n\x0b\x0c\r ]|\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]"
    rb"|\xe2\x81\x9f|\xe3\x80\x80)*"
)
_JSON_SPACE: Final = re.compile(rb"[ \t\r\n]*")
_NUMBER: Final = re.compile(rb"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_STRING: Final = re.compile(rb'"((?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*)"')
_ESCAPE: Final = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|(.))", re.DOTALL)
_SIMPLE_ESCAPES: Final = {
    b'"': '"',
    b"\\": "\\",
    b"/": "/",
    b"b": "\b",
    b"f": "\f",
    b"n": "\n",
    b"r": "\r",
    b"t": "\t",
}
_LITERALS: Final = ((b"true", True), (b"false", False), (b"null", None))
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1
# Python refuses int() of decimal strings over 4300 digits; none of them fits int64 anyway.
_MAX_INT_DIGITS: Final = 20


def _go_replace(error: UnicodeError) -> tuple[str, int]:
    """One U+FFFD per invalid byte, resuming at the next byte, as utf8.DecodeRune does."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\ufffd", error.start + 1


_GO_REPLACE: Final = "kaudit-go-utf8-replace"
codecs.register_error(_GO_REPLACE, _go_replace)


def is_json_buffer(data: bytes) -> bool:
    """k8s.io/apimachinery util/yaml IsJSONBuffer: `{` after Go's unicode.IsSpace characters.

    A UTF-8 byte order mark is no space to Go, so a file that starts with one is YAML.
    """
    start = _GO_SPACES.match(data)
    end = start.end() if start else 0
    return data[end : end + 1] == b"{"


# Where a key or value sits, structurally: keys and list indices from the document's root.
PathParts = tuple[str | int, ...]


@dataclass(frozen=True)
class ShadowedValue:
    """A value that a later duplicate key replaced: Go decoded it too, and its type errors count.

    `parts` is where it was, structurally (keys and indices from the root), `path` the same as
    a field path.
    """

    parts: PathParts
    path: str
    value: object


@dataclass
class JsonDocument(LoadedDocument):
    """A JSON policy: keys in document order (the last assignment of a duplicate counts)."""

    shadowed: list[ShadowedValue] = field(default_factory=list)


class JsonSyntaxError(Exception):
    """What Go's JSON scanner says, at a byte offset (the byte it stopped at)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class JsonLimitError(Exception):
    """Input past one of kaudit's limits, at a byte offset."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def load_json_document(data: bytes) -> JsonDocument:
    """Parse `data` as kube-apiserver's JSON decoder would; problems are findings, never raised."""
    loaded = JsonDocument()
    parser = _Parser(data, loaded)
    try:
        value = parser.document()
    except JsonSyntaxError as error:
        loaded.errors.append(_syntax_finding(parser, error))
        return loaded
    except JsonLimitError as error:
        line, column = parser.position(error.offset)
        loaded.errors.append(Finding("", f"{error.message} (line {line}, column {column})", line))
        return loaded
    loaded.found = True
    loaded.value = value
    return loaded


def _syntax_finding(parser: _Parser, error: JsonSyntaxError) -> Finding:
    line, column = parser.position(error.offset)
    if error.offset < parser.data.find(b"{"):
        why = (
            "kube-apiserver picks its JSON decoder when only Unicode spaces come before the "
            "first {, but JSON allows nothing but space, tab, CR and LF there"
        )
    else:
        why = (
            "kube-apiserver reads a file whose first character is { as JSON only, never as "
            "YAML (no comments, no trailing commas, no unquoted words, nothing after the "
            "closing })"
        )
    return Finding(
        "", f"not valid JSON: {error.message} (line {line}, column {column}); {why}", line
    )


class _Parser:
    """A recursive-descent reader of Go's JSON grammar with Go's scanner messages."""

    def __init__(self, data: bytes, loaded: JsonDocument) -> None:
        self.data = data
        self.loaded = loaded
        self.nodes = 0
        # The parser only moves forward: count line breaks from the last position asked for
        # (a table of a million line starts would cost more memory than the file).
        self._counted_offset = 0
        self._counted_lines = 1

    # positions

    def position(self, offset: int) -> tuple[int, int]:
        """Line and column (in characters) of a byte offset, both from 1."""
        start = self.data.rfind(b"\n", 0, offset) + 1
        column = len(self.data[start:offset].decode("utf-8", _GO_REPLACE)) + 1
        return self.line(offset), column

    def line(self, offset: int) -> int:
        if offset < self._counted_offset:
            self._counted_offset, self._counted_lines = 0, 1
        self._counted_lines += self.data.count(b"\n", self._counted_offset, offset)
        self._counted_offset = offset
        return self._counted_lines

    def skip_space(self, offset: int) -> int:
        match = _JSON_SPACE.match(self.data, offset)
        return match.end() if match else offset

    def unexpected(self, offset: int, context: str) -> JsonSyntaxError:
        if offset >= len(self.data):
            return JsonSyntaxError("unexpected end of JSON input", offset)
        character = _quote_byte(self.data[offset])
        return JsonSyntaxError(f"invalid character {character} {context}", offset)

    # grammar

    def document(self) -> object:
        if not self.data.strip(b" \t\r\n"):
            raise JsonSyntaxError("unexpected end of JSON input", len(self.data))
        offset = self.skip_space(0)
        value, offset = self.value(offset, "", (), depth=0)
        offset = self.skip_space(offset)
        if offset < len(self.data):
            raise self.unexpected(offset, "after top-level value")
        return value

    def value(self, offset: int, path: str, parts: PathParts, *, depth: int) -> tuple[object, int]:
        self.nodes += 1
        if self.nodes > MAX_YAML_NODES:
            raise JsonLimitError(
                f"more than kaudit's limit of {MAX_YAML_NODES} JSON values", offset
            )
        if depth >= MAX_YAML_DEPTH:
            raise JsonLimitError(
                f"nesting deeper than kaudit's limit of {MAX_YAML_DEPTH} levels", offset
            )
        self.loaded.lines.setdefault(path, self.line(offset))
        head = self.data[offset : offset + 1]
        if head in (b"{", b"["):
            if head == b"{":
                return self.json_object(offset + 1, path, parts, depth=depth + 1)
            return self.json_array(offset + 1, path, parts, depth=depth + 1)
        if head == b'"':
            return self.string(offset)
        if head == b"-" or head.isdigit():
            return self.number(offset)
        for word, literal in _LITERALS:
            if head == word[:1]:
                return literal, self.literal(offset, word)
        raise self.unexpected(offset, "looking for beginning of value")

    def json_object(
        self, offset: int, path: str, parts: PathParts, *, depth: int
    ) -> tuple[dict[str, object], int]:
        result: dict[str, object] = {}
        key_lines: dict[str, int] = {}
        offset = self.skip_space(offset)
        if self.data[offset : offset + 1] == b"}":
            return result, offset + 1
        while True:
            if self.data[offset : offset + 1] != b'"':
                raise self.unexpected(offset, "looking for beginning of object key string")
            key_line = self.line(offset)
            key, offset = self.string(offset)
            offset = self.skip_space(offset)
            if self.data[offset : offset + 1] != b":":
                raise self.unexpected(offset, "after object key")
            offset = self.skip_space(offset + 1)
            item_path = child_path(path, key)
            item, offset = self.value(offset, item_path, (*parts, key), depth=depth)
            self._assign(result, key, item, parts, item_path)
            if key in key_lines:
                self.loaded.duplicates.append(
                    Finding(
                        item_path,
                        f'duplicate key "{key}" (lines {key_lines[key]} and {key_line})',
                        key_line,
                    )
                )
            else:
                key_lines[key] = key_line
                self.loaded.lines[item_path] = key_line
            offset = self.skip_space(offset)
            separator = self.data[offset : offset + 1]
            if separator == b"}":
                return result, offset + 1
            if separator != b",":
                raise self.unexpected(offset, "after object key:value pair")
            offset = self.skip_space(offset + 1)

    def _assign(
        self, result: dict[str, object], key: str, item: object, parts: PathParts, path: str
    ) -> None:
        """Store `item` at `key` as Go's decoder assigns a field a second time."""
        if key not in result:
            result[key] = item
            return
        shadowed = self.loaded.shadowed
        if item is None:
            result[key] = _merge_duplicate(result[key], item, (*parts, key), path, shadowed)
            return
        # The last assignment that set the value is what counts for kind and apiVersion: keep
        # the dict's order the order of those assignments.
        old = result.pop(key)
        result[key] = _merge_duplicate(old, item, (*parts, key), path, shadowed)

    def json_array(
        self, offset: int, path: str, parts: PathParts, *, depth: int
    ) -> tuple[list[object], int]:
        result: list[object] = []
        offset = self.skip_space(offset)
        if self.data[offset : offset + 1] == b"]":
            return result, offset + 1
        while True:
            index = len(result)
            item, offset = self.value(offset, f"{path}[{index}]", (*parts, index), depth=depth)
            result.append(item)
            offset = self.skip_space(offset)
            separator = self.data[offset : offset + 1]
            if separator == b"]":
                return result, offset + 1
            if separator != b",":
                raise self.unexpected(offset, "after array element")
            offset = self.skip_space(offset + 1)

    def string(self, offset: int) -> tuple[str, int]:
        match = _STRING.match(self.data, offset)
        if match is None:
            raise self._string_error(offset)
        body = match.group(1)
        if len(body) > MAX_POLICY_SCALAR_BYTES:
            text = _unquote(body)
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > MAX_POLICY_SCALAR_BYTES:
                raise JsonLimitError(
                    f"a value of {size} bytes, over kaudit's limit of "
                    f"{MAX_POLICY_SCALAR_BYTES} bytes for one value",
                    offset,
                )
            return text, match.end()
        return _unquote(body), match.end()

    def _string_error(self, offset: int) -> JsonSyntaxError:
        """Walk the string that the fast pattern refused, to fail where Go's scanner does."""
        data = self.data
        index = offset + 1
        while index < len(data):
            byte = data[index]
            if byte == 0x22:  # closing quote: the pattern would have matched
                break
            if byte < 0x20:
                return self.unexpected(index, "in string literal")
            if byte != 0x5C:
                index += 1
                continue
            escape = data[index + 1 : index + 2]
            if escape == b"u":
                for digit in range(index + 2, index + 6):
                    if digit >= len(data) or data[digit : digit + 1] not in _HEX_DIGITS:
                        return self.unexpected(digit, "in \\u hexadecimal character escape")
                index += 6
            elif escape and escape in _SIMPLE_ESCAPES:
                index += 2
            else:
                return self.unexpected(index + 1, "in string escape code")
        return self.unexpected(len(data), "in string literal")

    def number(self, offset: int) -> tuple[int | float, int]:
        match = _NUMBER.match(self.data, offset)
        if match is None:
            # Only "-" without a digit after it gets here.
            raise self.unexpected(offset + 1, "in numeric literal")
        end = match.end()
        following = self.data[end : end + 1]
        if match.group(1) is None and match.group(2) is None and following == b".":
            raise self.unexpected(end + 1, "after decimal point in numeric literal")
        if match.group(2) is None and following in (b"e", b"E"):
            exponent = end + 1
            if self.data[exponent : exponent + 1] in (b"+", b"-"):
                exponent += 1
            raise self.unexpected(exponent, "in exponent of numeric literal")
        return _go_number(match.group(0)), end

    def literal(self, offset: int, word: bytes) -> int:
        for index in range(1, len(word)):
            if self.data[offset + index : offset + index + 1] != word[index : index + 1]:
                expected = chr(word[index])
                raise self.unexpected(
                    offset + index, f"in literal {word.decode()} (expecting '{expected}')"
                )
        return offset + len(word)


_HEX_DIGITS: Final = frozenset(bytes([byte]) for byte in b"0123456789abcdefABCDEF")


def _merge_duplicate(
    old: object, new: object, parts: PathParts, path: str, shadowed: list[ShadowedValue]
) -> object:
    """The value after Go's decoder assigned `old`, then `new`, to the same field (in place).

    null sets only slices, maps and pointers to nil: a string, bool or struct keeps its value
    (for a map or a pointer field the verdict is the same either way: nothing there is
    validated once it decoded). An object decoded into an existing struct or map fills it in;
    an array decoded into an existing slice decodes into its elements one by one (they are not
    zeroed first) and then cuts the slice to the new length.
    """
    if new is None:
        if isinstance(old, list):
            shadowed.append(ShadowedValue(parts, path, old))
            return None
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        for key, value in new.items():
            item_parts, item_path = (*parts, key), child_path(path, key)
            if key in old and value is None:
                old[key] = _merge_duplicate(old[key], value, item_parts, item_path, shadowed)
            elif key in old:
                merged = _merge_duplicate(old.pop(key), value, item_parts, item_path, shadowed)
                old[key] = merged
            else:
                old[key] = value
        return old
    if isinstance(old, list) and isinstance(new, list):
        for index, value in enumerate(new):
            if index < len(old):
                item_parts, item_path = (*parts, index), f"{path}[{index}]"
                old[index] = _merge_duplicate(old[index], value, item_parts, item_path, shadowed)
            else:
                old.append(value)
        for index in range(len(new), len(old)):
            shadowed.append(ShadowedValue((*parts, index), f"{path}[{index}]", old[index]))
        del old[len(new) :]
        return old
    if old is not None:
        shadowed.append(ShadowedValue(parts, path, old))
    return new


def _unquote(body: bytes) -> str:
    """The text of a JSON string body, as Go's unquote decodes it."""
    if b"\\" not in body:
        return body.decode("utf-8", _GO_REPLACE)
    pieces: list[str] = []
    position = 0
    pending_high: int | None = None
    for match in _ESCAPE.finditer(body):
        if match.start() > position:
            if pending_high is not None:
                pieces.append("\ufffd")
                pending_high = None
            pieces.append(body[position : match.start()].decode("utf-8", _GO_REPLACE))
        position = match.end()
        hex_digits, simple = match.group(1), match.group(2)
        if simple is not None:
            if pending_high is not None:
                pieces.append("\ufffd")
                pending_high = None
            pieces.append(_SIMPLE_ESCAPES[simple])
            continue
        code = int(hex_digits, 16)
        if pending_high is not None:
            if 0xDC00 <= code <= 0xDFFF:
                pieces.append(chr(0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00)))
                pending_high = None
                continue
            # Go replaces the high surrogate and reads this escape on its own.
            pieces.append("\ufffd")
            pending_high = None
        if 0xD800 <= code <= 0xDBFF:
            pending_high = code
        elif 0xDC00 <= code <= 0xDFFF:
            pieces.append("\ufffd")
        else:
            pieces.append(chr(code))
    if pending_high is not None:
        pieces.append("\ufffd")
    pieces.append(body[position:].decode("utf-8", _GO_REPLACE))
    return "".join(pieces)


def _go_number(literal: bytes) -> int | float:
    """sigs.k8s.io/json PreserveInts: int64 when the literal has no `.` and fits, else float64."""
    text = literal.decode("ascii")
    if "." not in text and "e" not in text and "E" not in text:
        digits = text.lstrip("-").lstrip("0")
        if len(digits) <= _MAX_INT_DIGITS:
            number = int(text)
            if _INT64_MIN <= number <= _INT64_MAX:
                return number
    # float() of a long literal is exact and fast in CPython; past float64's range it is inf,
    # where strconv.ParseFloat reports a range error.
    return float(text)


def _quote_byte(byte: int) -> str:
    """Go's encoding/json quoteChar: how its scanner names the byte it stopped at."""
    if byte == 0x27:
        return "'\\''"
    if byte == 0x22:
        return "'\"'"
    character = chr(byte)
    if character.isprintable() and byte != 0x5C:
        return f"'{character}'"
    escapes = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
    escapes.update({0x0B: "\\v", 0x5C: "\\\\"})
    if byte in escapes:
        return f"'{escapes[byte]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    return f"'\\u{byte:04x}'"
