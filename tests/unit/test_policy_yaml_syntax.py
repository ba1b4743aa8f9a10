"""The YAML syntax layer of policies: each case with the verdict kube-apiserver v1.34.4 gave it.

Every input below was loaded by the real kube-apiserver v1.34.4 binary
(`python -m tests.parity.oracle`, `--audit-policy-file`, etcd unreachable) and its verdict
recorded: "ok" (loaded), "warn" (loaded after "falling back to lenient decoding") or "refused".
They pin down where go-yaml v2's reader, scanner and parser (go.yaml.in/yaml/v2 v2.4.2, what
sigs.k8s.io/yaml v1.6.0 uses) differ from ruamel.yaml's: directives, escapes, tabs, NEL/LS/PS,
`:` and `?` in flow context, tags, anchor names, document markers, block scalar headers and the
encodings (UTF-16 with a byte order mark, no UTF-32). Bytes go through decode_yaml_bytes as a
non-JSON policy file does; text that is valid UTF-8 is also checked as text.
"""

from __future__ import annotations

import codecs

import pytest

from kaudit.policy import check_policy_text
from kaudit.policy.goyaml_syntax import YamlEncodingError, decode_yaml_bytes
from tests.parity.cases import outcome_of

H = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
R = "rules:\n- level: None\n"
P = H + R
PB = P.encode()
COMMENTS_1200 = ("# " + "x" * 60 + "\n") * 20


def utf16le(text: str, *, bom: bool) -> bytes:
    return (codecs.BOM_UTF16_LE if bom else b"") + text.encode("utf-16-le")


def bom_in_comment_at(offset: int) -> str:
    """A first comment line whose U+FEFF starts at byte `offset`, then a valid policy."""
    return "# " + "x" * (offset - 2) + "\ufeff\n" + P


def bom_at_line_start_after(offset: int) -> str:
    """A comment line of `offset` bytes, then a policy whose `kind` line starts with U+FEFF."""
    return "# " + "x" * (offset - 3) + "\n" + P.replace("kind", "\ufeffkind")


