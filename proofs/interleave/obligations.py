"""The locking argument of the seed, machine-checked by exhaustive interleaving.

The fault path takes ``mm->page_table_lock`` and then, inside
page_add_rmap, the page's ``pte_chain_lock``; zap does the same around
page_remove_rmap; reclaim takes ``pagemap_lru_lock``, the page lock and
``pte_chain_lock``, and then, in try_to_unmap_one, each mapping's
``page_table_lock``: the opposite order.  The seed only *tries* that last
lock and answers SWAP_AGAIN.  ``proofs.interleave`` runs impl/'s own
callers concurrently; the obligations below explore every interleaving of
the worlds in ``WORLDS`` and state:

- with spin_trylock (the seed): no deadlock is reachable, and wherever no
  lock is held the whole representation invariant holds;
- with a blocking spin_lock in its place: a deadlock is reachable (the
  interleaving is the obligation's detail, step by step);
- SWAP_AGAIN is transient: once the other paths have finished, a retried
  reclaim answers no SWAP_AGAIN.

docs_src/locking.md explains the argument, the step granularity and what
the model leaves out; ``deadlock_sequence_diagram`` draws the deadlock.
"""

from __future__ import annotations

import time
from typing import Any

from impl.invariants import ALL_INVARIANTS
from impl.variants import VARIANTS
from proofs.interleave.execution import StepRecord, Wait
from proofs.interleave.explore import Exploration, alone, explore, interleaving
from proofs.interleave.locks import lock_label
from proofs.interleave.schedule import replay_schedule, schedule_trace
from proofs.interleave.world import World, make_world
from proofs.obligation import Obligation, Outcome

# The worlds every obligation explores completely (make_world's arguments:
# mms, ptes, fault paths, zap paths, reclaim paths).  The first is the
# acceptance minimum: 3 paths over 2 mms and 3 ptes.
WORLDS: tuple[World, ...] = (
    make_world(2, 3, 1, 1),
    make_world(2, 3, 1, 1, n_reclaims=2),
    make_world(3, 5, 2, 2),
)
# The world whose deadlock the blocking obligation exhibits and docs draw.
DEADLOCK_WORLD = WORLDS[0]

_WORLD_TEXT = "; ".join(w.name for w in WORLDS)
METHOD = f"exhaustive interleavings, breadth first with state dedup ({_WORLD_TEXT}; 1 page each)"
PATHS = "fault || zap || reclaim"

_cache: dict[tuple[str, str, bool], Exploration] = {}


def exploration(world: World, variant: str, *, blocking: bool, budget: float) -> Exploration:
    """``explore`` once per process for each world, variant and lock kind."""
    key = (world.name, variant, blocking)
    if key not in _cache:
        found = explore(world, variant, blocking=blocking, budget=budget)
        if not found.complete:
            return found
        _cache[key] = found
    return _cache[key]


def _all(variant: str, *, blocking: bool, timeout: float) -> tuple[list[Exploration], Outcome | None]:
    """Explore every world within ``timeout`` seconds in all; an incomplete
    exploration is a timeout outcome (never a proof)."""
    start = time.perf_counter()
    done = []
    for world in WORLDS:
        left = timeout - (time.perf_counter() - start)
        found = exploration(world, variant, blocking=blocking, budget=max(left, 0.0))
        if not found.complete:
            detail = {"world": world.name, "explored": found.summary(), "budget_seconds": timeout}
            return done, Outcome("timeout", time.perf_counter() - start, detail)
        done.append(found)
    return done, None


def _summaries(found: list[Exploration]) -> list[dict[str, Any]]:
    return [e.summary() for e in found]


