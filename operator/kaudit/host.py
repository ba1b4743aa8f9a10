"""What a node agent does to a control-plane host's files, runnable by hand (`kaudit node ...`).

Everything here works under a host root (``/`` on a node, the agent's hostPath mount, or a
temporary folder in tests), and follows three rules:

* The kubelet must never see a half-written manifest. It runs every file in its manifests
  folder whose name does not start with a dot, so a new manifest is written to a dot-named
  temporary file in the same folder, fsynced, and renamed over the old one (rename is atomic
  within one file system).
* Every change to a host file is backed up first, outside the manifests folder (a backup there
  would become a second API server). Backups are pruned to the newest ten of kaudit's own; other
  tools' files in the backup folder (kubeadm keeps its upgrade backups there) are left alone.
* Nothing is lost on failure: the new manifest and policy are computed and validated before the
  first write, and a failed manifest write puts the previous policy file back.

A small JSON state file beside the backups records what kaudit replaced (the policy file as it
was before kaudit first wrote it) and which paths it used, so `disable` and `status` work after
a restart and without the AuditConfig at hand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kaudit.config import DEFAULT_LOG_PATH, HostPathsSpec
from kaudit.desired import POLICY_FILE_HEADER, DesiredState
from kaudit.manifest import (
    ManifestError,
    disable_audit,
    enable_audit,
    inspect_manifest,
    same_pod,
)

STATE_FILE_NAME: Final = "kaudit-state.json"
STATE_VERSION: Final = 1
BACKUP_PREFIX: Final = "kaudit-"
BACKUPS_KEPT: Final = 10
_POLICY_MARK: Final = POLICY_FILE_HEADER.split("{", 1)[0]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class HostError(RuntimeError):
    """A host file operation that did not happen, naming the file and the reason."""

    def __init__(self, *, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True, kw_only=True)
class HostLayout:
    """The host files kaudit touches, resolved under a host root."""

    root: Path
    paths: HostPathsSpec
    log_file_name: str = posixpath.basename(DEFAULT_LOG_PATH)

    def on_host(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    @property
    def manifest(self) -> Path:
        return self.on_host(self.paths.manifest)

    @property
    def policy_file(self) -> Path:
        return self.on_host(self.paths.policy_file)

    @property
    def log_dir(self) -> Path:
        return self.on_host(self.paths.log_dir)

    @property
    def log_file(self) -> Path:
        return self.log_dir / self.log_file_name

    @property
    def backup_dir(self) -> Path:
        return self.on_host(self.paths.backup_dir)

    @property
    def state_file(self) -> Path:
        return self.backup_dir / STATE_FILE_NAME


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    changed: bool
    config_hash: str | None
    manifest_backup: str | None
    policy_backup: str | None
    message: str


def layout_for(desired: DesiredState, *, root: Path) -> HostLayout:
    return HostLayout(root=root, paths=desired.host_paths, log_file_name=desired.log_file_name)


def layout_from_state(*, root: Path, default_paths: HostPathsSpec | None = None) -> HostLayout:
    """The layout kaudit last used on this host, or the defaults when it never ran here."""
    paths = default_paths or HostPathsSpec()
    probe = HostLayout(root=root, paths=paths)
    state = _read_state(probe)
    recorded = state.get("hostPaths")
    if isinstance(recorded, dict):
        with contextlib.suppress(TypeError):
            paths = HostPathsSpec(**{key: str(value) for key, value in recorded.items()})
    log_name = state.get("logFileName")
    return HostLayout(
        root=root,
        paths=paths,
        log_file_name=log_name if isinstance(log_name, str) else probe.log_file_name,
    )


# --- apply / disable ---------------------------------------------------------------------


Checkpoint = Callable[[str], None]


def _no_checkpoint(_: str) -> None:
    return None


def apply_desired_state(
    layout: HostLayout,
    desired: DesiredState,
    *,
    clock: Clock = utc_now,
    checkpoint: Checkpoint = _no_checkpoint,
) -> ApplyResult:
    """Bring the host to the desired state; a no-op when it is there already.

    checkpoint("after-backup") runs once the backups are on disk and before the first write:
    the agent's fault injection stops there to prove a crash in between loses nothing.
    """
    if not desired.enabled or desired.patch is None or desired.policy_text is None:
        return disable_audit_on_host(layout, clock=clock, checkpoint=checkpoint)
    _refuse_backups_in_manifests_folder(layout)
    old_manifest = _read_text(layout.manifest, what="kube-apiserver manifest")
    state = _read_state(layout)
    # kaudit turned audit logging on here, yet the manifest has no kaudit annotations: it was
    # rewritten (kubeadm upgrade, from the settings kaudit recorded in kubeadm-config), and the
    # audit settings in it are kaudit's, not something to put back on disable.
    adopt = bool(state.get("configHash")) and not _is_managed(old_manifest, layout.manifest)
    # Computed before any write: a manifest kaudit cannot patch changes nothing on the host.
    new_manifest = enable_audit(
        old_manifest, desired.patch, source=str(layout.manifest), adopt=adopt
    )
    old_policy = _read_optional_text(layout.policy_file)
    # same_pod, not bytes: kaudit's settings where kubeadm put them (after a kubeadm upgrade)
    # are applied; moving them would restart the API server for nothing.
    if same_pod(new_manifest, old_manifest) and old_policy == desired.policy_text:
        _record_state(layout, config_hash=desired.config_hash, extra={})
        return ApplyResult(
            changed=False,
            config_hash=desired.config_hash,
            manifest_backup=None,
            policy_backup=None,
            message="already applied",
        )

    stamp = _timestamp(clock())
    manifest_backup = _write_backup(layout, layout.manifest, old_manifest, stamp)
    policy_backup = None
    if old_policy is not None and old_policy != desired.policy_text:
        policy_backup = _write_backup(layout, layout.policy_file, old_policy, stamp)
    if "policyFileBefore" not in state:
        # First write by kaudit: remember what was there, so disable puts it back.
        state["policyFileBefore"] = {"existed": old_policy is not None, "text": old_policy}
    _write_state(layout, {**state, "pendingBackup": str(manifest_backup)})
    checkpoint("after-backup")

    _make_dirs(layout.log_dir)
    _make_dirs(layout.policy_file.parent)
    if old_policy != desired.policy_text:
        write_file_atomically(layout.policy_file, desired.policy_text, mode=0o600)
    if new_manifest != old_manifest:
        try:
            write_file_atomically(layout.manifest, new_manifest)
        except HostError:
            _restore_optional_text(layout.policy_file, old_policy)
            raise
    _record_state(
        layout,
        config_hash=desired.config_hash,
        extra={"lastManifestBackup": str(manifest_backup), "appliedAt": clock().isoformat()},
    )
    prune_backups(layout)
    return ApplyResult(
        changed=True,
        config_hash=desired.config_hash,
        manifest_backup=str(manifest_backup),
        policy_backup=str(policy_backup) if policy_backup else None,
        message="manifest and policy written" if new_manifest != old_manifest else "policy written",
    )


def disable_audit_on_host(
    layout: HostLayout, *, clock: Clock = utc_now, checkpoint: Checkpoint = _no_checkpoint
) -> ApplyResult:
    """Remove what kaudit added to the manifest and put back the policy file as it was."""
    _refuse_backups_in_manifests_folder(layout)
    old_manifest = _read_text(layout.manifest, what="kube-apiserver manifest")
    # Salvage: turning audit logging off must work on a manifest someone edited since.
    new_manifest = disable_audit(old_manifest, source=str(layout.manifest), salvage=True)
    state = _read_state(layout)
    before = state.get("policyFileBefore")
    old_policy = _read_optional_text(layout.policy_file)
    restored_policy = _policy_after_disable(old_policy, before)
    if new_manifest == old_manifest and restored_policy == old_policy:
        return ApplyResult(
            changed=False,
            config_hash=None,
            manifest_backup=None,
            policy_backup=None,
            message="audit logging is not enabled by kaudit here",
        )
    stamp = _timestamp(clock())
    manifest_backup = None
    if new_manifest != old_manifest:
        manifest_backup = _write_backup(layout, layout.manifest, old_manifest, stamp)
        checkpoint("after-backup")
        # The manifest goes first: while it still names the policy file, the file must stay.
        write_file_atomically(layout.manifest, new_manifest)
    policy_backup = None
    if restored_policy != old_policy:
        if old_policy is not None:
            policy_backup = _write_backup(layout, layout.policy_file, old_policy, stamp)
        _restore_optional_text(layout.policy_file, restored_policy)
    state.pop("policyFileBefore", None)
    state.pop("pendingBackup", None)
    _write_state(
        layout,
        {
            **state,
            "configHash": None,
            "disabledAt": clock().isoformat(),
            **({"lastManifestBackup": str(manifest_backup)} if manifest_backup else {}),
        },
    )
    prune_backups(layout)
    return ApplyResult(
        changed=True,
        config_hash=None,
        manifest_backup=str(manifest_backup) if manifest_backup else None,
        policy_backup=str(policy_backup) if policy_backup else None,
        message="audit logging removed from the manifest",
    )


@dataclass(frozen=True, kw_only=True)
class HostSnapshot:
    """The two files a change touches, as they were just before it: what a rollback restores."""

    manifest_text: str
    policy_text: str | None


def snapshot_host(layout: HostLayout) -> HostSnapshot:
    return HostSnapshot(
        manifest_text=_read_text(layout.manifest, what="kube-apiserver manifest"),
        policy_text=_read_optional_text(layout.policy_file),
    )


def restore_snapshot(
    layout: HostLayout, snapshot: HostSnapshot, *, clock: Clock = utc_now
) -> str | None:
    """Put the manifest and policy back as they were; the failed manifest is kept as a backup.

    The policy goes back first: the restored manifest may name it, and the kubelet may start
    the API server from the restored manifest the moment it is renamed into place.
    """
    _refuse_backups_in_manifests_folder(layout)
    failed = _read_optional_text(layout.manifest)
    failed_backup = None
    if failed is not None and failed != snapshot.manifest_text:
        failed_backup = _write_backup(
            layout, layout.manifest, failed, _timestamp(clock()) + "-failed"
        )
    if _read_optional_text(layout.policy_file) != snapshot.policy_text:
        _restore_optional_text(layout.policy_file, snapshot.policy_text)
    if failed != snapshot.manifest_text:
        write_file_atomically(layout.manifest, snapshot.manifest_text)
    try:
        restored_hash = inspect_manifest(
            snapshot.manifest_text, source=str(layout.manifest)
        ).config_hash
    except ValueError:
        restored_hash = None
    _record_state(layout, config_hash=restored_hash, extra={"restoredAt": clock().isoformat()})
    return str(failed_backup) if failed_backup else None


PENDING_FILE_NAME: Final = "kaudit-pending-change.json"


@dataclass(frozen=True, kw_only=True)
class PendingChange:
    """A change written but not yet verified, kept on the host so a restarted agent can finish it
    (verify) or undo it (restore the snapshot)."""

    snapshot: HostSnapshot
    target_hash: str | None
    written_at: str


def save_pending_change(layout: HostLayout, pending: PendingChange) -> None:
    _make_dirs(layout.backup_dir, mode=0o700)
    data = {
        "manifestText": pending.snapshot.manifest_text,
        "policyText": pending.snapshot.policy_text,
        "targetHash": pending.target_hash,
        "writtenAt": pending.written_at,
    }
    write_file_atomically(layout.backup_dir / PENDING_FILE_NAME, json.dumps(data) + "\n")


def load_pending_change(layout: HostLayout) -> PendingChange | None:
    path = layout.backup_dir / PENDING_FILE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise HostError(path=path, reason=f"unreadable pending change: {error}") from None
    return PendingChange(
        snapshot=HostSnapshot(manifest_text=data["manifestText"], policy_text=data["policyText"]),
        target_hash=data.get("targetHash"),
        written_at=str(data.get("writtenAt")),
    )


def clear_pending_change(layout: HostLayout) -> None:
    with contextlib.suppress(FileNotFoundError):
        (layout.backup_dir / PENDING_FILE_NAME).unlink()


def _policy_after_disable(current: str | None, before: object) -> str | None:
    if isinstance(before, dict):
        text = before.get("text")
        return text if before.get("existed") and isinstance(text, str) else None
    # No record (state lost): remove the file only when kaudit's header says it wrote it.
    if current is not None and current.startswith(_POLICY_MARK):
        return None
    return current


# --- status ------------------------------------------------------------------------------


def host_status(layout: HostLayout) -> dict[str, Any]:
    """What is applied on this host, as plain data for `kaudit node status` and the agent."""
    result: dict[str, Any] = {"hostRoot": str(layout.root), "hostPaths": asdict(layout.paths)}
    manifest_text = _read_optional_text(layout.manifest)
    if manifest_text is None:
        result["manifest"] = {"path": str(layout.manifest), "exists": False}
    else:
        try:
            inspected = inspect_manifest(manifest_text, source=str(layout.manifest))
            result["manifest"] = {
                "path": str(layout.manifest),
                "exists": True,
                "auditEnabled": inspected.managed,
                "configHash": inspected.config_hash,
                "auditFlags": dict(inspected.audit_flags),
                "volumes": list(inspected.volumes),
            }
        except ValueError as error:
            result["manifest"] = {"path": str(layout.manifest), "exists": True, "error": str(error)}
    policy_text = _read_optional_text(layout.policy_file)
    result["policyFile"] = {
        "path": str(layout.policy_file),
        "exists": policy_text is not None,
        "sha256": hashlib.sha256(policy_text.encode()).hexdigest() if policy_text else None,
        "writtenByKaudit": bool(policy_text and policy_text.startswith(_POLICY_MARK)),
    }
    state = _read_state(layout)
    result["appliedConfigHash"] = state.get("configHash")
    result["appliedAt"] = state.get("appliedAt")
    backups = list_backups(layout)
    newest = backups[-1] if backups else None
    result["newestBackup"] = (
        {"path": str(newest), "time": _mtime(newest)} if newest is not None else None
    )
    result["backupCount"] = len(backups)
    result["auditLog"] = _file_facts(layout.log_file)
    manifest_hash = result["manifest"].get("configHash")
    result["inSync"] = manifest_hash is not None and manifest_hash == state.get("configHash")
    return result


def _file_facts(path: Path) -> dict[str, Any]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return {"path": str(path), "exists": False, "sizeBytes": 0, "lastWrite": None}
    return {
        "path": str(path),
        "exists": True,
        "sizeBytes": info.st_size,
        "lastWrite": datetime.fromtimestamp(info.st_mtime, UTC).isoformat(),
    }


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()


# --- backups -----------------------------------------------------------------------------


def list_backups(layout: HostLayout) -> list[Path]:
    """kaudit's manifest backups on this host, oldest first."""
    prefix = f"{BACKUP_PREFIX}{layout.manifest.name}."
    try:
        names = [p for p in layout.backup_dir.iterdir() if p.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda p: p.name)


