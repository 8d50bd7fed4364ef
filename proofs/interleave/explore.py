"""Breadth-first exploration of every schedule of a world, states deduplicated.

A state is rebuilt by replaying its schedule from the world (threads
cannot be copied); the world is tiny, so this costs little.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from proofs.interleave.execution import Execution, StepEvents, StepRecord, Wait
from proofs.interleave.schedule import start_world
from proofs.interleave.world import World


def is_sequential(schedule: tuple[int, ...]) -> bool:
    """Each path runs in one stretch (taken at a lock-free state: every
    stretch but the last ran its path to the end)."""
    stretches = [i for n, i in enumerate(schedule) if n == 0 or schedule[n - 1] != i]
    return len(stretches) == len(set(stretches))


def alone(schedule: tuple[int, ...]) -> bool:
    """Only one path moved: it shows what it shows with no other path's help."""
    return len(set(schedule)) <= 1


def replay(world: World, variant: str, schedule: tuple[int, ...], *, blocking: bool) -> Execution:
    """A fresh execution advanced through ``schedule`` (path indices)."""
    ex = start_world(world, variant, blocking=blocking)
    for index in schedule:
        ex.step(index)
    return ex


def interleaving(
    world: World, variant: str, schedule: tuple[int, ...], *, blocking: bool
) -> tuple[list[StepRecord], list[Wait]]:
    """The steps of ``schedule`` replayed on impl/, and what is then waited for."""
    ex = start_world(world, variant, blocking=blocking)
    try:
        steps = [ex.step(index) for index in schedule]
        return steps, ex.waits() if ex.deadlocked() else []
    finally:
        ex.close()


# ---------------------------------------------------------------- exploration


@dataclass
class Exploration:
    """What exhaustive exploration of one world, variant and mode found.

    Lists of schedules keep the first (shortest, by breadth-first order)
    witness of each kind.  Of the violations, the first reached by a
    schedule that really interleaves (some path stops at a lock and resumes
    after another moved) is kept apart, and for each violated invariant the
    sequential schedule (whole paths, one after another) with the fewest
    paths that shows it: where one path alone does, no interleaving is needed.
    """

    world: World
    variant: str
    blocking: bool
    complete: bool = False
    states: int = 0
    transitions: int = 0
    max_depth: int = 0
    seconds: float = 0.0
    quiescent_checked: int = 0
    final_states: int = 0
    trylock_failures: int = 0
    averted_deadlocks: int = 0
    retries: int = 0
    reasked: int = 0
    deadlocks: list[tuple[int, ...]] = field(default_factory=list)
    finals: set[Hashable] = field(default_factory=set)  # fingerprints of the states where all paths are done
    violations: list[tuple[tuple[int, ...], dict[str, list[str]]]] = field(default_factory=list)
    interleaved_violation: tuple[tuple[int, ...], dict[str, list[str]]] | None = None
    sequential: dict[str, tuple[int, ...]] = field(default_factory=dict)  # invariant -> fewest-path schedule
    violated: set[str] = field(default_factory=set)
    not_transient: list[tuple[tuple[int, ...], str]] = field(default_factory=list)
    crashes: list[tuple[tuple[int, ...], str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "world": self.world.name,
            **self.world.sizes(),
            "variant": self.variant,
            "lock": "spin_lock" if self.blocking else "spin_trylock",
            "complete": self.complete,
            "states": self.states,
            "transitions": self.transitions,
            "max_depth": self.max_depth,
            "seconds": round(self.seconds, 3),
            "quiescent_states_checked": self.quiescent_checked,
            "final_states": self.final_states,
            "trylock_failures": self.trylock_failures,
            "averted_deadlocks": self.averted_deadlocks,
            "retries": self.retries,
            "deadlock_states": len(self.deadlocks),
        }


def explore(world: World, variant: str, *, blocking: bool, budget: float, dedup: bool = True) -> Exploration:
    """Every interleaving of ``world``'s paths, breadth first, deduplicated
    (or, with ``dedup`` off, the whole tree of schedules: what the dedup
    saves, and a check that merging states loses nothing).

    Stops (incomplete) when ``budget`` seconds have passed.
    """
    start = time.perf_counter()
    out = Exploration(world, variant, blocking)
    root = start_world(world, variant, blocking=blocking)
    seen = {root.fingerprint()}
    _visit(out, root, ())
    root.close()
    queue: deque[tuple[int, ...]] = deque([()])
    while queue:
        if time.perf_counter() - start > budget:
            out.seconds = time.perf_counter() - start
            return out
        schedule = queue.popleft()
        ex = replay(world, variant, schedule, blocking=blocking)
        enabled = ex.enabled()
        if not enabled:
            ex.close()
        for n, index in enumerate(enabled):
            child = ex if n == len(enabled) - 1 else replay(world, variant, schedule, blocking=blocking)
            try:
                child.step(index)
                _absorb(out, child.events, (*schedule, index))
                fp = child.fingerprint() if dedup else (*schedule, index)
                if fp not in seen:
                    seen.add(fp)
                    _visit(out, child, (*schedule, index))
                    queue.append((*schedule, index))
            finally:
                child.close()
    out.complete = True
    out.seconds = time.perf_counter() - start
    return out


def _absorb(out: Exploration, events: StepEvents, schedule: tuple[int, ...]) -> None:
    out.transitions += 1
    out.trylock_failures += events.trylock_failed
    out.averted_deadlocks += events.averted_deadlock
    out.retries += events.retried
    out.reasked += events.reasked
    if events.not_transient and not out.not_transient:
        out.not_transient.append((schedule, events.not_transient[0]))
    if events.crash and len(out.crashes) < 10:
        out.crashes.append((schedule, events.crash))


def _visit(out: Exploration, ex: Execution, schedule: tuple[int, ...]) -> None:
    out.states += 1
    out.max_depth = max(out.max_depth, len(schedule))
    if ex.deadlocked():
        out.deadlocks.append(schedule)
    done = all(p.done for p in ex.paths)
    if done:
        out.final_states += 1
        out.finals.add(ex.fingerprint())
    bad = ex.checked_violations()
    if bad is None:
        return
    out.quiescent_checked += 1
    if bad and not set(bad) <= out.violated:
        out.violated |= set(bad)
        out.violations.append((schedule, bad))
    if bad and out.interleaved_violation is None and not is_sequential(schedule):
        out.interleaved_violation = (schedule, bad)
    if is_sequential(schedule):
        for name in bad:
            known = out.sequential.get(name)
            if known is None or len(set(schedule)) < len(set(known)):
                out.sequential[name] = schedule
