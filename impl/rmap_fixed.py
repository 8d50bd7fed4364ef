"""The corrected variant, ``fixed``: the seed with each finding's fix.

Only the functions a finding touches are overridden; every change carries
``FIX(Fn)`` naming the finding in docs/findings/ that explains it.
"""

from __future__ import annotations

from typing import TypeGuard

from impl.kernel import (
    BUG,
    ENOMEM,
    NULL,
    SWAP_SUCCESS,
    VMA,
    ChainPtr,
    ClearPageDirect,
    Page,
    PageDirect,
    PageLocked,
    PageReserved,
    Pte,
    PteChain,
    PtePtr,
    SetPageDirect,
    pte_pfn,
)
from impl.rmap_seed import SeedRmap


class FixedRmap(SeedRmap):
    name = "fixed"

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
        # FIX(F3): take every node this call needs before changing anything,
        # and give up with -ENOMEM (nothing changed) when GFP_ATOMIC fails.
        wanted = 2 if PageDirect(page) else 1 if page.pte.chain else 0
        nodes: list[PteChain] = []
        for _ in range(wanted):
            node = self.pte_chain_alloc()
            if not node:
                for got in nodes:
                    self.pte_chain_free(got, NULL, None)
                k.pte_chain_unlock(page)
                return -ENOMEM
            assert isinstance(node, PteChain)
            nodes.append(node)
        if PageDirect(page):
            pte_chain = nodes.pop()
            pte_chain.ptep = page.pte.direct
            pte_chain.next = NULL
            page.pte.chain = pte_chain
            ClearPageDirect(page)
        if page.pte.chain:
            pte_chain = nodes.pop()
            pte_chain.ptep = ptep
            pte_chain.next = page.pte.chain
            page.pte.chain = pte_chain
        else:
            page.pte.direct = ptep
            SetPageDirect(page)
        k.pte_chain_unlock(page)
        k.inc_page_state("nr_reverse_maps")
        return None

    def _remove_not_found(self, page: Page, ptep: PtePtr) -> None:
        self._report_not_found(page, ptep)
        # FIX(F4): nothing was removed, so nr_reverse_maps stays.
        self.k.pte_chain_unlock(page)

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        # FIX(F5): find_vma may answer a vma above a hole; the pte is in no
        # vma then, just as when find_vma answers NULL.
        return vma is not None and vma.vm_start <= address

    def try_to_unmap(self, page: Page) -> int:
        prev_pc: ChainPtr = NULL
        ret = SWAP_SUCCESS
        if PageReserved(page):
            BUG("try_to_unmap of a reserved page")
        if not PageLocked(page):
            BUG("try_to_unmap of a page that is not locked")
        if not page.mapping:
            BUG("try_to_unmap of a page without backing store")
        if PageDirect(page):
            ret = self.try_to_unmap_one(page, page.pte.direct)
            if ret == SWAP_SUCCESS:
                page.pte.direct = NULL
                ClearPageDirect(page)
                self.k.dec_page_state("nr_reverse_maps")  # FIX(F2)
        else:
            pc = page.pte.chain
            while pc:
                next_pc = pc.next
                result = self.try_to_unmap_one(page, pc.ptep)
                if result == SWAP_SUCCESS:
                    self.pte_chain_free(pc, prev_pc, page)
                    self.k.dec_page_state("nr_reverse_maps")  # FIX(F2)
                else:
                    # FIX(F1): every entry that stays on the chain becomes
                    # prev_pc, not only the SWAP_AGAIN ones.
                    prev_pc = pc
                    ret = result
                pc = next_pc
            pc = page.pte.chain
            if pc and not pc.next:
                page.pte.direct = pc.ptep
                SetPageDirect(page)
                self.pte_chain_free(pc, NULL, None)
        return ret
