"""The verification conditions of an obligation, generated from the code.

``build`` runs the entry point of a variant through the generator
(proofs.z3.lift) from a fresh symbolic state that satisfies the entry's
precondition, and turns what comes out into VCs:

- each loop's initiation and consecution (the code's own checks);
- one VC per path that returns: the property's goals on its end state;
- one VC per fault site (for the properties that forbid faults): the
  paths that reach it must be impossible.

Every VC carries a pinned small case (a concrete chain of 0 to 3 entries)
for the check that its hypotheses can hold (a VC whose hypotheses cannot
hold proves nothing).
"""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import z3

from proofs.z3 import invariants as inv
from proofs.z3.ghosts import POSTS
from proofs.z3.heap import Heap, fresh_heap
from proofs.z3.lift import Config, Executor, Terminal
from proofs.z3.loops import LOOPS
from proofs.z3.paths import Path, Site, common_prefix, event_kind, merge, value_key
from proofs.z3.pins import pin_chain
from proofs.z3.properties import (
    COUNTS,
    ENTRIES,
    FLUSH,
    PRESERVE,
    REFINE,
    RETURN,
    SPEC_REFINES,
    Args,
    Entry,
    counters,
    flush_goals,
)
from proofs.z3.prover import VC
from proofs.z3.spec import Sums, alpha_goals
from proofs.z3.values import Bound, conj, disj

NO_FAULT = "no BUG, oops or deadlock"
PINNED = (0, 1, 2, 3)


@dataclass
class Problem:
    """An obligation's VCs, with the pre-state and arguments they speak of."""

    vcs: list[VC]
    h0: Heap
    args: Args
    executor: Executor


def function_of(entry: Entry) -> str:
    """The function of impl/ an entry runs: its rmap method or its caller."""
    return entry.method or (entry.caller.__name__ if entry.caller else entry.name)


ENTRY_FUNCTIONS = frozenset(function_of(e) for e in ENTRIES.values())


def entry_args(entry: Entry) -> Args:
    return Args(z3.Int("t") if entry.takes_pte else None, z3.Bool("dirty") if entry.name == "map" else None)


def run_entry(ex: Executor, entry: Entry, cls: type, args: Args, start: Path) -> list[tuple[Path, Any]]:
    """Execute the entry point on ``start``; its returns (faults and drops go to ``ex``)."""
    values = entry.args(cls, args)
    if entry.method is not None:
        method = ex.method(cls.__mro__, entry.method, values[0], None)  # type: ignore[arg-type]
        return ex.call(method.func, method.owner, values, {}, start)
    assert entry.caller is not None
    kwargs = {"dirty": args.dirty} if args.dirty is not None else {}
    return ex.call(entry.caller, None, values, kwargs, start)  # type: ignore[arg-type]


def merged_returns(returns: list[tuple[Path, Any]], h0: Heap) -> list[tuple[Path, Any]]:
    """The returns merged into one path per distinct answer and set of state
    fields changed: such paths differ in data, not in what they do, and one
    VC covers them."""
    site = Site("?", 0, "return")
    groups: dict[Any, list[tuple[Path, Any]]] = {}
    for p, v in returns:
        kinds = tuple(str(event_kind(e)) for e in p.events)
        groups.setdefault((value_key(v), tuple(p.heap.changed(h0)), kinds), []).append((p, v))
    return [(merge([p for p, _ in group], site), group[0][1]) for group in groups.values()]


def property_goals(
    prop: str,
    entry: Entry,
    h0: Heap,
    h: Heap,
    args: Args,
    value: Any,
    answer: Any,
    want: Any,
    sums: Sums,
    walked: Any,
    events: tuple[Any, ...] = (),
) -> list[tuple[str, Any]]:
    if prop == FLUSH:
        return flush_goals(events)
    if prop == PRESERVE:
        return entry.post(h0, h, args, value)
    if prop == REFINE:
        return [*inv.structure(h), ("result", answer(value)), *alpha_goals(h, want)]
    if prop == SPEC_REFINES:
        return []
    if prop == COUNTS:
        return counters(h0, h, want)
    assert prop == RETURN and entry.returns is not None
    return entry.returns(h0, h, value, sums, walked)


def _label(path: Path) -> str:
    """The arms a path took, a run of the same arm (a helper's check, called
    from several places) written once with its count."""
    arms = [f"{site.rsplit('/', 1)[-1]} {label}" for site, label in path.branches]
    runs = [(arm, len(list(group))) for arm, group in itertools.groupby(arms)]
    return ", ".join(arm if n == 1 else f"{arm} ×{n}" for arm, n in runs) if arms else "straight through"


