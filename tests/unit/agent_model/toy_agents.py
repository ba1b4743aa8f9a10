"""Deliberately careless agents, to prove the model catches what it claims to catch.

TurnlessAgent does what the real one does minus the rollout turn: it writes its node's render
as soon as the spec asks, and reports Applied once its API server is back. With two nodes and
a spec change, both are between write and verify at once (invariant 1).
"""

from __future__ import annotations

import contextlib
import json
import posixpath
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from kaudit.kube.api import KubeError
from tests.unit.agent_model.universe import (
    CONFIG_MAP,
    CONFIG_MAP_POLICIES,
    MANIFEST_PATH,
    PENDING_PATH,
    SPECS,
    render_for,
    renderings,
    target,
)


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


_ORIGINAL_COPY = "/etc/kubernetes/tmp/kaudit/toy-original.yaml"
_LEASE = ("kaudit-system", "kaudit-rollout")
_TIMEOUT = 60.0


class CarefulToyAgent:
    """The protocol done right in few lines, so that a violation the real agent shows is not
    the world's own: one node at a time under the Lease, a pending record written before the
    manifest, verify against the record's target, roll back on timeout, nudge at half of it.
    Not kaudit: no policy file, no dry run, no Events; the world's universe stands in for
    desired_state and enable_audit."""

    def __init__(
        self, *, api: Any, node: str, files: Any, probes: Any, clock: Callable[[], datetime]
    ) -> None:
        self.api = api
        self.node = node
        self.files = files
        self.probes = probes
        self.clock = clock

    # --- host ---------------------------------------------------------------------------

    def _read(self, path: str) -> str | None:
        return cast(str | None, self.files.read_text(path, limit=1 << 22, what=path))

    def _original(self, text: str) -> str:
        kept = self._read(_ORIGINAL_COPY)
        if kept is None:
            self.files.make_folders(posixpath.dirname(_ORIGINAL_COPY))
            self.files.write_atomically(_ORIGINAL_COPY, text)
            return text
        return kept

    def _pending(self) -> dict[str, Any] | None:
        text = self._read(PENDING_PATH)
        return cast(dict[str, Any], json.loads(text)) if text is not None else None

    def _save_pending(self, record: dict[str, Any]) -> None:
        self.files.make_folders(posixpath.dirname(PENDING_PATH))
        self.files.write_atomically(PENDING_PATH, json.dumps(record))

    # --- the step -------------------------------------------------------------------------

    def step(self) -> None:
        text = self._read(MANIFEST_PATH)
        assert text is not None
        original = self._original(text)
        pending = self._pending()
        try:
            if pending is not None:
                # Host files only: on one node the API is down exactly when this matters.
                self._finish(pending, text, original)
                return
            self._reconcile(self.api.get_audit_config(), text, original)
        except KubeError:
            return

    def _wanted(self, body: dict[str, Any] | None) -> tuple[bool, str | None, int | None]:
        """(selected and reported, config hash or None, generation)."""
        if body is None:
            return False, None, None
        name = next(n for n, spec in SPECS.items() if spec == body["spec"])
        policy = self.api.config_map_value(*CONFIG_MAP)
        variant = next(v for v, t in CONFIG_MAP_POLICIES.items() if t == policy)
        wanted = target(name, variant)
        selected = self.node in self.api.node_names(dict(wanted.selector))
        generation = body["metadata"]["generation"]
        if body["metadata"].get("deletionTimestamp") or not selected:
            return selected, None, generation
        return True, wanted.config_hash, generation

    def _reconcile(self, body: dict[str, Any] | None, text: str, original: str) -> None:
        report, config_hash, generation = self._wanted(body)
        want = render_for(original, config_hash) if config_hash else original
        entries = {
            e["nodeName"]: e for e in ((body or {}).get("status") or {}).get("nodeStatuses") or []
        }
        mine = entries.get(self.node) or {}
        if text == want:
            self._release()
            if not report:
                if self.node in entries:
                    self._apply([])
                return
            if not self._done(mine, config_hash, generation) and self._healthy(
                config_hash, 0.0, original
            ):
                self._report(generation, config_hash, applied=True)
            return
        failed_here = mine.get("phase") in ("RolledBack", "Failed") and (
            mine.get("observedGeneration") == generation
            and mine.get("targetConfigHash") == config_hash
        )
        if report and failed_here:
            return
        if report:
            order = sorted(self.api.node_names(dict(target_selector(body))))
            before = order[: order.index(self.node)] if self.node in order else []
            if any(not self._done(entries.get(n) or {}, config_hash, generation) for n in before):
                return
        if not self._acquire():
            return
        self._save_pending(
            {
                "manifestText": text,
                "stage": "written",
                "hash": config_hash,
                "generation": generation,
                "report": report,
                "writtenAt": self.clock().timestamp(),
            }
        )
        self.files.write_atomically(MANIFEST_PATH, want)

    def _finish(self, pending: dict[str, Any], text: str, original: str) -> None:
        now = self.clock().timestamp()
        if pending["stage"] == "written":
            if text == pending["manifestText"]:
                self.files.remove_file(PENDING_PATH)  # never written: undone
                return
            if self._healthy(pending["hash"], pending["writtenAt"], original):
                self.files.remove_file(PENDING_PATH)
                if pending["report"]:
                    self._report(pending["generation"], pending["hash"], applied=True)
                self._release()
                return
            with contextlib.suppress(KubeError):
                self._acquire()
            if now - pending["writtenAt"] > _TIMEOUT:
                self._save_pending(
                    {**pending, "stage": "restoring", "restoredAt": now, "nudged": False}
                )
                self.files.write_atomically(MANIFEST_PATH, pending["manifestText"])
            elif now - pending["writtenAt"] > _TIMEOUT / 2 and not pending.get("nudged"):
                self._save_pending({**pending, "nudged": True})
                self.files.write_atomically(MANIFEST_PATH, text)
            return
        if text != pending["manifestText"]:
            self.files.write_atomically(MANIFEST_PATH, pending["manifestText"])
            return
        restored = renderings(original)[text].config_hash
        healthy = self._healthy(restored, pending["restoredAt"], original)
        if not healthy and now - pending["restoredAt"] > _TIMEOUT / 2 and not pending.get("nudged"):
            self._save_pending({**pending, "nudged": True})
            self.files.write_atomically(MANIFEST_PATH, text)
            return
        if healthy or now - pending["restoredAt"] > _TIMEOUT:
            self.files.remove_file(PENDING_PATH)
            if pending["report"]:
                self._report(pending["generation"], pending["hash"], applied=False)
            self._release()

    # --- API ------------------------------------------------------------------------------

    def _healthy(self, config_hash: str | None, written_at: float, original: str) -> bool:
        try:
            pod = self.api.get_pod("kube-system", f"kube-apiserver-{self.node}") or {}
        except KubeError:
            return False
        if (pod.get("metadata") or {}).get("annotations", {}).get("kaudit.io/config-hash") != (
            config_hash
        ):
            return False
        status = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        started = (status.get("state") or {}).get("running", {}).get("startedAt")
        if not started or not status.get("ready") or not self.probes.readyz("")[0]:
            return False
        if datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() + 1 < written_at:
            return False
        if config_hash is None:
            return True
        log_path = renderings(original)[render_for(original, config_hash)].host_log_path
        facts = self.files.file_facts(log_path) if log_path else None
        return facts is not None and facts.mtime >= written_at - 1

    @staticmethod
    def _done(entry: dict[str, Any], config_hash: str | None, generation: int | None) -> bool:
        if entry.get("observedGeneration") != generation:
            return False
        if config_hash is None:
            return entry.get("phase") == "Disabled"
        return entry.get("phase") == "Applied" and entry.get("configHash") == config_hash

    def _report(self, generation: int | None, config_hash: str | None, *, applied: bool) -> None:
        entry: dict[str, Any] = {"nodeName": self.node, "observedGeneration": generation}
        if config_hash:
            entry["targetConfigHash"] = config_hash
        if applied:
            entry["phase"] = "Applied" if config_hash else "Disabled"
            if config_hash:
                entry["configHash"] = config_hash
        else:
            entry["phase"] = "RolledBack"
            entry["failureCount"] = self.clock().timestamp()
        try:
            self._apply([entry])
        except KubeError as error:
            if not error.not_found:
                raise

    def _apply(self, entries: list[dict[str, Any]]) -> None:
        self.api.apply_audit_config_status(
            {"nodeStatuses": entries}, field_manager=f"kaudit-agent-{self.node}"
        )

    def _acquire(self) -> bool:
        lease = self.api.get_lease(*_LEASE)
        now = self.clock().timestamp()
        body = {"metadata": {"name": _LEASE[1]}, "spec": {"holder": self.node, "renewed": now}}
        if lease is None:
            try:
                self.api.create_lease(_LEASE[0], body)
            except KubeError as error:
                if error.conflict:
                    return False
                raise
            return True
        spec = lease.get("spec") or {}
        if spec.get("holder") not in (None, self.node) and now - spec.get("renewed", 0) < 180:
            return False
        body["metadata"] = lease["metadata"]
        try:
            self.api.replace_lease(_LEASE[0], _LEASE[1], body)
        except KubeError as error:
            if error.conflict:
                return False
            raise
        return True

    def _release(self) -> None:
        lease = self.api.get_lease(*_LEASE)
        if lease is None or (lease.get("spec") or {}).get("holder") != self.node:
            return
        body = {"metadata": lease["metadata"], "spec": {"holder": None}}
        try:
            self.api.replace_lease(_LEASE[0], _LEASE[1], body)
        except KubeError as error:
            if not error.conflict:
                raise


def target_selector(body: dict[str, Any] | None) -> tuple[tuple[str, str], ...]:
    name = next(n for n, spec in SPECS.items() if spec == (body or {}).get("spec"))
    return target(name, "a").selector
