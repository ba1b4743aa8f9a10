"""go-yaml v2 scalar typing, tags, map keys and merges, with the verdict kube-apiserver gave.

Each text was loaded by a real kube-apiserver v1.34.4 (`--audit-policy-file`, etcd unreachable)
through tests.parity.oracle and its outcome recorded: "ok" (loaded), "warn" (loaded after
"Audit policy contains errors, falling back to lenient decoding") or "refused". They pin down
what reading go.yaml.in/yaml/v2 v2.4.2 (resolve.go, decode.go) and sigs.k8s.io/yaml v1.6.0
(yaml.go) suggests: the path each first character takes (`.5_0` is a number, `09` the float 9,
`1e400` a string), explicit tags that do not fit (`!!timestamp hello`, `!!null x`: refused),
tags go-yaml does not resolve (a string), strict base64, map keys as JSON keys (null and uint64
refused, floats as float32 text), and `<<` merges, which go through strict decoding's
duplicate check like any key.
"""

from __future__ import annotations

import pytest

from kaudit.policy import check_policy_text
from kaudit.policy.goyaml_resolve import go_format_float32, resolve_scalar
from kaudit.policy.yamldoc import load_first_document, resolve_plain
from tests.parity.cases import outcome_of

H = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
R = H + "rules:\n- level: None\n"


def users(item: str) -> str:
    """A policy whose rule lists `item` as its one user: a Go []string."""
    return H + f"rules:\n- level: None\n  users: [{item}]\n"


def extra(value: str) -> str:
    """A valid policy with an unknown top-level field (a warning at most, if it decodes)."""
    return R + f"extra: {value}\n"


def label_keys(*keys: str) -> str:
    """A valid policy whose metadata.labels (map[string]string) has these keys, each `a`."""
    labels = "".join(f"    {key}: a\n" for key in keys)
    return H + "metadata:\n  labels:\n" + labels + "rules:\n- level: None\n"


def meta(body: str) -> str:
    """A valid policy with this text (indented by two) under `metadata:`."""
    return H + "metadata:\n" + body + "rules:\n- level: None\n"


def verdict(text: str) -> str:
    return outcome_of(check_policy_text(text, source="case.yaml"))


