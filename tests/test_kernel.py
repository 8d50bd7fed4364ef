"""The kernel environment model: faults, the pte union, locks, slab, swap, vmas."""

from __future__ import annotations

import pytest

from impl import kernel
from impl.kernel import (
    MM,
    NULL,
    PTE_NONE,
    SWAP_MAP_MAX,
    VMA,
    Bug,
    Deadlock,
    Kernel,
    KmemCache,
    Oops,
    Page,
    Pte,
    PteChain,
    PteUnion,
    find_vma,
    mk_pte,
    pte_none,
    ptep_get_and_clear,
    ptep_test_and_clear_young,
    swp_entry_to_pte,
)
from spec import ops


def test_null_is_false_and_oopses_on_read_and_write() -> None:
    assert not NULL
    assert repr(NULL) == "NULL"
    with pytest.raises(Oops, match="reading ->next"):
        _ = NULL.next
    with pytest.raises(Oops, match="writing ->ptep"):
        NULL.ptep = None


def test_fault_carries_where_and_why() -> None:
    with pytest.raises(Bug) as caught:
        kernel.BUG("because")
    assert caught.value.why == "because"
    assert caught.value.where.startswith("test_fault_carries_where_and_why:")
    assert str(caught.value).startswith("BUG in test_fault_carries_where_and_why:")
    assert Oops("f", "w").kind == "Oops" and Deadlock("f", "w").kind == "deadlock"


def _pte(name: str = "p") -> Pte:
    return Pte(name, MM("A"), 0x1000)


def test_union_is_one_word_read_through_either_member() -> None:
    union = PteUnion()
    assert union.word is NULL and union.chain is NULL and union.direct is NULL
    pte = _pte()
    union.direct = pte
    assert union.word is pte and union.direct is pte
    node = PteChain(ptep=pte)
    union.chain = node
    assert union.word is node and union.chain is node


def test_union_misread_is_true_and_oopses_when_dereferenced() -> None:
    union = PteUnion()
    pte = _pte()
    union.direct = pte
    misread = union.chain  # the word holds a pte, read as a chain node
    assert misread and misread is not pte
    with pytest.raises(Oops, match="wrong member"):
        _ = misread.next
    with pytest.raises(Oops, match="wrong member"):
        misread.next = NULL
    union.chain = misread  # storing it back stores the word it came from
    assert union.word is pte
    union.chain = PteChain()
    union.direct = union.direct
    assert isinstance(union.word, PteChain)


def test_pte_values_and_helpers() -> None:
    pte = _pte()
    assert repr(pte) == "pte p" and pte_none(pte.val)
    pte.val = mk_pte(3, young=True, dirty=True)
    assert kernel.pte_present(pte.val) and kernel.pte_pfn(pte.val) == 3 and kernel.pte_dirty(pte.val)
    assert ptep_test_and_clear_young(pte) and not ptep_test_and_clear_young(pte)
    assert pte.val.dirty
    old = ptep_get_and_clear(pte)
    assert old.pfn == 3 and pte.val == PTE_NONE
    kernel.set_pte(pte, swp_entry_to_pte(9))
    assert pte.val.swap == 9 and not pte_none(pte.val)
    assert kernel.ptep_to_mm(pte).name == "A" and kernel.ptep_to_address(pte) == 0x1000
    with pytest.raises(Oops):
        ptep_test_and_clear_young(NULL)


def test_page_flags() -> None:
    page = Page(1)
    assert repr(page) == "page 1"
    for setter, tester in [
        (kernel.SetPageDirect, kernel.PageDirect),
        (kernel.set_page_dirty, kernel.PageDirty),
    ]:
        assert not tester(page)
        setter(page)
        assert tester(page)
    kernel.ClearPageDirect(page)
    assert not kernel.PageDirect(page)
    kernel.set_flag(page, kernel.PG_referenced, True)
    assert kernel.TestClearPageReferenced(page) and not kernel.TestClearPageReferenced(page)
    for bit, test in [
        (kernel.PG_reserved, kernel.PageReserved),
        (kernel.PG_locked, kernel.PageLocked),
        (kernel.PG_swapcache, kernel.PageSwapCache),
    ]:
        kernel.set_flag(page, bit, True)
        assert test(page) and kernel.test_flag(page, bit)
        kernel.set_flag(page, bit, False)
        assert not test(page)


def test_spin_locks_and_deadlock() -> None:
    k = Kernel()
    lock = kernel.SpinLock()
    k.spin_lock(lock)
    assert lock.holder == "cpu0"
    assert not k.spin_trylock(lock)
    with pytest.raises(Deadlock):
        k.spin_lock(lock)
    k.spin_unlock(lock)
    assert k.spin_trylock(lock)
    lock.holder = "cpu1"
    with pytest.raises(Bug, match="held by cpu1"):
        k.spin_unlock(lock)


