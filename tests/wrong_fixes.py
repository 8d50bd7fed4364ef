"""Plausible wrong changes to the fixed variant, each a variant class.

Each is what a kernel engineer might write while fixing or tidying the
rmap: one method overridden with one mistake.  They are patches under
test, registered as variants (``register``) so that a trace replays on
them by name.  ``REFUTED_BY`` names, for each, a z3 obligation that must
refute it with a counterexample that replays on it
(tests/test_wrong_fixes.py), so the proofs are shown to see the code that
runs: none of these is a z3 edit.
"""

from __future__ import annotations

from typing import TypeGuard

from impl import kernel
from impl.kernel import (
    BUG,
    ENOMEM,
    NULL,
    SWAP_AGAIN,
    SWAP_FAIL,
    SWAP_SUCCESS,
    VM_LOCKED,
    VMA,
    ChainPtr,
    ClearPageDirect,
    Page,
    PageDirect,
    PagePtr,
    PageReserved,
    PageSwapCache,
    Pte,
    PtePtr,
    SetPageDirect,
    TestClearPageReferenced,
    find_vma,
    pte_dirty,
    pte_pfn,
    ptep_get_and_clear,
    ptep_test_and_clear_young,
    ptep_to_address,
    ptep_to_mm,
    set_page_dirty,
    set_pte,
    swp_entry_to_pte,
)
from impl.rmap_fixed import FixedRmap
from impl.variants import register


class PrevPcAlwaysAdvances(FixedRmap):
    """F1 fixed by moving ``prev_pc = pc`` to the end of the loop body, so
    that it also follows an entry just freed."""

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
                        ret = kernel.SWAP_AGAIN
                    case kernel.SWAP_FAIL:
                        ret = kernel.SWAP_FAIL
                    case kernel.SWAP_ERROR:
                        ret = kernel.SWAP_ERROR
                prev_pc = pc  # wrong: a freed entry becomes prev_pc too
                pc = next_pc
            self._collapse_to_direct(page)
        return ret


class NoCollapse(FixedRmap):
    """try_to_unmap leaves a one-entry chain as a chain."""

    def _collapse_to_direct(self, page: Page) -> None:
        pass


class UnmapsDecrementTwice(FixedRmap):
    """F2 fixed twice over: try_to_unmap_one uncounts the entry, and so does a second decrement."""

    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        ret = super().try_to_unmap_one(page, ptep)
        if ret == SWAP_SUCCESS:
            self.k.dec_page_state("nr_reverse_maps")
        return ret


class _UnmapOne(FixedRmap):
    """The fixed try_to_unmap_one written out, with hooks for one mistake each."""

    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        k = self.k
        address = ptep_to_address(ptep)
        mm = ptep_to_mm(ptep)
        if not mm:
            BUG("try_to_unmap_one of a pte with no mm")
        if not k.spin_trylock(mm.page_table_lock):
            return SWAP_AGAIN
        vma = find_vma(mm, address)
        if not self._vma_holds(vma, address) or vma.vm_flags & VM_LOCKED:
            ret = SWAP_FAIL
            self._after_fail(mm)
        else:
            pte = ptep_get_and_clear(ptep)
            k.flush_tlb_page(vma, address)
            k.flush_cache_page(vma, address)
            if PageSwapCache(page):
                entry = page.index
                self._duplicate(entry)
                set_pte(ptep, swp_entry_to_pte(entry))
            if pte_dirty(pte):
                self._dirty(page)
            mm.rss -= 1
            k.page_cache_release(page)
            k.dec_page_state("nr_reverse_maps")
            ret = SWAP_SUCCESS
        k.spin_unlock(mm.page_table_lock)
        return ret

    def _after_fail(self, mm: kernel.MM) -> None:
        pass

    def _duplicate(self, entry: int) -> None:
        self.k.swap_duplicate(entry)

    def _dirty(self, page: Page) -> None:
        set_page_dirty(page)


class DirtyNotMoved(_UnmapOne):
    """The dirty bit of an unmapped pte is dropped instead of moved to the page."""

    def _dirty(self, page: Page) -> None:
        pass


class SwapDuplicateSkipped(_UnmapOne):
    """The swap pte is written without taking a reference on the slot."""

    def _duplicate(self, entry: int) -> None:
        pass


class RssLoweredOnFail(_UnmapOne):
    """rss is lowered for a mapping that stays (mlocked, or in no vma)."""

    def _after_fail(self, mm: kernel.MM) -> None:
        mm.rss -= 1