# In a list of strings: a number, a boolean or an infinity is a decode error, a string loads.
IN_A_LIST_OF_STRINGS = [
    pytest.param(users(".5_0"), "refused", id="users-dot5_0"),
    pytest.param(users("._5"), "ok", id="users-dot_5"),
    pytest.param(users(".5_"), "ok", id="users-dot5_"),
    pytest.param(users(".5e1_0"), "refused", id="users-dot5e1_0"),
    pytest.param(users(".5e400"), "ok", id="users-dot5e400"),
    pytest.param(users("."), "ok", id="users-dot-alone"),
    pytest.param(users(".e5"), "ok", id="users-dot-e5"),
    pytest.param(users(".5."), "ok", id="users-dot5dot"),
    pytest.param(users("1e400"), "ok", id="users-1e400"),
    pytest.param(users("-1e400"), "ok", id="users--1e400"),
    pytest.param(users("1e5"), "refused", id="users-1e5"),
    pytest.param(users("1E5"), "refused", id="users-1E5"),
    pytest.param(users("1."), "refused", id="users-1dot"),
    pytest.param(users("+.5"), "refused", id="users-+dot5"),
    pytest.param(users("-0"), "refused", id="users--0"),
    pytest.param(users("+1"), "refused", id="users-+1"),
    pytest.param(users("09"), "refused", id="users-09"),
    pytest.param(users("08"), "refused", id="users-08"),
    pytest.param(users("0b101"), "refused", id="users-0b101"),
    pytest.param(users("0B101"), "refused", id="users-0B101"),
    pytest.param(users("-0b101"), "refused", id="users--0b101"),
    pytest.param(users("0o17"), "refused", id="users-0o17"),
    pytest.param(users("0O17"), "refused", id="users-0O17"),
    pytest.param(users("017"), "refused", id="users-017"),
    pytest.param(users("0x_1F"), "refused", id="users-0x_1F"),
    pytest.param(users("0X1F"), "refused", id="users-0X1F"),
    pytest.param(users("-0x1F"), "refused", id="users--0x1F"),
    pytest.param(users("+0x1F"), "refused", id="users-+0x1F"),
    pytest.param(users("0x"), "ok", id="users-0x"),
    pytest.param(users("0b"), "ok", id="users-0b"),
    pytest.param(users("0b2"), "ok", id="users-0b2"),
    pytest.param(users("_1"), "ok", id="users-_1"),
    pytest.param(users("1_"), "refused", id="users-1_"),
    pytest.param(users("1__0"), "refused", id="users-1__0"),
    pytest.param(users("1e+5"), "refused", id="users-1e+5"),
    pytest.param(users("12e"), "ok", id="users-12e"),
    pytest.param(users("0.5.1"), "ok", id="users-0.5.1"),
    pytest.param(users("+"), "ok", id="users-plus"),
    pytest.param(users("inf"), "ok", id="users-inf"),
    pytest.param(users("nan"), "ok", id="users-nan"),
    pytest.param(users("+inf"), "ok", id="users-+inf"),
    pytest.param(users("0x1p-2"), "ok", id="users-0x1p-2"),
    pytest.param(users("1e-400"), "refused", id="users-1e-400"),
    pytest.param(users(".inf"), "refused", id="users-dot-inf"),
    pytest.param(users("-.Inf"), "refused", id="users--dot-Inf"),
    pytest.param(users(".NaN"), "refused", id="users-dot-NaN"),
    pytest.param(users("+.INF"), "refused", id="users-+dot-INF"),
    pytest.param(users(".nAn"), "ok", id="users-dot-nAn"),
    pytest.param(users("9223372036854775808"), "refused", id="users-uint64"),
    pytest.param(users("18446744073709551616"), "refused", id="users-above-uint64"),
    pytest.param(users("+18446744073709551615"), "refused", id="users-plus-uint64max"),
    pytest.param(users("0xFFFFFFFFFFFFFFFFF"), "ok", id="users-hex-too-big"),
    pytest.param(users("0b" + "1" * 65), "ok", id="users-bin-65"),
    pytest.param(users("0777777777777777777777777"), "refused", id="users-octal-huge"),
    pytest.param(users("1" + "0" * 308), "refused", id="users-dec-309"),
    pytest.param(users("1" + "0" * 309), "ok", id="users-dec-310"),
    pytest.param(users("1_000.5"), "refused", id="users-1_000.5"),
    pytest.param(users("~"), "ok", id="users-tilde"),
    pytest.param(users("null"), "ok", id="users-null"),
    pytest.param(users("Null"), "ok", id="users-Null"),
    pytest.param(users("NULL"), "ok", id="users-NULL"),
    pytest.param(users("nULL"), "ok", id="users-nULL"),
    pytest.param(users("''"), "ok", id="users-empty-quoted"),
    pytest.param(users("2001-13-01"), "ok", id="users-date"),
    pytest.param(users("YES"), "refused", id="users-yes-cap"),
    pytest.param(users("yEs"), "ok", id="users-yEs"),
    pytest.param(users("!!str 42"), "ok", id="users-tag-str"),
    pytest.param(users('!!int "1_0"'), "refused", id="users-tag-int-quoted"),
    pytest.param(users("!!float 1"), "refused", id="users-tag-float-1"),
    pytest.param(users("!!null hello"), "refused", id="users-tag-null-hello"),
    pytest.param(users('!!null ""'), "ok", id="users-tag-null-empty"),
    pytest.param(users("!!map foo"), "ok", id="users-tag-map-scalar"),
    pytest.param(users("!!seq foo"), "ok", id="users-tag-seq-scalar"),
    pytest.param(users("!!foo 42"), "ok", id="users-tag-unknown"),
    pytest.param(users("!foo 42"), "ok", id="users-tag-local"),
    pytest.param(users("!<tag:yaml.org,2002:str> 42"), "ok", id="users-tag-verbatim-str"),
    pytest.param(users("!<tag:yaml.org,2002:int> 42"), "refused", id="users-tag-verbatim-int"),
    pytest.param(users("! 42"), "ok", id="users-tag-nonspecific"),
    pytest.param(users("!!bool yes"), "refused", id="users-tag-bool-yes"),
    pytest.param(users("!!timestamp 2001-12-14"), "ok", id="users-ts-valid"),
    pytest.param(users("!!timestamp hello"), "refused", id="users-ts-hello"),
    pytest.param(users("!!timestamp 2001-13-01"), "refused", id="users-ts-month13"),
    pytest.param(users("!!timestamp 2001-02-29"), "refused", id="users-ts-feb29-2001"),
    pytest.param(users("!!timestamp 2000-02-29"), "ok", id="users-ts-feb29-2000"),
    pytest.param(users("!!timestamp 2001-12-14T21:59:43.10-05:00"), "ok", id="users-ts-rfc3339"),
    pytest.param(users("!!timestamp '2001-12-14 21:59:43.10'"), "ok", id="users-ts-space"),
    pytest.param(users("!!timestamp 2001-12-14t21:59:43Z"), "ok", id="users-ts-lower-t"),
    pytest.param(users("!!timestamp 2001-12-14t21:59:43z"), "refused", id="users-ts-lower-z"),
    pytest.param(
        users("!!timestamp '2001-12-14 21:59:43.10 -5'"), "refused", id="users-ts-short-tz"
    ),
    pytest.param(users("!!timestamp 2001-1-2"), "ok", id="users-ts-short-date"),
    pytest.param(users("!!timestamp 12"), "refused", id="users-ts-int"),
    pytest.param(users("!!timestamp 2001-12-14T24:00:00Z"), "refused", id="users-ts-hour24"),
    pytest.param(users("!!timestamp 2001-12-14T23:59:60Z"), "refused", id="users-ts-sec60"),
    pytest.param(users("!!timestamp 2001-12-14T23:59:59+24:00"), "ok", id="users-ts-tz24"),
    pytest.param(users("!!timestamp 2001-12-14T23:59:59+25:00"), "refused", id="users-ts-tz25"),
    pytest.param(users("!!timestamp 2001-12-14T1:2:3Z"), "ok", id="users-ts-1digit"),
    pytest.param(users("!!timestamp '2001-12-14 21:59:43,5'"), "ok", id="users-ts-comma"),
    pytest.param(users("!!timestamp 20011-12-14"), "refused", id="users-ts-year5"),
    pytest.param(users("!!timestamp 2001-12-14T21:59:43"), "refused", id="users-ts-notz"),
    pytest.param(users("!!timestamp 2001-12-00"), "refused", id="users-ts-day0"),
    pytest.param(users("!!timestamp 2001-012-14"), "refused", id="users-ts-month3digit"),
    pytest.param(users("!!binary aGk="), "ok", id="users-bin-ok"),
    pytest.param(users("!!binary aGk"), "refused", id="users-bin-nopad"),
    pytest.param(users("!!binary 'aG k='"), "refused", id="users-bin-space"),
    pytest.param(users("!!binary /w=="), "ok", id="users-bin-ff"),
    pytest.param(users("!!binary ''"), "ok", id="users-bin-empty"),
    pytest.param(users("!!binary aGl="), "ok", id="users-bin-trailing-bits"),
    pytest.param(users("!!binary aGk=aGk="), "refused", id="users-bin-after-pad"),
    pytest.param(users("!!binary '-_8='"), "refused", id="users-bin-urlsafe"),
    pytest.param(R + "  users: !!map [a]\n", "ok", id="users-map-tag-seq"),
    pytest.param(R + "  users: !!seq foo\n", "refused", id="users-seq-tag-scalar"),
    pytest.param(users("~"), "ok", id="users-null-elem"),
    pytest.param(users("! '42'"), "ok", id="users-nonspecific-quoted"),
    pytest.param(users("&a ! 42"), "ok", id="users-anchor-nonspecific"),
    pytest.param(users("! &a 42"), "ok", id="users-nonspecific-anchor"),
    pytest.param(users("&a 42"), "refused", id="users-anchor-int"),
    pytest.param(users("+_1"), "refused", id="users-plus-underscore"),
    pytest.param(users("1_000_"), "refused", id="users-trailing-underscores"),
    pytest.param(users("0_x1F"), "refused", id="users-0_x1F"),
    pytest.param(users(".1_"), "ok", id="users-dot1_"),
    pytest.param(users("0.1_0"), "refused", id="users-0.1_0"),
    pytest.param(users("1__0.5"), "refused", id="users-1__0.5"),
    pytest.param(users("<<"), "ok", id="users-merge-word"),
    pytest.param(users("!!int <<"), "refused", id="users-tag-int-merge-word"),
    pytest.param(users("!!float 18446744073709551615"), "refused", id="users-tag-float-uint64"),
    pytest.param(users("!!float 9223372036854775807"), "refused", id="users-tag-float-int64max"),
    pytest.param(users("!!float 1e400"), "refused", id="users-tag-float-1e400"),
    pytest.param(users("!!int 09"), "refused", id="users-tag-int-09"),
    pytest.param(users("!!int 0x_1F"), "refused", id="users-tag-int-0x_1F"),
    pytest.param(users("!!bool ON"), "refused", id="users-tag-bool-ON"),
    pytest.param(users('!!binary "aG\\r\\nk="'), "ok", id="users-bin-crlf"),
    pytest.param(users('!!binary "aG\\tk="'), "refused", id="users-bin-tab"),
    pytest.param(users("." + "5" * 3000), "refused", id="users-dot-long"),
    pytest.param(users("0." + "0" * 400 + "1"), "refused", id="users-tiny"),
    pytest.param(users("+-1"), "ok", id="users-plusplus"),
    pytest.param(users("!!null ~"), "ok", id="users-tag-null-tilde"),
    pytest.param(users("!!str ~"), "ok", id="users-tag-str-tilde"),
    pytest.param(users("!!float .5_0"), "refused", id="users-tag-float-dot5_0"),
    pytest.param(users('!!timestamp "2001-12-14"'), "ok", id="users-tag-timestamp-quoted"),
    pytest.param(users("!<!> 42"), "ok", id="users-verbatim-nonspecific"),
    pytest.param(users("!!str aGk"), "ok", id="users-tag-str-binary-text"),
    pytest.param(users("!!merge foo"), "ok", id="users-tag-merge-scalar"),
    pytest.param(R + "  users: ''\n", "refused", id="users-empty-string"),
    pytest.param(R + "  users:\n", "ok", id="users-null"),
    pytest.param(users("!!str"), "refused", id="users-empty-str-tag"),
    pytest.param(users("!!int"), "refused", id="users-empty-int-tag"),
    pytest.param(users("!!null"), "refused", id="users-empty-null-tag"),
    pytest.param(users("!!bool"), "refused", id="users-empty-bool-tag"),
    pytest.param(users("!!float"), "refused", id="users-empty-float-tag"),
    pytest.param(users("!!timestamp"), "refused", id="users-empty-ts-tag"),
    pytest.param(users("!"), "refused", id="users-empty-nonspecific"),
    pytest.param(users("!!binary"), "refused", id="users-empty-binary"),
    pytest.param(users("0o"), "ok", id="users-0o"),
    pytest.param(users("0o8"), "ok", id="users-0o8"),
    pytest.param(users("-0o17"), "refused", id="users--0o17"),
    pytest.param(users("0x-1"), "ok", id="users-0x-1"),
    pytest.param(users("1e5_0"), "refused", id="users-1e5_0"),
    pytest.param(users("1_e5"), "refused", id="users-1_e5"),
    pytest.param(users(".5e-_1"), "ok", id="users-dot5e-_1"),
    pytest.param(users(".5E+1"), "refused", id="users-dot5E+1"),
    pytest.param(users("-.5_5"), "refused", id="users--dot5_5"),
    pytest.param(users("2001-02-30"), "ok", id="users-ts-plain-bad-day"),
    pytest.param(users("2001-12-14T21:59:43Z"), "ok", id="users-ts-plain-time"),
    pytest.param(users("0xABCDEF"), "refused", id="users-hex-upper-digits"),
    pytest.param(users("0xAbC"), "refused", id="users-hex-mixed"),
    pytest.param(users("-18446744073709551615"), "refused", id="users-neg-uint64"),
    pytest.param(users("-0x8000000000000000"), "refused", id="users-int64min-hex"),
    pytest.param(users("Yes"), "refused", id="users-Yes"),
    pytest.param(users("oN"), "ok", id="users-oN"),
    pytest.param(users("TRUE"), "refused", id="users-True-ish"),
    pytest.param(users("n"), "refused", id="users-n"),
    pytest.param(users("No"), "refused", id="users-No"),
    pytest.param(users("~a"), "ok", id="users-tilde-word"),
    pytest.param(users("nul"), "ok", id="users-null-ish"),
    pytest.param(users(".Nan"), "ok", id="users-dot-Nan"),
    pytest.param(users("+.nan"), "ok", id="users-plus-dot-nan"),
]

