"""What a planted file on the host cannot make kaudit do: follow a link, write through a hard
link, trust a forged state file. After every refusal the host's files are as they were."""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kaudit.config import AuditConfigSpec, HostPathsSpec
from kaudit.desired import DesiredState, desired_state
from kaudit.hostio.files import (
    ChangeTarget,
    HostError,
    HostLayout,
    HostSnapshot,
    PendingChange,
    apply_desired_state,
    audit_log_facts,
    describe_host,
    disable_audit_on_host,
    layout_for,
    layout_from_state,
    load_pending_change,
    save_pending_change,
    snapshot_host,
    write_file_atomically,
)
from kaudit.limits import MAX_MANIFEST_BYTES, MAX_STATE_BYTES

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KUBEADM_MANIFEST = (FIXTURES / "kubeadm-kube-apiserver.yaml").read_text()
SECRET = "-----BEGIN PRIVATE KEY-----\nnot really\n"


def desired(spec: AuditConfigSpec | None = None) -> DesiredState:
    return desired_state(spec or AuditConfigSpec(), source="test")


def fixed_clock() -> datetime:
    return datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@pytest.fixture
def host(tmp_path: Path) -> HostLayout:
    root = tmp_path / "host"
    layout = layout_for(desired(), root=root)
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_text(KUBEADM_MANIFEST)
    layout.manifest.chmod(0o600)
    # The cluster's keys, beside the folders kaudit writes: what a planted link points at.
    pki = root / "etc/kubernetes/pki"
    pki.mkdir(parents=True)
    (pki / "sa.key").write_text(SECRET)
    (pki / "sa.key").chmod(0o600)
    return layout


Tree = dict[str, tuple[str, object]]


def tree(folder: Path) -> Tree:
    """Every entry under folder (the host root's parent too): kind and content or target."""
    found: Tree = {}
    for path in sorted(folder.rglob("*")):
        facts = path.lstat()
        key = str(path.relative_to(folder))
        if stat.S_ISLNK(facts.st_mode):
            found[key] = ("link", os.readlink(path))
        elif stat.S_ISREG(facts.st_mode):
            found[key] = ("file", (path.read_bytes(), stat.S_IMODE(facts.st_mode)))
        elif stat.S_ISDIR(facts.st_mode):
            found[key] = ("folder", stat.S_IMODE(facts.st_mode))
        else:
            found[key] = ("other", stat.S_IFMT(facts.st_mode))
    return found


def refused_and_unchanged(action: Callable[[], object], *, top: Path, match: str) -> HostError:
    before = tree(top)
    with pytest.raises(HostError) as caught:
        action()
    assert match in str(caught.value)
    assert tree(top) == before
    return caught.value


# --- symlinks ----------------------------------------------------------------------------


def test_a_symlinked_policy_file_is_refused_and_its_target_never_copied(
    host: HostLayout, tmp_path: Path
) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.symlink_to(host.root / "etc/kubernetes/pki/sa.key")
    for action in (
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        lambda: disable_audit_on_host(host, clock=fixed_clock),
        lambda: snapshot_host(host),
    ):
        error = refused_and_unchanged(action, top=tmp_path, match="is a symlink")
        assert "audit policy file" in str(error)
    assert not host.backup_dir.exists()


def test_status_reports_a_symlinked_policy_file_instead_of_failing(host: HostLayout) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.symlink_to(host.root / "etc/kubernetes/pki/sa.key")
    status = describe_host(host).as_json()
    assert "is a symlink" in status["policyFile"]["error"]
    assert status["policyFile"]["sha256"] is None


@pytest.mark.parametrize(
    ("link", "points_to"),
    [
        ("etc/kubernetes/audit-policy", "etc/kubernetes/pki"),
        ("etc/kubernetes/tmp/kaudit", "etc/kubernetes/manifests"),
        ("etc/kubernetes/tmp", "etc/kubernetes/pki"),
        ("var/log/kubernetes/audit", "etc/kubernetes/pki"),
        ("etc/kubernetes", "somewhere-else"),
    ],
)
def test_a_symlinked_folder_on_the_way_is_refused(
    host: HostLayout, tmp_path: Path, link: str, points_to: str
) -> None:
    target = host.root / points_to
    if link == "etc/kubernetes":
        # The whole tree moved behind a link: the manifest's own folder is on the way.
        os.rename(host.root / "etc/kubernetes", target)
    target.mkdir(parents=True, exist_ok=True)
    (host.root / link).parent.mkdir(parents=True, exist_ok=True)
    (host.root / link).symlink_to(target)
    error = refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="is a symlink; kaudit follows no symlink below the host root",
    )
    assert error.path == str(host.root / link)


