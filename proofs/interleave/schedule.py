"""Interleavings as traces: a schedule that ``rmap-verify replay`` runs step by step.

A schedule trace is a plain trace (``world``, the premapped ``map`` and
``set_pte``) followed by a ``paths`` operation, which starts the concurrent
paths on the interleaving engine (``Execution``), and one ``step`` per
scheduling choice: the CPU that moves, and what it does (the acquisition
it makes, the answer, the locks it then releases, in order).  Replaying
drives the same engine with the recorded choices, so it re-runs the
interleaving exactly; a step that cannot happen (its lock is held, its CPU
is at another acquisition, the answer differs) is a TraceError, one line.

The record of a step is the usual replay record (impl.trace); its
``result`` says what the step did.  The invariants are checked where the
explorer checks them (no lock held, or every path finished); the flush
rules on a path's whole event log once it finishes; ``fault`` is the
path's crash, or a deadlock when every unfinished path waits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from impl.flush_rules import flush_violations
from impl.kernel import Deadlock, Event, KernelFault
from impl.trace import Session, TraceError, validated
from impl.trace_schema import Map, Op, Paths, ScheduleStep, World, as_dict, convert
from proofs.interleave.execution import Execution, PathRun, StepRecord
from proofs.interleave.locks import RETRY_WAIT, LockingRuleBroken, lock_label
from proofs.interleave.world import PathSpec, paths_op, setup_trace
from proofs.interleave.world import World as InterleavingWorld

AGAIN_TRANSIENT = "again_is_transient"  # a retried reclaim answered SWAP_AGAIN again


class ScheduleSession(Session):
    """``impl.trace.Session`` that runs schedules too: ``paths`` starts the
    paths on the interleaving engine, each ``step`` moves one of them."""

    execution: Execution | None = None
    _path_events: dict[str, list[Event]]

    def start(self, world: World) -> None:
        self.close()
        super().start(world)

    def close(self) -> None:
        """Unwind the suspended paths (a replay that stops before they finish leaves them waiting)."""
        if self.execution is not None:
            self.execution.close()
            self.execution = None

    def apply(self, op: Mapping[str, Any] | Op) -> dict[str, Any]:
        if not isinstance(op, Op):
            op = validated(op)
        if isinstance(op, Paths):
            return self._paths(op)
        if isinstance(op, ScheduleStep):
            return self._step(op)
        if self.execution is not None and not isinstance(op, World):
            raise TraceError("only step operations follow a paths operation (until the next world)")
        return super().apply(op)

    # -- paths
    def _paths(self, op: Paths) -> dict[str, Any]:
        if self.rmap is None:
            raise TraceError("the first operation must be 'world'")
        if self.execution is not None:
            raise TraceError("a world has one paths operation; start a new world for another")
        held = [f"{mm.name}.page_table_lock" for mm in self.k.mms.values() if mm.page_table_lock.holder]
        if held or self.k.pagemap_lru_lock.holder:
            raise TraceError(
                f"the paths start with every lock free; {', '.join(held) or 'pagemap_lru_lock'} is held"
            )
        specs = [PathSpec(p.kind, str(p.pte or ""), int(p.pfn or 0)) for p in op.paths]
        try:
            ex = Execution.on(
                self.k, self.variant, specs, blocking=op.blocking_trylock, debug_rmap=self.debug_rmap
            )
        except ValueError as why:
            raise TraceError(str(why)) from None
        self.execution, self.k, self.rmap = ex, ex.k, ex.rmap
        self._path_events = {p.cpu: [] for p in ex.paths}
        waiting = {p.cpu: f"{p.spec.label()}: waits at {_pending(p)}" for p in ex.paths}
        return self._record("paths", waiting, ex.checked_violations() or {}, None)

    # -- steps
    def _step(self, op: ScheduleStep) -> dict[str, Any]:
        ex = self.execution
        if ex is None:
            raise TraceError("a step needs a paths operation before it")
        path = next((p for p in ex.paths if p.cpu == op.cpu), None)
        if path is None:
            raise TraceError(f"unknown cpu {op.cpu!r} (the paths run on cpu0..cpu{len(ex.paths) - 1})")
        if path.done:
            raise TraceError(f"{op.cpu} ({path.spec.label()}) has finished: it has no step left")
        _expect(op, path)
        why = ex.blocker(path)
        if why:
            raise TraceError(f"{op.cpu} cannot {_pending(path)}: {why}")
        start = len(self.k.events)
        step = ex.step(path.index)
        self._path_events[path.cpu] += self.k.events[start:]
        _expect_outcome(op, step)
        checked = ex.checked_violations()
        bad = dict(checked or {})
        if path.status == "finished":  # the flush rules read a path's whole log, as for a sequential caller
            bad.update(flush_violations(self._path_events[path.cpu]))
        if ex.events.not_transient:
            bad[AGAIN_TRANSIENT] = list(ex.events.not_transient)
        return self._record("step", _did(step, checked=checked is not None), bad, _fault(ex, path))

    def _record(
        self, op: str, result: Any, bad: dict[str, list[str]], fault: KernelFault | None
    ) -> dict[str, Any]:
        record = self.record(op, result, fault=fault)
        record["violations"] = bad
        return record


def _pending(path: PathRun) -> str:
    assert path.pending is not None
    return path.pending.describe()


def _expect(op: ScheduleStep, path: PathRun) -> None:
    """The step's acquisition is the one its path waits at."""
    acquire = path.pending
    assert acquire is not None
    now = {
        "path": path.spec.label(),
        "acquires": acquire.primitive,
        "lock": lock_label(acquire.key) if acquire.key else None,
        "at": acquire.where,
    }
    given = as_dict(op)
    wrong = [key for key in now if key in given and given[key] != now[key]]
    if wrong:
        said = ", ".join(f"{key} {given[key]}" for key in wrong)
        raise TraceError(f"{op.cpu} cannot make this step ({said}): its next step is {_pending(path)}")


