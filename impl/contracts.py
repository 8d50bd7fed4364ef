"""The kernel's unwritten contracts on mm/rmap.c, in PEP 316 form for CrossHair.

One entry point per seed function and per caller path, named after it.  Its
arguments describe a small world in values CrossHair can choose (how many
ptes map the page, what the environment does to each mapping, a page flag,
whether GFP_ATOMIC fails); its docstring states the contract:

- ``pre:`` what the kernel's callers guarantee (page locked and not
  reserved, the pte present and not yet recorded, ...) and the bounds of
  the world;
- ``post: refines(_)``: α of the state after the call is what the spec
  operation (``spec.ops``) makes of α of the state before it, with the same
  result (``impl.refinement.Step``, the one refinement check);
- ``post: holds(_, STRUCTURE | COUPLING | COUNT)``: the conjuncts of the
  representation invariant of that kind (``impl.invariants.violations``,
  structure and slab on the concrete state, coupling and the count
  equalities on α) hold after the call.  A raw rmap function is called
  while its caller is half-way through changing the pte, so only the
  structure and the counts are its to keep; the caller restores the rest.

The body writes the world as a trace (``impl.trace`` operations: the world,
the caller paths that map the ptes, the environment, then the call) and
replays it on the variant under check with ``impl.trace.Session``: the code
that runs is impl/'s, and every counterexample is a trace that
``rmap-verify replay`` replays.  ``proofs.crosshair`` runs CrossHair over
this module; ``docs_src/contracts.md`` explains the choices.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from crosshair.core import deep_realize
from crosshair.tracers import NoTracing

from impl.abstraction import chain_nodes, env_unmap_outcomes, rmap_entries
from impl.invariants import ALL_INVARIANTS
from impl.kernel import NULL, SWAP_NAMES
from impl.refinement import Step
from impl.trace import Session

# The bounds of the worlds CrossHair explores (docs_src/contracts.md: what
# "verified" means under them).
MAX_CHAIN = 3  # ptes mapping the page: a direct pointer, chains of 2 and 3
PFN = 1
PAGE_SIZE = 0x1000
VMA_END = 0x10000
SWAP_ENTRY = 7

# What the environment does to one mapping when reclaim tries to unmap it.
UNMAPS = 0  # in an ordinary vma, its mm's page_table_lock free
LOCK_BUSY = 1  # another CPU holds its mm's page_table_lock
MLOCKED = 2  # its vma is VM_LOCKED
OUTSIDE_VMA = 3  # mremap moved the vma: the pte lies in a hole below it
OUTCOMES = (UNMAPS, LOCK_BUSY, MLOCKED, OUTSIDE_VMA)
OUTCOME_NAMES = ("unmaps", "lock busy", "mlocked", "outside vma")

# Kinds of invariant conjunct (spec.invariants.Invariant.kind).
STRUCTURE, COUPLING, COUNT = "structure", "coupling", "count"
_KIND = {inv.name: inv.kind for inv in ALL_INVARIANTS}

# The variant the contracts run: ``checking`` sets it; the environment
# variable lets plain ``crosshair check impl/contracts.py`` pick one too.
VARIANT = os.environ.get("RMAP_CONTRACTS_VARIANT", "fixed")


@contextmanager
def checking(variant: str) -> Iterator[None]:
    """Run the contracts' bodies on ``variant`` (a name in impl.variants)."""
    global VARIANT
    saved, VARIANT = VARIANT, variant
    try:
        yield
    finally:
        VARIANT = saved


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
    α(before).  A scenario outside the spec's precondition fails too: a
    refinement that holds vacuously would prove nothing."""
    return run.spec_applies and not run.record["spec_mismatch"]


def holds(run: Run, kind: str, but: str = "") -> bool:
    """No conjunct of the representation invariant of this kind (but the one
    named ``but``) is violated."""
    return not any(_KIND.get(name) == kind and name != but for name in run.record["violations"])


def uncounts_unmapped(run: Run, entries: int) -> bool:
    """nr_reverse_maps lost one for the entry of the pte the call unmapped
    (the caller unlinks that entry next), else kept the ``entries`` there are."""
    return bool(run.record["nr_reverse_maps"] == entries - (run.result == "SWAP_SUCCESS"))


def answers_environment(run: Run, pte: str) -> bool:
    """The call answered what the environment dictates for ``pte``."""
    return bool(run.result == SWAP_NAMES[run.answers[pte]])


# ------------------------------------------------------------ scenarios


def concrete(*values: Any) -> Any:
    """The values CrossHair chose for this path, made concrete.

    The kernel model keys dicts by them and formats them into names, which
    would make CrossHair realize them within a few opcodes anyway; doing it
    here lets impl/ run untraced (about 70 times faster) while CrossHair
    still explores every other choice on later paths.
    """
    return deep_realize(values)


def untraced() -> AbstractContextManager[None]:
    """Run the kernel model concretely: CrossHair does not trace it."""
    return NoTracing()  # type: ignore[no-untyped-call,no-any-return]


def _pte(i: int) -> str:
    return f"p{i}"


def _mm(i: int) -> str:
    return f"m{i}"


def _address(i: int) -> int:
    return (i + 1) * PAGE_SIZE


def _world(
    n_ptes: int, *, reserved: bool = False, swapcache: bool = False, swap_ptes: Sequence[int] = ()
) -> dict[str, Any]:
    """Page PFN, and ptes p0.. each alone in its mm m0.. (so that each has
    its own lock and vma) at address (i+1)*PAGE_SIZE in a vma [0, VMA_END).
    A swap-cache page sits at SWAP_ENTRY, which the swap cache holds once."""
    page = {"pfn": PFN, "count": 1, "mapping": "file", "reserved": reserved}
    if swapcache:
        page |= {"swapcache": True, "index": SWAP_ENTRY}
    ptes: list[dict[str, Any]] = [
        {"name": _pte(i), "mm": _mm(i), "address": _address(i)} for i in range(n_ptes)
    ]
    for i in swap_ptes:
        ptes[i]["swap"] = SWAP_ENTRY
    holders = int(swapcache) + len(swap_ptes)
    return {
        "op": "world",
        "pages": [page],
        "mms": [{"name": _mm(i), "vmas": [{"start": 0, "end": VMA_END}]} for i in range(n_ptes)],
        "ptes": ptes,
        "swap": {str(SWAP_ENTRY): holders} if holders else {},
    }


def _map(first: int, last: int) -> list[dict[str, Any]]:
    """Fault in ptes first..last-1 on the page, in that order (the chain
    lists them newest first)."""
    return [{"op": "map", "pte": _pte(i), "pfn": PFN} for i in range(first, last)]


def _environment(outcomes: Sequence[int], *, young: bool = True) -> list[dict[str, Any]]:
    """Make the environment answer outcomes[i] for mapping p<i>."""
    ops: list[dict[str, Any]] = []
    for i, outcome in enumerate(outcomes):
        if not young:
            ops.append({"op": "set_pte", "pte": _pte(i), "young": False})
        if outcome == LOCK_BUSY:
            ops.append({"op": "lock", "mm": _mm(i)})
        elif outcome == MLOCKED:
            ops.append({"op": "mlock", "mm": _mm(i), "address": _address(i)})
        elif outcome == OUTSIDE_VMA:
            ops.append(
                {"op": "vmas", "mm": _mm(i), "vmas": [{"start": _address(i) + PAGE_SIZE, "end": VMA_END}]}
            )
    return ops


def _replay(*steps: dict[str, Any] | list[dict[str, Any]]) -> Run:
    """Replay the scenario on the variant under check; its last operation
    is the call under contract, every other one must run cleanly."""
    trace = tuple(op for step in steps for op in (step if isinstance(step, list) else [step]))
    with untraced():
        session = Session(VARIANT)
        for op in trace[:-1]:
            record = session.apply(op)
            if record["fault"] or record["precondition"]:
                raise ScenarioError(
                    f"set-up step {op} did not run: {record['fault'] or record['precondition']}"
                )
        call = trace[-1]
        step = Step.before(session.k, call["op"], call)
        answers = env_unmap_outcomes(session.k)
        record = session.apply(call)
        return Run(trace, record, step is not None and step.precondition(), answers)


def _outcomes_ok(outcomes: Sequence[int], mapped: int) -> bool:
    """One environment outcome for each mapping."""
    return len(outcomes) == mapped and all(o in OUTCOMES for o in outcomes)


# ------------------------------------------------------------ rmap functions


def page_referenced(mapped: int, young: list[bool], referenced: bool) -> Run:
    """page_referenced(page) under pte_chain_lock, as shrink_cache calls it.

    Counts PG_referenced and each young mapping, clearing what it counts.

    pre: 0 <= mapped <= MAX_CHAIN
    pre: len(young) == mapped
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, young, referenced = concrete(mapped, young, referenced)
    return _replay(
        _world(mapped),
        _map(0, mapped),
        [{"op": "set_pte", "pte": _pte(i), "young": y} for i, y in enumerate(young)],
        {"op": "set_page", "pfn": PFN, "referenced": referenced},
        {"op": "referenced", "pfn": PFN},
    )


