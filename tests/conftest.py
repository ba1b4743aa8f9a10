"""Marks every test by its folder, so `-m unit`, `-m integration` and `-m e2e` select them; says
loudly what a run skipped because this machine cannot run it, and which long test still runs."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

from tests.run_summary import LongTestHeartbeat, write_not_run_here_banner

_HEARTBEAT = pytest.StashKey[LongTestHeartbeat]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).parts
        for marker in ("unit", "integration", "e2e"):
            if marker in parts:
                item.add_marker(getattr(pytest.mark, marker))


def pytest_configure(config: pytest.Config) -> None:
    # Output capture is suspended outside tests here, so fd 1 is still the terminal (or CI's log).
    heartbeat = LongTestHeartbeat(os.dup(1))
    config.stash[_HEARTBEAT] = heartbeat
    heartbeat.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    heartbeat = config.stash.get(_HEARTBEAT, None)
    if heartbeat is not None:
        heartbeat.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    heartbeat = item.config.stash.get(_HEARTBEAT, None)
    if heartbeat is not None:
        heartbeat.test_started(item.nodeid)
    try:
        return (yield)
    finally:
        if heartbeat is not None:
            heartbeat.test_finished()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> Generator[None]:
    # Outermost wrapper: after pytest's short summary (whose list of skips is long), so the
    # banner stands just above the closing line.
    try:
        return (yield)
    finally:
        write_not_run_here_banner(terminalreporter)
