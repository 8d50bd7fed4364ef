"""Every branch of every seed function, in both variants.

Worlds come from conftest (page PFN, ptes p0.. mapped in order through the
map caller, so a chain lists them newest first).  Where the variants
differ the test says which finding (F1..F5) the difference is.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from conftest import PAGE_SIZE, PFN, VMA_END, World, make_world

from impl.abstraction import chain_nodes
from impl.kernel import (
    ENOMEM,
    NULL,
    SWAP_AGAIN,
    SWAP_ERROR,
    SWAP_FAIL,
    SWAP_MAP_MAX,
    SWAP_NAMES,
    SWAP_SUCCESS,
    Bug,
    KmemCache,
    Oops,
    PageDirect,
    PG_chainlock,
    PG_dirty,
    PG_locked,
    PG_referenced,
    PG_reserved,
    PteChain,
    mk_pte,
    set_flag,
)
from impl.kernel import (
    test_flag as flag_set,
)
from impl.refinement import Step
from impl.variants import VARIANTS

Build = Callable[..., World]


def state(w: World) -> dict[str, Any]:
    """Everything a trace record shows of the world, minus the op's own fields."""
    record = w.session.record("probe", None)
    return {key: value for key, value in record.items() if key not in ("op", "flushes")}


def nr(w: World) -> int:
    return w.k.page_state.nr_reverse_maps


def live(w: World) -> int:
    cache = w.k.pte_chain_cache
    assert cache is not None
    return len(cache.live)


def unlocked(w: World) -> bool:
    return not flag_set(w.page, PG_chainlock)


