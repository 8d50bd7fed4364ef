"""The faithful port of mm/rmap.c (Linux 2.5.31): variant ``seed``.

Every function of the seed is here under its C name, branch for branch,
including what the proofs show to be wrong (docs/findings/).  Nothing in
this file is fixed; the corrected variant is ``impl.rmap_fixed``.  Comments
give the seed line a statement comes from as ``[rmap.c:N]``.

The kernel's globals (pte_chain_cache, page_state, the swap map) belong to
the ``Kernel`` the variant is bound to, so each C function is a method that
reaches them through ``self.k``.
"""

from __future__ import annotations

from typing import TypeGuard

from impl import kernel
from impl.kernel import (
    BUG,
    GFP_ATOMIC,
    NULL,
    SWAP_AGAIN,
    SWAP_FAIL,
    SWAP_SUCCESS,
    VM_LOCKED,
    VMA,
    ChainPtr,
    ClearPageDirect,
    Kernel,
    Page,
    PageDirect,
    PageLocked,
    PagePtr,
    PageReserved,
    PageSwapCache,
    Pte,
    PtePtr,
    PteVal,
    SetPageDirect,
    TestClearPageReferenced,
    find_vma,
    pte_dirty,
    pte_pfn,
    pte_present,
    ptep_get_and_clear,
    ptep_test_and_clear_young,
    ptep_to_address,
    ptep_to_mm,
    set_page_dirty,
    set_pte,
    swp_entry_to_pte,
)


