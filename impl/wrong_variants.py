"""Variants that are wrong on purpose, to show a check can see what it claims.

Each is a plausible wrong change a kernel engineer might make while fixing or
tidying the rmap: a subclass of a correct variant with one deliberate
defect (a patch under test, not a z3 edit), and is
known to ``impl.variants.variant_class`` by name, but is not one of
``VARIANTS`` (so ``--variant all`` and the default runs never pick it).
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
from impl.rmap_2532 import Linux2532Rmap
from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap


class AgainAfterFail(FixedRmap):
    """``fixed``, but a mapping that stays for SWAP_AGAIN makes the answer
    SWAP_AGAIN even after one that can never be unmapped (SWAP_FAIL,
    SWAP_ERROR): the seed's finding F6 put back.  shrink_cache then keeps
    the page on the inactive list and retries it for ever.  The spec
    (``spec.ops.unmap_allows``) must refute it."""

    name = "again-after-fail"

    def _answer_again(self, ret: int) -> int:
        return SWAP_AGAIN  # WRONG: forgets an earlier SWAP_FAIL or SWAP_ERROR


class PrevPcAlwaysAdvances(FixedRmap):
    """F1 fixed by moving ``prev_pc = pc`` to the end of the loop body, so
    that it also follows an entry just freed."""

    name = "wrong-prev-pc-always-advances"

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

    name = "wrong-no-collapse"

    def _collapse_to_direct(self, page: Page) -> None:
        pass


class UnmapsDecrementTwice(FixedRmap):
    """F2 fixed twice over: try_to_unmap_one uncounts the entry, and so does a second decrement."""

    name = "wrong-unmaps-decrement-twice"

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

    name = "wrong-dirty-not-moved"

    def _dirty(self, page: Page) -> None:
        pass


class SwapDuplicateSkipped(_UnmapOne):
    """The swap pte is written without taking a reference on the slot."""

    name = "wrong-swap-duplicate-skipped"

    def _duplicate(self, entry: int) -> None:
        pass


class RssLoweredOnFail(_UnmapOne):
    """rss is lowered for a mapping that stays (mlocked, or in no vma)."""

    name = "wrong-rss-lowered-on-fail"

    def _after_fail(self, mm: kernel.MM) -> None:
        mm.rss -= 1


class YoungOnlyOnHead(FixedRmap):
    """page_referenced tests (and clears) the young bit of the chain's head only."""

    name = "wrong-young-only-on-head"

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

    name = "wrong-keeps-removed-entry"

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

    name = "wrong-leaks-first-node"

    def _give_back(self, converted: ChainPtr) -> None:
        pass


class KeepsLockOnNomem(_AddRmap):
    """F3 fixed, but -ENOMEM returns with pte_chain_lock still held."""

    name = "wrong-keeps-lock-on-nomem"

    def _nomem(self, page: Page) -> int:
        return -ENOMEM


class CountsOnNomem(_AddRmap):
    """F3 fixed, but -ENOMEM still counts a reverse map that was not added."""

    name = "wrong-counts-on-nomem"

    def _nomem(self, page: Page) -> int:
        self.k.inc_page_state("nr_reverse_maps")
        return super()._nomem(page)


class VmStartExclusive(FixedRmap):
    """F5 fixed with ``<`` for ``<=``: a pte at exactly vm_start is taken for one in no vma."""

    name = "wrong-vm-start-exclusive"

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        return vma is not None and vma.vm_start < address


class BusyLockGivesUp(FixedRmap):
    """try_to_unmap_one gives up on a mapping whose page_table_lock another CPU
    holds (SWAP_FAIL, as for one that can never be unmapped), so try_to_unmap
    never answers SWAP_AGAIN: shrink_cache activates a page the next pass
    could have freed.  The spec's step "keep it inactive and retry" is never
    taken; realizability (proofs.realizability) must refute it."""

    name = "wrong-busy-lock-gives-up"

    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        ret = super().try_to_unmap_one(page, ptep)
        return SWAP_FAIL if ret == SWAP_AGAIN else ret  # WRONG: a busy lock passes


class StopsAtBusyLock(Linux2532Rmap):
    """2.5.32's early stop taken one step too far: the walk also gives up at
    the first mapping whose page_table_lock is busy, and answers SWAP_AGAIN.
    A chain [busy, VM_LOCKED] then answers SWAP_AGAIN for a page that can
    never be unmapped: shrink_cache keeps it inactive and retries it on
    every pass instead of activating it.  The spec lets a walk stop only at
    a SWAP_FAIL (what the caller may conclude does not change there); the
    return value obligation must refute it (its conjunct "the walk stops
    only at a mapping that can never be unmapped")."""

    name = "wrong-stops-at-busy-lock"

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
                        ret = SWAP_AGAIN
                        break  # WRONG: a busy lock is no reason to leave the rest untried
                    case kernel.SWAP_FAIL:
                        ret = SWAP_FAIL
                        break
                    case kernel.SWAP_ERROR:
                        ret = kernel.SWAP_ERROR
                        break
                pc = next_pc
            self._collapse_to_direct(page)
        return ret


class ForgetsReferencedFlag(FixedRmap):
    """page_referenced reads PG_referenced without clearing it."""

    name = "wrong-forgets-referenced-flag"

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


WRONG_VARIANTS: dict[str, type[SeedRmap]] = {
    cls.name: cls
    for cls in (
        AgainAfterFail,
        PrevPcAlwaysAdvances,
        NoCollapse,
        UnmapsDecrementTwice,
        DirtyNotMoved,
        SwapDuplicateSkipped,
        RssLoweredOnFail,
        YoungOnlyOnHead,
        KeepsRemovedEntry,
        LeaksFirstNode,
        KeepsLockOnNomem,
        CountsOnNomem,
        VmStartExclusive,
        BusyLockGivesUp,
        StopsAtBusyLock,
        ForgetsReferencedFlag,
    )
}
