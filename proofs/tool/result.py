"""One obligation's result, what explains it, and a run's summary line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import get_args

from proofs.obligation import Obligation, Outcome, Status

STATUSES: tuple[Status, ...] = get_args(Status)
ALWAYS_COUNTED = ("proved", "counterexample", "unknown")  # shown even when zero


@dataclass(frozen=True)
class Result:
    obligation: Obligation
    outcome: Outcome

    @property
    def passed(self) -> bool:
        return self.outcome.passed

    @property
    def explained(self) -> bool:
        """A counterexample (it replays) that a documented finding explains."""
        return self.outcome.status == "counterexample" and self.obligation.finding is not None

    @property
    def unexplained(self) -> bool:
        """A failure on seed that no documented finding explains (an unknown never is)."""
        return not self.passed and not self.explained and self.obligation.variant == "seed"

    @property
    def conjunct(self) -> str | None:
        """The smallest failing part of the property: the prover's word, else what the replay shows."""
        detail = self.outcome.detail
        if "conjunct" in detail:
            return str(detail["conjunct"])
        replay = detail.get("replay") or {}
        return ", ".join(replay["shows"]) if replay.get("shows") else None

    @property
    def message(self) -> str:
        """One line on why it failed."""
        detail = self.outcome.detail
        why = detail.get("error") or self.conjunct or detail.get("reason") or "no reason given"
        return f"{self.outcome.status}: {why}"


def is_bounded(method: str) -> bool:
    """Whatever does not claim to hold for every size (bounded unrolling, small worlds) is bounded."""
    return "unbounded" not in method.lower()


def summary_line(results: Sequence[Result], seconds: float) -> str:
    counts = Counter(r.outcome.status for r in results)
    parts = [f"{counts[s]} {s}" for s in STATUSES if s in ALWAYS_COUNTED or counts[s]]
    line = f"{', '.join(parts)} in {seconds:.1f} s"
    explained = Counter(r.obligation.finding for r in results if r.explained)
    if explained:
        line += "; explained by " + ", ".join(f"{f} ({n})" for f, n in sorted(explained.items()))
    unexplained = sum(r.unexplained for r in results)
    if unexplained:
        line += f"; {unexplained} failure(s) on seed no finding explains"
    return line


def exit_code(results: Sequence[Result]) -> int:
    """0 when every obligation is proved; anything else fails the run."""
    return 0 if all(r.passed for r in results) else 1
