"""One control-plane node's agent: level-triggered reconcile of the host against the AuditConfig.

Every pass reads the desired state fresh (the AuditConfig from the API, the node's labels) and
the actual state from the host files, and converges: nothing here depends on having seen a
particular event, so a missed watch event, a restart or a hand edit all end the same way.
Passes run on every AuditConfig or ConfigMap event, on a host file change, and on a timer.

The agent writes only its own entry in status.nodeStatuses (server-side apply, field manager
kaudit-agent-<node>), so agents never overwrite each other.

Nothing a user or another process wrote may stop the agent: a policy or spec that cannot be
used, and host files that cannot be read (over a size limit, a symlink, a FIFO, a broken state
or pending-change file), become the problem reported on this node's entry, and the pass goes on
with what does not depend on them: the pending-change recovery needs only the host files.

On a single-node cluster the API server the agent talks to is the one it restarts: every API
call may fail for tens of seconds. Reads that fail end the pass (the next one retries); a
status report that fails is kept and sent again later; the health gate polls until its timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from kaudit.agent.health import (
    HealthExpectation,
    HealthObservation,
    HealthVerdict,
    container_log_mtime,
    evaluate_health,
    probe_readyz,
    static_pod_uid,
    tail_of_container_log,
)
from kaudit.config import (
    AuditConfigSpec,
    ConfigError,
    audit_config_spec_from_data,
)
from kaudit.desired import DesiredState, desired_state
from kaudit.host import (
    HostError,
    HostLayout,
    HostSnapshot,
    PendingChange,
    apply_desired_state,
    audit_log_facts,
    clear_pending_change,
    host_status,
    layout_for,
    layout_from_state,
    load_pending_change,
    read_optional_manifest_text,
    read_policy_text,
    restore_snapshot,
    save_pending_change,
    snapshot_host,
    write_file_atomically,
    write_manifest_atomically,
)
from kaudit.kube.api import KubeApi, KubeError
from kaudit.kube.lease import RolloutLease
from kaudit.limits import (
    MAX_POLICY_BYTES,
    InputRefusedError,
    bounded_message,
    check_text_size,
)
from kaudit.manifest import (
    ANNOTATION_CONFIG_HASH,
    ManifestError,
    enable_audit,
    inspect_manifest,
    same_pod,
)
from kaudit.policy import PolicyError, check_rendered_size
from kaudit.rollout import (
    RolloutTarget,
    decide_turn,
    failed_for_target,
    node_is_done,
    rollout_order,
)
from kaudit.status import NodePhase, NodeStatus, agent_field_manager, updated_entry
from kaudit.yamltext import YamlTextError, load_single_document

log = logging.getLogger("kaudit.agent")

# Host files that cannot be used: reported on the node's entry, never a crash loop.
_HOST_PROBLEMS = (HostError, InputRefusedError, ManifestError)
# A spec or policy that cannot be used: the node's problem until the spec changes.
_SPEC_PROBLEMS = (ConfigError, PolicyError, InputRefusedError, YamlTextError, ManifestError)

COMPONENT: Final = "kaudit-agent"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis(moment: datetime) -> str:
    # Write and verify times of neighbouring nodes fall within the same second.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, kw_only=True)
class AgentSettings:
    node_name: str
    host_root: Path
    namespace: str = "kaudit-system"
    lease_name: str = "kaudit-rollout"
    events_namespace: str = "default"
    resync_seconds: float = 30.0
    file_poll_seconds: float = 2.0
    gate_poll_seconds: float = 2.0
    facts_seconds: float = 30.0
    ca_file: str | None = None
    readyz_url: str | None = None
    pod_log_root: Path | None = None
    # Fault injection for the end-to-end tests: points ("after-backup", "after-write") where
    # this agent exits at once, as a crash would, the first time it passes them. A "hold-"
    # point ("hold-after-write") blocks instead, as a hung process would, so that a test can
    # change the spec before it kills the agent and its successor starts.
    crash_points: frozenset[str] = frozenset()

    @property
    def field_manager(self) -> str:
        return agent_field_manager(self.node_name)


@dataclass(kw_only=True)
class Plan:
    """What this pass wants for this node."""

    generation: int | None
    selected: bool
    spec: AuditConfigSpec
    desired: DesiredState | None
    problem: str | None = None
    body: Mapping[str, Any] | None = None
    order: list[str] = field(default_factory=list)
    statuses: dict[str, NodeStatus] = field(default_factory=dict)

    @property
    def target(self) -> RolloutTarget:
        enabled = self.desired is not None and self.desired.enabled
        return RolloutTarget(
            generation=self.generation,
            enabled=enabled,
            config_hash=self.desired.config_hash if self.desired else None,
        )


class ReadyzStreak:
    """How long /readyz has answered ok in a row during one gate (monotonic clock)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = None

    def seen(self, ok: bool) -> float:
        now = self._clock()
        if not ok:
            self._since = None
            return 0.0
        if self._since is None:
            self._since = now
        return now - self._since