def _fault_vc(
    faults: list[Terminal], axioms: list[Any]
) -> list[tuple[str, list[Any], list[tuple[str, Any]]]]:
    """One VC for every fault site: none of the paths that reach one is possible."""
    if not faults:
        return []
    by_site: dict[tuple[str, str, str], list[Path]] = defaultdict(list)
    for f in faults:
        by_site[(f.kind, str(f.site), f.why)].append(f.path)
    prefix = common_prefix([f.path.cond for f in faults])
    base = list(faults[0].path.cond[:prefix])
    goals = [
        (f"{NO_FAULT}: no {kind} at {site} ({why})", z3.Not(disj(conj(p.cond[prefix:]) for p in paths)))
        for (kind, site, why), paths in by_site.items()
    ]
    return [(f"no fault at any of {len(goals)} sites", [*base, *axioms], goals)]


@dataclass(frozen=True)
class Lifted:
    """An entry point of a variant run through the generator once: what every
    property of it is stated over."""

    h0: Heap
    args: Args
    pre: list[Any]
    executor: Executor
    returns: list[tuple[Path, Any]]


@functools.cache
def lifted(name: str, cls: type) -> Lifted:
    """The generator's run of ``name`` on ``cls`` from a fresh state that
    satisfies the entry's precondition (one per process: the obligations
    of one function share it; see proofs.z3.run.prepare)."""
    entry = ENTRIES[name]
    h0 = fresh_heap("s")
    args = entry_args(entry)
    pre = [*inv.world_facts(h0), *[t for _, t in entry.pre(h0, args)]]
    ex = Executor(cls, Config("proof", LOOPS, POSTS))
    returns = merged_returns(run_entry(ex, entry, cls, args, Path(tuple(pre), h0)), h0)
    return Lifted(h0, args, pre, ex, returns)


def build(name: str, prop: str, cls: type) -> Problem:
    entry = ENTRIES[name]
    run = lifted(name, cls)
    h0, args, pre, ex = run.h0, run.args, run.pre, run.executor
    registry = ex.sums.copy()
    sums = registry.of(h0)
    goals = []
    for p, v in run.returns:
        # The walk's stopping point is the ghost try_to_unmap's post records
        # (proofs.z3.ghosts): the witness of the spec's "some allowed stop".
        walked = p.heap["g.walked"]
        answer, want = entry.spec(h0, args, sums, walked)
        goals.append(
            (p, property_goals(prop, entry, h0, p.heap, args, v, answer, want, sums, walked, p.events))
        )
    axioms = registry.axioms
    # What the code states whatever the property (the loops' checks, no
    # fault, the precondition's consistency) is stated over the lifted run
    # alone (its sums' axioms, not the property's): the same VC in every
    # obligation of the entry, which a worker proves once (``shared``).
    lifted_axioms = ex.sums.axioms
    # The precondition can hold (in a pinned small world); every other VC's
    # hypotheses are the precondition and a path, whose reachability the
    # bounded witnesses show (proofs.z3.reach).
    small = [pin_chain(h0, n, args) for n in PINNED]
    vcs: list[VC] = [VC("the precondition can hold", pre, [], alternatives=small, shared="precondition")]
    for k, check in enumerate(ex.checks):
        cond = [*check.path.cond, *lifted_axioms]
        vcs.append(_vc(f"{check.name}: {_label(check.path)}", cond, check.goals, small, f"check {k}"))
    for i, (p, gs) in enumerate(goals, 1):
        if gs:
            vcs.append(_vc(f"path {i} of {len(goals)}: {_label(p)}", [*p.cond, *axioms], gs, small))
    if prop in (PRESERVE, REFINE, SPEC_REFINES):
        faults = _fault_vc(ex.faults, lifted_axioms)
        vcs += [_vc(name, hyps, gs, small, "faults") for name, hyps, gs in faults]
    return Problem(vcs, h0, args, ex)


def _vc(
    name: str, hyps: list[Any], goals: list[tuple[str, Any]], small: list[list[Any]], shared: str = ""
) -> VC:
    """A path's VC: split by conjunct when need be; its small cases are for
    finding a counterexample fast, not for a consistency check."""
    return VC(
        name, hyps, goals, split=True, alternatives=small, check_hyps=False, incremental=True, shared=shared
    )


__all__ = ["Bound", "Problem", "build"]
