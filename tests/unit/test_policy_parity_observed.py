"""The verdicts the real kube-apiserver v1.34.4 gave every parity case, replayed without it.

tests/parity/observed.json holds, by case name, the hash of the policy and the binary's
verdict, as the differential test (tests/integration/test_policy_parity.py) recorded them; the
policies are made again here from the reproducers and the fixed generator seed, so this tier
checks kaudit against all of them on a machine that has no kube-apiserver binary.
"""

from __future__ import annotations

import json

import pytest

from tests.parity.cases import Case, corpus_cases, generated_cases, kaudit_verdict, reproducer_cases
from tests.parity.record import OBSERVED_FILE, short_hash

RECORDED = json.loads(OBSERVED_FILE.read_text(encoding="utf-8"))


def _replayed_cases() -> list[Case]:
    return (
        corpus_cases()
        + reproducer_cases()
        + generated_cases(int(RECORDED["seed"]), int(RECORDED["count"]))
    )


def test_every_recorded_case_is_made_again_byte_for_byte() -> None:
    made = {case.name: short_hash(case.data) for case in _replayed_cases()}
    recorded = {name: entry[0] for name, entry in RECORDED["cases"].items()}
    missing = sorted(name for name in recorded if name not in made and "corpus-" not in name)
    changed = sorted(name for name in recorded if name in made and made[name] != recorded[name])
    unrecorded = sorted(name for name in made if name not in recorded)
    stale = "tests/parity/observed.json is stale: rerun `python -m tests.parity.record`"
    assert not missing, f"{stale}; no longer made: {missing[:5]}"
    assert not changed, f"{stale}; made differently: {changed[:5]}"
    assert not unrecorded, f"{stale}; not recorded: {unrecorded[:5]}"


def test_kaudit_gives_every_recorded_case_the_verdict_kube_apiserver_gave() -> None:
    disagreements = []
    compared = 0
    for case in _replayed_cases():
        entry = RECORDED["cases"].get(case.name)
        if entry is None or entry[0] != short_hash(case.data):
            continue
        compared += 1
        expected = "refused" if case.deliberate else entry[1]
        ours = kaudit_verdict(case.data)
        if ours.outcome != expected:
            disagreements.append(
                f"{case.name}: kaudit {ours.outcome} ({ours.message[:160]}), kube-apiserver "
                f"{entry[1]}; bytes {case.data[:100]!r}"
            )
    if compared == 0:
        pytest.fail("no recorded case could be replayed")
    assert not disagreements, "\n".join(disagreements)
