"""What a person sees at the end of a run that could not test everything, and during a long test.

Each test runs a small pytest session of its own with the project's conftest hooks, as
`make test` would, and reads its output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import testbed
from tests.run_summary import NOT_RUN_HERE

REPO_ROOT = Path(__file__).resolve().parents[2]

INNER_CONFTEST = """
from tests.conftest import (
    pytest_configure, pytest_runtest_protocol, pytest_terminal_summary, pytest_unconfigure,
)
"""


def run_inner_pytest(tmp_path: Path, test_source: str, **env: str) -> str:
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(test_source)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-ra", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_skips_for_a_machine_without_the_bed_get_a_banner_with_count_and_reason(
    tmp_path: Path,
) -> None:
    output = run_inner_pytest(
        tmp_path,
        """
import pytest
from tests.run_summary import not_run_here

def test_runs():
    pass

@pytest.mark.parametrize("n", range(3))
def test_needs_the_bed(n):
    pytest.skip(not_run_here("no test bed on this machine: the test bed needs root"))

def test_needs_shared():
    pytest.skip(not_run_here("../shared is not present"))

def test_skipped_by_design():
    pytest.skip("refused on purpose")
""",
    )
    assert "NOT A FULL RUN: 4 tests skipped on this machine" in output
    assert "3  no test bed on this machine: the test bed needs root" in output
    assert "1  ../shared is not present" in output
    assert "These tests did not run" in output
    # A skip by design is no gap in coverage: it stays in pytest's ordinary summary only.
    banner = output.split("NOT A FULL RUN")[1]
    assert "refused on purpose" not in banner.split("These tests did not run")[0]
    # The banner comes after pytest's own list of skips, just above the closing line.
    closing = output.strip().splitlines()[-1]
    assert "1 passed, 5 skipped" in closing
    summary, banner_at = output.index("short test summary info"), output.index("NOT A FULL RUN")
    assert summary < banner_at < output.index(closing)


def test_a_run_without_such_skips_has_no_banner(tmp_path: Path) -> None:
    output = run_inner_pytest(
        tmp_path,
        """
import pytest

def test_runs():
    pass

def test_skipped_by_design():
    pytest.skip("refused on purpose")
""",
    )
    assert "NOT A FULL RUN" not in output
    assert "1 passed, 1 skipped" in output


def test_a_long_test_is_named_while_it_runs(tmp_path: Path) -> None:
    output = run_inner_pytest(
        tmp_path,
        """
import time

def test_slow_end_to_end():
    time.sleep(2.5)
""",
        KAUDIT_TEST_HEARTBEAT_SECONDS="1",
    )
    assert "... still running test_inner.py::test_slow_end_to_end (0m0" in output
    assert "1 passed" in output


def test_without_the_bed_the_bed_tests_skip_as_not_run_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(testbed, "bed_unavailable_reason", lambda: "the test bed needs root")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("KAUDIT_REQUIRE_TESTBED", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        testbed.check_bed_prerequisites("kubeadm")
    assert (
        str(skipped.value) == NOT_RUN_HERE + "no test bed on this machine: the test bed needs root"
    )


def test_in_ci_a_missing_bed_fails_instead_of_skipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testbed, "bed_unavailable_reason", lambda: "the test bed needs root")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="the test bed needs root"):
        testbed.check_bed_prerequisites("kubeadm")


def test_a_missing_build_fails_and_says_how_to_build_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(testbed, "bed_unavailable_reason", lambda: None)
    monkeypatch.setattr(testbed, "K8S_BIN", tmp_path)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.fail.Exception, match=r"kubeadm not in .*`make test` builds them"):
        testbed.check_bed_prerequisites("kubeadm")