OBSERVED = [
    pytest.param("%YAML 1.2\n---\n" + P, "refused", id="dir-yaml12"),
    pytest.param("%YAML 1.1\n---\n" + P, "ok", id="dir-yaml11"),
    pytest.param("%YAML 1.0\n---\n" + P, "refused", id="dir-yaml10"),
    pytest.param("%YAML 2.0\n---\n" + P, "refused", id="dir-yaml20"),
    pytest.param("%FOO bar\n---\n" + P, "refused", id="dir-unknown"),
    pytest.param("%YAML 1.1#c\n---\n" + P, "ok", id="dir-yaml11-hash-nospace"),
    pytest.param("%YAML 001.1\n---\n" + P, "refused", id="dir-yaml-long-number"),
    pytest.param("%YAML\t1.1\n---\n" + P, "ok", id="dir-yaml-tab"),
    pytest.param("%YAML 1.1\n%YAML 1.1\n---\n" + P, "refused", id="dir-yaml-dup"),
    pytest.param("%YAML 1.1\n" + P, "refused", id="dir-no-doc-start"),
    pytest.param("%TAG !e! tag:example.com,2000:\n---\n" + P, "ok", id="dir-tag"),
    pytest.param("%TAG !e! a:\n%TAG !e! b:\n---\n" + P, "refused", id="dir-tag-dup"),
    pytest.param("%TAG ! tag:example.com,2000:\n---\n" + P, "ok", id="dir-tag-override-bang"),
    pytest.param(P + "%FOO\n---\n", "refused", id="dir-after-first-doc"),
    pytest.param("%YAML.x 1\n---\n" + P, "refused", id="dir-name-dot"),
    pytest.param(P + '  users: ["a\\/b"]\n', "refused", id="esc-slash"),
    pytest.param(P + '  users: ["a\\\'b"]\n', "ok", id="esc-squote"),
    pytest.param(P + '  users: ["\\uD800"]\n', "refused", id="esc-surrogate"),
    pytest.param(P + '  users: ["\\U00110000"]\n', "refused", id="esc-U-too-big"),
    pytest.param(P + '  users: ["\\U0010FFFF"]\n', "ok", id="esc-U-max"),
    pytest.param(P + '  users: ["a\\x00b"]\n', "ok", id="esc-x-nul"),
    pytest.param(P + '  users: ["\\xff"]\n', "ok", id="esc-x-ff"),
    pytest.param(P + '  users: ["\\N\\L\\P\\_"]\n', "ok", id="esc-NLP_"),
    pytest.param(P + '  users: ["\\e\\ \\\t"]\n', "ok", id="esc-e-space-tab"),
    pytest.param(P + '  users: ["\\q"]\n', "refused", id="esc-unknown-q"),
    pytest.param(P + '  users: ["\\u12"]\n', "refused", id="esc-u-short"),
    pytest.param(H + "rules:\n- level:\tNone\n", "ok", id="tab-after-colon"),
    pytest.param(H + "rules:\n- level: None\t# x\n", "ok", id="tab-before-comment"),
    pytest.param(H + "rules:\n- level: None\t\n", "ok", id="tab-trailing-plain"),
    pytest.param(H + 'rules:\n- level: "None"\t\n', "ok", id="tab-trailing-quoted"),
    pytest.param(P + "  users:\n  - al\tice\n", "ok", id="tab-inside-plain-block"),
    pytest.param(P + "  users: [al\tice]\n", "ok", id="tab-inside-plain-flow"),
    pytest.param(H + "rules:\n- level\t: None\n", "ok", id="tab-before-colon"),
    pytest.param(H + "rules:\n\t- level: None\n", "refused", id="tab-indent"),
    pytest.param(H + "rules:\n-\tlevel: None\n", "refused", id="tab-after-dash"),
    pytest.param(P.replace("apiVersion: ", "apiVersion:\t"), "ok", id="tab-top-value"),
    pytest.param(P + "  verbs: [get,\tlist]\n", "ok", id="tab-in-flow"),
    pytest.param(P + "  users:\n  - a\n    \tb\n", "ok", id="tab-plain-continuation"),
    pytest.param(H + "rules:\n- ? level\n  :\tNone\n", "refused", id="tab-complex-value"),
    pytest.param(H + "rules:\n\t\n- level: None\n", "refused", id="tab-line-only"),
    pytest.param(P.replace("\n", "\x85"), "ok", id="nel-breaks"),
    pytest.param(P.replace("\n", "\u2028"), "ok", id="ls-breaks"),
    pytest.param(P.replace("\n", "\u2029"), "ok", id="ps-breaks"),
    pytest.param(P.replace("\n", "\r"), "ok", id="cr-breaks"),
    pytest.param(P.replace("\n", "\r\n"), "ok", id="crlf-breaks"),
    pytest.param(P + "  verbs: [get, :a]\n", "refused", id="flow-colon-start"),
    pytest.param(P + "  verbs: [get, a:b]\n", "ok", id="flow-colon-inside"),
    pytest.param(P + "  verbs: [get, a?b]\n", "refused", id="flow-question-inside"),
    pytest.param(H + "rules:\n- {level: None, x: :b}\n", "refused", id="flow-map-colon-value"),
    pytest.param(H + "rules:\n- {level: None, verbs: [get]}\n", "ok", id="flow-map-rule"),
    pytest.param(P + "  users: [a#b]\n", "ok", id="hash-inside-plain"),
    pytest.param(P + '  users:\n  - "a"#c\n', "ok", id="hash-after-quoted"),
    pytest.param(H + "rules:\n- level: ! None\n", "ok", id="tag-bang-level"),
    pytest.param(P + "  users: [! 5]\n", "ok", id="tag-bang-number"),
    pytest.param(P + "  omitManagedFields: ! true\n", "refused", id="tag-bang-bool"),
    pytest.param(P + "  users: [!!str 5]\n", "ok", id="tag-str-number"),
    pytest.param(P + "  users: [!<tag:yaml.org,2002:str> 5]\n", "ok", id="tag-verbatim-str"),
    pytest.param(P + "  users: [!e!str 5]\n", "refused", id="tag-undefined-handle"),
    pytest.param(P + "  users: [!foo bar]\n", "ok", id="tag-local"),
    pytest.param(P + "  users:\n  - !foo#bar x\n", "refused", id="tag-hash-in-uri"),
    pytest.param(P + "  users:\n  - !! x\n", "refused", id="tag-double-bang-alone"),
    pytest.param(P + "  users:\n  - !%41 x\n", "ok", id="tag-uri-escape"),
    pytest.param(
        "%TAG !e! tag:yaml.org,2002:\n---\n" + P + "  users: [!e!str 5]\n",
        "ok",
        id="tag-directive-used",
    ),
    pytest.param(P + "  users: [&a.b x]\n", "refused", id="anchor-dot"),
    pytest.param(P + "  users: [&a x, *a]\n", "ok", id="anchor-plain"),
    pytest.param(P + "  users: [&é x]\n", "refused", id="anchor-unicode"),
    pytest.param(H + "rules:\n- &r level: None\n", "ok", id="anchor-colon-end"),
    pytest.param("---\n" + P, "ok", id="doc-start"),
    pytest.param("--- # c\n" + P, "ok", id="doc-start-comment"),
    pytest.param("---\t\n" + P, "ok", id="doc-start-tab"),
    pytest.param(P + "... foo\n", "ok", id="doc-end-content"),
    pytest.param(P + "...\n---\nfoo: [\n", "ok", id="doc-end-then-broken"),
    pytest.param(P + '  users: ["a\n---\n  b"]\n', "refused", id="doc-marker-in-quoted"),
    pytest.param(P + "---\nx: 1\n", "ok", id="doc-extra"),
    pytest.param(H + "rules:\n- ? level\n  : None\n", "ok", id="complex-key"),
    pytest.param(H + "metadata:\n  name: |-\t\n    foo\n" + R, "ok", id="block-header-tab"),
    pytest.param(
        H + "metadata:\n  name: |-#c\n    foo\n" + R, "ok", id="block-header-hash-nospace"
    ),
    pytest.param(
        H + "metadata:\n  name: >-\t# c\n    foo\n" + R, "ok", id="block-header-tab-comment"
    ),
    pytest.param(H + "metadata:\n  name: |-\n    foo\n" + R, "ok", id="block-plain"),
    pytest.param(
        H + "metadata:\n  name: |-\n       \n    foo\n" + R,
        "refused",
        id="block-more-indented-leading",
    ),
    pytest.param("\ufeff" + P, "ok", id="enc-utf8-bom"),
    pytest.param(utf16le(P, bom=True), "ok", id="enc-utf16le-bom"),
    pytest.param(codecs.BOM_UTF16_BE + P.encode("utf-16-be"), "ok", id="enc-utf16be-bom"),
    pytest.param(codecs.BOM_UTF32_LE + P.encode("utf-32-le"), "refused", id="enc-utf32le-bom"),
    pytest.param(codecs.BOM_UTF32_BE + P.encode("utf-32-be"), "refused", id="enc-utf32be-bom"),
    pytest.param(utf16le(P, bom=False), "refused", id="enc-utf16le-nobom"),
    pytest.param(PB + b"  users: [a\xff]\n", "refused", id="enc-invalid-utf8"),
    pytest.param(PB + b"  users: [a\xc0\x80]\n", "refused", id="enc-overlong-utf8"),
    pytest.param(PB + b"  users: [a\xed\xa0\x80]\n", "refused", id="enc-utf8-surrogate"),
    pytest.param(PB + b"  users: [a]\n#\xe2\x82", "refused", id="enc-truncated-utf8"),
    pytest.param(
        "apiVersion: audit.k8s.io/v1\n\ufeffkind: Policy\n" + R, "warn", id="enc-bom-at-line-start"
    ),
    pytest.param(P + '  users: ["a\ufeffb"]\n', "ok", id="enc-bom-in-quoted"),
    pytest.param(utf16le(P, bom=True) + b"\x00\xd8", "refused", id="enc-utf16-unpaired-surrogate"),
    pytest.param(P + "  users: [a\x01b]\n", "refused", id="char-ctrl-01"),
    pytest.param(P + "  users: [a\x7fb]\n", "refused", id="char-del"),
    pytest.param(P + "  users: [a\ufffeb]\n", "refused", id="char-fffe"),
    pytest.param(P + "  users: [a\ufdd0b]\n", "ok", id="char-fdd0"),
    pytest.param(P + '  users: ["a\x80b"]\n', "refused", id="char-c1-80"),
    pytest.param(P + "\x00", "refused", id="char-nul-end"),
    pytest.param(H + "rules:\n- ?\tlevel\n  : None\n", "refused", id="tab-after-question"),
    pytest.param(P + "  users: [&a\tx]\n  groups:\n  - &b\ty\n", "warn", id="tab-after-anchor"),
    pytest.param(P + "  users:\n  - !!str\t5\n", "ok", id="tab-after-tag"),
    pytest.param(H + 'rules:\n- "level"\t: None\n', "ok", id="tab-after-quoted-key"),
    pytest.param(P + "  verbs: [get]\t# c\n", "ok", id="tab-after-flow-end"),
    pytest.param(H + "rules:\n\t# c\n- level: None\n", "refused", id="tab-comment-line"),
    pytest.param(H + "rules:\t\n- level: None\n", "ok", id="tab-after-key-line"),
    pytest.param("--- " + P, "refused", id="doc-start-content-map"),
    pytest.param(
        "--- {apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]}\n",
        "ok",
        id="doc-start-content-flow",
    ),
    pytest.param(H + "rules:\n- {level: None, : x}\n", "refused", id="flow-empty-key"),
    pytest.param(P + ": x\n", "refused", id="block-empty-key"),
    pytest.param(P + "  verbs: [get, list, ]\n", "ok", id="flow-trailing-comma"),
    pytest.param(P + "  verbs: [get,\nlist]\n", "ok", id="flow-multiline-dedent"),
    pytest.param(P + "  verbs: [get\n    list]\n", "ok", id="flow-plain-multiline"),
    pytest.param(H + "metadata:\n  name: a\n    b\n" + R, "ok", id="plain-multiline-value"),
    pytest.param(P + "  users: [a\u2028b]\n", "ok", id="plain-ls-inside"),
    pytest.param(utf16le(P + "  users: [\U0001f600]\n", bom=True), "ok", id="utf16le-emoji"),
    pytest.param(P + "  users: [😀]\n", "ok", id="utf8-4byte"),
    pytest.param("%yaml 1.1\n---\n" + P, "refused", id="dir-lowercase-yaml"),
    pytest.param("%YAML 1.1 x\n---\n" + P, "refused", id="dir-yaml-trailing"),
    pytest.param(
        "%TAG !! tag:example.com,2000:\n---\n" + P + "  users: [!!int 5]\n",
        "ok",
        id="dir-tag-bang-bang",
    ),
    pytest.param(
        "%TAG !e! tag:yaml.org,2002:\n---\n" + P + "  users: [!e!int '5']\n",
        "refused",
        id="dir-tag-int-used",
    ),
    pytest.param("%TAG !e tag:x:\n---\n" + P, "refused", id="dir-tag-bad-handle"),
    pytest.param(P + '  users: ["a\tb"]\n', "ok", id="esc-tab-literal-dq"),
    pytest.param(P + "  users: ['a\\/b']\n", "ok", id="sq-backslash"),
    pytest.param(P + "  users: [&1 x, *1]\n", "ok", id="anchor-digits"),
    pytest.param(P + "  users: [*nope]\n", "refused", id="alias-undefined"),
    pytest.param(P + "  users: [&a *b]\n", "refused", id="anchor-then-alias"),
    pytest.param(
        H + "metadata:\n  name: |\n  \tfoo\n" + R, "refused", id="block-tab-indent-first-line"
    ),
    pytest.param(
        H + "metadata:\n  name: |-\n    \tfoo\n" + R, "refused", id="block-tab-after-indent"
    ),
    pytest.param(H + "metadata:\n  name: |+\n    foo\n\n" + R, "ok", id="block-keep"),
    pytest.param(H + "metadata:\n  name: |2-\n     foo\n" + R, "ok", id="block-explicit-indent"),
    pytest.param(
        H + "metadata:\n  name: |x\n    foo\n" + R, "refused", id="block-indicator-then-x"
    ),
    pytest.param(H + "metadata:\n  name: |0\n    foo\n" + R, "refused", id="block-zero-indent"),
    pytest.param(
        H + "metadata:\n  name: |-\n  \n      \n  namespace: x\n" + R,
        "ok",
        id="block-leading-more-indented-then-key",
    ),
    pytest.param(P + "  " + "k" * 1030 + ": x\n", "refused", id="long-key-1030"),
    pytest.param(P + '  users: ["a\x85b"]\n', "ok", id="nel-in-quoted"),
    pytest.param(
        H + "rules:\n- &r {level: None}\n- ! <<: *r\n  verbs: [get]\n", "ok", id="bang-merge-key"
    ),
    pytest.param(P + '  users: [! "5"]\n', "ok", id="bang-quoted"),
    pytest.param(P + "  users: ! [a]\n", "ok", id="bang-sequence"),
    pytest.param(P + "  users: [!<!> 5]\n", "ok", id="verbatim-bang"),
    pytest.param(PB + b"---\n\xff\n", "refused", id="later-doc-invalid-utf8-near"),
    pytest.param(bom_in_comment_at(496), "ok", id="bom-comment-at-496"),
    pytest.param(bom_in_comment_at(510), "refused", id="bom-comment-at-510"),
    pytest.param(bom_in_comment_at(512), "refused", id="bom-comment-at-512"),
    pytest.param(bom_at_line_start_after(400), "warn", id="bom-line-at-400"),
    pytest.param(bom_at_line_start_after(512), "warn", id="bom-line-at-512"),
    pytest.param(b"", "refused", id="empty-file"),
    pytest.param(codecs.BOM_UTF8, "refused", id="bom-only"),
    pytest.param(codecs.BOM_UTF16_LE, "refused", id="utf16-bom-only"),
    pytest.param(utf16le(P, bom=True) + b"\x00", "refused", id="utf16-odd-length"),
    pytest.param(codecs.BOM_UTF8 + ("\ufeff" + P).encode(), "refused", id="double-bom"),
    pytest.param(P + "  users:\n  - !%ff x\n", "refused", id="tag-bad-uri-escape"),
    pytest.param(P + "  users: [&a , b]\n", "ok", id="anchor-empty-in-flow"),
    pytest.param(P + "  verbs: [-]\n", "ok", id="dash-alone-in-flow"),
    pytest.param(H + "rules:\n- {level:\tNone}\n", "ok", id="tab-after-comma-flow-key"),
    pytest.param((P + "  verbs: [get]\t\n").replace("\n", "\r\n"), "ok", id="crlf-tab-before-cr"),
    pytest.param(H + 'rules:\n- {"level"\t: None}\n', "ok", id="quoted-key-tab-colon-flow"),
    pytest.param(
        H + "metadata:\n  name: a\n    - b\n" + R, "ok", id="plain-dash-space-continuation"
    ),
    pytest.param(
        codecs.BOM_UTF16_BE + P.replace("\n", "\u2028").encode("utf-16-be"),
        "ok",
        id="utf16be-ls-breaks",
    ),
]

