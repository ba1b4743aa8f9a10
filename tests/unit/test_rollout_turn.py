"""Which node may change its API server, and when the rollout turn is free."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kaudit.rollout.entries import NodeEntry, RolloutTarget
from kaudit.rollout.turn import decide_turn, lease_view, micro_time, rollout_order

TARGET = RolloutTarget(generation=7, enabled=True, config_hash="sha256:new")
ORDER = ["cp-a", "cp-b", "cp-c"]
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def status(phase: str, *, generation: int = 7, config_hash: str = "sha256:new") -> NodeEntry:
    return NodeEntry(phase=phase, observedGeneration=generation, configHash=config_hash)  # type: ignore[typeddict-item]


def test_order_is_sorted_and_the_same_for_every_agent() -> None:
    assert rollout_order(["cp-c", "cp-a", "cp-b", "cp-a"]) == ORDER


def test_the_first_node_may_start_at_once() -> None:
    assert decide_turn(me="cp-a", order=ORDER, entries={}, target=TARGET).may_start


def test_a_node_waits_until_every_node_before_it_is_applied_for_this_generation() -> None:
    statuses = {"cp-a": status("Applied"), "cp-b": status("Verifying")}
    decision = decide_turn(me="cp-c", order=ORDER, entries=statuses, target=TARGET)
    assert not decision.may_start
    assert decision.reason == "waiting for cp-b to finish first"
    statuses["cp-b"] = status("Applied")
    assert decide_turn(me="cp-c", order=ORDER, entries=statuses, target=TARGET).may_start


def test_applied_for_an_older_generation_does_not_count() -> None:
    statuses = {"cp-a": status("Applied", generation=6)}
    assert not decide_turn(me="cp-b", order=ORDER, entries=statuses, target=TARGET).may_start


def test_a_rollback_stops_every_other_node_until_the_spec_changes() -> None:
    statuses = {"cp-a": status("RolledBack")}
    for me in ("cp-b", "cp-c"):
        decision = decide_turn(me=me, order=ORDER, entries=statuses, target=TARGET)
        assert not decision.may_start
        assert "rollout stopped: cp-a RolledBack" in decision.reason
    newer = RolloutTarget(generation=8, enabled=True, config_hash="sha256:fixed")
    assert decide_turn(me="cp-a", order=ORDER, entries=statuses, target=newer).may_start


def test_the_failed_node_does_not_retry_the_same_change() -> None:
    decision = decide_turn(
        me="cp-a", order=ORDER, entries={"cp-a": status("Failed")}, target=TARGET
    )
    assert not decision.may_start


def test_drift_on_a_done_node_is_corrected_without_waiting_for_earlier_nodes() -> None:
    statuses = {"cp-a": status("Verifying"), "cp-c": status("Applied")}
    assert decide_turn(
        me="cp-c", order=ORDER, entries=statuses, target=TARGET, drift_only=True
    ).may_start


def test_drift_correction_still_waits_for_a_stopped_rollout() -> None:
    statuses = {"cp-a": status("RolledBack"), "cp-c": status("Applied")}
    assert not decide_turn(
        me="cp-c", order=ORDER, entries=statuses, target=TARGET, drift_only=True
    ).may_start


def test_disabling_counts_disabled_nodes_as_done() -> None:
    off = RolloutTarget(generation=9, enabled=False, config_hash=None)
    statuses = {"cp-a": status("Disabled", generation=9)}
    assert decide_turn(me="cp-b", order=ORDER, entries=statuses, target=off).may_start


def lease(holder: str | None, renewed: datetime, duration: int = 60) -> dict[str, object]:
    return {
        "spec": {
            "holderIdentity": holder,
            "renewTime": micro_time(renewed),
            "leaseDurationSeconds": duration,
        }
    }


def test_a_lease_held_by_another_live_node_is_not_free() -> None:
    view = lease_view(lease("cp-b", NOW - timedelta(seconds=30)))
    assert not view.free_for("cp-a", NOW)
    assert view.free_for("cp-b", NOW)


def test_a_crashed_holders_lease_expires() -> None:
    view = lease_view(lease("cp-b", NOW - timedelta(seconds=61)))
    assert view.free_for("cp-a", NOW)


def test_a_released_or_missing_lease_is_free() -> None:
    assert lease_view(lease(None, NOW)).free_for("cp-a", NOW)
    assert lease_view(None).free_for("cp-a", NOW)
