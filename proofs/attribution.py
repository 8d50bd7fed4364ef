"""Findings derived, not labelled: which fix removes a counterexample.

A counterexample is a trace whose replay on its variant shows violations
(invariant names, ``spec_mismatch``, a fault kind).  On a variant that is
the seed with some of the fixes (``seed``, ``seed+F2``, ``fixed-F1``),
each violation is explained by finding Fi when the same trace replayed on
the variant with Fi added no longer shows it, and by {Fi, Fj} when no
single fix removes it and the two together do.  The trace is explained
when each of its violations is; a violation that no set of at most
``MAX_FIXES`` fixes removes is a defect no finding accounts for.  A
variant that is not made of fixes (``2.5.32``, a patch under test) has
nothing to attribute to: its counterexamples are plain failures.

``derive`` runs an obligation to the end: after each explained
counterexample it runs again with that finding's fix applied, until the
obligation holds (every finding behind it found) or a counterexample is
unexplained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from impl.fixes import FIXES
from impl.trace import TraceError
from impl.variants import fixes_of, variant_name
from proofs.interleave.schedule import ScheduleSession
from proofs.obligation import Obligation, Outcome

MAX_FIXES = 2  # a defect needing more fixes than this at once is reported unexplained
MAX_ROUNDS = len(FIXES) + 1  # each explained round adds at least one fix


def shown(record: dict[str, Any]) -> list[str]:
    """What a replay record reports as failing: invariant names, spec_mismatch, the fault kind."""
    out = sorted(record["violations"])
    if record["spec_mismatch"]:
        out.append("spec_mismatch")
    if record["fault"]:
        out.append(record["fault"]["kind"])
    return out


def shows(trace: list[dict[str, Any]], variant: str) -> list[str]:
    """What the trace's last step shows on ``variant`` (nothing when it does not
    replay, or when its last step's caller precondition fails)."""
    return replayed(trace, variant) or []


def replayed(trace: list[dict[str, Any]], variant: str) -> list[str] | None:
    """``shows``, but None when the trace does not replay on ``variant`` at all:
    a schedule with a step that cannot happen there (the variant takes other
    locks) says nothing about what a fix removes."""
    session = ScheduleSession(variant)
    try:
        records = [session.apply(op) for op in trace]
    except TraceError:
        return None
    finally:
        session.close()
    if records[-1]["precondition"]:
        return []
    return shown(records[-1])


@dataclass(frozen=True)
class Attribution:
    variant: str  # where the counterexample was found
    removed_by: tuple[tuple[str, tuple[str, ...]], ...]  # each violation shown, the fixes that remove it
    unexplained: tuple[str, ...]  # the violations no set of fixes removes

    @property
    def shows(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.removed_by) + self.unexplained

    @property
    def fixes(self) -> tuple[str, ...]:
        """Every finding some violation of the trace is removed by, in finding order."""
        named = {f for _, fixes in self.removed_by for f in fixes}
        return tuple(f for f in FIXES if f in named)

    @property
    def explained(self) -> bool:
        return bool(self.removed_by) and not self.unexplained

    def as_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "findings": list(self.fixes) if self.explained else [],
            "shows": list(self.shows),
            "removed_by": {name: list(fixes) for name, fixes in self.removed_by},
            "unexplained": list(self.unexplained),
        }


def attributable(variant: str) -> bool:
    """Whether the variant is the seed with some fixes, so a finding can explain its failures."""
    return fixes_of(variant) is not None


def lacks_every_fix(variant: str) -> bool:
    """Whether the variant is the faithful port: made of fixes, none of them
    applied (its failures are what the findings are found on)."""
    return fixes_of(variant) is not None and missing_fixes(variant) == tuple(FIXES)


def missing_fixes(variant: str) -> tuple[str, ...]:
    """The fixes a variant made of fixes lacks, in finding order: the
    findings its failures can be attributed to (none on ``fixed``, or on a
    variant not made of fixes)."""
    base = fixes_of(variant)
    return () if base is None else tuple(f for f in FIXES if f not in base)


def attribute(trace: list[dict[str, Any]], variant: str) -> Attribution:
    """For each violation the trace shows on ``variant``, the smallest set of
    missing fixes whose variant no longer shows it."""
    base = fixes_of(variant)
    seen = shows(trace, variant)
    if base is None:
        return Attribution(variant, (), tuple(seen))
    missing = missing_fixes(variant)
    candidates = [fixes for size in range(1, MAX_FIXES + 1) for fixes in combinations(missing, size)]
    after = {fixes: replayed(trace, variant_name(base | set(fixes))) for fixes in candidates}
    removed, left = [], []
    for name in seen:
        by = next((fixes for fixes in candidates if (a := after[fixes]) is not None and name not in a), None)
        if by is None:
            left.append(name)
        else:
            removed.append((name, by))
    return Attribution(variant, tuple(removed), tuple(left))


@dataclass(frozen=True)
class Derivation:
    """An obligation run to the end: each counterexample with its attribution,
    and the outcome on the last variant tried (proved: every finding behind
    the obligation was found)."""

    found: tuple[tuple[Attribution, Outcome], ...]
    last_variant: str
    last: Outcome

    @property
    def explained(self) -> bool:
        """Every counterexample found on the way is explained (the last run may still be unknown)."""
        return bool(self.found) and all(a.explained for a, _ in self.found)

    @property
    def complete(self) -> bool:
        """Explained, and the obligation then proved: every finding behind it was found."""
        return self.explained and self.last.passed

    @property
    def findings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for a, _ in self.found for f in a.fixes))


def derive(obligation: Obligation, first: Outcome, run: Callable[[Obligation], Outcome]) -> Derivation:
    """Every finding behind an obligation, found by running it again on the
    variant with the findings so far fixed, until it holds or a counterexample
    is unexplained (or the engine answers something other than either)."""
    found: list[tuple[Attribution, Outcome]] = []
    outcome, current = first, obligation
    for _ in range(MAX_ROUNDS):
        trace = outcome.detail.get("trace")
        if outcome.status != "counterexample" or not isinstance(trace, list) or not trace:
            break
        blame = attribute(trace, current.variant)
        found.append((blame, outcome))
        if not blame.explained:
            break
        fixed = (fixes_of(current.variant) or frozenset()) | set(blame.fixes)
        current = replace(current, variant=variant_name(fixed))
        outcome = run(current)
    return Derivation(tuple(found), current.variant, outcome)