# The value of an unknown field: dropped (a warning) if it decodes at all.
AS_AN_UNKNOWN_FIELD = [
    pytest.param(extra(".inf"), "refused", id="extra-dot-inf"),
    pytest.param(extra(".nan"), "refused", id="extra-dot-nan"),
    pytest.param(extra("1e400"), "warn", id="extra-1e400"),
    pytest.param(extra(".5_0"), "warn", id="extra-dot5_0"),
    pytest.param(extra("!!int foo"), "refused", id="extra-tag-int-foo"),
    pytest.param(extra('!!int "1_0"'), "warn", id="extra-tag-int-quoted"),
    pytest.param(extra("!!float 1"), "warn", id="extra-tag-float-1"),
    pytest.param(extra("!!float .inf"), "refused", id="extra-tag-float-inf"),
    pytest.param(extra('!!null ""'), "warn", id="extra-tag-null-empty"),
    pytest.param(extra('!!int ""'), "refused", id="extra-tag-int-empty"),
    pytest.param(extra("!!bool 1"), "refused", id="extra-tag-bool-1"),
    pytest.param(extra("!!seq foo"), "warn", id="extra-tag-seq-scalar"),
    pytest.param(extra("!!str [a]"), "warn", id="extra-tag-str-seq"),
    pytest.param(extra("!!null {a: 1}"), "warn", id="extra-tag-null-map"),
    pytest.param(extra("!!timestamp hello"), "refused", id="extra-ts-hello"),
    pytest.param(extra("!!binary aGk"), "refused", id="extra-bin-nopad"),
    pytest.param(extra("!!foo bar"), "warn", id="extra-tag-unknown"),
    pytest.param(extra("18446744073709551615"), "warn", id="extra-uint64"),
    pytest.param(extra("9" * 5000), "warn", id="extra-long-digits"),
    pytest.param(extra(""), "warn", id="extra-empty"),
    pytest.param(extra("!!str"), "warn", id="extra-empty-str-tag"),
    pytest.param(extra("!!binary"), "warn", id="extra-empty-binary"),
    pytest.param(extra("!!int"), "refused", id="extra-empty-int-tag"),
]

