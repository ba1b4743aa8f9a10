"""Scalar typing exactly as kube-apiserver's YAML decoder does it (go-yaml v2, sigs.k8s.io/yaml).

kube-apiserver v1.34.4 reads a YAML policy with sigs.k8s.io/yaml v1.6.0, which decodes with
go.yaml.in/yaml/v2 v2.4.2 into `interface{}` and then turns the result into JSON. The rules
here follow those sources (resolve.go `resolve`, decode.go `scalar`, yaml.go
`convertToJSONableObject`) and were checked case by case against the real binary
(tests/unit/test_policy_yaml_scalars.py):

- The first character picks the path. `.` goes straight to strconv.ParseFloat, which reads
  Go float syntax, underscores between digits included (`.5_0` is 0.5). A digit or a sign
  tries a timestamp, then ParseInt and ParseUint (base 0: `0x`, `0o`, `0b`, a leading `0` is
  octal) on the text with every `_` removed, then ParseFloat if the text is a YAML 1.1 float.
  A number out of range (`1e400`, `0x` + 17 hex digits) stays a string. `09` is no octal
  number but matches the float pattern: the float 9.
- An explicit tag the value does not fit (`!!int foo`, `!!timestamp hello`, `!!bool 1`,
  `!!null x`) stops decoding: kube-apiserver refuses the file. `!!float` takes integers. Tags
  go-yaml does not resolve (`!!foo`, `!local`, `!!seq` on a scalar, the non-specific `!`)
  keep the text as a string. `!!binary` is base64 as Go's StdEncoding reads it: padding
  required, only `\\r` and `\\n` skipped.
- A valid `!!timestamp` (and a plain timestamp) becomes the text itself: go-yaml hands
  `interface{}` the string, not a time.Time.
- Map keys become JSON object keys: ints in decimal, floats as Go's
  FormatFloat(key, 'g', -1, 32) (`1e+20`, `-9.223372e+18`, `.inf`), booleans `true`/`false`.
  A null key or a uint64 key (above int64) cannot be converted: the file is refused. A key
  past uint64 is a float (`99999999999999999999` becomes `1e+20`): only an unknown field.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from dataclasses import dataclass
from typing import Final, TypeGuard

YAML_TAG_PREFIX: Final = "tag:yaml.org,2002:"
STR_TAG: Final = YAML_TAG_PREFIX + "str"
INT_TAG: Final = YAML_TAG_PREFIX + "int"
FLOAT_TAG: Final = YAML_TAG_PREFIX + "float"
BOOL_TAG: Final = YAML_TAG_PREFIX + "bool"
NULL_TAG: Final = YAML_TAG_PREFIX + "null"
TIMESTAMP_TAG: Final = YAML_TAG_PREFIX + "timestamp"
BINARY_TAG: Final = YAML_TAG_PREFIX + "binary"
MERGE_TAG: Final = YAML_TAG_PREFIX + "merge"
# go-yaml's empty tag: a plain scalar without a tag, typed by its text.
PLAIN: Final = ""
# The non-specific tag `!`: go-yaml keeps such a scalar's text as a string.
NON_SPECIFIC: Final = "!"

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
UINT64_MAX: Final = 2**64 - 1

_RESOLVABLE: Final = frozenset(
    {PLAIN, STR_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, NULL_TAG, TIMESTAMP_TAG}
)

# resolve.go's resolveMap: the words typed by lookup, before any number parsing.
_WORDS: Final[dict[str, tuple[str, object]]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), (BOOL_TAG, True)),
    **dict.fromkeys(("on", "On", "ON"), (BOOL_TAG, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), (BOOL_TAG, False)),
    **dict.fromkeys(("off", "Off", "OFF"), (BOOL_TAG, False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (NULL_TAG, None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (FLOAT_TAG, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (FLOAT_TAG, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (FLOAT_TAG, -math.inf)),
}
# resolve.go's resolveTable: the first characters that may start a number (or a timestamp).
_NUMBER_HINTS: Final = frozenset("+-0123456789")

_YAML_STYLE_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# Go's decimal float literal as strconv.readFloat scans it (underscores checked separately).
_GO_DECIMAL_FLOAT: Final = re.compile(r"[-+]?[0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9][0-9_]*)?")
# No int64 or uint64 needs more digits than this in any base (64 binary digits); Python also
# refuses to convert decimal strings over 4300 digits, so longer ones are out of range here.
_MAX_INT_DIGITS: Final = 64
_BASE64_ALPHABET: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)


class ScalarError(ValueError):
    """go-yaml's failf while decoding a scalar: kube-apiserver refuses the whole file."""


@dataclass(frozen=True)
class Resolved:
    """A scalar as go-yaml hands it to `interface{}`: its resolved tag and Go value."""

    tag: str
    value: object


def short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG_PREFIX) :] if tag.startswith(YAML_TAG_PREFIX) else tag


