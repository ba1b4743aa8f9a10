"""Host operations under a temporary host root: what a node agent leaves on a control-plane host."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kaudit.config import AuditConfigSpec, HostPathsSpec, LogSpec, load_audit_config_text
from kaudit.desired import DesiredState, desired_state
from kaudit.hostio.files import (
    BACKUPS_KEPT,
    HostError,
    HostLayout,
    apply_desired_state,
    describe_host,
    disable_audit_on_host,
    layout_for,
    layout_from_state,
    list_backups,
    restore_snapshot,
    snapshot_host,
)
from kaudit.manifest import ManifestError, enable_audit
from kaudit.yamltext import load_single_document

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KUBEADM_MANIFEST = (FIXTURES / "kubeadm-kube-apiserver.yaml").read_text()


def desired(spec: AuditConfigSpec | None = None) -> DesiredState:
    return desired_state(spec or AuditConfigSpec(), source="test")


class StepClock:
    """A clock that moves one second per reading, so every backup gets its own name."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


@pytest.fixture
def host(tmp_path: Path) -> HostLayout:
    layout = layout_for(desired(), root=tmp_path)
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_text(KUBEADM_MANIFEST)
    layout.manifest.chmod(0o600)
    return layout


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_apply_writes_policy_and_patches_manifest_with_the_seed_flags(host: HostLayout) -> None:
    state = desired()
    result = apply_desired_state(host, state)
    assert result.changed
    manifest = host.manifest.read_text()
    for flag in (
        "--audit-log-maxage=30",
        "--audit-log-maxbackup=1",
        "--audit-log-maxsize=100",
        "--audit-log-path=/var/log/audit/kube-apiserver-audit.log",
        "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml",
    ):
        assert manifest.count(flag) == 1
    pod = load_single_document(manifest)
    assert isinstance(pod, dict)
    assert pod["metadata"]["annotations"]["kaudit.io/config-hash"] == state.config_hash
    assert host.policy_file.read_text() == state.policy_text
    assert host.log_dir.is_dir()