# Typed fields: level (string), omitManagedFields (bool), omitStages (list), integer metadata.
IN_TYPED_FIELDS = [
    pytest.param(
        H + "omitManagedFields: !!bool yes\nrules:\n- level: None\n", "ok", id="omf-bool-yes"
    ),
    pytest.param(
        H + "omitManagedFields: !!bool 1\nrules:\n- level: None\n", "refused", id="omf-bool-1"
    ),
    pytest.param(H + "omitManagedFields: tRUE\nrules:\n- level: None\n", "refused", id="omf-tRUE"),
    pytest.param(H + "omitManagedFields: ON\nrules:\n- level: None\n", "ok", id="omf-ON"),
    pytest.param(
        H + "omitStages: !!null foo\nrules:\n- level: None\n", "refused", id="omitstages-null-foo"
    ),
    pytest.param(H + "rules:\n- level: !!binary Tm9uZQ==\n", "ok", id="level-binary-none"),
    pytest.param(
        H + "rules:\n- level: !!binary |\n    Tm9u\n    ZQ==\n", "ok", id="level-binary-block"
    ),
    pytest.param(H + "rules:\n- level: ~\n", "refused", id="level-tilde"),
    pytest.param(H + "rules:\n- level:\n", "refused", id="level-empty"),
    pytest.param(H + "rules:\n- level: !!str None\n", "ok", id="level-str-tag"),
    pytest.param(H + "rules:\n- !!str {level: None}\n", "ok", id="rule-str-tag-map"),
    pytest.param(H + "rules:\n- !!null {level: None}\n", "ok", id="rule-null-tag-map"),
    pytest.param(H + "rules: !!str\n- level: None\n", "ok", id="rules-str-tag-seq"),
    pytest.param(meta("  generation: 1e5\n"), "ok", id="gen-1e5"),
    pytest.param(meta("  generation: 1.0\n"), "ok", id="gen-1.0"),
    pytest.param(meta("  generation: 1e21\n"), "refused", id="gen-1e21"),
    pytest.param(meta("  generation: 0x10\n"), "ok", id="gen-hex"),
    pytest.param(meta("  generation: 9223372036854775808\n"), "refused", id="gen-uint64"),
    pytest.param(meta("  generation: 1e400\n"), "refused", id="gen-1e400"),
    pytest.param(meta("  generation: 09\n"), "ok", id="gen-09"),
    pytest.param(
        H + "omitManagedFields: ! true\nrules:\n- level: None\n",
        "refused",
        id="omf-nonspecific-true",
    ),
    pytest.param(H + "rules:\n- level: !!binary ''\n", "refused", id="level-binary-empty"),
    pytest.param(H + "rules:\n- !!binary {level: None}\n", "ok", id="binary-tag-on-map"),
    pytest.param(meta("  labels: {~: a}\nmetadata: {}\n"), "warn", id="dup-replaces-bad-key"),
    pytest.param(
        H + "omitStages: [.inf]\nomitStages: []\nrules:\n- level: None\n",
        "warn",
        id="dup-replaces-inf",
    ),
    pytest.param(
        H + "rules:\n- level: .inf\n  level: None\n", "warn", id="dup-level-inf-then-none"
    ),
    pytest.param(meta("  deletionGracePeriodSeconds: 1.5\n"), "refused", id="deletion-grace-float"),
    pytest.param(meta("  generation: -0.0\n"), "ok", id="gen-neg-zero"),
    pytest.param(meta("  generation: -9223372036854775808\n"), "ok", id="gen-int64min"),
    pytest.param(meta("  generation: 9.3e18\n"), "refused", id="gen-float-2e63"),
    pytest.param(meta("  generation: 9.2e18\n"), "ok", id="gen-float-9e18"),
    pytest.param(
        H + "rules:\n- level: 5\n  level: None\n", "warn", id="dup-level-type-error-first"
    ),
]

