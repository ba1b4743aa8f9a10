"""A HostFileSystem in memory, for the unit tests and the agent's model test.

It answers as the real one does (kaudit.hostio.fs): the same HostError texts, None for a file
that is not there, a file over the limit refused, a folder where a file should be refused. Its
own promises are what the model's invariants rest on:

* a write replaces the whole text in one dict assignment, so a reader sees the old text or the
  new one, never a part; each write gets a new inode, as a rename over the old name does;
* `before_write(operation, path)` runs before every operation that changes something, and
  nothing has changed when it raises: the model test raises a crash there;
* texts are kept as given (CRLF, a BOM, no final newline), never copied or re-encoded.

Speed matters more than realism: the model test runs about a million steps a minute, so a
lookup is one dict access and a read returns the stored string itself. There are no symlinks,
owners, FIFOs or bytes that are not UTF-8; the real file system's tests cover those.
"""

from __future__ import annotations

import itertools
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kaudit.hostio.fs import FileFacts, HostError, HostFileExistsError
from kaudit.limits import too_large

BeforeWrite = Callable[[str, str], None]
"""Called with (operation, path) before a change: "write_atomically", "create_file",
"remove_file", "make_folders" or "remove_empty_folders" (path: the first folder)."""

_FOLDER_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class MemoryFile:
    text: str
    size: int  # bytes of the UTF-8 text, kept so that a read does not encode it again
    mode: int  # permission bits only
    mtime: float
    inode: int


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _canonical(path: str) -> str:
    if path.startswith("/") and "//" not in path and (path == "/" or not path.endswith("/")):
        return path
    return "/" + "/".join(part for part in path.split("/") if part)


def _split(path: str) -> tuple[str, str]:
    folder, _, name = path.rpartition("/")
    if not name:
        raise HostError(path=path, reason="names the host root, not a file")
    return folder or "/", name


def _parents(folder: str) -> Iterable[str]:
    """ "/a/b/c" -> "/a", "/a/b", "/a/b/c" (outermost first)."""
    at = 0
    while (at := folder.find("/", at + 1)) != -1:
        yield folder[:at]
    if folder != "/":
        yield folder


