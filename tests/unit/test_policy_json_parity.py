"""JSON policy files, and apiVersion/kind matching, with the verdict kube-apiserver v1.34.4 gave.

kube-apiserver decodes a file whose first character after Unicode spaces is `{` as JSON only
(k8s.io/apimachinery util/yaml IsJSONBuffer), with encoding/json for apiVersion and kind
(meta.go, Go's case folding, the last key in document order wins) and sigs.k8s.io/json for the
rest (strict, then lenient). Every case below was loaded by the real binary (built from
k8s.io/kubernetes v1.34.4, through tests.parity.oracle) and its verdict recorded: "ok" (loaded),
"warn" (loaded after "falling back to lenient decoding"), "refused" (the start failed).
"""

from __future__ import annotations

import pytest

from kaudit.limits import MAX_YAML_DEPTH
from kaudit.policy import PolicyProblem, check_policy_bytes, check_policy_text
from kaudit.policy.jsondoc import is_json_buffer, load_json_document
from tests.parity.cases import outcome_of

# The pieces most cases share: the type meta (P), one rule (R), a whole valid policy (V), the
# same policy as a YAML flow mapping (FLOW), and the YAML header (H).
P = b'"apiVersion":"audit.k8s.io/v1","kind":"Policy"'
R = b'"rules":[{"level":"None"}]'
V = b"{" + P + b"," + R + b"}"
FLOW = b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]}"
H = b"apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def rule(body: bytes) -> bytes:
    """A valid policy whose one rule also has `body`."""
    return b"{" + P + b',"rules":[{"level":"None",' + body + b"}]}"


def top(body: bytes) -> bytes:
    """A valid policy that also has `body` at the top level."""
    return b"{" + P + b"," + R + b"," + body + b"}"


def nested(depth: int) -> bytes:
    """A valid policy with an unknown field nested `depth` lists deep."""
    return top(b'"x":' + b"[" * depth + b"]" * depth)


