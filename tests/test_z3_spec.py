"""The z3 spec (proofs.z3.spec) says what spec/ops.py says, on concrete states.

proofs.z3.spec restates spec/ops.py's operations over the symbolic state,
and every "impl refines spec" proof is stated against it: it is trusted.
This checks it.  For every entry of proofs.z3.properties.ENTRIES, small
worlds pinned as the bounded search pins them (proofs.z3.search.world_pins:
chains of 0 to 3 entries) are solved under the entry's precondition in
several environments (``SCENARIOS``: a busy page_table_lock, no vma,
VM_LOCKED, the swap cache up to SWAP_MAP_MAX, dirty and young bits,
allocation failures, ...), a few models each.  Each model is decoded into
a trace (proofs.z3.decode) and replayed on impl/ up to the operation; then

- α of that kernel state (impl.abstraction) is ``abstract`` of the model,
  and each pte's env_unmap_outcome is ``spec_outcome``;
- the step impl/refinement.py takes from it (spec.ops) is the z3 spec's
  evaluated in the model: every abstract field, and exactly the answers
  it allows;
- try_to_unmap's and reclaim's stopping point, both ways: for every
  ``walked`` in 0..n that walk_may_stop allows, each (answer, state) the
  z3 spec allows is one spec.ops.unmap_allows (reclaim: spec.ops.reclaim)
  allows, and the full walk (walked = n) is spec.ops' full-walk step.

The checker reports each disagreement with the state (the trace) and the
field, spec.ops beside z3; a test perturbs the z3 spec and sees it fail.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import z3

from impl.callers import ReclaimResult
from impl.kernel import (
    ENOMEM,
    SWAP_MAP_MAX,
    VM_LOCKED,
    PG_dirty,
    PG_referenced,
    PG_reserved,
    PG_swapcache,
    PteVal,
)
from impl.refinement import Step, diff_states
from impl.trace import Session
from impl.trace_schema import convert
from proofs.z3 import invariants as inv
from proofs.z3 import properties
from proofs.z3 import spec as zspec
from proofs.z3.decode import decode
from proofs.z3.heap import Heap, fresh_heap
from proofs.z3.invariants import flag, normal
from proofs.z3.pins import SWAP_ENTRY, address
from proofs.z3.properties import ENTRIES, Args, Entry
from proofs.z3.search import pinned_world, plain
from proofs.z3.spec import FAIL, SUCCESS, Abstract, SumsRegistry, abstract, spec_outcome
from proofs.z3.values import Record
from proofs.z3.vcs import entry_args
from spec import ops
from spec.state import AbsState, FMap, PageAbs, PteAbs

PFN = 1
CHAINS = (0, 1, 2, 3)
MIN_COMPARED = 40  # states per entry where spec.ops' precondition holds
MORE_MODELS = 2  # models of the unconstrained scenario, each a different state
QUERY_MS = 5000
KINDS = {zspec.NONE: "none", zspec.PAGE: "page", zspec.SWAP: "swap"}
WALKS = ("try_to_unmap", "reclaim")  # the entries whose walk may stop early
Scenario = Callable[[Heap, int, Args], list[Any]]
DIRTY = "dirty ptes, each unmapped when asked"


def _mm(h: Heap, p: int) -> Any:
    return h.select("pte.mm", p)


def _vma(h: Heap, field: str, p: int) -> Any:
    return h.select(field, _mm(h, p), address(p))


def _outcome_at(h: Heap, n: int, k: int, want: int) -> list[Any]:
    return [spec_outcome(h, k + 1) == want] if k < n else [z3.BoolVal(False)]


def _free(h: Heap, p: int) -> Any:
    """No other CPU holds the page_table_lock of pte p's mm: its vma decides."""
    return h.select("mm.lock", _mm(h, p)) == 0


def _unmapped(h: Heap, n: int) -> list[Any]:
    """Every pte on the chain is unmapped when asked."""
    return [spec_outcome(h, p) == SUCCESS for p in range(1, n + 1)]


