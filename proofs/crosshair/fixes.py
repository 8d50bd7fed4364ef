"""The fixes of impl/rmap_fixed.py as findings: what explains a counterexample on seed."""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Sequence

from impl.contracts import Run
from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from impl.variants import VARIANTS
from proofs.findings import FINDINGS

# ------------------------------------------------------------ fixes as findings


def _fixes() -> dict[str, tuple[str, ...]]:
    """Each method impl/rmap_fixed.py overrides, with the findings its
    ``FIX(Fn)`` tags name."""
    found = {}
    for name, member in vars(FixedRmap).items():
        if inspect.isfunction(member):
            tags = re.findall(r"FIX\((F\d+)\)", inspect.getsource(member))
            found[name] = tuple(sorted(set(tags)))
    return found


FIXES = _fixes()
_SHOWS = {f.id: set(f.shows) for f in FINDINGS}


def seed_with(methods: Sequence[str]) -> str:
    """The name of the seed variant with ``methods`` taken from the fixed one
    (registered in impl.variants on first use)."""
    if not methods:
        return "seed"
    ids = sorted({i for m in methods for i in FIXES[m]})
    name = "seed+" + "+".join(ids)
    if name not in VARIANTS:
        VARIANTS[name] = type(name, (SeedRmap,), {m: vars(FixedRmap)[m] for m in methods})
    return name


def symptoms(value: object) -> set[str]:
    """What a run shows, in the terms of Finding.shows."""
    if not isinstance(value, Run):
        return set()
    r = value.record
    shown = set(r["violations"]) | ({"spec_mismatch"} if r["spec_mismatch"] else set())
    return shown | ({r["fault"]["kind"]} if r["fault"] else set())


def _findings_of(methods: Sequence[str], shown: set[str]) -> list[str]:
    """The findings the fixes of ``methods`` carry; when a method carries
    several, those whose own symptoms (beyond a spec mismatch) the run shows."""
    ids = sorted({i for m in methods for i in FIXES[m]})
    specific = [i for i in ids if (_SHOWS[i] - {"spec_mismatch"}) & shown]
    return specific or ids


def explain(applied: Sequence[str], holds_with: Callable[[str], bool], shown: set[str]) -> list[list[str]]:
    """Alternative sets of findings that explain a failure found on seed with
    ``applied`` fixes: the smallest sets of further fixed methods under
    which it goes away (``holds_with(variant name)``).  Empty: unexplained."""
    remaining = [m for m in FIXES if m not in applied]
    minimal: list[tuple[str, ...]] = []
    for size in range(1, len(remaining) + 1):
        for extra in itertools.combinations(remaining, size):
            if any(set(m) <= set(extra) for m in minimal):
                continue
            if holds_with(seed_with([*applied, *extra])):
                minimal.append(extra)
    return [_findings_of(m, shown) for m in minimal]


def methods_for(findings: Sequence[str]) -> list[str]:
    return [m for m, ids in FIXES.items() if set(ids) & set(findings)]
