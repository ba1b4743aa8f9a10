"""The AuditConfig as the controller and the agents read it: parsed once, never a crash.

Anyone allowed to write the object can put anything in it; what they see is a `problem` naming
the field and the reason (shown on the status and the node entries), never a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from kaudit.audit_config import ParsedAuditConfig, parse_audit_config
from kaudit.config import AuditConfigSpec, PolicySpec


def body(
    spec: object = None, *, generation: object = 3, status: object = None, **metadata: object
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "apiVersion": "kaudit.io/v1alpha1",
        "kind": "AuditConfig",
        "metadata": {"name": "cluster", "generation": generation, **metadata},
    }
    if spec is not None:
        found["spec"] = spec
    if status is not None:
        found["status"] = status
    return found


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    body: dict[str, Any]
    spec: AuditConfigSpec | None = None
    problem: str | None = None  # a part of the problem text; None: no problem
    generation: int | None = 3
    deleting: bool = False
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)


CASES = [
    Case(id="no spec is the defaults", body=body(), spec=AuditConfigSpec()),
    Case(
        id="a valid spec",
        body=body({"enabled": False, "policy": {"preset": "Metadata"}}),
        spec=AuditConfigSpec(enabled=False, policy=PolicySpec(preset="Metadata")),
    ),
    Case(
        id="an invalid spec names the field",
        body=body({"rollout": {"healthTimeoutSeconds": 1}}),
        problem="AuditConfig cluster: spec.rollout.healthTimeoutSeconds: must be at least 10",
    ),
    Case(
        id="the removed maxUnavailable says why",
        body=body({"rollout": {"maxUnavailable": 2}}),
        problem="spec.rollout.maxUnavailable: this field was removed: kaudit always changes one "
        "node at a time",
    ),
    Case(
        id="a list for a spec",
        body=body([]),
        problem="AuditConfig cluster: spec: must be a mapping, found a list",
    ),
    Case(
        id="a string for a spec",
        body=body("enabled"),
        problem="AuditConfig cluster: spec: must be a mapping, found the string 'enabled'",
    ),
    Case(
        id="a spec key that is not a string",
        body=body({7: True}),
        problem="AuditConfig cluster: spec.7: unknown field",
    ),
    Case(
        id="being deleted",
        body=body({}, deletionTimestamp="2026-12-02T18:00:00Z"),
        spec=AuditConfigSpec(),
        deleting=True,
    ),
    Case(
        id="a generation that is not a number",
        body=body({}, generation="7"),
        spec=AuditConfigSpec(),
        generation=None,
    ),
    Case(
        id="a generation of true is not 1",
        body=body({}, generation=True),
        spec=AuditConfigSpec(),
        generation=None,
    ),
    Case(
        id="metadata that is not a mapping",
        body={"metadata": ["x"], "spec": {}},
        spec=AuditConfigSpec(),
        generation=None,
    ),
    Case(
        id="entries with garbage keep what is usable",
        body=body(
            {},
            status={
                "nodeStatuses": [
                    {"nodeName": "cp-1", "phase": "Applied", "observedGeneration": 3},
                    {"nodeName": "cp-2", "phase": "Melted", "observedGeneration": "3"},
                    {"phase": "Failed"},
                    {"nodeName": ["cp-3"]},
                    "cp-4",
                    None,
                ]
            },
        ),
        spec=AuditConfigSpec(),
        entries={
            "cp-1": {"nodeName": "cp-1", "phase": "Applied", "observedGeneration": 3},
            "cp-2": {"nodeName": "cp-2"},
        },
    ),
    Case(
        id="nodeStatuses that is not a list",
        body=body({}, status={"nodeStatuses": {"nodeName": "cp-1"}}),
        spec=AuditConfigSpec(),
    ),
    Case(id="status that is not a mapping", body=body({}, status="ok"), spec=AuditConfigSpec()),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_what_the_controller_and_agents_read(case: Case) -> None:
    parsed = parse_audit_config(case.body)
    assert parsed.generation == case.generation
    assert parsed.deleting is case.deleting
    assert dict(parsed.entries) == case.entries
    assert parsed.body is case.body
    if case.problem is None:
        assert parsed.problem is None
        assert parsed.spec == case.spec
    else:
        assert parsed.spec is None
        assert parsed.problem is not None
        assert case.problem in parsed.problem


def test_an_unforeseen_failure_is_a_problem_not_a_crash() -> None:
    class Hostile(dict[str, Any]):
        def get(self, *_: object, **__: object) -> Any:
            raise RuntimeError("a spec that breaks the reader")

    parsed = parse_audit_config(body(Hostile(enabled=True)))
    assert isinstance(parsed, ParsedAuditConfig)
    assert parsed.spec is None
    assert parsed.problem == "AuditConfig cluster: spec not usable (RuntimeError)"


def test_the_source_names_the_object_in_every_problem() -> None:
    parsed = parse_audit_config(body([]), source="auditconfig.yaml")
    assert parsed.problem == "auditconfig.yaml: spec: must be a mapping, found a list"
