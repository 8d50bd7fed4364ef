"""The fixes of impl/fixes.py as findings: what explains a counterexample on seed."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from impl.fixes import FIXES
from impl.variants import variant_name


def seed_with(fixes: Sequence[str]) -> str:
    """The name of the seed variant with the fixes of ``fixes`` (finding ids)."""
    return variant_name(frozenset(fixes))


def explain(applied: Sequence[str], holds_with: Callable[[str], bool]) -> list[list[str]]:
    """Alternative sets of findings that explain a failure found on seed with
    ``applied`` fixes: the smallest sets of further fixes under which it goes
    away (``holds_with(variant name)``).  Empty: unexplained."""
    remaining = [f for f in FIXES if f not in applied]
    minimal: list[tuple[str, ...]] = []
    for size in range(1, len(remaining) + 1):
        for extra in itertools.combinations(remaining, size):
            if any(set(m) <= set(extra) for m in minimal):
                continue
            if holds_with(seed_with([*applied, *extra])):
                minimal.append(extra)
    return [list(m) for m in minimal]