def test_a_symlinked_manifest_is_refused(host: HostLayout, tmp_path: Path) -> None:
    real = host.root / "etc/kubernetes/kube-apiserver.yaml"
    os.rename(host.manifest, real)
    host.manifest.symlink_to(real)
    refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="kube-apiserver manifest is a symlink",
    )


def test_a_host_root_that_is_itself_a_symlink_is_fine(host: HostLayout, tmp_path: Path) -> None:
    linked = layout_for(desired(), root=tmp_path / "root-link")
    (tmp_path / "root-link").symlink_to(host.root)
    assert apply_desired_state(linked, desired()).changed
    assert "--audit-policy-file=" in host.manifest.read_text()


# --- planted files at the names kaudit creates -------------------------------------------


@pytest.mark.parametrize("kind", ["hard link", "symlink"])
def test_a_link_planted_at_the_temporary_name_leaves_its_target_alone(
    host: HostLayout, kind: str
) -> None:
    victim = host.root / "etc/kubernetes/pki/sa.key"
    planted = host.manifest.parent / ".kube-apiserver.yaml.kaudit-tmp"
    if kind == "hard link":
        os.link(victim, planted)
    else:
        planted.symlink_to(victim)
    assert apply_desired_state(host, desired()).changed
    assert victim.read_text() == SECRET
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert victim.stat().st_nlink == 1
    assert "--audit-policy-file=" in host.manifest.read_text()
    assert os.listdir(host.manifest.parent) == ["kube-apiserver.yaml"]


def test_a_link_planted_at_the_temporary_name_of_a_plain_write_is_removed_not_followed(
    tmp_path: Path,
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    victim.chmod(0o644)
    os.link(victim, tmp_path / ".target.kaudit-tmp")
    write_file_atomically(tmp_path / "target", "new\n", mode=0o600)
    assert victim.read_text() == "keep me\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert (tmp_path / "target").read_text() == "new\n"
    assert not (tmp_path / ".target.kaudit-tmp").exists()


def test_a_file_planted_at_a_backups_name_is_never_written_over(host: HostLayout) -> None:
    victim = host.root / "etc/kubernetes/pki/sa.key"
    host.backup_dir.mkdir(parents=True)
    name = "kaudit-kube-apiserver.yaml.20261202T030000.000000Z"
    (host.backup_dir / name).symlink_to(victim)
    result = apply_desired_state(host, desired(), clock=fixed_clock)
    assert result.manifest_backup == str(host.backup_dir / f"{name}-1")
    assert Path(result.manifest_backup).read_text() == KUBEADM_MANIFEST
    assert victim.read_text() == SECRET
    assert os.readlink(host.backup_dir / name) == str(victim)


# --- files that are not what they seem ---------------------------------------------------


def test_a_fifo_as_the_policy_file_is_refused_without_waiting(
    host: HostLayout, tmp_path: Path
) -> None:
    host.policy_file.parent.mkdir(parents=True)
    os.mkfifo(host.policy_file)
    refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="not a regular file",
    )


def test_a_manifest_over_the_limit_is_refused(host: HostLayout, tmp_path: Path) -> None:
    host.manifest.write_text(KUBEADM_MANIFEST + "#" * MAX_MANIFEST_BYTES)
    refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="over kaudit's limit of 1048576 bytes (1 MiB)",
    )


def test_a_policy_file_that_is_not_utf8_is_refused(host: HostLayout, tmp_path: Path) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.write_bytes(b"rules: \xff\xfe\n")
    refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="not UTF-8 text (byte 7)",
    )


