"""Variant ``2.5.32``: the kernel's own fix of try_to_unmap, one release on.

Linux 2.5.32 answers F1 differently from ``impl.fixes.FixF1``: on SWAP_FAIL
(or SWAP_ERROR) the walk stops at once (``goto give_up``) and answers it,
leaving the entries not yet visited on the chain, untried; a one-entry
chain is still collapsed to direct.  shrink_cache activates such a page
anyway, so nothing is lost by not trying the rest.  Every other finding
is fixed as in ``fixed``, except F6, which the early stop makes impossible
(a SWAP_FAIL or SWAP_ERROR is always the last answer).  (The real 2.5.32
still had F7, the flush order: the kernel changed it in November 2002,
after 2.5.47; this variant carries FixF7 as ``fixed`` does.)
"""

from __future__ import annotations

from impl import kernel
from impl.fixes import FixF2, FixF3, FixF4, FixF5, FixF7
from impl.kernel import NULL, SWAP_SUCCESS, ChainPtr, ClearPageDirect, Page, PageDirect


class Linux2532Rmap(FixF2, FixF3, FixF4, FixF5, FixF7):
    name = "2.5.32"

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
                        ret = kernel.SWAP_FAIL
                        break  # give_up: the rest of the chain stays untried
                    case kernel.SWAP_ERROR:
                        ret = kernel.SWAP_ERROR
                        break  # give_up
                pc = next_pc
            self._collapse_to_direct(page)
        return ret
