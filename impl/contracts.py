"""The kernel's unwritten contracts on mm/rmap.c, in PEP 316 form for CrossHair.

One entry point per seed function and per caller path, named after it.  Its
arguments are the choices of a small world (``impl.contract_worlds``: where
each mapping's pte sits and its dirty bit, the page's swap-cache state,
which allocation fails, ...), which CrossHair makes; its docstring states
the contract:

- ``pre:`` what the kernel's callers guarantee, and the bounds of the world;
- ``post: refines(_)``: α of the state after the call is what the spec
  operation (``spec.ops``) makes of α of the state before it, with the same
  result (``impl.refinement.Step``, the one refinement check): every field
  of α, so the page's dirty and referenced flags, each pte's young and
  dirty bits and the swap counts as much as the reverse map;
- ``post: holds(_, STRUCTURE | COUPLING | COUNT)``: the conjuncts of the
  representation invariant of that kind (``impl.invariants.violations``,
  structure and slab on the concrete state, coupling and the count
  equalities on α) hold after the call.  A raw rmap function is called
  while its caller is half-way through changing the pte, so only the
  structure and the counts are its to keep; the caller restores the rest.

The body writes the world as a trace (``impl.contract_worlds.scenario``,
then the call) and replays it on the variant under check with
``impl.trace.Session``: the code that runs is impl/'s, and every
counterexample is a trace that ``rmap-verify replay`` replays.
``proofs.crosshair`` runs CrossHair over this module;
``docs_src/contracts.md`` explains the choices.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from crosshair.core import deep_realize
from crosshair.tracers import NoTracing

from impl.abstraction import Unabstractable, abstraction, chain_nodes, env_unmap_outcomes, rmap_entries
from impl.contract_worlds import (
    ALLOCS,
    ANY_PLACE,
    BITS,
    CHAIN,
    PFN,
    REFERENCED,
    SLOTS,
    SWAP_STATES,
    WORLDS,
    all_old,
    failing,
    pte,
    scenario,
)
from impl.invariants import ALL_INVARIANTS
from impl.kernel import NULL, SWAP_NAMES, SWAP_SUCCESS
from impl.refinement import Step
from impl.trace import Session
from spec import ops
from spec.state import AbsState

# The entry points, and the names their preconditions read from this
# module's namespace (where CrossHair evaluates them).
__all__ = [
    "ALLOCS",
    "ANY_PLACE",
    "BITS",
    "CHAIN",
    "CONTRACTS",
    "HELD",
    "MAX_CHAIN",
    "MAX_WALK",
    "REFERENCED",
    "SLOTS",
    "SWAP_STATES",
    "map_pte",
    "page_add_rmap",
    "page_referenced",
    "page_remove_rmap",
    "pte_chain_alloc",
    "pte_chain_free",
    "pte_chain_init",
    "reclaim",
    "try_to_unmap",
    "try_to_unmap_one",
    "zap_pte",
]

# Kinds of invariant conjunct (spec.invariants.Invariant.kind).
STRUCTURE, COUPLING, COUNT = "structure", "coupling", "count"
_KIND = {inv.name: inv.kind for inv in ALL_INVARIANTS}

# The variant the contracts run and the longest chains their worlds build
# (impl.contract_worlds.WORLDS): ``checking`` sets them; the environment
# variables let plain ``crosshair check impl/contracts.py`` pick them too.
VARIANT = os.environ.get("RMAP_CONTRACTS_VARIANT", "fixed")
_BOUNDS = WORLDS[os.environ.get("RMAP_CONTRACTS_WORLDS", "push")]
MAX_CHAIN, MAX_WALK = _BOUNDS["MAX_CHAIN"], _BOUNDS["MAX_WALK"]
HELD = ("none", *SLOTS)  # map_pte: the pte held no swap entry, or one in a slot counted so


@contextmanager
def checking(variant: str, bounds: Mapping[str, int] | None = None) -> Iterator[None]:
    """Run the contracts' bodies on ``variant`` (a name in impl.variants), in
    worlds of chains up to ``bounds`` (MAX_CHAIN, MAX_WALK; unchanged when None)."""
    global VARIANT, MAX_CHAIN, MAX_WALK
    saved = VARIANT, MAX_CHAIN, MAX_WALK
    VARIANT = variant
    if bounds is not None:
        MAX_CHAIN, MAX_WALK = bounds["MAX_CHAIN"], bounds["MAX_WALK"]
    try:
        yield
    finally:
        VARIANT, MAX_CHAIN, MAX_WALK = saved


class ScenarioError(Exception):
    """A set-up step of a scenario did not run cleanly: the scenario, not
    the function under contract, is wrong."""


@dataclass(frozen=True)
class Run:
    """One call replayed on the variant under check, as the contract sees it."""

    trace: tuple[dict[str, Any], ...]  # replayable with rmap-verify replay
    record: dict[str, Any]  # the trace record of the call
    spec_applies: bool  # the spec operation's precondition held before it
    answers: Mapping[str, int]  # env_unmap_outcome of each pte before the call
    before: AbsState | None  # α before and after the call (None: no abstraction)
    after: AbsState | None

    @property
    def result(self) -> Any:
        return self.record["result"]

    def __repr__(self) -> str:
        r = self.record
        fault = r["fault"] and f"{r['fault']['kind']} in {r['fault']['where']}"
        return (
            f"Run(result={r['result']!r}, fault={fault}, mismatch={r['spec_mismatch'][:2]}, "
            f"violated={sorted(r['violations'])})"
        )


# ------------------------------------------------------------ postconditions


def refines(run: Run) -> bool:
    """α(after) and the result are what the spec operation allows from
    α(before).  A scenario outside the spec's precondition fails too, and
    so does a call its caller path refused (a caller-side precondition of
    impl/callers.py, after which nothing ran and nothing is compared): a
    refinement that holds vacuously would prove nothing."""
    return run.spec_applies and not run.record["precondition"] and not run.record["spec_mismatch"]


def holds(run: Run, kind: str, but: str = "") -> bool:
    """No conjunct of the representation invariant of this kind (but the one
    named ``but``) is violated."""
    return not any(_KIND.get(name) == kind and name != but for name in run.record["violations"])


def unlocks_page(run: Run) -> bool:
    """The page is not PG_locked after the call: reclaim gives back the page
    lock it took (TryLockPage ... UnlockPage), which α does not record."""
    page = next(p for p in run.record["pages"] if p["pfn"] == PFN)
    return "locked" not in page["flags"]


def uncounts_unmapped(run: Run, entries: int) -> bool:
    """nr_reverse_maps lost one for the entry of the pte the call unmapped
    (the caller unlinks that entry next), else kept the ``entries`` there are."""
    return bool(run.record["nr_reverse_maps"] == entries - (run.result == "SWAP_SUCCESS"))


def answers_environment(run: Run, name: str) -> bool:
    """The call answered what the environment dictates for pte ``name``."""
    return bool(run.result == SWAP_NAMES[run.answers[name]])


def unmaps_as_spec(run: Run, name: str) -> bool:
    """α(after) is what spec.ops.unmapped makes of α(before) when only pte
    ``name`` is tried, in every field (the page's dirty flag and count, the
    pte, rss, the swap counts, nr_reverse_maps), but for its reverse-map
    entry: the caller unlinks that next."""
    if run.before is None or run.after is None or not ops.pre_unmap(run.before, PFN):
        return False
    gone = frozenset({name} if run.answers[name] == SWAP_SUCCESS else ())
    want = ops.unmapped(run.before, PFN, gone)
    return want.with_(rmap=want.rmap.set(PFN, want.rmap[PFN] | {name})) == run.after


# ------------------------------------------------------------ replaying


def concrete(*values: Any) -> Any:
    """The values CrossHair chose for this path, made concrete.

    The kernel model keys dicts by them and formats them into names, which
    would make CrossHair realize them within a few opcodes anyway; doing it
    here lets impl/ run untraced (about 70 times faster) while CrossHair
    still explores every other choice on later paths.  ``last_choices``
    keeps them for the path's conditions: realizing a string costs a solver
    query a character, as much again as the rest of the path.
    """
    global _CHOSEN
    _CHOSEN = deep_realize(values)
    return _CHOSEN


_CHOSEN: tuple[Any, ...] = ()


def last_choices() -> tuple[Any, ...]:
    """The values the last ``concrete`` made concrete (this path's world)."""
    return _CHOSEN


def untraced() -> AbstractContextManager[None]:
    """Run concretely: CrossHair does not trace the world's making or the kernel model."""
    return NoTracing()  # type: ignore[no-untyped-call,no-any-return]


def _alpha(session: Session) -> AbsState | None:
    try:
        return abstraction(session.k)
    except Unabstractable:
        return None


def _replay(setup: list[dict[str, Any]], call: dict[str, Any], *, debug: bool = False) -> Run:
    """Replay the scenario's set-up, every step of which must run cleanly,
    then the call under contract, on the variant under check."""
    with untraced():
        session = Session(VARIANT, debug)
        for op in setup:
            record = session.apply(op)
            if record["fault"] or record["precondition"]:
                raise ScenarioError(
                    f"set-up step {op} did not run: {record['fault'] or record['precondition']}"
                )
        step = Step.before(session.k, call["op"], call)
        answers, before = env_unmap_outcomes(session.k), _alpha(session)
        record = session.apply(call)
        applies = step is not None and step.precondition()
        return Run((*setup, call), record, applies, answers, before, _alpha(session))


def _locked(setup: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page locked, as shrink_cache holds it around try_to_unmap."""
    return [*setup, {"op": "set_page", "pfn": PFN, "locked": True}]


# ------------------------------------------------------------ rmap functions


def page_referenced(ptes: str, referenced: bool, shared: bool) -> Run:
    """page_referenced(page) under pte_chain_lock, as shrink_cache calls it.

    Counts PG_referenced and each young mapping, clearing what it counts.
    ``ptes``: a letter of BITS per mapping (o old, y young; upper case dirty).

    pre: len(ptes) <= MAX_CHAIN
    pre: all(c in BITS for c in ptes)
    pre: not shared or len(ptes) > 1
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    ptes, referenced, shared = concrete(ptes, referenced, shared)
    with untraced():
        setup = scenario(ptes, shared=shared, page={"referenced": referenced})
        return _replay(setup, {"op": "referenced", "pfn": PFN})


def page_add_rmap(mapped: int, alloc: str, reserved: bool, debug: bool, shared: bool) -> Run:
    """page_add_rmap(page, pte) as the fault path calls it: the pte already
    maps the page (set_pte came first) and no reverse map records it yet;
    ``mapped`` other ptes map the page.  The ``alloc`` (ALLOCS) allocation
    of the call fails, if it takes that many; ``debug``: DEBUG_RMAP.

    pre: 0 <= mapped < MAX_CHAIN
    pre: alloc in ALLOCS
    pre: not shared or mapped > 0
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT)
    """
    mapped, alloc, reserved, debug, shared = concrete(mapped, alloc, reserved, debug, shared)
    with untraced():
        new = pte(mapped)
        setup = scenario("s" * (mapped + 1), shared=shared, page={"reserved": reserved})
        # The pte is present but not recorded: the state between set_pte and
        # page_add_rmap in the fault path.
        setup += [{"op": "page_remove_rmap", "pfn": PFN, "pte": new}, *failing(alloc)]
        return _replay(setup, {"op": "page_add_rmap", "pfn": PFN, "pte": new}, debug=debug)


def page_remove_rmap(mapped: int, target: int, reserved: bool, debug: bool, shared: bool) -> Run:
    """page_remove_rmap(page, pte) as zap_pte_range calls it.

    ``target == mapped`` names a pte the page does not record, the case the
    seed itself anticipates ("driver cleared PG_reserved ?").

    pre: 0 <= mapped <= MAX_CHAIN
    pre: 0 <= target <= mapped
    pre: not shared or mapped > 1
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT)
    """
    mapped, target, reserved, debug, shared = concrete(mapped, target, reserved, debug, shared)
    with untraced():
        setup = scenario("s" * (mapped + 1), mapped=mapped, shared=shared, page={"reserved": reserved})
        return _replay(setup, {"op": "page_remove_rmap", "pfn": PFN, "pte": pte(target)}, debug=debug)


def try_to_unmap_one(place: str, young: bool, swap: str, page_dirty: bool) -> Run:
    """try_to_unmap_one(page, pte) for the page's only mapping, as
    try_to_unmap calls it; the caller then unlinks the entry, so the
    coupling of the reverse map to the ptes is not this function's to keep,
    nor the count of entries: an unmapped pte's entry is uncounted here.
    ``place``: one letter of ANY_PLACE (upper case: the pte is dirty).

    pre: len(place) == 1 and place in ANY_PLACE
    pre: swap in SWAP_STATES
    post: answers_environment(_, "p0")
    post: unmaps_as_spec(_, "p0")
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT, but="count_nr_reverse_maps")
    post: uncounts_unmapped(_, 1)
    """
    place, young, swap, page_dirty = concrete(place, young, swap, page_dirty)
    with untraced():
        setup = scenario(place, swap=swap, page={"dirty": page_dirty}) + ([] if young else all_old(1))
        return _replay(_locked(setup), {"op": "try_to_unmap_one", "pfn": PFN, "pte": pte(0)})


def try_to_unmap(ptes: str, swap: str, shared: bool) -> Run:
    """try_to_unmap(page) as shrink_cache calls it: the page is mapped,
    locked (PG_locked), has backing store and is not reserved.  ``ptes``:
    a letter of CHAIN per mapping, in the order the walk visits them.

    pre: 1 <= len(ptes) <= MAX_WALK
    pre: all(c in CHAIN for c in ptes)
    pre: swap in SWAP_STATES
    pre: not shared or len(ptes) > 1
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    ptes, swap, shared = concrete(ptes, swap, shared)
    with untraced():
        setup = scenario(ptes, shared=shared, swap=swap)
        return _replay(_locked(setup), {"op": "try_to_unmap", "pfn": PFN})


@dataclass(frozen=True)
class SlabCall:
    """What a pte_chain helper did: its answer and the slab, the chain and α around it."""

    node_is_null: bool
    live_before: int
    live_after: int
    entries_before: tuple[str, ...]
    entries_after: tuple[str, ...]
    before: AbsState | None
    after: AbsState | None


def only_unlinks(call: SlabCall, position: int) -> bool:
    """α after differs from α before only by the entry at ``position`` in
    the page's reverse map (no count, pte or flag changes)."""
    if call.before is None or call.after is None:
        return False
    gone = call.before.rmap[PFN] - {call.entries_before[position]}
    return call.before.with_(rmap=call.before.rmap.set(PFN, gone)) == call.after


def _slab_call(mapped: int, call: str, position: int = 0, alloc_fails: bool = False) -> SlabCall:
    """Map ``mapped`` ptes, then call a pte_chain helper directly (no trace
    operation runs one alone)."""
    with untraced():
        session = Session(VARIANT)
        for op in scenario("s" * mapped):
            session.apply(op)
        k, rmap, page = session.k, session.rmap, session.page(PFN)
        assert rmap is not None and k.pte_chain_cache is not None
        before = tuple(p.name for p in rmap_entries(k, page))
        live_before, alpha_before = len(k.pte_chain_cache.live), _alpha(session)
        node: object = NULL
        if call == "alloc":
            session.apply({"op": "fail_alloc", "n": int(alloc_fails)})
            node = rmap.pte_chain_alloc()
        elif call == "free":
            nodes = chain_nodes(k, page)
            rmap.pte_chain_free(nodes[position], nodes[position - 1] if position else NULL, page)
        return SlabCall(
            node is NULL,
            live_before,
            len(k.pte_chain_cache.live),
            before,
            tuple(p.name for p in rmap_entries(k, page)),
            alpha_before,
            _alpha(session),
        )


def pte_chain_alloc(alloc_fails: bool) -> SlabCall:
    """pte_chain_alloc(): a new live pte_chain node, or NULL when GFP_ATOMIC
    fails; on no chain yet, so α does not change.

    post: _.node_is_null == alloc_fails
    post: _.live_after == _.live_before + (0 if alloc_fails else 1)
    post: _.after == _.before
    """
    (alloc_fails,) = concrete(alloc_fails)
    return _slab_call(1, "alloc", alloc_fails=alloc_fails)


def pte_chain_free(mapped: int, position: int) -> SlabCall:
    """pte_chain_free(pc, prev, page) of the node at ``position`` of a chain,
    with its predecessor (NULL for the head): unlinks exactly that entry
    and gives its node back to the slab.

    pre: 2 <= mapped <= MAX_CHAIN
    pre: 0 <= position < mapped
    post: _.entries_after == _.entries_before[:position] + _.entries_before[position + 1:]
    post: _.live_after == _.live_before - 1
    post: only_unlinks(_, position)
    """
    mapped, position = concrete(mapped, position)
    return _slab_call(mapped, "free", position)


def pte_chain_init() -> SlabCall:
    """pte_chain_init(), which make_rmap runs: an empty pte_chain cache.

    post: _.live_before == 0
    """
    return _slab_call(0, "init")


# ------------------------------------------------------------ caller paths


def map_pte(mapped: int, alloc: str, reserved: bool, held_swap: str, dirty: bool, shared: bool) -> Run:
    """map_pte: a fault (or fork) maps the page, dirty or not, at a pte that
    is not present, ``mapped`` other ptes already mapping it.  ``held_swap``
    (HELD): the pte held a swap entry (do_swap_page), its slot counted once
    or saturated.  The ``alloc`` (ALLOCS) allocation of the call fails, if
    it takes that many.

    pre: 0 <= mapped < MAX_CHAIN
    pre: alloc in ALLOCS
    pre: held_swap in HELD
    pre: not shared or mapped > 0
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, alloc, reserved, held_swap, dirty, shared = concrete(
        mapped, alloc, reserved, held_swap, dirty, shared
    )
    with untraced():
        holds_slot = [mapped] if held_swap != "none" else []
        setup = scenario(
            "s" * (mapped + 1),
            mapped=mapped,
            shared=shared,
            held_swap=holds_slot,
            slot=held_swap if holds_slot else "one",
            page={"reserved": reserved},
        )
        call = {"op": "map", "pte": pte(mapped), "pfn": PFN, "dirty": dirty}
        return _replay([*setup, *failing(alloc)], call)


def zap_pte(mapped: int, target: int, dirty: bool, reserved: bool, slot: str, shared: bool) -> Run:
    """zap_pte: munmap or exit clears a pte that maps the page (target <
    mapped; its dirty bit must reach the page) or holds a swap entry, its
    slot counted once or saturated (target == mapped).

    pre: 0 <= mapped <= MAX_CHAIN
    pre: 0 <= target <= mapped
    pre: not dirty or target < mapped
    pre: slot in SLOTS
    pre: not shared or mapped > 1
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, target, dirty, reserved, slot, shared = concrete(mapped, target, dirty, reserved, slot, shared)
    with untraced():
        letters = "".join("S" if dirty and i == target else "s" for i in range(mapped + 1))
        setup = scenario(
            letters, mapped=mapped, shared=shared, held_swap=[mapped], slot=slot, page={"reserved": reserved}
        )
        return _replay(setup, {"op": "zap", "pte": pte(target)})


def reclaim(ptes: str, referenced: str, shared: bool) -> Run:
    """reclaim: shrink_cache on the page with its locks taken in 2.5.31's
    order; a referenced page is activated, a mapped one unmapped.  ``ptes``:
    a letter of CHAIN per mapping, every one old; ``referenced`` (REFERENCED):
    what, if anything, makes the page referenced.

    pre: len(ptes) <= MAX_WALK
    pre: all(c in CHAIN for c in ptes)
    pre: referenced in REFERENCED
    pre: referenced != "pte" or len(ptes) > 0
    pre: not shared or len(ptes) > 1
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    post: unlocks_page(_)
    """
    ptes, referenced, shared = concrete(ptes, referenced, shared)
    with untraced():
        setup = scenario(ptes, shared=shared, page={"referenced": referenced == "page"}) + all_old(len(ptes))
        if referenced == "pte":
            setup.append({"op": "set_pte", "pte": pte(len(ptes) - 1), "young": True})
        return _replay(setup, {"op": "reclaim", "pfn": PFN})


# Every entry point, in the order the command checks them.
CONTRACTS = (
    page_referenced,
    page_add_rmap,
    page_remove_rmap,
    try_to_unmap_one,
    try_to_unmap,
    pte_chain_alloc,
    pte_chain_free,
    pte_chain_init,
    map_pte,
    zap_pte,
    reclaim,
)
