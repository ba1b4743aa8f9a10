"""What `kubectl get auditconfig` and `kubectl wait --for=condition=Ready` see."""

from __future__ import annotations

from collections.abc import Iterable

from kaudit.rollout.conditions import Summary, summarize
from kaudit.rollout.entries import NodeEntry, RolloutTarget

NOW = "2026-11-26T12:00:00Z"
LATER = "2026-11-26T12:05:00Z"
NODES = ["cp-1", "cp-2", "cp-3"]
ON = RolloutTarget(generation=4, enabled=True, config_hash="sha256:new")


def entry(
    node: str, phase: str, *, generation: int = 4, config_hash: str = "sha256:new", **extra: object
) -> NodeEntry:
    return NodeEntry(
        nodeName=node, phase=phase, observedGeneration=generation, configHash=config_hash, **extra
    )  # type: ignore[typeddict-item]


def by_node(entries: Iterable[NodeEntry]) -> dict[str, NodeEntry]:
    return {e["nodeName"]: e for e in entries}


def conditions(summary: Summary) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in summary.conditions}


def test_all_nodes_applied_for_this_generation_is_ready() -> None:
    summary = summarize(
        target=ON,
        selected_nodes=NODES,
        entries=by_node([entry(n, "Applied") for n in NODES]),
        now=NOW,
    )
    assert summary.nodes_ready == "3/3"
    assert summary.phase == "Enabled"
    assert conditions(summary) == {
        "Ready": ("True", "AuditLogging"),
        "Reconciling": ("False", "Idle"),
        "Stalled": ("False", "Progressing"),
    }
    assert all(c["observedGeneration"] == 4 for c in summary.conditions)


def test_a_node_applied_for_an_older_generation_is_not_counted() -> None:
    statuses = [
        entry("cp-1", "Applied"),
        entry("cp-2", "Applied", generation=3),
        entry("cp-3", "Verifying"),
    ]
    summary = summarize(target=ON, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
    assert summary.nodes_ready == "1/3"
    assert conditions(summary)["Reconciling"] == ("True", "RollingOut")
    assert conditions(summary)["Ready"][0] == "False"
    assert "cp-3 Verifying" in summary.message


def test_a_node_with_the_old_hash_is_not_done() -> None:
    statuses = [entry(n, "Applied", config_hash="sha256:old") for n in NODES]
    summary = summarize(target=ON, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
    assert summary.nodes_ready == "0/3"
    assert summary.phase == "Progressing"


def test_a_rolled_back_node_stalls_the_rollout_with_its_reason() -> None:
    statuses = [
        entry(
            "cp-1", "RolledBack", lastFailedReason="kube-apiserver did not answer /readyz in 120s"
        ),
        entry("cp-2", "Pending"),
    ]
    summary = summarize(target=ON, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
    assert conditions(summary)["Stalled"] == ("True", "RolledBack")
    assert conditions(summary)["Reconciling"][0] == "False"
    assert summary.phase == "Degraded"
    assert "cp-1" in summary.message
    assert "/readyz" in summary.message


def test_a_rollback_from_an_older_generation_does_not_stall_the_new_spec() -> None:
    statuses = [entry("cp-1", "RolledBack", generation=3), entry("cp-2", "Applied")]
    summary = summarize(target=ON, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
    assert conditions(summary)["Stalled"][0] == "False"
    assert conditions(summary)["Reconciling"][0] == "True"


def test_reconciling_and_stalled_are_never_both_true() -> None:
    cases = [
        [entry("cp-1", "Failed"), entry("cp-2", "Applying")],
        [entry("cp-1", "Applying")],
        [entry(n, "Applied") for n in NODES],
        [],
    ]
    for statuses in cases:
        found = conditions(
            summarize(target=ON, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
        )
        assert not (found["Reconciling"][0] == "True" and found["Stalled"][0] == "True")


def test_disabled_everywhere_is_ready_with_audit_off() -> None:
    off = RolloutTarget(generation=5, enabled=False, config_hash=None)
    statuses = [entry(n, "Disabled", generation=5) for n in NODES]
    summary = summarize(target=off, selected_nodes=NODES, entries=by_node(statuses), now=NOW)
    assert summary.phase == "Disabled"
    assert conditions(summary)["Ready"] == ("True", "AuditLoggingOff")


def test_an_invalid_policy_stalls_with_the_validators_message() -> None:
    bad = RolloutTarget(generation=2, enabled=True, config_hash=None)
    summary = summarize(
        target=bad,
        policy_problem="configmap kaudit-system/p key k: rules[0].level: Required value",
        selected_nodes=NODES,
        entries={},
        now=NOW,
    )
    assert conditions(summary)["Stalled"] == ("True", "PolicyInvalid")
    assert "rules[0].level" in summary.message


def test_no_selected_node_is_stalled() -> None:
    summary = summarize(target=ON, selected_nodes=[], entries={}, now=NOW)
    assert conditions(summary)["Stalled"] == ("True", "NoNodesSelected")
    assert summary.nodes_ready == "0/0"


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = summarize(target=ON, selected_nodes=NODES, entries={}, now=NOW)
    same = summarize(
        target=ON,
        selected_nodes=NODES,
        entries=by_node([entry("cp-1", "Applying")]),
        previous=first.conditions,
        now=LATER,
    )
    ready = {c["type"]: c for c in same.conditions}
    assert ready["Reconciling"]["lastTransitionTime"] == NOW
    done = summarize(
        target=ON,
        selected_nodes=NODES,
        entries=by_node([entry(n, "Applied") for n in NODES]),
        previous=same.conditions,
        now=LATER,
    )
    assert {c["type"]: c for c in done.conditions}["Ready"]["lastTransitionTime"] == LATER


def test_entries_of_unselected_nodes_are_ignored() -> None:
    statuses = [entry("cp-1", "Applied"), entry("worker-9", "Failed")]
    summary = summarize(target=ON, selected_nodes=["cp-1"], entries=by_node(statuses), now=NOW)
    assert summary.phase == "Enabled"
