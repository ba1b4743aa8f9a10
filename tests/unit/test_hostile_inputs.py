"""Hostile input cannot crash, hang or exhaust kaudit, nor make it write where it must not.

Each case (tests/hostile/cases.py) feeds one input an attacker controls (an alias bomb, a
huge or deep document, a FIFO, a planted link, a path with `//` or `..`) to the CLI, the
admission webhook's handler or the node agent's reconcile pass, in a forked child bounded in
time and memory. The test fails with every complaint: the traceback, the hang, the memory, the
unclear error, the host file that changed. The terminal summary reports the totals and the
worst case.

The selected cases all run when the first of them is reached, two at a time (one per core,
at most two): most of a case's time is a child's CPU, and the suite must stay near two
minutes on a two-core machine. Each test then reports its own case.
"""

from __future__ import annotations

import os

import pytest

from tests.hostile.cases import all_cases
from tests.hostile.report import run_cases, summary_lines
from tests.hostile.suite import CaseRun
from tests.hostile.targets import Case

CASES = all_cases()
JOBS = min(2, len(os.sched_getaffinity(0)))


class HostileReport:
    """The runs of this session, printed after pytest's own summary."""

    def __init__(self, runs: dict[str, CaseRun], skipped: int) -> None:
        self.runs = runs
        self.skipped = skipped

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.runs or self.skipped:
            terminalreporter.section("hostile inputs")
            for line in summary_lines(list(self.runs.values()), skipped=self.skipped):
                terminalreporter.write_line(line)


def _case_of(item: pytest.Item) -> Case | None:
    """The hostile case a selected test item runs, if it is one of this module's."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


@pytest.fixture(scope="session")
def hostile_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> HostileReport:
    selected = [case for item in request.session.items if (case := _case_of(item)) is not None]
    runnable = [case for case in selected if case.skip is None]
    runs = run_cases(runnable, tmp_path_factory.mktemp("hostile"), jobs=JOBS)
    report = HostileReport({run.case.id: run for run in runs}, len(selected) - len(runnable))
    request.config.pluginmanager.register(report, "kaudit-hostile-report")
    return report


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_cleanly_or_accepted_safely(
    case: Case, hostile_runs: HostileReport
) -> None:
    if case.skip is not None:
        pytest.skip(case.skip)
    run = hostile_runs.runs[case.id]
    assert not run.complaints, f"{case.id} ({case.input}):\n" + "\n".join(run.complaints)
