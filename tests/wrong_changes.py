"""Plausible wrong changes to the fixed variant, each one the contracts must catch (issue 15).

Each is a small subclass of ``FixedRmap`` that makes one mistake a kernel
patch could make; ``tests/test_contracts.py`` registers each as a variant
and checks that ``rmap-verify contracts`` alone fails on it with a
counterexample that replays.
"""

from __future__ import annotations

from typing import TypeGuard

from impl.fixes import FixF1
from impl.kernel import VMA, ChainPtr, Page, PageDirty, PG_dirty, Pte, PtePtr, set_flag
from impl.rmap_fixed import FixedRmap


class DirtyBitDropped(FixedRmap):
    """try_to_unmap_one forgets the dirty bit of the pte it unmaps: the page
    stays clean, and its data would never be written back."""

    name = "wrong-dirty-dropped"

    def try_to_unmap_one(self, page: Page, ptep: PtePtr) -> int:
        was_dirty = PageDirty(page)
        ret = super().try_to_unmap_one(page, ptep)
        set_flag(page, PG_dirty, was_dirty)
        return ret


class VmStartExcluded(FixedRmap):
    """FixF5's containment test with ``<`` for ``<=``: a pte at exactly
    vm_start counts as outside its vma, so it is never unmapped."""

    name = "wrong-vm-start"

    def _vma_holds(self, vma: VMA | None, address: int) -> TypeGuard[VMA]:
        return vma is not None and vma.vm_start < address


class LeaksFirstNode(FixedRmap):
    """An F3 fix that gives up on the second allocation's failure without
    freeing the node the first allocation took: it leaks."""

    name = "wrong-f3-leak"
    _adding = False

    def page_add_rmap(self, page: Page, ptep: Pte) -> int | None:
        self._adding = True
        try:
            return super().page_add_rmap(page, ptep)
        finally:
            self._adding = False

    def pte_chain_free(self, pte_chain: ChainPtr, prev_pte_chain: ChainPtr, page: Page | None) -> None:
        # FixF3.page_add_rmap frees only on its way out after a failure.
        if not self._adding:
            super().pte_chain_free(pte_chain, prev_pte_chain, page)


class AgainAfterFail(FixedRmap):
    """try_to_unmap answers the last non-success outcome of its walk, so
    SWAP_AGAIN when a busy lock comes after a SWAP_FAIL: shrink_cache then
    retries a page it should have activated (FixF1's walk, as fixed has it
    until issue 13's spec demands SWAP_FAIL)."""

    name = "wrong-again-after-fail"
    try_to_unmap = FixF1.try_to_unmap


WRONG_CHANGES: tuple[type[FixedRmap], ...] = (
    DirtyBitDropped,
    VmStartExcluded,
    LeaksFirstNode,
    AgainAfterFail,
)