def _witness(e: Exploration, schedule: tuple[int, ...], *, blocking: bool) -> dict[str, Any]:
    """The replayed interleaving of ``schedule``: what a person reads, and
    the trace (``trace``) that `rmap-verify replay` runs step by step."""
    steps, waits = interleaving(e.world, e.variant, schedule, blocking=blocking)
    return {
        "world": e.world.name,
        "schedule": [e.world.paths[i].label() for i in schedule],
        "cpus": {f"cpu{i}": spec.label() for i, spec in enumerate(e.world.paths)},
        "interleaving": [s.line(n) for n, s in enumerate(steps, 1)],
        "steps": [
            {
                "path": s.path,
                "cpu": s.cpu,
                "acquires": s.acquire.primitive,
                "lock": lock_label(s.acquire.key) if s.acquire.key else None,
                "in": s.acquire.where,
                "result": s.result,
                "releases": list(s.released),
                "holds": s.holds,
            }
            for s in steps
        ],
        "waits": [w.line() for w in waits],
        "trace": schedule_trace(e.world, steps, blocking=blocking),
    }


def _without_interleaving(found: list[Exploration], names: list[str]) -> dict[str, str]:
    """For each violated invariant, the fewest whole paths that show it run
    one after another (in any world explored), when some do."""
    out = {}
    for name in names:
        shown = [(len(set(e.sequential[name])), e) for e in found if name in e.sequential]
        if not shown:
            continue
        _, e = min(shown, key=lambda pair: pair[0])
        schedule = e.sequential[name]
        labels = [e.world.paths[i].label() for i in dict.fromkeys(schedule)]
        how = (
            f"{labels[0]} alone shows it" if alone(schedule) else f"{', then '.join(labels)}, whole, show it"
        )
        out[name] = f"{how} ({e.world.name})"
    return out


def _crashed(found: list[Exploration]) -> Outcome | None:
    """A path that stopped with a kernel fault (or any exception) fails
    every trylock obligation: the model ran something impl/ cannot do."""
    for e in found:
        if e.crashes:
            schedule, why = e.crashes[0]
            detail = _witness(e, schedule, blocking=False)
            return Outcome("counterexample", 0.0, {**detail, "reason": why, "explored": _summaries(found)})
    return None


def _vacuous(found: list[Exploration], what: str, holds: bool) -> Outcome | None:
    if holds:
        return None
    return Outcome("vacuous", 0.0, {"reason": what, "explored": _summaries(found)})


def _explored_cleanly(ob: Obligation, timeout: float) -> tuple[list[Exploration], Outcome | None]:
    """Every world explored with the trylock, and the outcome that ends the
    obligation before its property is even looked at (timeout, a crash)."""
    found, timed_out = _all(ob.variant, blocking=False, timeout=timeout)
    return found, timed_out or _crashed(found)


def share_key(ob: Obligation) -> tuple[str, ...]:
    """Every interleaving obligation of a variant reads the same explorations."""
    return (__name__, ob.variant)


def prepare(ob: Obligation, timeout: float) -> None:
    """Explore, in the worker, the worlds the obligation reads, before its
    own process forks: the trylock obligations read the same explorations,
    which a worker then makes once (``exploration`` keeps the complete ones;
    an incomplete one is left for the obligation to report)."""
    if ob.runner.endswith(":prove_deadlock_reachable"):
        exploration(DEADLOCK_WORLD, ob.variant, blocking=True, budget=timeout)
    else:
        _all(ob.variant, blocking=False, timeout=timeout)


# ---------------------------------------------------------------- runners


def prove_deadlock_freedom(ob: Obligation, timeout: float) -> Outcome:
    found, timed_out = _all(ob.variant, blocking=False, timeout=timeout)
    if timed_out:
        return timed_out
    for e in found:
        if e.deadlocks:
            detail = _witness(e, e.deadlocks[0], blocking=False)
            detail["reason"] = "a reachable state where every unfinished path waits"
            return Outcome("counterexample", 0.0, {**detail, "explored": _summaries(found)})
    crashed = _crashed(found)
    if crashed:
        return crashed
    vacuous = _vacuous(
        found,
        "no explored state has a failed spin_trylock whose lock holder waits for reclaim's pte_chain_lock",
        all(e.averted_deadlocks for e in found),
    )
    return vacuous or Outcome("proved", 0.0, {"explored": _summaries(found)})


