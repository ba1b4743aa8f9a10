"""Schedules of the agent model test (tests/unit/agent_model) kept by name: the two defects of
issue 12, and every bug the model found, each with its minimal schedule.

A schedule the shrinker printed goes here as it is; a test may add what the story asserts
beyond the invariants, which every run checks anyway.
"""

from __future__ import annotations

from tests.unit.agent_model.schedules import (
    Crash,
    Event,
    Host,
    KubeletBlind,
    SetSpec,
    Step,
    Tick,
    WorldConfig,
)
from tests.unit.agent_model.universe import MANIFEST_PATH, target
from tests.unit.agent_model.world import World, real_agent

# The agent under test; the model's own tests run these schedules against a toy agent too.
AGENT = real_agent


def test_defect_1_a_change_written_before_a_crash_is_verified_after_the_spec_moved_on() -> None:
    """cp-1 writes the change for generation 1 and its agent dies before verifying it; the
    spec moves to generation 2 (another config) before a new agent starts. The new agent
    verifies the written change (the kubelet runs it healthily), does not roll it back, and
    the rollout goes on: both nodes end Applied for generation 2."""
    config = WorldConfig(hosts=(Host("cp-1"), Host("cp-2")), spec="recommended")
    events: list[Event] = [
        Crash("cp-1", "after-write", 1, restart_after=3),
        *[Step("cp-1")] * 8,
        SetSpec("metadata"),
        Tick(3),
    ]
    world = World(config, agent_factory=AGENT)
    result = world.run(events)
    first = world.nodes["cp-1"].book
    generation_1 = target("recommended", "a").config_hash
    assert [w.config_hash for w in first.writes][:1] == [generation_1], "cp-1 never wrote gen 1"
    assert "RolledBack" not in first.phases
    assert "Failed" not in first.phases
    assert result.outcome == "converged"
    entries = world.api.entries()
    for node in ("cp-1", "cp-2"):
        assert entries[node]["phase"] == "Applied"
        assert entries[node]["observedGeneration"] == 2
        assert entries[node]["configHash"] == target("metadata", "a").config_hash


def test_defect_2_a_crlf_manifest_keeps_its_bytes_through_a_kubelet_nudge_and_disable() -> None:
    """The kubelet misses the first write (kubernetes#109596), so the agent writes the
    manifest again; the rewrite keeps CRLF (invariant 2 reads it), the change is verified,
    and disabling gives back the original bytes exactly (invariant 5)."""
    config = WorldConfig(hosts=(Host("cp-1", line_ending="crlf"),), spec="recommended")
    events: list[Event] = [
        KubeletBlind("cp-1"),
        *[event for _ in range(45) for event in (Step("cp-1"), Tick())],
        SetSpec("off"),
    ]
    world = World(config, agent_factory=AGENT)
    result = world.run(events)
    node = world.nodes["cp-1"]
    assert node.book.rewrites >= 1, "the agent never nudged the kubelet"
    assert "Applied" in node.book.phases
    assert result.outcome == "converged"
    text = node.files.read_text(MANIFEST_PATH, limit=1 << 20, what="manifest")
    assert text == node.book.original
    assert "\r\n" in text
