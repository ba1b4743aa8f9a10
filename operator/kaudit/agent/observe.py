"""What one agent step sees: the AuditConfig, the host's files, the Lease, the health gate.

Reading is kept apart from deciding (kaudit.rollout.node_step) and from doing
(kaudit.agent.executor). The expensive pure parts (the policy rendered for a spec, the manifest
held against it) are cached here by their inputs: a step runs every few seconds while a node
verifies, and the answers change only when the spec, the ConfigMap or a host file does.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kaudit.audit_config import ParsedAuditConfig, parse_audit_config
from kaudit.config import AuditConfigSpec, ConfigError
from kaudit.desired import DesiredState, DisabledState, EnabledState, desired_state
from kaudit.host_records import HostFacts
from kaudit.hostio.files import HostLayout, layout_for, layout_from_state, read_host_facts
from kaudit.hostio.fs import HostFileSystem
from kaudit.hostio.probes import NodeProbes
from kaudit.kube.api import KubeError
from kaudit.limits import MAX_POLICY_BYTES, InputRefusedError, check_text_size
from kaudit.manifest import ANNOTATION_CONFIG_HASH, ManifestError
from kaudit.policy import PolicyError, check_rendered_size
from kaudit.rollout.entries import NodeEntry
from kaudit.rollout.health import (
    HealthExpectation,
    HealthObservation,
    HealthVerdict,
    evaluate_health,
    static_pod_uid,
)
from kaudit.rollout.node_step import HealthWanted, MirrorPodView, Observation, host_view
from kaudit.rollout.turn import LeaseView, lease_view, rollout_order
from kaudit.yamltext import YamlTextError, load_single_document

log = logging.getLogger("kaudit.agent")

SOURCE = "AuditConfig cluster"
# A spec or policy that cannot be used: the node's problem until the spec changes.
_SPEC_PROBLEMS = (ConfigError, PolicyError, InputRefusedError, YamlTextError, ManifestError)


class AgentApi(Protocol):
    """The Kubernetes API calls an agent makes (kaudit.kube.api.KubeApi has them all)."""

    def get_audit_config(self) -> dict[str, Any] | None: ...
    def node_names(self, selector: Mapping[str, str]) -> list[str]: ...
    def config_map_value(self, namespace: str, name: str, key: str) -> str | None: ...
    def apply_audit_config_status(
        self, status: Mapping[str, Any], *, field_manager: str
    ) -> object: ...
    def record_event(
        self,
        *,
        namespace: str,
        involved: Mapping[str, Any],
        reason: str,
        message: str,
        warning: bool,
        component: str,
    ) -> None: ...
    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def dry_run_create_pod(self, namespace: str, pod: Mapping[str, Any]) -> None: ...
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create_lease(self, namespace: str, lease: Mapping[str, Any]) -> dict[str, Any]: ...
    def replace_lease(
        self, namespace: str, name: str, lease: Mapping[str, Any]
    ) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class Wanted:
    """The desired state for a parsed AuditConfig, or why there is none."""

    desired: DesiredState | None
    problem: str | None


@dataclass(frozen=True, kw_only=True)
class ManifestFacts:
    """Lookups the health gate makes in the manifest (kubeadm's defaults when unreadable)."""

    pod_name: str
    readyz_url: str


class ReadyzStreak:
    """How long /readyz has answered ok in a row while one expectation is watched."""

    def __init__(self) -> None:
        self._key: object = None
        self._since: datetime | None = None

    def seen(self, key: object, ok: bool, now: datetime) -> float:
        if key != self._key or not ok:
            self._key, self._since = key, (now if ok else None)
            return 0.0
        if self._since is None:
            self._since = now
        return (now - self._since).total_seconds()


class Observer:
    """Reads the world for one step; keeps only caches and the readyz streak between steps."""

    def __init__(
        self,
        api: AgentApi,
        *,
        node: str,
        host_root: Any,
        files: HostFileSystem | None,
        probes: NodeProbes,
        readyz_url: str | None,
        lease_namespace: str,
        lease_name: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.lease_namespace = lease_namespace
        self.lease_name = lease_name
        self.api = api
        self.node = node
        self.host_root = host_root
        self.files = files
        self.probes = probes
        self.readyz_url = readyz_url
        self.clock = clock
        self.readyz = ReadyzStreak()
        self._wanted: dict[str, Wanted] = {}

    def layout(self, desired: DesiredState | None) -> HostLayout:
        if desired is not None:
            return layout_for(desired, root=self.host_root, files=self.files)
        return layout_from_state(root=self.host_root, files=self.files)

    def observe(
        self, body: Mapping[str, Any] | None, entry: NodeEntry, watching_since: datetime | None
    ) -> tuple[Observation, HostLayout]:
        """Everything but the health gate; raises HostError & co. for unusable host files."""
        config = parse_audit_config(body, source=SOURCE) if body is not None else None
        wanted = self.wanted(config) if config is not None else Wanted(desired=None, problem=None)
        order: tuple[str, ...] = ()
        if config is not None and config.spec is not None:
            order = tuple(rollout_order(self.api.node_names(config.spec.node_selector)))
        layout = self.layout(wanted.desired)
        facts = read_host_facts(layout)
        disabled_here = DisabledState(host_paths=layout.paths, log_file_name=layout.log_file_name)
        view = (
            host_view(facts.manifest_text, facts.policy_text, wanted.desired)
            if wanted.desired is not None
            else None
        )
        seen = Observation(
            node=self.node,
            now=self.clock(),
            config=config,
            desired=wanted.desired,
            problem=wanted.problem or (config.problem if config is not None else None),
            selected=self.node in order or (config is not None and config.spec is None),
            order=order,
            host=facts,
            view=view,
            lease=self._lease(),
            entry=entry,
            disabled_here=disabled_here,
            watching_since=watching_since,
        )
        return seen, layout

    def _lease(self) -> LeaseView:
        return lease_view(self.api.get_lease(self.lease_namespace, self.lease_name))

    def wanted(self, config: ParsedAuditConfig) -> Wanted:
        spec = config.spec
        if spec is None:
            return Wanted(desired=None, problem=config.problem)
        if config.deleting or not spec.enabled:
            return self._cached(dataclasses.replace(spec, enabled=False), None)
        try:
            text = self._config_map_text(spec)
        except _SPEC_PROBLEMS as error:
            return Wanted(desired=None, problem=f"policy not applied: {error}")
        return self._cached(spec, text)

    def _cached(self, spec: AuditConfigSpec, config_map_text: str | None) -> Wanted:
        key = json.dumps([repr(spec), config_map_text])
        found = self._wanted.get(key)
        if found is None:
            found = _wanted_for(spec, config_map_text)
            if len(self._wanted) > 16:
                self._wanted.clear()
            self._wanted[key] = found
        return found

    def _config_map_text(self, spec: AuditConfigSpec) -> str | None:
        ref = spec.policy.config_map_ref
        if ref is None:
            return None
        text = self.api.config_map_value(ref.namespace, ref.name, ref.key)
        if text is None:
            raise ConfigError(
                source=SOURCE,
                field="spec.policy.configMapRef",
                reason=f"ConfigMap {ref.namespace}/{ref.name} key {ref.key!r} not found",
            )
        where = f"ConfigMap {ref.namespace}/{ref.name} key {ref.key}"
        check_text_size(text, limit=MAX_POLICY_BYTES, source=where, what="policy")
        return text

    # --- the health gate -------------------------------------------------------------------

    def health(
        self, facts: HostFacts, wanted: HealthWanted, *, log_before: tuple[int, float] | None
    ) -> tuple[HealthVerdict, MirrorPodView]:
        """One look at the API server this node runs, against what the change expects."""
        manifest = manifest_facts(facts.manifest_text or "", self.node)
        pod: Mapping[str, Any] | None = None
        api_error = None
        try:
            pod = self.api.get_pod("kube-system", manifest.pod_name)
        except KubeError as error:
            api_error = str(error)
        readyz_ok, readyz_detail = self.probes.readyz(self.readyz_url or manifest.readyz_url)
        uid = static_pod_uid(pod)
        now = self.clock()
        observation = HealthObservation(
            mirror_pod=pod,
            api_error=f"API not answering: {api_error}" if api_error else None,
            readyz_ok=readyz_ok,
            readyz_detail=readyz_detail,
            log_size=facts.audit_log_size,
            log_mtime=facts.audit_log_mtime,
            container_log_mtime=(
                self.probes.container_log_mtime(manifest.pod_name, uid) if uid else None
            ),
            readyz_ok_seconds=self.readyz.seen(wanted, readyz_ok, now),
        )
        expected = HealthExpectation(
            config_hash=wanted.config_hash,
            written_at=wanted.since,
            log_size_before=log_before[0] if log_before else None,
            log_mtime_before=log_before[1] if log_before else None,
            check_log=wanted.check_log,
        )
        annotations = ((pod or {}).get("metadata") or {}).get("annotations") or {}
        running = annotations.get(ANNOTATION_CONFIG_HASH)
        mirror = MirrorPodView(
            running_hash=running if isinstance(running, str) and running else None,
            api_error=api_error,
        )
        return evaluate_health(observation, expected), mirror


def _wanted_for(spec: AuditConfigSpec, config_map_text: str | None) -> Wanted:
    try:
        desired = desired_state(spec, source=SOURCE, config_map_text=config_map_text)
        if isinstance(desired, EnabledState):
            # Never write a policy file this agent could not read back.
            check_rendered_size(desired.policy_text, source=SOURCE, limit=MAX_POLICY_BYTES)
    except _SPEC_PROBLEMS as error:
        return Wanted(desired=None, problem=f"policy not applied: {error}")
    except Exception as error:  # the backstop: the policy is text anyone may write
        log.exception("Could not read the policy")
        return Wanted(
            desired=None,
            problem=f"policy not applied: kaudit could not read it ({type(error).__name__})",
        )
    return Wanted(desired=desired, problem=None)


@functools.lru_cache(maxsize=32)
def manifest_facts(manifest_text: str, node: str) -> ManifestFacts:
    """The mirror pod's name and the /readyz address, from the manifest kubelet runs."""
    try:
        pod = load_single_document(manifest_text)
    except YamlTextError:
        pod = {}
    if not isinstance(pod, dict):
        pod = {}
    name = str((pod.get("metadata") or {}).get("name") or "kube-apiserver")
    port, host = "6443", "127.0.0.1"
    for container in (pod.get("spec") or {}).get("containers") or []:
        if not isinstance(container, dict):
            continue
        for item in [*(container.get("command") or []), *(container.get("args") or [])]:
            text = str(item)
            if text.startswith("--secure-port="):
                port = text.split("=", 1)[1]
            if text.startswith("--advertise-address="):
                host = text.split("=", 1)[1]
    return ManifestFacts(pod_name=f"{name}-{node}", readyz_url=f"https://{host}:{port}/readyz")