def test_a_folder_where_a_host_file_goes_is_refused(host: HostLayout, tmp_path: Path) -> None:
    host.policy_file.mkdir(parents=True)
    refused_and_unchanged(
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        top=tmp_path,
        match="is a folder",
    )


# --- the state file ----------------------------------------------------------------------


def applied_state(host: HostLayout) -> dict[str, object]:
    apply_desired_state(host, desired(), clock=fixed_clock)
    data = json.loads(host.state_file.read_text())
    assert isinstance(data, dict)
    return data


def test_a_state_file_pointing_outside_the_host_root_is_refused_on_disable(
    host: HostLayout, tmp_path: Path
) -> None:
    """The review's case: `/../outside/...` in the state made disable rewrite a file outside."""
    state = applied_state(host)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "policy.yaml").write_text("# not kaudit's\n")
    state["hostPaths"] = {**state["hostPaths"], "policy_file": "/../outside/policy.yaml"}  # type: ignore[dict-item]
    host.state_file.write_text(json.dumps(state))
    error = refused_and_unchanged(
        lambda: disable_audit_on_host(layout_from_state(root=host.root)),
        top=tmp_path,
        match="field hostPaths.policy_file: must be in canonical form, without a '..' component",
    )
    assert error.path == str(host.state_file)
    assert "write it as '/outside/policy.yaml'" in error.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"hostPaths": {"policy_file": "//etc/kubernetes/manifests/p.yaml"}}, "without '//'"),
        ({"hostPaths": {"log_dir": "/"}}, "field hostPaths.log_dir: "),
        ({"hostPaths": {"log_dir": "/etc/kubernetes/pki"}}, "not under /var/log/"),
        ({"hostPaths": {"backup_dir": "/etc/kubernetes/tmp"}}, "kubeadm's own tmp folder"),
        ({"hostPaths": {"manifest": "/etc/kubernetes/pki/sa.key"}}, "field hostPaths.manifest"),
        ({"hostPaths": {"manifest": 7}}, "hostPaths.manifest: must be a string"),
        ({"hostPaths": ["/"]}, "field hostPaths: must be an object, found a list"),
        ({"hostPaths": {"colour": "blue"}}, "must have exactly the fields"),
        ({"logFileName": "../../pki/sa.key"}, "field logFileName: must be a plain file name"),
        ({"logFileName": 3}, "field logFileName: must be a string, found a number"),
        ({"configHash": {"a": 1}}, "field configHash: must be a string, found an object"),
        ({"policyFileBefore": "yes"}, "field policyFileBefore: must be an object"),
        ({"policyFileBefore": {"existed": "yes"}}, "policyFileBefore.existed: must be true"),
        ({"policyFileBefore": {"existed": True, "text": 1}}, "field text: must be a string"),
        ({"version": 2}, "kaudit reads state version 1, found 2"),
        ({"version": True}, "field version"),
    ],
)
def test_a_forged_state_field_is_refused_naming_the_file_and_the_field(
    host: HostLayout, tmp_path: Path, change: dict[str, object], reason: str
) -> None:
    state = applied_state(host)
    for key, value in change.items():
        merge = key == "hostPaths" and isinstance(value, dict)
        state[key] = {**state["hostPaths"], **value} if merge else value  # type: ignore[dict-item]
    host.state_file.write_text(json.dumps(state))
    for action in (
        lambda: layout_from_state(root=host.root),
        lambda: disable_audit_on_host(host, clock=fixed_clock),
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
        lambda: describe_host(host).as_json(),
    ):
        error = refused_and_unchanged(action, top=tmp_path, match=reason)
        assert error.path == str(host.state_file)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "unreadable kaudit state: Expecting property name"),
        (b"[1, 2]", "must be a JSON object, found a list"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"configHash": ' + b"9" * 5000 + b"}", "unreadable kaudit state"),
        (b'{"configHash": "\xff"}', "not UTF-8 text"),
        (b" " * (MAX_STATE_BYTES + 1), "over kaudit's limit of 3145728 bytes (3 MiB)"),
    ],
)
def test_a_broken_state_file_is_a_host_error_not_a_crash(
    host: HostLayout, tmp_path: Path, content: bytes, reason: str
) -> None:
    host.backup_dir.mkdir(parents=True)
    host.state_file.write_bytes(content)
    for action in (
        lambda: layout_from_state(root=host.root),
        lambda: disable_audit_on_host(host, clock=fixed_clock),
        lambda: apply_desired_state(host, desired(), clock=fixed_clock),
    ):
        error = refused_and_unchanged(action, top=tmp_path, match=reason)
        assert error.path == str(host.state_file)


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_state_file_that_is_not_a_plain_file_is_refused(
    host: HostLayout, tmp_path: Path, kind: str
) -> None:
    host.backup_dir.mkdir(parents=True)
    if kind == "symlink":
        host.state_file.symlink_to(host.root / "etc/kubernetes/pki/sa.key")
    else:
        os.mkfifo(host.state_file)
    refused_and_unchanged(
        lambda: layout_from_state(root=host.root), top=tmp_path, match="kaudit state"
    )


