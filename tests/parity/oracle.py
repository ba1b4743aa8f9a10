"""The verdict the real kube-apiserver gives a policy file, cached by content.

Each policy is loaded by the kube-apiserver binary of the bed's cache exactly as a control-plane
node loads it: `--audit-policy-file`, with etcd unreachable on purpose, so the process stops
right after configuration. It logs "Load audit policy rules success" at --v=4 when the policy
loaded, "Audit policy contains errors, falling back to lenient decoding" before that when strict
decoding failed, or exits with "loading audit policy file: ..." when it refuses the file. The
process is killed as soon as one of those is seen (about half a second per policy).

Verdicts are cached under $KAUDIT_CACHE/policy-verdicts/<version>-<binary hash>/ by the SHA-256 of
the file, so that a rerun costs seconds and a rebuilt binary is asked again.

    python -m tests.parity.oracle FILE...     one line per file: verdict, file, message
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.testbed import K8S_BIN, K8S_VERSION, KAUDIT_CACHE

Outcome = Literal["ok", "warn", "refused"]
_LOADED = "Load audit policy rules success"
LENIENT_WARNING = "falling back to lenient decoding"
_REFUSED = re.compile(r"(loading audit policy file|failed decoding|failed lenient decoding)")
_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str


class OracleError(RuntimeError):
    """The binary did neither load nor refuse the policy (a crash, a hang, a missing flag)."""


def binary() -> Path:
    return K8S_BIN / "kube-apiserver"


@functools.cache
def _binary_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def cache_dir() -> Path:
    return KAUDIT_CACHE / "policy-verdicts" / f"{K8S_VERSION}-{_binary_hash(binary())}"


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Oracle:
    """Asks the binary, at most `jobs` processes at a time, and remembers every answer."""

    def __init__(self, *, jobs: int = 2) -> None:
        self.jobs = jobs
        self.asked = 0
        self.cached = 0
        self._cache = cache_dir()
        self._cache.mkdir(parents=True, exist_ok=True)
        self._work = Path(tempfile.mkdtemp(prefix="kaudit-oracle-"))
        self._pki = _make_pki(self._work / "pki")
        self._slots: queue.Queue[int] = queue.Queue()
        for slot in range(jobs):
            self._slots.put(slot)
        self._lock = threading.Lock()

    def verdicts(self, policies: Sequence[bytes]) -> list[Verdict]:
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            return list(pool.map(self.verdict, policies))

    def verdict(self, data: bytes) -> Verdict:
        key = content_key(data)
        stored = self._cache / f"{key}.json"
        if stored.is_file():
            recorded = json.loads(stored.read_text(encoding="utf-8"))
            with self._lock:
                self.cached += 1
            return Verdict(recorded["outcome"], recorded["message"])
        slot = self._slots.get()
        try:
            found = self._ask(data, key, slot)
        finally:
            self._slots.put(slot)
        temporary = stored.with_suffix(f".tmp{os.getpid()}-{slot}")
        temporary.write_text(
            json.dumps({"outcome": found.outcome, "message": found.message}), encoding="utf-8"
        )
        temporary.replace(stored)
        with self._lock:
            self.asked += 1
        return found

    def _ask(self, data: bytes, key: str, slot: int) -> Verdict:
        run = self._work / f"slot-{slot}"
        run.mkdir(exist_ok=True)
        policy = run / "policy.yaml"
        policy.write_bytes(data)
        command = [
            str(binary()),
            f"--audit-policy-file={policy}",
            f"--audit-log-path={run / 'audit.log'}",
            "--etcd-servers=http://127.0.0.1:9",
            "--bind-address=127.0.0.1",
            f"--secure-port={_free_port()}",
            f"--cert-dir={run / 'certs'}",
            f"--tls-cert-file={self._pki / 'serving.crt'}",
            f"--tls-private-key-file={self._pki / 'serving.key'}",
            "--service-account-issuer=https://kaudit-oracle.invalid",
            f"--service-account-key-file={self._pki / 'sa.pub'}",
            f"--service-account-signing-key-file={self._pki / 'sa.key'}",
            "--v=4",
        ]
        found = _run_until_verdict(command, key)
        return Verdict(found.outcome, found.message.replace(str(policy), "policy.yaml"))

    def close(self) -> None:
        subprocess.run(["rm", "-rf", str(self._work)], check=False)


def ask_all(policies: Sequence[bytes], *, jobs: int = 2) -> tuple[list[Verdict], Oracle]:
    """Every policy's verdict, and the oracle that gave them (for its asked/cached counts)."""
    oracle = Oracle(jobs=jobs)
    try:
        return oracle.verdicts(policies), oracle
    finally:
        oracle.close()


def _run_until_verdict(command: list[str], key: str) -> Verdict:
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    lenient = ""
    deadline = time.monotonic() + _TIMEOUT_SECONDS
    timer = threading.Timer(_TIMEOUT_SECONDS, _kill, (process,))
    timer.start()
    try:
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if LENIENT_WARNING in line and not lenient:
                lenient = _klog_message(line)
            if _LOADED in line:
                return Verdict("warn", lenient) if lenient else Verdict("ok", "")
            if _REFUSED.search(line):
                return Verdict("refused", _klog_message(line))
        process.wait()
    finally:
        timer.cancel()
        _kill(process)
        # Closed by us, not by the garbage collector: an unclosed pipe is a ResourceWarning,
        # which the test configuration turns into an error (seen on a cold verdict cache).
        process.stderr.close()
    if time.monotonic() >= deadline:
        raise OracleError(f"kube-apiserver gave no verdict in {_TIMEOUT_SECONDS:.0f} s ({key})")
    tail = "\n".join(lines[-15:])
    raise OracleError(f"kube-apiserver exited {process.returncode} without a verdict:\n{tail}")


def _free_port() -> int:
    # Several oracles (pytest, a person at the shell) may run at once: never a fixed port.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _klog_message(line: str) -> str:
    # `E1202 07:20:01.123456   4242 file.go:12] message`, or a bare `Error: message`.
    match = re.match(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]]+\] (.*)$", line)
    text = match.group(1) if match else line
    return text.removeprefix("Error: ")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def _make_pki(folder: Path) -> Path:
    folder.mkdir(parents=True)

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], check=True, capture_output=True)

    openssl("genrsa", "-out", str(folder / "sa.key"), "2048")
    openssl("rsa", "-in", str(folder / "sa.key"), "-pubout", "-out", str(folder / "sa.pub"))
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        "-keyout", str(folder / "serving.key"), "-out", str(folder / "serving.crt"),
    )  # fmt: skip
    return folder


def main(arguments: Iterable[str]) -> int:
    files = [Path(argument) for argument in arguments]
    if not files:
        print("usage: python -m tests.parity.oracle FILE...", file=sys.stderr)
        return 2
    if not binary().is_file():
        print(f"no kube-apiserver at {binary()}: run `make setup` first", file=sys.stderr)
        return 1
    found, _ = ask_all([file.read_bytes() for file in files])
    for file, verdict in zip(files, found, strict=True):
        print(f"{verdict.outcome}\t{file}\t{verdict.message}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
