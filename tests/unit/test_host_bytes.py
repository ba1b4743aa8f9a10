"""Byte exactness of the host layer, on the real file system and on the one in memory.

The README promises that disable restores the manifest byte for byte; issue 12 found the
agent losing CRLF line ends. Every test here runs over both HostFileSystems, so the model
test's in-memory hosts keep the same promise the real ones do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kaudit.config import AuditConfigSpec, HostPathsSpec
from kaudit.desired import EnabledState, desired_state
from kaudit.hostio.files import (
    ChangeTarget,
    HostError,
    HostLayout,
    PendingChange,
    apply_desired_state,
    disable_audit_on_host,
    layout_for,
    layout_from_state,
    read_host_facts,
    restore_snapshot,
    save_pending_change,
    snapshot_host,
    write_manifest_atomically,
)
from kaudit.hostio.fs import HostFileExistsError, HostFileSystem, RealFileSystem
from kaudit.hostio.memory import MemoryFileSystem

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KUBEADM = (FIXTURES / "kubeadm-kube-apiserver.yaml").read_bytes().decode()
KUBEADM_V134 = (FIXTURES / "manifests" / "kubeadm-v1.34.yaml").read_bytes().decode()
assert "\r" not in KUBEADM
assert not KUBEADM.startswith("\ufeff")
assert KUBEADM.endswith("\n")

MANIFESTS = {
    "crlf": KUBEADM.replace("\n", "\r\n"),
    "no-final-newline": KUBEADM.rstrip("\n"),
    "bom": "\ufeff" + KUBEADM,
    "bom-crlf-no-final-newline": "\ufeff" + KUBEADM_V134.replace("\n", "\r\n").rstrip("\r\n"),
}
MANIFEST_PATH = HostPathsSpec().manifest
ENABLED = desired_state(AuditConfigSpec(), source="test")
assert isinstance(ENABLED, EnabledState)


class Host:
    """One host on one file system: plant files, read their exact bytes back."""

    def __init__(self, files: HostFileSystem, *, plant: Callable[[str, str], None]) -> None:
        self.files = files
        self._plant = plant
        self.layout = layout_for(ENABLED, root=files.root, files=files)

    def plant(self, path: str, text: str) -> None:
        self._plant(path, text)

    def bytes_of(self, path: str) -> bytes | None:
        if isinstance(self.files, MemoryFileSystem):
            text = self.files.text_of(path)
            return None if text is None else text.encode("utf-8")
        on_host = self.files.on_host(path)
        return on_host.read_bytes() if on_host.exists() else None


def real_host(tmp_path: Path) -> Host:
    root = tmp_path / "host"
    root.mkdir()

    def plant(path: str, text: str) -> None:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))  # bytes: no newline translation anywhere
        target.chmod(0o600)

    return Host(RealFileSystem(root), plant=plant)


def memory_host(tmp_path: Path) -> Host:
    del tmp_path
    files = MemoryFileSystem(clock=iter(range(1_000_000)).__next__)
    return Host(files, plant=files.put)


@pytest.fixture(params=[real_host, memory_host], ids=["real", "memory"])
def host(request: pytest.FixtureRequest, tmp_path: Path) -> Host:
    made: Host = request.param(tmp_path)
    return made


@pytest.fixture(params=sorted(MANIFESTS))
def manifest(request: pytest.FixtureRequest) -> str:
    return MANIFESTS[request.param]


def test_enable_then_disable_restores_the_original_bytes(host: Host, manifest: str) -> None:
    host.plant(MANIFEST_PATH, manifest)
    assert apply_desired_state(host.layout, ENABLED).changed
    written = host.bytes_of(MANIFEST_PATH)
    assert written is not None
    assert written != manifest.encode()
    # The line ends, the BOM and the missing final newline are the file's own, kept by enable.
    assert (b"\r\n" in written) == ("\r\n" in manifest)
    assert written.startswith(b"\xef\xbb\xbf") == manifest.startswith("\ufeff")
    assert written.endswith(b"\n") == manifest.endswith("\n")
    # Disable from the recorded state alone, as after a restart.
    result = disable_audit_on_host(layout_from_state(root=host.files.root, files=host.files))
    assert result.changed
    assert host.bytes_of(MANIFEST_PATH) == manifest.encode()
    assert host.bytes_of(HostPathsSpec().policy_file) is None


def test_restore_snapshot_restores_the_original_bytes(host: Host, manifest: str) -> None:
    host.plant(MANIFEST_PATH, manifest)
    snapshot = snapshot_host(host.layout)
    assert snapshot.manifest_text == manifest
    apply_desired_state(host.layout, ENABLED)
    restore_snapshot(host.layout, snapshot)
    assert host.bytes_of(MANIFEST_PATH) == manifest.encode()
    assert host.bytes_of(HostPathsSpec().policy_file) is None


def test_read_host_facts_returns_the_exact_texts(host: Host, manifest: str) -> None:
    host.plant(MANIFEST_PATH, manifest)
    before = read_host_facts(host.layout)
    assert before.manifest_text == manifest
    assert before.policy_text is None
    assert before.pending is None
    assert not before.audit_enabled_by_kaudit
    assert (before.audit_log_size, before.audit_log_mtime) == (None, None)

    apply_desired_state(host.layout, ENABLED)
    pending = PendingChange(
        snapshot=snapshot_host(host.layout),
        target=ChangeTarget(generation=3, enabled=True, config_hash=ENABLED.config_hash),
        written_at="2026-12-02T18:00:00.123Z",
    )
    save_pending_change(host.layout, pending)
    host.plant(host.layout.log_file_path, "{}\r\n")
    after = read_host_facts(host.layout)
    assert after.manifest_text is not None
    assert after.manifest_text.encode() == host.bytes_of(MANIFEST_PATH)
    assert after.policy_text == ENABLED.policy_text
    assert after.pending == pending
    assert after.pending.snapshot.manifest_text == after.manifest_text
    assert after.audit_enabled_by_kaudit
    assert after.audit_log_size == 4
    assert after.audit_log_mtime is not None


def test_write_manifest_atomically_writes_exactly_the_text_given(host: Host, manifest: str) -> None:
    host.plant(MANIFEST_PATH, "old\n")
    write_manifest_atomically(host.layout, manifest)
    assert host.bytes_of(MANIFEST_PATH) == manifest.encode()
    assert read_host_facts(host.layout).manifest_text == manifest


# --- the two file systems answer alike -----------------------------------------------------


def test_both_file_systems_answer_the_same_to_the_same_operations(tmp_path: Path) -> None:
    real, memory = real_host(tmp_path).files, memory_host(tmp_path).files
    answers = [_script(real), _script(memory)]
    assert answers[0] == answers[1]


def _script(files: HostFileSystem) -> list[object]:
    """A run through every operation and its refusals; errors as their reasons."""
    answers: list[object] = []

    def note(action: Callable[[], object]) -> None:
        try:
            answers.append(action())
        except HostError as error:
            answers.append((type(error).__name__, error.reason))

    note(lambda: files.read_text("/a/b/file", limit=10, what="file"))
    note(lambda: files.missing_folders("/a/b/c"))
    note(lambda: files.write_atomically("/a/b/file", "x"))
    note(lambda: files.make_folders("/a/b"))
    note(lambda: files.list_names("/a"))
    note(lambda: files.write_atomically("/a/b/file", "é\r\n", mode=0o640))
    note(lambda: files.read_text("/a/b/file", limit=10, what="file"))
    note(lambda: files.read_text("/a/b/file", limit=3, what="file"))
    note(lambda: files.read_text("/a/b", limit=10, what="file"))
    note(lambda: files.read_text("/a/b/file/deeper", limit=10, what="file"))
    note(lambda: files.missing_folders("/a/b/file/c"))
    note(lambda: files.make_folders("/a/b/file/c"))
    note(lambda: files.write_atomically("/a/b", "x"))
    note(lambda: files.create_file("/a/b/file", "y"))
    note(lambda: files.create_file("/a/b/new", "y"))
    note(lambda: sorted(files.list_names("/a/b")))
    note(lambda: files.list_names("/nowhere"))
    facts = files.file_facts("/a/b/file")
    assert facts is not None
    answers.append((facts.size, oct(facts.mode)))
    note(lambda: files.file_facts("/a/b/missing"))
    note(lambda: files.remove_file("/a/b/missing"))
    note(lambda: files.remove_file("/a/b/new"))
    note(lambda: files.remove_empty_folders(["/a", "/a/b"]))
    note(lambda: files.remove_file("/a/b/file"))
    note(lambda: files.remove_empty_folders(["/a", "/a/b"]))
    note(lambda: files.list_names("/"))
    return answers


# --- the one in memory ---------------------------------------------------------------------


def test_a_reader_never_sees_a_partial_write() -> None:
    files = MemoryFileSystem()
    texts = [MANIFESTS[name] for name in sorted(MANIFESTS)]
    files.put(MANIFEST_PATH, texts[0])
    seen: set[str] = set()
    stop = threading.Event()

    def read_all_the_time() -> None:
        while not stop.is_set():
            text = files.read_text(MANIFEST_PATH, limit=1 << 20, what="manifest")
            assert text is not None
            seen.add(text)

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        for round_ in range(2000):
            files.write_atomically(MANIFEST_PATH, texts[round_ % len(texts)])
    finally:
        stop.set()
        reader.join()
    assert seen <= set(texts)


def test_a_write_is_seen_whole_from_inside_the_hook_too() -> None:
    # The hook runs just before the change: what the model's kubelet reads there is the old text.
    seen: list[str | None] = []
    files = MemoryFileSystem()
    files.put(MANIFEST_PATH, "old\r\n")
    files.before_write = lambda operation, path: seen.append(files.text_of(path))
    files.write_atomically(MANIFEST_PATH, "new\r\n")
    assert seen == ["old\r\n"]
    assert files.text_of(MANIFEST_PATH) == "new\r\n"
    facts = files.file_facts(MANIFEST_PATH)
    assert facts is not None
    assert facts.size == 5


class Crash(BaseException):
    """What the model test raises: not an Exception, so no handler in kaudit catches it."""


def test_a_raising_hook_leaves_the_previous_text_in_place() -> None:
    files = MemoryFileSystem()
    files.put(MANIFEST_PATH, MANIFESTS["crlf"])
    before = files.texts()
    inode = files.file_facts(MANIFEST_PATH)

    def crash(operation: str, path: str) -> None:
        raise Crash(f"{operation} {path}")

    files.before_write = crash
    for action in (
        lambda: files.write_atomically(MANIFEST_PATH, "new"),
        lambda: files.create_file("/etc/kubernetes/other.yaml", "new"),
        lambda: files.remove_file(MANIFEST_PATH),
        lambda: files.make_folders("/etc/kubernetes/more"),
        lambda: files.remove_empty_folders(["/etc/kubernetes/manifests"]),
    ):
        with pytest.raises(Crash):
            action()
    assert files.texts() == before
    assert files.file_facts(MANIFEST_PATH) == inode
    assert files.writes == []
    assert files.list_names("/etc/kubernetes") == ["manifests"]


def test_a_crash_at_the_manifest_write_of_an_enable_leaves_the_manifest_as_it_was() -> None:
    files = MemoryFileSystem()
    layout = layout_for(ENABLED, root=files.root, files=files)
    files.put(MANIFEST_PATH, MANIFESTS["bom"])

    def crash_at_the_manifest(operation: str, path: str) -> None:
        if (operation, path) == ("write_atomically", MANIFEST_PATH):
            raise Crash(path)

    files.before_write = crash_at_the_manifest
    with pytest.raises(Crash):
        apply_desired_state(layout, ENABLED)
    assert files.text_of(MANIFEST_PATH) == MANIFESTS["bom"]
    assert ("write_atomically", HostPathsSpec().policy_file) in files.writes


def test_each_write_gets_a_new_inode_and_the_clocks_mtime() -> None:
    moments = iter([10.0, 20.0])
    files = MemoryFileSystem(clock=moments.__next__)
    files.put(MANIFEST_PATH, "a")
    files.write_atomically(MANIFEST_PATH, "b")
    first, second = files.writes, files.file_facts(MANIFEST_PATH)
    assert first == [("write_atomically", MANIFEST_PATH)]
    assert second is not None
    assert second.mtime == 20.0
    assert second.inode == 2
    with pytest.raises(HostFileExistsError):
        files.create_file(MANIFEST_PATH, "c")


def test_layout_root_must_be_its_files_root() -> None:
    with pytest.raises(ValueError, match="is not its files' root"):
        HostLayout(root=Path("/elsewhere"), paths=HostPathsSpec(), files=MemoryFileSystem())
