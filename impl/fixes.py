"""The fix of each finding, one class apiece, each marked with its id.

Every class overrides only the seed methods its finding changes, so any
subset of them stacks on ``impl.rmap_seed.SeedRmap`` (``impl.variants``
builds ``seed+F1+F3``, ``fixed-F2`` and the like); the ``fixed`` variant is
the seed with all of them.  docs/findings/ explains each finding.
"""

from __future__ import annotations

from typing import TypeGuard

from impl import kernel
from impl.kernel import (
    ENOMEM,
    NULL,
    SWAP_AGAIN,
    SWAP_ERROR,
    SWAP_FAIL,
    SWAP_SUCCESS,
    VMA,
    ChainPtr,
    ClearPageDirect,
    Page,
    PageDirect,
    PageReserved,
    Pte,
    PtePtr,
    PteVal,
    SetPageDirect,
    pte_pfn,
    ptep_get_and_clear,
)
from impl.rmap_seed import SeedRmap


class FixF1(SeedRmap):
    """F1: try_to_unmap's walk keeps every entry that stays as prev_pc."""

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
                match self.try_to_unmap_one(page, pc.ptep):
                    case kernel.SWAP_SUCCESS:
                        self.pte_chain_free(pc, prev_pc, page)
                    case kernel.SWAP_AGAIN:
                        prev_pc = pc
                        ret = self._answer_again(ret)
                    case kernel.SWAP_FAIL:
                        prev_pc = pc  # FIX(F1): the entry stays on the chain
                        ret = kernel.SWAP_FAIL
                    case kernel.SWAP_ERROR:
                        prev_pc = pc  # FIX(F1): the entry stays on the chain
                        ret = kernel.SWAP_ERROR
                pc = next_pc
            self._collapse_to_direct(page)
        return ret


class FixF2(SeedRmap):
    """F2: the reverse-map entry of an unmapped pte is counted down."""

    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        ret = super().try_to_unmap_one(page, ptep)
        if ret == SWAP_SUCCESS:
            # FIX(F2): the mapping is gone, and its reverse-map entry with it
            # (try_to_unmap unlinks the node next): uncount it where the
            # mapping ends, as later kernels do in page_remove_rmap.
            self.k.dec_page_state("nr_reverse_maps")
        return ret


class FixF3(SeedRmap):
    """F3: page_add_rmap takes its pte_chain nodes before changing anything."""

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
        # FIX(F3): GFP_ATOMIC may fail; take every node this call needs
        # first and give up with -ENOMEM, nothing changed, when one fails.
        converted: ChainPtr = NULL
        if PageDirect(page):
            converted = self.pte_chain_alloc()
            if not converted:
                k.pte_chain_unlock(page)
                return -ENOMEM
        pushed: ChainPtr = NULL
        if PageDirect(page) or page.pte.chain:
            pushed = self.pte_chain_alloc()
            if not pushed:
                if converted:
                    self.pte_chain_free(converted, NULL, None)
                k.pte_chain_unlock(page)
                return -ENOMEM
        if PageDirect(page):
            converted.ptep = page.pte.direct
            converted.next = NULL
            page.pte.chain = converted
            ClearPageDirect(page)
        if page.pte.chain:
            pushed.ptep = ptep
            pushed.next = page.pte.chain
            page.pte.chain = pushed
        else:
            page.pte.direct = ptep
            SetPageDirect(page)
        k.pte_chain_unlock(page)
        k.inc_page_state("nr_reverse_maps")
        return None


class FixF4(SeedRmap):
    """F4: page_remove_rmap uncounts only an entry it found."""

    def _remove_not_found(self, page: Page, ptep: PtePtr) -> None:
        self._report_not_found(page, ptep)
        # FIX(F4): nothing was removed, so nr_reverse_maps stays.
        self.k.pte_chain_unlock(page)


class FixF5(SeedRmap):
    """F5: try_to_unmap_one counts a vma only when it contains the pte."""

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        # FIX(F5): find_vma may answer a vma above a hole; the pte is in no
        # vma then, just as when find_vma answers NULL.
        return vma is not None and vma.vm_start <= address


class FixF6(SeedRmap):
    """F6: try_to_unmap's answer keeps a SWAP_FAIL or SWAP_ERROR it met."""

    def _answer_again(self, ret: int) -> int:
        # FIX(F6): a mapping that stayed for SWAP_AGAIN does not undo an
        # earlier one that can never be unmapped: the page is activated.
        return ret if ret in (SWAP_FAIL, SWAP_ERROR) else SWAP_AGAIN


class FixF7(SeedRmap):
    """F7: try_to_unmap_one flushes the cache while the pte still maps the page."""

    def _nuke_pte(self, vma: VMA, address: int, ptep: PtePtr) -> PteVal:
        # FIX(F7): cachetlb.txt's order: flush_cache_page while the old
        # translation is in place, then clear the pte, then flush the TLB.
        self.k.flush_cache_page(vma, address)
        pte = ptep_get_and_clear(ptep)
        self.k.flush_tlb_page(vma, address)
        return pte


# Each finding's fix, by id, in the order the findings are numbered.
FIXES: dict[str, type[SeedRmap]] = {
    "F1": FixF1,
    "F2": FixF2,
    "F3": FixF3,
    "F4": FixF4,
    "F5": FixF5,
    "F6": FixF6,
    "F7": FixF7,
}
