"""What a run did not cover, said loudly, and which long test is still running.

A `make test` by hand on a machine where the test bed cannot run (not root, no cgroups) or in a
clone without ../shared skips whole tiers; pytest's usual "N passed, M skipped" then reads like
a full pass. Skips for such reasons start with NOT_RUN_HERE, and the end of the run gives them
a banner of their own with the count and every reason. Skips by design (a corpus file kaudit
refuses on purpose) stay in pytest's ordinary short summary.

End-to-end tests take minutes each; a line every 30 s names the test still running, so a
person never watches a silent minute. It goes to a copy of the terminal's file descriptor taken
before any test ran, so pytest's output capture does not swallow it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

NOT_RUN_HERE = "not run here: "
# Twice a minute, so that no minute passes in silence; the tests of this module shorten it.
HEARTBEAT_SECONDS = float(os.environ.get("KAUDIT_TEST_HEARTBEAT_SECONDS", "30"))


def not_run_here(reason: str) -> str:
    """The reason for a skip because this machine or clone cannot run the test (counted loudly):
    `pytest.skip(not_run_here("..."))`, raised where the test is, so the summary names it."""
    return NOT_RUN_HERE + reason


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def write_not_run_here_banner(terminalreporter: pytest.TerminalReporter) -> None:
    """The banner, written last before pytest's closing "N passed, M skipped" line."""
    reasons = Counter(
        reason.removeprefix(NOT_RUN_HERE)
        for reason in map(_skip_reason, terminalreporter.stats.get("skipped", []))
        if reason.startswith(NOT_RUN_HERE)
    )
    count = sum(reasons.values())
    if not count:
        return
    terminalreporter.section(
        f"NOT A FULL RUN: {count} tests skipped on this machine", sep="!", red=True, bold=True
    )
    for reason, n in reasons.most_common():
        terminalreporter.write_line(f"{n:6d}  {reason}", red=True)
    terminalreporter.write_line(
        "These tests did not run: whatever passed above covers only the rest. "
        "The README says what the test bed needs.",
        red=True,
        bold=True,
    )


class LongTestHeartbeat:
    """Every HEARTBEAT_SECONDS, names the test that is still running (its fixtures included)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._current: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)

    def test_started(self, nodeid: str) -> None:
        with self._lock:
            self._current = (nodeid, time.monotonic())

    def test_finished(self) -> None:
        with self._lock:
            self._current = None

    def _run(self) -> None:
        said_for: tuple[str, float] | None = None
        last_said = 0.0
        while not self._stop.wait(min(5.0, HEARTBEAT_SECONDS / 4)):
            with self._lock:
                current = self._current
            if current is None:
                continue
            nodeid, started = current
            now = time.monotonic()
            if now - started < HEARTBEAT_SECONDS:
                continue
            if said_for == current and now - last_said < HEARTBEAT_SECONDS:
                continue
            said_for, last_said = current, now
            minutes, seconds = divmod(int(now - started), 60)
            line = f"\n    ... still running {nodeid} ({minutes}m{seconds:02d}s)\n"
            try:
                os.write(self._fd, line.encode())
            except OSError:
                return
