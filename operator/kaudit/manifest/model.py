"""The values the manifest patcher takes and gives: what to add, what it found, what went wrong."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

ANNOTATION_CONFIG_HASH = "kaudit.io/config-hash"
# Compact JSON of what enable replaced and created, so that disable needs the manifest alone.
ANNOTATION_RESTORE = "kaudit.io/restore"

_FLAG_NAME = re.compile(r"--audit-[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True)
class AuditVolume:
    """A hostPath volume and its mount in the kube-apiserver container."""

    name: str  # "audit-logs" / "audit-policy"
    host_path: str  # "/var/log/kubernetes/audit"
    mount_path: str  # "/var/log/audit"
    read_only: bool
    host_path_type: str  # "DirectoryOrCreate"; "" writes `type: ""` (no check), as the seed does


@dataclass(frozen=True)
class AuditPatch:
    """What enable_audit puts into the manifest."""

    flags: tuple[tuple[str, str], ...]  # (("--audit-log-maxage", "30"), ...)
    volumes: tuple[AuditVolume, ...]
    config_hash: str  # value of the pod annotation kaudit.io/config-hash

    def __post_init__(self) -> None:
        names = [name for name, _ in self.flags]
        for name in names:
            if not _FLAG_NAME.fullmatch(name):
                raise ValueError(f"flag {name!r}: kaudit only sets --audit-* flags")
        if len(set(names)) != len(names):
            raise ValueError(f"flags: a flag is given twice in {names}")
        for what in ("name", "mount_path"):
            values = [getattr(volume, what) for volume in self.volumes]
            if len(set(values)) != len(values):
                raise ValueError(f"volumes: two volumes share a {what} in {values}")
        for volume in self.volumes:
            for path in (volume.host_path, volume.mount_path):
                if not posixpath.isabs(path):
                    raise ValueError(f"volume {volume.name}: {path!r} is not an absolute path")
        if not self.config_hash:
            raise ValueError("config_hash: empty")


@dataclass(frozen=True)
class ManifestAuditState:
    """What a manifest says about audit logging, read without changing it."""

    managed: bool  # kaudit annotations present
    config_hash: str | None
    audit_flags: tuple[tuple[str, str], ...]  # every --audit-* flag of kube-apiserver, as written
    volumes: tuple[str, ...]  # names of volumes kaudit added or took over


class ManifestError(ValueError):
    """A manifest kaudit will not patch: which file, which field, and why (and what to do)."""

    def __init__(self, source: str, field: str, reason: str) -> None:
        super().__init__(f"{source}: {field}: {reason}")
        self.source = source
        self.field = field
        self.reason = reason
