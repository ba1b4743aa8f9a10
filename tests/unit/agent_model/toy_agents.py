"""Deliberately careless agents, to prove the model catches what it claims to catch.

TurnlessAgent does what the real one does minus the rollout turn: it writes its node's render
as soon as the spec asks, and reports Applied once its API server is back. With two nodes and
a spec change, both are between write and verify at once (invariant 1).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tests.unit.agent_model.universe import MANIFEST_PATH, SPECS, render_for, target


class TurnlessAgent:
    def __init__(
        self, *, api: Any, node: str, files: Any, probes: Any, clock: Callable[[], datetime]
    ) -> None:
        self.api = api
        self.node = node
        self.files = files
        self.probes = probes
        self.original: str | None = None

    def step(self) -> None:
        text = self.files.read_text(MANIFEST_PATH, limit=1 << 20, what="manifest")
        if self.original is None:
            self.original = text
        body = self.api.get_audit_config()
        if body is None or self.original is None:
            return
        spec_name = next(name for name, spec in SPECS.items() if spec == body["spec"])
        wanted = target(spec_name, "a")
        want = (
            render_for(self.original, wanted.config_hash)
            if wanted.config_hash is not None
            else self.original
        )
        if text != want:
            self.files.write_atomically(MANIFEST_PATH, want)
            return
        if self.probes.readyz("")[0]:
            entry = {
                "nodeName": self.node,
                "phase": "Applied" if wanted.enabled else "Disabled",
                "observedGeneration": body["metadata"]["generation"],
            }
            if wanted.config_hash:
                entry["configHash"] = wanted.config_hash
            self.api.apply_audit_config_status(
                {"nodeStatuses": [entry]}, field_manager=f"kaudit-agent-{self.node}"
            )