def fail_allocation(w: World, *numbers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the given allocations (1 = the next one) from pte_chain_cache fail."""
    cache = w.k.pte_chain_cache
    assert cache is not None
    calls = itertools.count(1)
    real = KmemCache.alloc

    def alloc(gfp: str) -> Any:
        return NULL if next(calls) in numbers else real(cache, gfp)

    monkeypatch.setattr(cache, "alloc", alloc)


# ------------------------------------------------------------ page_referenced


def test_page_referenced_counts_pg_referenced(world: Build) -> None:
    w = world(0)
    set_flag(w.page, PG_referenced, True)
    assert w.rmap.page_referenced(w.page) == 1
    assert not flag_set(w.page, PG_referenced)
    assert w.rmap.page_referenced(w.page) == 0  # no mapping: empty chain


@pytest.mark.parametrize("young", [True, False])
def test_page_referenced_direct(world: Build, young: bool) -> None:
    w = world(1)
    w.apply(op="set_pte", pte="p0", young=young)
    set_flag(w.page, PG_referenced, True)
    assert w.rmap.page_referenced(w.page) == 1 + young
    assert not w.pte(0).val.young
    assert w.rmap.page_referenced(w.page) == 0


def test_page_referenced_chain_young_mix(world: Build) -> None:
    w = world(3)
    w.apply(op="set_pte", pte="p1", young=False)
    assert w.rmap.page_referenced(w.page) == 2
    assert not any(w.pte(i).val.young for i in range(3))
    assert w.rmap.page_referenced(w.page) == 0


# ------------------------------------------------------------ page_add_rmap


def _add(w: World, i: int) -> int | None:
    w.pte(i).val = mk_pte(PFN)
    return w.rmap.page_add_rmap(w.page, w.pte(i))


def test_page_add_rmap_ignores_an_invalid_pfn(world: Build) -> None:
    w = world(0, extra_pages=[{"pfn": 50, "valid": False}])
    io_page = w.session.page(50)
    w.pte(0).val = mk_pte(50)
    before = state(w)
    assert w.rmap.page_add_rmap(io_page, w.pte(0)) is None
    assert state(w) == before and not PageDirect(io_page)


def test_page_add_rmap_ignores_a_reserved_page(world: Build) -> None:
    w = world(0, page={"reserved": True})
    assert _add(w, 0) is None
    assert w.page.pte.word is NULL and nr(w) == 0


def test_page_add_rmap_first_entry_is_direct(world: Build) -> None:
    w = world(0)
    assert _add(w, 0) is None
    assert PageDirect(w.page) and w.page.pte.word is w.pte(0)
    assert nr(w) == 1 and live(w) == 0 and unlocked(w)


def test_page_add_rmap_second_entry_makes_a_chain_of_two(world: Build) -> None:
    w = world(1)
    assert _add(w, 1) is None
    assert not PageDirect(w.page) and w.entries() == ["p1", "p0"]
    assert nr(w) == 2 and live(w) == 2 and unlocked(w) and w.well_formed()


def test_page_add_rmap_pushes_on_the_chain_head(world: Build) -> None:
    w = world(2, n_ptes=3)
    assert _add(w, 2) is None
    assert w.entries() == ["p2", "p1", "p0"] and nr(w) == 3 and live(w) == 3 and w.well_formed()


@pytest.mark.parametrize(
    ("mapped", "failing"),
    [(1, (1,)), (1, (2,)), (2, (1,))],
    ids=["direct-to-chain-first-alloc", "direct-to-chain-second-alloc", "push-alloc"],
)
def test_page_add_rmap_allocation_failure(
    variant: str, mapped: int, failing: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    w = make_world(variant, mapped, n_ptes=mapped + 1)
    before = state(w)
    fail_allocation(w, *failing, monkeypatch=monkeypatch)
    if variant == "seed":  # F3: GFP_ATOMIC's NULL is dereferenced
        with pytest.raises(Oops, match="NULL pointer dereference"):
            _add(w, mapped)
    else:
        assert _add(w, mapped) == -ENOMEM
        after = state(w)
        assert after["pages"] == before["pages"] and after["nr_reverse_maps"] == before["nr_reverse_maps"]
        assert after["pte_chain_objects"] == before["pte_chain_objects"] and unlocked(w)


def test_page_add_rmap_debug_checks(variant: str) -> None:
    w = make_world(variant, 1, n_ptes=3, debug_rmap=True)
    with pytest.raises(Bug, match="maps directly already"):
        w.rmap.page_add_rmap(w.page, w.pte(0))
    w.k.pte_chain_unlock(w.page)  # the BUG left it held
    _add(w, 1)
    with pytest.raises(Bug, match="already on the chain"):
        w.rmap.page_add_rmap(w.page, w.pte(1))
    w.k.pte_chain_unlock(w.page)
    with pytest.raises(Bug, match="not present"):
        w.rmap.page_add_rmap(w.page, w.pte(2))
    w.pte(2).val = mk_pte(PFN)
    with pytest.raises(Bug, match="without a page"):
        w.rmap.page_add_rmap(NULL, w.pte(2))  # type: ignore[arg-type]
    w.pte(2).mm = NULL  # type: ignore[assignment]
    with pytest.raises(Bug, match="no mm"):
        w.rmap.page_add_rmap(w.page, w.pte(2))


def test_page_add_rmap_debug_passes_a_new_entry(variant: str) -> None:
    w = make_world(variant, 2, n_ptes=3, debug_rmap=True)
    assert _add(w, 2) is None and w.entries() == ["p2", "p1", "p0"] and w.well_formed()


# ------------------------------------------------------------ page_remove_rmap


def test_page_remove_rmap_ignores_reserved_and_invalid_pages(world: Build) -> None:
    w = world(1, extra_pages=[{"pfn": 50, "valid": False}])
    before = state(w)
    w.rmap.page_remove_rmap(w.session.page(50), w.pte(0))
    set_flag(w.page, PG_reserved, True)  # as a driver might
    w.rmap.page_remove_rmap(w.page, w.pte(0))
    set_flag(w.page, PG_reserved, False)
    assert state(w) == before


def test_page_remove_rmap_bugs_without_a_pte(world: Build) -> None:
    w = world(1)
    with pytest.raises(Bug, match="without a page or a pte"):
        w.rmap.page_remove_rmap(w.page, NULL)


def test_page_remove_rmap_bugs_without_a_page(world: Build) -> None:
    w = world(1)
    with pytest.raises(Bug, match="without a page or a pte"):
        w.rmap.page_remove_rmap(NULL, w.pte(0))  # type: ignore[arg-type]


def test_page_remove_rmap_direct_hit(world: Build) -> None:
    w = world(1)
    w.rmap.page_remove_rmap(w.page, w.pte(0))
    assert w.page.pte.word is NULL and not PageDirect(w.page) and nr(w) == 0 and unlocked(w)


def test_page_remove_rmap_direct_miss(variant: str) -> None:
    w = make_world(variant, 1, n_ptes=2)
    w.rmap.page_remove_rmap(w.page, w.pte(1))
    assert w.page.pte.word is w.pte(0) and PageDirect(w.page) and unlocked(w)
    assert nr(w) == (0 if variant == "seed" else 1)  # F4


@pytest.mark.parametrize(
    ("victim", "left"),
    [(3, ["p2", "p1", "p0"]), (2, ["p3", "p1", "p0"]), (1, ["p3", "p2", "p0"]), (0, ["p3", "p2", "p1"])],
    ids=["head", "second", "middle", "tail"],
)
def test_page_remove_rmap_chain_hit(world: Build, victim: int, left: list[str]) -> None:
    w = world(4)
    w.rmap.page_remove_rmap(w.page, w.pte(victim))
    assert w.entries() == left and nr(w) == 3 and live(w) == 3 and unlocked(w)


@pytest.mark.parametrize("victim", [0, 1])
def test_page_remove_rmap_collapses_a_chain_of_one_to_direct(world: Build, victim: int) -> None:
    w = world(2)
    w.rmap.page_remove_rmap(w.page, w.pte(victim))
    assert PageDirect(w.page) and w.page.pte.word is w.pte(1 - victim)
    assert nr(w) == 1 and live(w) == 0 and unlocked(w)


@pytest.mark.parametrize("mapped", [0, 2], ids=["empty", "chain"])
def test_page_remove_rmap_not_found(variant: str, mapped: int) -> None:
    w = make_world(variant, mapped, n_ptes=3)
    before = state(w)
    w.rmap.page_remove_rmap(w.page, w.pte(2))
    after = state(w)
    assert after["pages"] == before["pages"] and unlocked(w)
    assert nr(w) == mapped - (variant == "seed")  # F4: seed counts a removal anyway


@pytest.mark.parametrize(("mapped", "found"), [(1, "pte p0"), (2, "pte p1 pte p0")])
def test_page_remove_rmap_debug_printk_when_not_found(variant: str, mapped: int, found: str) -> None:
    w = make_world(variant, mapped, n_ptes=3, debug_rmap=True)
    w.rmap.page_remove_rmap(w.page, w.pte(2))
    assert w.k.log == [
        "page_remove_rmap: pte_chain pte p2 not present.",
        f"page_remove_rmap: only found: {found}",
        "page_remove_rmap: driver cleared PG_reserved ?",
    ]


def test_page_remove_rmap_found_prints_nothing(variant: str) -> None:
    w = make_world(variant, 2, debug_rmap=True)
    w.rmap.page_remove_rmap(w.page, w.pte(0))
    assert w.k.log == []


# ------------------------------------------------------------ try_to_unmap_one


def test_try_to_unmap_one_lock_busy_is_again(world: Build) -> None:
    w = world(1)
    w.apply(op="lock", mm="A")
    before = state(w)
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) == SWAP_AGAIN
    assert state(w) == before and w.k.mms["A"].page_table_lock.holder == "cpu1"


@pytest.mark.parametrize(
    "vmas",
    [[], [{"start": 0, "end": VMA_END, "locked": True}]],
    ids=["no-vma", "vm-locked"],
)
def test_try_to_unmap_one_fails(world: Build, vmas: list[dict[str, Any]]) -> None:
    w = world(1)
    w.apply(op="vmas", mm="A", vmas=vmas)
    before = state(w)
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) == SWAP_FAIL
    assert state(w) == before and w.k.mms["A"].page_table_lock.holder is None and w.k.flushes == []


def test_try_to_unmap_one_vma_above_a_hole(variant: str) -> None:
    w = make_world(variant, 1)
    w.apply(op="vmas", mm="A", vmas=[{"start": 4 * PAGE_SIZE, "end": VMA_END}])  # p0 is at 0x1000
    got = w.rmap.try_to_unmap_one(w.page, w.pte(0))
    if variant == "seed":  # F5: find_vma's vma need not contain the address
        assert got == SWAP_SUCCESS and not w.pte(0).val.present
    else:
        assert got == SWAP_FAIL and w.pte(0).val.present


def test_try_to_unmap_one_bugs_without_an_mm(world: Build) -> None:
    w = world(1)
    w.pte(0).mm = NULL  # type: ignore[assignment]
    with pytest.raises(Bug, match="no mm"):
        w.rmap.try_to_unmap_one(w.page, w.pte(0))


@pytest.mark.parametrize("dirty", [True, False])
def test_try_to_unmap_one_success(world: Build, dirty: bool) -> None:
    w = world(1)
    w.apply(op="set_pte", pte="p0", dirty=dirty)
    count, rss = w.page.count, w.k.mms["A"].rss
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) == SWAP_SUCCESS
    assert not w.pte(0).val.present and w.pte(0).val.swap is None
    assert flag_set(w.page, PG_dirty) == dirty
    assert w.page.count == count - 1 and w.k.mms["A"].rss == rss - 1
    flushes = [("flush_tlb_page", "A", PAGE_SIZE), ("flush_cache_page", "A", PAGE_SIZE)]
    # The seed flushes the cache after the pte is gone (F7); the fix flushes it first.
    assert w.k.flushes == (flushes if w.rmap.name == "seed" else flushes[::-1])
    assert w.k.mms["A"].page_table_lock.holder is None
    # The rmap entry is try_to_unmap's to drop, not try_to_unmap_one's.
    assert w.page.pte.word is w.pte(0)


@pytest.mark.parametrize(
    ("count", "after", "duplicated"),
    [(1, 2, True), (SWAP_MAP_MAX - 1, SWAP_MAP_MAX, True), (SWAP_MAP_MAX, SWAP_MAP_MAX, True), (0, 0, False)],
    ids=["in-use", "reaches-max", "saturated", "unused-entry"],
)
def test_try_to_unmap_one_swap_cache(world: Build, count: int, after: int, duplicated: bool) -> None:
    w = world(1, page={"swapcache": True, "index": 7}, swap={"7": count})
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) == SWAP_SUCCESS
    # swap_duplicate's answer is not checked: the pte holds the entry anyway.
    assert w.pte(0).val.swap == 7 and not w.pte(0).val.present
    assert w.k.swap_map[7] == after


# ------------------------------------------------------------ try_to_unmap


def _locked(w: World) -> World:
    set_flag(w.page, PG_locked, True)
    return w


@pytest.mark.parametrize(
    ("page", "why"),
    [
        ({"reserved": True}, "reserved"),
        ({"mapping": None}, "backing store"),
        ({}, "not locked"),
    ],
)
def test_try_to_unmap_bugs(world: Build, page: dict[str, Any], why: str) -> None:
    w = world(0, page=page)
    if why != "not locked":
        _locked(w)
    with pytest.raises(Bug, match=why):
        w.rmap.try_to_unmap(w.page)


def test_try_to_unmap_direct_success(variant: str) -> None:
    w = _locked(make_world(variant, 1))
    assert w.rmap.try_to_unmap(w.page) == SWAP_SUCCESS
    assert w.page.pte.word is NULL and not PageDirect(w.page) and not w.pte(0).val.present
    assert nr(w) == (1 if variant == "seed" else 0)  # F2: seed never decrements


@pytest.mark.parametrize(("how", "want"), [("lock", SWAP_AGAIN), ("mlock", SWAP_FAIL)])
def test_try_to_unmap_direct_stays(world: Build, how: str, want: int) -> None:
    w = _locked(world(1))
    w.apply(op=how, mm="A", **({"address": PAGE_SIZE} if how == "mlock" else {}))
    assert w.rmap.try_to_unmap(w.page) == want
    assert PageDirect(w.page) and w.page.pte.word is w.pte(0) and nr(w) == 1


def test_try_to_unmap_empty_page_is_success(world: Build) -> None:
    w = _locked(world(0))
    assert w.rmap.try_to_unmap(w.page) == SWAP_SUCCESS and w.page.pte.word is NULL


OUTCOMES = {"S": SWAP_SUCCESS, "A": SWAP_AGAIN, "F": SWAP_FAIL}


@pytest.mark.parametrize("mix", ["".join(m) for m in itertools.product("SAF", repeat=3)])
def test_try_to_unmap_chain_outcome_mix(variant: str, mix: str) -> None:
    """p0..p2 in mms A..C; ``mix`` gives each pte's outcome in chain order
    (p2, p1, p0): S unmaps, A finds its mm's lock held, F is mlocked."""
    w = _locked(make_world(variant, 3, n_mms=3))
    chain = ["p2", "p1", "p0"]
    for pte, outcome in zip(chain, mix, strict=True):
        mm = w.pte(pte).mm.name
        if outcome == "A":
            w.apply(op="lock", mm=mm)
        elif outcome == "F":
            w.apply(op="mlock", mm=mm, address=w.pte(pte).address)
    stays = [p for p, o in zip(chain, mix, strict=True) if o != "S"]
    last_stayed = [OUTCOMES[o] for o in mix if o != "S"]
    step = Step.before(w.k, "try_to_unmap", {"pfn": PFN})
    got = w.rmap.try_to_unmap(w.page)
    # The seed answers the last in chain order; fixed keeps a SWAP_FAIL (F6).
    again_after_fail = "F" in mix and last_stayed[-1] == SWAP_AGAIN
    fail_kept = variant != "seed" and again_after_fail
    assert got == (SWAP_FAIL if fail_kept else last_stayed[-1] if last_stayed else SWAP_SUCCESS)
    # The seed differs from the spec once anything unmaps (F2), or when AGAIN hides a FAIL (F6).
    assert step is not None and bool(step.check(w.k, SWAP_NAMES[got], None)) == (
        variant == "seed" and ("S" in mix or again_after_fail)
    )
    for pte, outcome in zip(chain, mix, strict=True):
        assert w.pte(pte).val.present == (outcome != "S")
    # F1: in the seed an unmapped entry behind a failed one unlinks it too.
    loses = variant == "seed" and any(
        mix[i] == "F" and "S" in mix[i + 1 :] and "A" not in mix[i + 1 : i + 1 + mix[i + 1 :].index("S")]
        for i in range(3)
    )
    entries = w.entries()
    if loses:
        assert set(entries) < set(stays) and not w.clean()
    else:
        assert entries == stays
        assert PageDirect(w.page) == (len(stays) == 1)
        assert live(w) == (len(stays) if len(stays) > 1 else 0)
        assert nr(w) == (3 if variant == "seed" else len(stays))  # F2


def test_try_to_unmap_f1_loses_the_failed_entry_on_seed_only(variant: str) -> None:
    w = _locked(make_world(variant, 2, n_mms=2))  # chain p1 (mm B), p0 (mm A)
    w.apply(op="mlock", mm="B", address=w.pte(1).address)
    assert w.rmap.try_to_unmap(w.page) == SWAP_FAIL
    if variant == "seed":
        assert w.page.pte.word is NULL and live(w) == 1  # p1 lost, its node leaked
    else:
        assert PageDirect(w.page) and w.page.pte.word is w.pte(1) and live(w) == 0 and w.clean()


@pytest.mark.parametrize("mapped", [1, 2], ids=["direct", "chain"])
def test_try_to_unmap_swap_error(variant: str, mapped: int) -> None:
    """SWAP_ERROR: no 2.5.31 try_to_unmap_one answers it; a subclass does."""

    class ErrorRmap(VARIANTS[variant]):  # type: ignore[misc, valid-type]
        def try_to_unmap_one(self, page: Any, ptep: Any) -> int:
            return SWAP_ERROR if ptep.name == "p0" else super().try_to_unmap_one(page, ptep)

    w = _locked(make_world(variant, mapped))
    rmap = ErrorRmap(w.k)
    assert rmap.try_to_unmap(w.page) == SWAP_ERROR
    # In the chain p1, p0 the erring p0 comes last, so no variant loses it.
    assert w.pte(0).val.present and PageDirect(w.page) and w.page.pte.word is w.pte(0)


def test_try_to_unmap_swap_error_then_success_is_f1_on_seed(variant: str) -> None:
    class ErrorRmap(VARIANTS[variant]):  # type: ignore[misc, valid-type]
        def try_to_unmap_one(self, page: Any, ptep: Any) -> int:
            return SWAP_ERROR if ptep.name == "p1" else super().try_to_unmap_one(page, ptep)

    w = _locked(make_world(variant, 2))  # chain p1, p0
    assert ErrorRmap(w.k).try_to_unmap(w.page) == SWAP_ERROR
    if variant == "seed":
        assert w.page.pte.word is NULL and live(w) == 1
    else:
        assert w.page.pte.word is w.pte(1) and PageDirect(w.page)


def test_try_to_unmap_chain_all_success_leaves_nothing(variant: str) -> None:
    w = _locked(make_world(variant, 3))
    assert w.rmap.try_to_unmap(w.page) == SWAP_SUCCESS
    assert w.page.pte.word is NULL and live(w) == 0 and not PageDirect(w.page)
    assert nr(w) == (3 if variant == "seed" else 0)  # F2


# ------------------------------------------------------------ pte_chain helpers


def test_pte_chain_free_with_prev_with_head_and_without_page(world: Build) -> None:
    w = world(3)
    head, middle, tail = chain_nodes(w.k, w.page)
    w.rmap.pte_chain_free(middle, head, w.page)  # prev given: unlink after prev
    assert head.next is tail and live(w) == 2
    w.rmap.pte_chain_free(head, NULL, w.page)  # no prev: unlink from the head
    assert w.page.pte.word is tail and live(w) == 1
    loose = w.rmap.pte_chain_alloc()
    w.rmap.pte_chain_free(loose, NULL, None)  # on no list: only freed
    assert w.page.pte.word is tail and live(w) == 1


def test_pte_chain_alloc_and_its_failure(world: Build) -> None:
    w = world(0)
    node = w.rmap.pte_chain_alloc()
    assert isinstance(node, PteChain) and node.next is NULL and node.ptep is NULL and live(w) == 1
    w.apply(op="fail_alloc", n=1)
    assert w.rmap.pte_chain_alloc() is NULL and live(w) == 1
    assert isinstance(w.rmap.pte_chain_alloc(), PteChain)


def test_pte_chain_init(world: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    w = world(0)
    old = w.k.pte_chain_cache
    w.rmap.pte_chain_init()
    assert w.k.pte_chain_cache is not old and w.k.pte_chain_cache is not None
    assert w.k.pte_chain_cache.name == "pte_chain" and w.k.pte_chain_cache.live == []
    monkeypatch.setattr(w.k, "kmem_cache_create", lambda name: None)
    with pytest.raises(Bug, match="failed to create pte_chain cache"):
        w.rmap.pte_chain_init()
