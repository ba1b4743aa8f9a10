"""The agent model test: the real NodeAgent, one per node, over generated schedules of crashes,
spec changes, kubelet faults and API outages in a simulated cluster (tests/unit/agent_model),
with the five invariants checked after every event.

    KAUDIT_MODEL_SCHEDULES=200 KAUDIT_MODEL_SEED=7 pytest tests/unit/test_agent_model.py

A violation fails with the seed and the schedule shrunk to a minimal one, printed as a test to
paste into test_agent_model_regressions.py. The world's own parts are tested here too, and
the model must catch a deliberately careless agent.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kaudit.kube.api import KubeError
from tests.unit import test_agent_model_regressions as regressions
from tests.unit.agent_model.api import SimulatedApi
from tests.unit.agent_model.invariants import InvariantViolationError
from tests.unit.agent_model.kubelet import Kubelet
from tests.unit.agent_model.schedules import (
    Crash,
    Event,
    Host,
    KubeletBlind,
    KubeletFailing,
    KubeletSlow,
    Outage,
    RemoveNode,
    SetConfigMap,
    SetSpec,
    Step,
    Tick,
    WorldConfig,
    generate,
)
from tests.unit.agent_model.shrink import find_in_seed, run_schedule, shrink, violation_of
from tests.unit.agent_model.toy_agents import CarefulToyAgent, TurnlessAgent
from tests.unit.agent_model.universe import MANIFEST_PATH, original_text, render_for, renderings
from tests.unit.agent_model.world import MemoryFileSystem, World

DEFAULT_SCHEDULES = 10_000
DEFAULT_SEED = 20261202


def schedules_and_seed() -> tuple[int, int]:
    count = int(os.environ.get("KAUDIT_MODEL_SCHEDULES", str(DEFAULT_SCHEDULES)))
    seed = int(os.environ.get("KAUDIT_MODEL_SEED", str(DEFAULT_SEED)))
    return count, seed


def test_the_agent_keeps_its_promises_over_generated_schedules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    count, seed = schedules_and_seed()
    schedules = steps = 0
    found = None
    for index in range(count):
        result, found = find_in_seed(seed + index)
        schedules += 1
        if found is not None:
            break
        assert result is not None
        steps += result.steps
    with capsys.disabled():
        print(
            f"\nagent model: {schedules} schedules, {steps} steps, "
            f"{0 if found is None else 1} invariant violations"
        )
    assert found is None, str(found)


# --- the world's own parts -----------------------------------------------------------------


def _applied(api: SimulatedApi, node: str, entries: list[dict[str, Any]]) -> None:
    api.apply_audit_config_status({"nodeStatuses": entries}, field_manager=f"agent-{node}")


def test_status_entries_merge_per_field_manager_as_server_side_apply_does() -> None:
    api = SimulatedApi()
    api.put_spec({"enabled": True})
    _applied(api, "a", [{"nodeName": "a", "phase": "Applying"}])
    _applied(api, "b", [{"nodeName": "b", "phase": "Pending"}])
    _applied(api, "a", [{"nodeName": "a", "phase": "Applied"}])
    assert api.entries() == {
        "a": {"nodeName": "a", "phase": "Applied"},
        "b": {"nodeName": "b", "phase": "Pending"},
    }
    _applied(api, "a", [])
    assert list(api.entries()) == ["b"]
    api.mark_deleted("2026-12-02T18:00:00Z")
    assert api.audit_config is not None
    assert api.audit_config["metadata"]["generation"] == 2
    api.finish_deletion()
    with pytest.raises(KubeError) as gone:
        _applied(api, "b", [])
    assert gone.value.not_found


def test_the_lease_is_replaced_only_at_the_version_read() -> None:
    api = SimulatedApi()
    body = {"metadata": {"name": "turn"}, "spec": {"holderIdentity": "a"}}
    first = api.create_lease("ns", body)
    with pytest.raises(KubeError) as exists:
        api.create_lease("ns", body)
    assert exists.value.conflict
    api.replace_lease("ns", "turn", {**first, "spec": {"holderIdentity": "b"}})
    with pytest.raises(KubeError) as stale:
        api.replace_lease("ns", "turn", {**first, "spec": {"holderIdentity": "c"}})
    assert stale.value.conflict


def _kubelet(text: str) -> tuple[Kubelet, Any, list[str]]:
    files = MemoryFileSystem(root=Path("/memory/test"), clock=lambda: 0.0)
    files.make_folders("/etc/kubernetes/manifests")
    files.write_atomically(MANIFEST_PATH, text)
    seen: list[str] = []
    kubelet = Kubelet(
        node="cp-1",
        files=files,
        renderings=renderings(text),
        failing_hashes=frozenset(),
        on_read=lambda _node, read: seen.append(read),
    )
    kubelet.boot(datetime(2026, 12, 2, tzinfo=UTC), 0)
    return kubelet, files, seen


def test_a_blind_kubelet_restarts_the_server_only_after_the_manifest_is_written_again() -> None:
    original = original_text("kubeadm-v1.34.yaml", "crlf")
    kubelet, files, seen = _kubelet(original)
    rendered = next(text for text in renderings(original) if text != original)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    kubelet.faults.ignore_next_change = True
    files.write_atomically(MANIFEST_PATH, rendered)
    for tick in range(1, 5):
        kubelet.tick(now, tick, api_up=True)
    assert kubelet.process.text == original
    files.write_atomically(MANIFEST_PATH, rendered)
    for tick in range(5, 8):
        kubelet.tick(now, tick, api_up=True)
    assert kubelet.process.text == rendered
    assert kubelet.server_ready
    assert seen[-1] == rendered
    assert kubelet.published is not None
    assert kubelet.published["metadata"]["annotations"]["kaudit.io/config-hash"]


def test_every_render_of_a_crlf_original_keeps_crlf() -> None:
    original = original_text("json-flow-style.yaml", "crlf")
    for text in renderings(original):
        assert text.count("\n") == text.count("\r\n")


def test_a_one_node_cluster_has_no_api_while_its_server_restarts() -> None:
    config = WorldConfig(hosts=(Host("cp-1"),), spec="recommended")
    world = World(config, agent_factory=TurnlessAgent)
    world.apply(Step("cp-1"), [])
    world.apply(Tick(), [])
    assert world.nodes["cp-1"].kubelet.process.state == "starting"
    with pytest.raises(KubeError):
        world.api.get_audit_config()
    world.apply(Tick(), [])
    assert world.api.get_audit_config() is not None


def test_the_generator_is_deterministic_and_covers_every_kind_of_event() -> None:
    assert generate(5) == generate(5)
    kinds = {type(event) for seed in range(300) for event in generate(seed)[1]}
    expected = {
        Step,
        Tick,
        SetSpec,
        SetConfigMap,
        RemoveNode,
        Crash,
        KubeletSlow,
        KubeletBlind,
        KubeletFailing,
        Outage,
    }
    assert expected <= kinds


def test_the_model_catches_an_agent_that_takes_no_turn_and_shrinks_the_schedule() -> None:
    config = WorldConfig(hosts=(Host("cp-1"), Host("cp-2", line_ending="crlf")), spec="metadata")
    events: list[Event] = [Step("cp-1"), Tick(3), SetSpec("recommended"), Crash("cp-2", "api", 2)]
    violation = violation_of(config, events, TurnlessAgent)
    assert violation is not None
    assert violation.invariant == "1"
    small, last = shrink(config, events, "1", agent_factory=TurnlessAgent)
    assert len(small) < len(events)
    assert last.invariant == "1"
    with pytest.raises(InvariantViolationError):
        run_schedule(config, small, agent_factory=TurnlessAgent)


def test_renders_are_whole_kaudit_renders() -> None:
    original = original_text("hand-edited-takeover.yaml", "no-final-newline")
    hashes = {r.config_hash for r in renderings(original).values()}
    for config_hash in hashes - {None}:
        assert config_hash is not None
        assert render_for(original, config_hash) in renderings(original)


def test_the_model_finds_nothing_wrong_with_a_careful_agent() -> None:
    """No false alarms: a toy agent that keeps the protocol passes the generated schedules."""
    for seed in range(150):
        config, events = generate(seed)
        found = violation_of(config, events, CarefulToyAgent)
        assert found is None, f"seed {seed}: {found}"


def test_the_regression_schedules_tell_their_story_with_a_careful_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(regressions, "AGENT", CarefulToyAgent)
    regressions.test_defect_1_a_change_written_before_a_crash_is_verified_after_the_spec_moved_on()
    regressions.test_defect_2_a_crlf_manifest_keeps_its_bytes_through_a_kubelet_nudge_and_disable()