def test_a_layout_with_paths_kaudit_may_not_use_cannot_be_made(tmp_path: Path) -> None:
    with pytest.raises(HostError, match=r"host path log_dir: .* is not under /var/log/"):
        HostLayout(root=tmp_path, paths=HostPathsSpec(log_dir="/"))
    with pytest.raises(HostError, match="host path log_file_name: must be a plain file name"):
        HostLayout(root=tmp_path, paths=HostPathsSpec(), log_file_name="../sa.key")


# --- the pending-change file -------------------------------------------------------------


def test_a_pending_change_round_trips(host: HostLayout) -> None:
    pending = PendingChange(
        snapshot=HostSnapshot(manifest_text="apiVersion: v1\r\n", policy_text="é\n"),
        target=ChangeTarget(generation=7, enabled=True, config_hash="sha256:ab"),
        written_at="2026-12-02T03:00:00.123Z",
        health_timeout_seconds=45,
        auto_rollback=False,
        reported=False,
        stage="restoring",
        restored_at="2026-12-02T03:01:00.456Z",
        nudged=True,
    )
    save_pending_change(host, pending)
    assert load_pending_change(host) == pending


@pytest.mark.parametrize(("target_hash", "enabled"), [("sha256:ab", True), (None, False)])
def test_a_pending_change_from_before_issue_12_loads_with_the_defaults(
    host: HostLayout, target_hash: str | None, enabled: bool
) -> None:
    host.backup_dir.mkdir(parents=True)
    old = {
        "manifestText": "apiVersion: v1\n",
        "policyText": None,
        "targetHash": target_hash,
        "writtenAt": "2026-12-02T03:00:00Z",
    }
    (host.backup_dir / "kaudit-pending-change.json").write_text(json.dumps(old))
    assert load_pending_change(host) == PendingChange(
        snapshot=HostSnapshot(manifest_text="apiVersion: v1\n", policy_text=None),
        target=ChangeTarget(generation=None, enabled=enabled, config_hash=target_hash),
        written_at="2026-12-02T03:00:00Z",
        health_timeout_seconds=120,
        auto_rollback=True,
        reported=True,
        stage="written",
        restored_at=None,
        nudged=False,
    )