def _swap_at(count: int) -> Scenario:
    """The page in the swap cache and its entry held by the pte off the
    chain too, counting ``count``, and every pte on the chain unmapped
    (one more reference each): where the count saturates."""
    return lambda h, n, a: [
        flag(h, PG_swapcache),
        h.select("pte.swap", n + 1) == SWAP_ENTRY,
        h.select("swap.count", SWAP_ENTRY) == count,
        *_unmapped(h, n),
    ]


# Environments each entry is tried in, beyond the plainest: each pins one
# choice of the environment (those unsatisfiable with an entry's
# precondition are skipped; every one is satisfiable with some entry).
SCENARIOS: dict[str, Scenario] = {
    "plain": lambda h, n, a: plain(h, n),
    "any": lambda h, n, a: [],
    "page_table_lock held by another CPU": lambda h, n, a: [h.select("mm.lock", _mm(h, 1)) != 0],
    "no vma": lambda h, n, a: [_free(h, 1), z3.Not(_vma(h, "vma.found", 1))],
    "the vma starts above the address": lambda h, n, a: [
        _free(h, 1),
        _vma(h, "vma.found", 1),
        _vma(h, "vma.start", 1) > address(1),
    ],
    "VM_LOCKED": lambda h, n, a: [
        _free(h, 1),
        _vma(h, "vma.found", 1),
        _vma(h, "vma.start", 1) <= address(1),
        _vma(h, "vma.flags", 1) & VM_LOCKED != 0,
    ],
    "FAIL first, then SUCCESS": lambda h, n, a: [*_outcome_at(h, n, 0, FAIL), *_outcome_at(h, n, 1, SUCCESS)],
    "SUCCESS first, then FAIL": lambda h, n, a: [*_outcome_at(h, n, 0, SUCCESS), *_outcome_at(h, n, 1, FAIL)],
    "swap cache": lambda h, n, a: [flag(h, PG_swapcache), h.select("swap.count", SWAP_ENTRY) <= 3],
    "swap count one below SWAP_MAP_MAX": _swap_at(SWAP_MAP_MAX - 1),
    "swap count SWAP_MAP_MAX": _swap_at(SWAP_MAP_MAX),
    "a pte holds a swap entry": lambda h, n, a: [h.select("pte.swap", n + 1) == SWAP_ENTRY],
    DIRTY: lambda h, n, a: [
        z3.Not(flag(h, PG_referenced)),
        *[h.select("pte.dirty", p) for p in range(1, n + 1)],
        *[z3.Not(h.select("pte.young", p)) for p in range(1, n + 1)],
        *_unmapped(h, n),
    ],
    "young ptes": lambda h, n, a: [h.select("pte.young", p) for p in range(1, n + 1)],
    "PG_dirty and PG_referenced": lambda h, n, a: [flag(h, PG_dirty), flag(h, PG_referenced)],
    "the next allocation fails": lambda h, n, a: [h["slab.fail_next"] > 0, h["slab.succeed"] == 0],
    "the second allocation fails": lambda h, n, a: [h["slab.fail_next"] > 0, h["slab.succeed"] == 1],
    "PG_reserved": lambda h, n, a: [flag(h, PG_reserved)],
    "an invalid pfn": lambda h, n, a: [z3.Not(h["page.valid"])],
    "one mm": lambda h, n, a: [_mm(h, p) == 1 for p in range(1, n + 2)],
    "an mm each": lambda h, n, a: [_mm(h, p) == p for p in range(1, n + 2)],
}

# The scenarios tried on the empty chain: what no pte's outcome or bits
# decide (a page that is not reverse-mapped has no chain).
EMPTY_CHAIN = ("plain", "any", "PG_reserved", "an invalid pfn", "a pte holds a swap entry", "swap cache")


