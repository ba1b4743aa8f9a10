"""A stand-in for kaudit.hostio.memory.MemoryFileSystem until it lands (deleted then)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class HostError(RuntimeError):
    def __init__(self, *, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class HostFileExistsError(HostError):
    pass


@dataclass(frozen=True)
class FileFacts:
    size: int
    mtime: float
    mode: int
    inode: int


class MemoryFileSystem:
    def __init__(
        self,
        root: Path,
        *,
        clock: Callable[[], float] = lambda: 0.0,
        before_write: Callable[[str, str], None] | None = None,
    ) -> None:
        self.root = root
        self.clock = clock
        self.before_write = before_write
        self.files: dict[str, tuple[str, int, float, int]] = {}
        self.folders: set[str] = {"/"}
        self._inodes = 0

    def on_host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def _hook(self, operation: str, path: str) -> None:
        if self.before_write is not None:
            self.before_write(operation, path)

    def read_text(self, path: str, *, limit: int, what: str) -> str | None:
        found = self.files.get(path)
        if found is None:
            return None
        if len(found[0].encode()) > limit:
            raise HostError(path=self.on_host(path), reason=f"{what} over {limit} bytes")
        return found[0]

    def file_facts(self, path: str) -> FileFacts | None:
        found = self.files.get(path)
        if found is None:
            return None
        text, mode, mtime, inode = found
        return FileFacts(size=len(text.encode()), mtime=mtime, mode=0o100000 | mode, inode=inode)

    def list_names(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/"
        return sorted(
            {
                p[len(prefix) :].split("/")[0]
                for p in [*self.files, *self.folders]
                if p.startswith(prefix)
            }
        )

    def make_folders(self, folder: str, *, mode: int = 0o755) -> None:
        missing = self.missing_folders(folder)
        if missing:
            self._hook("make_folders", folder)
        self.folders.update(missing)

    def missing_folders(self, folder: str) -> list[str]:
        parts = [p for p in folder.split("/") if p]
        paths = ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
        return [p for p in paths if p not in self.folders]

    def remove_empty_folders(self, folders: list[str]) -> None:
        for folder in sorted(folders, reverse=True):
            if not self.list_names(folder):
                self._hook("remove_folder", folder)
                self.folders.discard(folder)

    def remove_file(self, path: str) -> None:
        if path in self.files:
            self._hook("remove_file", path)
            del self.files[path]

    def _put(self, path: str, text: str, mode: int) -> None:
        if posixpath.dirname(path) not in self.folders:
            raise HostError(path=self.on_host(path), reason="no such folder")
        self._inodes += 1
        self.files[path] = (text, mode, self.clock(), self._inodes)

    def write_atomically(self, path: str, text: str, *, mode: int | None = None) -> None:
        self._hook("write_atomically", path)
        old = self.files.get(path)
        self._put(path, text, mode if mode is not None else (old[1] if old else 0o644))

    def create_file(self, path: str, text: str, *, mode: int = 0o600) -> None:
        self._hook("create_file", path)
        if path in self.files:
            raise HostFileExistsError(path=self.on_host(path), reason="exists")
        self._put(path, text, mode)
