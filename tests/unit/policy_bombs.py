"""Bad policy texts the webhook, the agent and the parsers must all refuse with a clear reason."""

from __future__ import annotations

HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"


def laughs(levels: int, width: int = 9) -> str:
    """The classic alias bomb: each level refers `width` times to the one before."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


BOMB = HEAD + "rules: [{level: Metadata}]\n" + laughs(9)

# (test id, policy text, what the error must say)
BAD_POLICIES = [
    ("alias bomb", BOMB, "excessive aliasing"),
    ("recursive alias", HEAD + "rules: &r\n- level: Metadata\n  users: *r\n", "contains itself"),
    ("deep nesting", HEAD + "rules: " + "[" * 3000 + "]" * 3000, "nesting deeper"),
    (
        "5000-digit number",
        HEAD + "rules:\n- level: Metadata\n  omitManagedFields: " + "1" * 5000 + "\n",
        "omitManagedFields",
    ),
    ("over the size limit", "#" * (1024 * 1024 + 1), "over kaudit's limit of 1048576 bytes"),
    ("not a mapping", "- just\n- a list\n", "not a Policy mapping"),
    ("not YAML", "rules: [\n", "not valid YAML"),
    (
        "one long value aliased many times",
        HEAD
        + 'x: &a "'
        + "u" * 16_000
        + '"\nrules:\n'
        + "- level: Metadata\n  users: [*a, *a, *a, *a, *a, *a, *a, *a]\n" * 100,
        "once aliases are expanded",
    ),
]

# Within every parse limit, but escaping makes the written policy 1.5 times as long: \x01 (4
# characters) is one character, which kaudit writes as \u0001 (6).
RENDERS_TOO_LARGE = (
    HEAD
    + "rules:\n- level: Metadata\n  users: ["
    + ", ".join('"' + "\\x01" * 4000 + '"' for _ in range(60))
    + "]\n"
)

# 60 rules, each with a 16,000-character group kube-apiserver refuses: 60 errors of 16 KB.
MANY_LONG_ERRORS = (
    HEAD
    + "rules:\n"
    + ('- level: Metadata\n  resources:\n  - group: "' + "A" * 16_000 + '"\n') * 60
)