def _decodable(h: Heap, n: int, extra: bool) -> list[Any]:
    """What a decoded trace can build: the swap slot is declared (and then
    counts one at least) exactly when something uses it; a pte on the chain
    holds no swap entry (page_remove_rmap's, cleared, is replayed as mapped);
    the page's count is its base plus one per entry when it is reverse-mapped
    (page_add_rmap's precondition leaves it free); a vma find_vma answers
    ends above the address (what the model of find_vma assumes on that
    arm, and decode builds); the pte off the chain, when present, is mapped
    by map_pte (young, clean)."""
    used = z3.Or(flag(h, PG_swapcache), *[h.select("pte.swap", p) == SWAP_ENTRY for p in _universe(n)])
    count = h.select("swap.count", SWAP_ENTRY)
    refs = h["page.count"] == h["g.base"] + z3.If(normal(h), n, 0)
    ends = [z3.Implies(_vma(h, "vma.found", p), _vma(h, "vma.end", p) > address(p)) for p in _universe(n)]
    out = [
        z3.If(used, count >= 1, count == 0),
        refs,
        *ends,
        *[h.select("pte.swap", p) == -1 for p in range(1, n + 1)],
    ]
    if extra:
        p = n + 1
        out.append(
            z3.Implies(
                h.select("pte.present", p), z3.And(h.select("pte.young", p), z3.Not(h.select("pte.dirty", p)))
            )
        )
    return out


def _where_ops_speaks(entry: str, h: Heap, t: Any) -> list[Any]:
    """spec.ops' precondition where it asks more than the z3 one: map's pte
    does not map a page yet (pre_map), zap's holds something (pre_zap)."""
    match entry:
        case "map":
            return [z3.Not(h.select("pte.present", t))]
        case "zap":
            return [z3.Or(h.select("pte.present", t), h.select("pte.swap", t) >= 0)]
    return []


def _capped(t: Any, top: int = 3) -> Any:
    return z3.If(t > top, top + 1, t)


def _choices(h: Heap, n: int, args: Any) -> list[Any]:
    """The terms a decoded trace is made of: two models that differ on one
    of them are two different states."""
    out: list[Any] = []
    for p in range(1, n + 2):
        out += [_mm(h, p), spec_outcome(h, p), h.select("pte.present", p), h.select("pte.swap", p)]
        out += [h.select("pte.young", p), h.select("pte.dirty", p), h.select("pte.pfn", p)]
        out += [h.select("mm.lock", _mm(h, p))]
    out += [h["page.flags"], h["page.valid"], h["page.mapping"], _capped(h["g.base"])]
    count = h.select("swap.count", SWAP_ENTRY)
    out += [z3.If(count >= SWAP_MAP_MAX - 1, count, _capped(count))]
    out += [_capped(h["slab.fail_next"]), _capped(h["slab.succeed"])]
    return out + [a for a in (args.t, args.dirty) if a is not None]


# ------------------------------------------------------------ the states

# Each array field of an abstract state, by what it is indexed by.
INDEXED = {
    **{key: "pte" for key in ("rmap", "pte kinds", "pte targets", "pte young", "pte dirty", "pte mm")},
    "rss": "mm",
    "swap": "swap",
}


def _indices(n: int) -> dict[str, tuple[list[int], list[int]]]:
    """Per index kind: the indices of the decoded world, and a few outside
    it (where every operation must leave the state as it was)."""
    world = list(_universe(n))
    return {
        "pte": (world, [0, n + 2]),
        "mm": (world, [0, n + 2]),
        "swap": ([SWAP_ENTRY], [SWAP_ENTRY - 1, SWAP_ENTRY + 1]),
    }


class Probes:
    """The terms a check reads off a model, packed into one tuple so that z3
    evaluates them in one call (each call evaluates the shared spec terms
    afresh, which is most of the time)."""

    def __init__(self) -> None:
        self.terms: list[Any] = []

    def add(self, term: Any) -> int:
        self.terms.append(term)
        return len(self.terms) - 1

    def state(self, a: Abstract, n: int) -> dict[tuple[str, int | None], int]:
        """Where each field of an abstract state (each index of the world
        and the few outside it, for an array) is among the terms."""
        out: dict[tuple[str, int | None], int] = {}
        for key, value in a.items():
            kind = INDEXED.get(key)
            if kind is None:
                out[(key, None)] = self.add(value)
                continue
            world, outside = _indices(n)[kind]
            for i in [*world, *outside]:
                out[(key, i)] = self.add(value[i])
        return out

    def packed(self, tag: str) -> Any:
        sorts = [t.sort() for t in self.terms]
        _, make, _ = z3.TupleSort(f"probes.{tag}", sorts)
        return make(*self.terms)