class MemoryFileSystem:
    """Files in a dict keyed by host path; folders as a dict of the names in each."""

    def __init__(
        self,
        root: Path = Path("/memory/host"),
        *,
        clock: Callable[[], float] = time.time,
        before_write: BeforeWrite | None = None,
    ) -> None:
        self._root = root
        self.clock = clock
        self.before_write = before_write
        # Every change made, in order: (operation, path).
        self.writes: list[tuple[str, str]] = []
        self._files: dict[str, MemoryFile] = {}
        self._folders: dict[str, set[str]] = {"/": set()}
        self._inodes = itertools.count(1)

    @property
    def root(self) -> Path:
        return self._root

    # --- for the test that owns the world: no hook, no checks ----------------------------

    def put(self, path: str, text: str, *, mode: int = 0o600) -> None:
        """Make a file (and its folders) as the world has it before kaudit runs."""
        path = _canonical(path)
        folder, name = _split(path)
        self._make(folder, mode=0o755)
        self._folders[folder].add(name)
        self._files[path] = self._record(text, mode=mode)

    def text_of(self, path: str) -> str | None:
        """The text kept for a file, or None."""
        found = self._files.get(_canonical(path))
        return found.text if found is not None else None

    def texts(self) -> dict[str, str]:
        """Every file's text by path: a snapshot to compare with later."""
        return {path: found.text for path, found in self._files.items()}

    # --- HostFileSystem ----------------------------------------------------------------

    def on_host(self, path: str) -> Path:
        return self._root / path.lstrip("/")

    def read_text(self, path: str, *, limit: int, what: str) -> str | None:
        path = _canonical(path)
        found = self._files.get(path)
        if found is None:
            folder, name = _split(path)
            if not self._folder_exists(folder):
                return None
            if name in self._folders[folder]:
                raise HostError(path=self.on_host(path), reason=f"the {what} is a folder")
            return None
        if found.size > limit:
            raise HostError(path=self.on_host(path), reason=too_large(what, found.size, limit))
        return found.text

    def file_facts(self, path: str) -> FileFacts | None:
        path = _canonical(path)
        found = self._files.get(path)
        if found is not None:
            return FileFacts(
                size=found.size,
                mtime=found.mtime,
                mode=stat.S_IFREG | found.mode,
                inode=found.inode,
            )
        if path in self._folders:
            return FileFacts(size=_FOLDER_SIZE, mtime=0.0, mode=stat.S_IFDIR | 0o755, inode=0)
        self._folder_exists(_split(path)[0])  # a file where a folder should be is refused
        return None

    def list_names(self, folder: str) -> list[str]:
        folder = _canonical(folder)
        if not self._folder_exists(folder):
            return []
        # Sorted: the model test's runs must not depend on set order (hash randomization).
        return sorted(self._folders[folder])

    def make_folders(self, folder: str, *, mode: int = 0o755) -> None:
        folder = _canonical(folder)
        self._before("make_folders", folder)
        self.writes.extend(("make_folders", made) for made in self._make(folder, mode=mode))

    def missing_folders(self, folder: str) -> list[str]:
        steps = list(_parents(_canonical(folder)))
        for index, step in enumerate(steps):
            if step not in self._folders:
                self._refuse_file_as_folder(step)
                return steps[index:]
        return []

    def remove_empty_folders(self, folders: list[str]) -> None:
        wanted = sorted({_canonical(folder) for folder in folders}, key=lambda f: -f.count("/"))
        if not wanted:
            return
        self._before("remove_empty_folders", wanted[0])
        for folder in wanted:
            if folder != "/" and not self._folders.get(folder, True):
                del self._folders[folder]
                parent, name = _split(folder)
                self._folders[parent].discard(name)
                self.writes.append(("remove_empty_folders", folder))

    def remove_file(self, path: str) -> None:
        path = _canonical(path)
        folder, name = _split(path)
        self._before("remove_file", path)
        if path in self._folders:
            raise HostError(path=self.on_host(path), reason="Is a directory")
        if self._files.pop(path, None) is not None:
            self._folders[folder].discard(name)
            self.writes.append(("remove_file", path))

    def write_atomically(self, path: str, text: str, *, mode: int | None = None) -> None:
        path = _canonical(path)
        folder, name = self._folder_for_write(path)
        self._before("write_atomically", path)
        if path in self._folders:
            raise HostError(
                path=self.on_host(path),
                reason="exists and is not a regular file (a symlink, folder or device); "
                "kaudit replaces only plain files",
            )
        existing = self._files.get(path)
        file_mode = existing.mode if existing else (mode if mode is not None else 0o600)
        self._folders[folder].add(name)
        # One assignment: a reader has the old record or the new one.
        self._files[path] = self._record(text, mode=file_mode)
        self.writes.append(("write_atomically", path))

    def create_file(self, path: str, text: str, *, mode: int = 0o600) -> None:
        path = _canonical(path)
        folder, name = self._folder_for_write(path)
        self._before("create_file", path)
        if name in self._folders[folder]:
            raise HostFileExistsError(
                path=self.on_host(path),
                reason="exists already; kaudit never writes over an existing file here",
            )
        self._folders[folder].add(name)
        self._files[path] = self._record(text, mode=mode)
        self.writes.append(("create_file", path))

    # --- inside ------------------------------------------------------------------------

    def _before(self, operation: str, path: str) -> None:
        if self.before_write is not None:
            self.before_write(operation, path)

    def _record(self, text: str, *, mode: int) -> MemoryFile:
        return MemoryFile(
            text=text,
            size=_size(text),
            mode=stat.S_IMODE(mode),
            mtime=self.clock(),
            inode=next(self._inodes),
        )

    def _folder_for_write(self, path: str) -> tuple[str, str]:
        folder, name = _split(path)
        if not self._folder_exists(folder):
            raise HostError(path=self.on_host(path).parent, reason="folder not found")
        return folder, name

    def _folder_exists(self, folder: str) -> bool:
        """Whether folder exists; a file on the way is refused as the real walk refuses it."""
        if folder in self._folders:
            return True
        for step in _parents(folder):
            if step not in self._folders:
                self._refuse_file_as_folder(step)
                return False
        return True

    def _refuse_file_as_folder(self, step: str) -> None:
        if step in self._files:
            raise HostError(path=self.on_host(step), reason="exists but is not a folder")

    def _make(self, folder: str, *, mode: int) -> list[str]:
        """The folders made, outermost first."""
        del mode  # permission bits of folders are not modelled
        made: list[str] = []
        for step in _parents(folder):
            if step in self._folders:
                continue
            self._refuse_file_as_folder(step)
            parent, name = _split(step)
            self._folders[parent].add(name)
            self._folders[step] = set()
            made.append(step)
        return made