OBSERVED_JSON = [
    pytest.param(V, "ok", id="valid"),
    pytest.param(
        b'{\n  "apiVersion": "audit.k8s.io/v1",\n  "kind": "Policy",\n'
        b'  "rules": [\n    {"level": "None"}\n  ]\n}\n',
        "ok",
        id="valid-pretty",
    ),
    pytest.param(V.replace(b",", b",\r\n") + b"\r\n", "ok", id="valid-crlf"),
    pytest.param(b"{" + P + b"," + R + b",}", "refused", id="trailing-comma-object"),
    pytest.param(b"{" + P + b',"rules":[{"level":"None"},]}', "refused", id="trailing-comma-array"),
    pytest.param(V + b" # x\n", "refused", id="comment-after"),
    pytest.param(b"{" + P + b", // c\n" + R + b"}", "refused", id="comment-inside"),
    pytest.param(b"{" + P + b", /* c */ " + R + b"}", "refused", id="block-comment"),
    pytest.param(FLOW + b"\n", "refused", id="flow"),
    pytest.param(FLOW + b" # x\n", "refused", id="flow-comment"),
    pytest.param(
        b"{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}],}\n",
        "refused",
        id="flow-trailing-comma",
    ),
    pytest.param(FLOW + b"\n...\n", "refused", id="flow-dots"),
    pytest.param(FLOW + b"\n---\nfoo: bar\n", "refused", id="flow-later-doc"),
    pytest.param(V + b"\n...\n", "refused", id="json-dots"),
    pytest.param(V + b"\n---\n", "refused", id="json-later-doc"),
    pytest.param(
        b"{'apiVersion':'audit.k8s.io/v1','kind':'Policy','rules':[{'level':'None'}]}",
        "refused",
        id="single-quotes",
    ),
    pytest.param(top(b'"x":NaN'), "refused", id="nan-unknown"),
    pytest.param(top(b'"x":Infinity'), "refused", id="infinity-unknown"),
    pytest.param(top(b'"x":1e400'), "warn", id="huge-float-unknown"),
    pytest.param(rule(b'"users":[1e400]'), "refused", id="huge-float-user"),
    pytest.param(top(b'"x":1e-400'), "warn", id="tiny-float-unknown"),
    pytest.param(top(b'"x":123456789012345678901234567890'), "warn", id="big-int-unknown"),
    pytest.param(top(b'"metadata":{"generation":5}'), "ok", id="generation-int"),
    pytest.param(top(b'"metadata":{"generation":1.0}'), "refused", id="generation-float-integral"),
    pytest.param(top(b'"metadata":{"generation":1e2}'), "refused", id="generation-exponent"),
    pytest.param(
        top(b'"metadata":{"generation":123456789012345678901234567890}'),
        "refused",
        id="generation-big-int",
    ),
    pytest.param(
        top(b'"metadata":{"generation":9223372036854775807}'), "ok", id="generation-int64-max"
    ),
    pytest.param(
        top(b'"metadata":{"generation":9223372036854775808}'), "refused", id="generation-int64-over"
    ),
    pytest.param(top(b'"metadata":{"generation":-0}'), "ok", id="generation-negative-zero"),
    pytest.param(top(b'"metadata":{"generation":"5"}'), "refused", id="generation-string"),
    pytest.param(rule(b'"users":["\\ud800"]'), "ok", id="lone-high-surrogate-user"),
    pytest.param(rule(b'"users":["\\udc00x"]'), "ok", id="lone-low-surrogate-user"),
    pytest.param(rule(b'"users":["\\ud83d\\ude00"]'), "ok", id="surrogate-pair-user"),
    pytest.param(rule(b'"users":["\\ude00\\ud83d"]'), "ok", id="reversed-surrogates-user"),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"None\\ud800"}]}', "refused", id="surrogate-in-level"
    ),
    pytest.param(b"{" + P + b',"rules":[{"level":"\\u004eone"}]}', "ok", id="escaped-level"),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","\\u006bind":"Policy",' + R + b"}", "ok", id="escaped-key"
    ),
    pytest.param(rule(b'"users":["a\xff\xfeb"]'), "ok", id="invalid-utf8-user"),
    pytest.param(top(b'"x":1\xff'), "refused", id="invalid-utf8-outside"),
    pytest.param(top(b'"\xffx":1'), "warn", id="invalid-utf8-key"),
    pytest.param(rule(b'"users":["a\tb"]'), "refused", id="raw-tab-in-string"),
    pytest.param(rule(b'"users":["a\nb"]'), "refused", id="raw-newline-in-string"),
    pytest.param(rule(b'"users":["a\x7fb"]'), "ok", id="raw-del-in-string"),
    pytest.param(rule(b'"users":["a\\u0000b"]'), "ok", id="nul-escape"),
    pytest.param(rule(b'"users":["a\\x41"]'), "refused", id="bad-escape-x"),
    pytest.param(rule(b'"users":["a\\\'b"]'), "refused", id="bad-escape-quote"),
    pytest.param(rule(b'"users":["\\U00e9"]'), "refused", id="bad-escape-U"),
    pytest.param(rule(b'"users":["\\u00e"]'), "refused", id="short-u-escape"),
    pytest.param(rule(b'"users":["\\/a"]'), "ok", id="slash-escape"),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"None","nonResourceURLs":["\\/healthz"]}]}',
        "ok",
        id="slash-escape-url",
    ),
    pytest.param(b"{" + P + b"," + R + b"," + R + b"}", "warn", id="dup-top-rules"),
    pytest.param(b"{" + P + b"," + R + b',"rules":null}', "refused", id="dup-rules-null-after"),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"Bad"}],' + R + b"}", "warn", id="dup-rules-fixed"
    ),
    pytest.param(
        b"{" + P + b"," + R + b',"rules":[{"users":["a"]}]}', "warn", id="dup-rules-merge-elements"
    ),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"None"},{"level":"Bad"}],' + R + b"}",
        "warn",
        id="dup-rules-shorter",
    ),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"None","level":null}]}', "warn", id="dup-level-null-after"
    ),
    pytest.param(
        b"{" + P + b',"rules":[{"level":5,"level":"None"}]}', "refused", id="dup-level-type-first"
    ),
    pytest.param(rule(b'"users":[5],"users":["a"]'), "refused", id="dup-users-type-first"),
    pytest.param(rule(b'"users":[5],"users":null'), "refused", id="dup-users-null-after-bad"),
    pytest.param(
        b"{" + P + b',"rules":[{"level":"None"},{"level":7}],' + R + b"}",
        "refused",
        id="dup-rules-shadowed-bad-element",
    ),
    pytest.param(
        top(b'"metadata":{"name":"a"},"metadata":{"labels":{"x":"y"}}'),
        "warn",
        id="dup-metadata-merge",
    ),
    pytest.param(top(b'"x":1,"x":2'), "warn", id="dup-unknown"),
    pytest.param(rule(b'"Level":"Bad"'), "warn", id="dup-case-level"),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","Kind":"Foo",' + R + b"}",
        "refused",
        id="kind-then-Kind-foo",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","Kind":"Foo","kind":"Policy",' + R + b"}",
        "warn",
        id="Kind-foo-then-kind",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Foo","Kind":"Foo","kind":"Policy",' + R + b"}",
        "warn",
        id="kind-Kind-kind",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","Kind":null,' + R + b"}",
        "warn",
        id="kind-Kind-null",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","Kind":"Foo","kind":"Policy","Kind":null,' + R + b"}",
        "warn",
        id="kind-foo-Kind-null-kind",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","KIND":"Policy",' + R + b"}",
        "warn",
        id="KIND-only-policy",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","KIND":"Foo",' + R + b"}", "refused", id="KIND-only-foo"
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","\xe2\x84\xaaind":"Foo",' + R + b"}",
        "refused",
        id="kelvin-kind-foo-last",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","\xe2\x84\xaaind":"Policy",' + R + b"}",
        "warn",
        id="kelvin-kind-policy-only",
    ),
    pytest.param(
        b'{"apiVer\xc5\xbfion":"audit.k8s.io/v1","kind":"Policy",' + R + b"}",
        "warn",
        id="long-s-apiversion",
    ),
    pytest.param(
        b'{"ap\xc4\xb1Version":"audit.k8s.io/v1","kind":"Policy",' + R + b"}",
        "refused",
        id="dotless-i-apiversion",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","APIVERSION":"audit.k8s.io/v1beta1","kind":"Policy",'
        + R
        + b"}",
        "refused",
        id="apiversion-v1beta1-then-APIVERSION",
    ),
    pytest.param(
        b'{"APIVERSION":"audit.k8s.io/v1beta1","apiVersion":"audit.k8s.io/v1","kind":"Policy",'
        + R
        + b"}",
        "warn",
        id="APIVERSION-then-apiversion",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1beta1","apiVersion":"audit.k8s.io/v1","kind":"Policy",'
        + R
        + b"}",
        "warn",
        id="dup-apiversion",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":5,"kind":"Policy",' + R + b"}",
        "refused",
        id="kind-type-then-policy",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","Kind":5,' + R + b"}",
        "refused",
        id="Kind-number-after",
    ),
    pytest.param(b'{"apiVersion":"audit.k8s.io/v1","kind":"",' + R + b"}", "ok", id="kind-empty"),
    pytest.param(b" \t\r\n" + V, "ok", id="space-tab-crlf-before"),
    pytest.param(b"\x0b" + V, "refused", id="vtab-before"),
    pytest.param(b"\x0c" + V, "refused", id="formfeed-before"),
    pytest.param(b"\xc2\x85" + V, "refused", id="nel-before"),
    pytest.param(b"\xc2\xa0" + V, "refused", id="nbsp-before"),
    pytest.param(b"\xe2\x80\xa8" + V, "refused", id="ls-before"),
    pytest.param(b"\xe3\x80\x80" + V, "refused", id="ideographic-space-before"),
    pytest.param(b"\xe1\xa0\x8e" + V, "refused", id="mongolian-vowel-separator-before"),
    pytest.param(b"\xe2\x80\x8b" + V, "refused", id="zwsp-before"),
    pytest.param(b"\xef\xbb\xbf" + V, "ok", id="bom-json"),
    pytest.param(b"\xef\xbb\xbf" + FLOW + b" # x\n", "ok", id="bom-flow-comment"),
    pytest.param(b"\n" + FLOW + b"\n", "refused", id="newline-flow"),
    pytest.param(b"# c\n" + FLOW + b" # x\n", "ok", id="comment-line-then-flow"),
    pytest.param(nested(60), "warn", id="depth-60"),
    pytest.param(nested(10001), "refused", id="depth-10001"),
    pytest.param(V + b"x", "refused", id="trailing-garbage"),
    pytest.param(V + b"\x00", "refused", id="trailing-nul"),
    pytest.param(V + V, "refused", id="two-objects"),
    pytest.param(V + b"\n" + V + b"\n", "refused", id="two-objects-newline"),
    pytest.param(b"[" + V + b"]", "refused", id="array-first"),
    pytest.param(b"{}", "refused", id="empty-object"),
    pytest.param(V[:-1], "refused", id="unclosed"),
    pytest.param(top(b'"x":01'), "refused", id="leading-zero"),
    pytest.param(top(b'"x":+1'), "refused", id="plus-number"),
    pytest.param(top(b'"x":.5'), "refused", id="dot-number"),
    pytest.param(top(b'"x":1.'), "refused", id="trailing-dot"),
    pytest.param(top(b'"x":1e'), "refused", id="bare-exponent"),
    pytest.param(top(b'"x":-'), "refused", id="minus-only"),
    pytest.param(top(b'"omitManagedFields":true'), "ok", id="omf-true"),
    pytest.param(top(b'"omitManagedFields":True'), "refused", id="omf-True"),
    pytest.param(top(b'"x":1'), "warn", id="unknown-field"),
    pytest.param(b"{" + P + b',"rules":null}', "refused", id="rules-null"),
    pytest.param(b"{" + P + b",rules:[]}", "refused", id="unquoted-key"),
    pytest.param(
        top(b'"metadata":{"creationTimestamp":"2024-01-01T00:00:00Z"}'),
        "ok",
        id="creation-timestamp-ok",
    ),
    pytest.param(
        top(b'"metadata":{"creationTimestamp":"yesterday"}'), "refused", id="creation-timestamp-bad"
    ),
    pytest.param(
        b"{" + P + b"," + R + b',"rules":[{"level":null}]}',
        "warn",
        id="dup-rules-element-level-null",
    ),
    pytest.param(b"{" + P + b"," + R + b',"rules":[null]}', "warn", id="dup-rules-element-null"),
    pytest.param(b"{" + P + b"," + R + b',"rules":[]}', "refused", id="dup-rules-empty-after"),
    pytest.param(top(b'"omitStages":["Bad"],"omitStages":[]'), "warn", id="dup-omitstages-emptied"),
    pytest.param(
        top(b'"omitStages":["RequestReceived"],"omitStages":["Bad"]'),
        "refused",
        id="dup-omitstages-bad-after",
    ),
    pytest.param(
        top(b'"metadata":{"name":5},"metadata":{"name":"a"}'),
        "refused",
        id="dup-metadata-name-type-first",
    ),
    pytest.param(
        top(b'"metadata":{"labels":{"a":5}},"metadata":{"labels":{"a":"b"}}'),
        "refused",
        id="dup-metadata-label-type-first",
    ),
    pytest.param(
        rule(b'"resources":[{"group":5}],"resources":[{"group":""}]'),
        "refused",
        id="dup-resources-group-type-first",
    ),
    pytest.param(
        rule(
            b'"resources":[{"resources":["pods"],"resourceNames":["a"]}],"resources":[{"group":""}]'
        ),
        "warn",
        id="dup-resources-merge-keeps-resources",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","Kind":5,"Kind":"Policy",' + R + b"}",
        "refused",
        id="dup-Kind-type-first",
    ),
    pytest.param(
        b'{"apiVersion":"audit.k8s.io/v1","kind":"Policy","kind":null,' + R + b"}",
        "warn",
        id="dup-kind-null-after",
    ),
    pytest.param(
        b'{"apiVersion":null,"kind":"Policy",' + R + b"}", "refused", id="apiversion-null"
    ),
    pytest.param(top(b'"x":[5],"x":"a"'), "warn", id="dup-unknown-type-change"),
    pytest.param(
        rule(b'"omitManagedFields":true,"omitManagedFields":null'),
        "warn",
        id="dup-omf-rule-null-after",
    ),
    pytest.param(
        top(b'"omitManagedFields":"yes","omitManagedFields":true'),
        "refused",
        id="dup-omf-policy-type-first",
    ),
    pytest.param(rule(b'"users":["a",5],"users":["b"]'), "refused", id="dup-rule-users-shorter"),
    pytest.param(b"{" + P + b',"rules":[]}', "refused", id="rules-empty"),
    pytest.param(rule(b'"users":["\\u00E9\\u00e9"]'), "ok", id="string-with-unicode-escape-upper"),
    pytest.param(top(b'"a\\/b":1'), "warn", id="escaped-slash-in-key"),
    pytest.param(top(b'"rules[0]":{"level":5}'), "warn", id="key-with-dot"),
    pytest.param(
        top(b'"metadata":{"managedFields":[{"fieldsV1":{"a":1,"a":2}}]}'),
        "ok",
        id="metadata-managedfields-dup",
    ),
    pytest.param(b"\xef\xbb\xbf \n" + V, "ok", id="bom-then-space-json"),
    pytest.param(b" \xef\xbb\xbf" + V, "refused", id="space-then-bom-json"),
    pytest.param(V.replace(b",", b",\r"), "ok", id="cr-only-lines"),
    pytest.param(top(b'"x":1E+2'), "warn", id="exponent-capital-unknown"),
    pytest.param(top(b'"metadata":{"generation":-1}'), "ok", id="negative-exponent-int-field"),
]

