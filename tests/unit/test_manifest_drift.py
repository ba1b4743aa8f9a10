"""Re-enabling after a hand edit (the drift an agent corrects) gives the enabled manifest again."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaudit.config import AuditConfigSpec
from kaudit.desired import desired_state
from kaudit.manifest import ManifestError, disable_audit, enable_audit, inspect_manifest
from kaudit.yamltext import load_single_document

KUBEADM = (
    Path(__file__).resolve().parents[1] / "fixtures" / "kubeadm-kube-apiserver.yaml"
).read_text()
PATCH = desired_state(AuditConfigSpec(), source="test").patch
assert PATCH is not None
ENABLED = enable_audit(KUBEADM, PATCH, source="m")


def without(text: str, marker: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if marker not in line)


def test_flags_removed_by_hand_are_put_back_exactly() -> None:
    edited = without(ENABLED, "    - --audit-")
    assert enable_audit(edited, PATCH, source="m") == ENABLED
    assert disable_audit(enable_audit(edited, PATCH, source="m"), source="m") == KUBEADM


def test_a_strict_disable_of_a_hand_edited_manifest_says_what_to_do() -> None:
    edited = without(ENABLED, "    - --audit-")
    with pytest.raises(ManifestError, match="edited since"):
        disable_audit(edited, source="m")


def test_mounts_and_volumes_removed_by_hand_are_put_back_exactly() -> None:
    edited = without(without(ENABLED, "name: audit-logs"), "mountPath: /var/log/audit")
    edited = edited.replace(
        "  - hostPath:\n      path: /var/log/kubernetes/audit\n      type: DirectoryOrCreate\n", ""
    )
    assert enable_audit(edited, PATCH, source="m") == ENABLED


def test_a_lost_restore_record_still_yields_one_of_each_setting() -> None:
    edited = without(ENABLED, "kaudit.io/restore")
    edited = without(edited, "    - --audit-")
    repaired = enable_audit(edited, PATCH, source="m")
    assert inspect_manifest(repaired, source="m").config_hash == PATCH.config_hash
    for flag, value in PATCH.flags:
        assert repaired.count(f"- {flag}={value}\n") == 1
    pod = load_single_document(repaired)
    assert isinstance(pod, dict)
    volumes = [v["name"] for v in pod["spec"]["volumes"]]
    mounts = [m["name"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
    assert volumes.count("audit-logs") == mounts.count("audit-logs") == 1
    assert volumes.count("audit-policy") == mounts.count("audit-policy") == 1