def page_add_rmap(mapped: int, alloc_fails: bool, reserved: bool) -> Run:
    """page_add_rmap(page, pte) as the fault path calls it: the pte already
    maps the page (set_pte came first) and no reverse map records it yet;
    ``mapped`` other ptes map the page.  GFP_ATOMIC may fail.

    pre: 0 <= mapped < MAX_CHAIN
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT)
    """
    mapped, alloc_fails, reserved = concrete(mapped, alloc_fails, reserved)
    new = _pte(mapped)
    return _replay(
        _world(mapped + 1, reserved=reserved),
        _map(0, mapped + 1),
        # The pte is present but not recorded: the state between set_pte and
        # page_add_rmap in the fault path.
        {"op": "page_remove_rmap", "pfn": PFN, "pte": new},
        [{"op": "fail_alloc", "n": 1}] if alloc_fails else [],
        {"op": "page_add_rmap", "pfn": PFN, "pte": new},
    )


def page_remove_rmap(mapped: int, target: int, reserved: bool) -> Run:
    """page_remove_rmap(page, pte) as zap_pte_range calls it.

    ``target == mapped`` names a pte the page does not record, the case the
    seed itself anticipates ("driver cleared PG_reserved ?").

    pre: 0 <= mapped <= MAX_CHAIN
    pre: 0 <= target <= mapped
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT)
    """
    mapped, target, reserved = concrete(mapped, target, reserved)
    return _replay(
        _world(mapped + 1, reserved=reserved),
        _map(0, mapped),
        {"op": "page_remove_rmap", "pfn": PFN, "pte": _pte(target)},
    )