# YAML input: the same apiVersion/kind folding, but sigs.k8s.io/yaml hands Go the keys sorted.
OBSERVED_YAML_TYPE_META = [
    pytest.param(b"{" + P + b',"rules":[{"level":None}]}', "refused", id="yaml-in-rule-value"),
    pytest.param(
        H.replace(b"kind: Policy\n", b"kind: Policy\nKind: Foo\n") + b"rules:\n- level: None\n",
        "warn",
        id="yaml-kind-then-Kind-foo",
    ),
    pytest.param(H + b"KIND: Foo\nrules:\n- level: None\n", "warn", id="yaml-KIND-foo"),
    pytest.param(
        H + "\u212aind: Foo\n".encode() + b"rules:\n- level: None\n",
        "refused",
        id="yaml-kelvin-kind-foo",
    ),
    pytest.param(
        "apiVer\u017fion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n".encode(),
        "warn",
        id="yaml-long-s-apiversion",
    ),
    pytest.param(
        (
            "apiVersion: audit.k8s.io/v1beta1\napiVer\u017fion: audit.k8s.io/v1\n"
            "kind: Policy\nrules:\n- level: None\n"
        ).encode(),
        "warn",
        id="yaml-long-s-wins-over-v1beta1",
    ),
    pytest.param(
        (
            "apiVer\u017fion: audit.k8s.io/v1beta1\napiVersion: audit.k8s.io/v1\n"
            "kind: Policy\nrules:\n- level: None\n"
        ).encode(),
        "refused",
        id="yaml-long-s-v1beta1-loses",
    ),
    pytest.param(
        "ap\u0131Version: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n".encode(),
        "refused",
        id="yaml-dotless-i-apiversion",
    ),
    pytest.param(H + b"rules:\n- level: None\n# \xff\n", "refused", id="yaml-invalid-utf8-comment"),
    pytest.param(
        H + b'rules:\n- level: None\n  users: ["a\xffb"]\n', "refused", id="yaml-invalid-utf8-value"
    ),
]


