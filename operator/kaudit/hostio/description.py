"""What is applied on one host, as `kaudit node status` and the agent's reports show it.

Plain frozen records, made by kaudit.hostio.files.describe_host. A file kaudit will not read
(a symlink, a FIFO, too large, not UTF-8) is described with the reason in `error`, so that
status works on exactly the hosts that need looking at. as_json() is the CLI's JSON, key for
key as it was when this was a dict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kaudit.config import HostPathsSpec


@dataclass(frozen=True, kw_only=True)
class ManifestReading:
    """What the manifest says about audit logging (it parsed)."""

    audit_enabled: bool  # kaudit's annotations are there
    config_hash: str | None
    audit_flags: tuple[tuple[str, str], ...]
    volumes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ManifestDescription:
    path: str
    exists: bool
    error: str | None = None  # could not be read, or read and not parsed
    reading: ManifestReading | None = None  # None when missing or error

    @property
    def audit_enabled(self) -> bool:
        return self.reading is not None and self.reading.audit_enabled

    @property
    def config_hash(self) -> str | None:
        return self.reading.config_hash if self.reading is not None else None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "exists": self.exists}
        if self.error is not None:
            data["error"] = self.error
        elif self.reading is not None:
            data.update(
                auditEnabled=self.reading.audit_enabled,
                configHash=self.reading.config_hash,
                auditFlags=dict(self.reading.audit_flags),
                volumes=list(self.reading.volumes),
            )
        return data


@dataclass(frozen=True, kw_only=True)
class PolicyFileDescription:
    path: str
    exists: bool
    sha256: str | None
    written_by_kaudit: bool
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "path": self.path,
            "exists": self.exists,
            "sha256": self.sha256,
            "writtenByKaudit": self.written_by_kaudit,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True, kw_only=True)
class BackupDescription:
    path: str
    time: str | None  # ISO, from the file's mtime

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "time": self.time}


@dataclass(frozen=True, kw_only=True)
class AuditLogDescription:
    path: str
    exists: bool
    size_bytes: int = 0
    last_write: str | None = None  # ISO, from the file's mtime
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"path": self.path, "exists": self.exists, "error": self.error}
        return {
            "path": self.path,
            "exists": self.exists,
            "sizeBytes": self.size_bytes,
            "lastWrite": self.last_write,
        }


@dataclass(frozen=True, kw_only=True)
class HostDescription:
    host_root: str
    host_paths: HostPathsSpec
    manifest: ManifestDescription
    policy_file: PolicyFileDescription
    applied_config_hash: str | None  # from kaudit's state file
    applied_at: str | None
    newest_backup: BackupDescription | None
    backup_count: int
    audit_log: AuditLogDescription

    @property
    def in_sync(self) -> bool:
        """The manifest carries the hash kaudit last recorded applying."""
        found = self.manifest.config_hash
        return found is not None and found == self.applied_config_hash

    def as_json(self) -> dict[str, Any]:
        return {
            "hostRoot": self.host_root,
            "hostPaths": asdict(self.host_paths),
            "manifest": self.manifest.as_json(),
            "policyFile": self.policy_file.as_json(),
            "appliedConfigHash": self.applied_config_hash,
            "appliedAt": self.applied_at,
            "newestBackup": self.newest_backup.as_json() if self.newest_backup else None,
            "backupCount": self.backup_count,
            "auditLog": self.audit_log.as_json(),
            "inSync": self.in_sync,
        }