def test_apply_leaves_only_the_manifest_in_the_manifests_folder(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    # Any other file there, a backup or a temporary one, would be run by the kubelet.
    assert os.listdir(host.manifest.parent) == ["kube-apiserver.yaml"]


def test_apply_backs_up_the_manifest_first_outside_the_manifests_folder(host: HostLayout) -> None:
    result = apply_desired_state(host, desired())
    assert result.manifest_backup is not None
    backup = Path(result.manifest_backup)
    assert backup.parent == host.backup_dir
    assert backup.read_text() == KUBEADM_MANIFEST
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_apply_keeps_the_manifest_permissions(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    assert stat.S_IMODE(host.manifest.stat().st_mode) == 0o600


def test_apply_twice_changes_nothing_the_second_time(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    manifest_after_first = host.manifest.read_bytes()
    second = apply_desired_state(host, desired())
    assert not second.changed
    assert host.manifest.read_bytes() == manifest_after_first
    assert len(list_backups(host)) == 1


def test_a_policy_only_change_rewrites_the_policy_and_the_hash_annotation(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    before = host.manifest.read_text()
    metadata_only = load_audit_config_text(
        "apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\nmetadata: {name: cluster}\n"
        "spec: {policy: {preset: Metadata}}\n",
        source="test",
    ).spec
    new_state = desired(metadata_only)
    result = apply_desired_state(host, new_state)
    assert result.changed
    after = host.manifest.read_text()
    assert after != before
    changed_lines = set(after.splitlines()) ^ set(before.splitlines())
    assert all("kaudit.io/config-hash" in line for line in changed_lines)
    assert host.policy_file.read_text() == new_state.policy_text
    assert result.policy_backup is not None


def test_disable_restores_the_manifest_byte_for_byte_and_removes_the_policy(
    host: HostLayout,
) -> None:
    apply_desired_state(host, desired())
    result = disable_audit_on_host(host)
    assert result.changed
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert not host.policy_file.exists()


def test_disable_puts_back_a_policy_file_that_was_there_before_kaudit(host: HostLayout) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.write_text("# the operator's own policy\n")
    apply_desired_state(host, desired())
    disable_audit_on_host(host)
    assert host.policy_file.read_text() == "# the operator's own policy\n"


def test_disable_works_after_a_restart_from_the_recorded_state_alone(tmp_path: Path) -> None:
    custom = AuditConfigSpec(
        host_paths=HostPathsSpec(
            manifest="/etc/kubernetes/manifests/apiserver.yaml",
            policy_file="/etc/kubernetes/audit/policy.yaml",
            log_dir="/var/log/audit-logs",
            backup_dir="/etc/kubernetes/kaudit-backups",
        ),
        log=LogSpec(path="/var/log/k8s-audit/audit.log"),
    )
    state = desired(custom)
    layout = layout_for(state, root=tmp_path)
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_text(KUBEADM_MANIFEST)
    apply_desired_state(layout, state)
    # A new process knows only the host root: the paths come from kaudit's state file.
    recovered = layout_from_state(
        root=tmp_path, default_paths=HostPathsSpec(backup_dir="/etc/kubernetes/kaudit-backups")
    )
    assert recovered.paths == custom.host_paths
    assert recovered.log_file_name == "audit.log"
    disable_audit_on_host(recovered)
    assert layout.manifest.read_text() == KUBEADM_MANIFEST
    assert not layout.policy_file.exists()


def test_disable_on_a_host_kaudit_never_touched_changes_nothing(host: HostLayout) -> None:
    result = disable_audit_on_host(host)
    assert not result.changed
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert not host.backup_dir.exists()


def test_only_the_newest_backups_are_kept(host: HostLayout) -> None:
    clock = StepClock()
    (host.backup_dir).mkdir(parents=True)
    kubeadm_backup = host.backup_dir / "kubeadm-backup-manifests-2026"
    kubeadm_backup.write_text("kubeadm's own")
    for max_age in range(1, BACKUPS_KEPT + 5):
        apply_desired_state(
            host, desired(AuditConfigSpec(log=LogSpec(max_age=max_age))), clock=clock
        )
    backups = list_backups(host)
    assert len(backups) == BACKUPS_KEPT
    assert "--audit-log-maxage=13" in backups[-1].read_text()
    assert kubeadm_backup.read_text() == "kubeadm's own"


def test_a_missing_manifest_is_an_error_and_nothing_is_written(tmp_path: Path) -> None:
    layout = layout_for(desired(), root=tmp_path)
    with pytest.raises(HostError, match="kube-apiserver manifest not found"):
        apply_desired_state(layout, desired())
    assert files_under(tmp_path) == []


def test_an_unparseable_manifest_is_an_error_and_nothing_is_written(host: HostLayout) -> None:
    host.manifest.write_text("apiVersion: v1\nkind: Pod\nspec: [unclosed\n")
    with pytest.raises(ManifestError):
        apply_desired_state(host, desired())
    assert files_under(host.root) == ["etc/kubernetes/manifests/kube-apiserver.yaml"]


def test_an_unwritable_backup_folder_stops_before_any_change(host: HostLayout) -> None:
    # A file where the backup folder should be: mkdir fails the way a read-only disk does.
    host.backup_dir.parent.mkdir(parents=True, exist_ok=True)
    host.backup_dir.write_text("not a folder")
    with pytest.raises(HostError) as caught:
        apply_desired_state(host, desired())
    assert str(host.backup_dir) in str(caught.value)
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert not host.policy_file.exists()


def test_a_failed_manifest_write_puts_the_previous_policy_back(host: HostLayout) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.write_text("# previous policy\n")
    # The temporary file's name taken by a folder: the manifest write fails after the policy write.
    (host.manifest.parent / ".kube-apiserver.yaml.kaudit-tmp").mkdir()
    with pytest.raises(HostError) as caught:
        apply_desired_state(host, desired())
    assert str(host.manifest) in str(caught.value)
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert host.policy_file.read_text() == "# previous policy\n"


def test_a_backup_folder_linked_into_the_manifests_folder_is_refused(tmp_path: Path) -> None:
    layout = layout_for(desired(), root=tmp_path)
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_text(KUBEADM_MANIFEST)
    layout.backup_dir.parent.mkdir(parents=True, exist_ok=True)
    layout.backup_dir.symlink_to(layout.manifest.parent)
    # No symlink below the host root is followed, wherever it points.
    with pytest.raises(HostError, match="is a symlink; kaudit follows no symlink"):
        apply_desired_state(layout, desired())
    assert os.listdir(layout.manifest.parent) == ["kube-apiserver.yaml"]


def test_crlf_manifest_survives_apply_and_disable_byte_for_byte(host: HostLayout) -> None:
    crlf = KUBEADM_MANIFEST.replace("\n", "\r\n").encode()
    host.manifest.write_bytes(crlf)
    apply_desired_state(host, desired())
    assert b"--audit-log-maxage=30\r\n" in host.manifest.read_bytes()
    disable_audit_on_host(host)
    assert host.manifest.read_bytes() == crlf


def test_status_reports_what_is_applied_the_newest_backup_and_the_log(host: HostLayout) -> None:
    state = desired()
    result = apply_desired_state(host, state)
    host.log_file.write_text('{"kind":"Event"}\n')
    status = describe_host(host).as_json()
    assert status["manifest"]["auditEnabled"] is True
    assert status["manifest"]["configHash"] == state.config_hash
    assert status["appliedConfigHash"] == state.config_hash
    assert status["inSync"] is True
    assert status["newestBackup"]["path"] == result.manifest_backup
    assert status["auditLog"]["exists"] is True
    assert status["auditLog"]["sizeBytes"] == len('{"kind":"Event"}\n')
    assert status["auditLog"]["lastWrite"] is not None
    assert status["policyFile"]["writtenByKaudit"] is True


def test_status_of_an_untouched_host_says_audit_is_off(host: HostLayout) -> None:
    status = describe_host(host).as_json()
    assert status["manifest"]["auditEnabled"] is False
    assert status["newestBackup"] is None
    assert status["auditLog"]["exists"] is False
    assert status["inSync"] is False


def test_restoring_a_snapshot_puts_both_files_back_and_keeps_the_failed_manifest(
    host: HostLayout,
) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.write_text("# previous policy\n")
    snapshot = snapshot_host(host)
    apply_desired_state(host, desired())
    failed_backup = restore_snapshot(host, snapshot)
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert host.policy_file.read_text() == "# previous policy\n"
    assert failed_backup is not None
    assert "--audit-log-maxage=30" in Path(failed_backup).read_text()
    assert os.listdir(host.manifest.parent) == ["kube-apiserver.yaml"]
    assert describe_host(host).as_json()["appliedConfigHash"] is None


def test_restoring_a_snapshot_without_a_policy_removes_the_new_one(host: HostLayout) -> None:
    snapshot = snapshot_host(host)
    apply_desired_state(host, desired())
    restore_snapshot(host, snapshot)
    assert not host.policy_file.exists()


def test_disable_after_a_hand_edit_still_turns_audit_off(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    edited = "".join(
        line
        for line in host.manifest.read_text().splitlines(keepends=True)
        if not line.lstrip().startswith("- --audit-")
    )
    host.manifest.write_text(edited)
    result = disable_audit_on_host(host)
    assert result.changed
    assert host.manifest.read_text() == KUBEADM_MANIFEST


class CrashError(Exception):
    """What a crashed agent leaves behind is what the host holds when this is raised."""


def crash_at(wanted: str) -> Callable[[str], None]:
    def checkpoint(point: str) -> None:
        if point == wanted:
            raise CrashError(point)

    return checkpoint


def test_a_crash_after_the_backup_leaves_the_manifest_and_policy_untouched(
    host: HostLayout,
) -> None:
    with pytest.raises(CrashError):
        apply_desired_state(host, desired(), checkpoint=crash_at("after-backup"))
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert not host.policy_file.exists()
    backups = host.backup_dir.glob("kaudit-kube-apiserver.yaml.*")
    assert [p.read_text() for p in backups] == [KUBEADM_MANIFEST]
    # The next run makes the change from the start and ends where an uninterrupted one does.
    apply_desired_state(host, desired())
    assert "--audit-policy-file=" in host.manifest.read_text()


def test_a_crash_after_the_backup_of_a_disable_leaves_audit_logging_on(host: HostLayout) -> None:
    apply_desired_state(host, desired(), clock=StepClock())
    enabled = host.manifest.read_text()
    off = desired(AuditConfigSpec(enabled=False))
    with pytest.raises(CrashError):
        apply_desired_state(host, off, clock=StepClock(), checkpoint=crash_at("after-backup"))
    assert host.manifest.read_text() == enabled
    assert host.policy_file.exists()


def without_kaudit_annotations(manifest: str) -> str:
    """The manifest as kubeadm regenerates it from a kubeadm-config that records kaudit's
    flags and volumes: the same settings, no kaudit annotations."""
    return "".join(line for line in manifest.splitlines(keepends=True) if "kaudit.io/" not in line)


def test_after_kubeadm_rewrites_the_manifest_disable_still_turns_audit_off(
    host: HostLayout,
) -> None:
    apply_desired_state(host, desired(), clock=StepClock())
    regenerated = without_kaudit_annotations(host.manifest.read_text())
    assert "--audit-policy-file=" in regenerated
    host.manifest.write_text(regenerated)
    # The agent sees drift (no annotation) and writes its change again ...
    assert apply_desired_state(host, desired(), clock=StepClock()).changed
    assert "kaudit.io/config-hash" in host.manifest.read_text()
    # ... and turning audit logging off removes the settings instead of putting them back.
    apply_desired_state(host, desired(AuditConfigSpec(enabled=False)), clock=StepClock())
    assert host.manifest.read_text() == KUBEADM_MANIFEST


def test_after_kubeadm_upgrade_kaudit_writes_the_manifest_once_and_keeps_kubeadm_order(
    host: HostLayout,
) -> None:
    """kubeadm appends extraArgs after its own flags; kaudit sorts its flags in among them.

    The fixture is our kubeadm fixture with the audit settings where kubeadm v1.34 puts them
    (compared with `kubeadm init phase control-plane apiserver --dry-run`). kaudit puts back its
    annotations only: moving the flags too would be a second write (one more restart), and after
    a same-version upgrade it would restore the very manifest kubeadm replaced, which kubeadm
    takes for a failed upgrade (the static pod's hash never changes).
    """
    apply_desired_state(host, desired(), clock=StepClock())
    before_upgrade = host.manifest.read_text()
    by_kubeadm = (FIXTURES / "kubeadm-kube-apiserver-upgraded-with-audit.yaml").read_text()
    host.manifest.write_text(by_kubeadm)
    assert apply_desired_state(host, desired(), clock=StepClock()).changed
    corrected = host.manifest.read_text()
    assert corrected != before_upgrade
    assert without_kaudit_annotations(corrected) == by_kubeadm
    assert not apply_desired_state(host, desired(), clock=StepClock()).changed
    assert host.manifest.read_text() == corrected
    apply_desired_state(host, desired(AuditConfigSpec(enabled=False)), clock=StepClock())
    assert host.manifest.read_text() == KUBEADM_MANIFEST


def test_audit_settings_someone_else_made_are_put_back_on_disable(host: HostLayout) -> None:
    by_hand = enable_audit(
        KUBEADM_MANIFEST, desired(AuditConfigSpec()).patch, source="test"
    )  # as if set by hand: kaudit never ran on this host
    by_hand = without_kaudit_annotations(by_hand)
    host.manifest.write_text(by_hand)
    apply_desired_state(host, desired(), clock=StepClock())
    apply_desired_state(host, desired(AuditConfigSpec(enabled=False)), clock=StepClock())
    assert host.manifest.read_text() == by_hand