def verdict(problems: list[PolicyProblem]) -> str:
    return outcome_of(problems)


@pytest.mark.parametrize(("data", "observed"), OBSERVED_JSON + OBSERVED_YAML_TYPE_META)
def test_policy_file_gets_the_verdict_kube_apiserver_1_34_4_gave_it(
    data: bytes, observed: str
) -> None:
    problems = check_policy_bytes(data, source="case.json")
    assert verdict(problems) == observed, [str(problem) for problem in problems]


@pytest.mark.parametrize(("data", "observed"), OBSERVED_JSON + OBSERVED_YAML_TYPE_META)
def test_text_and_bytes_entry_points_agree(data: bytes, observed: str) -> None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pytest.skip("not UTF-8: only the bytes entry point can carry it")
    problems = check_policy_text(text, source="case.json")
    assert verdict(problems) == observed, [str(problem) for problem in problems]


def test_nesting_past_kaudits_depth_limit_is_refused_where_kube_apiserver_only_warns() -> None:
    # kube-apiserver 1.34.4 loads nested(100) with the lenient-decoding warning (Go's limit is
    # 10000 levels, and the field is unknown); kaudit refuses past its own limit on purpose.
    problems = check_policy_bytes(nested(MAX_YAML_DEPTH + 36), source="case.json")
    assert verdict(problems) == "refused"
    assert f"kaudit's limit of {MAX_YAML_DEPTH} levels" in problems[0].message


