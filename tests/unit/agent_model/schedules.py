"""Schedules: what happens to the world, event by event, from a seed.

A schedule is a WorldConfig (nodes, their original manifests, which configs fail to start
where, the AuditConfig at the start) and a list of events. Every event's repr is the Python
that builds it, so a shrunk schedule can be pasted into a regression test as it is printed.
After the events the faults stop and a quiet phase runs (world.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.unit.agent_model.universe import (
    CONFIG_MAP_POLICIES,
    LINE_ENDINGS,
    ORIGINAL_FIXTURES,
    SPECS,
)

NODE_NAMES = ("cp-1", "cp-2", "cp-3")


@dataclass(frozen=True)
class Host:
    name: str
    fixture: str = "kubeadm-v1.34.yaml"
    line_ending: str = "lf"
    canary: bool = False
    failing: tuple[str, ...] = ()  # spec names whose config crash-loops on this node


@dataclass(frozen=True)
class WorldConfig:
    hosts: tuple[Host, ...]
    spec: str | None = "recommended"  # the AuditConfig at the start (None: there is none)
    config_map: str = "a"


# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One agent.step() on this node (a dead agent comes back first if its time has come)."""

    node: str


@dataclass(frozen=True)
class Tick:
    """Two seconds pass; every kubelet acts."""

    count: int = 1


@dataclass(frozen=True)
class SetSpec:
    spec: str  # a name in universe.SPECS; creates the AuditConfig when there is none


@dataclass(frozen=True)
class SetConfigMap:
    policy: str  # a name in universe.CONFIG_MAP_POLICIES


@dataclass(frozen=True)
class Delete:
    pass


@dataclass(frozen=True)
class RemoveNode:
    node: str


@dataclass(frozen=True)
class ControllerRestart:
    pass


@dataclass(frozen=True)
class Crash:
    """The node's agent dies at its k-th host write ("files") or API call ("api") from now,
    or at its first one after it changed the manifest ("after-write"); a new agent starts
    `restart_after` ticks later."""

    node: str
    where: str
    k: int
    restart_after: int = 0


@dataclass(frozen=True)
class KubeletSlow:
    node: str
    notice_delay: int = 0
    report_delay: int = 0
    report_needs_api: bool = False


@dataclass(frozen=True)
class KubeletBlind:
    """kubernetes#109596: the kubelet misses the next manifest change until a rewrite."""

    node: str


@dataclass(frozen=True)
class KubeletFailing:
    """Every start on this node fails for the next `ticks` ticks."""

    node: str
    ticks: int


@dataclass(frozen=True)
class Outage:
    """Every API call fails (status 0) for the next `ticks` ticks."""

    ticks: int


Event = (
    Step
    | Tick
    | SetSpec
    | SetConfigMap
    | Delete
    | RemoveNode
    | ControllerRestart
    | Crash
    | KubeletSlow
    | KubeletBlind
    | KubeletFailing
    | Outage
)


# --- the generator -----------------------------------------------------------------------


def generate(seed: int) -> tuple[WorldConfig, list[Event]]:
    rng = random.Random(seed)
    config = _config(rng)
    names = [host.name for host in config.hosts]
    events: list[Event] = []
    for _ in range(rng.randint(10, 70)):
        events.append(_event(rng, names, events))
    return config, events


def _config(rng: random.Random) -> WorldConfig:
    count = rng.choices((1, 2, 3), weights=(2, 3, 5))[0]
    failing_spec = rng.choice(["recommended", "metadata", "short-logs", "configmap"])
    failing_everywhere = rng.random() < 0.08
    hosts = []
    for name in NODE_NAMES[:count]:
        failing: tuple[str, ...] = ()
        if failing_everywhere or rng.random() < 0.06:
            failing = (failing_spec,)
        hosts.append(
            Host(
                name=name,
                fixture=rng.choice(ORIGINAL_FIXTURES),
                line_ending=rng.choice(LINE_ENDINGS),
                canary=rng.random() < 0.5,
                failing=failing,
            )
        )
    spec = rng.choice([None, "recommended", "recommended", "metadata", "configmap", "off"])
    return WorldConfig(
        hosts=tuple(hosts), spec=spec, config_map=rng.choice(sorted(CONFIG_MAP_POLICIES))
    )


def _event(rng: random.Random, names: list[str], so_far: list[Event]) -> Event:
    removed = {e.node for e in so_far if isinstance(e, RemoveNode)}
    live = [n for n in names if n not in removed] or names
    node = rng.choice(live)
    roll = rng.random()
    if roll < 0.42:
        return Step(node)
    if roll < 0.64:
        return Tick(rng.choice((1, 1, 1, 2, 3, 5)))
    if roll < 0.71:
        return SetSpec(rng.choice(sorted(SPECS)))
    if roll < 0.73:
        return SetConfigMap(rng.choice(sorted(CONFIG_MAP_POLICIES)))
    if roll < 0.745:
        return Delete()
    if roll < 0.75 and len(live) > 1:
        return RemoveNode(node)
    if roll < 0.76:
        return ControllerRestart()
    if roll < 0.83:
        return Crash(
            node,
            rng.choice(("files", "api", "after-write")),
            rng.randint(1, 8),
            rng.choice((0, 0, 1, 2, 5)),
        )
    if roll < 0.87:
        return KubeletSlow(
            node, rng.randint(0, 3), rng.randint(0, 6), report_needs_api=rng.random() < 0.3
        )
    if roll < 0.90:
        return KubeletBlind(node)
    if roll < 0.93:
        return KubeletFailing(node, rng.randint(1, 8))
    return Outage(rng.randint(1, 6))
