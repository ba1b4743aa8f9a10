"""Write the binary's verdicts on every parity case into tests/parity/observed.json.

The unit tier replays them without the binary (tests/unit/test_policy_parity_observed.py): the
policies themselves are not stored, only their hashes, since the reproducers and the seeded
generator make the same bytes again. Run after a change to the generator or the reproducers
(the integration test fails while the file is stale):

    python -m tests.parity.record
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.parity.cases import Case, all_cases, seed_and_count
from tests.parity.oracle import Verdict, ask_all
from tests.testbed import K8S_VERSION

OBSERVED_FILE = Path(__file__).with_name("observed.json")


def short_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def observed_document(cases: list[Case], verdicts: list[Verdict]) -> dict[str, object]:
    seed, count = seed_and_count()
    return {
        "kubeApiserver": K8S_VERSION,
        "seed": seed,
        "count": count,
        "cases": {
            case.name: [short_hash(case.data), verdict.outcome]
            for case, verdict in zip(cases, verdicts, strict=True)
        },
    }


def render(document: dict[str, object]) -> str:
    """JSON with one case per line, so that a re-recording shows as a readable diff."""
    cases = document["cases"]
    assert isinstance(cases, dict)
    head = {key: value for key, value in document.items() if key != "cases"}
    lines = [f"  {json.dumps(name)}: {json.dumps(entry)}" for name, entry in sorted(cases.items())]
    return json.dumps(head)[:-1] + ', "cases": {\n' + ",\n".join(lines) + "\n}}\n"


def main() -> None:
    cases = all_cases()
    verdicts, oracle = ask_all([case.data for case in cases])
    OBSERVED_FILE.write_text(render(observed_document(cases, verdicts)), encoding="utf-8")
    print(f"{OBSERVED_FILE}: {len(cases)} verdicts ({oracle.asked} asked, {oracle.cached} cached)")


if __name__ == "__main__":
    main()
