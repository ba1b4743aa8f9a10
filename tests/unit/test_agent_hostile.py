"""A node agent given a bad policy or unusable host files reports the problem and carries on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from kaudit.agent.node_agent import AgentSettings, NodeAgent
from kaudit.config import HostPathsSpec
from kaudit.hostio.files import (
    PENDING_FILE_NAME,
    ChangeTarget,
    HostLayout,
    HostSnapshot,
    PendingChange,
    save_pending_change,
)
from kaudit.limits import MAX_MESSAGE_CHARS
from tests.unit.policy_bombs import BAD_POLICIES, BOMB, MANY_LONG_ERRORS, RENDERS_TOO_LARGE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = (FIXTURES / "kubeadm-kube-apiserver.yaml").read_text(encoding="utf-8")


class FakeApi:
    """The few calls a pass makes before it would write anything."""

    def __init__(self, body: dict[str, Any] | None, config_map: str | None = None) -> None:
        self.body = body
        self.config_map = config_map
        self.reports: list[dict[str, Any]] = []

    def get_audit_config(self) -> dict[str, Any] | None:
        return self.body

    def node_names(self, selector: object) -> list[str]:
        return ["cp-1"]

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        return self.config_map

    def apply_audit_config_status(self, status: dict[str, Any], *, field_manager: str) -> None:
        self.reports.append(status)

    def get_pod(self, namespace: str, name: str) -> None:
        return None

    def record_event(self, **kwargs: object) -> None:
        return None

    def get_lease(self, namespace: str, name: str) -> None:
        return None


def body(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "cluster", "generation": 2}, "spec": spec}


def agent_for(api: FakeApi, root: Path) -> NodeAgent:
    settings = AgentSettings(node_name="cp-1", host_root=root)
    return NodeAgent(api, settings, sleep=lambda _: None)  # type: ignore[arg-type]


def host(root: Path, manifest: str = MANIFEST) -> HostLayout:
    layout = HostLayout(root=root, paths=HostPathsSpec())
    layout.manifest.parent.mkdir(parents=True)
    layout.manifest.write_text(manifest, encoding="utf-8", newline="")
    return layout


def last_message(api: FakeApi) -> str:
    assert api.reports, "the agent reported nothing"
    return str(api.reports[-1]["nodeStatuses"][0]["message"])


CONFIG_MAP_SPEC = {"policy": {"configMapRef": {"name": "audit"}}}


@pytest.mark.parametrize(
    ("policy", "expected"),
    [(policy, expected) for _, policy, expected in BAD_POLICIES],
    ids=[name for name, _, _ in BAD_POLICIES],
)
def test_a_bad_policy_is_reported_on_the_node_entry(
    tmp_path: Path, policy: str, expected: str
) -> None:
    host(tmp_path)
    api = FakeApi(body(CONFIG_MAP_SPEC), config_map=policy)
    agent_for(api, tmp_path).reconcile_once()
    message = last_message(api)
    assert message.startswith("policy not applied:")
    assert expected in message


def test_a_policy_the_agent_could_not_read_back_is_not_written(tmp_path: Path) -> None:
    layout = host(tmp_path)
    api = FakeApi(body(CONFIG_MAP_SPEC), config_map=RENDERS_TOO_LARGE)
    agent_for(api, tmp_path).reconcile_once()
    assert "policy as kaudit writes it" in last_message(api)
    assert not layout.policy_file.exists()


def test_a_policy_with_many_long_errors_is_reported_in_a_short_message(tmp_path: Path) -> None:
    host(tmp_path)
    api = FakeApi(body(CONFIG_MAP_SPEC), config_map=MANY_LONG_ERRORS)
    agent_for(api, tmp_path).reconcile_once()
    message = last_message(api)
    assert message.startswith("policy not applied:")
    assert len(message) < MAX_MESSAGE_CHARS + 200


def test_a_bad_policy_does_not_stop_the_pending_change_recovery(tmp_path: Path) -> None:
    # A previous run backed up and recorded a change, then died before writing the manifest:
    # the record must be undone whatever the policy now is.
    layout = host(tmp_path)
    snapshot = HostSnapshot(manifest_text=MANIFEST, policy_text=None)
    save_pending_change(
        layout,
        PendingChange(
            snapshot=snapshot,
            target=ChangeTarget(generation=1, enabled=True, config_hash="abc"),
            written_at="2026-12-01T00:00:00Z",
        ),
    )
    api = FakeApi(body(CONFIG_MAP_SPEC), config_map=BOMB)
    agent_for(api, tmp_path).reconcile_once()
    assert not (layout.backup_dir / PENDING_FILE_NAME).exists()
    assert "excessive aliasing" in last_message(api)


def test_an_unreadable_pending_change_is_reported_not_a_crash(tmp_path: Path) -> None:
    layout = host(tmp_path)
    layout.backup_dir.mkdir(parents=True)
    (layout.backup_dir / PENDING_FILE_NAME).write_text("{not json", encoding="utf-8")
    api = FakeApi(body({}))
    agent_for(api, tmp_path).reconcile_once()
    assert last_message(api).startswith("host files not usable:")
    assert PENDING_FILE_NAME in last_message(api)


def test_a_symlinked_manifest_is_reported_not_followed(tmp_path: Path) -> None:
    layout = host(tmp_path)
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(MANIFEST, encoding="utf-8")
    layout.manifest.unlink()
    layout.manifest.symlink_to(elsewhere)
    api = FakeApi(body({}))
    agent_for(api, tmp_path).reconcile_once()
    assert "host files not usable:" in last_message(api)
    assert "symlink" in last_message(api)
    assert elsewhere.read_text(encoding="utf-8") == MANIFEST


def test_the_health_gate_falls_back_to_kubeadms_defaults_on_a_symlinked_manifest(
    tmp_path: Path,
) -> None:
    # Mid-gate, a manifest the host layer refuses must not raise: the gate has to be able to
    # go on and roll back. It names the mirror pod and /readyz as kubeadm would.
    layout = host(tmp_path)
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(MANIFEST, encoding="utf-8")
    layout.manifest.unlink()
    layout.manifest.symlink_to(elsewhere)
    agent = agent_for(FakeApi(body({})), tmp_path)
    assert agent._mirror_pod_name(layout) == "kube-apiserver-cp-1"
    assert agent._readyz_url(layout) == "https://127.0.0.1:6443/readyz"


def test_a_fifo_manifest_is_reported_without_waiting_for_a_writer(tmp_path: Path) -> None:
    layout = host(tmp_path)
    layout.manifest.unlink()
    os.mkfifo(layout.manifest)
    api = FakeApi(body({}))
    agent_for(api, tmp_path).reconcile_once()
    assert "not a regular file" in last_message(api)


def test_a_spec_that_is_not_a_mapping_is_reported(tmp_path: Path) -> None:
    host(tmp_path)
    api = FakeApi({"metadata": {"name": "cluster", "generation": 1}, "spec": ["a", "list"]})
    agent_for(api, tmp_path).reconcile_once()
    assert last_message(api).startswith("AuditConfig cluster")


def test_a_crlf_manifest_that_matches_needs_no_change(tmp_path: Path) -> None:
    # The agent reads host files byte for byte: a CRLF manifest kaudit never touched, with
    # audit logging off, is already as desired, so the pass reports instead of rewriting it.
    crlf = MANIFEST.replace("\n", "\r\n")
    layout = host(tmp_path, crlf)
    api = FakeApi(body({"enabled": False}))
    agent_for(api, tmp_path).reconcile_once()
    assert layout.manifest.read_bytes() == crlf.encode("utf-8")
    assert api.reports[-1]["nodeStatuses"][0]["phase"] == "Disabled"