WRITTEN = {"manifestText": "x", "writtenAt": "2026-12-02T03:00:00.123Z"}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"policyText": None}, "field manifestText: is missing"),
        ({"manifestText": ["x"]}, "field manifestText: must be a string, found a list"),
        ({"manifestText": "x", "policyText": 5}, "field policyText: must be a string"),
        ({"manifestText": "x", "targetHash": True}, "field targetHash: must be a string"),
        ({"manifestText": "x"}, "field writtenAt: is missing"),
        ({**WRITTEN, "writtenAt": "yesterday"}, "field writtenAt: must be an ISO time"),
        (
            {**WRITTEN, "writtenAt": "2026-12-02T03:00:00"},
            "field writtenAt: must be an ISO time with its zone",
        ),
        ({**WRITTEN, "targetGeneration": "2"}, "field targetGeneration: must be a whole number"),
        ({**WRITTEN, "targetGeneration": True}, "field targetGeneration: must be a whole number"),
        ({**WRITTEN, "targetGeneration": -1}, "field targetGeneration: must be at least 0"),
        ({**WRITTEN, "targetEnabled": "yes"}, "field targetEnabled: must be true or false"),
        ({**WRITTEN, "healthTimeoutSeconds": 0}, "field healthTimeoutSeconds: must be at least 1"),
        ({**WRITTEN, "healthTimeoutSeconds": 1.5}, "field healthTimeoutSeconds: must be a whole"),
        ({**WRITTEN, "autoRollback": 1}, "field autoRollback: must be true or false"),
        ({**WRITTEN, "reported": "no"}, "field reported: must be true or false"),
        ({**WRITTEN, "stage": "done"}, "field stage: must be one of restoring, written"),
        ({**WRITTEN, "restoredAt": 5}, "field restoredAt: must be a string"),
        ({**WRITTEN, "nudged": None, "stage": 1}, "field stage: must be a string"),
        ({**WRITTEN, "nudged": []}, "field nudged: must be true or false, found a list"),
        (
            {"manifestText": "#" * (MAX_MANIFEST_BYTES + 1)},
            "field manifestText: the field manifestText is 1048577 bytes",
        ),
        ([], "must be a JSON object, found a list"),
    ],
)
def test_a_broken_pending_change_is_a_host_error_naming_the_field(
    host: HostLayout, tmp_path: Path, content: object, reason: str
) -> None:
    host.backup_dir.mkdir(parents=True)
    pending = host.backup_dir / "kaudit-pending-change.json"
    pending.write_text(json.dumps(content))
    error = refused_and_unchanged(lambda: load_pending_change(host), top=tmp_path, match=reason)
    assert error.path == str(pending)


def test_a_deeply_nested_pending_change_is_a_host_error(host: HostLayout) -> None:
    host.backup_dir.mkdir(parents=True)
    (host.backup_dir / "kaudit-pending-change.json").write_text("{" + '"a":{' * 100_000)
    with pytest.raises(HostError, match="unreadable kaudit pending change"):
        load_pending_change(host)


def test_status_reports_a_symlinked_log_folder_instead_of_failing(host: HostLayout) -> None:
    host.log_dir.parent.mkdir(parents=True)
    host.log_dir.symlink_to(host.root / "etc/kubernetes/pki")
    status = describe_host(host).as_json()
    assert "is a symlink" in status["auditLog"]["error"]


# --- a full disk -------------------------------------------------------------------------


def test_a_full_disk_during_the_manifest_write_changes_nothing_and_leaves_no_temporary(
    host: HostLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.policy_file.parent.mkdir(parents=True)
    host.policy_file.write_text("# previous policy\n")
    real_write = os.write

    def write(fd: int, data: bytes | memoryview) -> int:
        # Only the manifest's bytes hit the full disk; the policy and backups fit.
        if b"--audit-policy-file=" in bytes(data) and b"kind: Pod" in bytes(data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", write)
        with pytest.raises(HostError, match="No space left on device"):
            apply_desired_state(host, desired(), clock=fixed_clock)
    assert host.manifest.read_text() == KUBEADM_MANIFEST
    assert host.policy_file.read_text() == "# previous policy\n"
    assert os.listdir(host.manifest.parent) == ["kube-apiserver.yaml"]
    assert sorted(os.listdir(host.policy_file.parent)) == [host.policy_file.name]


def test_the_health_gate_sees_no_audit_log_through_a_symlink(host: HostLayout) -> None:
    apply_desired_state(host, desired())
    growing = host.root / "var/log/syslog"
    growing.write_text("grows all the time\n")
    host.log_file.symlink_to(growing)
    assert audit_log_facts(host) == (None, None)
    host.log_file.unlink()
    host.log_file.write_text('{"kind":"Event"}\n')
    size, mtime = audit_log_facts(host)
    assert size == len('{"kind":"Event"}\n')
    assert mtime is not None


def test_a_full_disk_at_the_first_write_leaves_no_new_folder_behind(
    host: HostLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def write(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", write)
        refused_and_unchanged(
            lambda: apply_desired_state(host, desired(), clock=fixed_clock),
            top=tmp_path,
            match="No space left on device",
        )
    assert not (host.root / "etc/kubernetes/tmp").exists()