def _expect_outcome(op: ScheduleStep, step: StepRecord) -> None:
    """The step answered, and released, what the trace says it does."""
    if isinstance(op.answer, str) and op.answer != step.answer:
        raise TraceError(f"{op.cpu}'s {step.acquire.describe()} answered {step.answer}, not {op.answer}")
    if isinstance(op.releases, list) and op.releases != list(step.released):
        released, said = ", ".join(step.released) or "nothing", ", ".join(op.releases) or "nothing"
        raise TraceError(f"{op.cpu}'s step released {released}, not {said}")


def _did(step: StepRecord, *, checked: bool) -> dict[str, Any]:
    """A step record's ``result``: what the step did, and every lock held afterwards."""
    return {
        "cpu": step.cpu,
        "path": step.path,
        "did": step.acquire.describe(),
        "answer": step.answer,
        "releases": list(step.released),
        "finished": step.finished,
        "holds": step.holds,
        "invariants_checked": checked,
    }


def _fault(ex: Execution, path: PathRun) -> KernelFault | None:
    """The path's crash, else a deadlock when no unfinished path can move."""
    if path.status == "crashed":
        error = path.error
        if isinstance(error, KernelFault):
            return error
        kind = "locking rule broken" if isinstance(error, LockingRuleBroken) else type(error).__name__
        return KernelFault(path.spec.label(), f"{kind}: {error}")
    if ex.deadlocked():
        waits = ex.waits()
        return Deadlock(", ".join(w.acquire.where for w in waits), "; ".join(w.line() for w in waits))
    return None


# ---------------------------------------------------------------- the explorer's side


@functools.cache
def _setup(world: InterleavingWorld) -> tuple[Op, ...]:
    return tuple(convert(op) for op in setup_trace(world))


def start_world(world: InterleavingWorld, variant: str, *, blocking: bool) -> Execution:
    """``world``'s paths started on variant, the kernel made by the very
    operations a schedule trace of it begins with."""
    session = Session(variant)
    for op in _setup(world):
        answer = session.run(op)
        if isinstance(op, Map) and answer != "mapped":
            raise ValueError(f"world {world.name}: cannot map {op.pte}: {answer}")
    return Execution.on(session.k, variant, world.paths, blocking=blocking)


def step_op(step: StepRecord) -> dict[str, Any]:
    """The trace's step operation that makes ``step`` again (its choice, and what it must do)."""
    lock = {"lock": lock_label(step.acquire.key)} if step.acquire is not RETRY_WAIT else {}
    return {
        "op": "step",
        "cpu": step.cpu,
        "path": step.path,
        "acquires": step.acquire.primitive,
        **lock,
        "at": step.acquire.where,
        "answer": step.answer,
        "releases": list(step.released),
    }


def schedule_trace(
    world: InterleavingWorld, steps: Iterable[StepRecord], *, blocking: bool
) -> list[dict[str, Any]]:
    """The trace that replays an interleaving of ``world`` whose steps were ``steps``."""
    return [*setup_trace(world), paths_op(world, blocking=blocking), *(step_op(s) for s in steps)]


def is_schedule(trace: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a trace (as operations) runs concurrent paths."""
    return any(op.get("op") == "paths" for op in trace)


def replay_schedule(trace: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    """Every record of the trace replayed on variant (a TraceError when a step cannot happen)."""
    session = ScheduleSession(variant)
    try:
        return [session.apply(op) for op in trace]
    finally:
        session.close()
