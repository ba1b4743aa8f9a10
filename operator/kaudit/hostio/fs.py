"""Files under a host root, reached without following a symlink anywhere below the root.

A node agent runs as root and writes where the kubelet and kube-apiserver look. Anyone who can
plant a file there could otherwise point kaudit's writes somewhere else: a symlink along the
path (the policy folder linked to /etc/kubernetes/pki), a symlink as the file (its target's
text copied into a backup, and written back as a plain file on disable), a hard link at the
temporary name (opened with O_TRUNC, its target was overwritten and re-moded). So:

* Every path is walked from the host root one component at a time, each folder opened with
  O_NOFOLLOW|O_DIRECTORY relative to the one before (openat); the file itself is opened with
  O_NOFOLLOW relative to its folder. Nothing is resolved by name twice, so a link swapped in
  between a check and a use changes nothing. The host root itself may be anything (a symlink,
  a bind mount): it is the operator's choice, not input.
* A temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW after a leftover of the same name
  is unlinked (unlinking a planted link leaves its target alone), then renamed into place. A
  backup is published with link(2), which refuses to replace anything.
* Reads go through kaudit.limits.read_limited_text: no FIFOs or devices, a size limit per file,
  strict UTF-8, bytes and CRLF exact.

Paths given here are canonical absolute paths (kaudit.paths); messages name the file as it
is seen from here (host root + path).

The functions take the host root; `HostFileSystem` is the same operations bound to one root,
the interface the rest of kaudit uses, so that a test or the agent's model can put an in-memory
one (kaudit.hostio.memory) where the real one (`RealFileSystem`) would be.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from kaudit.limits import InputRefusedError, read_limited_text

_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_FOLDER_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_NEW_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
TEMPORARY_SUFFIX: Final = ".kaudit-tmp"


class HostError(RuntimeError):
    """A host file operation that did not happen, naming the file and the reason."""

    def __init__(self, *, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class HostFileExistsError(HostError):
    """create_file found the name taken."""


@dataclass(frozen=True, slots=True)
class FileFacts:
    """lstat's answer, the part kaudit uses; mode has the file type bits (stat.S_ISREG)."""

    size: int
    mtime: float
    mode: int
    inode: int


class HostFileSystem(Protocol):
    """The host's files as kaudit reads and writes them: byte exact and atomic.

    Paths are canonical absolute host paths ("/etc/kubernetes/manifests/kube-apiserver.yaml");
    every failure is a HostError naming the file and the reason.
    """

    @property
    def root(self) -> Path: ...

    def on_host(self, path: str) -> Path:
        """How messages name `path`."""
        ...

    def read_text(self, path: str, *, limit: int, what: str) -> str | None:
        """The exact text (CRLF, BOM, no final newline kept), or None when there is no file;
        refused over `limit` bytes, or when it is not a plain UTF-8 file."""
        ...

    def file_facts(self, path: str) -> FileFacts | None: ...

    def list_names(self, folder: str) -> list[str]: ...

    def make_folders(self, folder: str, *, mode: int = 0o755) -> None: ...

    def missing_folders(self, folder: str) -> list[str]: ...

    def remove_empty_folders(self, folders: list[str]) -> None: ...

    def remove_file(self, path: str) -> None: ...

    def write_atomically(self, path: str, text: str, *, mode: int | None = None) -> None:
        """A reader sees the old text or the new, never a part of it."""
        ...

    def create_file(self, path: str, text: str, *, mode: int = 0o600) -> None:
        """Exclusive: HostFileExistsError when the name is taken."""
        ...


@dataclass(frozen=True)
class RealFileSystem:
    """The host's own files under `root`, through the functions below."""

    root: Path

    def on_host(self, path: str) -> Path:
        return on_host(self.root, path)

    def read_text(self, path: str, *, limit: int, what: str) -> str | None:
        return read_text(self.root, path, limit=limit, what=what)

    def file_facts(self, path: str) -> FileFacts | None:
        info = file_facts(self.root, path)
        if info is None:
            return None
        return FileFacts(
            size=info.st_size, mtime=info.st_mtime, mode=info.st_mode, inode=info.st_ino
        )

    def list_names(self, folder: str) -> list[str]:
        return list_names(self.root, folder)

    def make_folders(self, folder: str, *, mode: int = 0o755) -> None:
        make_folders(self.root, folder, mode=mode)

    def missing_folders(self, folder: str) -> list[str]:
        return missing_folders(self.root, folder)

    def remove_empty_folders(self, folders: list[str]) -> None:
        remove_empty_folders(self.root, folders)

    def remove_file(self, path: str) -> None:
        remove_file(self.root, path)

    def write_atomically(self, path: str, text: str, *, mode: int | None = None) -> None:
        write_atomically(self.root, path, text, mode=mode)

    def create_file(self, path: str, text: str, *, mode: int = 0o600) -> None:
        create_file(self.root, path, text, mode=mode)


