"""Hostile input cannot crash, hang or exhaust kaudit, nor make it write where it must not.

Each case (tests/hostile/cases.py) feeds one input an attacker controls (an alias bomb, a
huge or deep document, a FIFO, a planted link, a path with `//` or `..`) to the CLI, the
admission webhook's handler or the node agent's reconcile pass, in a forked child bounded in
time and memory. The test fails with every complaint: the traceback, the hang, the memory, the
unclear error, the host file that changed. The terminal summary reports the totals and the
worst case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.cases import all_cases
from tests.hostile.report import summary_lines
from tests.hostile.suite import CaseRun, run_case
from tests.hostile.targets import Case

CASES = all_cases()


class HostileReport:
    """Collects the runs of this session and prints the report after pytest's own summary."""

    def __init__(self) -> None:
        self.runs: list[CaseRun] = []
        self.skipped = 0

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.runs or self.skipped:
            terminalreporter.section("hostile inputs")
            for line in summary_lines(self.runs, skipped=self.skipped):
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def hostile_report(request: pytest.FixtureRequest) -> HostileReport:
    report = HostileReport()
    request.config.pluginmanager.register(report, "kaudit-hostile-report")
    return report


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_refused_cleanly_or_accepted_safely(
    case: Case, tmp_path: Path, hostile_report: HostileReport
) -> None:
    if case.skip is not None:
        hostile_report.skipped += 1
        pytest.skip(case.skip)
    run = run_case(case, tmp_path / "case")
    hostile_report.runs.append(run)
    assert not run.complaints, f"{case.id} ({case.input}):\n" + "\n".join(run.complaints)