def prune_backups(layout: HostLayout, *, keep: int = BACKUPS_KEPT) -> None:
    for name in (layout.manifest.name, layout.policy_file.name):
        prefix = f"{BACKUP_PREFIX}{name}."
        try:
            ours = sorted(p for p in layout.backup_dir.iterdir() if p.name.startswith(prefix))
        except FileNotFoundError:
            return
        for old in ours[:-keep]:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()


def _write_backup(layout: HostLayout, original: Path, text: str, stamp: str) -> Path:
    _make_dirs(layout.backup_dir, mode=0o700)
    backup = layout.backup_dir / f"{BACKUP_PREFIX}{original.name}.{stamp}"
    write_file_atomically(backup, text, mode=0o600)
    return backup


def _refuse_backups_in_manifests_folder(layout: HostLayout) -> None:
    # Resolved, so that a symlinked backup folder cannot smuggle a backup into the manifests
    # folder, where the kubelet would start it as a second API server.
    manifests = layout.manifest.parent.resolve()
    backups = layout.backup_dir.resolve()
    if backups == manifests or manifests in backups.parents:
        raise HostError(
            path=layout.backup_dir,
            reason=f"backup folder is inside the kubelet's manifests folder {manifests}; "
            "a backup there would run as a second API server",
        )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


