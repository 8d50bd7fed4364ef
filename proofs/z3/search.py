"""Counterexamples a person can replay: bounded symbolic execution on small chains.

When an obligation's VCs do not all prove, its counterexample is searched
for from the function's entry, not from the VC that failed (a failing loop
VC's state need not be reachable): the pre-state is pinned to a chain of
0, 1, 2, ... entries (proofs.z3.pins), the generator unrolls the loops
(proofs.z3.lift in ``bounded`` mode), the chain the code leaves is read by
walking it (no ghost annotation is trusted here), and z3 looks for a path
that breaks the property, preferring the plainest environment (every lock
free, every pte in an ordinary vma, clean bits, no swap cache).  A model is
decoded into a trace (proofs.z3.decode) and replayed on impl/; only a
trace whose replay shows the violation is a counterexample.
"""

from __future__ import annotations

import time
from typing import Any

import z3

from impl.kernel import PG_chainlock, PG_direct, PG_dirty, PG_locked, PG_referenced, PG_reserved, PG_swapcache
from impl.trace import Session, TraceError
from proofs.z3 import invariants as inv
from proofs.z3.decode import IO_PFN, decode
from proofs.z3.heap import FIELDS, FLAG_BITS, Heap, fresh_heap, intern
from proofs.z3.invariants import flag
from proofs.z3.lift import Config, Executor
from proofs.z3.paths import Path, common_prefix
from proofs.z3.pins import SWAP_ENTRY, pin_chain
from proofs.z3.properties import ENTRIES, PRESERVE, REFINE, SPEC_REFINES, Args, Entry
from proofs.z3.spec import SUCCESS, Sums
from proofs.z3.values import conj, disj
from proofs.z3.vcs import NO_FAULT, entry_args, merged_returns, property_goals, run_entry

MAX_CHAIN = 4
CANDIDATE_SECONDS = 1.0  # one query's search, at most: the next may be quicker
PLAIN_SECONDS = 0.5  # for the plainest model; then any model will do
INT = z3.IntSort()
KNOWN_FLAGS = (PG_locked, PG_referenced, PG_dirty, PG_reserved, PG_chainlock, PG_direct, PG_swapcache)


def walked(h: Heap, bound: int) -> tuple[Heap, Any]:
    """The ghost chain of ``h`` read by walking it from the page's word for
    ``bound`` steps, and whether the walk ended (a longer chain, or a cycle,
    is not well formed)."""
    direct, word = inv.direct(h), h["page.word"]
    xs = [word]
    for _ in range(bound):
        xs.append(h.select("node.next", xs[-1]))
    n: Any = z3.IntVal(bound)
    for k in range(bound - 1, -1, -1):
        n = z3.If(xs[k] == 0, k, n)
    n = z3.If(direct, 1, n)
    nd, pe = z3.K(INT, z3.IntVal(0)), z3.K(INT, z3.IntVal(0))
    for k in range(bound):
        nd = z3.Store(nd, k, xs[k])
        pe = z3.Store(
            pe, k, h.select("node.ptep", xs[k]) if k else z3.If(direct, word, h.select("node.ptep", xs[0]))
        )
    x, p = z3.Int("walk.x"), z3.Int("walk.p")
    npos: Any = z3.IntVal(-1)
    ppos: Any = z3.IntVal(-1)
    for k in range(bound - 1, -1, -1):
        npos = z3.If(z3.And(z3.Not(direct), k < n, x == xs[k]), k, npos)
        ppos = z3.If(z3.And(k < n, p == pe[k]), k, ppos)
    ghosts = {
        "g.n": n,
        "g.nd": nd,
        "g.npos": z3.Lambda([x], npos),
        "g.pe": pe,
        "g.ppos": z3.Lambda([p], ppos),
    }
    return h.update(ghosts), z3.Or(direct, xs[bound] == 0)


def stopped_at(h0: Heap, h1: Heap, n: int, sums: Sums) -> Any:
    """Where a walk over the n entries of ``h0`` stopped, read off the state
    it left: at the first entry whose outcome is SWAP_SUCCESS that is still
    recorded, or at the end.  If any stopping point explains ``h1``
    (spec.walk_may_stop), this one does: the entries between the two stay
    either way, so a violation at this point is one at every point."""
    stop: Any = z3.IntVal(n)
    for j in range(n - 1, -1, -1):
        stays = z3.And(sums.out(j) == SUCCESS, inv.recorded(h1, h0.select("g.pe", j)))
        stop = z3.If(stays, j, stop)
    return stop