def prove_consistency(ob: Obligation, timeout: float) -> Outcome:
    found, stop = _explored_cleanly(ob, timeout)
    if stop:
        return stop
    failing = [e for e in found if e.violations]
    if failing:
        # Shown, where there is one, by a schedule that really interleaves
        # the paths; the report says which invariants need no interleaving.
        interleaved = [e for e in failing if e.interleaved_violation]
        e = (interleaved or failing)[0]
        schedule, bad = e.interleaved_violation or e.violations[0]
        violated = set().union(*(f.violated for f in failing))
        detail = {
            **_witness(e, schedule, blocking=False),
            "conjunct": ", ".join(sorted(bad)),
            "violations": bad,
            "violated_anywhere": sorted(violated),
            "interleaved": bool(interleaved),
            "without_interleaving": _without_interleaving(found, sorted(bad)),
            "explored": _summaries(found),
        }
        return Outcome("counterexample", 0.0, detail)
    vacuous = _vacuous(
        found,
        "no quiescent state was reached after a failed spin_trylock (no reclaim was retried)",
        all(e.retries and e.final_states for e in found),
    )
    return vacuous or Outcome("proved", 0.0, {"explored": _summaries(found)})


def prove_deadlock_reachable(ob: Obligation, timeout: float) -> Outcome:
    e = exploration(DEADLOCK_WORLD, ob.variant, blocking=True, budget=timeout)
    if not e.deadlocks:
        status = "counterexample" if e.complete else "timeout"
        return Outcome(status, 0.0, {"reason": "no deadlock found", "explored": e.summary()})
    schedule = deadlock_witness(e)
    detail = _witness(e, schedule, blocking=True)
    last = replay_schedule(detail["trace"], ob.variant)[-1]
    if not detail["waits"] or (last["fault"] or {}).get("kind") != "deadlock":  # the replay must deadlock too
        return Outcome("error", 0.0, {**detail, "reason": "the witness does not deadlock when replayed"})
    return Outcome("proved", 0.0, {**detail, "explored": e.summary()})


def prove_again_transient(ob: Obligation, timeout: float) -> Outcome:
    found, stop = _explored_cleanly(ob, timeout)
    if stop:
        return stop
    for e in found:
        if e.not_transient:
            schedule, why = e.not_transient[0]
            return Outcome("counterexample", 0.0, {**_witness(e, schedule, blocking=False), "reason": why})
    vacuous = _vacuous(
        found,
        "no retried reclaim asked again about a mapping that had answered SWAP_AGAIN",
        any(e.reasked for e in found),
    )
    return vacuous or Outcome("proved", 0.0, {"explored": _summaries(found)})


# ---------------------------------------------------------------- obligations


def _obligations() -> list[Obligation]:
    sizes = "; ".join(w.name for w in WORLDS)
    out = []
    for variant in VARIANTS:
        out += [
            Obligation(
                "concurrent paths never deadlock",
                PATHS,
                "deadlock freedom",
                variant,
                "With try_to_unmap_one's spin_trylock, no interleaving of the fault, zap and reclaim "
                f"paths reaches a state where every unfinished path spins on a lock another holds ({sizes}).",
                (),
                METHOD,
                "proofs.interleave.obligations:prove_deadlock_freedom",
            ),
            Obligation(
                "concurrent paths keep the invariant",
                PATHS,
                "invariant preservation",
                variant,
                "In every interleaving, at every state where no lock is held and at every state where "
                "all paths have finished (where a lock still held is a violation), the representation "
                f"invariant and the count equalities hold ({sizes}).",
                tuple(inv.name for inv in ALL_INVARIANTS),
                METHOD,
                "proofs.interleave.obligations:prove_consistency",
            ),
            Obligation(
                "blocking page_table_lock in try_to_unmap_one deadlocks",
                "try_to_unmap_one",
                "deadlock reachable",
                variant,
                "With spin_lock in place of try_to_unmap_one's spin_trylock, some interleaving "
                f"deadlocks ({DEADLOCK_WORLD.name}); the witness is replayed on impl/.",
                (),
                f"exhaustive interleavings, breadth first ({DEADLOCK_WORLD.name}; 1 page)",
                "proofs.interleave.obligations:prove_deadlock_reachable",
            ),
            Obligation(
                "SWAP_AGAIN is transient",
                "try_to_unmap_one",
                "again is transient",
                variant,
                "A reclaim that answered SWAP_AGAIN, retried once the other paths have finished and "
                f"released their locks, answers SWAP_AGAIN for no mapping ({sizes}).",
                (),
                METHOD,
                "proofs.interleave.obligations:prove_again_transient",
            ),
        ]
    return out