# Mutations of valid policies (a character inserted, removed or indented, seeded) on which
# kaudit's ruamel-based reader disagreed with the binary before go-yaml's rules were applied.
FOUND_BY_MUTATION = [
    pytest.param(
        H + 'ru|les:\n- level: None\n  users: ["\\U00110000"]\n', "refused", id="fuzz-046"
    ),
    pytest.param(P + "  us\ters:\n  - !%41 x\n", "warn", id="fuzz-047"),
    pytest.param(
        H
        + (
            "omitStages: [RequestReceived]\n"
            "rules:\n"
            "- level: None\n"
            "  nonReso\u2028"
            "urceURLs:\n"
            "  - /healthz*\n"
            '  - "/versio&a n"\n'
        ),
        "refused",
        id="fuzz2-001",
    ),
    pytest.param(
        H + ('rules:\n- level: Metadata\n  user&a s: [alice, "bob"]\n...  verbs: [get, list]\n'),
        "warn",
        id="fuzz2-008",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods? , 'pods/log']\n"
            "  namespaces: [kube-system]\n"
        ),
        "refused",
        id="fuzz2-102",
    ),
    pytest.param(
        H + ('rules:\n- level: Metadata\n  users: [ali? ce, "bob"]\n  vebs: [get, list]\n'),
        "refused",
        id="fuzz2-154",
    ),
    pytest.param(
        H
        + (
            "omit? Stages: [RequestReceiv\ted]\n"
            "rules:\n"
            "- level: None\n"
            "  nonResourceURLs:\n"
            "  - /healthz*\n"
            '  - "/version"\n'
        ),
        "warn",
        id="fuzz2-181",
    ),
    pytest.param(
        H
        + (
            "metadata\u2029"
            ":\n"
            "  name: p\n"
            "  labels: {a: b}\n"
            "rules:\n"
            "- level: None\n"
            "  userGroups:\n"
            "  - system:nodes\n"
        ),
        "refused",
        id="fuzz3-003",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespaces: [kube-\t\tsystem]\n"
        ),
        "ok",
        id="fuzz3-014",
    ),
    pytest.param(
        H
        + (
            "metadata:\n"
            "  name: |-\n"
            "    abc\n"
            "  annotations:\n"
            "    a: >\n"
            "      x\n"
            "      y\n"
            "rules:\n"
            "- level: \u2028"
            "None\n"
        ),
        "refused",
        id="fuzz3-028",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespaces:\t#x [kube-system]\n"
        ),
        "ok",
        id="fuzz3-029",
    ),
    pytest.param(
        H
        + (
            "omitStag\tes: [RequestReceived]\n"
            "rules:\n"
            "- level: None\n"
            "  nonResourceURLs:\n"
            "  - /healthz*\n"
            '  - "/version"\n'
        ),
        "warn",
        id="fuzz3-038",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level\t\t: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespaces: [kube-system]\n"
        ),
        "ok",
        id="fuzz3-041",
    ),
    pytest.param(
        (
            "---\n"
            "apiVersion: audit.k8s.io/v1\n"
            "kind: Policy\n"
            "rules:\n"
            "- &r {level: None}\n"
            "- level: Metadata # c\n"
            "  omitManag\u2028"
            "edFields: true\n"
        ),
        "refused",
        id="fuzz3-044",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [:pods, 'pods/log']\n"
            "  namespaces: [kube-system]\n"
        ),
        "refused",
        id="fuzz3-051",
    ),
    pytest.param(
        H
        + (
            "metadata:\n"
            "  name: |-\n"
            "    abc\n"
            "  annotations:\n"
            "    a: >\n"
            "      x\n"
            "      y\n"
            "\u2028"
            "rules:\n"
            "- level: None\n"
        ),
        "ok",
        id="fuzz3-056",
    ),
    pytest.param(
        H
        + (
            "omitStages: [RequestReceived]\n"
            "rules:\n"
            "- level: None\n"
            "  nonResourceURLs:\n"
            "  - \u2029"
            "/healthz*\n"
            '  - "/version"\n'
        ),
        "refused",
        id="fuzz3-060",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespace\u2029"
            "s: [kube-system]\n"
        ),
        "refused",
        id="fuzz3-077",
    ),
    pytest.param(
        H
        + (
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespaces: [kub?e-system]\n"
        ),
        "refused",
        id="fuzz3-082",
    ),
    pytest.param(
        (
            "apiVersion: audit.k8s.io/v1\n"
            "\u2028"
            "kind: Policy\n"
            "rules:\n"
            "- level: Request\n"
            "  resources:\n"
            "  - group: ''\n"
            "    resources: [pods, 'pods/log']\n"
            "  namespaces: [kube-system]\n"
        ),
        "ok",
        id="fuzz3-084",
    ),
    pytest.param(
        H
        + (
            "metadata:\n"
            "  n\x85"
            "ame: p\n"
            "  labels: {a: b}\n"
            "rules:\n"
            "- level: None\n"
            "  userGroups:\n"
            "  - system:nodes\n"
        ),
        "refused",
        id="fuzz3-101",
    ),
    pytest.param(
        H + ('rules:\n- level: Metadata\n  users: [alice, "bob"]\n  ve\trbs: [get, list]\n'),
        "warn",
        id="fuzz3-125",
    ),
    pytest.param(
        H + ('rules:\n- level: Metadata\n  users: [alice, "bob"]\n  verbs: [get, l\t\tist]\n'),
        "ok",
        id="fuzz3-144",
    ),
]