def _read(model: z3.ModelRef, packed: Any) -> list[Any]:
    value = model.eval(packed, model_completion=True)
    return [_constant(value.arg(i)) for i in range(value.num_args())]


Located = dict[tuple[str, int | None], int]


@dataclass(frozen=True)
class Spec:
    """The z3 spec at one stopping point: where, among the probed terms,
    whether it allows each candidate answer (as spec.ops states it) is, and
    where its abstract state is."""

    answers: list[tuple[Any, int]]
    state: Located


@dataclass(frozen=True)
class Pinned:
    """An entry's pre-state pinned to a chain of n (the pinned fields
    substituted, as proofs.z3.reach does, so that z3 decides the quantified
    precondition at once), with the z3 spec built over it and the terms to
    read off each model."""

    entry: Entry
    n: int
    h: Heap
    args: Args
    specs: list[Spec]  # by walked: 0..n for a walk, else n alone
    alpha: Located  # abstract(h)
    outcomes: dict[int, int]  # spec_outcome of each pte of the world
    packed: Any
    hyps: list[Any]


@dataclass(frozen=True)
class Case:
    """One model of a pinned pre-state, the trace that builds it, and the
    probed terms' values in the model."""

    pin: Pinned
    scenario: str
    model: z3.ModelRef
    trace: list[dict[str, Any]]
    values: list[Any]


def pinned(entry: Entry, n: int) -> Pinned:
    args = entry_args(entry)
    extra = entry.name not in ("page_add_rmap", "map")  # their argument is pte n+1, which they map
    h, rest = pinned_world(fresh_heap(f"z{n}"), n, entry, args, extra)
    registry = SumsRegistry()
    sums = registry.of(h)
    probes = Probes()
    specs = []
    for w in range(n + 1) if entry.name in WALKS else (n,):
        answer, want = entry.spec(h, args, sums, z3.IntVal(w))
        answers = [(_key(c), probes.add(answer(c))) for c in _candidates(entry.name, n)]
        specs.append(Spec(answers, probes.state(want, n)))
    alpha = probes.state(abstract(h), n)
    outcomes = {p: probes.add(spec_outcome(h, p)) for p in _universe(n)}
    hyps = [
        *inv.world_facts(h),
        *[t for _, t in entry.pre(h, args)],
        *rest,
        *_decodable(h, n, extra),
        *_where_ops_speaks(entry.name, h, args.t),
        *registry.pins(n),  # after the spec and its answers are built: their sums are registered then
    ]
    return Pinned(entry, n, h, args, specs, alpha, outcomes, probes.packed(f"{entry.name}.{n}"), hyps)


def cases(
    entry: Entry, chains: tuple[int, ...] = CHAINS, scenarios: tuple[str, ...] = tuple(SCENARIOS)
) -> Iterator[Case]:
    """Models of the entry's pinned pre-states: per chain, one per scenario
    (and a few more, each a different state, where nothing is pinned; on
    the empty chain, only the scenarios of ``EMPTY_CHAIN``)."""
    for n in chains:
        pin = pinned(entry, n)
        choices = _choices(pin.h, n, pin.args)
        for name in scenarios if n else [s for s in scenarios if s in EMPTY_CHAIN]:
            hyps = [*pin.hyps, *SCENARIOS[name](pin.h, n, pin.args)]
            for _ in range(MORE_MODELS if name == "any" else 1):
                # a fresh solver per query: z3's incremental mode handles the
                # quantified precondition far worse (as proofs.z3.search says)
                solver = z3.Solver()
                solver.set("timeout", QUERY_MS)
                solver.add(*hyps)
                if solver.check() != z3.sat:
                    break
                model = solver.model()
                trace = decode(model, pin.h, n, entry.name, pin.args)["trace"]
                yield Case(pin, name, model, trace, _read(model, pin.packed))
                hyps.append(z3.Or([c != model.eval(c, model_completion=True) for c in choices]))