def resolve_scalar(tag: str, text: str, *, quoted: bool = False) -> Resolved:
    """decode.go `scalar` into interface{}: the value, or ScalarError where go-yaml fails.

    `tag` is PLAIN for an untagged plain scalar, NON_SPECIFIC for `!`, else the full tag;
    `quoted` says the scalar was quoted or a block scalar (untagged, it is always a string).
    """
    if tag == PLAIN and quoted:
        return Resolved(STR_TAG, text)
    if tag == BINARY_TAG:
        data = go_base64_decode(text)
        if data is None:
            raise ScalarError("!!binary value contains invalid base64 data")
        return Resolved(BINARY_TAG, go_string(data))
    if tag not in _RESOLVABLE:
        return Resolved(tag, text)
    resolved_tag, value = _resolve_untagged(text, tag)
    if tag in (PLAIN, STR_TAG, resolved_tag):
        pass
    elif tag == FLOAT_TAG and resolved_tag == INT_TAG and _fits_int64(value):
        # Only Go's int and int64 are turned into a float; a uint64 is not.
        resolved_tag, value = FLOAT_TAG, float(value)
    else:
        raise ScalarError(f"cannot decode {short_tag(resolved_tag)} `{text}` as a {short_tag(tag)}")
    if resolved_tag == TIMESTAMP_TAG:
        # "for backward compatibility" go-yaml v2 gives interface{} the text, not a time.Time.
        return Resolved(TIMESTAMP_TAG, text)
    return Resolved(resolved_tag, value)


def _fits_int64(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and INT64_MIN <= value <= INT64_MAX


def _resolve_untagged(text: str, tag: str) -> tuple[str, object]:
    """resolve.go `resolve` after its tag checks: the tag text reads as, and the value."""
    if tag == STR_TAG:
        return STR_TAG, text
    first = text[:1]
    if text in _WORDS:
        return _WORDS[text]
    if first == ".":
        number = go_parse_float(text)
        if number is not None:
            return FLOAT_TAG, number
    elif first in _NUMBER_HINTS:
        if tag in (PLAIN, TIMESTAMP_TAG) and go_timestamp_ok(text):
            return TIMESTAMP_TAG, text
        return _resolve_number(text)
    return STR_TAG, text


def _resolve_number(text: str) -> tuple[str, object]:
    plain = text.replace("_", "")
    integer = go_parse_int(plain)
    if integer is not None:
        return INT_TAG, integer
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        number = go_parse_float(plain)
        if number is not None:
            return FLOAT_TAG, number
    # resolve.go's own 0b / -0b retries only matter where ParseInt already failed: no change.
    return STR_TAG, text


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64), then ParseUint(text, 0, 64) (no sign), as go-yaml does."""
    sign = text[:1] if text[:1] in ("+", "-") else ""
    body = text[len(sign) :]
    prefix = body[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        base, digits = {"0x": 16, "0o": 8, "0b": 2}[prefix], body[2:]
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
    if sign == "-":
        value = -value
    if INT64_MIN <= value <= INT64_MAX or (not sign and value <= UINT64_MAX):
        return value
    return None


def go_parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) for decimal text; None where Go returns an error.

    go-yaml calls it on texts starting with `.` or matching the YAML float pattern, so Go's
    hexadecimal floats and its inf/nan words (which start otherwise) never reach it.
    """
    match = _GO_DECIMAL_FLOAT.fullmatch(text)
    if match is None:
        return None
    mantissa = text[: match.start(2)] if match.group(2) else text
    if not any(character.isdigit() for character in mantissa):
        return None
    if "_" in text and not _underscores_ok(text):
        return None
    value = float(text.replace("_", ""))
    # Out of range is ErrRange; go-yaml then keeps the text as a string.
    return None if math.isinf(value) else value


def _underscores_ok(text: str) -> bool:
    """strconv.underscoreOK: an underscore only between digits (decimal text here)."""
    saw = "^"
    body = text[1:] if text[:1] in ("+", "-") else text
    for character in body:
        if character.isdigit():
            saw = "0"
        elif character == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def go_base64_decode(text: str) -> bytes | None:
    """base64.StdEncoding.DecodeString: padding required, only CR and LF skipped."""
    compact = text.replace("\r", "").replace("\n", "")
    if len(compact) % 4:
        return None
    body = compact.rstrip("=")
    padding = len(compact) - len(body)
    if padding > 2 or (padding and len(body) % 4 in (0, 1)):
        return None
    if any(character not in _BASE64_ALPHABET for character in body):
        return None
    # Go ignores set bits after the last full byte (it is not in Strict mode), as Python does
    # outside its strict mode; the checks above are the ones Python's decoder would skip.
    return base64.b64decode(compact, validate=True)


def go_string(data: bytes) -> str:
    """Go bytes as encoding/json writes them: each byte of invalid UTF-8 becomes U+FFFD."""
    # surrogateescape turns each undecodable byte into one lone surrogate, as Go goes byte by
    # byte; encoding/json then writes each as U+FFFD.
    return data.decode("utf-8", "surrogateescape").translate(_ESCAPED_BYTES)