def try_to_unmap_one(outcome: int, swapcache: bool, dirty: bool) -> Run:
    """try_to_unmap_one(page, pte) for the page's only mapping, as
    try_to_unmap calls it; the caller then unlinks the entry, so the
    coupling of the reverse map to the ptes is not this function's to keep,
    nor the count of entries: an unmapped pte's entry is uncounted here.

    pre: outcome in OUTCOMES
    post: answers_environment(_, "p0")
    post: holds(_, STRUCTURE)
    post: holds(_, COUNT, but="count_nr_reverse_maps")
    post: uncounts_unmapped(_, 1)
    """
    outcome, swapcache, dirty = concrete(outcome, swapcache, dirty)
    return _replay(
        _world(1, swapcache=swapcache),
        {"op": "map", "pte": _pte(0), "pfn": PFN, "dirty": dirty},
        _environment([outcome]),
        {"op": "set_page", "pfn": PFN, "locked": True},
        {"op": "try_to_unmap_one", "pfn": PFN, "pte": _pte(0)},
    )


def try_to_unmap(mapped: int, outcomes: list[int], swapcache: bool, page_locked: bool) -> Run:
    """try_to_unmap(page) as shrink_cache calls it: the page is mapped,
    locked (PG_locked), has backing store and is not reserved.  Each mapping
    answers what the environment makes it (outcomes[i] for p<i>).

    pre: 1 <= mapped <= MAX_CHAIN
    pre: _outcomes_ok(outcomes, mapped)
    pre: page_locked
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, outcomes, swapcache, page_locked = concrete(mapped, outcomes, swapcache, page_locked)
    return _replay(
        _world(mapped, swapcache=swapcache),
        _map(0, mapped),
        _environment(outcomes),
        {"op": "set_page", "pfn": PFN, "locked": page_locked},
        {"op": "try_to_unmap", "pfn": PFN},
    )


@dataclass(frozen=True)
class SlabCall:
    """What a pte_chain helper did: its answer and the slab and chain around it."""

    node_is_null: bool
    live_before: int
    live_after: int
    entries_before: tuple[str, ...]
    entries_after: tuple[str, ...]


def _slab_call(mapped: int, call: str, position: int = 0, alloc_fails: bool = False) -> SlabCall:
    """Map ``mapped`` ptes, then call a pte_chain helper directly (no trace
    operation runs one alone)."""
    with untraced():
        session = Session(VARIANT)
        for op in [_world(max(mapped, 1)), *_map(0, mapped)]:
            session.apply(op)
        k, rmap, page = session.k, session.rmap, session.page(PFN)
        assert rmap is not None and k.pte_chain_cache is not None
        before = tuple(p.name for p in rmap_entries(k, page))
        live_before = len(k.pte_chain_cache.live)
        node: object = NULL
        if call == "alloc":
            k.pte_chain_cache.fail_next = int(alloc_fails)
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
        )


def pte_chain_alloc(alloc_fails: bool) -> SlabCall:
    """pte_chain_alloc(): a new live pte_chain node, or NULL when GFP_ATOMIC fails.

    post: _.node_is_null == alloc_fails
    post: _.live_after == _.live_before + (0 if alloc_fails else 1)
    """
    (alloc_fails,) = concrete(alloc_fails)
    return _slab_call(0, "alloc", alloc_fails=alloc_fails)


def pte_chain_free(mapped: int, position: int) -> SlabCall:
    """pte_chain_free(pc, prev, page) of the node at ``position`` of a chain,
    with its predecessor (NULL for the head): unlinks exactly that entry
    and gives its node back to the slab.

    pre: 2 <= mapped <= MAX_CHAIN
    pre: 0 <= position < mapped
    post: _.entries_after == _.entries_before[:position] + _.entries_before[position + 1:]
    post: _.live_after == _.live_before - 1
    """
    mapped, position = concrete(mapped, position)
    return _slab_call(mapped, "free", position)


def pte_chain_init() -> SlabCall:
    """pte_chain_init(), which make_rmap runs: an empty pte_chain cache.

    post: _.live_before == 0
    """
    return _slab_call(0, "init")


# ------------------------------------------------------------ caller paths


def map_pte(mapped: int, alloc_fails: bool, reserved: bool, held_swap: bool) -> Run:
    """map_pte: a fault (or fork) maps the page at a pte that is not present,
    ``mapped`` other ptes already mapping it.  ``held_swap``: the pte held a
    swap entry (do_swap_page).  GFP_ATOMIC may fail.

    pre: 0 <= mapped < MAX_CHAIN
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, alloc_fails, reserved, held_swap = concrete(mapped, alloc_fails, reserved, held_swap)
    return _replay(
        _world(mapped + 1, reserved=reserved, swap_ptes=[mapped] if held_swap else []),
        _map(0, mapped),
        [{"op": "fail_alloc", "n": 1}] if alloc_fails else [],
        {"op": "map", "pte": _pte(mapped), "pfn": PFN},
    )