def on_host(root: Path, path: str) -> Path:
    """How messages and callers name `path` under the root."""
    return root / path.lstrip("/")


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part]


def _split(path: str) -> tuple[str, str]:
    parts = _parts(path)
    if not parts:
        raise HostError(path=path, reason="names the host root, not a file")
    return "/" + "/".join(parts[:-1]), parts[-1]


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _open_root(root: Path) -> int:
    try:
        return os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError as error:
        raise HostError(path=root, reason=f"host root: {_reason(error)}") from None


def _refuse_component(parent_fd: int, name: str, shown: Path, error: OSError) -> HostError:
    """Why a folder along the way could not be opened, in words."""
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        with contextlib.suppress(OSError):
            facts = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            if stat.S_ISLNK(facts.st_mode):
                return HostError(
                    path=shown,
                    reason="is a symlink; kaudit follows no symlink below the host root "
                    "(make it a real folder, or use the real path in the AuditConfig)",
                )
            return HostError(path=shown, reason="exists but is not a folder")
    return HostError(path=shown, reason=_reason(error))


def _open_folder(root: Path, folder: str, *, create_mode: int | None) -> int | None:
    """An fd for `folder` under root, or None when a part is missing and create_mode is None."""
    return _walk(root, folder, create_mode=create_mode)[0]


def _walk(root: Path, folder: str, *, create_mode: int | None) -> tuple[int | None, str]:
    """(fd of folder or None, the longest part of it that exists), one component at a time."""
    fd = _open_root(root)
    walked = "/"
    try:
        for name in _parts(folder):
            step = walked.rstrip("/") + "/" + name
            try:
                next_fd = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if create_mode is None:
                    os.close(fd)
                    return None, walked
                try:
                    os.mkdir(name, create_mode, dir_fd=fd)
                except FileExistsError:
                    pass  # made meanwhile by someone else: opened (and checked) below
                except OSError as error:
                    raise HostError(path=on_host(root, step), reason=_reason(error)) from None
                try:
                    next_fd = os.open(name, _FOLDER_FLAGS, dir_fd=fd)
                except OSError as error:
                    raise _refuse_component(fd, name, on_host(root, step), error) from None
            except OSError as error:
                raise _refuse_component(fd, name, on_host(root, step), error) from None
            os.close(fd)
            fd = next_fd
            walked = step
    except BaseException:
        os.close(fd)
        raise
    return fd, walked


@contextlib.contextmanager
def _folder(root: Path, folder: str, *, create_mode: int | None = None) -> Iterator[int | None]:
    fd = _open_folder(root, folder, create_mode=create_mode)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)


def make_folders(root: Path, folder: str, *, mode: int = 0o755) -> None:
    """Create the missing folders of `folder` (with mode), refusing symlinks along the way."""
    with _folder(root, folder, create_mode=mode):
        pass


def missing_folders(root: Path, folder: str) -> list[str]:
    """The folders on the way to `folder` that do not exist yet, outermost first; a symlink or
    a non-folder on the part that exists is refused. Lets a caller find a bad path before its
    first write, and take away only what it made when a change fails."""
    fd, existing = _walk(root, folder, create_mode=None)
    if fd is not None:
        os.close(fd)
        return []
    missing = _parts(folder)[len(_parts(existing)) :]
    return [
        "/" + "/".join(_parts(existing) + missing[: index + 1]) for index in range(len(missing))
    ]


def remove_empty_folders(root: Path, folders: list[str]) -> None:
    """rmdir each folder that is still empty, innermost first; the others stay as they are."""
    for folder in sorted(set(folders), key=lambda path: -len(_parts(path))):
        parent, name = _split(folder)
        with _folder(root, parent) as fd:
            if fd is None:
                continue
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd)


