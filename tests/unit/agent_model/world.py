"""The simulated cluster: hosts, kubelets, the API, a clock, and one real agent per node.

Deterministic: the same WorldConfig and events give the same run. Time moves only on Tick
(2 s each); agents step only on Step, each step being one `agent.step()` of the real
NodeAgent over the node's MemoryFileSystem, the simulated API and the node's probes. A crash
is a SimulatedCrash (a BaseException, so no `except Exception` in kaudit stops it) raised at
the k-th host write or API call of that agent; the world drops the agent and builds a new one
later. After the events, the faults stop and a quiet phase runs (steps and ticks only) until
the cluster converges or QUIET_ROUNDS pass; the invariants are checked all along.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from kaudit.agent.node_agent import AgentSettings, NodeAgent
from kaudit.kube.api import KubeError
from tests.unit.agent_model.api import SimulatedApi
from tests.unit.agent_model.invariants import (
    InvariantViolationError,
    NodeBook,
    Write,
    check_failure_report,
    check_text,
    in_flight,
    read_pending,
    settle,
)
from tests.unit.agent_model.kubelet import Kubelet
from tests.unit.agent_model.schedules import (
    ControllerRestart,
    Crash,
    Delete,
    Event,
    Host,
    KubeletBlind,
    KubeletFailing,
    KubeletSlow,
    Outage,
    RemoveNode,
    SetConfigMap,
    SetSpec,
    Step,
    Tick,
    WorldConfig,
)
from tests.unit.agent_model.universe import (
    CANARY_LABEL,
    CONFIG_MAP,
    CONFIG_MAP_POLICIES,
    MANIFEST_PATH,
    POLICY_PATH,
    SPECS,
    Target,
    default_labels,
    original_text,
    render_for,
    renderings,
    target,
)

try:
    from kaudit.hostio.memory import MemoryFileSystem
except ImportError:  # until the host layer lands
    from tests.unit.agent_model._standin_fs import MemoryFileSystem  # type: ignore[assignment]

START: Final = datetime(2026, 12, 2, 18, 0, 0, tzinfo=UTC)
TICK: Final = timedelta(seconds=2)
# Long enough for a crashed holder's Lease to expire (2 x 60 s + 60 s) and three nodes to
# change, roll back and verify one after the other.
QUIET_ROUNDS: Final = 400
_LIMIT: Final = 1 << 22


class SimulatedCrash(BaseException):
    """The agent process dies here (not an Exception: kaudit must not be able to catch it)."""


AgentFactory = Callable[..., Any]


def real_agent(
    *, api: Any, node: str, files: Any, probes: Any, clock: Callable[[], datetime]
) -> Any:
    settings = AgentSettings(node_name=node, host_root=files.root)
    return NodeAgent(api, settings, clock=clock, probes=probes, files=files)


@dataclass(kw_only=True)
class NodeProbesInWorld:
    """NodeProbes for one node: what the node itself shows, not what the API says."""

    kubelet: Kubelet

    def readyz(self, url: str) -> tuple[bool, str]:
        if self.kubelet.server_ready:
            return True, "HTTP 200 ok"
        return False, "not answering (connection refused)"

    def container_log_mtime(self, pod_name: str, pod_uid: str) -> float | None:
        return self.kubelet.container_log_mtime(pod_uid)

    def container_log_tail(self, pod_name: str) -> str:
        state = self.kubelet.process.state
        return "E0000 exiting: simulated start-up failure" if state == "crashlooping" else ""


@dataclass(kw_only=True)
class ArmedCrash:
    where: str  # "files", "api" or "after-write"
    remaining: int
    restart_after: int
    manifest_text: str | None = None  # for "after-write": the text before the write


@dataclass(kw_only=True)
class SimNode:
    host: Host
    files: Any
    kubelet: Kubelet
    book: NodeBook
    agent: Any | None = None
    restart_at: int = 0
    crash: ArmedCrash | None = None
    removed: bool = False
    # A fault touched this node (its kubelet, its agent, or an outage): a rollback here may
    # be the agent's fair answer to what it could see, not a start-up failure.
    faulted: bool = False

    @property
    def name(self) -> str:
        return self.host.name


@dataclass(kw_only=True)
class RunResult:
    steps: int
    quiet_rounds: int
    outcome: str
    step_errors: list[str] = field(default_factory=list)


class World:
    def __init__(self, config: WorldConfig, *, agent_factory: AgentFactory = real_agent) -> None:
        self.config = config
        self.agent_factory = agent_factory
        self.tick = 0
        self.outage_until = -1
        self.faults_on = True
        self.stepping: SimNode | None = None
        self.steps = 0
        self.spec_name = config.spec
        self.config_map = config.config_map
        self.api = SimulatedApi(before_call=self._before_call, pods=self._mirror_pod)
        self.api.config_maps[(CONFIG_MAP[0], CONFIG_MAP[1])] = {
            CONFIG_MAP[2]: CONFIG_MAP_POLICIES[config.config_map]
        }
        self.nodes: dict[str, SimNode] = {}
        for host in config.hosts:
            self.nodes[host.name] = self._boot(host)
        if config.spec is not None:
            self.api.put_spec(SPECS[config.spec])

    # --- set up ----------------------------------------------------------------------

    def now(self) -> datetime:
        return START + TICK * self.tick

    def _boot(self, host: Host) -> SimNode:
        original = original_text(host.fixture, host.line_ending)
        table = renderings(original)
        failing = frozenset(
            h
            for spec in host.failing
            for cm in CONFIG_MAP_POLICIES
            if (h := target(spec, cm).config_hash) is not None
        )
        files = MemoryFileSystem(
            root=Path(f"/memory/{host.name}"),
            clock=lambda: self.now().timestamp(),
            before_write=lambda op, path, name=host.name: self._before_write(name, op, path),
        )
        files.make_folders("/etc/kubernetes/manifests")
        files.write_atomically(MANIFEST_PATH, original, mode=0o600)
        book = NodeBook(
            original=original, renderings=table, settled_text=original, last_text=original
        )
        facts = files.file_facts(MANIFEST_PATH)
        book.last_inode = facts.inode if facts is not None else -1
        kubelet = Kubelet(
            node=host.name,
            files=files,
            renderings=table,
            failing_hashes=failing,
            on_read=lambda node, text: check_text(node, book, text, reader="the kubelet"),
        )
        kubelet.boot(self.now(), self.tick)
        labels = default_labels()
        if host.canary:
            labels[CANARY_LABEL] = ""
        self.api.nodes[host.name] = labels
        node = SimNode(host=host, files=files, kubelet=kubelet, book=book)
        node.agent = self._new_agent(node)
        return node

    def _new_agent(self, node: SimNode) -> Any:
        return self.agent_factory(
            api=self.api,
            node=node.name,
            files=node.files,
            probes=NodeProbesInWorld(kubelet=node.kubelet),
            clock=self.now,
        )

    # --- hooks -----------------------------------------------------------------------

    def api_up(self) -> bool:
        if self.tick <= self.outage_until:
            return False
        return any(n.kubelet.server_ready for n in self.nodes.values() if not n.removed)

    def _before_call(self, what: str) -> None:
        node = self.stepping
        if node is not None:
            self._count_towards_crash(node, "api")
        if not self.api_up():
            raise KubeError(f"{what}: the API server is not reachable (simulated)", status=0)

    def _before_write(self, name: str, operation: str, path: str) -> None:
        node = self.stepping
        if node is None or node.name != name:
            return  # the kubelet's own writes (the audit log)
        # The manifest as it is between two of the agent's writes: the kubelet may read it now.
        text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
        check_text(name, node.book, text, reader=f"a read before the agent's {operation} {path}")
        self._count_towards_crash(node, "files")

    def _count_towards_crash(self, node: SimNode, where: str) -> None:
        armed = node.crash
        if armed is None:
            return
        if armed.where == "after-write":
            # Right after the agent's manifest write, whatever it does next.
            text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
            if text == armed.manifest_text:
                return
        elif armed.where != where:
            return
        armed.remaining -= 1
        if armed.remaining <= 0:
            node.crash = None
            node.restart_at = self.tick + armed.restart_after
            raise SimulatedCrash(f"{node.name} at {where}")

    def _mirror_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        for node in self.nodes.values():
            if not node.removed and name == f"kube-apiserver-{node.name}":
                return node.kubelet.published
        return None

    # --- events ----------------------------------------------------------------------

    def run(self, events: Sequence[Event]) -> RunResult:
        errors: list[str] = []
        for event in events:
            self.apply(event, errors)
            self.check()
        self.stop_faults()
        rounds = 0
        outcome = self.outcome()
        while outcome is None and rounds < QUIET_ROUNDS:
            rounds += 1
            for node in self.live_nodes():
                self.step(node, errors)
                self.check()
            self.advance(1)
            self.check()
            outcome = self.outcome()
        if outcome is None:
            raise InvariantViolationError(
                self._unconverged_invariant(),
                f"no convergence after {QUIET_ROUNDS} quiet rounds: {self.describe()}",
            )
        return RunResult(steps=self.steps, quiet_rounds=rounds, outcome=outcome, step_errors=errors)

    def apply(self, event: Event, errors: list[str]) -> None:
        match event:
            case Step(node=name):
                node = self.nodes.get(name)
                if node is not None and not node.removed:
                    self.step(node, errors)
            case Tick(count=count):
                self.advance(count)
            case SetSpec(spec=spec):
                self.api.put_spec(SPECS[spec])
                self.spec_name = spec
                self._spec_moved()
            case SetConfigMap(policy=policy):
                self.api.config_maps[(CONFIG_MAP[0], CONFIG_MAP[1])] = {
                    CONFIG_MAP[2]: CONFIG_MAP_POLICIES[policy]
                }
                self.config_map = policy
                self._spec_moved()
            case Delete():
                self.api.mark_deleted(self.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
                self._spec_moved()
            case RemoveNode(node=name):
                node = self.nodes.get(name)
                if node is not None and len(self.live_nodes()) > 1:
                    node.removed = True
                    node.agent = None
                    self.api.nodes.pop(name, None)
            case ControllerRestart():
                pass
            case Crash(node=name, where=where, k=k, restart_after=after):
                if name in self.nodes and self.faults_on:
                    node = self.nodes[name]
                    node.crash = ArmedCrash(
                        where=where,
                        remaining=1 if where == "after-write" else k,
                        restart_after=after,
                        manifest_text=node.files.read_text(
                            MANIFEST_PATH, limit=_LIMIT, what="manifest"
                        ),
                    )
            case KubeletSlow(node=name, notice_delay=notice, report_delay=report):
                if name in self.nodes and self.faults_on:
                    faults = self.nodes[name].kubelet.faults
                    faults.notice_delay = notice
                    faults.report_delay = report
                    faults.report_needs_api = event.report_needs_api
            case KubeletBlind(node=name):
                if name in self.nodes and self.faults_on:
                    self.nodes[name].kubelet.faults.ignore_next_change = True
            case KubeletFailing(node=name, ticks=ticks):
                if name in self.nodes and self.faults_on:
                    self.nodes[name].kubelet.faults.failing_until_tick = self.tick + ticks
            case Outage(ticks=ticks):
                if self.faults_on:
                    self.outage_until = max(self.outage_until, self.tick + ticks)
        touched = isinstance(event, Crash | KubeletSlow | KubeletBlind | KubeletFailing)
        if touched and event.node in self.nodes and self.faults_on:
            self.nodes[event.node].faulted = True
        if isinstance(event, Outage) and self.faults_on:
            for node in self.nodes.values():
                node.faulted = True
        self.controller()

    def _spec_moved(self) -> None:
        for node in self.nodes.values():
            node.book.hashes_since_change.clear()

    def step(self, node: SimNode, errors: list[str]) -> None:
        if node.agent is None:
            if self.tick < node.restart_at:
                return
            node.agent = self._new_agent(node)
        self.steps += 1
        healthy = self.healthy_to_its_agent(node)
        self.stepping = node
        try:
            node.agent.step()
        except SimulatedCrash:
            node.agent = None
            return
        except KubeError:
            pass  # the loop (run_forever) retries: an unreachable API ends a step
        except Exception as error:
            raise InvariantViolationError(
                "0", f"{node.name}: step() raised {type(error).__name__}: {error}"
            ) from error
        finally:
            self.stepping = None
        if healthy and node.book.writes:
            node.book.writes[-1].healthy_seen = True

    def advance(self, count: int) -> None:
        for _ in range(count):
            self.tick += 1
            up = self.api_up()
            for node in self.live_nodes():
                node.kubelet.tick(self.now(), self.tick, api_up=up)
            self.controller()

    def stop_faults(self) -> None:
        self.faults_on = False
        self.outage_until = -1
        for node in self.nodes.values():
            node.crash = None
            node.restart_at = 0
            node.kubelet.end_faults()

    def live_nodes(self) -> list[SimNode]:
        return [n for n in self.nodes.values() if not n.removed]

    # --- the controller, as far as the agents depend on it --------------------------------

    def controller(self) -> None:
        """The finalizer and the entries of nodes that left (the controller's refresh)."""
        for name in list(self.api.entries()):
            if name not in self.api.nodes:
                self.api.drop_entry(name)
        body = self.api.audit_config
        if body is None or not body["metadata"].get("deletionTimestamp"):
            return
        entries = self.api.entries()
        if all(
            (entries.get(name) or {}).get("phase") == "Disabled" for name in self.selected_nodes()
        ):
            self.api.finish_deletion()

    def current_target(self) -> Target | None:
        if self.api.audit_config is None or self.spec_name is None:
            return None
        return target(self.spec_name, self.config_map)

    def selected_nodes(self) -> list[str]:
        found = self.current_target()
        if found is None:
            return []
        selector = dict(found.selector)
        return [
            name
            for name, labels in sorted(self.api.nodes.items())
            if all(k in labels and (not v or labels[k] == v) for k, v in selector.items())
        ]

    # --- invariants ------------------------------------------------------------------

    def healthy_to_its_agent(self, node: SimNode) -> bool:
        """Could the agent see its node's latest change healthy right now (invariant 3)?"""
        if not node.book.writes or not self.api_up():
            return False
        write = node.book.writes[-1]
        kubelet = node.kubelet
        if kubelet.process.text != write.text or not kubelet.server_ready:
            return False
        pod = kubelet.published or {}
        annotations = pod.get("metadata", {}).get("annotations", {})
        if annotations.get("kaudit.io/config-hash") != write.config_hash:
            return False
        status = (pod.get("status", {}).get("containerStatuses") or [{}])[0]
        started = status.get("state", {}).get("running", {}).get("startedAt")
        if not started or not status.get("ready"):
            return False
        if datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() + 1 < write.at:
            return False
        log_path = kubelet.process.host_log_path
        if write.config_hash is not None and log_path is not None:
            facts = node.files.file_facts(log_path)
            if facts is None or facts.mtime < write.at:
                return False
        return True

    def check(self) -> None:
        entries = self.api.entries()
        flying = []
        for node in self.live_nodes():
            book = node.book
            text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
            check_text(node.name, book, text, reader="a read after the event")
            assert text is not None
            facts = node.files.file_facts(MANIFEST_PATH)
            if facts is not None and facts.inode != book.last_inode:
                if text == book.last_text:
                    book.rewrites += 1  # the same text again: a kubelet nudge
                book.last_inode = facts.inode
            if text != book.last_text:
                rendering = book.rendering(text)
                config_hash = rendering.config_hash if rendering else None
                book.writes.append(
                    Write(text=text, config_hash=config_hash, at=self.now().timestamp())
                )
                book.hashes_since_change.add(config_hash)
                book.last_text = text
            pending = read_pending(node.files)
            entry = entries.get(node.name)
            settle(book, text, pending, entry)
            if in_flight(book, text, pending):
                flying.append(node.name)
            check_failure_report(node.name, book, entry)
        if len(flying) > 1:
            raise InvariantViolationError(
                "1", f"{' and '.join(flying)} are between write and verify at once"
            )

    def outcome(self) -> str | None:
        """'converged' or 'stopped at <node>' when the cluster is where the spec says."""
        body = self.api.audit_config
        if body is not None and body["metadata"].get("deletionTimestamp"):
            return None
        wanted = self.current_target()
        selected = set(self.selected_nodes()) if wanted is not None else set()
        entries = self.api.entries()
        generation = body["metadata"]["generation"] if body is not None else None
        order = sorted(n.name for n in self.live_nodes() if n.name in selected)
        for node in self.live_nodes():
            if node.name not in selected and not self._clean(node, entries):
                return None
        for index, name in enumerate(order):
            node = self.nodes[name]
            assert wanted is not None
            entry = entries.get(name) or {}
            if self._done(node, entry, wanted, generation):
                continue
            if entry.get("phase") in ("RolledBack", "Failed") and (
                entry.get("observedGeneration") == generation
            ):
                self._check_stop(node, wanted, order[index + 1 :])
                return f"stopped at {name}"
            return None
        return "converged"

    def _unconverged_invariant(self) -> str:
        """5 when a node meant to be off still differs from its original host, else 4."""
        wanted = self.current_target()
        selected = set(self.selected_nodes())
        entries = self.api.entries()
        for node in self.live_nodes():
            off = wanted is None or not wanted.enabled or node.name not in selected
            reported_off = (entries.get(node.name) or {}).get("phase") in ("Disabled", None)
            if off and reported_off and not self._host_is_original(node):
                return "5"
        return "4"

    def _clean(self, node: SimNode, entries: dict[str, Any]) -> bool:
        """An unselected node, or any node without an AuditConfig: as it was, no entry."""
        if read_pending(node.files) is not None or node.name in entries:
            return False
        return self._host_is_original(node)

    def _host_is_original(self, node: SimNode) -> bool:
        text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
        if text == node.book.original:
            # Invariant 5: kaudit's policy file goes with audit logging (none was there before).
            return node.files.read_text(POLICY_PATH, limit=_LIMIT, what="policy") is None
        return False

    def _done(
        self, node: SimNode, entry: dict[str, Any], wanted: Target, generation: int | None
    ) -> bool:
        if entry.get("observedGeneration") != generation or read_pending(node.files) is not None:
            return False
        if not wanted.enabled:
            return entry.get("phase") == "Disabled" and self._host_is_original(node)
        text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
        assert wanted.config_hash is not None
        return (
            entry.get("phase") == "Applied"
            and entry.get("configHash") == wanted.config_hash
            and text == render_for(node.book.original, wanted.config_hash)
        )

    def _check_stop(self, node: SimNode, wanted: Target, later: list[str]) -> None:
        if wanted.config_hash not in node.kubelet.failed_starts and not node.faulted:
            raise InvariantViolationError(
                "4",
                f"the rollout stopped at {node.name}, whose API server never failed to start"
                f" config {wanted.config_hash or '(audit off)'} and which no fault touched: "
                f"{self.describe()}",
            )
        text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest")
        writes = node.book.writes
        changes = [i for i, w in enumerate(writes) if w.config_hash == wanted.config_hash]
        if changes:
            before = writes[changes[-1] - 1].text if changes[-1] > 0 else node.book.original
            if text != before:
                raise InvariantViolationError(
                    "4", f"{node.name} stopped the rollout but is not restored byte for byte"
                )
        for name in later:
            if wanted.config_hash in self.nodes[name].book.hashes_since_change:
                raise InvariantViolationError(
                    "4", f"{name} got the config that failed on {node.name}, which is before it"
                )

    def describe(self) -> str:
        entries = self.api.entries()
        parts = [
            f"tick {self.tick}, AuditConfig "
            + (
                "absent"
                if self.api.audit_config is None
                else f"gen {self.api.audit_config['metadata']['generation']} spec "
                f"{self.spec_name} cm {self.config_map}"
                + (
                    " deleting"
                    if self.api.audit_config["metadata"].get("deletionTimestamp")
                    else ""
                )
            )
        ]
        for node in self.nodes.values():
            entry = entries.get(node.name) or {}
            text = node.files.read_text(MANIFEST_PATH, limit=_LIMIT, what="manifest") or ""
            rendering = node.book.rendering(text)
            shown = rendering.config_hash if rendering else "?"
            parts.append(
                f"{node.name}{' (removed)' if node.removed else ''}: manifest "
                f"{'original' if text == node.book.original else shown}"
                f", server {node.kubelet.process.state} {node.kubelet.process.config_hash}"
                f", pending {read_pending(node.files) is not None}"
                f", entry {entry.get('phase')} gen {entry.get('observedGeneration')}"
                f" hash {entry.get('configHash')} msg {str(entry.get('message'))[:160]!r}"
            )
        return "; ".join(parts)
