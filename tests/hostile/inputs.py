"""Hostile texts, made in code: nothing here is downloaded, and each is small to describe.

Every function returns the bytes an attacker would put in a policy ConfigMap, a policy file, a
manifest or a state file. Sizes are exact where the review quoted them (the 462- and 624-byte
alias bombs), so a number in the report can be compared with the review's.
"""

from __future__ import annotations

import json

POLICY_HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
ONE_RULE = "rules:\n- level: Metadata\n"
VALID_POLICY = POLICY_HEAD + ONE_RULE


def padded(text: str, size: int) -> bytes:
    """text with a trailing YAML comment that makes it exactly `size` bytes."""
    data = text.encode("utf-8")
    if len(data) > size:
        raise ValueError(f"the text is {len(data)} bytes, more than the {size} asked for")
    if len(data) == size:
        return data
    if size - len(data) == 1:
        return data + b"\n"
    return data + b"#" + b"x" * (size - len(data) - 2) + b"\n"


def billion_laughs(*, levels: int, fanout: int, size: int | None = None) -> bytes:
    """A policy whose last anchor expands to fanout**levels strings, in a rule's users.

    The anchors sit in an unknown top-level field (kube-apiserver only warns about those), so
    a reader that expands aliases before it looks at field names pays for all of them.
    """
    lines = [POLICY_HEAD.rstrip("\n"), 'x0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        refs = ",".join([f"*a{level - 1}"] * fanout)
        lines.append(f"x{level}: &a{level} [{refs}]")
    lines += ["rules:", "- level: Metadata", f"  users: *a{levels}", ""]
    text = "\n".join(lines)
    return padded(text, size) if size is not None else text.encode("utf-8")


def merge_key_bomb(*, levels: int) -> bytes:
    """Merge keys (`<<`) that double a mapping at every level."""
    lines = [POLICY_HEAD.rstrip("\n"), "m0: &m0 {k0: v}"]
    for level in range(1, levels + 1):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}, *m{level - 1}], k{level}: v}}")
    lines += ["rules:", "- level: Metadata", ""]
    return "\n".join(lines).encode("utf-8")


def recursive_alias() -> bytes:
    """A sequence that contains itself: expanding it never ends."""
    return (
        POLICY_HEAD + "loop: &loop [*loop]\nrules:\n- level: Metadata\n  users: *loop\n"
    ).encode()


def recursive_mapping_alias() -> bytes:
    return (POLICY_HEAD + "rules:\n- &rule\n  level: Metadata\n  self: *rule\n").encode()


