"""Run one hostile case in a forked child, bounded in time, memory and file size.

A bomb must not take the test process down, so every case runs in a child forked from the
test process, which has already imported kaudit: a case costs milliseconds, not an interpreter
start. The child gets an address-space limit (a bomb ends in MemoryError or is killed, as a
container's memory limit would end it), optionally a file-size limit (a full disk, without
root) and a private read-only mount of the host folder (root only). The parent kills it past
its time limit and reads its peak memory from wait4. The child reports what the target
returned, or the traceback of what it raised, in a JSON file; everything it wrote to stdout
and stderr (logging included) is kept, to look for "Traceback".
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import logging
import math
import os
import resource
import select
import signal
import stat
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
# Of CPU time; a child that does not run (blocked) for that long on the wall clock hangs.
DEFAULT_SECONDS = 20.0
# A child that runs but is starved gets this many times DEFAULT_SECONDS of wall clock.
WALL_CAP_FACTOR = 4
# Above what the parent has mapped already (Python, pytest, kaudit): the child's own budget.
DEFAULT_MEMORY = 512 * MIB
# What the child may keep of a message or of its output: a clear error is short.
KEPT_CHARS = 4000

Result = Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class Limits:
    seconds: float = DEFAULT_SECONDS
    memory: int = DEFAULT_MEMORY
    file_size: int | None = None
    read_only: Path | None = None
    stdin: Path | None = None
    cwd: Path | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one child ended."""

    ended: str  # "returned", "raised", "timeout", "wall cap", "killed", "memory"
    result: Result = field(default_factory=dict)
    traceback: str = ""
    output: str = ""
    seconds: float = 0.0
    peak_rss_kib: int = 0
    # The parent's resident size when it forked: the child starts with those pages.
    baseline_rss_kib: int = 0
    signal_number: int | None = None

    @property
    def growth_kib(self) -> int:
        return max(0, self.peak_rss_kib - self.baseline_rss_kib)

    def describe(self) -> str:
        if self.ended == "raised":
            return self.traceback.strip().splitlines()[-1] if self.traceback else "raised"
        if self.ended == "wall cap":
            return f"still running after {self.seconds:.0f} s on the clock (killed)"
        if self.ended == "timeout":
            return f"no answer after {self.seconds:.0f} s, not running: it hangs (killed)"
        if self.ended == "killed" and self.signal_number in (signal.SIGXCPU, signal.SIGKILL):
            return f"used all its CPU time ({self.seconds:.0f} s on the clock, killed)"
        if self.ended == "memory":
            return f"ran out of its memory limit (peak {self.peak_rss_kib // 1024} MiB)"
        if self.ended == "killed":
            return f"killed by signal {self.signal_number}"
        return "returned"


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def address_space_now() -> int:
    """The virtual memory this process has mapped (what a forked child starts with)."""
    return _status_kib("VmSize") * 1024


def run_in_child(target: Callable[[], Result], limits: Limits) -> Outcome:
    """Fork, run target in the child under limits, and tell how it ended."""
    with tempfile.TemporaryDirectory(prefix="kaudit-hostile-") as scratch:
        result_path = Path(scratch) / "result.json"
        output_path = Path(scratch) / "output.txt"
        address_space = address_space_now() + limits.memory
        baseline = _status_kib("VmRSS")
        started = time.monotonic()
        with warnings.catch_warnings():
            # Python 3.12 warns that forking a process with threads (pytest's heartbeat) can
            # deadlock the child on a lock another thread held; this child takes none of them:
            # it runs one kaudit call and leaves with os._exit.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns to the caller
            _child(target, limits, address_space, result_path, output_path)
        outcome = _wait_for(pid, limits, started, result_path, output_path)
        return replace(outcome, baseline_rss_kib=baseline)


