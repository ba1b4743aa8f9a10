"""How fast the agent model test runs, and where its time goes.

Runs generated schedules of tests/unit/agent_model against the real NodeAgent and prints the
schedules, agent steps and seconds; with --profile, the functions that take the time
(cProfile, cumulative). Asserts nothing about time.

    PYTHONPATH=operator:. python3 bench/agent_model.py [--schedules 200] [--seed N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "operator"), str(REPO_ROOT)]

from tests.unit.agent_model.shrink import find_in_seed  # noqa: E402
from tests.unit.agent_model.universe import (  # noqa: E402
    LINE_ENDINGS,
    ORIGINAL_FIXTURES,
    original_text,
    renderings,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    for fixture in ORIGINAL_FIXTURES:
        for ending in LINE_ENDINGS:
            renderings(original_text(fixture, ending))
    table_seconds = time.perf_counter() - started
    profile = cProfile.Profile() if args.profile else None
    steps = violations = 0
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    for index in range(args.schedules):
        result, found = find_in_seed(args.seed + index, shrink_budget=0)
        if found is not None:
            violations += 1
            print(f"seed {args.seed + index}: invariant {found.invariant}: {found.detail[:300]}")
        elif result is not None:
            steps += result.steps
    if profile is not None:
        profile.disable()
    seconds = time.perf_counter() - started
    print(
        f"agent model: {args.schedules} schedules, {steps} steps, {violations} violations in "
        f"{seconds:.1f} s ({seconds / max(args.schedules, 1) * 1000:.1f} ms a schedule, "
        f"{seconds / max(steps, 1) * 1000:.2f} ms a step); render table {table_seconds:.1f} s"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
