"""CPU time and peak memory of the webhook's review of hostile and large policies.

Run from the repository root: `PYTHONPATH=operator .venv/bin/python bench/policy_limits.py`
(or name shapes to run only those). Each shape runs in its own process so that peak memory is
its own; CPU seconds are process time, so a loaded machine changes them little.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

HEAD = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
MIB = 1024 * 1024


def rules(count: int) -> str:
    rule = (
        '- level: Metadata\n  verbs: [get]\n  resources:\n  - group: ""\n    resources: ["r{}"]\n'
    )
    return HEAD + "rules:\n" + "".join(rule.format(index) for index in range(count))


def laughs() -> str:
    lines = ['a0: &a0 ["lol"]']
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    return HEAD + "rules: [{level: Metadata}]\n" + "\n".join(lines) + "\n"


def json_rules(count: int) -> str:
    rule = '{{"level":"Metadata","verbs":["get"],"resources":[{{"group":"","resources":["r{}"]}}]}}'
    body = ",".join(rule.format(index) for index in range(count))
    return '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[' + body + "]}"


SHAPES = {
    "rules-1000": lambda: rules(1000),
    "rules-7175": lambda: rules(7175),
    "rules-10000": lambda: rules(10000),
    "blank-lines-1MiB": lambda: HEAD + "rules:\n- level: Metadata\n" + "\n" * (MIB - 70),
    "flow-items-1MiB": lambda: (
        HEAD + "rules:\n- level: Metadata\n  users: [" + "u, " * (MIB // 3 - 40) + "u]\n"
    ),
    "one-value-1MiB": lambda: (
        HEAD + 'rules:\n- level: Metadata\n  users: ["' + "u" * (MIB - 200) + '"]\n'
    ),
    "deep-1MiB": lambda: HEAD + "rules: " + "[" * (MIB // 2 - 50) + "]" * (MIB // 2 - 50) + "\n",
    "alias-bomb": laughs,
    # A file that starts with `{` is read by the JSON reader, as kube-apiserver does.
    "json-rules-1000": lambda: json_rules(1000),
    "json-rules-10000": lambda: json_rules(10000),
    "json-deep-1MiB": lambda: '{"rules":' + "[" * (MIB // 2 - 20) + "]" * (MIB // 2 - 20) + "}",
    "json-strings-1MiB": lambda: (
        '{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None","users":['
        + '"u",' * (MIB // 4 - 40)
        + '"u"]}]}'
    ),
}


def review(shape: str) -> None:
    from kaudit.controller.admission import review_audit_config  # noqa: PLC0415

    text = SHAPES[shape]()
    body = {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": "cluster"},
        "spec": {"policy": {"configMapRef": {"name": "p"}}, "log": {"maxBackup": 10}},
    }
    start = time.process_time()
    decision = review_audit_config(body, read_config_map=lambda namespace, name, key: text)
    cpu = time.process_time() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    verdict = "allowed" if decision.allowed else "denied: " + decision.message.split(": ", 1)[-1]
    size = len(text.encode())
    print(f"{shape:18} {size:>8} bytes {cpu:5.2f} s CPU {peak:>4} MiB peak  {verdict[:90]}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        review(sys.argv[2])
        return
    for shape in sys.argv[1:] or SHAPES:
        subprocess.run([sys.executable, __file__, "--one", shape], check=True)


if __name__ == "__main__":
    main()