@pytest.mark.parametrize(
    ("prefix", "is_json"),
    [
        pytest.param(b" \t\r\n", True, id="json-spaces"),
        pytest.param(b"\x0b\x0c", True, id="vtab-formfeed"),
        pytest.param(
            "\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000".encode(),
            True,
            id="unicode-spaces",
        ),
        pytest.param(b"\xef\xbb\xbf", False, id="bom"),
        pytest.param("\u180e".encode(), False, id="mongolian-vowel-separator"),
        pytest.param("\u200b".encode(), False, id="zero-width-space"),
        pytest.param(b"\xc2", False, id="broken-utf8"),
        pytest.param(b"# c\n", False, id="comment"),
        pytest.param(b"", True, id="nothing"),
    ],
)
def test_json_is_chosen_by_gos_unicode_spaces_before_the_brace(
    prefix: bytes, is_json: bool
) -> None:
    assert is_json_buffer(prefix + b"{}") is is_json
    assert not is_json_buffer(prefix + b"[{}]")


def test_json_strings_are_read_as_go_reads_them() -> None:
    loaded = load_json_document(
        b'{"a":"\\ud800x","b":"\\ud83d\\ude00","c":"\\ude00\\ud83d","d":"a\xe2\x82b",'
        b'"e":"\\/\\u00e9\\n","f":"\\ud800\\u0041"}'
    )
    assert loaded.errors == []
    assert loaded.value == {
        "a": "\ufffdx",
        "b": "\U0001f600",
        "c": "\ufffd\ufffd",
        "d": "a\ufffd\ufffdb",
        "e": "/\u00e9\n",
        "f": "\ufffdA",
    }