class SeedRmap:
    """mm/rmap.c as shipped, bound to one modelled kernel."""

    name = "seed"

    def __init__(self, k: Kernel, *, debug_rmap: bool = False) -> None:
        self.k = k
        self.debug_rmap = debug_rmap  # #define DEBUG_RMAP

    # [rmap.c:60]
    def page_referenced(self, page: Page) -> int:
        referenced = 0
        if TestClearPageReferenced(page):
            referenced += 1
        if PageDirect(page):
            if ptep_test_and_clear_young(page.pte.direct):
                referenced += 1
        else:
            pc = page.pte.chain
            while pc:
                if ptep_test_and_clear_young(pc.ptep):
                    referenced += 1
                pc = pc.next
        return referenced

    # [rmap.c:86]
    def page_add_rmap(self, page: Page, ptep: Pte) -> int | None:
        k = self.k
        pfn = pte_pfn(ptep.val)
        if self.debug_rmap:
            self._debug_check_args(page, ptep)
        if not k.pfn_valid(pfn) or PageReserved(page):
            return None
        if self.debug_rmap:
            self._debug_check_not_mapped(page, ptep)
        k.pte_chain_lock(page)
        if PageDirect(page):
            # [rmap.c:119] turn the direct pointer into a one-entry chain;
            # pte_chain_alloc's NULL (GFP_ATOMIC) is not checked.
            pte_chain = self.pte_chain_alloc()
            pte_chain.ptep = page.pte.direct
            pte_chain.next = NULL
            page.pte.chain = pte_chain
            ClearPageDirect(page)
        if page.pte.chain:
            # [rmap.c:127] push the new entry on the head of the chain.
            pte_chain = self.pte_chain_alloc()
            pte_chain.ptep = ptep
            pte_chain.next = page.pte.chain
            page.pte.chain = pte_chain
        else:
            page.pte.direct = ptep
            SetPageDirect(page)
        k.pte_chain_unlock(page)
        k.inc_page_state("nr_reverse_maps")
        return None

    def _debug_check_args(self, page: Page, ptep: Pte) -> None:
        """DEBUG_RMAP [rmap.c:90]: a page, and a present pte with an mm."""
        if not page or not ptep:
            BUG("page_add_rmap without a page or a pte")
        if not pte_present(ptep.val):
            BUG("page_add_rmap of a pte that is not present")
        if not ptep_to_mm(ptep):
            BUG("page_add_rmap of a pte with no mm")

    def _debug_check_not_mapped(self, page: Page, ptep: Pte) -> None:
        """DEBUG_RMAP [rmap.c:100]: the pte must not be on the page already."""
        k = self.k
        k.pte_chain_lock(page)
        if PageDirect(page):
            if page.pte.direct is ptep:
                BUG("page_add_rmap of a pte the page maps directly already")
        else:
            pc = page.pte.chain
            while pc:
                if pc.ptep is ptep:
                    BUG("page_add_rmap of a pte already on the chain")
                pc = pc.next
        k.pte_chain_unlock(page)

    # [rmap.c:148]
    def page_remove_rmap(self, page: PagePtr, ptep: PtePtr) -> None:
        k = self.k
        prev_pc: ChainPtr = NULL
        pfn = k.page_to_pfn(page)
        if not page or not ptep:
            BUG("page_remove_rmap without a page or a pte")
        if not k.pfn_valid(pfn) or PageReserved(page):
            return
        k.pte_chain_lock(page)
        if PageDirect(page):
            if page.pte.direct is ptep:
                page.pte.direct = NULL
                ClearPageDirect(page)
                return self._remove_out(page)
        else:
            pc = page.pte.chain
            while pc:
                if pc.ptep is ptep:
                    self.pte_chain_free(pc, prev_pc, page)
                    # [rmap.c:168] collapse a one-entry chain to direct.
                    pc = page.pte.chain
                    if not pc.next:
                        page.pte.direct = pc.ptep
                        SetPageDirect(page)
                        self.pte_chain_free(pc, NULL, None)
                    return self._remove_out(page)
                prev_pc, pc = pc, pc.next
        return self._remove_not_found(page, ptep)

    def _remove_not_found(self, page: Page, ptep: PtePtr) -> None:
        """[rmap.c:176-193] The pte is not on the page: DEBUG_RMAP's report,
        then ``out:``, which decrements nr_reverse_maps although nothing
        was removed (finding F4)."""
        self._report_not_found(page, ptep)
        self._remove_out(page)

    def _report_not_found(self, page: Page, ptep: PtePtr) -> None:
        """DEBUG_RMAP [rmap.c:178]: the "should NEVER happen" report."""
        if self.debug_rmap:
            self.k.printk(f"page_remove_rmap: pte_chain {ptep!r} not present.")
            self.k.printk(f"page_remove_rmap: only found: {self._entries_text(page)}")
            self.k.printk("page_remove_rmap: driver cleared PG_reserved ?")

    def _remove_out(self, page: Page) -> None:
        """The ``out:`` label of page_remove_rmap [rmap.c:191]."""
        self.k.dec_page_state("nr_reverse_maps")
        self.k.pte_chain_unlock(page)

    def _entries_text(self, page: Page) -> str:
        if PageDirect(page):
            return repr(page.pte.direct)
        names = []
        pc = page.pte.chain
        while pc:
            names.append(repr(pc.ptep))
            pc = pc.next
        return " ".join(names)

    # [rmap.c:211]
    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        k = self.k
        address = ptep_to_address(ptep)
        mm = ptep_to_mm(ptep)
        if not mm:
            BUG("try_to_unmap_one of a pte with no mm")
        # Reclaim nests page_table_lock inside pte_chain_lock, the opposite
        # of the fault path, so it may only try the lock.
        if not k.spin_trylock(mm.page_table_lock):
            return SWAP_AGAIN
        # [rmap.c:227] find_vma: the first vma ending above the address.
        vma = find_vma(mm, address)
        if not self._vma_holds(vma, address):
            ret = SWAP_FAIL
        elif vma.vm_flags & VM_LOCKED:
            ret = SWAP_FAIL
        else:
            pte = self._nuke_pte(vma, address, ptep)
            if PageSwapCache(page):
                # [rmap.c:245] swap_duplicate's answer is not checked.
                entry = page.index
                k.swap_duplicate(entry)
                set_pte(ptep, swp_entry_to_pte(entry))
            if pte_dirty(pte):
                set_page_dirty(page)
            mm.rss -= 1
            k.page_cache_release(page)
            ret = SWAP_SUCCESS
        k.spin_unlock(mm.page_table_lock)
        return ret

    def _nuke_pte(self, vma: VMA, address: int, ptep: PtePtr) -> PteVal:
        """[rmap.c:237-240] "Nuke the page table entry": the pte is cleared,
        then the TLB flushed, then the cache, so the cache is flushed after
        the translation it needs is gone (finding F7)."""
        pte = ptep_get_and_clear(ptep)
        self.k.flush_tlb_page(vma, address)
        self.k.flush_cache_page(vma, address)
        return pte

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        """[rmap.c:228] ``if (!vma)``: the seed asks only whether find_vma
        found a vma, not whether it contains the address (finding F5)."""
        return vma is not None

    # [rmap.c:271]
    def try_to_unmap(self, page: Page) -> int:
        prev_pc: ChainPtr = NULL
        ret = SWAP_SUCCESS
        self._pageout_checks(page)
        if PageDirect(page):
            ret = self.try_to_unmap_one(page, page.pte.direct)
            if ret == SWAP_SUCCESS:
                page.pte.direct = NULL
                ClearPageDirect(page)
        else:
            pc = page.pte.chain
            while pc:
                next_pc = pc.next
                # C's `continue` (AGAIN) and `break` (every other case) both
                # reach the loop increment, pc = next_pc, below.
                match self.try_to_unmap_one(page, pc.ptep):
                    case kernel.SWAP_SUCCESS:
                        self.pte_chain_free(pc, prev_pc, page)
                    case kernel.SWAP_AGAIN:
                        prev_pc = pc
                        ret = self._answer_again(ret)
                    case kernel.SWAP_FAIL:  # [rmap.c:302] prev_pc is not moved
                        ret = kernel.SWAP_FAIL
                    case kernel.SWAP_ERROR:
                        ret = kernel.SWAP_ERROR
                pc = next_pc
            self._collapse_to_direct(page)
        return ret

    def _answer_again(self, ret: int) -> int:
        """[rmap.c:300] ``ret = SWAP_AGAIN;``: the answer once a mapping
        stayed for SWAP_AGAIN, whatever ``ret`` held, so a SWAP_FAIL or
        SWAP_ERROR met earlier in the chain is forgotten (finding F6)."""
        return SWAP_AGAIN

    def _pageout_checks(self, page: Page) -> None:
        """[rmap.c:275-282] A page on the pageout lists: not reserved,
        locked by its caller, and with backing store to swap out to."""
        if PageReserved(page):
            BUG("try_to_unmap of a reserved page")
        if not PageLocked(page):
            BUG("try_to_unmap of a page that is not locked")
        if not page.mapping:
            BUG("try_to_unmap of a page without backing store")

    def _collapse_to_direct(self, page: Page) -> None:
        """[rmap.c:310-316] After the walk, a one-entry chain becomes direct."""
        pc = page.pte.chain
        if pc and not pc.next:
            page.pte.direct = pc.ptep
            SetPageDirect(page)
            self.pte_chain_free(pc, NULL, None)

    # [rmap.c:335]
    def pte_chain_free(self, pte_chain: ChainPtr, prev_pte_chain: ChainPtr, page: Page | None) -> None:
        if prev_pte_chain:
            prev_pte_chain.next = pte_chain.next
        elif page:
            page.pte.chain = pte_chain.next
        self.k.kmem_cache_free(self.k.pte_chain_cache, pte_chain)

    # [rmap.c:352]
    def pte_chain_alloc(self) -> ChainPtr:
        return self.k.kmem_cache_alloc(self.k.pte_chain_cache, GFP_ATOMIC)

    # [rmap.c:356]
    def pte_chain_init(self) -> None:
        self.k.pte_chain_cache = self.k.kmem_cache_create("pte_chain")
        if not self.k.pte_chain_cache:
            BUG("panic: failed to create pte_chain cache")
