"""Breaking impl/ on purpose makes the z3 suite go red (issue 3 acceptance).

The proofs are about the z3 transitions of proofs.z3.legacy.code, written by hand
after impl/.  A bug put into impl/ therefore reaches them only through the
code-tie: tests/test_z3_encoding.py runs the encoding of the variant
beside the Python on the same concrete states.  Each mutant here is a
subclass of FixedRmap that overrides one method with one deliberate bug;
Hypothesis then searches the same worlds that test uses for a state on
which the encoding of "fixed" (the one the proofs are about) disagrees
with the mutant.  Finding one is the suite failing: the encoding test
would fail for that implementation, and the proofs would be about code
that no longer runs.  The unmutated FixedRmap must of course agree
(tests/test_z3_encoding.py), so the disagreement is the mutant's.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from test_z3_encoding import check, worlds

from impl import kernel
from impl.kernel import NULL, SWAP_SUCCESS, Page, Pte, PteChain, _Null
from impl.rmap_fixed import FixedRmap
from impl.trace import Session


class KeepsDirectFlag(FixedRmap):
    """page_remove_rmap forgets ClearPageDirect when the direct mapping goes."""

    def page_remove_rmap(self, page: Page, ptep: Pte | _Null) -> None:
        if kernel.PageDirect(page) and page.pte.direct is ptep and self.k.pfn_valid(page.pfn):
            if not kernel.PageReserved(page):
                self.k.pte_chain_lock(page)
                page.pte.direct = NULL  # ClearPageDirect(page) forgotten
                return self._remove_out(page)
        return super().page_remove_rmap(page, ptep)


class KeepsRss(FixedRmap):
    """try_to_unmap_one skips mm->rss-- on success."""

    def try_to_unmap_one(self, page: Page, ptep: Pte) -> int:
        mm = ptep.mm
        rss = mm.rss
        ret = super().try_to_unmap_one(page, ptep)
        mm.rss = rss
        return ret


class CollapsesEarly(FixedRmap):
    """try_to_unmap collapses a chain to direct while two entries remain."""

    def try_to_unmap(self, page: Page) -> int:
        if kernel.PageDirect(page) or not isinstance(page.pte.word, PteChain):
            return super().try_to_unmap(page)
        prev_pc: PteChain | _Null = NULL
        ret = SWAP_SUCCESS
        pc = page.pte.chain
        while pc:
            next_pc = pc.next
            result = self.try_to_unmap_one(page, pc.ptep)
            if result == SWAP_SUCCESS:
                self.pte_chain_free(pc, prev_pc, page)
                self.k.dec_page_state("nr_reverse_maps")
            else:
                prev_pc, ret = pc, result
            pc = next_pc
        pc = page.pte.chain
        if pc and (not pc.next or not pc.next.next):  # the bug: two entries left also collapse
            page.pte.direct = pc.ptep
            kernel.SetPageDirect(page)
            self.pte_chain_free(pc, NULL, None)
        return ret


MUTANTS = {
    KeepsDirectFlag: ("page_remove_rmap", "zap"),
    KeepsRss: ("try_to_unmap_one", "try_to_unmap", "reclaim"),
    CollapsesEarly: ("try_to_unmap", "reclaim"),
}


def _disagrees(mutant: type[FixedRmap], name: str, session: Session, pick: int, dirty: bool) -> bool:
    session.rmap = mutant(session.k)  # same kernel, same slab; the mutant's code
    try:
        check(session, name, pick, dirty, encoding="fixed")
    except AssertionError:
        return True
    return False


@pytest.mark.parametrize("mutant", list(MUTANTS), ids=lambda m: m.__name__)
def test_mutant_breaks_the_code_tie(mutant: type[FixedRmap]) -> None:
    names = MUTANTS[mutant]
    example = find(
        st.tuples(st.sampled_from(names), worlds("fixed"), st.integers(0, 7), st.booleans()),
        lambda ex: _disagrees(mutant, *ex),
        settings=settings(
            max_examples=300, database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)
        ),
    )
    assert example is not None


def test_unmutated_fixed_shows_no_disagreement() -> None:
    """The control: the same search on FixedRmap itself finds nothing."""
    names = sorted({name for names in MUTANTS.values() for name in names})
    with pytest.raises(NoSuchExample):
        find(
            st.tuples(st.sampled_from(names), worlds("fixed"), st.integers(0, 7), st.booleans()),
            lambda ex: _disagrees(FixedRmap, *ex),
            settings=settings(max_examples=60, database=None, suppress_health_check=list(HealthCheck)),
        )