# ------------------------------------------------------------ the comparison


def _universe(n: int) -> range:
    return range(1, n + 2)


def z3_state(case: Case, at: Located, like: AbsState) -> tuple[AbsState, list[str]]:
    """The abstract state the z3 terms ``at`` locates mean in the case's
    model, as a spec.state value (named as the decoded world names things;
    what z3 does not model, the other pages and swap_base, taken from
    ``like``), and what cannot be said that way: a page outside mem_map
    that z3 reverse-maps, a change outside the world."""
    n = case.pin.n
    v = lambda key, i=None: case.values[at[(key, i)]]  # noqa: E731
    names = {p: f"p{p}" for p in _universe(n)}
    ptes = {
        names[p]: PteAbs(KINDS[v("pte kinds", p)], v("pte targets", p), v("pte young", p), v("pte dirty", p))
        for p in _universe(n)
    }
    pages, rmap = dict(like.pages.items()), dict(like.rmap.items())
    recorded = frozenset(names[p] for p in _universe(n) if v("rmap", p))
    problems = []
    if PFN in pages:
        entry = v("page swap entry")
        pages[PFN] = PageAbs(
            normal=v("page normal"),
            count=v("page count"),
            base=v("page base"),
            referenced=v("page referenced"),
            dirty=v("page dirty"),
            swap_entry=None if entry < 0 else entry,
        )
        rmap[PFN] = recorded
    elif v("page normal") or recorded:
        problems.append(f"page {PFN} is not in mem_map, but z3 says it is normal or records {set(recorded)}")
    for key, kind in INDEXED.items():
        for i in _indices(n)[kind][1]:
            was, now = case.values[case.pin.alpha[(key, i)]], v(key, i)
            if was != now:
                problems.append(f"{key}[{i}] (outside the world): was {was!r}, z3 {now!r}")
    count = v("swap", SWAP_ENTRY)
    swap = {**dict(like.swap.items()), **({SWAP_ENTRY: count} if SWAP_ENTRY in like.swap or count else {})}
    state = AbsState(
        ptes=FMap.of(ptes),
        pte_mm=FMap.of({names[p]: f"M{v('pte mm', p)}" for p in _universe(n)}),
        pages=FMap.of(pages),
        rmap=FMap.of(rmap),
        rss=FMap.of({mm: v("rss", int(mm[1:])) for mm in like.rss}),
        swap=FMap.of(swap),
        swap_base=like.swap_base,
        nr_reverse_maps=v("nr_reverse_maps"),
    )
    return state, problems


def _diff(want: AbsState, got: AbsState) -> list[str]:
    """diff_states with its sides named for this check: spec.ops beside z3."""
    return [
        line.replace(": spec ", ": spec.ops ").replace(", impl ", ", z3 ") for line in diff_states(want, got)
    ]


def _candidates(entry: str, n: int) -> list[Any]:
    """The answers an implementation could give, as the lifted code's values."""
    match entry:
        case "try_to_unmap" | "try_to_unmap_one":
            return [ops.SWAP_SUCCESS, ops.SWAP_AGAIN, ops.SWAP_FAIL, ops.SWAP_ERROR]
        case "page_referenced":
            return list(range(n + 3))
        case "map":
            return ["mapped", "oom"]
        case "reclaim":
            swaps = [None, ops.SWAP_SUCCESS, ops.SWAP_AGAIN, ops.SWAP_FAIL, ops.SWAP_ERROR]
            return [
                Record(ReclaimResult, (("referenced", c), ("swap_result", r), ("disposition", d)))
                for c in range(n + 3)
                for r in swaps
                for d in (ops.ACTIVATE, ops.KEEP, ops.FREE)
            ]
    return [None, -ENOMEM]


def _key(value: Any) -> Any:
    """A candidate as spec.ops states the answer."""
    if isinstance(value, Record):
        return (value.get("referenced"), value.get("swap_result"), value.get("disposition"))
    return value


