"""Where kaudit may write on a host: the canonical form and the allow-list, case by case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kaudit.config import AuditConfigSpec, ConfigError, audit_config_spec_from_data
from kaudit.paths import (
    MAX_PATH_BYTES,
    backup_dir_problem,
    canonical_path_problem,
    file_name_problem,
    host_paths_problem,
    kube_apiserver_file_problem,
    log_dir_problem,
    log_path_problem,
    manifest_problem,
)

Rule = Callable[[str], str | None]

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
        "/var/log/kubernetes/audit",
        "/srv/a b/c.yaml",  # a space is a plain character
        "/etc/kubernetes/audit-policy/politique-d'audit.yaml",
        "/" + "a" * 255,
    ],
)
def test_canonical_paths_are_accepted(path: str) -> None:
    assert canonical_path_problem(path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "must be an absolute path"),
        ("etc/kubernetes/x", "must be an absolute path"),
        ("~/x", "must be an absolute path"),
        (
            "//etc/kubernetes/manifests/audit-policy.yaml",
            "without '//': found '//etc/kubernetes/manifests/audit-policy.yaml', "
            "write it as '/etc/kubernetes/manifests/audit-policy.yaml'",
        ),
        ("/etc//kubernetes/x", "without '//'"),
        ("/var/log/audit/", "without a trailing '/'"),
        ("/etc/./kubernetes/x", "without a '.' component"),
        (
            "/../outside/x",
            "without a '..' component: found '/../outside/x', write it as '/outside/x'",
        ),
        ("/etc/kubernetes/audit/../pki/x", "write it as '/etc/kubernetes/pki/x'"),
        ("/etc/kubernetes/a\x00b", "U+0000 at position 17"),
        ("/etc/kubernetes/a\nb", "U+000A"),
        ("/etc/kubernetes/a\x7fb", "U+007F"),
        ("/etc/kubernetes/\u202eyaml.x", "U+202E"),  # right-to-left override
        ("/etc/kubernetes/a\u2028b", "U+2028"),
        ("/etc/kubernetes/\udc80", "U+DC80"),  # a lone surrogate, as JSON can carry
        ("/" + "a" * (MAX_PATH_BYTES + 1), f"limit of {MAX_PATH_BYTES} bytes"),
        ("/" + "é" * 600, f"limit of {MAX_PATH_BYTES} bytes"),
        ("/" + "a" * 256, "name over 255 bytes"),
    ],
)
def test_non_canonical_paths_are_refused_with_the_canonical_form(path: str, reason: str) -> None:
    problem = canonical_path_problem(path)
    assert problem is not None
    assert reason in problem


def test_a_long_path_is_shown_cut_short() -> None:
    problem = canonical_path_problem("/x/" + "a" * 500 + "//b")
    assert problem is not None
    assert len(problem) < 400


@pytest.mark.parametrize(
    ("rule", "path", "reason"),
    [
        (manifest_problem, "/etc/kubernetes/manifests/kube-apiserver.yaml", None),
        (manifest_problem, "/etc/kubernetes/manifests/apiserver.json", None),
        (manifest_problem, "/etc/kubernetes/kube-apiserver.yaml", "directly in"),
        (manifest_problem, "/etc/kubernetes/manifests/sub/kube-apiserver.yaml", "directly in"),
        (manifest_problem, "/etc/kubernetes/manifests/.hidden.yaml", "start with a dot"),
        (manifest_problem, "/etc/kubernetes/manifests", "directly in"),
        (manifest_problem, "//etc/kubernetes/manifests/kube-apiserver.yaml", "'//'"),
        (kube_apiserver_file_problem, "/etc/kubernetes/audit-policy/policy.yaml", None),
        (kube_apiserver_file_problem, "/etc/kubernetes/audit/deep/policy.yaml", None),
        (kube_apiserver_file_problem, "/etc/kubernetes/admin.conf", "not in a folder under"),
        (kube_apiserver_file_problem, "/etc/audit/policy.yaml", "not in a folder under"),
        (kube_apiserver_file_problem, "/policy.yaml", "not in a folder under"),
        (
            kube_apiserver_file_problem,
            "/etc/kubernetes/manifests/p.yaml",
            "run a file there as a pod",
        ),
        (kube_apiserver_file_problem, "/etc/kubernetes/pki/p.yaml", "certificates and keys"),
        (kube_apiserver_file_problem, "/etc/kubernetes/pki/etcd/p.yaml", "certificates and keys"),
        (kube_apiserver_file_problem, "/etc/kubernetes/tmp/p.yaml", "etcd snapshots"),
        (kube_apiserver_file_problem, "/etc/kubernetes/tmp/kaudit/p.yaml", "etcd snapshots"),
        (kube_apiserver_file_problem, "/etc/kubernetes/pki-other/p.yaml", None),
        (log_dir_problem, "/var/log/kubernetes/audit", None),
        (log_dir_problem, "/var/log/kube-audit", None),
        (log_dir_problem, "/", "not under /var/log/"),
        (log_dir_problem, "/var/log", "/var/log itself"),
        (log_dir_problem, "/var", "not under /var/log/"),
        (log_dir_problem, "/var/logs/audit", "not under /var/log/"),
        (log_dir_problem, "/etc/kubernetes/pki", "not under /var/log/"),
        (log_dir_problem, "/var/log/pods", "inside /var/log/pods"),
        (log_dir_problem, "/var/log/pods/kube-system_x", "inside /var/log/pods"),
        (log_dir_problem, "/var/log/containers", "inside /var/log/containers"),
        (log_dir_problem, "/var/log/journal", "inside /var/log/journal"),
        (log_dir_problem, "/var/log/../../etc", "'..'"),
        (log_path_problem, "/var/log/audit/kube-apiserver-audit.log", None),
        (log_path_problem, "/var/log/k8s/audit/audit.log", None),
        (log_path_problem, "/var/log/audit.log", "/var/log itself"),
        (log_path_problem, "/etc/kubernetes/pki/audit.log", "not under /var/log/"),
        (log_path_problem, "//etc/kubernetes/pki/audit.log", "'//'"),
        (log_path_problem, "/var/log/pods/audit.log", "inside /var/log/pods"),
        (log_path_problem, "audit.log", "absolute path"),
        (backup_dir_problem, "/etc/kubernetes/tmp/kaudit", None),
        (backup_dir_problem, "/etc/kubernetes/kaudit-backups", None),
        (backup_dir_problem, "/etc/kubernetes/tmp", "etcd snapshots"),
        (backup_dir_problem, "/etc/kubernetes", "not under /etc/kubernetes/"),
        (backup_dir_problem, "/etc/kubernetes/manifests", "run a file there as a pod"),
        (backup_dir_problem, "/etc/kubernetes/manifests/old", "run a file there as a pod"),
        (backup_dir_problem, "/etc/kubernetes/pki", "certificates and keys"),
        (backup_dir_problem, "/srv/backups", "not under /etc/kubernetes/"),
        (backup_dir_problem, "/etc/kubernetes/tmp/", "trailing '/'"),
        (file_name_problem, "kube-apiserver-audit.log", None),
        (file_name_problem, "", "plain file name"),
        (file_name_problem, "..", "plain file name"),
        (file_name_problem, "../../etc/passwd", "plain file name"),
        (file_name_problem, "a\x00b", "U+0000"),
    ],
)
def test_each_path_may_be_only_in_its_own_place(rule: Rule, path: str, reason: str | None) -> None:
    problem = rule(path)
    if reason is None:
        assert problem is None
    else:
        assert problem is not None
        assert reason in problem


def test_every_refusal_says_what_is_allowed() -> None:
    for problem in (
        kube_apiserver_file_problem("/etc/kubernetes/pki/p.yaml"),
        log_dir_problem("/"),
        log_path_problem("/var/log/pods/a.log"),
        backup_dir_problem("/etc/kubernetes/tmp"),
    ):
        assert problem is not None
        assert "such as /" in problem
    assert "directly in" in (manifest_problem("/x.yaml") or "")


def test_backups_and_the_policy_folder_are_kept_apart() -> None:
    defaults = AuditConfigSpec().host_paths
    assert (
        host_paths_problem(
            manifest=defaults.manifest,
            policy_file=defaults.policy_file,
            log_dir=defaults.log_dir,
            backup_dir=defaults.backup_dir,
        )
        is None
    )
    for backup_dir in ("/etc/kubernetes/audit-policy", "/etc/kubernetes/audit-policy/old"):
        found = host_paths_problem(
            manifest=defaults.manifest,
            policy_file=defaults.policy_file,
            log_dir=defaults.log_dir,
            backup_dir=backup_dir,
        )
        assert found is not None
        assert found[0] == "backupDir"
        assert "mounted into kube-apiserver" in found[1]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (
            {"hostPaths": {"policyFile": "//etc/kubernetes/manifests/audit-policy.yaml"}},
            "policyFile",
        ),
        ({"hostPaths": {"logDir": "/"}}, "logDir"),
        ({"hostPaths": {"logDir": "/etc/kubernetes/pki"}}, "logDir"),
        ({"hostPaths": {"backupDir": "/etc/kubernetes/tmp"}}, "backupDir"),
        ({"hostPaths": {"manifest": "/etc/kubernetes/manifests/../admin.conf"}}, "manifest"),
    ],
)
def test_the_spec_names_the_host_path_field_it_refuses(spec: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        audit_config_spec_from_data(spec, source="auditconfig.yaml")
    assert caught.value.field == f"spec.hostPaths.{field}"
    assert str(caught.value).startswith(f"auditconfig.yaml: spec.hostPaths.{field}: ")
