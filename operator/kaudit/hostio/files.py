"""What a node agent does to a control-plane host's files, runnable by hand (`kaudit node ...`).

Everything here works under a host root (``/`` on a node, the agent's hostPath mount, or a
temporary folder in tests), and follows three rules:

* The kubelet must never see a half-written manifest. It runs every file in its manifests
  folder whose name does not start with a dot, so a new manifest is written to a dot-named
  temporary file in the same folder, fsynced, and renamed over the old one (rename is atomic
  within one file system).
* Every change to a host file is backed up first, outside the manifests folder (a backup there
  would become a second API server), in a folder of kaudit's own (/etc/kubernetes/tmp/kaudit,
  not kubeadm's /etc/kubernetes/tmp with its etcd snapshots). Backups are pruned to the newest
  ten of kaudit's own; any other file in the backup folder is left alone.
* Nothing is lost on failure: the new manifest and policy are computed and validated before the
  first write, a failed manifest write puts the previous policy file back, and a change that
  fails takes away the empty folders it made.

A small JSON state file beside the backups records what kaudit replaced (the policy file as it
was before kaudit first wrote it) and which paths it used, so `disable` and `status` work after
a restart and without the AuditConfig at hand. The state file and the pending-change file are
input like any other: whoever can write the backup folder can write them. Their paths are
checked again with kaudit.paths' rules before kaudit uses one, their size is bounded and every
field's type checked; anything wrong is a HostError naming the file and the field.

Every read and write goes through kaudit.hostio.fs: no symlink is followed below the host root,
temporary files and backups are created exclusively.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import posixpath
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, cast

from kaudit import paths as path_rules
from kaudit.config import DEFAULT_LOG_PATH, HostPathsSpec
from kaudit.desired import POLICY_FILE_HEADER, DesiredState, EnabledState
from kaudit.host_records import (
    DEFAULT_HEALTH_TIMEOUT_SECONDS,
    PENDING_STAGES,
    ChangeTarget,
    HostFacts,
    HostSnapshot,
    PendingChange,
)
from kaudit.hostio import fs as hostfs
from kaudit.hostio.description import (
    AuditLogDescription,
    BackupDescription,
    HostDescription,
    ManifestDescription,
    ManifestReading,
    PolicyFileDescription,
)
from kaudit.hostio.fs import HostFileSystem, RealFileSystem
from kaudit.limits import (
    MAX_MANIFEST_BYTES,
    MAX_POLICY_BYTES,
    MAX_STATE_BYTES,
    InputRefusedError,
    check_text_size,
)
from kaudit.manifest import (
    ManifestError,
    disable_audit,
    enable_audit,
    inspect_manifest,
    same_pod,
)

STATE_FILE_NAME: Final = "kaudit-state.json"
PENDING_FILE_NAME: Final = "kaudit-pending-change.json"
STATE_VERSION: Final = 1
BACKUP_PREFIX: Final = "kaudit-"
BACKUPS_KEPT: Final = 10
_BACKUP_NAME_ATTEMPTS: Final = 100
_POLICY_MARK: Final = POLICY_FILE_HEADER.split("{", 1)[0]

Clock = Callable[[], datetime]
# Raised by every host operation; defined with the file primitives, named here for callers.
HostError = hostfs.HostError


def utc_now() -> datetime:
    return datetime.now(UTC)


# The state file's own names for the four host paths (asdict of HostPathsSpec) and the
# AuditConfig's names the rules use.
_SPEC_FIELD_NAMES: Final = {
    "manifest": "manifest",
    "policyFile": "policy_file",
    "logDir": "log_dir",
    "backupDir": "backup_dir",
}


def host_paths_problem(paths: HostPathsSpec, log_file_name: str) -> tuple[str, str] | None:
    """The first path of a layout kaudit may not use, as (HostPathsSpec field, reason)."""
    found = path_rules.host_paths_problem(
        manifest=paths.manifest,
        policy_file=paths.policy_file,
        log_dir=paths.log_dir,
        backup_dir=paths.backup_dir,
    )
    if found is not None:
        return _SPEC_FIELD_NAMES[found[0]], found[1]
    problem = path_rules.file_name_problem(log_file_name)
    return ("log_file_name", problem) if problem is not None else None


@dataclass(frozen=True, kw_only=True)
class HostLayout:
    """The host files kaudit touches, resolved under a host root.

    The paths are checked when a layout is made, whatever it is made from: a spec (checked
    already by config.py), the state file, a test. A layout that exists is one kaudit may use.
    """

    root: Path
    paths: HostPathsSpec
    log_file_name: str = posixpath.basename(DEFAULT_LOG_PATH)
    # Every read and write goes through it. Left out: the real file system at root (a
    # dataclass default cannot see root, hence the None filled in below).
    files: HostFileSystem = field(default=cast("HostFileSystem", None), compare=False, repr=False)

    def __post_init__(self) -> None:
        if cast(object, self.files) is None:
            object.__setattr__(self, "files", RealFileSystem(self.root))
        elif self.files.root != self.root:
            raise ValueError(f"layout root {self.root} is not its files' root {self.files.root}")
        found = host_paths_problem(self.paths, self.log_file_name)
        if found is not None:
            raise HostError(path=self.root, reason=f"host path {found[0]}: {found[1]}")

    def on_host(self, path: str) -> Path:
        return self.files.on_host(path)

    @property
    def log_file_path(self) -> str:
        return posixpath.join(self.paths.log_dir, self.log_file_name)

    @property
    def state_file_path(self) -> str:
        return posixpath.join(self.paths.backup_dir, STATE_FILE_NAME)

    @property
    def pending_file_path(self) -> str:
        return posixpath.join(self.paths.backup_dir, PENDING_FILE_NAME)

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


def layout_for(
    desired: DesiredState, *, root: Path, files: HostFileSystem | None = None
) -> HostLayout:
    return HostLayout(
        root=root,
        paths=desired.host_paths,
        log_file_name=desired.log_file_name,
        files=_or_real(files, root),
    )


def _or_real(files: HostFileSystem | None, root: Path) -> HostFileSystem:
    return files if files is not None else RealFileSystem(root)


def layout_from_state(
    *,
    root: Path,
    default_paths: HostPathsSpec | None = None,
    files: HostFileSystem | None = None,
) -> HostLayout:
    """The layout kaudit last used on this host, or the defaults when it never ran here.

    The recorded paths were checked by _read_state with the same rules as a spec's: a state
    file that points elsewhere (`/../outside`, the pki folder) is refused, not followed.
    """
    probe = HostLayout(
        root=root, paths=default_paths or HostPathsSpec(), files=_or_real(files, root)
    )
    state = _read_state(probe)
    recorded = state.get("hostPaths")
    paths = HostPathsSpec(**recorded) if isinstance(recorded, dict) else probe.paths
    log_name = state.get("logFileName")
    return HostLayout(
        root=root,
        paths=paths,
        log_file_name=log_name if isinstance(log_name, str) else probe.log_file_name,
        files=probe.files,
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
    if not isinstance(desired, EnabledState):
        return disable_audit_on_host(layout, clock=clock, checkpoint=checkpoint)
    with _folders_taken_back_on_failure(layout):
        return _enable(layout, desired, clock=clock, checkpoint=checkpoint)


def _enable(
    layout: HostLayout, desired: EnabledState, *, clock: Clock, checkpoint: Checkpoint
) -> ApplyResult:
    patch, policy_text = desired.patch, desired.policy_text
    old_manifest = read_manifest_text(layout)
    state = _read_state(layout)
    # kaudit turned audit logging on here, yet the manifest has no kaudit annotations: it was
    # rewritten (kubeadm upgrade, from the settings kaudit recorded in kubeadm-config), and the
    # audit settings in it are kaudit's, not something to put back on disable.
    adopt = bool(state.get("configHash")) and not _is_managed(old_manifest, layout.manifest)
    # Computed before any write: a manifest kaudit cannot patch changes nothing on the host.
    new_manifest = enable_audit(old_manifest, patch, source=str(layout.manifest), adopt=adopt)
    old_policy = read_policy_text(layout)
    # same_pod, not bytes: kaudit's settings where kubeadm put them (after a kubeadm upgrade)
    # are applied; moving them would restart the API server for nothing.
    if same_pod(new_manifest, old_manifest) and old_policy == policy_text:
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
    if old_policy is not None and old_policy != policy_text:
        policy_backup = _write_backup(layout, layout.policy_file, old_policy, stamp)
    if "policyFileBefore" not in state:
        # First write by kaudit: remember what was there, so disable puts it back.
        state["policyFileBefore"] = {"existed": old_policy is not None, "text": old_policy}
    _write_state(layout, {**state, "pendingBackup": str(manifest_backup)})
    checkpoint("after-backup")

    layout.files.make_folders(layout.paths.log_dir)
    layout.files.make_folders(posixpath.dirname(layout.paths.policy_file))
    if old_policy != policy_text:
        layout.files.write_atomically(layout.paths.policy_file, policy_text, mode=0o600)
    if new_manifest != old_manifest:
        try:
            write_manifest_atomically(layout, new_manifest)
        except HostError:
            _restore_policy_text(layout, old_policy)
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
    with _folders_taken_back_on_failure(layout):
        return _disable(layout, clock=clock, checkpoint=checkpoint)


def _disable(layout: HostLayout, *, clock: Clock, checkpoint: Checkpoint) -> ApplyResult:
    old_manifest = read_manifest_text(layout)
    # Salvage: turning audit logging off must work on a manifest someone edited since.
    new_manifest = disable_audit(old_manifest, source=str(layout.manifest), salvage=True)
    state = _read_state(layout)
    before = state.get("policyFileBefore")
    old_policy = read_policy_text(layout)
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
        write_manifest_atomically(layout, new_manifest)
    policy_backup = None
    if restored_policy != old_policy:
        if old_policy is not None:
            policy_backup = _write_backup(layout, layout.policy_file, old_policy, stamp)
        _restore_policy_text(layout, restored_policy)
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


def snapshot_host(layout: HostLayout) -> HostSnapshot:
    return HostSnapshot(
        manifest_text=read_manifest_text(layout), policy_text=read_policy_text(layout)
    )


def restore_snapshot(
    layout: HostLayout, snapshot: HostSnapshot, *, clock: Clock = utc_now
) -> str | None:
    """Put the manifest and policy back as they were; the failed manifest is kept as a backup.

    The policy goes back first: the restored manifest may name it, and the kubelet may start
    the API server from the restored manifest the moment it is renamed into place.
    """
    with _folders_taken_back_on_failure(layout):
        return _restore(layout, snapshot, clock=clock)


def _restore(layout: HostLayout, snapshot: HostSnapshot, *, clock: Clock) -> str | None:
    failed = read_optional_manifest_text(layout)
    failed_backup = None
    if failed is not None and failed != snapshot.manifest_text:
        failed_backup = _write_backup(
            layout, layout.manifest, failed, _timestamp(clock()) + "-failed"
        )
    if read_policy_text(layout) != snapshot.policy_text:
        _restore_policy_text(layout, snapshot.policy_text)
    if failed != snapshot.manifest_text:
        write_manifest_atomically(layout, snapshot.manifest_text)
    try:
        restored_hash = inspect_manifest(
            snapshot.manifest_text, source=str(layout.manifest)
        ).config_hash
    except ValueError:
        restored_hash = None
    _record_state(layout, config_hash=restored_hash, extra={"restoredAt": clock().isoformat()})
    return str(failed_backup) if failed_backup else None


def save_pending_change(layout: HostLayout, pending: PendingChange) -> None:
    layout.files.make_folders(layout.paths.backup_dir, mode=0o700)
    data = {
        "manifestText": pending.snapshot.manifest_text,
        "policyText": pending.snapshot.policy_text,
        "targetGeneration": pending.target.generation,
        "targetEnabled": pending.target.enabled,
        "targetHash": pending.target.config_hash,
        "writtenAt": pending.written_at,
        "healthTimeoutSeconds": pending.health_timeout_seconds,
        "autoRollback": pending.auto_rollback,
        "reported": pending.reported,
        "stage": pending.stage,
        "restoredAt": pending.restored_at,
        "nudged": pending.nudged,
        "snapshotHash": pending.snapshot_hash,
        "failure": pending.failure,
    }
    _write_json(layout, layout.pending_file_path, data, what="pending change")


def load_pending_change(layout: HostLayout) -> PendingChange | None:
    """The record, every field type-checked; a record from before issue 12 (snapshot, hash and
    time only) gets the defaults that describe what that agent did."""
    path = layout.pending_file_path
    data = _read_json(layout, path, what="kaudit pending change")
    if data is None:
        return None
    fields_of = _JsonFields(layout.on_host(path), data)
    config_hash = fields_of.text("targetHash", limit=_MAX_NOTE_CHARS)
    stage = fields_of.choice("stage", PENDING_STAGES, default="written")
    return PendingChange(
        snapshot=HostSnapshot(
            manifest_text=fields_of.text("manifestText", limit=MAX_MANIFEST_BYTES, required=True)
            or "",
            policy_text=fields_of.text("policyText", limit=MAX_POLICY_BYTES),
        ),
        target=ChangeTarget(
            generation=fields_of.optional_count("targetGeneration"),
            enabled=fields_of.flag("targetEnabled", default=config_hash is not None),
            config_hash=config_hash,
        ),
        written_at=fields_of.time("writtenAt", required=True) or "",
        health_timeout_seconds=fields_of.count(
            "healthTimeoutSeconds", default=DEFAULT_HEALTH_TIMEOUT_SECONDS, least=1
        ),
        auto_rollback=fields_of.flag("autoRollback", default=True),
        reported=fields_of.flag("reported", default=True),
        stage="restoring" if stage == "restoring" else "written",
        restored_at=fields_of.time("restoredAt"),
        nudged=fields_of.flag("nudged", default=False),
        snapshot_hash=fields_of.text("snapshotHash", limit=_MAX_NOTE_CHARS),
        failure=fields_of.text("failure", limit=MAX_MANIFEST_BYTES),
    )


def clear_pending_change(layout: HostLayout) -> None:
    layout.files.remove_file(layout.pending_file_path)


def _policy_after_disable(current: str | None, before: object) -> str | None:
    if isinstance(before, dict):
        text = before.get("text")
        return text if before.get("existed") and isinstance(text, str) else None
    # No record (state lost): remove the file only when kaudit's header says it wrote it.
    if current is not None and current.startswith(_POLICY_MARK):
        return None
    return current


# --- what is on the host ----------------------------------------------------------------


def describe_host(layout: HostLayout) -> HostDescription:
    """What is applied on this host, for `kaudit node status` and the agent's reports.

    A file kaudit will not read (a symlink, a FIFO, too large, not UTF-8) is described with the
    reason, so that status works on exactly the hosts that need looking at.
    """
    state = _read_state(layout)
    backups = _backup_names(layout, layout.manifest.name)
    newest = posixpath.join(layout.paths.backup_dir, backups[-1]) if backups else None
    return HostDescription(
        host_root=str(layout.root),
        host_paths=layout.paths,
        manifest=_describe_manifest(layout),
        policy_file=_describe_policy_file(layout),
        applied_config_hash=state.get("configHash"),
        applied_at=state.get("appliedAt"),
        newest_backup=(
            BackupDescription(path=str(layout.on_host(newest)), time=_mtime(layout, newest))
            if newest is not None
            else None
        ),
        backup_count=len(backups),
        audit_log=_describe_audit_log(layout),
    )


def _describe_manifest(layout: HostLayout) -> ManifestDescription:
    path = str(layout.manifest)
    try:
        text = read_optional_manifest_text(layout)
    except HostError as error:
        return ManifestDescription(path=path, exists=True, error=str(error))
    if text is None:
        return ManifestDescription(path=path, exists=False)
    try:
        inspected = inspect_manifest(text, source=path)
    except ValueError as error:
        return ManifestDescription(path=path, exists=True, error=str(error))
    return ManifestDescription(
        path=path,
        exists=True,
        reading=ManifestReading(
            audit_enabled=inspected.managed,
            config_hash=inspected.config_hash,
            audit_flags=tuple(inspected.audit_flags),
            volumes=tuple(inspected.volumes),
        ),
    )


def _describe_policy_file(layout: HostLayout) -> PolicyFileDescription:
    path = str(layout.policy_file)
    try:
        text = read_policy_text(layout)
    except HostError as error:
        return PolicyFileDescription(
            path=path, exists=True, sha256=None, written_by_kaudit=False, error=str(error)
        )
    return PolicyFileDescription(
        path=path,
        exists=text is not None,
        sha256=hashlib.sha256(text.encode()).hexdigest() if text else None,
        written_by_kaudit=bool(text and text.startswith(_POLICY_MARK)),
    )


def _describe_audit_log(layout: HostLayout) -> AuditLogDescription:
    path = layout.log_file_path
    try:
        info = layout.files.file_facts(path)
    except HostError as error:
        return AuditLogDescription(path=str(layout.log_file), exists=False, error=str(error))
    if info is None:
        return AuditLogDescription(path=str(layout.on_host(path)), exists=False)
    return AuditLogDescription(
        path=str(layout.on_host(path)),
        exists=True,
        size_bytes=info.size,
        last_write=datetime.fromtimestamp(info.mtime, UTC).isoformat(),
    )


def read_host_facts(layout: HostLayout) -> HostFacts:
    """Raises HostError (a file kaudit will not read, a broken pending-change record) and
    ManifestError (a manifest that is not a Pod kaudit can read)."""
    manifest_text = read_optional_manifest_text(layout)
    size, mtime = audit_log_facts(layout)
    return HostFacts(
        manifest_text=manifest_text,
        policy_text=read_policy_text(layout),
        pending=load_pending_change(layout),
        audit_log_size=size,
        audit_log_mtime=mtime,
        audit_enabled_by_kaudit=(
            manifest_text is not None and _manifest_is_managed(manifest_text, str(layout.manifest))
        ),
    )


@functools.lru_cache(maxsize=8)
def _manifest_is_managed(text: str, source: str) -> bool:
    # Cached: every agent step reads the same few manifests, and parsing one takes
    # milliseconds; the model test takes a million steps. A ManifestError is not cached.
    return inspect_manifest(text, source=source).managed


def audit_log_facts(layout: HostLayout) -> tuple[int | None, float | None]:
    """Size and mtime of the audit log, for the health gate; (None, None) when there is no
    plain file reached without a symlink: a link to a file that grows must not pass for it."""
    try:
        info = layout.files.file_facts(layout.log_file_path)
    except HostError:
        return None, None
    if info is None or not stat.S_ISREG(info.mode):
        return None, None
    return info.size, info.mtime


def _mtime(layout: HostLayout, path: str) -> str | None:
    info = layout.files.file_facts(path)
    return datetime.fromtimestamp(info.mtime, UTC).isoformat() if info else None


# --- backups -----------------------------------------------------------------------------


def list_backups(layout: HostLayout) -> list[Path]:
    """kaudit's manifest backups on this host, oldest first."""
    return [layout.backup_dir / name for name in _backup_names(layout, layout.manifest.name)]


