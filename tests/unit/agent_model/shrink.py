"""Running schedules, and shrinking one that breaks an invariant to a minimal one.

The shrinker removes chunks of events (halves, then quarters, down to single events) while the
schedule still breaks the same invariant, then makes the remaining ticks and crash counts
smaller, and prints the result as a test function for test_agent_model_regressions.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.unit.agent_model.invariants import InvariantViolationError
from tests.unit.agent_model.schedules import Crash, Event, Tick, WorldConfig, generate
from tests.unit.agent_model.world import AgentFactory, RunResult, World, real_agent


@dataclass(kw_only=True)
class Found:
    """A schedule that broke an invariant, shrunk."""

    seed: int | None
    invariant: str
    detail: str
    config: WorldConfig
    events: list[Event]

    def as_test(self, name: str = "test_model_found") -> str:
        return regression_source(name, self.config, self.events, self.invariant, self.detail)

    def __str__(self) -> str:
        return (
            f"invariant {self.invariant} broken (seed {self.seed}): {self.detail}\n"
            f"minimal schedule ({len(self.events)} events), paste into "
            f"tests/unit/test_agent_model_regressions.py:\n\n{self.as_test()}"
        )


def run_schedule(
    config: WorldConfig, events: Sequence[Event], *, agent_factory: AgentFactory = real_agent
) -> RunResult:
    """One run; raises InvariantViolationError when an invariant breaks."""
    return World(config, agent_factory=agent_factory).run(events)


def violation_of(
    config: WorldConfig, events: Sequence[Event], agent_factory: AgentFactory
) -> InvariantViolationError | None:
    try:
        run_schedule(config, events, agent_factory=agent_factory)
    except InvariantViolationError as violation:
        return violation
    return None


def shrink(
    config: WorldConfig,
    events: Sequence[Event],
    invariant: str,
    *,
    agent_factory: AgentFactory = real_agent,
    budget: int = 400,
) -> tuple[list[Event], InvariantViolationError]:
    """The smallest schedule found (within `budget` runs) that still breaks `invariant`."""
    runs = 0

    def breaks(candidate: list[Event]) -> InvariantViolationError | None:
        nonlocal runs
        runs += 1
        found = violation_of(config, candidate, agent_factory)
        return found if found is not None and found.invariant == invariant else None

    current = list(events)
    last = breaks(current)
    if last is None:
        raise ValueError("the schedule does not break the invariant it is said to break")
    chunk = max(1, len(current) // 2)
    while chunk >= 1 and runs < budget:
        removed_any = False
        start = 0
        while start < len(current) and runs < budget:
            candidate = current[:start] + current[start + chunk :]
            found = breaks(candidate)
            if found is not None:
                current, last, removed_any = candidate, found, True
            else:
                start += chunk
        if not removed_any:
            chunk //= 2
    for index, event in enumerate(current):
        if runs >= budget:
            break
        smaller = _smaller(event)
        if smaller is None:
            continue
        candidate = [*current[:index], smaller, *current[index + 1 :]]
        found = breaks(candidate)
        if found is not None:
            current, last = candidate, found
    return current, last


def _smaller(event: Event) -> Event | None:
    if isinstance(event, Tick) and event.count > 1:
        return Tick(1)
    if isinstance(event, Crash) and (event.k > 1 or event.restart_after > 0):
        return dataclasses.replace(event, k=max(1, event.k // 2), restart_after=0)
    return None


def find_in_seed(
    seed: int, *, agent_factory: AgentFactory = real_agent, shrink_budget: int = 400
) -> tuple[RunResult | None, Found | None]:
    """Run the schedule of one seed; a violation comes back shrunk."""
    config, events = generate(seed)
    try:
        return run_schedule(config, events, agent_factory=agent_factory), None
    except InvariantViolationError as violation:
        small, last = shrink(
            config, events, violation.invariant, agent_factory=agent_factory, budget=shrink_budget
        )
        return None, Found(
            seed=seed, invariant=last.invariant, detail=last.detail, config=config, events=small
        )


def regression_source(
    name: str, config: WorldConfig, events: Sequence[Event], invariant: str, detail: str
) -> str:
    lines = [
        f"def {name}() -> None:",
        f'    """Invariant {invariant}: {detail[:300]}"""'.replace("\\", "\\\\"),
        f"    config = {config!r}",
        "    events: list[Event] = [",
        *(f"        {event!r}," for event in events),
        "    ]",
        "    run_schedule(config, events)",
    ]
    return "\n".join(lines) + "\n"


Runner = Callable[[int], tuple[RunResult | None, Found | None]]