# Map keys: the JSON key they become, keys go-yaml sees as equal (strict mode: a duplicate).
MAP_KEYS = [
    pytest.param(R + "99999999999999999999: x\n", "warn", id="key-above-uint64"),
    pytest.param(R + "9223372036854775808: x\n", "refused", id="key-uint64"),
    pytest.param(R + "9223372036854775807: x\n", "warn", id="key-int64max"),
    pytest.param(R + "-9223372036854775809: x\n", "warn", id="key-neg-below-int64"),
    pytest.param(R + "1.5: x\n", "warn", id="key-float"),
    pytest.param(R + ".inf: x\n", "warn", id="key-inf"),
    pytest.param(R + ".nan: x\n", "warn", id="key-nan"),
    pytest.param(R + "~: x\n", "refused", id="key-tilde"),
    pytest.param(R + "null: x\n", "refused", id="key-null"),
    pytest.param(R + ": x\n", "refused", id="key-empty"),
    pytest.param(R + "true: x\n", "warn", id="key-true"),
    pytest.param(R + "1e400: x\n", "warn", id="key-1e400"),
    pytest.param(R + "!!binary bGV2ZWw=: x\n", "warn", id="key-binary"),
    pytest.param(label_keys("1"), "ok", id="labels-int"),
    pytest.param(label_keys("1.5"), "ok", id="labels-float"),
    pytest.param(label_keys("16777217.0"), "ok", id="labels-float32"),
    pytest.param(label_keys("1e20"), "ok", id="labels-float-big"),
    pytest.param(label_keys("99999999999999999999"), "ok", id="labels-above-uint64"),
    pytest.param(label_keys("9223372036854775808"), "refused", id="labels-uint64"),
    pytest.param(label_keys("-9223372036854775809"), "ok", id="labels-neg-uint"),
    pytest.param(label_keys("~"), "refused", id="labels-tilde"),
    pytest.param(label_keys(".inf"), "ok", id="labels-inf"),
    pytest.param(label_keys("yes"), "ok", id="labels-bool"),
    pytest.param(label_keys("2001-12-14"), "ok", id="labels-ts"),
    pytest.param(label_keys("1", "0x1"), "warn", id="labels-dup-int-hex"),
    pytest.param(label_keys("1", '"1"'), "ok", id="labels-int-and-str"),
    pytest.param(label_keys("y", "true"), "warn", id="labels-dup-bool"),
    pytest.param(label_keys(".nan", ".nan"), "ok", id="labels-nan-twice"),
    pytest.param(label_keys("1.0", "1"), "ok", id="labels-float-int"),
    pytest.param(label_keys("0.1", "0.10"), "warn", id="labels-dup-float"),
    pytest.param(label_keys("a", "!!str a"), "warn", id="labels-dup-str-tag"),
    pytest.param(label_keys("0.1"), "ok", id="labels-0.1"),
    pytest.param(label_keys("1e-7"), "ok", id="labels-1e-7"),
    pytest.param(label_keys("123456.7"), "ok", id="labels-123456.7"),
    pytest.param(label_keys("-0.0"), "ok", id="labels-neg-zero-float"),
    pytest.param(R + "!!null a: x\n", "refused", id="null-tag-key"),
    pytest.param(meta("  labels:\n    !!str 1: a\n    1: b\n"), "ok", id="str-tag-key-1"),
    pytest.param(R + "  yes: 1\n", "warn", id="bool-key-rule"),
    pytest.param(
        R + "1" * 400 + ": x\n",
        "warn",
        id="key-long-digits",
    ),
    pytest.param(R + "0xfffffffffffffffff: x\n", "warn", id="key-long-hex"),
    pytest.param(R + "0xFFFFFFFFFFFFFFFF: x\n", "refused", id="key-hex-uint64"),
    pytest.param(R + "-0: x\n", "warn", id="key-neg-zero-int"),
    pytest.param(R + "+1: x\n", "warn", id="key-plus-one"),
    pytest.param(R + "!!float 3: x\n", "warn", id="key-tag-float-int"),
    pytest.param(R + "!!timestamp 2001-12-14T21:59:43Z: x\n", "warn", id="key-ts-valid-tag"),
    pytest.param(R + "! 42: x\n", "warn", id="key-nonspecific-int"),
    pytest.param(
        R + "9223372036854775808: a\n9223372036854775808: b\n",
        "refused",
        id="dup-uint64-key-replaced",
    ),
]

