"""The seed's callers, so that its counts mean something.

``map_pte`` is what the fault and fork paths do around page_add_rmap,
``zap_pte`` what zap_pte_range does around page_remove_rmap, and
``reclaim`` what shrink_cache (mm/vmscan.c) does around page_referenced and
try_to_unmap.  Each first checks its caller-side precondition and raises
``CallerPrecondition`` without touching anything when it does not hold.

map and zap change a present pte by the rules of ``impl.flush_rules``:
cache flush first, TLB flush after, both under the page_table_lock, through
the vma that holds the pte (``_vma_of``).
"""

from __future__ import annotations

from dataclasses import dataclass

from impl.kernel import (
    ENOMEM,
    PTE_NONE,
    VMA,
    Page,
    PageLocked,
    PageReserved,
    PG_chainlock,
    PG_locked,
    Pte,
    mk_pte,
    ptep_get_and_clear,
    set_flag,
    set_page_dirty,
    set_pte,
    test_flag,
)
from impl.rmap_seed import SeedRmap
from impl.trace_schema import PAGE_SIZE
from spec.ops import ACTIVATE, DISPOSITION, FREE


class CallerPrecondition(Exception):
    """The caller-side precondition of a path does not hold; nothing ran."""


def _require(ok: bool, why: str) -> None:
    if not ok:
        raise CallerPrecondition(why)


def _lock_free(ptep: Pte) -> None:
    holder = ptep.mm.page_table_lock.holder
    _require(holder is None, f"{ptep.mm.name}'s page_table_lock is held by {holder}; the path would wait")


def _vma_of(ptep: Pte) -> VMA:
    """The vma of ptep's mm that contains its address, the one the kernel's
    path runs through (zap_page_range's, the fault's).  When none does (a
    trace's ``vmas`` took it away, where mremap or munmap would have moved
    or zapped the pte with it), a stand-in vma of that one page in ptep's
    mm, so that the flushes still name the pte's mm and address."""
    vma = next((v for v in ptep.mm.vmas if v.vm_start <= ptep.address < v.vm_end), None)
    return vma or VMA(ptep.address, ptep.address + PAGE_SIZE, vm_mm=ptep.mm.name)


def map_pte(rmap: SeedRmap, ptep: Pte, page: Page, *, dirty: bool = False) -> str:
    """Fault or fork: map ``page`` at ``ptep``.  Answers "mapped" or "oom".

    A normal page takes a reference (get_page) and its mm one rss; a
    reserved page takes neither.  A pte that held a swap entry gives its
    swap reference back, as do_swap_page does.  When page_add_rmap answers
    -ENOMEM (the corrected variant; the seed cannot) the fault backs out.
    """
    k = rmap.k
    _require(not ptep.val.present, f"{ptep.name} is already present")
    _lock_free(ptep)
    vma = _vma_of(ptep)
    old = ptep.val
    mm = ptep.mm
    normal = k.pfn_valid(page.pfn) and not PageReserved(page)
    k.spin_lock(mm.page_table_lock)
    if normal:
        k.get_page(page)
        mm.rss += 1
    set_pte(ptep, mk_pte(page.pfn, dirty=dirty))
    if rmap.page_add_rmap(page, ptep) == -ENOMEM:
        # The new translation may be in a TLB already: take it down by the rules.
        k.flush_cache_page(vma, ptep.address)
        set_pte(ptep, old)
        k.flush_tlb_page(vma, ptep.address)
        if normal:
            mm.rss -= 1
            k.page_cache_release(page)
        k.spin_unlock(mm.page_table_lock)
        return "oom"
    if old.swap is not None:
        k.swap_free(old.swap)
    k.spin_unlock(mm.page_table_lock)
    return "mapped"


def zap_pte(rmap: SeedRmap, ptep: Pte) -> None:
    """munmap or exit: clear ``ptep``, then take down what it held.

    zap_page_range of the one page: flush_cache_range before the ptes are
    cleared, tlb_finish_mmu's TLB flush after, both under the lock.
    """
    k = rmap.k
    _require(ptep.val != PTE_NONE, f"{ptep.name} holds nothing to zap")
    _lock_free(ptep)
    vma = _vma_of(ptep)
    mm = ptep.mm
    k.spin_lock(mm.page_table_lock)
    k.flush_cache_page(vma, ptep.address)
    pte = ptep_get_and_clear(ptep)
    if pte.present and k.pfn_valid(pte.pfn):
        page = k.pfn_to_page(pte.pfn)
        # The pte is already clear here: page_remove_rmap must not need it.
        rmap.page_remove_rmap(page, ptep)
        if not PageReserved(page):
            if pte.dirty:
                set_page_dirty(page)
            k.page_cache_release(page)
            mm.rss -= 1
    elif pte.swap is not None:
        k.swap_free(pte.swap)
    k.flush_tlb_page(vma, ptep.address)
    k.spin_unlock(mm.page_table_lock)


@dataclass(frozen=True)
class ReclaimResult:
    referenced: int
    swap_result: int | None  # try_to_unmap's answer, when it was asked
    disposition: str  # spec.ops.ACTIVATE, KEEP or FREE


def reclaim(rmap: SeedRmap, page: Page) -> ReclaimResult:
    """shrink_cache on one inactive page, as 2.5.31 orders its locks.

    pagemap_lru_lock, then the page lock, then pte_chain_lock; a referenced
    page is activated; a mapped page (either member of the pte union
    non-NULL) is unmapped and placed by try_to_unmap's answer.
    """
    k = rmap.k
    _require(not PageReserved(page), f"page {page.pfn} is reserved: not on the LRU")
    _require(page.mapping is not None, f"page {page.pfn} has no backing store")
    _require(not PageLocked(page), f"page {page.pfn} is locked by someone else")
    _require(not test_flag(page, PG_chainlock), f"page {page.pfn}'s pte_chain_lock is held")
    _require(k.pagemap_lru_lock.holder is None, "pagemap_lru_lock is held")
    k.spin_lock(k.pagemap_lru_lock)
    set_flag(page, PG_locked, True)  # TryLockPage
    k.pte_chain_lock(page)
    referenced = rmap.page_referenced(page)
    swap_result = None
    if referenced:
        disposition = ACTIVATE
    elif page.pte.chain:
        swap_result = rmap.try_to_unmap(page)
        disposition = DISPOSITION[swap_result]
    else:
        disposition = FREE
    k.pte_chain_unlock(page)
    set_flag(page, PG_locked, False)  # UnlockPage
    k.spin_unlock(k.pagemap_lru_lock)
    return ReclaimResult(referenced, swap_result, disposition)
