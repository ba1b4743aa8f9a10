"""The `kaudit` command as a user runs it: exit codes, one-line errors, and what it prints."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kaudit.cli import run
from kaudit.policy import check_policy_text
from tests.corpus import shared_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
KUBEADM_MANIFEST = FIXTURES / "kubeadm-kube-apiserver.yaml"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "auditconfig.yaml"


def kaudit(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([str(arg) for arg in argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def host_root(tmp_path: Path) -> Path:
    manifest = tmp_path / "etc/kubernetes/manifests/kube-apiserver.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(KUBEADM_MANIFEST.read_text())
    return tmp_path


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["policy"],
        ["policy", "validate"],
        ["policy", "lint"],
        ["policy", "preset"],
        ["manifest", "render"],
        ["node", "apply"],
        ["node", "disable"],
        ["node", "status"],
    ],
)
def test_every_command_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = kaudit(*command, "--help")
    assert code == 0
    assert "usage: kaudit" in capsys.readouterr().out


def test_an_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = kaudit("policy", "frobnicate")
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("kaudit: ")


def test_validate_accepts_the_seed_policy() -> None:
    seed = shared_file("seed", "apiserver-audit-policy.yaml")
    code, out, _ = kaudit("policy", "validate", seed)
    assert code == 0
    assert out == f"{seed}: valid\n"


def test_validate_names_the_file_the_rule_and_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
        "- level: Metadata\n- level: Everything\n"
    )
    code, _, err = kaudit("policy", "validate", bad)
    assert code == 1
    assert f"{bad}: rules[1].level" in err
    assert "Everything" in err


def test_validate_reports_every_file_and_fails_if_one_is_invalid(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    code, out, err = kaudit("policy", "validate", good, empty)
    assert code == 1
    assert f"{good}: valid" in out
    assert str(empty) in err


def test_a_missing_file_is_one_line_without_traceback(tmp_path: Path) -> None:
    code, _, err = kaudit("policy", "validate", tmp_path / "nope.yaml")
    assert code == 1
    assert err == f"kaudit: {tmp_path / 'nope.yaml'}: no such file\n"


def test_lint_warns_about_the_seed_policys_dead_rule_and_strict_fails() -> None:
    seed = shared_file("seed", "apiserver-audit-policy.yaml")
    code, _, err = kaudit("policy", "lint", seed)
    assert code == 0
    assert "warning:" in err
    assert "kube-admin" in err or "never match" in err
    strict_code, _, strict_err = kaudit("policy", "lint", "--strict", seed)
    assert strict_code == 1
    assert "error:" in strict_err


@pytest.mark.parametrize(
    "name", ["Recommended", "Metadata", "WriteRequestBodies", "AllRequestBodies", "None"]
)
def test_every_preset_prints_as_a_valid_policy(name: str) -> None:
    code, out, _ = kaudit("policy", "preset", name)
    assert code == 0
    assert [p for p in check_policy_text(out, source=name) if p.severity == "error"] == []


def test_an_unknown_preset_lists_the_known_ones() -> None:
    code, _, err = kaudit("policy", "preset", "Verbose")
    assert code == 1
    assert "Recommended" in err


def test_manifest_render_prints_the_patched_manifest_and_writes_nothing(tmp_path: Path) -> None:
    manifest = tmp_path / "kube-apiserver.yaml"
    manifest.write_text(KUBEADM_MANIFEST.read_text())
    code, out, _ = kaudit("manifest", "render", "--config", EXAMPLE_CONFIG, manifest)
    assert code == 0
    assert "--audit-policy-file=/etc/kubernetes/audit-policy/apiserver-audit-policy.yaml" in out
    assert manifest.read_text() == KUBEADM_MANIFEST.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kube-apiserver.yaml"]


def test_manifest_render_diff_shows_only_added_lines(tmp_path: Path) -> None:
    code, out, _ = kaudit(
        "manifest", "render", "--config", EXAMPLE_CONFIG, "--diff", KUBEADM_MANIFEST
    )
    assert code == 0
    changed = [
        line
        for line in out.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed
    assert all(line.startswith("+") for line in changed)
    assert "+    - --audit-log-maxage=30" in changed


def test_manifest_render_disable_restores_what_render_added(tmp_path: Path) -> None:
    _, enabled, _ = kaudit("manifest", "render", "--config", EXAMPLE_CONFIG, KUBEADM_MANIFEST)
    patched = tmp_path / "patched.yaml"
    patched.write_text(enabled)
    code, restored, _ = kaudit("manifest", "render", "--disable", patched)
    assert code == 0
    assert restored == KUBEADM_MANIFEST.read_text()


def test_manifest_render_without_config_is_a_usage_error() -> None:
    code, _, err = kaudit("manifest", "render", KUBEADM_MANIFEST)
    assert code == 2
    assert "--config" in err


def test_manifest_render_of_a_pod_that_is_not_kube_apiserver_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "etcd.yaml"
    other.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: etcd}\n"
        "spec:\n  containers:\n  - name: etcd\n    command: [etcd]\n"
    )
    code, out, err = kaudit("manifest", "render", "--config", EXAMPLE_CONFIG, other)
    assert code == 1
    assert out == ""
    assert err.startswith(f"kaudit: {other}: ")
    assert err.count("\n") == 1


def test_a_bad_config_names_its_field(tmp_path: Path) -> None:
    config = tmp_path / "auditconfig.yaml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("maxAge: 30", "maxAge: thirty"))
    code, _, err = kaudit("manifest", "render", "--config", config, KUBEADM_MANIFEST)
    assert code == 1
    assert (
        err
        == f"kaudit: {config}: spec.log.maxAge: must be a whole number, found the string 'thirty'\n"
    )


def test_node_apply_status_and_disable_round_trip(host_root: Path) -> None:
    code, out, _ = kaudit("node", "apply", "--config", EXAMPLE_CONFIG, "--host-root", host_root)
    assert code == 0
    applied = json.loads(out)
    assert applied["changed"] is True
    assert applied["configHash"].startswith("sha256:")

    code, out, _ = kaudit("node", "status", "--host-root", host_root)
    assert code == 0
    status = json.loads(out)
    assert status["manifest"]["auditEnabled"] is True
    assert status["manifest"]["configHash"] == applied["configHash"]
    assert status["newestBackup"]["path"] == applied["manifestBackup"]

    code, out, _ = kaudit("node", "disable", "--host-root", host_root)
    assert code == 0
    assert json.loads(out)["changed"] is True
    manifest = host_root / "etc/kubernetes/manifests/kube-apiserver.yaml"
    assert manifest.read_text() == KUBEADM_MANIFEST.read_text()


def test_node_apply_with_a_config_map_policy_needs_the_policy_text(
    host_root: Path, tmp_path: Path
) -> None:
    config = tmp_path / "auditconfig.yaml"
    config.write_text(
        "apiVersion: kaudit.io/v1alpha1\nkind: AuditConfig\nmetadata: {name: cluster}\n"
        "spec:\n  policy:\n    configMapRef: {name: my-policy}\n"
    )
    code, _, err = kaudit("node", "apply", "--config", config, "--host-root", host_root)
    assert code == 1
    assert "spec.policy.configMapRef" in err
    policy = tmp_path / "policy.yaml"
    policy.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    code, _, _ = kaudit(
        "node", "apply", "--config", config, "--policy-file", policy, "--host-root", host_root
    )
    assert code == 0


def test_the_installed_console_script_runs() -> None:
    script = Path(sys.executable).with_name("kaudit")
    result = subprocess.run(
        [str(script), "policy", "preset", "Metadata"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "kind: Policy" in result.stdout


POLICY = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n"


@pytest.mark.parametrize("command", ["validate", "lint"])
def test_a_utf16_policy_file_is_read_as_kube_apiserver_reads_it(
    tmp_path: Path, command: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_bytes(b"\xff\xfe" + POLICY.encode("utf-16-le"))
    code, out, err = kaudit("policy", command, policy)
    assert (code, err) == (0, "")
    assert out.startswith(f"{policy}: ")


def test_a_flow_mapping_with_a_comment_is_refused_because_kube_apiserver_reads_it_as_json(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("{apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: None}]} # x\n")
    code, out, err = kaudit("policy", "validate", policy)
    assert (code, out) == (1, "")
    assert f"error: {policy}: not valid JSON: " in err
    assert "kube-apiserver reads a file whose first character is { as JSON only" in err