# kube-apiserver loaded these, kaudit refuses them on purpose (the safe direction):
# - go-yaml's reader decodes 512 bytes at a time and stops once the first document is parsed,
#   so a bad byte or control character far enough into a later document is never read; kaudit
#   checks the whole file.
# - a U+FEFF that may begin go-yaml's read buffer makes its scanner skip the first character
#   of later lines (see bom-comment-at-510 above: `apiVersion` loses its `a`); kaudit refuses
#   every U+FEFF within 8 characters of a 512-byte boundary, not only those that do.
STRICTER_THAN_KUBE_APISERVER = [
    pytest.param(
        (P + "---\n" + COMMENTS_1200).encode() + b"\xff\n", "ok", id="later-doc-invalid-utf8-far"
    ),
    pytest.param(P + "---\n" + COMMENTS_1200 + "\x01\n", "ok", id="later-doc-ctrl-far"),
    pytest.param(bom_in_comment_at(502), "ok", id="bom-comment-at-502"),
    pytest.param(bom_in_comment_at(508), "ok", id="bom-comment-at-508"),
]


def _verdict_of_bytes(data: bytes) -> str:
    try:
        text = decode_yaml_bytes(data)
    except YamlEncodingError:
        return "refused"
    return _verdict_of_text(text)


def _verdict_of_text(text: str) -> str:
    return outcome_of(check_policy_text(text, source="case.yaml"))