# --- state -------------------------------------------------------------------------------


def _read_state(layout: HostLayout) -> dict[str, Any]:
    try:
        data = json.loads(layout.state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise HostError(
            path=layout.state_file, reason=f"unreadable kaudit state: {error}"
        ) from None
    return data if isinstance(data, dict) else {}


def _write_state(layout: HostLayout, state: dict[str, Any]) -> None:
    state = {
        **state,
        "version": STATE_VERSION,
        "hostPaths": asdict(layout.paths),
        "logFileName": layout.log_file_name,
    }
    _make_dirs(layout.backup_dir, mode=0o700)
    write_file_atomically(
        layout.state_file, json.dumps(state, indent=2, sort_keys=True) + "\n", mode=0o600
    )


def _record_state(layout: HostLayout, *, config_hash: str | None, extra: dict[str, Any]) -> None:
    state = _read_state(layout)
    state.pop("pendingBackup", None)
    _write_state(layout, {**state, **extra, "configHash": config_hash})


# --- files -------------------------------------------------------------------------------


def write_file_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace path with text so that a reader sees the old or the new file, never a part.

    The temporary name starts with a dot: the kubelet ignores such files in its manifests
    folder. An existing file keeps its permission bits and owner.
    """
    temporary = path.with_name(f".{path.name}.kaudit-tmp")
    data = text.encode("utf-8")
    try:
        existing = path.stat()
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise HostError(path=path, reason=error.strerror or str(error)) from None
    file_mode = (
        stat.S_IMODE(existing.st_mode) if existing else (mode if mode is not None else 0o600)
    )
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, file_mode)
        try:
            os.fchmod(fd, file_mode)
            if existing is not None:
                os.fchown(fd, existing.st_uid, existing.st_gid)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _fsync_dir(path.parent)
    except OSError as error:
        with contextlib.suppress(OSError):
            if temporary.is_file():
                temporary.unlink()
        raise HostError(path=path, reason=error.strerror or str(error)) from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(folder: Path, *, mode: int = 0o755) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=mode)
    except OSError as error:
        raise HostError(path=folder, reason=error.strerror or str(error)) from None
    if not folder.is_dir():
        raise HostError(path=folder, reason="exists but is not a folder")


def _read_text(path: Path, *, what: str) -> str:
    text = _read_optional_text(path)
    if text is None:
        raise HostError(path=path, reason=f"{what} not found")
    return text


def _read_optional_text(path: Path) -> str | None:
    try:
        # newline="" keeps CRLF files byte-exact through a patch.
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise HostError(path=path, reason="not UTF-8 text") from None
    except OSError as error:
        raise HostError(path=path, reason=error.strerror or str(error)) from None


def _restore_optional_text(path: Path, text: str | None) -> None:
    if text is None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise HostError(path=path, reason=error.strerror or str(error)) from None
    else:
        write_file_atomically(path, text, mode=0o600)


def _is_managed(manifest_text: str, path: Path) -> bool:
    try:
        return inspect_manifest(manifest_text, source=str(path)).managed
    except ManifestError:
        return False