def huge_policy(*, size: int) -> bytes:
    """A valid policy of at least `size` bytes: many users in one rule."""
    head = POLICY_HEAD + "rules:\n- level: Metadata\n  users:\n"
    user_line = "  - user-{:09d}\n"
    count = max(1, (size - len(head)) // len(user_line.format(0)) + 1)
    return (head + "".join(user_line.format(n) for n in range(count))).encode()


def many_rules(count: int) -> bytes:
    """`count` distinct rules; a lint that compares every pair of rules is quadratic here."""
    rules = "".join(
        f"- level: Metadata\n  users: [user-{n}]\n  verbs: [get]\n" for n in range(count)
    )
    return (POLICY_HEAD + "rules:\n" + rules).encode()


def many_rules_same_selector(count: int) -> bytes:
    """`count` rules that all shadow each other: every later rule is dead."""
    return (POLICY_HEAD + "rules:\n" + "- level: Metadata\n  verbs: [get]\n" * count).encode()


def deep_flow_yaml(depth: int) -> bytes:
    return (POLICY_HEAD + "deep: " + "[" * depth + "]" * depth + "\n" + ONE_RULE).encode()


def deep_flow_mapping_yaml(depth: int) -> bytes:
    return (POLICY_HEAD + "deep: " + "{a: " * depth + "x" + "}" * depth + "\n" + ONE_RULE).encode()


def deep_block_yaml(depth: int) -> bytes:
    """Block mappings nested by indentation (its size grows with depth squared)."""
    lines = [f"{'  ' * level}k:" for level in range(depth)]
    return (
        POLICY_HEAD + ONE_RULE + "deep:\n" + "\n".join("  " + line for line in lines) + " x\n"
    ).encode()


def deep_block_sequence_yaml(depth: int) -> bytes:
    """`- - - - x`: block sequences nested on one line."""
    return (POLICY_HEAD + ONE_RULE + "deep:\n" + "- " * depth + "x\n").encode()


def deep_json(depth: int) -> bytes:
    """A JSON policy (the API machinery reads a text starting with `{` as JSON)."""
    inner = '{"a":' * depth + "1" + "}" * depth
    return (
        '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata"}],'
        f'"deep":{inner}}}'
    ).encode()


def deep_json_list(depth: int) -> bytes:
    return (
        '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata"}],'
        f'"deep":{"[" * depth}{"]" * depth}}}'
    ).encode()


def long_integer(digits: int) -> bytes:
    """An integer past Python's int-from-text limit (4300 digits) where a string is expected."""
    return (POLICY_HEAD + f"rules:\n- level: Metadata\n  users: [{'9' * digits}]\n").encode()


def long_integer_unknown_field(digits: int) -> bytes:
    return (POLICY_HEAD + f"big: {'7' * digits}\n" + ONE_RULE).encode()


def long_hex_integer(digits: int) -> bytes:
    return (POLICY_HEAD + f"big: 0x{'f' * digits}\n" + ONE_RULE).encode()


def long_float(digits: int) -> bytes:
    return (POLICY_HEAD + f"big: 1{'0' * digits}.5e99999\n" + ONE_RULE).encode()


def long_scalar(length: int) -> bytes:
    return (POLICY_HEAD + f"rules:\n- level: Metadata\n  users: [u{'x' * length}]\n").encode()


def long_key(length: int) -> bytes:
    return (POLICY_HEAD + f"k{'y' * length}: 1\n" + ONE_RULE).encode()


def long_quoted_escapes(count: int) -> bytes:
    """Many escapes in a double-quoted scalar (each one is parsed apart)."""
    return (
        POLICY_HEAD + 'rules:\n- level: Metadata\n  users: ["' + "\\u00e9" * count + '"]\n'
    ).encode()


def non_utf8() -> bytes:
    return POLICY_HEAD.encode() + b"rules:\n- level: Metadata\n  users: [caf\xe9, \xff\xfe]\n"


def utf16_policy() -> bytes:
    return VALID_POLICY.encode("utf-16")


def nul_bytes() -> bytes:
    return POLICY_HEAD.encode() + b"rules:\n- level: Metadata\n  users: [a\x00b]\n\x00\x00\x00"


def control_characters() -> bytes:
    return POLICY_HEAD.encode() + b"rules:\n- level: Metadata\n  users: [\x1b[31mred\x07]\n"


def many_documents(count: int) -> bytes:
    """One valid policy, then `count` empty documents (only the first counts)."""
    return (VALID_POLICY + "---\n" * count).encode()


def bomb_in_second_document() -> bytes:
    return VALID_POLICY.encode() + b"---\n" + billion_laughs(levels=9, fanout=9)


def unknown_tags() -> bytes:
    return (
        POLICY_HEAD
        + "x: !!python/object/apply:os.system ['echo pwned']\n"
        + "y: !!binary AAAA\nz: !!timestamp 2001-12-14\nw: !custom {a: 1}\n"
        + ONE_RULE
    ).encode()


def many_keys(count: int) -> bytes:
    return (POLICY_HEAD + ONE_RULE + "".join(f"k{n}: {n}\n" for n in range(count))).encode()


def long_line_of_spaces(length: int) -> bytes:
    return (POLICY_HEAD + " " * length + "\n" + ONE_RULE).encode()


# --- manifests and host state --------------------------------------------------------------


def manifest_alias_bomb(manifest: str) -> bytes:
    """A real manifest with an alias bomb in an annotation-free top-level field."""
    bomb = billion_laughs(levels=9, fanout=9).decode().split("\n", 2)[2]
    head, _, _ = bomb.partition("rules:")
    return (manifest.rstrip("\n") + "\n" + head).encode()


def manifest_deep(depth: int, manifest: str) -> bytes:
    return (manifest.rstrip("\n") + "\ndeep: " + "[" * depth + "]" * depth + "\n").encode()


def manifest_long_integer(manifest: str, digits: int) -> bytes:
    return (manifest.rstrip("\n") + f"\nbig: {'9' * digits}\n").encode()


def state_deep_json(depth: int) -> bytes:
    return ('{"version": 1, "deep": ' + "[" * depth + "]" * depth + "}\n").encode()


def state_with_paths(**paths: object) -> bytes:
    """A state file whose recorded host paths are what the caller gives."""
    return (json.dumps({"version": 1, "configHash": "x", "hostPaths": paths}) + "\n").encode()


def state_long_integer(digits: int) -> bytes:
    return ('{"version": ' + "9" * digits + "}\n").encode()


def pending_change_deep(depth: int) -> bytes:
    return ('{"manifestText": ' + "[" * depth + "]" * depth + "}\n").encode()


def pending_change_wrong_types() -> bytes:
    return b'{"manifestText": 5, "policyText": [1], "writtenAt": "not a time", "targetHash": {}}\n'


def audit_config(spec_yaml: str) -> bytes:
    """An AuditConfig file for `kaudit node apply --config` and `manifest render`."""
    return (
        "apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\nmetadata:\n  name: cluster\nspec:\n"
        + "".join(f"  {line}\n" for line in spec_yaml.splitlines())
    ).encode()
