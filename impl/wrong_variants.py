"""Variants that are wrong on purpose, to show a check can see what it claims.

Each is a subclass of a correct variant with one deliberate defect, and is
known to ``impl.variants.variant_class`` by name, but is not one of
``VARIANTS`` (so ``--variant all`` and the default runs never pick it).
"""

from __future__ import annotations

from impl.kernel import SWAP_AGAIN
from impl.rmap_fixed import FixedRmap


class AgainAfterFail(FixedRmap):
    """``fixed``, but a mapping that stays for SWAP_AGAIN makes the answer
    SWAP_AGAIN even after one that can never be unmapped (SWAP_FAIL,
    SWAP_ERROR): the seed's finding F6 put back.  shrink_cache then keeps
    the page on the inactive list and retries it for ever.  The spec
    (``spec.ops.unmap_allows``) must refute it."""

    name = "again-after-fail"

    def _answer_again(self, ret: int) -> int:
        return SWAP_AGAIN  # WRONG: forgets an earlier SWAP_FAIL or SWAP_ERROR


WRONG_VARIANTS: dict[str, type[FixedRmap]] = {AgainAfterFail.name: AgainAfterFail}