# `<<` merges: into the map being built, through the same duplicate check; the first map of a
# list wins; an alias of a list, or of the word `<<`, is no merge.
MERGES = [
    pytest.param(
        H + "rules:\n- &b {level: Metadata}\n- level: None\n  <<: *b\n",
        "warn",
        id="merge-before-override",
    ),
    pytest.param(
        H + "rules:\n- &b {verbs: [get]}\n- level: None\n  <<: *b\n",
        "refused",
        id="merge-before-disjoint",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    <<: [*a, {k: b}]\n"),
        "warn",
        id="merge-list-same-key",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    <<: [*a, {j: b}]\n"),
        "ok",
        id="merge-list-disjoint",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    <<: [*a, *a]\n"),
        "warn",
        id="merge-list-twice",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    <<: *a\n    k: b\n"),
        "warn",
        id="merge-list-alias-then-key",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    k: b\n    <<: *a\n"),
        "warn",
        id="merge-list-key-then-alias",
    ),
    pytest.param(
        meta("  labels: &a {k: a}\n  annotations:\n    <<: *a\n    <<: {k: b}\n"),
        "warn",
        id="merge-two-merge-keys",
    ),
    pytest.param(H + "rules:\n- <<: {level: None}\n", "ok", id="merge-inline"),
    pytest.param(
        meta("  finalizers: &l [a]\n  labels:\n    <<: *l\n"), "refused", id="merge-alias-list"
    ),
    pytest.param(H + "rules:\n- <<: [{level: None}]\n", "ok", id="merge-inline-list"),
    pytest.param(
        H + "rules:\n- <<: [{level: None}, foo]\n", "refused", id="merge-inline-list-with-scalar"
    ),
    pytest.param(
        H + "rules:\n- <<: [{level: None}, [a]]\n", "refused", id="merge-inline-list-nested-list"
    ),
    pytest.param(R + "  <<: ~\n", "refused", id="merge-null"),
    pytest.param(
        meta("  name: &s foo\n  labels:\n    <<: *s\n"), "refused", id="merge-scalar-alias"
    ),
    pytest.param(meta("  labels:\n    '<<': {a: b}\n"), "refused", id="merge-quoted"),
    pytest.param(meta("  labels:\n    !!merge <<: {a: b}\n"), "ok", id="merge-tagged"),
    pytest.param(meta("  labels:\n    !!str <<: {a: b}\n"), "refused", id="merge-str-tagged"),
    pytest.param(meta("  labels:\n    ! <<: {a: b}\n"), "ok", id="merge-nonspecific"),
    pytest.param(
        meta("  labels: &a {a: b}\n  annotations: &b {<<: *a, c: d}\n"), "ok", id="merge-nested"
    ),
    pytest.param(
        meta("  labels: &a {a: b, <<: {c: d}}\n  annotations: {<<: *a, c: e}\n"),
        "warn",
        id="merge-nested-dup",
    ),
    pytest.param(
        H + "rules:\n- level: Metadata\n  <<: {level: Verbose}\n",
        "refused",
        id="merge-explicit-then-bad",
    ),
    pytest.param(
        H + "rules:\n- <<: {level: Verbose}\n  level: Metadata\n",
        "warn",
        id="merge-bad-then-explicit",
    ),
    pytest.param(
        H + "rules:\n- <<: [{level: None}, {level: Verbose}]\n",
        "warn",
        id="merge-list-first-wins-ok",
    ),
    pytest.param(
        H + "rules:\n- <<: [{level: Verbose}, {level: None}]\n",
        "refused",
        id="merge-list-first-wins-bad",
    ),
    pytest.param(R + "  verbs:\n  <<: {verbs: [get]}\n", "warn", id="merge-null-valued"),
    pytest.param(
        "x: &h {apiVersion: audit.k8s.io/v1, kind: Policy}\n<<: *h\nrules:\n- level: None\n",
        "warn",
        id="merge-top-level",
    ),
    pytest.param(meta("  labels:\n    a: b\n    <<: {a: c}\n"), "warn", id="merge-labels-dup"),
    pytest.param(meta("  labels:\n    a: b\n    <<: {c: d}\n"), "ok", id="merge-labels-disjoint"),
    pytest.param(meta("  labels:\n    1: b\n    <<: {0x1: c}\n"), "warn", id="merge-int-key-dup"),
    pytest.param(R + "  <<: []\n", "ok", id="merge-empty-list"),
    pytest.param(R + "  <<: {}\n", "ok", id="merge-empty-map"),
    pytest.param(meta("  labels:\n    !!merge foo: bar\n"), "ok", id="merge-tagged-other-key"),
    pytest.param(
        H
        + "rules:\n- level: Metadata\n  verbs: &b [get]\n- level: None\n  <<: {level: Metadata}\n",
        "warn",
        id="merge-before-override-fixed",
    ),
    pytest.param(meta("  labels:\n    ! '<<': {a: b}\n"), "ok", id="merge-nonspecific-quoted"),
    pytest.param(
        meta("  name: &m <<\n  labels:\n    *m : {a: b}\n"), "refused", id="merge-key-alias"
    ),
    pytest.param(meta("  labels:\n    <<: &l [{a: b}]\n"), "ok", id="merge-anchored-inline-list"),
]