def world_pins(h: Heap, n: int, entry: Entry, args: Args, extra: bool = False) -> list[Any]:
    """What a world built by the callers always has, beyond the pinned chain:
    the ptes that map the page are the chain's (and page_add_rmap's argument),
    rss and nr_reverse_maps count them, no other page has entries.  With
    ``extra``, pte n+1 may also be present, unrecorded: mapping this page
    when it is not reverse-mapped, or an I/O page (pfn IO_PFN, not valid), and
    a pte not present has no pfn, young or dirty bit (as the decoder builds it),
    and page_remove_rmap's ptep may be on the chain, cleared (by zap)."""
    universe = range(1, n + 2)
    out = [*pin_chain(h, n, args), h["page.pfn"] == 1, h["g.nr_other"] == 0, h["state.nr"] == n]
    mask = sum(1 << b for b in KNOWN_FLAGS)
    out.append(h["page.flags"] & z3.BitVecVal(~mask & 0xFFFFFFFF, 32) == 0)
    out.append(z3.Or(h["page.mapping"] == 0, h["page.mapping"] == intern("file")))
    t = args.t
    for p in universe:
        present = h.select("pte.present", p)
        if extra:  # what the decoder builds: a pte not present holds a swap entry or nothing
            bits = z3.Or(h.select("pte.young", p), h.select("pte.dirty", p), h.select("pte.pfn", p) != 0)
            out.append(z3.Implies(z3.Not(present), z3.Not(bits)))
        if extra and p == n + 1 and entry.name != "page_add_rmap":
            out.append(
                z3.Implies(present, z3.Or(h.select("pte.pfn", p) == 1, h.select("pte.pfn", p) == IO_PFN))
            )
            continue
        if entry.name == "page_add_rmap":
            on = z3.Or(p <= n, p == t)
        elif extra and entry.name == "page_remove_rmap":
            on = z3.And(p <= n, p != t)  # zap cleared ptep first (decode replays it through zap)
        else:
            on = z3.BoolVal(p <= n)
        out.append(present == on)
        out.append(z3.Implies(present, h.select("pte.pfn", p) == 1))
    for m in universe:
        mine = [z3.If(z3.And(p <= n, h.select("pte.mm", p) == m), 1, 0) for p in universe]
        out.append(h.select("mm.rss", m) == z3.Sum(mine))
    # The world's one swap slot (the decoder gives every entry a pte holds to
    # it) counts at least the ptes that hold one: a world that counts fewer
    # does not validate, so no trace of it can replay.
    holds = [z3.And(z3.Not(h.select("pte.present", p)), h.select("pte.swap", p) >= 0) for p in universe]
    holders = [z3.If(c, 1, 0) for c in holds]
    out.append(h.select("swap.count", SWAP_ENTRY) >= z3.Sum(holders))
    return out


def pinned_world(h0: Heap, n: int, entry: Entry, args: Args, extra: bool = False) -> tuple[Heap, list[Any]]:
    """``h0`` pinned to a world of world_pins: each pin ``field == value``
    substituted into the state (and the page's PG_direct bit), so that the
    generator decides the chain's branches itself and only the environment's
    choices fork; and the pins that are not one field's value."""
    names = {h0[name].get_id(): name for name in FIELDS}
    subst: dict[str, Any] = {}
    rest = []
    for c in world_pins(h0, n, entry, args, extra):
        name = names.get(c.arg(0).get_id()) if z3.is_eq(c) else None
        if name is not None and name not in subst:
            subst[name] = c.arg(1)
        else:
            rest.append(c)
    pairs = [(h0[name], value) for name, value in subst.items()]
    h = h0.update(subst)
    bit = z3.BitVecVal(1 << PG_direct, FLAG_BITS)
    h = h.set("page.flags", (h0["page.flags"] & ~bit) | (bit if n == 1 else z3.BitVecVal(0, FLAG_BITS)))
    return h, [z3.substitute(c, *pairs) for c in rest]


def plain(h: Heap, n: int) -> list[Any]:
    """The plainest environment, preferred (soft)."""
    out = [z3.Not(flag(h, PG_swapcache)), z3.Not(flag(h, PG_referenced)), z3.Not(flag(h, PG_dirty))]
    out.append(h["slab.succeed"] == 0)
    for p in range(1, n + 2):
        out += [
            h.select("mm.lock", h.select("pte.mm", p)) == 0,
            z3.Not(h.select("pte.dirty", p)),
            h.select("pte.mm", p) == 1,
        ]
    return out