def test_pte_chain_lock_is_a_bit_lock() -> None:
    k, page = Kernel(), Page(1)
    k.pte_chain_lock(page)
    assert kernel.test_flag(page, kernel.PG_chainlock)
    with pytest.raises(Deadlock):
        k.pte_chain_lock(page)
    k.pte_chain_unlock(page)
    with pytest.raises(Bug, match="not held"):
        k.pte_chain_unlock(page)


def test_slab_counts_live_objects_fails_on_request_and_bugs_on_double_free() -> None:
    k = Kernel()
    cache = k.kmem_cache_create("pte_chain")
    a = k.kmem_cache_alloc(cache, kernel.GFP_ATOMIC)
    assert isinstance(a, PteChain) and cache.live == [a]
    cache.fail_next = 2
    assert k.kmem_cache_alloc(cache, kernel.GFP_ATOMIC) is NULL
    assert k.kmem_cache_alloc(cache, kernel.GFP_ATOMIC) is NULL
    assert cache.fail_next == 0 and len(cache.live) == 1
    k.kmem_cache_free(cache, a)
    assert cache.live == []
    with pytest.raises(Bug, match="not live"):
        k.kmem_cache_free(cache, a)
    with pytest.raises(Bug):
        KmemCache("x").free(NULL)


def test_slab_used_before_init_oopses() -> None:
    k = Kernel()
    with pytest.raises(Oops, match="before pte_chain_init"):
        k.kmem_cache_alloc(None, kernel.GFP_ATOMIC)
    with pytest.raises(Oops, match="before pte_chain_init"):
        k.kmem_cache_free(None, PteChain())


def test_swap_duplicate_and_swap_free() -> None:
    k = Kernel(swap_map={1: 1, 2: 0, 3: SWAP_MAP_MAX - 1})
    assert k.swap_duplicate(1) == 1 and k.swap_map[1] == 2
    assert k.swap_duplicate(2) == 0 and k.swap_map[2] == 0  # unused entry
    assert k.swap_duplicate(99) == 0 and 99 not in k.swap_map  # bad entry
    assert k.swap_duplicate(3) == 1 and k.swap_map[3] == SWAP_MAP_MAX
    assert k.swap_duplicate(3) == 1 and k.swap_map[3] == SWAP_MAP_MAX  # saturated
    k.swap_free(3)
    assert k.swap_map[3] == SWAP_MAP_MAX  # a saturated slot is never lowered
    k.swap_free(1)
    assert k.swap_map[1] == 1
    for entry in (2, 99):
        with pytest.raises(Bug, match="unused swap entry"):
            k.swap_free(entry)
    assert SWAP_MAP_MAX == ops.SWAP_MAP_MAX


def test_swap_constants_agree_with_spec() -> None:
    assert (kernel.SWAP_SUCCESS, kernel.SWAP_AGAIN, kernel.SWAP_FAIL, kernel.SWAP_ERROR) == (
        ops.SWAP_SUCCESS,
        ops.SWAP_AGAIN,
        ops.SWAP_FAIL,
        ops.SWAP_ERROR,
    )


def test_find_vma_answers_the_first_vma_ending_above_the_address() -> None:
    low, high = VMA(0x1000, 0x2000), VMA(0x4000, 0x5000)
    mm = MM("A", vmas=[low, high])
    assert find_vma(mm, 0x0) is low  # below every vma: still the first one
    assert find_vma(mm, 0x1FFF) is low
    assert find_vma(mm, 0x2000) is high  # in the hole: the vma above it
    assert find_vma(mm, 0x4FFF) is high
    assert find_vma(mm, 0x5000) is None
    assert find_vma(MM("B"), 0) is None


def test_page_references_stats_printk_and_flushes() -> None:
    k = Kernel(mem_map={1: Page(1)})
    page = k.pfn_to_page(1)
    assert k.pfn_valid(1) and not k.pfn_valid(2) and k.page_to_pfn(page) == 1
    k.get_page(page)
    k.page_cache_release(page)
    with pytest.raises(Bug, match="free page 1"):
        k.page_cache_release(page)
    k.inc_page_state("nr_reverse_maps")
    k.dec_page_state("nr_reverse_maps")
    k.dec_page_state("nr_reverse_maps")
    assert k.page_state.nr_reverse_maps == -1
    k.printk("hello")
    assert k.log == ["hello"]
    vma = VMA(0, 0x1000)
    k.mms["A"] = MM("A", vmas=[vma])
    k.flush_tlb_page(vma, 0x10)
    k.flush_cache_page(vma, 0x10)
    assert k.flushes == [("flush_tlb_page", "A", 0x10), ("flush_cache_page", "A", 0x10)]