def zap_pte(mapped: int, target: int, reserved: bool) -> Run:
    """zap_pte: munmap or exit clears a pte that maps the page (target <
    mapped) or holds a swap entry (target == mapped).

    pre: 0 <= mapped <= MAX_CHAIN
    pre: 0 <= target <= mapped
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, target, reserved = concrete(mapped, target, reserved)
    return _replay(
        _world(mapped + 1, reserved=reserved, swap_ptes=[mapped]),
        _map(0, mapped),
        {"op": "zap", "pte": _pte(target)},
    )


def reclaim(mapped: int, outcomes: list[int], young: bool) -> Run:
    """reclaim: shrink_cache on the page with its locks taken in 2.5.31's
    order; a referenced page is activated, a mapped one unmapped (with
    ``young`` false, no mapping was referenced since the last scan).

    pre: 0 <= mapped <= MAX_CHAIN
    pre: _outcomes_ok(outcomes, mapped)
    post: refines(_)
    post: holds(_, STRUCTURE)
    post: holds(_, COUPLING)
    post: holds(_, COUNT)
    """
    mapped, outcomes, young = concrete(mapped, outcomes, young)
    return _replay(
        _world(mapped),
        _map(0, mapped),
        _environment(outcomes, young=young),
        {"op": "reclaim", "pfn": PFN},
    )


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
