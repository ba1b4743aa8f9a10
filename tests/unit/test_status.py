"""What `kubectl get auditconfig` and `kubectl wait --for=condition=Ready` see."""

from __future__ import annotations

from kaudit.status import (
    NodeStatus,
    Summary,
    Target,
    entries_not_listed,
    summarize,
    updated_entry,
)

NOW = "2026-11-26T12:00:00Z"
LATER = "2026-11-26T12:05:00Z"
NODES = ["cp-1", "cp-2", "cp-3"]
ON = Target(generation=4, enabled=True, config_hash="sha256:new")


def entry(
    node: str, phase: str, *, generation: int = 4, config_hash: str = "sha256:new", **extra: object
) -> NodeStatus:
    return NodeStatus(
        nodeName=node, phase=phase, observedGeneration=generation, configHash=config_hash, **extra
    )  # type: ignore[typeddict-item]


def conditions(summary: Summary) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in summary.conditions}


def test_all_nodes_applied_for_this_generation_is_ready() -> None:
    summary = summarize(
        target=ON, selected_nodes=NODES, node_statuses=[entry(n, "Applied") for n in NODES], now=NOW
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
    summary = summarize(target=ON, selected_nodes=NODES, node_statuses=statuses, now=NOW)
    assert summary.nodes_ready == "1/3"
    assert conditions(summary)["Reconciling"] == ("True", "RollingOut")
    assert conditions(summary)["Ready"][0] == "False"
    assert "cp-3 Verifying" in summary.message


def test_a_node_with_the_old_hash_is_not_done() -> None:
    statuses = [entry(n, "Applied", config_hash="sha256:old") for n in NODES]
    summary = summarize(target=ON, selected_nodes=NODES, node_statuses=statuses, now=NOW)
    assert summary.nodes_ready == "0/3"
    assert summary.phase == "Progressing"


def test_a_rolled_back_node_stalls_the_rollout_with_its_reason() -> None:
    statuses = [
        entry(
            "cp-1", "RolledBack", lastFailedReason="kube-apiserver did not answer /readyz in 120s"
        ),
        entry("cp-2", "Pending"),
    ]
    summary = summarize(target=ON, selected_nodes=NODES, node_statuses=statuses, now=NOW)
    assert conditions(summary)["Stalled"] == ("True", "RolledBack")
    assert conditions(summary)["Reconciling"][0] == "False"
    assert summary.phase == "Degraded"
    assert "cp-1" in summary.message
    assert "/readyz" in summary.message


def test_a_rollback_from_an_older_generation_does_not_stall_the_new_spec() -> None:
    statuses = [entry("cp-1", "RolledBack", generation=3), entry("cp-2", "Applied")]
    summary = summarize(target=ON, selected_nodes=NODES, node_statuses=statuses, now=NOW)
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
            summarize(target=ON, selected_nodes=NODES, node_statuses=statuses, now=NOW)
        )
        assert not (found["Reconciling"][0] == "True" and found["Stalled"][0] == "True")


def test_disabled_everywhere_is_ready_with_audit_off() -> None:
    off = Target(generation=5, enabled=False, config_hash=None)
    statuses = [entry(n, "Disabled", generation=5) for n in NODES]
    summary = summarize(target=off, selected_nodes=NODES, node_statuses=statuses, now=NOW)
    assert summary.phase == "Disabled"
    assert conditions(summary)["Ready"] == ("True", "AuditLoggingOff")


def test_an_invalid_policy_stalls_with_the_validators_message() -> None:
    bad = Target(
        generation=2,
        enabled=True,
        config_hash=None,
        policy_problem="configmap kaudit-system/p key k: rules[0].level: Required value",
    )
    summary = summarize(target=bad, selected_nodes=NODES, node_statuses=[], now=NOW)
    assert conditions(summary)["Stalled"] == ("True", "PolicyInvalid")
    assert "rules[0].level" in summary.message


def test_no_selected_node_is_stalled() -> None:
    summary = summarize(target=ON, selected_nodes=[], node_statuses=[], now=NOW)
    assert conditions(summary)["Stalled"] == ("True", "NoNodesSelected")
    assert summary.nodes_ready == "0/0"


def test_transition_time_moves_only_when_the_status_changes() -> None:
    first = summarize(target=ON, selected_nodes=NODES, node_statuses=[], now=NOW)
    same = summarize(
        target=ON,
        selected_nodes=NODES,
        node_statuses=[entry("cp-1", "Applying")],
        previous=first.conditions,
        now=LATER,
    )
    ready = {c["type"]: c for c in same.conditions}
    assert ready["Reconciling"]["lastTransitionTime"] == NOW
    done = summarize(
        target=ON,
        selected_nodes=NODES,
        node_statuses=[entry(n, "Applied") for n in NODES],
        previous=same.conditions,
        now=LATER,
    )
    assert {c["type"]: c for c in done.conditions}["Ready"]["lastTransitionTime"] == LATER


def test_entries_of_unselected_nodes_are_ignored() -> None:
    statuses = [entry("cp-1", "Applied"), entry("worker-9", "Failed")]
    summary = summarize(target=ON, selected_nodes=["cp-1"], node_statuses=statuses, now=NOW)
    assert summary.phase == "Enabled"


def test_a_progress_report_keeps_the_config_the_node_runs() -> None:
    applied = NodeStatus(
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
    applied = NodeStatus(nodeName="cp-1", phase="Applied", configHash="sha256:new")
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