def _child(
    target: Callable[[], Result],
    limits: Limits,
    address_space: int,
    result_path: Path,
    output_path: Path,
) -> None:
    code = 0
    try:
        # If the test process dies (Ctrl-C, a crash), its children go with it: a FIFO case
        # would otherwise wait forever with no parent to kill it.
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        result_fd = os.open(result_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        output_fd = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        stdin_fd = os.open(limits.stdin or os.devnull, os.O_RDONLY)
        os.dup2(stdin_fd, 0)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, closefd=False), encoding="utf-8", newline="")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = sys.stdout
        _log_to_stderr()
        if limits.cwd is not None:
            os.chdir(limits.cwd)
        if limits.read_only is not None:
            mount_read_only(limits.read_only)
        if limits.file_size is not None:
            # A write past the limit fails with EFBIG, as one on a full disk fails with ENOSPC,
            # instead of killing the process (SIGXFSZ's default).
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        # SIGXCPU at the soft limit ends the child (its default action); SIGKILL one second on.
        cpu = math.ceil(limits.seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        payload: dict[str, Any]
        try:
            payload = {"ended": "returned", "result": _kept(dict(target()))}
        except MemoryError:
            payload = {"ended": "memory"}
        except BaseException:
            payload = {"ended": "raised", "traceback": traceback.format_exc()[-KEPT_CHARS:]}
        # The bomb's objects are gone by now; the report is small and needs no new limit.
        os.write(result_fd, json.dumps(payload).encode("utf-8", "backslashreplace"))
    except BaseException:
        code = 3
    finally:
        os._exit(code)


def _log_to_stderr() -> None:
    # Whatever kaudit logs (log.exception included) lands in the output that is searched.
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _kept(value: object) -> Any:
    if isinstance(value, str):
        return (
            value if len(value) <= KEPT_CHARS else value[:KEPT_CHARS] + f"... ({len(value)} chars)"
        )
    if isinstance(value, dict):
        return {str(key): _kept(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_kept(item) for item in value[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _kept(repr(value))


def _wait_for(
    pid: int, limits: Limits, started: float, result_path: Path, output_path: Path
) -> Outcome:
    waited = _wait_while_alive(pid, limits.seconds)
    timed_out = waited != "ended"
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - started
    peak = int(usage.ru_maxrss)
    output = output_path.read_text(encoding="utf-8", errors="replace")[-KEPT_CHARS * 4 :]
    if timed_out:
        return Outcome(ended=waited, output=output, seconds=seconds, peak_rss_kib=peak)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        return Outcome(
            ended="killed", output=output, seconds=seconds, peak_rss_kib=peak, signal_number=number
        )
    try:
        payload = json.loads(result_path.read_text(encoding="utf-8"))
    except ValueError:
        # No report: the child could not even write it (memory exhausted on the way out).
        payload = {"ended": "memory" if os.WEXITSTATUS(status) else "killed"}
    return Outcome(
        ended=payload["ended"],
        result=payload.get("result") or {},
        traceback=payload.get("traceback", ""),
        output=output,
        seconds=seconds,
        peak_rss_kib=peak,
    )


def _wait_while_alive(pid: int, seconds: float) -> str:
    """Wait for the child: "ended", "timeout" when it hangs, "wall cap" when starved too long.

    A hang is a child that is still there after `seconds` and not running: blocked on a FIFO,
    waiting for a writer, sleeping. A child that is running still is only slow, or starved
    by a loaded machine: its bound is its CPU time (RLIMIT_CPU, the same `seconds`), so that
    the verdict does not depend on what else the machine runs; a wall-clock cap of a few times
    `seconds` still ends it.
    """
    pidfd = os.pidfd_open(pid)
    try:
        waited = 0.0
        while waited < seconds * WALL_CAP_FACTOR:
            step = seconds if waited == 0.0 else 1.0
            ready, _, _ = select.select([pidfd], [], [], step)
            if ready:
                return "ended"
            waited += step
            if _process_state(pid) not in ("R", ""):
                return "timeout"
        return "wall cap"
    finally:
        os.close(pidfd)


def _process_state(pid: int) -> str:
    """R running, S sleeping, D waiting on a disk, ... ("" when gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name is in parentheses and may hold spaces: the state follows the last ")".
    return text.rpartition(")")[2].split()[0]


# --- a read-only file system, in the child's own mount namespace --------------------------

_PR_SET_PDEATHSIG = 1
_CLONE_NEWNS = 0x00020000
_MS_RDONLY = 1
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18


def can_mount() -> bool:
    return os.geteuid() == 0


def mount_read_only(folder: Path) -> None:
    """Make folder read-only for this process only: the parent and the machine never see it."""
    libc = ctypes.CDLL(None, use_errno=True)

    def check(result: int, what: str) -> None:
        if result != 0:
            raise OSError(ctypes.get_errno(), f"{what} failed")

    check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
    path = os.fsencode(folder)
    check(libc.mount(path, path, None, _MS_BIND | _MS_REC, None), "mount --bind")
    check(
        libc.mount(path, path, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None),
        "mount -o remount,ro,bind",
    )


# --- host trees: what "unchanged" means ---------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: str
    mode: int
    digest: str
    inode: int


def tree_state(root: Path) -> dict[str, Entry]:
    """Every file under root, by relative path: kind, permission bits, content digest."""
    state: dict[str, Entry] = {}
    for path in _walk(root):
        facts = path.lstat()
        relative = str(path.relative_to(root))
        mode = stat.S_IMODE(facts.st_mode)
        if stat.S_ISLNK(facts.st_mode):
            state[relative] = Entry("symlink", mode, os.readlink(path), facts.st_ino)
        elif stat.S_ISREG(facts.st_mode):
            state[relative] = Entry("file", mode, _digest(path), facts.st_ino)
        elif stat.S_ISDIR(facts.st_mode):
            state[relative] = Entry("folder", mode, "", facts.st_ino)
        else:
            state[relative] = Entry("special", mode, "", facts.st_ino)
    return state


def _walk(root: Path) -> Iterator[Path]:
    for folder, folders, files in os.walk(root, followlinks=False):
        for name in [*folders, *files]:
            yield Path(folder) / name


def _digest(path: Path) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        digest = hashlib.sha256()
        while chunk := os.read(fd, 1024 * 1024):
            digest.update(chunk)
        return digest.hexdigest()
    finally:
        os.close(fd)


def tree_changes(
    before: Mapping[str, Entry], after: Mapping[str, Entry], *, allowed: Callable[[str], bool]
) -> list[str]:
    """What changed between two tree states, leaving out the paths `allowed` says may change."""
    changes: list[str] = []
    for path in sorted(set(before) | set(after)):
        if allowed(path):
            continue
        old, new = before.get(path), after.get(path)
        if old is None:
            changes.append(f"new {new.kind if new else '?'} {path}")
        elif new is None:
            changes.append(f"{old.kind} {path} removed")
        elif (old.kind, old.digest) != (new.kind, new.digest):
            changes.append(f"{path}: content changed")
        elif old.mode != new.mode:
            changes.append(f"{path}: mode {old.mode:o} -> {new.mode:o}")
    return changes
