"""The z3 encoding agrees with impl/ on concrete states (principle 2).

Hypothesis builds small worlds and drives them with the real callers
through impl.trace.Session (so states are the ones the kernel reaches,
including the seed's broken ones), picks a function and its arguments,
encodes the state (proofs.z3.legacy.state.from_kernel), runs the z3 transition of
that function and variant (proofs.z3.legacy.code) to a ground state, runs the
Python function on the same kernel, and compares every field: the page's
flags, count and reverse map, the nodes the slab holds, every pte, rss,
swap counts, nr_reverse_maps, the allocator, the result and the fault.
The encoded invariants are checked against impl.invariants the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.abstraction import Unabstractable, rmap_entries
from impl.callers import CallerPrecondition, map_pte, reclaim, zap_pte
from impl.invariants import violations
from impl.kernel import (
    KernelFault,
    Page,
    PageDirect,
    PageDirty,
    PageLocked,
    PG_chainlock,
    PG_locked,
    PG_referenced,
    Pte,
    set_flag,
)
from impl.kernel import (
    test_flag as flag_set,
)
from impl.rmap_seed import SeedRmap
from impl.trace import Session
from proofs.z3.legacy import code
from proofs.z3.legacy import invariants as inv
from proofs.z3.legacy.state import FAULT_NAMES, State, evaluate, from_kernel, walk_chain

VARIANTS = ("seed", "fixed")
MAX = 0x7FFF

# ------------------------------------------------------------------ worlds


@st.composite
def worlds(draw: st.DrawFn, variant: str) -> Session:
    n_ptes = draw(st.sampled_from([4, 2, 3, 5, 1]))
    n_mms = draw(st.integers(1, 3))
    swap_count = draw(st.sampled_from([1, 2, MAX - 1, MAX]))
    page1 = {
        "pfn": 1,
        "count": draw(st.integers(0, 2)),
        "swapcache": draw(st.booleans()),
        "index": 7,
        "referenced": draw(st.booleans()),
        "reserved": draw(st.sampled_from([False, False, False, True])),
    }
    vma_shapes = [
        [{"start": 0, "end": 0x10000}],
        [{"start": 0x3000, "end": 0x10000}],
        [{"start": 0, "end": 0x2000}, {"start": 0x2000, "end": 0x10000, "locked": True}],
        [{"start": 0, "end": 0x2000}],
        [{"start": 0x4000, "end": 0x10000, "locked": True}],
    ]
    mms = [{"name": f"M{m}", "vmas": draw(st.sampled_from(vma_shapes))} for m in range(n_mms)]
    ptes = []
    for i in range(n_ptes):
        pte: dict[str, Any] = {"name": f"p{i}", "mm": f"M{draw(st.integers(0, n_mms - 1))}"}
        pte["address"] = (i + 1) * 0x1000
        if draw(st.integers(0, 4)) == 0:
            pte["swap"] = 7
        ptes.append(pte)
    world = {
        "op": "world",
        "pages": [page1, {"pfn": 2, "count": 1}, {"pfn": 3, "count": 0, "valid": False}],
        "mms": mms,
        "ptes": ptes,
        "swap": {"7": swap_count + sum(1 for p in ptes if "swap" in p)},
    }
    session = Session(variant)
    session.apply(world)
    names = [p["name"] for p in ptes]
    mm_names = [m["name"] for m in mms]
    op = st.one_of(
        st.builds(
            lambda p, f, d: {"op": "map", "pte": p, "pfn": f, "dirty": d},
            st.sampled_from(names),
            st.sampled_from([1, 1, 1, 2, 3]),
            st.booleans(),
        ),
        st.builds(lambda p: {"op": "zap", "pte": p}, st.sampled_from(names)),
        st.builds(lambda m: {"op": "lock", "mm": m}, st.sampled_from(mm_names)),
        st.builds(lambda m: {"op": "unlock", "mm": m}, st.sampled_from(mm_names)),
        st.builds(
            lambda p, y, d: {"op": "set_pte", "pte": p, "young": y, "dirty": d},
            st.sampled_from(names),
            st.booleans(),
            st.booleans(),
        ),
        st.builds(lambda n: {"op": "fail_alloc", "n": n}, st.integers(0, 2)),
        st.just({"op": "reclaim", "pfn": 1}),
    )
    mapped = draw(st.permutations(names))[: draw(st.sampled_from([n_ptes, 2, 3, 1, 0]))]
    first = [{"op": "map", "pte": p, "pfn": 1, "dirty": draw(st.booleans())} for p in mapped]
    if draw(st.booleans()):
        first.append({"op": "referenced", "pfn": 1})  # clears the young bits
    for o in first + draw(st.lists(op, max_size=6)):
        record = session.apply(o)
        if record["fault"]:
            break
    return session


# ------------------------------------------------------------------ projections


def _project_python(session: Session, page: Page, ids: Any, result: Any, fault: str | None) -> dict[str, Any]:
    k = session.k
    out: dict[str, Any] = {"fault": fault}
    if fault:
        return out
    out["result"] = result
    try:
        chain = [p.name for p in rmap_entries(k, page)]
    except Unabstractable:
        chain = None
    out["page"] = {
        "direct": PageDirect(page),
        "entries": chain,
        "count": page.count,
        "referenced": flag_set(page, PG_referenced),
        "dirty": PageDirty(page),
        "locked": PageLocked(page),
        "chainlock": flag_set(page, PG_chainlock),
    }
    live = k.pte_chain_cache.live if k.pte_chain_cache else []
    out["live_old"] = sorted(ids.nodes[id(o)] for o in live if id(o) in ids.nodes)
    out["live_new"] = sum(1 for o in live if id(o) not in ids.nodes)
    out["ptes"] = {
        name: (
            1 if p.val.present else 2 if p.val.swap is not None else 0,
            p.val.pfn if p.val.present else p.val.swap or 0,
            p.val.young,
            p.val.dirty,
        )
        for name, p in k.ptes.items()
    }
    out["rss"] = {name: mm.rss for name, mm in k.mms.items()}
    out["swap"] = dict(k.swap_map)
    out["nr"] = k.page_state.nr_reverse_maps
    out["fail_next"] = k.pte_chain_cache.fail_next if k.pte_chain_cache else 0
    return out


def _project_z3(session: Session, s: State, ids: Any, result: Any) -> dict[str, Any]:
    k = session.k
    fault = evaluate(s.fault)
    out: dict[str, Any] = {"fault": FAULT_NAMES.get(fault)}
    if fault:
        return out
    out["result"] = result
    names = {v: n for n, v in ids.ptes.items()}
    if evaluate(s.direct):
        chain = [names.get(evaluate(s.word))] if evaluate(s.wpte) else None
    else:
        nodes = walk_chain(s, len(ids.nodes) + 2)
        chain = None if nodes is None else [names.get(evaluate(s.ptep[x])) for x in nodes]
    out["page"] = {
        "direct": evaluate(s.direct),
        "entries": chain,
        "count": evaluate(s.count),
        "referenced": evaluate(s.referenced),
        "dirty": evaluate(s.dirty),
        "locked": evaluate(s.locked),
        "chainlock": evaluate(s.chainlock),
    }
    out["live_old"] = sorted(x for x in ids.nodes.values() if evaluate(s.live[x]))
    out["live_new"] = sum(1 for x in (s.fresh1, s.fresh2) if evaluate(s.live[x]))
    out["ptes"] = {
        name: (evaluate(s.pk[i]), evaluate(s.pt[i]), evaluate(s.py[i]), evaluate(s.pd[i]))
        for name, i in ids.ptes.items()
    }
    out["rss"] = {name: evaluate(s.rss[i]) for name, i in ids.mms.items()}
    out["swap"] = {e: evaluate(s.swap[e]) for e in k.swap_map}
    out["nr"] = evaluate(s.nr)
    out["fail_next"] = evaluate(s.fail_next)
    return out


# ------------------------------------------------------------------ running both


def _bound(ids: Any) -> int:
    return len(ids.nodes) + 1


def _run_python(rmap: SeedRmap, name: str, page: Page, pte: Pte | None, dirty: bool) -> Any:
    match name:
        case "page_add_rmap":
            return rmap.page_add_rmap(page, pte) or 0  # type: ignore[arg-type]
        case "page_remove_rmap":
            return rmap.page_remove_rmap(page, pte) or 0  # type: ignore[arg-type]
        case "try_to_unmap_one":
            return rmap.try_to_unmap_one(page, pte)  # type: ignore[arg-type]
        case "try_to_unmap":
            return rmap.try_to_unmap(page)
        case "page_referenced":
            return rmap.page_referenced(page)
        case "map":
            return 0 if map_pte(rmap, pte, page, dirty=dirty) == "mapped" else 1  # type: ignore[arg-type]
        case "zap":
            return zap_pte(rmap, pte) or 0  # type: ignore[arg-type]
        case "reclaim":
            r = reclaim(rmap, page)
            disp = {v: key for key, v in code.DISPOSITIONS.items()}[r.disposition]
            return (r.referenced, -1 if r.swap_result is None else r.swap_result, disp)
    raise AssertionError(name)


def _run_z3(s: State, name: str, t: Any, dirty: bool, variant: str, bound: int) -> tuple[State, Any]:
    match name:
        case "page_add_rmap":
            post, r = code.page_add_rmap(s, t, variant)
            return post, evaluate(r)
        case "page_remove_rmap":
            return code.page_remove_rmap(s, t, variant, bound), 0
        case "try_to_unmap_one":
            post, r = code.try_to_unmap_one(s, t, variant)
            return post, evaluate(r)
        case "try_to_unmap":
            post, r = code.try_to_unmap(s, variant, bound)
            return post, evaluate(r)
        case "page_referenced":
            post, r = code.page_referenced(s, bound)
            return post, evaluate(r)
        case "map":
            post, r = code.map_pte(s, t, z3.BoolVal(dirty), variant)
            return post, evaluate(r)
        case "zap":
            return code.zap_pte(s, t, variant, bound), 0
        case "reclaim":
            post, ref, r, disp = code.reclaim(s, variant, bound)
            return post, (evaluate(ref), evaluate(r), evaluate(disp))
    raise AssertionError(name)


def _caller_pre(name: str, s: State, t: Any) -> Any:
    return {
        "map": lambda: code.pre_map_caller(s, t),
        "zap": lambda: code.pre_zap_caller(s, t),
        "reclaim": lambda: code.pre_reclaim_caller(s),
    }[name]()


def check(session: Session, name: str, pick: int, dirty: bool, encoding: str | None = None) -> None:
    """Run function ``name`` in Python and in the z3 encoding (of ``encoding``,
    by default the session's variant) on the session's state; compare."""
    k = session.k
    rmap = session.rmap
    assert rmap is not None
    ptes = list(k.ptes.values())
    pte = ptes[pick % len(ptes)]
    if name == "zap" and pte.val.present:
        page = session.page(pte.val.pfn)
    elif name == "map":
        page = session.page([1, 1, 2, 3][pick % 4])
    else:
        page = session.page(1)
    if name in ("page_add_rmap",) and not (pte.val.present and pte.val.pfn == page.pfn):
        return  # its contract: the pte maps the page
    if name == "try_to_unmap_one" and not any(p is pte for p in _entries(session, page)):
        return  # try_to_unmap only asks about the ptes on the page's chain
    if name == "try_to_unmap":
        set_flag(page, PG_locked, True)  # its caller holds the page lock
    s, ids = from_kernel(k, page)
    t = z3.IntVal(ids.ptes[pte.name])
    fault = None
    result = None
    try:
        result = _run_python(rmap, name, page, pte, dirty)
    except CallerPrecondition:
        assert not evaluate(_caller_pre(name, s, t)), (
            f"{name}: encoded caller precondition holds, Python refuses"
        )
        return
    except KernelFault as why:
        fault = why.kind
    if name in ("map", "zap", "reclaim"):
        assert evaluate(_caller_pre(name, s, t)), f"{name}: encoded caller precondition fails, Python runs"
    post, z3_result = _run_z3(s, name, t, dirty, encoding or rmap.name, _bound(ids))
    got = _project_z3(session, post, ids, z3_result)
    want_ = _project_python(session, page, ids, result, fault)
    assert got == want_, f"{name} [{rmap.name}]"


def _entries(session: Session, page: Page) -> list[Pte]:
    try:
        return rmap_entries(session.k, page)
    except Unabstractable:
        return []


FUNCTIONS = sorted(code.FUNCTIONS)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", FUNCTIONS)
@settings(max_examples=20)
@given(data=st.data(), pick=st.integers(0, 7), dirty=st.booleans())
def test_encoding_agrees_with_impl(
    name: str, variant: str, data: st.DataObject, pick: int, dirty: bool
) -> None:
    check(data.draw(worlds(variant)), name, pick, dirty)


# ------------------------------------------------------------------ the invariant

# The conjuncts that speak of one page, and how impl.invariants names that
# page in its messages; the others count over every page (the z3 ones hold
# the other pages as a frame) and are compared where no other page has a
# chain, so the two agree on what they count.
PER_PAGE = (
    "rep_direct_flag",
    "rep_chain_well_formed",
    "rep_no_duplicate_pte",
    "spec_rmap_sound",
    "count_page_refs",
)
GLOBAL = ("count_pte_chain_objects", "count_nr_reverse_maps", "rep_locks_released")


def _holds(term: Any) -> bool:
    solver = z3.Solver()
    solver.set("timeout", 5000)
    solver.add(z3.Not(term))
    answer = solver.check()
    assert answer != z3.unknown, "z3 cannot evaluate the conjunct on a concrete state"
    return answer == z3.unsat


@pytest.mark.parametrize("variant", VARIANTS)
@settings(max_examples=25)
@given(data=st.data())
def test_encoded_invariant_agrees_with_impl(variant: str, data: st.DataObject) -> None:
    session = data.draw(worlds(variant))
    k, page = session.k, session.page(1)
    try:
        s, _ = from_kernel(k, page)
    except Unabstractable:
        return  # no ghost chain to give: the encoding speaks only of walkable chains
    found = violations(k)
    others = [q for q in k.mem_map.values() if q is not page and not PageDirect(q) and q.pte.word]
    for name, term in inv.full(s):
        if name in PER_PAGE:
            impl_holds = not any("page 1" in msg or "page 1:" in msg for msg in found.get(name, []))
        elif name in GLOBAL and not others:
            impl_holds = name not in found
        else:
            continue
        assert _holds(term) == impl_holds, f"{name} [{variant}]: z3 {_holds(term)}, impl {impl_holds}"