def _backup_names(layout: HostLayout, original_name: str) -> list[str]:
    prefix = f"{BACKUP_PREFIX}{original_name}."
    names = layout.files.list_names(layout.paths.backup_dir)
    return sorted(name for name in names if name.startswith(prefix))


def prune_backups(layout: HostLayout, *, keep: int = BACKUPS_KEPT) -> None:
    for original_name in (layout.manifest.name, layout.policy_file.name):
        for old in _backup_names(layout, original_name)[:-keep]:
            layout.files.remove_file(posixpath.join(layout.paths.backup_dir, old))


def _write_backup(layout: HostLayout, original: Path, text: str, stamp: str) -> Path:
    layout.files.make_folders(layout.paths.backup_dir, mode=0o700)
    name = f"{BACKUP_PREFIX}{original.name}.{stamp}"
    # A backup is never written over, even one of kaudit's own from the same microsecond (a
    # clock set back): the next free name sorts after it.
    for attempt in range(_BACKUP_NAME_ATTEMPTS):
        path = posixpath.join(layout.paths.backup_dir, name + (f"-{attempt}" if attempt else ""))
        try:
            layout.files.create_file(path, text, mode=0o600)
        except hostfs.HostFileExistsError:
            if attempt == _BACKUP_NAME_ATTEMPTS - 1:
                raise
            continue
        return layout.on_host(path)
    raise AssertionError("unreachable")


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


