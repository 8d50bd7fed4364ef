"""The spec (state, operations, invariants) and what couples impl to it:
the abstraction α, the representation invariant, the refinement step check
and the world builder."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from conftest import PFN, World, make_world, world_desc
from hypothesis import given
from hypothesis import strategies as st

from impl.abstraction import (
    Unabstractable,
    abstraction,
    chain_nodes,
    env_alloc_fails,
    env_unmap_outcome,
    rmap_entries,
)
from impl.invariants import ALL_INVARIANTS, REP_INVARIANTS, violations
from impl.kernel import NULL, Kernel, PG_locked, PteChain, SetPageDirect, set_flag
from impl.kernel import PG_chainlock as CHAINLOCK
from impl.refinement import Step, diff_states
from impl.variants import UnknownVariant, variant_class
from impl.world import WorldError, build_world
from spec import ops
from spec.invariants import SPEC_INVARIANTS
from spec.ops import ACTIVATE, FREE, KEEP, SWAP_AGAIN, SWAP_ERROR, SWAP_FAIL, SWAP_MAP_MAX, SWAP_SUCCESS
from spec.state import PTE_EMPTY, AbsState, FMap, PageAbs, PteAbs

# ------------------------------------------------------------ state


def test_fmap() -> None:
    m = FMap.of({"b": 2, "a": 1})
    assert m.pairs == (("a", 1), ("b", 2)) and list(m) == ["a", "b"] and m.items() == m.pairs
    assert m["b"] == 2 and "a" in m and "c" not in m
    with pytest.raises(KeyError):
        m["c"]
    assert m.set("a", 5)["a"] == 5 and m["a"] == 1  # immutable
    assert m.set("c", 3) == FMap.of({"a": 1, "b": 2, "c": 3}) and hash(m) == hash(FMap.of({"a": 1, "b": 2}))


def state(n_mapped: int = 0, **desc: Any) -> AbsState:
    """α of a fresh world with p0.. mapped onto page PFN (all of them old)."""
    w = make_world("fixed", n_mapped, **desc)
    for i in range(n_mapped):
        w.apply(op="set_pte", pte=f"p{i}", young=False)
    return abstraction(w.k)


def test_abs_state_helpers() -> None:
    s = state(1)
    assert s.mapped_pfn("p0") == PFN and s.mapped_pfn("p1") is None
    assert s.with_(nr_reverse_maps=7).nr_reverse_maps == 7 and s.nr_reverse_maps == 1


# ------------------------------------------------------------ operations


def test_swap_add_saturates() -> None:
    s = state(swap={"1": SWAP_MAP_MAX - 1, "2": SWAP_MAP_MAX})
    assert ops._swap_add(s, 1, +1)[1] == SWAP_MAP_MAX
    assert ops._swap_add(s, 2, -1)[2] == SWAP_MAP_MAX  # a saturated slot keeps its count
    assert ops._swap_add(s, 1, -1)[1] == SWAP_MAP_MAX - 2


@given(count=st.integers(0, SWAP_MAP_MAX), delta=st.sampled_from([-1, 1]))
def test_swap_add_stays_within_the_swap_map(count: int, delta: int) -> None:
    """Small enough for the crosshair profile (see conftest)."""
    s = AbsState(FMap(), FMap(), FMap(), FMap(), FMap(), FMap.of({3: count}), FMap(), 0)
    after = ops._swap_add(s, 3, delta)[3]
    assert after <= SWAP_MAP_MAX
    assert after == (count if count == SWAP_MAP_MAX else count + delta)


def test_rmap_add() -> None:
    s = state(1, n_ptes=2, extra_pages=[{"pfn": 9, "reserved": True}])
    assert ops.rmap_add(s, 9, "p1", False) == ("ignored", s)
    assert ops.rmap_add(s, 42, "p1", False) == ("ignored", s)  # no such page
    assert ops.rmap_add(s, PFN, "p1", True) == ("nomem", s)
    tag, after = ops.rmap_add(s, PFN, "p1", False)
    assert tag == "ok" and after.rmap[PFN] == {"p0", "p1"} and after.nr_reverse_maps == 2
    empty = state(0)
    assert ops.rmap_add(empty, PFN, "p0", True)[0] == "ok"  # the first entry needs no node


def test_pre_rmap_add() -> None:
    s = state(1, n_ptes=2)
    assert not ops.pre_rmap_add(s, PFN, "p0")  # recorded already
    assert not ops.pre_rmap_add(s, PFN, "p1")  # not mapped
    s2 = s.with_(ptes=s.ptes.set("p1", PteAbs("page", PFN)))
    assert ops.pre_rmap_add(s2, PFN, "p1") and not ops.pre_rmap_add(s2, 2, "p1")


def test_rmap_remove() -> None:
    s = state(2, extra_pages=[{"pfn": 9, "reserved": True}])
    assert ops.rmap_remove(s, PFN, "p2") == s  # absent: nothing changes
    assert ops.rmap_remove(s, 9, "p0") == s
    after = ops.rmap_remove(s, PFN, "p0")
    assert after.rmap[PFN] == {"p1"} and after.nr_reverse_maps == 1


def test_referenced() -> None:
    s = state(3)
    s = s.with_(
        ptes=s.ptes.set("p1", PteAbs("page", PFN, young=True)),
        pages=s.pages.set(PFN, PageAbs(True, 4, 1, referenced=True)),
    )
    count, after = ops.referenced(s, PFN)
    assert count == 2 and not after.ptes["p1"].young and not after.pages[PFN].referenced
    assert ops.referenced(after, PFN) == (0, after)
    reserved = state(0, page={"reserved": True, "referenced": True})
    assert ops.referenced(reserved, PFN)[0] == 1


def test_pre_unmap() -> None:
    s = state(
        1, page={"swapcache": True, "index": 5}, swap={"5": 1}, extra_pages=[{"pfn": 9, "reserved": True}]
    )
    assert ops.pre_unmap(s, PFN) and not ops.pre_unmap(s, 9) and not ops.pre_unmap(s, 42)
    assert not ops.pre_unmap(s.with_(swap=s.swap.set(5, 0)), PFN)  # unused entry
    assert not ops.pre_unmap(s.with_(swap=FMap()), PFN)  # no such entry
    assert ops.pre_unmap(state(1), PFN)  # not in the swap cache


def test_unmap_answer_means_what_shrink_cache_does_with_it() -> None:
    s = state(3, n_ptes=3)
    mixed = {"p0": SWAP_SUCCESS, "p1": SWAP_AGAIN, "p2": SWAP_FAIL}
    full = ops.unmapped(s, PFN, frozenset({"p0"}))
    assert full.rmap[PFN] == {"p1", "p2"} and full.ptes["p0"] == PTE_EMPTY
    assert full.rss["A"] == 2 and full.pages[PFN].count == 3 and full.nr_reverse_maps == 2
    # A mapping that can never go makes the answer FAIL, never AGAIN (F6).
    assert ops.unmap_allows(s, PFN, mixed, SWAP_FAIL, full)
    assert not ops.unmap_allows(s, PFN, mixed, SWAP_AGAIN, full)
    assert not ops.unmap_allows(s, PFN, mixed, SWAP_ERROR, full)  # no mapping answered ERROR
    # ... and the walk may stop there: the SUCCESS mapping may stay (2.5.32).
    assert ops.unmap_allows(s, PFN, mixed, SWAP_FAIL, s)
    assert not ops.unmap_allows(s, PFN, mixed, SWAP_SUCCESS, s)
    # Only AGAIN stayed: AGAIN, and every SUCCESS mapping must have gone.
    again = {"p0": SWAP_SUCCESS, "p1": SWAP_AGAIN, "p2": SWAP_SUCCESS}
    both = ops.unmapped(s, PFN, frozenset({"p0", "p2"}))
    assert ops.unmap_allows(s, PFN, again, SWAP_AGAIN, both)
    assert not ops.unmap_allows(s, PFN, again, SWAP_FAIL, both)
    assert not ops.unmap_allows(s, PFN, again, SWAP_AGAIN, ops.unmapped(s, PFN, frozenset({"p0"})))
    # Nothing stays: SUCCESS only.
    every = dict.fromkeys(["p0", "p1", "p2"], SWAP_SUCCESS)
    gone = ops.unmapped(s, PFN, frozenset(every))
    assert gone.rmap[PFN] == frozenset() and ops.unmap_steps(s, PFN, every) == [(SWAP_SUCCESS, gone)]
    assert not ops.unmap_allows(s, PFN, every, SWAP_AGAIN, gone)
    # Only a SUCCESS mapping can go; the after-state is exactly what went.
    assert not ops.unmap_allows(s, PFN, mixed, SWAP_FAIL, ops.unmapped(s, PFN, frozenset({"p0", "p1"})))
    assert not ops.unmap_allows(s, PFN, mixed, SWAP_FAIL, full.with_(nr_reverse_maps=9))


def test_unmap_steps_are_exactly_what_unmap_allows() -> None:
    s = state(3, n_ptes=3)
    outcomes = [SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL, SWAP_ERROR]
    for mix in itertools.product(outcomes, repeat=3):
        given = dict(zip(["p0", "p1", "p2"], mix, strict=True))
        steps = ops.unmap_steps(s, PFN, given)
        assert len(set(steps)) == len(steps)
        candidates = {
            ops.unmapped(s, PFN, frozenset(c)) for n in range(4) for c in itertools.combinations(given, n)
        }
        for answer in outcomes:
            for after in candidates:
                assert ops.unmap_allows(s, PFN, given, answer, after) == ((answer, after) in steps), (
                    mix,
                    answer,
                )


def test_unmap_moves_dirty_and_stores_the_swap_entry() -> None:
    s = state(1, page={"swapcache": True, "index": 5}, swap={"5": 1})
    s = s.with_(ptes=s.ptes.set("p0", PteAbs("page", PFN, dirty=True)))
    after = ops.unmapped(s, PFN, frozenset({"p0"}))
    assert after.ptes["p0"] == PteAbs("swap", 5) and after.swap[5] == 2 and after.pages[PFN].dirty


def test_map() -> None:
    s = state(1, n_ptes=3, extra_pages=[{"pfn": 9, "reserved": True}], swap={"5": 2})
    s = s.with_(ptes=s.ptes.set("p2", PteAbs("swap", 5)))
    assert not ops.pre_map(s, "p0", PFN) and ops.pre_map(s, "p1", PFN) and ops.pre_map(s, "p2", PFN)
    assert not ops.pre_map(s.with_(swap=s.swap.set(5, 0)), "p2", PFN)
    assert ops.map_pte(s, "p1", PFN, alloc_fails=True) == ("oom", s)
    tag, after = ops.map_pte(s, "p2", PFN, alloc_fails=False, dirty=True)
    assert tag == "mapped" and after.ptes["p2"] == PteAbs("page", PFN, young=True, dirty=True)
    assert after.swap[5] == 1 and after.rmap[PFN] == {"p0", "p2"} and after.rss["A"] == 2
    assert after.pages[PFN].count == 3 and after.nr_reverse_maps == 2
    tag, after = ops.map_pte(s, "p1", 9, alloc_fails=True)  # reserved: no rmap, no node needed
    assert tag == "mapped" and after.rmap[9] == frozenset() and after.rss == s.rss


def test_zap() -> None:
    s = state(1, n_ptes=3, extra_pages=[{"pfn": 9, "reserved": True}], swap={"5": 2})
    s = s.with_(ptes=s.ptes.set("p2", PteAbs("swap", 5)).set("p1", PteAbs("page", 9, dirty=True)))
    assert ops.pre_zap(s, "p0") and ops.pre_zap(s, "p2") and not ops.pre_zap(state(0), "p0")
    assert ops.zap_pte(s, "p2").swap[5] == 1
    reserved = ops.zap_pte(s, "p1")
    assert reserved.ptes["p1"] == PTE_EMPTY and reserved.pages == s.pages
    s = s.with_(ptes=s.ptes.set("p0", PteAbs("page", PFN, dirty=True)))
    after = ops.zap_pte(s, "p0")
    assert after.rmap[PFN] == frozenset() and after.rss["A"] == 0 and after.pages[PFN].count == 1
    assert after.pages[PFN].dirty and after.nr_reverse_maps == 0


def test_reclaim() -> None:
    s = state(2, n_mms=2)
    young = s.with_(ptes=s.ptes.set("p0", PteAbs("page", PFN, young=True)))
    ((disposition, result, _),) = ops.reclaim(young, PFN, {})
    assert (disposition, result) == (ACTIVATE, None)
    ((disposition, result, _),) = ops.reclaim(state(0), PFN, {})
    assert (disposition, result) == (FREE, None)
    answers = ops.reclaim(s, PFN, {"p0": SWAP_AGAIN, "p1": SWAP_FAIL, "p2": SWAP_SUCCESS})
    assert {(d, r) for d, r, _ in answers} == {(ACTIVATE, SWAP_FAIL)}  # never KEEP: p1 can never go
    answers = ops.reclaim(s, PFN, {"p0": SWAP_AGAIN, "p1": SWAP_SUCCESS, "p2": SWAP_SUCCESS})
    assert {(d, r) for d, r, _ in answers} == {(KEEP, SWAP_AGAIN)}


# ------------------------------------------------------------ spec invariants


def _names(s: AbsState) -> set[str]:
    return {inv.name for inv in SPEC_INVARIANTS if not inv.holds(s)}


def test_spec_invariants_hold_of_a_consistent_state() -> None:
    assert _names(state(2)) == set()


def test_each_spec_invariant_catches_its_violation() -> None:
    s = state(2, n_ptes=3, swap={"5": 1, "6": SWAP_MAP_MAX}, extra_pages=[{"pfn": 9, "reserved": True}])
    assert _names(s.with_(nr_reverse_maps=5)) == {"count_nr_reverse_maps"}
    assert _names(s.with_(rss=s.rss.set("A", 7))) == {"count_rss"}
    assert _names(s.with_(swap=s.swap.set(5, 4))) == {"count_swap"}
    assert _names(s.with_(swap=s.swap.set(6, SWAP_MAP_MAX))) == set()  # saturated: exempt
    assert _names(s.with_(pages=s.pages.set(PFN, PageAbs(True, 9, 1)))) == {"count_page_refs"}
    lost = s.with_(rmap=s.rmap.set(PFN, frozenset({"p0"})), nr_reverse_maps=1)
    assert _names(lost) == {"spec_rmap_complete"}
    stale = s.with_(rmap=s.rmap.set(PFN, frozenset({"p0", "p1", "p2"})), nr_reverse_maps=3)
    assert _names(stale) == {"spec_rmap_sound"}
    on_reserved = s.with_(rmap=s.rmap.set(9, frozenset({"p2"})), nr_reverse_maps=3)
    assert "spec_rmap_sound" in _names(on_reserved)
    assert all(
        inv.text and inv.relies and inv.kind in ("structure", "coupling", "count") for inv in ALL_INVARIANTS
    )


# ------------------------------------------------------------ abstraction


def test_env_unmap_outcome_and_alloc_failure() -> None:
    w = make_world("fixed", 1, n_ptes=4, n_mms=4)
    w.apply(op="lock", mm="B")
    w.apply(op="vmas", mm="C", vmas=[{"start": 0x8000, "end": 0x9000}])
    w.apply(op="mlock", mm="D", address=0x4000)
    assert [env_unmap_outcome(w.k, w.pte(i)) for i in range(4)] == [
        SWAP_SUCCESS,
        SWAP_AGAIN,
        SWAP_FAIL,
        SWAP_FAIL,
    ]
    assert not env_alloc_fails(w.k)
    w.apply(op="fail_alloc", n=1)
    assert env_alloc_fails(w.k) and not env_alloc_fails(Kernel())


def test_a_calls_second_allocation_fails_only_where_it_takes_two() -> None:
    w = make_world("fixed", 1, n_ptes=3, n_mms=3)
    w.apply(op="fail_alloc", n=1, after=1)
    # a new entry of the direct page takes two nodes: the second fails
    assert env_alloc_fails(w.k, w.page) and not env_alloc_fails(w.k)
    assert w.apply(op="map", pte="p1", pfn=PFN)["result"] == "oom"
    w.apply(op="map", pte="p1", pfn=PFN)
    w.apply(op="fail_alloc", n=1, after=1)
    # a chain takes one node, and that one succeeds
    assert not env_alloc_fails(w.k, w.page)
    assert w.apply(op="map", pte="p2", pfn=PFN)["result"] == "mapped"


def test_abstraction_forgets_the_representation() -> None:
    s = state(2, page={"swapcache": True, "index": 5}, swap={"5": 1})
    assert s.rmap[PFN] == {"p0", "p1"} and s.pages[PFN].swap_entry == 5 and s.pages[PFN].base == 1
    w = make_world("fixed", 0, swap={"5": 1})
    w.pte(0).val = w.pte(0).val.__class__(swap=5)
    assert abstraction(w.k).ptes["p0"] == PteAbs("swap", 5)


def broken(how: str) -> World:
    """A world whose page PFN is damaged in one way."""
    w = make_world("fixed", 2)
    page, k = w.page, w.k
    head = page.pte.word
    assert isinstance(head, PteChain)
    match how:
        case "cyclic":
            assert isinstance(head.next, PteChain)
            head.next.next = head
        case "pte-as-chain":
            page.pte.word = w.pte(0)  # PG_direct clear, the word holds a pte
        case "direct-holds-chain":
            SetPageDirect(page)
        case "node-without-pte":
            head.ptep = NULL
        case "too-long":
            node: PteChain | Any = NULL
            for _ in range(len(k.ptes) + len(k.pte_chain_cache.live) + 2):  # type: ignore[union-attr]
                node = PteChain(next=node, ptep=w.pte(0))
            page.pte.word = node
    return w


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ("cyclic", "cyclic"),
        ("pte-as-chain", "not a pte_chain node"),
        ("direct-holds-chain", "PG_direct set"),
        ("node-without-pte", "a chain node holds NULL"),
        ("too-long", "longer than the world"),
    ],
)
def test_unabstractable_states(how: str, why: str) -> None:
    w = broken(how)
    with pytest.raises(Unabstractable, match=why):
        abstraction(w.k)
    found = violations(w.k)
    assert all(found[inv.name][0].startswith(f"no abstraction: page {PFN}: ") for inv in SPEC_INVARIANTS)
    assert any(why in msg for msgs in found.values() for msg in msgs)
    assert w.session.record("probe", None)["pages"][0]["rmap"].startswith("unwalkable")


# ------------------------------------------------------------ representation invariant


def _rep(w: World) -> set[str]:
    return {inv.name for inv in REP_INVARIANTS if not inv.holds(w.k)}


def test_representation_invariant_holds_of_caller_made_worlds() -> None:
    for n in range(4):
        assert not violations(make_world("fixed", n).k)


def test_each_rep_invariant_catches_its_violation() -> None:
    w = make_world("fixed", 0)
    SetPageDirect(w.page)  # the union holds NULL (no chain to walk either)
    assert "rep_direct_flag" in _rep(w)

    w = make_world("fixed", 2)
    head = w.page.pte.word
    assert isinstance(head, PteChain)
    head.next = NULL  # a chain of one (the tail leaks)
    assert _rep(w) == {"rep_chain_well_formed", "count_pte_chain_objects"}

    w = make_world("fixed", 2)
    head = w.page.pte.word
    assert isinstance(head, PteChain) and isinstance(head.next, PteChain)
    head.next.ptep = head.ptep
    assert _rep(w) == {"rep_no_duplicate_pte"}

    w = make_world("fixed", 2, extra_pages=[{"pfn": 2}])
    w.session.page(2).pte.word = w.page.pte.word
    assert _rep(w) == {"rep_chains_disjoint"}

    w = make_world("fixed", 2)
    w.k.pte_chain_cache.live.clear()  # type: ignore[union-attr]
    assert _rep(w) == {"count_pte_chain_objects"}
    assert "use after free" in " ".join(violations(w.k)["count_pte_chain_objects"])


def test_rep_locks_released() -> None:
    w = make_world("fixed", 1)
    set_flag(w.page, CHAINLOCK, True)
    w.k.mms["A"].page_table_lock.holder = w.k.cpu
    w.k.pagemap_lru_lock.holder = w.k.cpu
    assert len(violations(w.k)["rep_locks_released"]) == 3
    w.k.mms["A"].page_table_lock.holder = "cpu1"  # another CPU's hold is no violation
    set_flag(w.page, CHAINLOCK, False)
    w.k.pagemap_lru_lock.holder = None
    assert _rep(w) == set()


def test_chain_walk_of_a_direct_page() -> None:
    w = make_world("fixed", 1)
    assert [p.name for p in rmap_entries(w.k, w.page)] == ["p0"]
    assert chain_nodes(w.k, make_world("fixed", 0).page) == []


# ------------------------------------------------------------ refinement step


def test_step_before_skips_environment_ops() -> None:
    assert Step.before(make_world("fixed", 0).k, "lock", {"mm": "A"}) is None


def test_step_on_an_unabstractable_state_promises_nothing() -> None:
    w = broken("cyclic")
    step = Step.before(w.k, "referenced", {"pfn": PFN})
    assert step is not None and step.pre is None and not step.precondition()
    assert step.check(w.k, 0, None) == []


def test_step_check_reports_fault_unabstractable_post_and_differences() -> None:
    w = make_world("fixed", 1)
    step = Step.before(w.k, "referenced", {"pfn": PFN})
    assert step is not None and step.precondition()
    assert step.check(w.k, 0, "Oops in x: y") == [
        "impl stopped with Oops in x: y where the spec takes a step"
    ]
    # referenced should clear p0's young bit and answer 1; impl did nothing and answered 0
    found = step.check(w.k, 0, None)
    assert found[0] == "result: spec 1, impl 0" and found[1].startswith("ptes[p0]: spec PteAbs")
    assert step.check(broken("cyclic").k, 1, None)[0].startswith("impl state has no abstraction")


def test_step_preconditions_per_op() -> None:
    k = make_world("fixed", 1).k
    cases = [
        ("map", {"pte": "p0", "pfn": PFN}, False),
        ("map", {"pte": "p1", "pfn": PFN}, True),
        ("zap", {"pte": "p1"}, False),
        ("page_add_rmap", {"pte": "p0", "pfn": PFN}, False),
        ("try_to_unmap", {"pfn": PFN}, True),
        ("reclaim", {"pfn": PFN}, True),
        ("page_remove_rmap", {"pte": "p1", "pfn": PFN}, True),
        ("referenced", {"pfn": 42}, False),
    ]
    for op, args, want in cases:
        step = Step.before(k, op, args)
        assert step is not None and step.precondition() == (want and op != "try_to_unmap"), op
    # A raw try_to_unmap is promised only to a caller holding the page lock.
    set_flag(k.mem_map[PFN], PG_locked, True)
    step = Step.before(k, "try_to_unmap", {"pfn": PFN})
    assert step is not None and step.precondition()


def test_diff_states_names_each_differing_field() -> None:
    s = state(2)
    t = s.with_(nr_reverse_maps=9, rmap=s.rmap.set(PFN, frozenset({"p1"})))
    assert diff_states(s, t) == ["rmap[1]: spec {p0, p1}, impl {p1}", "nr_reverse_maps: spec 2, impl 9"]
    assert diff_states(s, s) == []


# ------------------------------------------------------------ world builder


def test_world_counts_swap_references_held_by_ptes() -> None:
    desc = world_desc(1, swap={"5": 3})
    desc["ptes"][0]["swap"] = 5
    k = build_world(desc)
    assert k.ptes["p0"].val.swap == 5 and k.swap_map[5] == 3 and k.swap_base[5] == 2
    assert not violations(k)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: d["pages"].append({"pfn": PFN}), "page 1 is given twice"),
        (lambda d: d["pages"].append({"pfn": PFN, "valid": False}), "page 1 is given twice"),
        (lambda d: d["pages"].append({"count": 1}), "pages\\[1\\]: missing field 'pfn'"),
        (lambda d: d["pages"].append({"pfn": True}), "pages\\[1\\].pfn: expected int, got bool"),
        (
            lambda d: d["pages"].append({"pfn": 2, "reserved": 1}),
            "pages\\[1\\].reserved: expected bool, got int",
        ),
        (
            lambda d: d["pages"].append({"pfn": 2, "mapping": 3}),
            "pages\\[1\\].mapping: expected str \\| null, got int",
        ),
        (lambda d: d["pages"].append(7), "pages\\[1\\]: expected object, got int"),
        (lambda d: d.update(pages={}), "pages: expected array, got object"),
        (lambda d: d["mms"].append({"name": "A"}), "mm A is given twice"),
        (
            lambda d: d["mms"].append({"name": "Z", "vmas": [{"start": 0}]}),
            "mms\\[1\\].vmas\\[0\\]: missing field 'end'",
        ),
        (lambda d: d["ptes"].append({"name": "p0", "mm": "A", "address": 0}), "pte p0 is given twice"),
        (
            lambda d: d["ptes"].append({"name": "q", "mm": "Q", "address": 0}),
            "pte q is in mm Q, which is not declared",
        ),
        (lambda d: d["ptes"].append({"name": "q", "mm": "A"}), "ptes\\[1\\]: missing field 'address'"),
        (
            lambda d: d["ptes"].append({"name": "q", "mm": "A", "address": 0, "swap": 4}),
            "pte q holds swap entry 4, which is not a declared slot",
        ),
        (lambda d: d.update(swap={"x": 1}), "swap: key: expected int, got str"),
        (lambda d: d.update(swap={"1": True}), "swap\\[...\\]: expected int, got bool"),
        (lambda d: d.update(swap=[]), "swap: expected object, got array"),
        (
            lambda d: (
                d.update(swap={"4": 0}),
                d["ptes"].append({"name": "q", "mm": "A", "address": 0, "swap": 4}),
            ),
            "swap slot 4 counts 0 references but 1 ptes hold it",
        ),
    ],
)
def test_world_errors(change: Any, why: str) -> None:
    desc = world_desc(1)
    change(desc)
    with pytest.raises(WorldError, match=why):
        build_world(desc)


def test_step_checks_a_raw_add_of_an_unrecorded_mapping() -> None:
    """A pte that maps the page unrecorded (it was reserved when mapped):
    the raw page_add_rmap records it exactly as spec.ops.rmap_add says."""
    w = make_world("fixed", 0, n_ptes=2, page={"reserved": True})
    w.apply(op="map", pte="p0", pfn=PFN)
    w.apply(op="set_page", pfn=PFN, reserved=False)
    record = w.apply(op="page_add_rmap", pfn=PFN, pte="p0")
    assert record["spec_mismatch"] == [] and record["pages"][0]["rmap"] == ["p0"]
    step = Step.before(w.k, "page_add_rmap", {"pfn": PFN, "pte": "p1"})
    assert step is not None and not step.precondition()


def test_step_allowed_knows_only_spec_ops() -> None:
    s = state(0)
    with pytest.raises(AssertionError, match="lock"):
        Step("lock", {"pfn": PFN}, s, False, {}).allowed()


def test_unknown_variant() -> None:
    with pytest.raises(UnknownVariant, match="choose one of seed, fixed"):
        variant_class("nope")
    assert repr(make_world("fixed", 0).k.mms["A"]) == "mm A"
