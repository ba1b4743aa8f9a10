"""Which AuditConfig changes wake a node agent (its own reports must not)."""

from __future__ import annotations

import copy
from typing import Any

from kaudit.agent.handlers import wake_trigger

BODY: dict[str, Any] = {
    "metadata": {"name": "cluster", "generation": 3},
    "status": {
        "nodeStatuses": [
            {
                "nodeName": "cp-1",
                "phase": "Applied",
                "observedGeneration": 3,
                "configHash": "h",
                "auditLogSizeBytes": 1000,
            }
        ]
    },
}


def changed(edit: Any) -> bool:
    after = copy.deepcopy(BODY)
    edit(after)
    return wake_trigger(after, deleted=False) != wake_trigger(BODY, deleted=False)


def test_a_report_that_only_moves_the_audit_log_size_does_not_wake() -> None:
    assert not changed(lambda b: b["status"]["nodeStatuses"][0].update(auditLogSizeBytes=5000))
    assert not changed(lambda b: b["status"].update(conditions=[{"type": "Ready"}]))


def test_spec_deletion_and_node_phases_wake() -> None:
    assert changed(lambda b: b["metadata"].update(generation=4))
    assert changed(lambda b: b["metadata"].update(deletionTimestamp="2026-11-26T12:00:00Z"))
    assert changed(lambda b: b["status"]["nodeStatuses"][0].update(phase="Verifying"))
    assert changed(
        lambda b: b["status"]["nodeStatuses"].append({"nodeName": "cp-2", "phase": "Pending"})
    )
    assert wake_trigger(BODY, deleted=True) != wake_trigger(BODY, deleted=False)
