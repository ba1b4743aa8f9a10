"""Hand-made policies, one per cause of a disagreement found between kaudit and kube-apiserver,
plus the limits where kaudit refuses on purpose what kube-apiserver would load."""

from __future__ import annotations

from dataclasses import dataclass

H = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
R = "rules:\n- level: None\n"
J = '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None"}]}'


@dataclass(frozen=True)
class Reproducer:
    name: str
    data: bytes
    # Why kaudit refuses this on purpose although kube-apiserver loads it; "" where the two
    # must agree.
    deliberate: str = ""


def _nested(levels: int) -> str:
    return H + R + "extra: " + "[" * levels + "]" * levels + "\n"


_DEPTH = (
    "kaudit's nesting limit (kaudit.limits.MAX_YAML_DEPTH, 64 levels) is far below go-yaml's "
    "10,000: a hostile file is stopped early; real policies nest 6 levels at most"
)

REPRODUCERS: list[Reproducer] = [
    # A first non-space `{` makes the file JSON to the API machinery.
    Reproducer(
        "flow-map-comment",
        b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]} # x\n",
    ),
    Reproducer(
        "flow-map-trailing-comma",
        b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}],}\n",
    ),
    Reproducer(
        "flow-map-document-end",
        b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]}\n...\n",
    ),
    Reproducer(
        "flow-map-second-document",
        b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]}\n---\nx: 1\n",
    ),
    Reproducer("flow-map-plain", b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: []}\n"),
    Reproducer("json-valid", J.encode()),
    Reproducer(
        "json-kind-last-wins",
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","Kind":"Foo","rules":[{"level":"None"}]}',
    ),
    Reproducer(
        "json-kind-first-loses",
        b'{"Kind":"Foo","apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None"}]}',
    ),
    Reproducer("yaml-kind-sorted", (H + "Kind: Foo\n" + R).encode()),
    # Directives, escapes, flow plain scalars.
    Reproducer("directive-yaml-1.2", ("%YAML 1.2\n---\n" + H + R).encode()),
    Reproducer("directive-yaml-1.1", ("%YAML 1.1\n---\n" + H + R).encode()),
    Reproducer("directive-unknown", ("%FOO bar\n---\n" + H + R).encode()),
    Reproducer("escape-slash", (H + R + '  users: ["a\\/b"]\n').encode()),
    Reproducer("escape-quote", (H + R + '  users: ["a\\\'b"]\n').encode()),
    Reproducer("flow-plain-colon", (H + R + "  verbs: [get, :a]\n").encode()),
    Reproducer("escape-surrogate", (H + R + '  users: ["\\uD800"]\n').encode()),
    # Go's number syntax, tags.
    Reproducer("go-float-underscore", (H + R + "  users: [.5_0]\n").encode()),
    Reproducer("timestamp-tag-no-time", (H + R + "  users: [!!timestamp hello]\n").encode()),
    Reproducer("binary-not-strict-base64", (H + R + "  users: [!!binary aGVsbG8]\n").encode()),
    Reproducer("key-above-int64", (H + R + "99999999999999999999: x\n").encode()),
    Reproducer("float-out-of-range", (H + R + "  users: [1e400]\n").encode()),
    Reproducer("non-specific-tag", (H + "rules:\n- level: ! None\n").encode()),
    # Whitespace and line breaks.
    Reproducer("tab-separator", (H + "rules:\n- level:\tNone\n").encode()),
    Reproducer("tab-before-comment", (H + "rules:\n- level: None\t# x\n").encode()),
    Reproducer("nel-breaks", (H + R).replace("\n", "\u0085").encode()),
    Reproducer("ls-breaks", (H + R).replace("\n", "\u2028").encode()),
    Reproducer("ps-breaks", (H + R).replace("\n", "\u2029").encode()),
    # Unicode case folding of keys.
    Reproducer("fold-long-s", ("apiVer\u017fion: audit.k8s.io/v1\nkind: Policy\n" + R).encode()),
    Reproducer("fold-kelvin", ("apiVersion: audit.k8s.io/v1\n\u212aind: Policy\n" + R).encode()),
    # Encodings.
    Reproducer("utf16le-bom", b"\xff\xfe" + (H + R).encode("utf-16-le")),
    Reproducer("utf16be-bom", b"\xfe\xff" + (H + R).encode("utf-16-be")),
    Reproducer("utf32le-bom", b"\xff\xfe\x00\x00" + (H + R).encode("utf-32-le")),
    Reproducer("utf32be-bom", b"\x00\x00\xfe\xff" + (H + R).encode("utf-32-be")),
    Reproducer("utf8-bom", b"\xef\xbb\xbf" + (H + R).encode()),
    # Merges: the lenient fallback's warning.
    Reproducer(
        "merge-overrides-earlier-key",
        (H + "rules:\n- &b {level: None}\n- level: Metadata\n  <<: *b\n").encode(),
    ),
    Reproducer(
        "merge-two-maps-same-key",
        (H + "rules:\n- &a {level: None}\n- &b {level: Metadata}\n- <<: [*a, *b]\n").encode(),
    ),
    # Hostile shapes that both refuse, and the limits kaudit sets on purpose.
    Reproducer("alias-recursive", (H + R + "extra: &a [*a]\n").encode()),
    Reproducer(
        "alias-bomb",
        (
            H
            + R
            + 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
                for i in range(6)
            )
        ).encode(),
    ),
    Reproducer("digits-5000-user", (H + R + "  users: [" + "1" * 5000 + "]\n").encode()),
    Reproducer("digits-5000-unknown", (H + R + "extra: " + "1" * 5000 + "\n").encode()),
    Reproducer("depth-within-limit", _nested(60).encode()),
    Reproducer("depth-past-limit", _nested(70).encode(), deliberate=_DEPTH),
    Reproducer(
        "rules-past-limit",
        (H + "rules:\n" + "- level: None\n" * 1001).encode(),
        deliberate="kaudit's limit of 1,000 rules (kaudit.limits.MAX_POLICY_RULES); real "
        "policies have at most a few dozen",
    ),
    Reproducer(
        "value-past-limit",
        (H + R + "  users: [" + "a" * 17_000 + "]\n").encode(),
        deliberate="kaudit's limit of 16 KiB for one value (kaudit.limits.MAX_POLICY_SCALAR_BYTES)",
    ),
]
