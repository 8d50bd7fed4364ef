"""The callers: map (fault, fork), zap (zap_pte_range), reclaim (shrink_cache).

Each caller-side precondition raises CallerPrecondition and changes
nothing; every try_to_unmap answer gets its shrink_cache disposition.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import PAGE_SIZE, PFN, World, make_world

from impl.callers import CallerPrecondition, ReclaimResult, map_pte, reclaim, zap_pte
from impl.invariants import violations
from impl.kernel import (
    PTE_NONE,
    SWAP_AGAIN,
    SWAP_ERROR,
    SWAP_FAIL,
    SWAP_SUCCESS,
    Oops,
    PageDirect,
    PageDirty,
    PageLocked,
    PG_chainlock,
    PG_locked,
    PG_reserved,
    set_flag,
    swp_entry_to_pte,
)
from impl.variants import VARIANTS
from spec.ops import ACTIVATE, DISPOSITION, FREE, KEEP

Build = Callable[..., World]


def snapshot(w: World) -> dict[str, Any]:
    record = w.session.record("probe", None)
    return {key: value for key, value in record.items() if key not in ("op", "flushes")}


def assert_unchanged(w: World, action: Callable[[], object], why: str) -> None:
    before = snapshot(w)
    with pytest.raises(CallerPrecondition, match=why):
        action()
    assert snapshot(w) == before


# ------------------------------------------------------------ map


def test_map_a_normal_page(world: Build) -> None:
    w = world(0)
    assert map_pte(w.rmap, w.pte(0), w.page, dirty=True) == "mapped"
    val = w.pte(0).val
    assert val.present and val.pfn == PFN and val.young and val.dirty
    assert w.page.count == 2 and w.k.mms["A"].rss == 1 and PageDirect(w.page)
    assert w.k.mms["A"].page_table_lock.holder is None and not violations(w.k)


@pytest.mark.parametrize("how", ["reserved", "invalid"])
def test_map_a_page_without_rmap_takes_no_reference(world: Build, how: str) -> None:
    w = world(0, page={"reserved": True} if how == "reserved" else {"valid": False})
    assert map_pte(w.rmap, w.pte(0), w.page) == "mapped"
    assert w.pte(0).val.present and w.page.count == 1 and w.k.mms["A"].rss == 0
    assert not PageDirect(w.page) and not violations(w.k)


def test_map_over_a_swap_entry_gives_its_reference_back(world: Build) -> None:
    w = world(0, swap={"5": 2})
    w.pte(0).val = swp_entry_to_pte(5)
    w.k.swap_base[5] = 1  # as build_world would count a pte holding it
    assert map_pte(w.rmap, w.pte(0), w.page) == "mapped"
    assert w.k.swap_map[5] == 1 and w.pte(0).val.present and not violations(w.k)


def test_map_preconditions(world: Build) -> None:
    w = world(1)
    assert_unchanged(w, lambda: map_pte(w.rmap, w.pte(0), w.page), "already present")
    w.apply(op="lock", mm="A")
    assert_unchanged(w, lambda: map_pte(w.rmap, w.pte(1), w.page), "held by cpu1")


@pytest.mark.parametrize("swap", [False, True], ids=["empty-pte", "swap-pte"])
def test_map_when_the_rmap_runs_out_of_memory(variant: str, swap: bool) -> None:
    w = make_world(variant, 1, swap={"5": 2} if swap else {})
    if swap:
        w.pte(1).val = swp_entry_to_pte(5)
        w.k.swap_base[5] = 1
    before = snapshot(w)
    w.apply(op="fail_alloc", n=1)
    if variant == "seed":  # F3
        with pytest.raises(Oops):
            map_pte(w.rmap, w.pte(1), w.page)
        return
    assert map_pte(w.rmap, w.pte(1), w.page) == "oom"
    assert snapshot(w) == before


# ------------------------------------------------------------ zap


@pytest.mark.parametrize("dirty", [False, True])
def test_zap_a_mapped_page(world: Build, dirty: bool) -> None:
    w = world(2)
    w.apply(op="set_pte", pte="p0", dirty=dirty)
    zap_pte(w.rmap, w.pte(0))
    assert w.pte(0).val == PTE_NONE and w.entries() == ["p1"] and PageDirect(w.page)
    assert w.page.count == 2 and w.k.mms["A"].rss == 1 and PageDirty(w.page) == dirty
    assert not violations(w.k)


@pytest.mark.parametrize("how", ["reserved", "invalid"])
def test_zap_a_page_without_rmap(world: Build, how: str) -> None:
    w = world(0, page={"reserved": True} if how == "reserved" else {"valid": False})
    map_pte(w.rmap, w.pte(0), w.page)
    before = w.k.page_state.nr_reverse_maps
    zap_pte(w.rmap, w.pte(0))
    assert w.pte(0).val == PTE_NONE and w.page.count == 1 and w.k.mms["A"].rss == 0
    assert w.k.page_state.nr_reverse_maps == before and not violations(w.k)


def test_zap_a_swap_entry(world: Build) -> None:
    w = world(0, swap={"5": 2})
    w.pte(0).val = swp_entry_to_pte(5)
    w.k.swap_base[5] = 1
    zap_pte(w.rmap, w.pte(0))
    assert w.pte(0).val == PTE_NONE and w.k.swap_map[5] == 1 and not violations(w.k)


def test_zap_preconditions(world: Build) -> None:
    w = world(1)
    assert_unchanged(w, lambda: zap_pte(w.rmap, w.pte(1)), "holds nothing")
    w.apply(op="lock", mm="A")
    assert_unchanged(w, lambda: zap_pte(w.rmap, w.pte(0)), "held by cpu1")


# ------------------------------------------------------------ reclaim


def _old(w: World) -> World:
    for pte in w.k.ptes:
        if w.k.ptes[pte].val.present:
            w.apply(op="set_pte", pte=pte, young=False)
    return w


def test_reclaim_a_referenced_page_activates_it(world: Build) -> None:
    w = world(2)
    assert reclaim(w.rmap, w.page) == ReclaimResult(2, None, ACTIVATE)
    assert w.entries() == ["p1", "p0"] and not PageLocked(w.page) and not violations(w.k)
    assert w.k.pagemap_lru_lock.holder is None


def test_reclaim_an_unmapped_page_frees_it(world: Build) -> None:
    w = world(0)
    assert reclaim(w.rmap, w.page) == ReclaimResult(0, None, FREE)


@pytest.mark.parametrize(
    ("fault", "result", "disposition"),
    [("none", SWAP_SUCCESS, FREE), ("lock", SWAP_AGAIN, KEEP), ("mlock", SWAP_FAIL, ACTIVATE)],
)
@pytest.mark.parametrize("mapped", [1, 2], ids=["direct", "chain"])
def test_reclaim_disposition(variant: str, mapped: int, fault: str, result: int, disposition: str) -> None:
    w = _old(make_world(variant, mapped))
    if fault == "lock":
        w.apply(op="lock", mm="A")
    elif fault == "mlock":
        w.apply(op="mlock", mm="A", address=PAGE_SIZE)
    assert reclaim(w.rmap, w.page) == ReclaimResult(0, result, disposition)
    assert DISPOSITION[result] == disposition
    assert not PageLocked(w.page) and w.k.pagemap_lru_lock.holder is None
    assert w.entries() == ([] if result == SWAP_SUCCESS else [f"p{i}" for i in reversed(range(mapped))])


def test_reclaim_swap_error_activates(variant: str) -> None:
    class ErrorRmap(VARIANTS[variant]):  # type: ignore[misc, valid-type]
        def try_to_unmap_one(self, page: Any, ptep: Any) -> int:
            return SWAP_ERROR

    w = _old(make_world(variant, 1))
    assert reclaim(ErrorRmap(w.k), w.page) == ReclaimResult(0, SWAP_ERROR, ACTIVATE)


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (lambda w: set_flag(w.page, PG_reserved, True), "reserved"),
        (lambda w: setattr(w.page, "mapping", None), "no backing store"),
        (lambda w: set_flag(w.page, PG_locked, True), "locked by someone else"),
        (lambda w: set_flag(w.page, PG_chainlock, True), "pte_chain_lock is held"),
        (lambda w: setattr(w.k.pagemap_lru_lock, "holder", "cpu1"), "pagemap_lru_lock is held"),
    ],
    ids=["reserved", "no-mapping", "page-locked", "chain-locked", "lru-locked"],
)
def test_reclaim_preconditions(world: Build, setup: Callable[[World], object], why: str) -> None:
    w = world(1)
    setup(w)
    assert_unchanged(w, lambda: reclaim(w.rmap, w.page), why)
