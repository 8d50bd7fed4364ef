"""The corrected variant, ``fixed``: the seed with the fix of every finding.

Each fix lives in ``impl.fixes`` as a class of its own, marked ``FIX(Fn)``;
this variant stacks all of them on the faithful port.
"""

from __future__ import annotations

from impl.fixes import FixF1, FixF2, FixF3, FixF4, FixF5, FixF6, FixF7


class FixedRmap(FixF1, FixF2, FixF3, FixF4, FixF5, FixF6, FixF7):
    name = "fixed"