def read_text(root: Path, path: str, *, limit: int, what: str) -> str | None:
    """The text of a plain file, or None when it (or a folder on the way) does not exist."""
    folder, name = _split(path)
    shown = on_host(root, path)
    with _folder(root, folder) as fd:
        if fd is None:
            return None
        try:
            return read_limited_text(name, limit=limit, what=what, dir_fd=fd, source=str(shown))
        except InputRefusedError as error:
            raise HostError(path=error.source, reason=error.reason) from None
        except OSError as error:
            raise HostError(path=shown, reason=_reason(error)) from None


def file_facts(root: Path, path: str) -> os.stat_result | None:
    """lstat of path (a symlink is described, not followed), or None when it does not exist."""
    folder, name = _split(path)
    with _folder(root, folder) as fd:
        if fd is None:
            return None
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise HostError(path=on_host(root, path), reason=_reason(error)) from None


def list_names(root: Path, folder: str) -> list[str]:
    """The names in a folder; none when it does not exist."""
    with _folder(root, folder) as fd:
        if fd is None:
            return []
        try:
            return os.listdir(fd)
        except OSError as error:
            raise HostError(path=on_host(root, folder), reason=_reason(error)) from None


def remove_file(root: Path, path: str) -> None:
    """Unlink a file (a symlink itself, never its target); nothing to do when it is gone."""
    folder, name = _split(path)
    with _folder(root, folder) as fd:
        if fd is None:
            return
        try:
            os.unlink(name, dir_fd=fd)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise HostError(path=on_host(root, path), reason=_reason(error)) from None


def write_atomically(root: Path, path: str, text: str, *, mode: int | None = None) -> None:
    """Replace path with text so that a reader sees the old or the new file, never a part.

    The temporary name starts with a dot: the kubelet ignores such files in its manifests
    folder. An existing file keeps its permission bits and owner; one that is not a regular
    file (a symlink, a folder, a FIFO) is refused, not replaced.
    """
    folder, name = _split(path)
    shown = on_host(root, path)
    with _folder(root, folder) as fd:
        if fd is None:
            raise HostError(path=shown.parent, reason="folder not found")
        try:
            existing = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        except OSError as error:
            raise HostError(path=shown, reason=_reason(error)) from None
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise HostError(
                path=shown,
                reason="exists and is not a regular file (a symlink, folder or device); "
                "kaudit replaces only plain files",
            )
        file_mode = (
            stat.S_IMODE(existing.st_mode) if existing else (mode if mode is not None else 0o600)
        )
        temporary = _write_temporary(fd, name, text, mode=file_mode, like=existing, shown=shown)
        try:
            os.rename(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
            os.fsync(fd)
        except OSError as error:
            _discard(fd, temporary)
            raise HostError(path=shown, reason=_reason(error)) from None


def create_file(root: Path, path: str, text: str, *, mode: int = 0o600) -> None:
    """Create path with text, complete or not at all; refused when the name exists already."""
    folder, name = _split(path)
    shown = on_host(root, path)
    with _folder(root, folder) as fd:
        if fd is None:
            raise HostError(path=shown.parent, reason="folder not found")
        temporary = _write_temporary(fd, name, text, mode=mode, like=None, shown=shown)
        try:
            # link(2), unlike rename(2), fails on an existing name: a file planted at a
            # backup's name is never replaced, nor written through.
            os.link(temporary, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            os.fsync(fd)
        except FileExistsError:
            raise HostFileExistsError(
                path=shown, reason="exists already; kaudit never writes over an existing file here"
            ) from None
        except OSError as error:
            raise HostError(path=shown, reason=_reason(error)) from None
        finally:
            _discard(fd, temporary)


def _write_temporary(
    folder_fd: int, name: str, text: str, *, mode: int, like: os.stat_result | None, shown: Path
) -> str:
    """A new, fsynced dot-named file beside `name`, created exclusively; returns its name."""
    temporary = f".{name}{TEMPORARY_SUFFIX}"
    data = text.encode("utf-8")
    try:
        # A leftover from a crash, or something planted: unlinking a hard link or a symlink
        # leaves its target untouched, and O_EXCL below fails if anything appears meanwhile.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=folder_fd)
        fd = os.open(temporary, _NEW_FILE_FLAGS, mode, dir_fd=folder_fd)
    except OSError as error:
        raise HostError(
            path=shown, reason=f"temporary file {temporary}: {_reason(error)}"
        ) from None
    try:
        try:
            os.fchmod(fd, mode)
            if like is not None:
                os.fchown(fd, like.st_uid, like.st_gid)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        _discard(folder_fd, temporary)
        raise HostError(path=shown, reason=_reason(error)) from None
    return temporary


def _discard(folder_fd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=folder_fd)