@pytest.mark.parametrize(("text", "observed"), IN_A_LIST_OF_STRINGS)
def test_a_scalar_in_a_list_of_strings_gets_kube_apiservers_verdict(
    text: str, observed: str
) -> None:
    assert verdict(text) == observed, check_policy_text(text, source="case.yaml")


@pytest.mark.parametrize(("text", "observed"), AS_AN_UNKNOWN_FIELD)
def test_a_scalar_in_an_unknown_field_gets_kube_apiservers_verdict(
    text: str, observed: str
) -> None:
    assert verdict(text) == observed, check_policy_text(text, source="case.yaml")


@pytest.mark.parametrize(("text", "observed"), IN_TYPED_FIELDS)
def test_a_scalar_in_a_typed_field_gets_kube_apiservers_verdict(text: str, observed: str) -> None:
    assert verdict(text) == observed, check_policy_text(text, source="case.yaml")


@pytest.mark.parametrize(("text", "observed"), MAP_KEYS)
def test_a_map_key_gets_kube_apiservers_verdict(text: str, observed: str) -> None:
    assert verdict(text) == observed, check_policy_text(text, source="case.yaml")


@pytest.mark.parametrize(("text", "observed"), MERGES)
def test_a_merge_gets_kube_apiservers_verdict(text: str, observed: str) -> None:
    assert verdict(text) == observed, check_policy_text(text, source="case.yaml")