_ESCAPED_BYTES: Final = dict.fromkeys(range(0xDC80, 0xDD00), "\ufffd")


# --- timestamps: time.Parse with go-yaml's four layouts ------------------------------------

_DAYS_IN_MONTH: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def go_timestamp_ok(text: str) -> bool:
    """resolve.go parseTimestamp: YYYY- then one of its time.Parse layouts matches it all."""
    if not (len(text) > 4 and text[:4].isdigit() and text[:4].isascii() and text[4] == "-"):
        return False
    date = _take_date(text)
    if date is None:
        return False
    if not date:
        return True
    if date[0] in "Tt":
        zone = _take_clock(date[1:])
        return zone is not None and _zone_ok(zone)
    if date[0] == " ":
        return _take_clock(date[1:]) == ""
    return False


def _take_date(text: str) -> str | None:
    """`2006-1-2`: the rest after a valid date, or None."""
    year = int(text[:4])
    month, rest = _number(text[5:])
    if month is None or not rest.startswith("-"):
        return None
    day, rest = _number(rest[1:])
    if day is None or not 1 <= month <= 12:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    last = 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]
    return rest if 1 <= day <= last else None


def _take_clock(text: str) -> str | None:
    """`15:4:5.999999999`: the rest after a valid clock time, or None."""
    hour, rest = _number(text)
    if hour is None or hour > 23 or not rest.startswith(":"):
        return None
    minute, rest = _number(rest[1:])
    if minute is None or minute > 59 or not rest.startswith(":"):
        return None
    second, rest = _number(rest[1:])
    if second is None or second > 59:
        return None
    # A fraction: `.` or `,` then any number of digits.
    if len(rest) >= 2 and rest[0] in ".," and _ascii_digit(rest[1]):
        index = 1
        while index < len(rest) and _ascii_digit(rest[index]):
            index += 1
        rest = rest[index:]
    return rest


def _zone_ok(text: str) -> bool:
    """`Z07:00`: `Z`, or a sign, two-digit hours up to 24, `:`, two-digit minutes up to 60."""
    if text == "Z":
        return True
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return False
    hours, minutes = text[1:3], text[4:6]
    if not all(_ascii_digit(character) for character in hours + minutes):
        return False
    return int(hours) <= 24 and int(minutes) <= 60


def _number(text: str) -> tuple[int | None, str]:
    """time's getnum(s, false): one or two digits."""
    if not text or not _ascii_digit(text[0]):
        return None, text
    if len(text) > 1 and _ascii_digit(text[1]):
        return int(text[:2]), text[2:]
    return int(text[0]), text[1:]


def _ascii_digit(character: str) -> bool:
    return "0" <= character <= "9"


# --- map keys as sigs.k8s.io/yaml writes them into JSON -----------------------------------


def json_key(value: object) -> str | None:
    """convertToJSONableObject's key text; None for the keys it refuses (null, uint64)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value <= INT64_MAX else None
    if isinstance(value, float):
        return go_format_float32(value)
    return None


def unsupported_key_type(value: object) -> str:
    """How Go names the type of a key convertToJSONableObject refuses."""
    if value is None:
        return "<nil>"
    if isinstance(value, int) and not isinstance(value, bool):
        return "uint64"
    return type(value).__name__


# The float64 values that round to a float32 infinity (half way past the largest float32).
_FLOAT32_OVERFLOW: Final = (2 - 2**-24) * 2.0**127


def go_format_float32(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), with go-yaml's .inf, -.inf and .nan."""
    if math.isnan(value):
        return ".nan"
    if abs(value) >= _FLOAT32_OVERFLOW:
        return ".inf" if value > 0 else "-.inf"
    single = _float32(value)
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    digits, exponent = _shortest_float32_digits(single)
    negative = "-" if single < 0 else ""
    point = exponent + 1  # digits before the decimal point
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign = "-" if exponent < 0 else "+"
        return f"{negative}{mantissa}e{sign}{abs(exponent):02d}"
    if point <= 0:
        return f"{negative}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return negative + digits + "0" * (point - len(digits))
    return f"{negative}{digits[:point]}.{digits[point:]}"


def _float32(value: float) -> float:
    """float32(value) as Go converts it: rounded, past the largest float32 an infinity."""
    if abs(value) >= _FLOAT32_OVERFLOW:
        return math.copysign(math.inf, value)
    single: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return single


def _shortest_float32_digits(single: float) -> tuple[str, int]:
    """The fewest significant digits that read back as the same float32, and the exponent."""
    for precision in range(1, 10):
        text = f"{abs(single):.{precision - 1}e}"
        if _float32(float(text)) == abs(single):
            break
    mantissa, exponent = text.split("e")
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    return digits, int(exponent)