def test_json_numbers_keep_int64_as_int_and_the_rest_as_float() -> None:
    loaded = load_json_document(
        b'{"a":9223372036854775807,"b":9223372036854775808,"c":-0,"d":1e2,"e":1.0,"f":1e400}'
    )
    assert loaded.value == {
        "a": 2**63 - 1,
        "b": float(2**63),
        "c": 0,
        "d": 100.0,
        "e": 1.0,
        "f": float("inf"),
    }
    assert isinstance(loaded.value, dict)
    assert isinstance(loaded.value["c"], int)


def test_json_duplicates_are_assigned_one_after_the_other_like_gos_decoder() -> None:
    loaded = load_json_document(
        b'{"kind":"A","Kind":"B","kind":"C","s":"x","s":null,'
        b'"r":[{"level":"None"},{"level":"Bad"}],"r":[{"users":["a"]}]}'
    )
    assert loaded.value == {
        "Kind": "B",
        "kind": "C",
        "s": "x",
        "r": [{"level": "None", "users": ["a"]}],
    }
    assert [finding.field for finding in loaded.duplicates] == ["kind", "s", "r"]
    assert [(shadowed.path, shadowed.value) for shadowed in loaded.shadowed] == [
        ("kind", "A"),
        ("r[1]", {"level": "Bad"}),
    ]


def test_json_syntax_error_names_the_line_and_column() -> None:
    loaded = load_json_document(b'{\n  "kind": "Policy",\n}\n')
    assert len(loaded.errors) == 1
    message = loaded.errors[0].message
    assert "invalid character '}' looking for beginning of object key string" in message
    assert "(line 3, column 1)" in message
    assert loaded.errors[0].line == 3