OBLIGATIONS: list[Obligation] = _obligations()


# ---------------------------------------------------------------- the deadlock


def _waits_on(waits: list[Wait], waiter: str, holder: str) -> bool:
    return any(w.path.startswith(waiter) and w.holder.startswith(holder) for w in waits)


def deadlock_witness(e: Exploration) -> tuple[int, ...]:
    """The shortest deadlock in which reclaim and fault wait for each other
    (the case the seed's comment names), else the shortest deadlock."""
    for schedule in e.deadlocks:
        _, waits = interleaving(e.world, e.variant, schedule, blocking=True)
        if _waits_on(waits, "reclaim", "fault") and _waits_on(waits, "fault", "reclaim"):
            return schedule
    return e.deadlocks[0]


def deadlock_interleaving(
    variant: str = "fixed", budget: float = 60.0
) -> tuple[list[StepRecord], list[Wait]]:
    """The steps and final waits of ``deadlock_witness`` in DEADLOCK_WORLD."""
    e = exploration(DEADLOCK_WORLD, variant, blocking=True, budget=budget)
    if not e.deadlocks:
        raise RuntimeError(f"no deadlock found in {DEADLOCK_WORLD.name} with a blocking spin_lock")
    return interleaving(e.world, variant, deadlock_witness(e), blocking=True)


def _mermaid_text(text: str) -> str:
    return text.replace("->", " to ").replace(";", ",")


def deadlock_sequence_diagram() -> str:
    """The deadlock with a blocking spin_lock as a Mermaid sequence diagram,
    generated from the interleaving the exploration finds."""
    steps, waits = deadlock_interleaving()
    world = DEADLOCK_WORLD
    cpu_of = {spec.label(): f"cpu{i}" for i, spec in enumerate(world.paths)}
    locks: dict[str, str] = {}

    def lock_id(label: str) -> str:
        return locks.setdefault(label, f"L{len(locks)}")

    body: list[str] = []
    before: dict[str, list[str]] = {}
    for step in steps:
        cpu = cpu_of[step.path]
        lock = lock_label(step.acquire.key)
        failed = step.result.startswith("failed")
        action = _mermaid_text(f"{step.acquire.primitive} in {step.acquire.where}")
        arrow = "-x" if failed else "->>"
        body.append(f"    {cpu}{arrow}{lock_id(lock)}: {action}: {_mermaid_text(step.result)}")
        kept = set(step.holds.get(step.path, []))
        for gone in sorted({*before.get(step.path, []), *([] if failed else [lock])} - kept):
            body.append(f"    {cpu}-->>{lock_id(gone)}: released")
        before = step.holds
    for wait in waits:
        where = _mermaid_text(f"{wait.acquire.primitive} in {wait.acquire.where}")
        held_by = cpu_of[wait.holder]
        body.append(f"    {cpu_of[wait.path]}-x{lock_id(wait.lock)}: {where}: spins, held by {held_by}")
    first, last = cpu_of[world.paths[0].label()], cpu_of[world.paths[-1].label()]
    body.append(f"    Note over {first},{last}: deadlock - every path spins on a lock another path holds")
    head = ["sequenceDiagram"]
    for spec in world.paths:
        cpu = cpu_of[spec.label()]
        head.append(f"    participant {cpu} as {cpu} {_mermaid_text(spec.label())}")
    head += [f"    participant {ident} as {label}" for label, ident in locks.items()]
    return "\n".join([*head, *body]) + "\n"