class YoungOnlyOnHead(FixedRmap):
    """page_referenced tests (and clears) the young bit of the chain's head only."""

    def page_referenced(self, page: Page) -> int:
        referenced = 0
        if TestClearPageReferenced(page):
            referenced += 1
        if PageDirect(page):
            if ptep_test_and_clear_young(page.pte.direct):
                referenced += 1
        elif page.pte.chain:
            if ptep_test_and_clear_young(page.pte.chain.ptep):
                referenced += 1
        return referenced


class KeepsRemovedEntry(FixedRmap):
    """page_remove_rmap collapses a two-entry chain to the entry it removed, not the survivor."""

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
                    pc = page.pte.chain
                    if not pc.next:
                        page.pte.direct = ptep  # wrong: the removed pte, not pc.ptep
                        SetPageDirect(page)
                        self.pte_chain_free(pc, NULL, None)
                    return self._remove_out(page)
                prev_pc, pc = pc, pc.next
        return self._remove_not_found(page, ptep)


class _AddRmap(FixedRmap):
    """The fixed page_add_rmap written out, with hooks for one mistake each."""

    def page_add_rmap(self, page: Page, ptep: Pte) -> int | None:
        k = self.k
        pfn = pte_pfn(ptep.val)
        if not k.pfn_valid(pfn) or PageReserved(page):
            return None
        k.pte_chain_lock(page)
        converted: ChainPtr = NULL
        if PageDirect(page):
            converted = self.pte_chain_alloc()
            if not converted:
                return self._nomem(page)
        pushed: ChainPtr = NULL
        if PageDirect(page) or page.pte.chain:
            pushed = self.pte_chain_alloc()
            if not pushed:
                self._give_back(converted)
                return self._nomem(page)
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

    def _give_back(self, converted: ChainPtr) -> None:
        if converted:
            self.pte_chain_free(converted, NULL, None)

    def _nomem(self, page: Page) -> int:
        self.k.pte_chain_unlock(page)
        return -ENOMEM


class LeaksFirstNode(_AddRmap):
    """F3 fixed, but the first node is not given back when the second allocation fails."""

    def _give_back(self, converted: ChainPtr) -> None:
        pass


class KeepsLockOnNomem(_AddRmap):
    """F3 fixed, but -ENOMEM returns with pte_chain_lock still held."""

    def _nomem(self, page: Page) -> int:
        return -ENOMEM


class CountsOnNomem(_AddRmap):
    """F3 fixed, but -ENOMEM still counts a reverse map that was not added."""

    def _nomem(self, page: Page) -> int:
        self.k.inc_page_state("nr_reverse_maps")
        return super()._nomem(page)


class VmStartExclusive(FixedRmap):
    """F5 fixed with ``<`` for ``<=``: a pte at exactly vm_start is taken for one in no vma."""

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        return vma is not None and vma.vm_start < address


class ForgetsReferencedFlag(FixedRmap):
    """page_referenced reads PG_referenced without clearing it."""

    def page_referenced(self, page: Page) -> int:
        referenced = 1 if kernel.test_flag(page, kernel.PG_referenced) else 0
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


# wrong fix -> the z3 obligation (of ``proofs.z3``) that must refute it
REFUTED_BY: dict[type[FixedRmap], str] = {
    PrevPcAlwaysAdvances: "try_to_unmap invariant preservation",
    NoCollapse: "try_to_unmap invariant preservation",
    UnmapsDecrementTwice: "try_to_unmap_one balanced counts",
    DirtyNotMoved: "try_to_unmap_one refinement",
    SwapDuplicateSkipped: "try_to_unmap_one balanced counts",
    RssLoweredOnFail: "try_to_unmap_one balanced counts",
    YoungOnlyOnHead: "page_referenced refinement",
    KeepsRemovedEntry: "page_remove_rmap invariant preservation",
    LeaksFirstNode: "page_add_rmap balanced counts",
    KeepsLockOnNomem: "page_add_rmap invariant preservation",
    CountsOnNomem: "page_add_rmap balanced counts",
    VmStartExclusive: "try_to_unmap_one refinement",
    ForgetsReferencedFlag: "page_referenced refinement",
}
for _cls in REFUTED_BY:
    _cls.name = f"wrong:{_cls.__name__}"
    register(_cls.name, _cls)
