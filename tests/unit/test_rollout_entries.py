"""One node's entry: when it says done or failed, how it is read, and how it is updated."""

from __future__ import annotations

import pytest

from kaudit.rollout.entries import (
    NodeEntry,
    RolloutTarget,
    entries_by_node,
    entries_not_listed,
    entry_from_data,
    failed_for_target,
    node_is_done,
    updated_entry,
)

NOW = "2026-11-26T12:00:00Z"
LATER = "2026-11-26T12:05:00Z"
ON = RolloutTarget(generation=4, enabled=True, config_hash="sha256:new")
OFF = RolloutTarget(generation=4, enabled=False, config_hash=None)


@pytest.mark.parametrize(
    ("entry", "target", "done"),
    [
        ({"phase": "Applied", "observedGeneration": 4, "configHash": "sha256:new"}, ON, True),
        ({"phase": "Applied", "observedGeneration": 3, "configHash": "sha256:new"}, ON, False),
        ({"phase": "Applied", "observedGeneration": 4, "configHash": "sha256:old"}, ON, False),
        ({"phase": "Verifying", "observedGeneration": 4, "configHash": "sha256:new"}, ON, False),
        ({"phase": "Disabled", "observedGeneration": 4}, OFF, True),
        ({"phase": "Applied", "observedGeneration": 4, "configHash": "sha256:new"}, OFF, False),
        (None, ON, False),
        # A target without a generation (a hand-made body) is reached by no entry, not by
        # every entry that names no generation either.
        (
            {"phase": "Disabled"},
            RolloutTarget(generation=None, enabled=False, config_hash=None),
            False,
        ),
    ],
)
def test_node_is_done_for_this_generation_and_config_only(
    entry: NodeEntry | None, target: RolloutTarget, done: bool
) -> None:
    assert node_is_done(entry, target) is done


@pytest.mark.parametrize(
    ("entry", "failed"),
    [
        ({"phase": "RolledBack", "observedGeneration": 4}, True),
        ({"phase": "Failed", "observedGeneration": 4}, True),
        # Changing the spec is how a user resumes a stopped rollout.
        ({"phase": "RolledBack", "observedGeneration": 3}, False),
        ({"phase": "Applied", "observedGeneration": 4}, False),
        (None, False),
    ],
)
def test_a_failure_counts_for_its_own_generation_only(
    entry: NodeEntry | None, failed: bool
) -> None:
    assert failed_for_target(entry, ON) is failed


def test_an_entry_keeps_only_fields_of_the_right_type() -> None:
    entry = entry_from_data(
        {
            "nodeName": "cp-1",
            "phase": "Applied",
            "observedGeneration": "4",
            "failureCount": True,
            "configHash": "sha256:new",
            "surprise": "x",
        }
    )
    assert entry == {"nodeName": "cp-1", "phase": "Applied", "configHash": "sha256:new"}
    assert entry_from_data({"nodeName": "cp-1", "phase": "Exploded"}) == {"nodeName": "cp-1"}


def test_entries_without_a_node_name_are_left_out() -> None:
    items = [{"nodeName": "cp-2", "phase": "Applied"}, {"phase": "Failed"}, {"nodeName": 5}, "x", 7]
    assert entries_by_node(items) == {"cp-2": {"nodeName": "cp-2", "phase": "Applied"}}
    assert entries_by_node({"nodeName": "cp-1"}) == {}
    assert entries_by_node(None) == {}


def test_a_progress_report_keeps_the_config_the_node_runs() -> None:
    applied = NodeEntry(
        nodeName="cp-1", phase="Applied", configHash="sha256:new", observedGeneration=4
    )
    again = updated_entry(
        applied,
        phase="Applied",
        message="still on",
        now=LATER,
        generation=4,
        target_hash="sha256:new",
        applied_hash=None,
        failure=None,
    )
    # Dropping the hash here made the summary flap between 1/1 and 0/1 every second.
    assert again["configHash"] == "sha256:new"
    assert "lastTransitionTime" not in again


def test_audit_off_clears_the_config_and_a_failure_is_counted() -> None:
    applied = NodeEntry(nodeName="cp-1", phase="Applied", configHash="sha256:new")
    off = updated_entry(
        applied,
        phase="Disabled",
        message="off",
        now=NOW,
        generation=5,
        target_hash=None,
        applied_hash="",
        failure=None,
    )
    assert "configHash" not in off
    assert off["lastTransitionTime"] == NOW
    failed = updated_entry(
        off,
        phase="RolledBack",
        message="rolled back",
        now=LATER,
        generation=6,
        target_hash="sha256:bad",
        applied_hash=None,
        failure="no /readyz in 300s",
    )
    assert failed["failureCount"] == 1
    assert failed["lastFailedConfigHash"] == "sha256:bad"
    assert failed["lastFailedTime"] == LATER


def test_entries_of_nodes_not_listed_are_found() -> None:
    entries = [{"nodeName": "cp-1"}, {"nodeName": "cp-3"}, {"phase": "Pending"}]
    assert entries_not_listed(entries, ["cp-1", "cp-2"]) == ["cp-3"]
    assert entries_not_listed(entries, ["cp-1", "cp-3"]) == []