# A top-level key and the JSON key kube-apiserver named in `unknown field "..."`.
JSON_KEYS = [
    pytest.param("16777217.0", "1.6777216e+07", id="16777217.0"),
    pytest.param("123456.7", "123456.7", id="123456.7"),
    pytest.param("1e-7", "1e-07", id="1e-7"),
    pytest.param("0.1", "0.1", id="0.1"),
    pytest.param("-0.0", "-0", id="-0.0"),
    pytest.param("1e6", "1e+06", id="1e6"),
    pytest.param("100000.0", "100000", id="100000.0"),
    pytest.param("123456789.0", "1.2345679e+08", id="123456789.0"),
    pytest.param("1e39", ".inf", id="1e39"),
    pytest.param("3.4028235e38", "3.4028235e+38", id="3.4028235e38"),
    pytest.param("3.4028236e38", ".inf", id="3.4028236e38"),
    pytest.param("0.000012345", "1.2345e-05", id="0.000012345"),
    pytest.param("1.0", "1", id="1.0"),
    pytest.param(".5", "0.5", id="dot5"),
    pytest.param("-.inf", "-.inf", id="-dot-inf"),
    pytest.param("0x1F", "31", id="0x1F"),
    pytest.param("0b11", "3", id="0b11"),
    pytest.param("yes", "true", id="yes"),
    pytest.param("2001-12-14", "2001-12-14", id="date"),
    pytest.param(".5_0", "0.5", id="dot5_0"),
    pytest.param("1e-45", "1e-45", id="1e-45"),
    pytest.param("1e-46", "0", id="1e-46"),
    pytest.param("0.3", "0.3", id="0.3"),
    pytest.param("2.5e-5", "2.5e-05", id="2.5e-5"),
    pytest.param("12345678.9", "1.2345679e+07", id="12345678.9"),
    pytest.param("-1.5e10", "-1.5e+10", id="-1.5e10"),
    pytest.param("!!binary aGk=", "hi", id="bin-key"),
    pytest.param("!!timestamp 2001-12-14", "2001-12-14", id="ts-tag"),
    pytest.param("-9223372036854775808", "-9223372036854775808", id="uint-neg"),
    pytest.param("18446744073709551616", "1.8446744e+19", id="18446744073709551616"),
]


@pytest.mark.parametrize(("key", "json_key"), JSON_KEYS)
def test_a_map_key_becomes_the_json_key_kube_apiserver_names(key: str, json_key: str) -> None:
    loaded = load_first_document(R + f"{key}: x\n")
    assert not loaded.errors
    assert isinstance(loaded.value, dict)
    assert [name for name in loaded.value if name not in ("apiVersion", "kind", "rules")] == [
        json_key
    ]


def test_float32_key_text_rounds_like_go() -> None:
    assert go_format_float32(16777217.0) == "1.6777216e+07"
    assert go_format_float32(float("nan")) == ".nan"
    assert go_format_float32(-1e39) == "-.inf"
    assert go_format_float32(5e-324) == "0"


def test_plain_scalars_resolve_to_go_values() -> None:
    assert resolve_plain(".5_0") == 0.5
    assert resolve_plain("09") == 9.0
    assert resolve_plain("0x_1F") == 31
    assert resolve_plain("+_1") == 1
    assert resolve_plain("1e400") == "1e400"
    assert resolve_plain("2001-12-14") == "2001-12-14"
    assert resolve_scalar("!", "42").value == "42"
    assert resolve_scalar("tag:yaml.org,2002:float", "1").value == 1.0


def test_a_bad_tagged_value_is_reported_at_its_field_and_line() -> None:
    text = H + "rules:\n- level: None\n  users:\n  - alice\n  - !!timestamp 2001-13-01\n"
    [problem] = check_policy_text(text, source="case.yaml")
    assert problem.severity == "error"
    assert problem.field == "rules[0].users[1]"
    assert problem.line == 7
    assert "!!timestamp" in problem.message


def test_a_merge_over_a_set_key_names_both_lines() -> None:
    text = H + "rules:\n- &b {level: Metadata}\n- level: None\n  <<: *b\n"
    [problem] = check_policy_text(text, source="case.yaml")
    assert problem.severity == "warning"
    assert problem.field == "rules[1].level"
    assert "line 5 sets it" in problem.message
    assert "<< merge on line 6" in problem.message


def test_a_null_key_is_reported_with_its_line() -> None:
    text = H + "metadata:\n  labels:\n    a: b\n    ~: c\nrules:\n- level: None\n"
    [problem] = check_policy_text(text, source="case.yaml")
    assert problem.severity == "error"
    assert problem.field == "metadata.labels"
    assert problem.line == 6
    assert "unsupported map key" in problem.message


def test_a_duplicate_that_replaces_an_infinity_leaves_only_the_warning() -> None:
    text = H + "omitStages: [.inf]\nomitStages: []\nrules:\n- level: None\n"
    problems = check_policy_text(text, source="case.yaml")
    assert [problem.severity for problem in problems] == ["warning"]
