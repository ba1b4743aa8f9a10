"""Constructed policies with the verdict a real kube-apiserver v1.34.4 gave each one.

Each text was run as `kube-apiserver --audit-policy-file=...` (built from k8s.io/kubernetes
v1.34.4, etcd unreachable on purpose) and the outcome recorded: "ok" (it logged "Load audit
policy rules success"), "warn" (the same, after "Audit policy contains errors, falling back to
lenient decoding") or "refused" ("loading audit policy file: ..." and exit). They pin down the
decoder behaviour that reading the Go sources alone leaves open: go-yaml v2 typing, duplicate
and merged keys, case-insensitive apiVersion/kind, a missing kind, later YAML documents.
"""

from __future__ import annotations

import pytest

from kaudit.policy import check_policy_text
from tests.parity.cases import outcome_of

H = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"

OBSERVED = [
    pytest.param(
        "apiVersion: audit.k8s.io/v1\nrules:\n- level: Metadata\n", "ok", id="missing-kind"
    ),
    pytest.param("kind: Policy\nrules:\n- level: Metadata\n", "refused", id="kind-only"),
    pytest.param(
        "ApiVersion: audit.k8s.io/v1\nKind: Policy\nrules:\n- level: Metadata\n",
        "warn",
        id="capital-keys",
    ),
    pytest.param(H + "rules:\n- level: Metadata\n  namespaces: [no]\n", "refused", id="yaml11-no"),
    pytest.param(H + "rules:\n- level: Metadata\n  verbs: [y]\n", "refused", id="yaml11-y"),
    pytest.param(H + "rules:\n- level: Metadata\n  verbs: [on]\n", "refused", id="yaml11-on"),
    pytest.param(H + "rules:\n- level: Metadata\n  users: [42]\n", "refused", id="number-in-list"),
    pytest.param(H + "rules:\n- level: Metadata\n  users: [017]\n", "refused", id="octal-017"),
    pytest.param(H + "rules:\n- level: Metadata\n  users: [0x1F]\n", "refused", id="hex"),
    pytest.param(
        H + "rules:\n- level: Metadata\n  users: [1_000]\n", "refused", id="underscore-int"
    ),
    pytest.param(H + "rules:\n- level: Metadata\n  users: [.5]\n", "refused", id="float-dot5"),
    pytest.param(H + "rules:\n- level: Metadata\n  users: [2001-01-01]\n", "ok", id="date-string"),
    pytest.param(
        H + "rules:\n- level: Metadata\n  users: alice\n", "refused", id="string-not-list"
    ),
    pytest.param(
        H + "rules:\n- level: Metadata\n  resources: [pods]\n", "refused", id="resources-strings"
    ),
    pytest.param(
        H + 'rules:\n- level: Metadata\n  omitManagedFields: "true"\n', "refused", id="omf-string"
    ),
    pytest.param(H + "omitManagedFields: yes\nrules:\n- level: Metadata\n", "ok", id="omf-yes"),
    pytest.param(H + "rules:\n- Metadata\n", "refused", id="rule-string"),
    pytest.param(H + "rules:\n  level: None\n", "refused", id="rules-map"),
    pytest.param(H + "rules:\n- level: None\n-\n", "refused", id="null-rule"),
    pytest.param(H + "rules:\n- level: None\n  level: Metadata\n", "warn", id="dup-key"),
    pytest.param(
        H + "rules:\n- level: Verbose\n  level: Metadata\n", "warn", id="dup-key-bad-first"
    ),
    pytest.param(H + "rules:\n- level: Metadata\n  user: [a]\n", "warn", id="unknown-rule-field"),
    pytest.param(H + "rules:\n- Level: Metadata\n", "refused", id="Level-capital"),
    pytest.param(H + "rules:\n- level: None\nextra: .nan\n", "refused", id="nan-unknown"),
    pytest.param(
        H + "rules:\n- &b {level: None, verbs: [get]}\n- <<: *b\n  level: Metadata\n",
        "warn",
        id="merge-key",
    ),
    pytest.param(
        H + 'rules:\n- level: None\n  resources:\n  - group: "*"\n', "refused", id="group-star"
    ),
    pytest.param(
        H + "rules:\n- level: None\n  resources:\n  - group: " + ".".join(["a" * 60] * 5) + "\n",
        "refused",
        id="group-long",
    ),
    pytest.param(
        H + "rules:\n- level: None\n  nonResourceURLs: ['/logs/**']\n",
        "refused",
        id="url-double-star",
    ),
    pytest.param(
        H + "rules:\n- level: None\n  nonResourceURLs: ['*foo']\n", "refused", id="url-star-prefix"
    ),
    pytest.param(
        H + "rules:\n- level: None\n  resources: []\n  namespaces: []\n  nonResourceURLs: ['/x']\n",
        "ok",
        id="url-empty-res-list",
    ),
    pytest.param(H + "rules:\n- level: None\n---\nrules: [\n", "ok", id="multi-doc-bad-second"),
    pytest.param(
        H + "rules:\n- level: None\n---\n" + H + "rules:\n- level: Verbose\n",
        "ok",
        id="multi-doc-invalid-second",
    ),
    pytest.param("---\n---\n" + H + "rules:\n- level: None\n", "refused", id="empty-doc-first"),
    pytest.param(
        H + "metadata:\n  name: a\n  labels: {t: ops}\nrules:\n- level: None\n",
        "ok",
        id="metadata-ok",
    ),
    pytest.param(
        H + "metadata:\n  nmae: a\nrules:\n- level: None\n", "warn", id="metadata-unknown"
    ),
    pytest.param(
        H + "metadata:\n  labels: {r: 3}\nrules:\n- level: None\n",
        "refused",
        id="metadata-bad-label",
    ),
    pytest.param(
        H + "metadata:\n  creationTimestamp: yesterday\nrules:\n- level: None\n",
        "refused",
        id="metadata-bad-time",
    ),
    pytest.param(
        H + "metadata:\n  creationTimestamp: null\nrules:\n- level: None\n",
        "ok",
        id="metadata-null-time",
    ),
    pytest.param(
        '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None"}]}',
        "ok",
        id="json-file",
    ),
    pytest.param(
        '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None","level":"Metadata"}]}',
        "warn",
        id="json-dup",
    ),
    pytest.param("- level: Metadata\n", "refused", id="list-doc"),
    pytest.param("hello\n", "refused", id="scalar-doc"),
    pytest.param("null\n", "refused", id="null-doc"),
    pytest.param("# x\n", "refused", id="comments-only"),
    pytest.param(
        "apiVersion: audit.k8s.io/v1\nkind: PolicyList\nrules:\n- level: None\n",
        "refused",
        id="kind-policylist",
    ),
    pytest.param(H + 'rules:\n- level: "Metadata "\n', "refused", id="quoted-level-space"),
    pytest.param(
        H + "omitStages: ~\nrules:\n- level: None\n  omitStages: null\n", "ok", id="omitstages-null"
    ),
    pytest.param(H + "rules:\n- level: None\non: 1\n", "warn", id="bool-key"),
    pytest.param(H + "rules:\n-\tlevel: None\n", "refused", id="tab-indent"),
    pytest.param("\ufeff" + H + "rules:\n- level: None\n", "ok", id="bom"),
    pytest.param(H + "rules:\n- level: None\n  users: [!!str 42]\n", "ok", id="explicit-str-tag"),
    pytest.param(
        H + "rules:\n- level: None\n  users: [!!int '42']\n", "refused", id="explicit-int-tag"
    ),
    pytest.param(
        H + "metadata:\n  generation: 1.5\nrules:\n- level: None\n",
        "refused",
        id="int-meta-generation-float",
    ),
    pytest.param(
        "apiVersion: 1\nkind: Policy\nrules:\n- level: None\n", "refused", id="apiversion-number"
    ),
    pytest.param(
        "apiVersion: audit.k8s.io/v1\nKind: Foo\nkind: Policy\nrules:\n- level: None\n",
        "warn",
        id="both-kind-cases",
    ),
    pytest.param(
        H + "rules:\n- level: None\n  resources:\n  - resources: []\n    resourceNames: [a]\n",
        "refused",
        id="resourcenames-empty-res",
    ),
]


@pytest.mark.parametrize(("text", "observed"), OBSERVED)
def test_constructed_policy_gets_the_verdict_kube_apiserver_1_34_4_gave_it(
    text: str, observed: str
) -> None:
    problems = check_policy_text(text, source="case.yaml")
    assert outcome_of(problems) == observed, [str(problem) for problem in problems]
