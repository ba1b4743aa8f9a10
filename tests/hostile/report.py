"""The suite's report: inputs tried, clean errors, accepted, failures, and the worst case.

`python -m tests.hostile.report` runs every case and prints it; `--markdown` prints a table of
every case instead, `-k TEXT` runs the cases whose id contains TEXT, `-j N` runs N at once.
Under pytest the same report is the terminal summary of tests/unit/test_hostile_inputs.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.hostile.cases import all_cases
from tests.hostile.suite import CaseRun, run_case
from tests.hostile.targets import Case


def summary_lines(runs: Sequence[CaseRun], *, skipped: int = 0) -> list[str]:
    if not runs:
        return ["hostile inputs: no case ran"]
    import kaudit  # noqa: PLC0415 - the one PYTHONPATH chose: say which code was judged

    verdicts = Counter(run.verdict for run in runs)
    inputs = {run.case.input for run in runs}
    lines = [
        f"hostile inputs against {Path(kaudit.__file__).parent}: "
        f"{len(inputs)} inputs, {len(runs)} runs "
        f"(cli {_count(runs, 'cli')}, webhook {_count(runs, 'webhook')}, "
        f"agent {_count(runs, 'agent')}){f', {skipped} skipped' if skipped else ''}",
        f"  clean errors {verdicts['clean error']}, accepted {verdicts['accepted']}, "
        f"failed {verdicts['FAIL']}",
    ]
    slowest = max(runs, key=lambda run: run.outcome.seconds)
    hungriest = max(runs, key=lambda run: run.outcome.peak_rss_kib)
    lines.append(
        f"  slowest: {slowest.case.id} {slowest.outcome.seconds:.2f} s "
        f"({slowest.outcome.ended}, peak {slowest.outcome.peak_rss_kib // 1024} MiB)"
    )
    lines.append(
        f"  most memory: {hungriest.case.id} peak {hungriest.outcome.peak_rss_kib // 1024} MiB "
        f"(+{hungriest.outcome.growth_kib // 1024} MiB over the forking process), "
        f"{hungriest.outcome.seconds:.2f} s"
    )
    total = sum(run.outcome.seconds for run in runs)
    lines.append(f"  time in children: {total:.1f} s")
    for run in runs:
        if run.complaints:
            lines.append(f"  FAIL {run.case.id}: {run.complaints[0].splitlines()[0][:160]}")
    return lines


def _count(runs: Sequence[CaseRun], target: str) -> int:
    return sum(1 for run in runs if run.case.target == target)


def markdown_lines(runs: Sequence[CaseRun]) -> list[str]:
    lines = [
        "| case | expect | verdict | s | peak MiB | detail |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        detail = run.complaints[0].splitlines()[0] if run.complaints else run.first_line()
        detail = detail.replace("|", "\\|")[:160]
        lines.append(
            f"| {run.case.id} | {run.case.expect} | {run.verdict} | {run.outcome.seconds:.2f} "
            f"| {run.outcome.peak_rss_kib // 1024} | {detail} |"
        )
    return lines


def run_cases(
    cases: Sequence[Case],
    folder: Path,
    *,
    jobs: int,
    progress: bool = False,
    seconds: float | None = None,
) -> list[CaseRun]:
    """Run cases `jobs` at a time, each in its own child and its own folder under folder."""

    def one(numbered: tuple[int, Case]) -> CaseRun:
        number, case = numbered
        run = run_case(case, folder / f"case-{number}", seconds=seconds)
        if progress:
            print(f"{run.verdict:12} {run.outcome.seconds:6.2f} s  {case.id}", file=sys.stderr)
        return run

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, enumerate(cases)))


def run_all(
    *,
    select: Callable[[str], bool],
    progress: bool,
    jobs: int = 1,
    seconds: float | None = None,
) -> tuple[list[CaseRun], int]:
    """Every selected case that can run here, and how many could not."""
    cases = [case for case in all_cases() if select(case.id)]
    runnable = [case for case in cases if case.skip is None]
    with tempfile.TemporaryDirectory(prefix="kaudit-hostile-report-") as scratch:
        runs = run_cases(runnable, Path(scratch), jobs=jobs, progress=progress, seconds=seconds)
    return runs, len(cases) - len(runnable)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hostile.report", description=__doc__)
    parser.add_argument("-k", dest="contains", default="", help="only cases whose id has TEXT")
    parser.add_argument("--markdown", action="store_true", help="a table of every case")
    parser.add_argument("--quiet", action="store_true", help="no line per case on stderr")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="cases run at once (default 1)")
    parser.add_argument(
        "--seconds", type=float, help="each case's CPU-time bound instead of its own (20 s)"
    )
    args = parser.parse_args(argv)
    runs, skipped = run_all(
        select=lambda name: args.contains in name,
        progress=not args.quiet,
        jobs=args.jobs,
        seconds=args.seconds,
    )
    lines = markdown_lines(runs) if args.markdown else summary_lines(runs, skipped=skipped)
    print("\n".join(lines))
    return 1 if any(run.complaints for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
