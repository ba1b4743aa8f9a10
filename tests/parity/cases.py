"""Every policy the parity tests put to kaudit and kube-apiserver, and kaudit's verdict on one.

The cases: the shared corpus (where ../shared exists), the reproducers, and the seeded
generator's set (KAUDIT_PARITY_SEED and KAUDIT_PARITY_COUNT choose another set by hand).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from kaudit.policy import PolicyProblem, check_policy_bytes
from tests.corpus import corpus_files
from tests.parity.generate import DEFAULT_COUNT, DEFAULT_SEED, generate
from tests.parity.oracle import LENIENT_WARNING, Outcome, Verdict
from tests.parity.reproducers import REPRODUCERS


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    deliberate: str = ""


def seed_and_count() -> tuple[int, int]:
    seed = int(os.environ.get("KAUDIT_PARITY_SEED", DEFAULT_SEED))
    count = int(os.environ.get("KAUDIT_PARITY_COUNT", DEFAULT_COUNT))
    return seed, count


def corpus_cases() -> list[Case]:
    return [Case(f"corpus-{path.name}", path.read_bytes()) for path in corpus_files("policies")]


def reproducer_cases() -> list[Case]:
    return [Case(f"repro-{item.name}", item.data, item.deliberate) for item in REPRODUCERS]


def generated_cases(seed: int, count: int) -> list[Case]:
    return [Case(policy.name, policy.data) for policy in generate(seed, count)]


def all_cases() -> list[Case]:
    seed, count = seed_and_count()
    return corpus_cases() + reproducer_cases() + generated_cases(seed, count)


def kaudit_verdict(data: bytes) -> Verdict:
    """What kaudit says of the file, in the oracle's three outcomes, with the first reason."""
    problems = check_policy_bytes(data, source="policy.yaml")
    outcome = outcome_of(problems)
    reasons = [
        str(problem)
        for problem in problems
        if problem.severity == "error" or (outcome == "warn" and LENIENT_WARNING in problem.message)
    ]
    return Verdict(outcome, reasons[0] if reasons else "")


def outcome_of(problems: Sequence[PolicyProblem]) -> Outcome:
    """kaudit's problems as the oracle's outcome: an error refuses the file; the lenient-decoding
    warning is kube-apiserver's "warn"; kaudit's other warnings (a missing kind, ignored later
    documents) are its own and leave "ok"."""
    if any(problem.severity == "error" for problem in problems):
        return "refused"
    if any(LENIENT_WARNING in problem.message for problem in problems):
        return "warn"
    return "ok"