def counterexample(
    name: str, prop: str, cls: type, timeout: float, first: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    """A replaying counterexample of (entry, property) on the variant, or None;
    the conjuncts named in ``first`` (those a VC failed on) are tried first."""
    entry = ENTRIES[name]
    deadline = time.perf_counter() + timeout
    for n in (1,) if name == "try_to_unmap_one" else range(0, MAX_CHAIN + 1):  # replayed through try_to_unmap
        if time.perf_counter() > deadline:
            return None
        found = _search(entry, prop, cls, n, deadline, first)
        if found is not None:
            return found
    return None


def _search(
    entry: Entry, prop: str, cls: type, n: int, deadline: float, first: tuple[str, ...] = ()
) -> dict[str, Any] | None:
    args = entry_args(entry)
    h0, rest = pinned_world(fresh_heap(f"b{n}"), n, entry, args)
    pre = [*inv.world_facts(h0), *[t for _, t in entry.pre(h0, args)], *rest]
    ex = Executor(cls, Config("bounded", unroll=n + 2))
    start = Path(tuple(pre), h0)
    returns = merged_returns(run_entry(ex, entry, cls, args, start), h0)
    sums = ex.sums.of(h0)
    # One query per fault site and per goal conjunct, over every path that
    # can break it (their shared prefix factored out): small queries, a few.
    broken: dict[str, list[tuple[Any, ...]]] = {}
    if prop in (PRESERVE, REFINE, SPEC_REFINES):  # a fault is the plainest violation: first
        for f in ex.faults:
            broken.setdefault(f"{NO_FAULT}: {f.kind} at {f.site}", []).append(f.path.cond)
    for p, value in returns:
        h1, ended = walked(p.heap, n + 3)
        stop = stopped_at(h0, h1, n, sums)
        answer, want = entry.spec(h0, args, sums, stop)
        goals = property_goals(prop, entry, h0, h1, args, value, answer, want, sums, stop, p.events)
        if prop in (PRESERVE, REFINE):
            goals.append(("rep_chain_well_formed", ended))
        for name, g in goals:
            broken.setdefault(name, []).append((*p.cond, z3.Not(g)))
    candidates: list[tuple[str, list[Any]]] = []
    for name, conds in broken.items():
        shared = common_prefix(conds)
        candidates.append((name, [*conds[0][:shared], disj(conj(c[shared:]) for c in conds)]))
    pinned_sums = ex.sums.pins(n)
    candidates.sort(key=lambda c: not _named(c[0], first))
    for what, hyps in candidates:
        left = deadline - time.perf_counter()
        if left <= 0:
            return None
        model = _model([*hyps, *pinned_sums], plain(h0, n), min(left, CANDIDATE_SECONDS))
        while model is not None:
            case = decode(model, h0, n, entry.name, args)
            verdict = replay(case["trace"], cls.name)
            if verdict["shows"]:
                return {"chain": n, "failed": what, **case, "replay": verdict}
            model = None  # one decoded model per candidate: the next candidate may replay
    return None


def _named(candidate: str, first: tuple[str, ...]) -> bool:
    """Whether a candidate is one of the conjuncts named (a fault site: any fault named)."""
    if candidate.startswith(NO_FAULT):
        return any(name.startswith(NO_FAULT) for name in first)
    return candidate in first


def _model(assertions: list[Any], soft: list[Any], timeout: float) -> z3.ModelRef | None:
    """A model, the plainest one when the soft preferences can all hold
    (z3's optimizer does not take quantified constraints)."""
    # Fresh solvers, no assumptions: z3's incremental mode handles the
    # quantified hypotheses far worse.
    for extra, seconds in ((soft, min(timeout, PLAIN_SECONDS)), ([], timeout)):
        solver = z3.Solver()
        solver.set("timeout", max(1, int(seconds * 1000)))
        solver.add(*assertions, *extra)
        if solver.check() == z3.sat:
            return solver.model()
    return None


def replay(trace: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Replay on impl/; what the last step shows (violations, spec mismatch, fault)."""
    session = Session(variant)
    try:
        records = [session.apply(op) for op in trace]
    except TraceError as why:
        return {"shows": [], "error": str(why)}
    last = records[-1]
    shows = sorted(last["violations"])
    if last["spec_mismatch"]:
        shows.append("spec_mismatch")
    if last["fault"]:
        shows.append(last["fault"]["kind"])
    if last["precondition"]:
        return {"shows": [], "error": f"the caller's precondition fails: {last['precondition']}"}
    return {
        "shows": shows,
        "result": last["result"],
        "fault": last["fault"],
        "spec_mismatch": last["spec_mismatch"],
    }