# --- state -------------------------------------------------------------------------------

# Free-text notes in the state files (hashes, times, backup names): far longer than any real one.
_MAX_NOTE_CHARS: Final = 4096


_FORGED_HINT: Final = (
    " (kaudit never writes such a value: someone else changed this file; compare it with the "
    "host, then correct the field or move the file away)"
)


class _JsonFields:
    """Typed access to a state file's fields, refusing a wrong one with the file and field."""

    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, reason: str) -> HostError:
        return HostError(path=self.path, reason=f"field {key}: {reason}")

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, found {_json_type(value)}")
        return value

    def count(self, key: str, *, default: int, least: int = 0) -> int:
        found = self.optional_count(key, least=least)
        return default if found is None else found

    def optional_count(self, key: str, *, least: int = 0) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is not int:
            raise self.fail(key, f"must be a whole number, found {_json_type(value)}")
        if value < least:
            raise self.fail(key, f"must be at least {least}, found {value}")
        return value

    def choice(self, key: str, choices: frozenset[str], *, default: str) -> str:
        value = self.text(key, limit=_MAX_NOTE_CHARS)
        if value is None:
            return default
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(sorted(choices))}, found {value!r}")
        return value

    def time(self, key: str, *, required: bool = False) -> str | None:
        """An ISO time: the agent computes deadlines from it, so it must parse."""
        value = self.text(key, limit=_MAX_NOTE_CHARS, required=required)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise self.fail(key, f"must be an ISO time, found {value!r}") from None
        if moment.tzinfo is None:
            raise self.fail(key, f"must be an ISO time with its zone (Z), found {value!r}")
        return value

    def text(self, key: str, *, limit: int, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, found {_json_type(value)}")
        try:
            check_text_size(value, limit=limit, source=str(self.path), what=f"field {key}")
        except InputRefusedError as error:
            raise self.fail(key, error.reason) from None
        return value


def _json_type(value: object) -> str:
    return {dict: "an object", list: "a list", bool: "true/false", int: "a number"}.get(
        type(value), type(value).__name__
    )


def _read_json(layout: HostLayout, path: str, *, what: str) -> dict[str, Any] | None:
    """A JSON object from one of kaudit's own files, or None when there is none."""
    shown = layout.on_host(path)
    text = layout.files.read_text(path, limit=MAX_STATE_BYTES, what=what)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except RecursionError:
        raise HostError(path=shown, reason=f"unreadable {what}: nested too deeply") from None
    except ValueError as error:
        raise HostError(path=shown, reason=f"unreadable {what}: {error}") from None
    if not isinstance(data, dict):
        raise HostError(
            path=shown, reason=f"unreadable {what}: must be a JSON object, found {_json_type(data)}"
        )
    return data


def _read_state(layout: HostLayout) -> dict[str, Any]:
    data = _read_json(layout, layout.state_file_path, what="kaudit state")
    if data is None:
        return {}
    try:
        _check_state(layout.on_host(layout.state_file_path), data)
    except HostError as error:
        raise HostError(path=error.path, reason=error.reason + _FORGED_HINT) from None
    return data


def _check_state(path: Path, state: Mapping[str, Any]) -> None:
    """Every field kaudit acts on, by type; the paths by kaudit.paths' rules."""
    checked = _JsonFields(path, state)
    version = state.get("version")
    if version is not None and (type(version) is not int or version != STATE_VERSION):
        raise checked.fail(
            "version", f"kaudit reads state version {STATE_VERSION}, found {version!r}"
        )
    for key in (
        "configHash",
        "appliedAt",
        "disabledAt",
        "restoredAt",
        # Backup names, recorded for people: kaudit never opens a path it reads from here.
        "pendingBackup",
        "lastManifestBackup",
    ):
        checked.text(key, limit=_MAX_NOTE_CHARS)
    before = state.get("policyFileBefore")
    if before is not None:
        if not isinstance(before, dict):
            raise checked.fail("policyFileBefore", f"must be an object, found {_json_type(before)}")
        if not isinstance(before.get("existed"), bool):
            raise checked.fail("policyFileBefore.existed", "must be true or false")
        _JsonFields(path, before).text("text", limit=MAX_POLICY_BYTES)
    recorded = state.get("hostPaths")
    log_name = checked.text("logFileName", limit=_MAX_NOTE_CHARS)
    if recorded is None:
        return
    if not isinstance(recorded, dict):
        raise checked.fail("hostPaths", f"must be an object, found {_json_type(recorded)}")
    names = {item.name for item in fields(HostPathsSpec)}
    if set(recorded) != names:
        raise checked.fail("hostPaths", f"must have exactly the fields {', '.join(sorted(names))}")
    for key, value in recorded.items():
        if not isinstance(value, str):
            raise checked.fail(f"hostPaths.{key}", f"must be a string, found {_json_type(value)}")
    found = host_paths_problem(
        HostPathsSpec(**recorded),
        log_name if log_name is not None else posixpath.basename(DEFAULT_LOG_PATH),
    )
    if found is not None:
        key = "logFileName" if found[0] == "log_file_name" else f"hostPaths.{found[0]}"
        raise checked.fail(key, found[1])


def _write_json(layout: HostLayout, path: str, data: Mapping[str, Any], *, what: str) -> None:
    # Not ASCII-escaped: a policy's non-ASCII text keeps its size, so what kaudit writes stays
    # within what it will read back.
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        check_text_size(text, limit=MAX_STATE_BYTES, source=str(layout.on_host(path)), what=what)
    except InputRefusedError as error:
        raise HostError(path=error.source, reason=error.reason) from None
    layout.files.write_atomically(path, text, mode=0o600)


def _write_state(layout: HostLayout, state: dict[str, Any]) -> None:
    state = {
        **state,
        "version": STATE_VERSION,
        "hostPaths": asdict(layout.paths),
        "logFileName": layout.log_file_name,
    }
    layout.files.make_folders(layout.paths.backup_dir, mode=0o700)
    _write_json(layout, layout.state_file_path, state, what="kaudit state")


def _record_state(layout: HostLayout, *, config_hash: str | None, extra: dict[str, Any]) -> None:
    state = _read_state(layout)
    state.pop("pendingBackup", None)
    _write_state(layout, {**state, **extra, "configHash": config_hash})


# --- files -------------------------------------------------------------------------------


def read_manifest_text(layout: HostLayout) -> str:
    """The kube-apiserver manifest's text, byte-exact; a HostError when kaudit cannot use it."""
    text = read_optional_manifest_text(layout)
    if text is None:
        raise HostError(path=layout.manifest, reason="kube-apiserver manifest not found")
    return text


def read_optional_manifest_text(layout: HostLayout) -> str | None:
    """The manifest's text, or None when there is none; refused as read_manifest_text."""
    return layout.files.read_text(
        layout.paths.manifest, limit=MAX_MANIFEST_BYTES, what="kube-apiserver manifest"
    )


def read_policy_text(layout: HostLayout) -> str | None:
    """The audit policy file's text, or None when there is none."""
    return layout.files.read_text(
        layout.paths.policy_file, limit=MAX_POLICY_BYTES, what="audit policy file"
    )


def write_manifest_atomically(layout: HostLayout, text: str) -> None:
    layout.files.write_atomically(layout.paths.manifest, text)


def write_file_atomically(path: Path, text: str, *, mode: int | None = None) -> None:
    """Replace one file by its full path (its folder is trusted as it is given).

    Kept for callers that hold a Path only; under a host root, use write_manifest_atomically,
    which also refuses symlinks along the way.
    """
    hostfs.write_atomically(path.parent, "/" + path.name, text, mode=mode)


@contextlib.contextmanager
def _folders_taken_back_on_failure(layout: HostLayout) -> Iterator[None]:
    """Every folder a change may write in is checked before its first write (no symlink on the
    way), and the ones the change made are taken away again if it fails while they are empty:
    a refused change leaves the host as it was."""
    made = [
        missing
        for folder in (
            posixpath.dirname(layout.paths.manifest),
            posixpath.dirname(layout.paths.policy_file),
            layout.paths.log_dir,
            layout.paths.backup_dir,
        )
        for missing in layout.files.missing_folders(folder)
    ]
    try:
        yield
    except HostError:
        layout.files.remove_empty_folders(made)
        raise


def _restore_policy_text(layout: HostLayout, text: str | None) -> None:
    if text is None:
        layout.files.remove_file(layout.paths.policy_file)
    else:
        layout.files.write_atomically(layout.paths.policy_file, text, mode=0o600)


def _is_managed(manifest_text: str, path: Path) -> bool:
    try:
        return inspect_manifest(manifest_text, source=str(path)).managed
    except ManifestError:
        return False