def _as_bytes(case: str | bytes) -> bytes:
    return case if isinstance(case, bytes) else case.encode("utf-8")


@pytest.mark.parametrize(("case", "observed"), OBSERVED + FOUND_BY_MUTATION)
def test_policy_syntax_gets_the_verdict_kube_apiserver_1_34_4_gave_it(
    case: str | bytes, observed: str
) -> None:
    data = _as_bytes(case)
    assert _verdict_of_bytes(data) == observed
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    # The same file handed over as text (a UTF-8 BOM is part of the text then).
    assert _verdict_of_text(text) == observed


@pytest.mark.parametrize(("case", "observed"), STRICTER_THAN_KUBE_APISERVER)
def test_policy_syntax_kaudit_refuses_what_kube_apiserver_may_not_read(
    case: str | bytes, observed: str
) -> None:
    assert observed == "ok"
    assert _verdict_of_bytes(_as_bytes(case)) == "refused"


def test_a_refused_encoding_names_the_line_and_the_supported_encodings() -> None:
    with pytest.raises(YamlEncodingError) as raised:
        decode_yaml_bytes(PB + b"  users: [a\xff]\n")
    assert raised.value.line == 5
    assert "UTF-16" in str(raised.value)


def test_a_refused_character_is_reported_with_its_line() -> None:
    problems = check_policy_text(P + "  users: [a\x01b]\n", source="case.yaml")
    assert [(problem.severity, problem.line) for problem in problems] == [("error", 5)]
    assert "U+0001" in problems[0].message


def test_utf16_decodes_to_the_text_without_its_byte_order_mark() -> None:
    assert decode_yaml_bytes(utf16le(P, bom=True)) == P
    assert decode_yaml_bytes(codecs.BOM_UTF8 + PB) == P