def _constant(v: Any) -> Any:
    return z3.is_true(v) if z3.is_bool(v) else v.as_long()


def before(case: Case) -> tuple[Step, str | None]:
    """The refinement checker's view of the state before the operation:
    the trace replayed on impl/ up to it (for page_add_rmap and
    page_remove_rmap, the pte set as the z3 state has it: mapped, not yet
    recorded; cleared, still recorded); and the pte the operation takes."""
    pin = case.pin
    v = lambda t: _constant(case.model.eval(t, model_completion=True))  # noqa: E731
    session = Session("fixed")
    *setup, last = case.trace
    for op in setup:
        session.run(convert(op))
    t = f"p{v(pin.args.t)}" if pin.args.t is not None else None
    match pin.entry.name:
        case "page_add_rmap":
            assert t is not None
            young, dirty = (v(pin.h.select(f, pin.args.t)) for f in ("pte.young", "pte.dirty"))
            session.pte(t).val = PteVal(True, PFN, young, dirty)
            return Step.before(session.k, "page_add_rmap", {"pfn": PFN, "pte": t}), t
        case "page_remove_rmap" if last["op"] == "zap":
            assert t is not None
            session.pte(t).val = PteVal()
            return Step.before(session.k, "page_remove_rmap", {"pfn": PFN, "pte": t}), t
    step = Step.before(session.k, last["op"], {key: value for key, value in last.items() if key != "op"})
    assert step is not None
    return step, t


def check(case: Case) -> tuple[bool, list[str]]:
    """Whether spec.ops' precondition holds of α of the replayed state (so
    that its step was compared), and where the z3 spec, evaluated in the
    case's model, says other than spec.ops (empty: they agree)."""
    pin = case.pin
    step, t = before(case)
    if step.pre is None:
        return False, ["the replayed state has no abstraction"]
    pre, name = step.pre, pin.entry.name
    got, problems = z3_state(case, pin.alpha, pre)
    out = [f"α: {line}" for line in [*_diff(pre, got), *problems]]
    if name not in ("page_add_rmap", "map"):  # for these the trace does not replay the other CPU's locks
        for p, at in pin.outcomes.items():
            if step.outcomes[f"p{p}"] != case.values[at]:
                out.append(
                    f"spec_outcome(p{p}): env_unmap_outcome {step.outcomes[f'p{p}']}, z3 {case.values[at]}"
                )
    if out or not step.precondition():
        return False, out  # spec.ops speaks only where its precondition holds
    if name in WALKS:
        return True, _walk(case, step)
    if name == "try_to_unmap_one":
        assert t is not None
        allowed = [ops.unmap_one(pre, PFN, t, step.outcomes[t])]
    else:
        allowed = step.allowed()
    spec = pin.specs[-1]
    state, problems = z3_state(case, spec.state, pre)
    out += [*_diff(allowed[0][1], state), *problems]
    z3_answers = {key for key, at in spec.answers if case.values[at]}
    ops_answers = {r for r, _ in allowed}
    if z3_answers != ops_answers:
        out.append(f"answers: spec.ops {sorted(ops_answers, key=repr)}, z3 {sorted(z3_answers, key=repr)}")
    return True, out


