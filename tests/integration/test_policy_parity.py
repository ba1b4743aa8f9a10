"""kaudit's policy verdict against the real kube-apiserver's, on every case of tests.parity.

The binary of the bed's cache loads each policy (tests/parity/oracle.py; answers cached by
content, so a rerun costs seconds), kaudit checks the same bytes, and the two must agree on the
outcome: loaded, loaded after the lenient-decoding warning, or refused. The only differences
allowed are the reproducers marked deliberate (kaudit's own, lower limits), and those must
still go the safe way: kaudit refuses, never the other way round.

    KAUDIT_PARITY_SEED=7 KAUDIT_PARITY_COUNT=3000 pytest tests/integration/test_policy_parity.py
"""

from __future__ import annotations

import json
import time

from tests.parity.cases import all_cases, kaudit_verdict, seed_and_count
from tests.parity.generate import DEFAULT_COUNT, DEFAULT_SEED
from tests.parity.oracle import ask_all
from tests.parity.record import OBSERVED_FILE, observed_document
from tests.testbed import check_bed_prerequisites


def test_kaudit_gives_every_policy_the_verdict_kube_apiserver_gives_it() -> None:
    check_bed_prerequisites("kube-apiserver")
    cases = all_cases()
    started = time.monotonic()
    theirs, oracle = ask_all([case.data for case in cases])
    disagreements: list[str] = []
    deliberate = 0
    for case, their in zip(cases, theirs, strict=True):
        ours = kaudit_verdict(case.data)
        if case.deliberate:
            deliberate += 1
            if ours.outcome != "refused" or their.outcome == "refused":
                disagreements.append(
                    f"{case.name}: expected the deliberate difference (kaudit refuses, "
                    f"kube-apiserver loads), got kaudit {ours.outcome}, kube-apiserver "
                    f"{their.outcome}"
                )
            continue
        if ours.outcome != their.outcome:
            disagreements.append(
                f"{case.name}: kaudit {ours.outcome} ({ours.message[:200]}), kube-apiserver "
                f"{their.outcome} ({their.message[:200]}); bytes {case.data[:120]!r}"
            )
    seed, count = seed_and_count()
    print(
        f"\npolicy parity: {len(cases)} policies (seed {seed}, {count} generated), "
        f"{oracle.asked} asked of kube-apiserver, {oracle.cached} from the cache, "
        f"{deliberate} deliberate differences, {len(disagreements)} disagreements, "
        f"{time.monotonic() - started:.1f} s"
    )
    assert not disagreements, "\n".join(disagreements)
    if (seed, count) == (DEFAULT_SEED, DEFAULT_COUNT):
        recorded = json.loads(OBSERVED_FILE.read_text(encoding="utf-8"))["cases"]
        fresh = observed_document(cases, theirs)["cases"]
        assert isinstance(fresh, dict)
        stale = sorted(name for name in fresh if recorded.get(name) != fresh[name])
        assert not stale, (
            f"{OBSERVED_FILE} does not hold what the binary says of {len(stale)} cases "
            f"({stale[:5]}): rerun `python -m tests.parity.record`"
        )
