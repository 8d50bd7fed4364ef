"""The fixes of impl/fixes.py as findings: what explains a counterexample on a variant made of fixes."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from impl.fixes import FIXES
from impl.variants import variant_name


def explain(present: frozenset[str], holds_with: Callable[[str], bool]) -> list[list[str]]:
    """Alternative sets of findings that explain a failure found on the seed
    with the fixes ``present``: the smallest sets of the missing fixes under
    which it goes away (``holds_with(variant name)``).  Empty: unexplained
    (always so when no fix is missing)."""
    missing = [f for f in FIXES if f not in present]
    minimal: list[tuple[str, ...]] = []
    for size in range(1, len(missing) + 1):
        for extra in itertools.combinations(missing, size):
            if any(set(m) <= set(extra) for m in minimal):
                continue
            if holds_with(variant_name(present | set(extra))):
                minimal.append(extra)
    return [list(m) for m in minimal]