def _walk(case: Case, step: Step) -> list[str]:
    """try_to_unmap and reclaim: every stop z3 allows is a step spec.ops
    allows; the full walk is spec.ops' full-walk step, with its answers."""
    pin, pre = case.pin, step.pre
    assert pre is not None
    if pin.entry.name == "try_to_unmap":
        listed = ops.unmap_steps(pre, PFN, step.outcomes)
        steps, full = set(listed), listed[0][1]
    else:
        count, cleared = ops.referenced(pre, PFN)
        steps = {((count, r, d), s) for d, r, s in ops.reclaim(pre, PFN, step.outcomes)}
        unmaps = not count and cleared.rmap[PFN]
        full = ops.unmap_steps(cleared, PFN, step.outcomes)[0][1] if unmaps else cleared
    out = []
    for walked, spec in enumerate(pin.specs):
        state, problems = z3_state(case, spec.state, pre)
        out += [f"walked={walked}: {line}" for line in problems]
        z3_answers = {key for key, at in spec.answers if case.values[at]}
        for r in sorted(z3_answers, key=repr):
            if (r, state) in steps:
                continue
            with_state = sorted((a for a, s in steps if s == state), key=repr)
            if with_state:
                out.append(f"walked={walked}: answers: spec.ops {with_state} with this state, z3 also {r!r}")
                continue
            close = min((s for _, s in steps), key=lambda s: len(_diff(s, state)))
            out.append(f"walked={walked}: z3 allows answer {r!r} with a state no step of spec.ops leaves:")
            out += [f"walked={walked}:   {line}" for line in _diff(close, state)]
        if walked == pin.n:
            out += [f"full walk: {line}" for line in _diff(full, state)]
            want = {r for r, s in steps if s == full}
            if z3_answers != want:
                both = f"spec.ops {sorted(want, key=repr)}, z3 {sorted(z3_answers, key=repr)}"
                out.append(f"full walk: answers: {both}")
    return out


# ------------------------------------------------------------ the tests


@dataclass(frozen=True)
class Report:
    compared: int  # states where spec.ops' precondition held, so that its step was compared
    disagreements: list[str]  # each with its state's trace
    scenarios: frozenset[str]  # those satisfiable with the entry's precondition


def report(
    entry: str, chains: tuple[int, ...] = CHAINS, scenarios: tuple[str, ...] = tuple(SCENARIOS)
) -> Report:
    compared, out, tried = 0, [], set()
    for case in cases(ENTRIES[entry], chains, scenarios):
        spoke, lines = check(case)
        compared += spoke
        tried.add(case.scenario)
        out += [f"{entry} n={case.pin.n} [{case.scenario}]: {line}\n  trace: {case.trace}" for line in lines]
    return Report(compared, out, frozenset(tried))


full_report = functools.cache(report)  # shared by the tests below; the perturbed spec's are not cached


@pytest.mark.parametrize("entry", list(ENTRIES))
def test_z3_spec_agrees_with_spec_ops(entry: str) -> None:
    done = full_report(entry)
    assert not done.disagreements, "\n".join(done.disagreements[:5])
    assert done.compared >= MIN_COMPARED, f"only {done.compared} states of {entry} where spec.ops speaks"


def test_every_scenario_is_tried() -> None:
    """Each scenario is satisfiable with some entry's precondition: one that is not would test nothing."""
    assert set().union(*(full_report(entry).scenarios for entry in ENTRIES)) == set(SCENARIOS)


def _forgets_dirty(real: Callable[..., Abstract]) -> Callable[..., Abstract]:
    def spec_unmap(h: Heap, sums: Any, walked: Any) -> Abstract:
        a = real(h, sums, walked)
        a["page dirty"] = flag(h, PG_dirty)  # the unmapped ptes' dirty bits lost
        return a

    return spec_unmap


def _stops_anywhere(real: Callable[..., Any]) -> Callable[..., Any]:
    return lambda h, sums, walked: z3.And(walked >= 0, walked <= h["g.n"])


@pytest.mark.parametrize(
    ("function", "perturb", "shows"),
    [
        ("spec_unmap", _forgets_dirty, "full walk: pages[1]: spec.ops PageAbs("),
        ("walk_may_stop", _stops_anywhere, "with a state no step of spec.ops leaves"),
    ],
)
def test_a_wrong_z3_spec_is_caught(
    monkeypatch: pytest.MonkeyPatch, function: str, perturb: Callable[..., Any], shows: str
) -> None:
    """The check can fail: a z3 spec that forgets the dirty bits of the
    ptes it unmaps, or lets the walk stop anywhere, disagrees with spec.ops."""
    monkeypatch.setattr(properties, function, perturb(getattr(properties, function)))
    for entry in WALKS:
        out = report(entry, (2,), (DIRTY,)).disagreements
        assert any(shows in line for line in out), out