class NodeAgent:
    def __init__(
        self,
        api: KubeApi,
        settings: AgentSettings,
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.wake = threading.Event()
        self.entry: NodeStatus = NodeStatus(nodeName=settings.node_name)
        self.entry_dirty = False
        self.entry_recovered = False
        self.facts_refreshed = float("-inf")
        self.last_gate_seconds = 0.0
        self.previous_report: tuple[str, str] | None = None

    # --- the loop ------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            try:
                self.reconcile_once()
                backoff = 1.0
            except KubeError as error:
                log.warning("Reconcile skipped: API not usable (%s)", error)
                backoff = min(backoff * 2, 5.0)
            except Exception:
                log.exception("Reconcile failed")
                backoff = min(backoff * 2, 5.0)
            self._wait_for_cause(stop, backoff if backoff > 1.0 else None)

    def _wait_for_cause(self, stop: threading.Event, backoff: float | None) -> None:
        """Sleep until an event, a host file change, the resync timer or the backoff."""
        deadline = time.monotonic() + (backoff or self.settings.resync_seconds)
        fingerprint = self._host_fingerprint()
        while not stop.is_set() and time.monotonic() < deadline:
            if self.wake.wait(self.settings.file_poll_seconds):
                self.wake.clear()
                return
            if self._host_fingerprint() != fingerprint:
                log.info("Host files changed", extra={"node": self.settings.node_name})
                return

    def _host_fingerprint(self) -> tuple[object, ...]:
        try:
            layout = self._layout_for(None)
        except HostError as error:
            # A state file kaudit cannot use: the next pass reports it; waiting goes on.
            return ("unusable state file", error.reason)
        facts: list[object] = []
        for path in (layout.manifest, layout.policy_file):
            try:
                info = path.stat()
                facts.append((info.st_mtime_ns, info.st_size, info.st_ino))
            except OSError:
                facts.append(None)
        return tuple(facts)

    # --- one pass ------------------------------------------------------------------------

    def reconcile_once(self) -> None:
        body = self.api.get_audit_config()
        self._recover_entry(body)
        plan = self._plan(body)
        try:
            self._reconcile_host(body, plan)
        except _HOST_PROBLEMS as error:
            self._report_host_problem(body, plan, error)

    def _report_host_problem(
        self, body: Mapping[str, Any] | None, plan: Plan, error: Exception
    ) -> None:
        message = f"host files not usable: {error}"
        log.error("Reconcile stopped: %s", message, extra={"node": self.settings.node_name})
        if body is not None and plan.selected:
            # No layout: the facts the report would add come from the same host files.
            self._report(plan, self.entry.get("phase", "Pending"), message)

    def _reconcile_host(self, body: Mapping[str, Any] | None, plan: Plan) -> None:
        layout = self._layout_for(plan.desired)
        # Before anything that depends on the spec or the policy: a change a previous run
        # wrote and never verified is finished (or undone) whatever the AuditConfig says now.
        self._finish_pending_change(plan, layout)
        if body is None:
            self._converge_without_config(layout)
            return
        if not plan.selected:
            self._converge_unselected(plan, layout)
            return
        if plan.problem is not None or plan.desired is None:
            self._report(
                plan, self.entry.get("phase", "Pending"), plan.problem or "no desired state"
            )
            return
        if self._host_matches(plan.desired, layout):
            self._confirm(plan, layout)
            return
        self._change(plan, layout)

    def _plan(self, body: Mapping[str, Any] | None) -> Plan:
        spec = AuditConfigSpec()
        if body is None:
            return Plan(generation=None, selected=False, spec=spec, desired=None)
        metadata = body.get("metadata") or {}
        generation = metadata.get("generation")
        deleting = bool(metadata.get("deletionTimestamp"))
        try:
            spec = audit_config_spec_from_data(body.get("spec") or {}, source="AuditConfig cluster")
        except _SPEC_PROBLEMS as error:
            return Plan(
                generation=generation, selected=True, spec=spec, desired=None, problem=str(error)
            )
        except Exception as error:  # the backstop: the spec is data anyone may write
            log.exception("Could not read the AuditConfig spec")
            problem = f"AuditConfig cluster: spec not usable ({type(error).__name__})"
            return Plan(
                generation=generation, selected=True, spec=spec, desired=None, problem=problem
            )
        # One list answers both: is this node selected, and in what order the nodes go.
        order = rollout_order(self.api.node_names(spec.node_selector))
        selected = self.settings.node_name in order
        statuses = {
            entry.get("nodeName", ""): entry
            for entry in ((body.get("status") or {}).get("nodeStatuses") or [])
        }
        plan = Plan(
            generation=generation,
            selected=selected,
            spec=spec,
            desired=None,
            body=body,
            statuses=statuses,
        )
        if deleting or not spec.enabled:
            plan.desired = desired_state(replace(spec, enabled=False), source="AuditConfig cluster")
        else:
            try:
                plan.desired = desired_state(
                    spec,
                    source="AuditConfig cluster",
                    config_map_text=self._config_map_text(spec),
                )
                if plan.desired.policy_text is not None:
                    # Never write a policy file this agent could not read back.
                    check_rendered_size(
                        plan.desired.policy_text,
                        source="AuditConfig cluster",
                        limit=MAX_POLICY_BYTES,
                    )
            except _SPEC_PROBLEMS as error:
                plan.problem = f"policy not applied: {error}"
                plan.desired = None
            except KubeError:
                raise
            except Exception as error:  # the backstop: the policy is text anyone may write
                log.exception("Could not read the policy")
                plan.problem = (
                    f"policy not applied: kaudit could not read it ({type(error).__name__})"
                )
                plan.desired = None
        if selected:
            plan.order = order
        return plan

    def _config_map_text(self, spec: AuditConfigSpec) -> str | None:
        ref = spec.policy.config_map_ref
        if ref is None:
            return None
        text = self.api.config_map_value(ref.namespace, ref.name, ref.key)
        if text is None:
            raise ConfigError(
                source="AuditConfig cluster",
                field="spec.policy.configMapRef",
                reason=f"ConfigMap {ref.namespace}/{ref.name} key {ref.key!r} not found",
            )
        where = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"
        check_text_size(text, limit=MAX_POLICY_BYTES, source=where, what="policy")
        return text

    def _layout_for(self, desired: DesiredState | None) -> HostLayout:
        if desired is not None:
            return layout_for(desired, root=self.settings.host_root)
        return layout_from_state(root=self.settings.host_root)

    # --- states --------------------------------------------------------------------------

    def _host_matches(self, desired: DesiredState, layout: HostLayout) -> bool:
        """The host is as desired: enabling again would change nothing.

        Not just the config-hash annotation: a hand edit that deletes the audit flags leaves
        the annotation in place, and must still count as drift.
        """
        try:
            # Byte-exact: a CRLF manifest must compare with its own bytes.
            manifest_text = read_optional_manifest_text(layout)
            if manifest_text is None:
                return False
            if not desired.enabled or desired.patch is None:
                return not inspect_manifest(manifest_text, source=str(layout.manifest)).managed
            wanted = enable_audit(manifest_text, desired.patch, source=str(layout.manifest))
            policy = read_policy_text(layout)
        except (OSError, ManifestError):
            return False
        return same_pod(wanted, manifest_text) and policy == desired.policy_text

    def _confirm(self, plan: Plan, layout: HostLayout) -> None:
        """The host has the desired files: report Applied/Disabled once the API server agrees."""
        assert plan.desired is not None
        phase: NodePhase = "Applied" if plan.desired.enabled else "Disabled"
        if (
            self.entry.get("phase") == phase
            and self.entry.get("configHash") == plan.desired.config_hash
        ):
            self._report(plan, phase, self.entry.get("message", ""), layout=layout)
            self._release_lease_if_held(plan)
            return
        if not plan.desired.enabled:
            self._confirm_disabled(plan, layout)
            return
        # Steady state: no write to compare with, so any start time and any log file will do.
        verdict = self._observe_health(
            layout,
            HealthExpectation(
                config_hash=plan.desired.config_hash,
                written_at=datetime.fromtimestamp(0, UTC),
                log_size_before=None,
                log_mtime_before=None,
                check_log=True,
            ),
        )
        if verdict.healthy:
            message = (
                "audit logging is on; the API server restarted with the new configuration"
                if plan.desired.enabled
                else "audit logging is off"
            )
            self._report(plan, phase, message, layout=layout, config_hash=plan.desired.config_hash)
            self._release_lease_if_held(plan)
        else:
            self._report(plan, "Verifying", verdict.first_failure, layout=layout)

    def _confirm_disabled(self, plan: Plan, layout: HostLayout) -> None:
        """Disabled means nothing of kaudit's runs here: no annotation on a running mirror pod.

        A node whose host kaudit never changed is Disabled at once; one that still runs a
        kaudit-configured API server (the kubelet has not restarted it yet) is Verifying.
        """
        try:
            pod = self.api.get_pod("kube-system", self._mirror_pod_name(layout))
        except KubeError as error:
            self._report(plan, "Verifying", f"API not answering: {error}", layout=layout)
            return
        annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
        running_hash = annotations.get(ANNOTATION_CONFIG_HASH)
        if running_hash:
            self._report(
                plan,
                "Verifying",
                f"kube-apiserver still runs kaudit's configuration {running_hash}",
                layout=layout,
            )
            return
        self._report(plan, "Disabled", "audit logging is off", layout=layout, config_hash="")
        self._release_lease_if_held(plan)

    def _converge_without_config(self, layout: HostLayout) -> None:
        """No AuditConfig: a host kaudit changed goes back to how it was."""
        status = host_status(layout)
        if status["manifest"].get("auditEnabled"):
            log.info("No AuditConfig: disabling audit logging on this node")
            plan = Plan(
                generation=None,
                selected=True,
                spec=AuditConfigSpec(enabled=False),
                desired=desired_state(AuditConfigSpec(enabled=False), source="no AuditConfig"),
            )
            self._change(plan, layout, report=False)

    def _converge_unselected(self, plan: Plan, layout: HostLayout) -> None:
        status = host_status(layout)
        if status["manifest"].get("auditEnabled"):
            plan.desired = desired_state(replace(plan.spec, enabled=False), source="unselected")
            plan.selected = True
            self._change(plan, layout, report=False)
        self._remove_entry()

    def _change(self, plan: Plan, layout: HostLayout, *, report: bool = True) -> None:
        desired = plan.desired
        assert desired is not None
        target = plan.target
        mine = plan.statuses.get(self.settings.node_name)
        drift = node_is_done(mine, target)
        decision = decide_turn(
            me=self.settings.node_name,
            order=plan.order,
            statuses=plan.statuses,
            target=target,
            drift_only=drift or not report,
        )
        if not decision.may_start:
            if self.entry.get("phase") in ("RolledBack", "Failed") and failed_for_target(
                mine, target
            ):
                return  # keep the failure and its reason on display until the spec changes
            if report:
                self._report(plan, "Pending", decision.reason, layout=layout)
            return
        lease = self._lease(plan)
        if not lease.try_acquire():
            if report:
                holder = lease.current_holder()
                self._report(
                    plan, "Pending", f"waiting for the rollout turn held by {holder}", layout=layout
                )
            return
        try:
            if drift:
                self._event(
                    plan,
                    "DriftCorrected",
                    f"node {self.settings.node_name}: the host no longer matched the AuditConfig "
                    "(hand edit or kubeadm upgrade); writing it again",
                    warning=True,
                )
            self._apply_and_verify(plan, layout, lease, report=report)
        finally:
            try:
                lease.release()
            except KubeError as error:
                # It expires on its own; the next node waits at most its duration.
                log.warning("Rollout turn not released: %s", error)

    def _apply_and_verify(
        self, plan: Plan, layout: HostLayout, lease: RolloutLease, *, report: bool
    ) -> None:
        desired = plan.desired
        assert desired is not None
        if report:
            self._report(
                plan, "Applying", "validating and writing the policy and manifest", layout=layout
            )
        try:
            snapshot = snapshot_host(layout)
            self._dry_run(desired, snapshot, layout)
            written_at = self.clock()
            save_pending_change(
                layout,
                PendingChange(
                    snapshot=snapshot, target_hash=desired.config_hash, written_at=iso(written_at)
                ),
            )
            result = apply_desired_state(
                layout, desired, clock=self.clock, checkpoint=self._crash_point(layout)
            )
        except (HostError, ManifestError, KubeError) as error:
            clear_pending_change(layout)
            self._fail(plan, layout, f"nothing was changed: {error}", rolled_back=False)
            return
        log.info(
            "Wrote host files",
            extra={"node": self.settings.node_name, "hash": desired.config_hash},
        )
        if not result.changed:
            clear_pending_change(layout)
            self._confirm(plan, layout)
            return
        self._crash_point(layout)("after-write")
        self._crash_point(layout)("hold-after-write")
        if report:
            self._report(
                plan,
                "Verifying",
                "waiting for the API server to restart",
                layout=layout,
                write_time=iso_millis(written_at),
            )
        self._gate(plan, layout, snapshot, written_at, lease, report=report)

    def _gate(
        self,
        plan: Plan,
        layout: HostLayout,
        snapshot: HostSnapshot,
        written_at: datetime,
        lease: RolloutLease | None,
        *,
        report: bool,
    ) -> None:
        desired = plan.desired
        assert desired is not None
        verdict = self._wait_until_healthy(
            plan,
            layout,
            written_at,
            lease,
            want_hash=desired.config_hash,
            check_log=desired.enabled,
        )
        if verdict.healthy:
            clear_pending_change(layout)
            if report:
                phase: NodePhase = "Applied" if desired.enabled else "Disabled"
                self._report(
                    plan,
                    phase,
                    f"API server restarted healthy in {self.last_gate_seconds:.0f} s"
                    + (" and is writing audit events" if desired.enabled else ""),
                    layout=layout,
                    config_hash=desired.config_hash or "",
                    verified_time=iso_millis(self.clock()),
                )
            return
        reason = (
            f"not healthy {plan.spec.rollout.health_timeout_seconds} s after the write: "
            + verdict.failures
        )
        logs = tail_of_container_log(self._pod_log_root(), pod_name=self._mirror_pod_name(layout))
        if logs:
            reason += "\nlast kube-apiserver log lines:\n" + logs
        if not plan.spec.rollout.auto_rollback:
            clear_pending_change(layout)
            self._fail(
                plan,
                layout,
                f"health check failed, autoRollback is off: {reason}",
                rolled_back=False,
            )
            return
        self._roll_back(plan, layout, snapshot, reason, lease)

    def _roll_back(
        self,
        plan: Plan,
        layout: HostLayout,
        snapshot: HostSnapshot,
        reason: str,
        lease: RolloutLease | None,
    ) -> None:
        log.warning("Rolling back", extra={"node": self.settings.node_name, "reason": reason})
        try:
            restore_snapshot(layout, snapshot, clock=self.clock)
        except (HostError, OSError) as error:
            self._fail(
                plan,
                layout,
                f"{reason}; restoring the backup failed too: {error}",
                rolled_back=False,
            )
            return
        clear_pending_change(layout)
        restored_at = self.clock()
        restore_started = time.monotonic()
        try:
            restored_hash = inspect_manifest(snapshot.manifest_text, source="backup").config_hash
        except ManifestError:
            restored_hash = None
        verdict = self._wait_until_healthy(
            plan,
            layout,
            restored_at,
            lease,
            want_hash=restored_hash,
            check_log=restored_hash is not None,
        )
        if verdict.healthy:
            seconds = time.monotonic() - restore_started
            self._fail(
                plan,
                layout,
                f"rolled back (healthy again {seconds:.0f} s after the restore): {reason}",
                rolled_back=True,
                verified_time=iso_millis(self.clock()),
            )
        else:
            self._fail(
                plan,
                layout,
                f"{reason}; after restoring the backup the API server is still unhealthy: "
                f"{verdict.first_failure}",
                rolled_back=False,
            )

    def _finish_pending_change(self, plan: Plan, layout: HostLayout) -> None:
        """A change written by a previous run of this agent that was never verified."""
        # An unreadable record is reported (HostError, InputRefusedError) and stops the pass:
        # an unverified change of unknown content must not be written over.
        pending = load_pending_change(layout)
        if pending is None:
            return
        # The host layer turns every OS error into a HostError: reported like the record's.
        on_disk = read_optional_manifest_text(layout)
        if on_disk == pending.snapshot.manifest_text:
            # The previous run stopped between its backup and its manifest write: the kubelet
            # never saw a change. Put back what else it may have written (the policy file);
            # this pass then makes the change again from the start.
            log.warning("Found a change a previous run backed up but never wrote; undoing it")
            restore_snapshot(layout, pending.snapshot, clock=self.clock)
            clear_pending_change(layout)
            return
        log.info("Found an unverified change from a previous run; verifying it now")
        written_at = datetime.fromisoformat(pending.written_at.replace("Z", "+00:00"))
        if plan.desired is None or plan.desired.config_hash != pending.target_hash:
            plan = Plan(
                generation=plan.generation,
                selected=True,
                spec=plan.spec,
                desired=DesiredState(
                    enabled=pending.target_hash is not None,
                    host_paths=layout.paths,
                    log_file_name=layout.log_file_name,
                ),
                statuses=plan.statuses,
                order=plan.order,
            )
        self._gate(
            plan, layout, pending.snapshot, written_at, None, report=plan.generation is not None
        )

    def _crash_point(self, layout: HostLayout) -> Callable[[str], None]:
        def crash_if_asked(point: str) -> None:
            if point not in self.settings.crash_points:
                return
            marker = layout.backup_dir / f"kaudit-crashed-{point}"
            if marker.exists():
                return  # once per node: the restarted agent must be able to finish
            write_file_atomically(marker, iso(self.clock()) + "\n")
            if point.startswith("hold-"):
                # No renewal, no report, no exit: only killing the pod ends this agent.
                log.error("Fault injection: holding at %s as a hung process would", point)
                threading.Event().wait()
            log.error("Fault injection: exiting at %s as a crash would", point)
            logging.shutdown()
            os._exit(86)

        return crash_if_asked

    # --- health --------------------------------------------------------------------------

    def _wait_until_healthy(
        self,
        plan: Plan,
        layout: HostLayout,
        written_at: datetime,
        lease: RolloutLease | None,
        *,
        want_hash: str | None,
        check_log: bool,
    ) -> HealthVerdict:
        """Poll the gate until it passes or the spec's health timeout runs out."""
        timeout = plan.spec.rollout.health_timeout_seconds
        deadline = time.monotonic() + timeout
        size_before, mtime_before = audit_log_facts(layout)
        expected = HealthExpectation(
            config_hash=want_hash,
            written_at=written_at,
            log_size_before=size_before,
            log_mtime_before=mtime_before,
            check_log=check_log,
        )
        nudged = False
        started = time.monotonic()
        passed: set[str] = set()
        readyz = ReadyzStreak()
        verdict = self._observe_health(layout, expected, readyz)
        self._log_gate_progress(verdict, passed, started)
        while not verdict.healthy and time.monotonic() < deadline:
            if (
                not nudged
                and not verdict.annotation_moved
                and time.monotonic() > deadline - timeout / 2
            ):
                nudged = True
                self._nudge_kubelet(layout)
            if lease is not None:
                with contextlib.suppress(KubeError):
                    lease.renew()
            self._flush_report()
            self.sleep(self.settings.gate_poll_seconds)
            verdict = self._observe_health(layout, expected, readyz)
            self._log_gate_progress(verdict, passed, started)
        self.last_gate_seconds = time.monotonic() - started
        log.info(
            "Health gate %s after %.1f s",
            "passed" if verdict.healthy else "failed",
            self.last_gate_seconds,
            extra={"node": self.settings.node_name, "steps": verdict.steps},
        )
        return verdict

    def _log_gate_progress(self, verdict: HealthVerdict, passed: set[str], started: float) -> None:
        # When each step first holds: the gate's time is spent somewhere, and this says where.
        for name, ok, detail in verdict.steps:
            if ok and name not in passed:
                passed.add(name)
                log.info(
                    "Health gate: %r holds after %.1f s (%s)",
                    name,
                    time.monotonic() - started,
                    detail,
                )

    def _observe_health(
        self,
        layout: HostLayout,
        expected: HealthExpectation,
        readyz: ReadyzStreak | None = None,
    ) -> HealthVerdict:
        pod: Mapping[str, Any] | None = None
        api_error = None
        pod_name = self._mirror_pod_name(layout)
        try:
            pod = self.api.get_pod("kube-system", pod_name)
        except KubeError as error:
            api_error = f"API not answering: {error}"
        readyz_ok, readyz_detail = probe_readyz(
            self._readyz_url(layout), ca_file=self.settings.ca_file
        )
        size, mtime = audit_log_facts(layout)
        uid = static_pod_uid(pod)
        observation = HealthObservation(
            mirror_pod=pod,
            api_error=api_error,
            readyz_ok=readyz_ok,
            readyz_detail=readyz_detail,
            log_size=size,
            log_mtime=mtime,
            container_log_mtime=(
                container_log_mtime(self._pod_log_root(), pod_name=pod_name, pod_uid=uid)
                if uid is not None
                else None
            ),
            readyz_ok_seconds=readyz.seen(readyz_ok) if readyz is not None else 0.0,
        )
        return evaluate_health(observation, expected)

    def _nudge_kubelet(self, layout: HostLayout) -> None:
        """Write the manifest again (new inode): kubernetes/kubernetes#109596 workaround."""
        try:
            text = read_optional_manifest_text(layout)
            if text is None:
                return
            write_manifest_atomically(layout, text)
            log.warning("The kubelet had not restarted kube-apiserver; wrote the manifest again")
        except (OSError, HostError, InputRefusedError) as error:
            log.warning("Could not rewrite the manifest to nudge the kubelet: %s", error)

    def _mirror_pod_name(self, layout: HostLayout) -> str:
        pod = _manifest_pod(layout)
        name = str((pod.get("metadata") or {}).get("name") or "kube-apiserver")
        return f"{name}-{self.settings.node_name}"

    def _readyz_url(self, layout: HostLayout) -> str:
        if self.settings.readyz_url:
            return self.settings.readyz_url
        port = "6443"
        host = "127.0.0.1"
        pod = _manifest_pod(layout)
        if pod:
            for container in (pod.get("spec") or {}).get("containers") or []:
                for item in [*(container.get("command") or []), *(container.get("args") or [])]:
                    text = str(item)
                    if text.startswith("--secure-port="):
                        port = text.split("=", 1)[1]
                    if text.startswith("--advertise-address="):
                        host = text.split("=", 1)[1]
        return f"https://{host}:{port}/readyz"

    def _pod_log_root(self) -> Path:
        return self.settings.pod_log_root or self.settings.host_root / "var/log/pods"

    # --- dry run -------------------------------------------------------------------------

    def _dry_run(self, desired: DesiredState, snapshot: HostSnapshot, layout: HostLayout) -> None:
        """Let the API server validate the whole new pod before the kubelet ever sees it."""
        if desired.patch is None:
            return
        new_text = enable_audit(snapshot.manifest_text, desired.patch, source=str(layout.manifest))
        try:
            pod = load_single_document(new_text)
        except YamlTextError as error:
            # The round-trip reader kept something the plain one refuses (a number too long to
            # convert): the manifest is not one kaudit can have validated, so nothing is written.
            raise ManifestError(str(layout.manifest), "(file)", str(error)) from None
        if not isinstance(pod, dict):
            return
        metadata = dict(pod.get("metadata") or {})
        metadata["name"] = f"kaudit-dry-run-{self.settings.node_name}"[:63]
        metadata["namespace"] = self.settings.namespace
        metadata.pop("resourceVersion", None)
        metadata.pop("uid", None)
        pod = {
            **pod,
            "metadata": metadata,
            "spec": {**(pod.get("spec") or {}), "nodeName": self.settings.node_name},
        }
        pod.pop("status", None)
        self.api.dry_run_create_pod(self.settings.namespace, pod)

    # --- status --------------------------------------------------------------------------

    def _recover_entry(self, body: Mapping[str, Any] | None) -> None:
        """After a restart, carry on from our last report (failure history included)."""
        if self.entry_recovered or body is None:
            return
        self.entry_recovered = True
        for entry in (body.get("status") or {}).get("nodeStatuses") or []:
            if entry.get("nodeName") == self.settings.node_name:
                self.entry = NodeStatus(**entry)  # type: ignore[typeddict-item]

    def _report(
        self,
        plan: Plan,
        phase: NodePhase,
        message: str,
        *,
        layout: HostLayout | None = None,
        config_hash: str | None = None,
        failure: str | None = None,
        write_time: str | None = None,
        verified_time: str | None = None,
    ) -> None:
        # Every problem of a policy is named, and a hostile one may have thousands: the entry
        # must stay a small write.
        message = bounded_message(message)
        entry = updated_entry(
            self.entry,
            phase=phase,
            message=message,
            now=iso(self.clock()),
            generation=plan.generation,
            target_hash=plan.desired.config_hash if plan.desired is not None else None,
            applied_hash=config_hash,
            failure=failure,
        )
        if write_time is not None:
            entry["lastWriteTime"] = write_time
        if verified_time is not None:
            entry["lastVerifiedTime"] = verified_time
        facts_due = (
            entry.get("phase") != self.entry.get("phase")
            or time.monotonic() - self.facts_refreshed >= self.settings.facts_seconds
        )
        if layout is not None and facts_due:
            # At most every facts_seconds: the log grows with every report (reports are audited).
            self.facts_refreshed = time.monotonic()
            facts = host_status(layout)
            backup = facts.get("newestBackup")
            if backup:
                entry["newestBackup"] = self._node_path(backup["path"])
            audit_log = facts["auditLog"]
            if audit_log["exists"]:
                entry["auditLogSizeBytes"] = audit_log["sizeBytes"]
                entry["auditLogLastWrite"] = audit_log["lastWrite"][:19] + "Z"
        changed = entry != self.entry
        self.entry = entry
        if changed or self.entry_dirty:
            if (phase, message) != (self.previous_report or ("", "")):
                self.previous_report = (phase, message)
                first_line = message.splitlines()[0] if message else ""
                log.info("Node %s: %s: %s", self.settings.node_name, phase, first_line)
            self.entry_dirty = True
            self._flush_report()

    def _node_path(self, path: str) -> str:
        """A path as the node knows it (/etc/...), not as this container mounts it (/host/...)."""
        try:
            return "/" + str(Path(path).relative_to(self.settings.host_root))
        except ValueError:
            return path

    def _flush_report(self) -> None:
        if not self.entry_dirty:
            return
        try:
            self.api.apply_audit_config_status(
                {"nodeStatuses": [dict(self.entry)]}, field_manager=self.settings.field_manager
            )
            self.entry_dirty = False
        except KubeError as error:
            if error.not_found:
                self.entry_dirty = False
            else:
                log.info("Status report deferred: %s", error)

    def _remove_entry(self) -> None:
        try:
            self.api.apply_audit_config_status(
                {"nodeStatuses": []}, field_manager=self.settings.field_manager
            )
        except KubeError as error:
            if not error.not_found:
                raise
        self.entry = NodeStatus(nodeName=self.settings.node_name)

    def _fail(
        self,
        plan: Plan,
        layout: HostLayout,
        reason: str,
        *,
        rolled_back: bool,
        verified_time: str | None = None,
    ) -> None:
        phase: NodePhase = "RolledBack" if rolled_back else "Failed"
        self._report(
            plan, phase, reason, layout=layout, failure=reason, verified_time=verified_time
        )
        self._event(plan, phase, f"node {self.settings.node_name}: {reason}", warning=True)

    def _event(self, plan: Plan, reason: str, message: str, *, warning: bool) -> None:
        if plan.body is None:
            return
        self.api.record_event(
            namespace=self.settings.events_namespace,
            involved=plan.body,
            reason=reason,
            message=message,
            warning=warning,
            component=COMPONENT,
        )

    # --- lease ---------------------------------------------------------------------------

    def _lease(self, plan: Plan) -> RolloutLease:
        # Long enough to cover a whole health gate, so a live holder never loses its turn; a
        # crashed holder's turn expires after it.
        duration = plan.spec.rollout.health_timeout_seconds * 2 + 60
        return RolloutLease(
            self.api,
            namespace=self.settings.namespace,
            name=self.settings.lease_name,
            holder=self.settings.node_name,
            duration_seconds=duration,
            clock=self.clock,
        )

    def _release_lease_if_held(self, plan: Plan) -> None:
        with contextlib.suppress(KubeError):
            self._lease(plan).release()


def _manifest_pod(layout: HostLayout) -> dict[str, Any]:
    """The manifest as plain data for the health gate's lookups (the mirror pod's name, the
    /readyz address); {} when it cannot be read or parsed, so that the gate goes on with
    kubeadm's defaults and can still roll back."""
    try:
        pod = load_single_document(read_optional_manifest_text(layout) or "")
    except (HostError, YamlTextError):
        return {}
    return pod if isinstance(pod, dict) else {}
