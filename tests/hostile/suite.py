"""Run one case and judge it: what a security reviewer would check, as a list of complaints.

A case passes when its child returned (no exception, no timeout, no memory exhaustion), nothing
it printed or logged holds a traceback, its memory grew by less than the containers' limit,
a refusal is a short error naming the file or field, an input that must be refused was, and
the host folder is byte-for-byte as it was (modes included; new files only in the backup
folder) after a refusal, or changed only in kaudit's own files after an acceptance.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tests.hostile.harness import KEPT_CHARS, Outcome, run_in_child, tree_changes, tree_state
from tests.hostile.targets import Case, Prepared, default_layout

# The agent and the controller run with 256 MiB; a case that needs more would be OOM-killed.
CONTAINER_MEMORY_KIB = 256 * 1024
CLI_LINE_STARTS = ("kaudit: ", "error: ", "warning: ")


@dataclass(frozen=True, kw_only=True)
class CaseRun:
    case: Case
    outcome: Outcome
    complaints: tuple[str, ...]

    @property
    def refused(self) -> bool:
        return bool(self.outcome.result.get("refused"))

    @property
    def verdict(self) -> str:
        if self.complaints:
            return "FAIL"
        return "clean error" if self.refused else "accepted"

    def first_line(self) -> str:
        message = str(self.outcome.result.get("message", "")).strip()
        return message.splitlines()[0][:200] if message else ""


def run_case(case: Case, case_dir: Path, *, seconds: float | None = None) -> CaseRun:
    """Prepare, run and judge one case; `seconds` replaces its time bound (a quick survey)."""
    case_dir.mkdir(parents=True, exist_ok=True)
    prepared = case.prepare(case_dir)
    limits = prepared.limits if seconds is None else replace(prepared.limits, seconds=seconds)
    before = tree_state(case_dir)
    outcome = run_in_child(prepared.run, limits)
    after = tree_state(case_dir)
    complaints = judge(case, prepared, outcome)
    refused = bool(outcome.result.get("refused")) or outcome.ended != "returned"
    expected = _allowed_on_refusal(case_dir) if refused else _allowed_on_acceptance(case_dir)

    def allowed(path: str) -> bool:
        return path in prepared.may_change or expected(path)

    complaints += [
        f"host changed: {change}" for change in tree_changes(before, after, allowed=allowed)
    ]
    for check in prepared.after:
        complaints += check(case_dir, outcome.result)
    # The big inputs (50 MB) are not kept for pytest's basetemp history.
    shutil.rmtree(case_dir, ignore_errors=True)
    return CaseRun(case=case, outcome=outcome, complaints=tuple(complaints))


def judge(case: Case, prepared: Prepared, outcome: Outcome) -> list[str]:
    complaints: list[str] = []
    if outcome.ended != "returned":
        complaints.append(f"{outcome.ended}: {outcome.describe()}")
        if outcome.traceback:
            complaints.append("traceback:\n" + _tail(outcome.traceback))
        return complaints
    message = str(outcome.result.get("message", ""))
    if "Traceback" in outcome.output or "Traceback" in message:
        complaints.append("a traceback was printed:\n" + _tail(outcome.output + message))
    if outcome.growth_kib > CONTAINER_MEMORY_KIB:
        complaints.append(
            f"memory grew by {outcome.growth_kib // 1024} MiB, over the containers' "
            f"{CONTAINER_MEMORY_KIB // 1024} MiB"
        )
    refused = bool(outcome.result.get("refused"))
    if case.expect == "refused" and not refused:
        complaints.append(
            f"accepted, but must be refused ({message.strip()[:200] or 'no message'})"
        )
    if refused:
        complaints += _unclear(message, prepared.names)
    if case.target == "cli":
        stray = [
            line
            for line in message.splitlines()
            if line.strip() and not line.startswith(CLI_LINE_STARTS)
        ]
        if stray:
            complaints.append(f"stderr has lines that are not kaudit's errors: {stray[0][:200]!r}")
    return complaints


def _unclear(message: str, names: tuple[str, ...]) -> list[str]:
    text = message.strip()
    if not text:
        return ["refused without a message"]
    if len(message) >= KEPT_CHARS:
        return [f"the error is too long to be clear ({_length(message)}): {text[:120]!r}..."]
    lowered = text.lower()
    if names and not any(name.lower() in lowered for name in names):
        return [f"the error names none of {list(names)}: {text[:300]!r}"]
    return []


def _length(message: str) -> str:
    marker = message.rfind("... (")
    return message[marker + 5 : -1] if marker >= 0 else f"{len(message)} chars"


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _relative(case_dir: Path, path: Path) -> str:
    return str(path.relative_to(case_dir))


def _is_temporary(path: str) -> bool:
    # A stale temporary file may be removed: removing a name never changes the file behind it.
    return Path(path).name.endswith(".kaudit-tmp")


def _allowed_on_refusal(case_dir: Path) -> Callable[[str], bool]:
    layout = default_layout(case_dir / "host")
    backups = _relative(case_dir, layout.backup_dir)

    def allowed(path: str) -> bool:
        return _is_temporary(path) or _within(path, backups)

    return allowed


def _allowed_on_acceptance(case_dir: Path) -> Callable[[str], bool]:
    layout = default_layout(case_dir / "host")
    files = {
        _relative(case_dir, layout.manifest),
        _relative(case_dir, layout.policy_file),
    }
    folders = [
        _relative(case_dir, layout.backup_dir),
        _relative(case_dir, layout.log_dir),
        _relative(case_dir, layout.policy_file.parent),
    ]

    def allowed(path: str) -> bool:
        if _is_temporary(path) or path in files:
            return True
        # A folder kaudit creates on the way to one of its own is its own too.
        return any(_within(path, folder) or _within(folder, path) for folder in folders)

    return allowed


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")
