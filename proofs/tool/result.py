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
    def findings(self) -> tuple[str, ...]:
        """The findings its counterexamples were attributed to, by replay (proofs.attribution)."""
        rows = self.outcome.detail.get("findings") or ()
        return tuple(dict.fromkeys(f for row in rows for f in row["findings"]))

    @property
    def explained(self) -> bool:
        """A counterexample each of whose violations, in every round, some finding's fix removes."""
        rows = self.outcome.detail.get("findings") or ()
        return (
            self.outcome.status == "counterexample" and bool(rows) and not any(r["unexplained"] for r in rows)
        )

    @property
    def unexplained(self) -> bool:
        """A failure no finding explains (an unknown, a timeout or an error never is explained)."""
        return not self.passed and not self.explained

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
    explained = Counter(f for r in results if r.explained for f in r.findings)
    if explained:
        line += "; explained by " + ", ".join(f"{f} ({n})" for f, n in sorted(explained.items()))
    unexplained = sum(r.unexplained for r in results)
    if unexplained:
        line += f"; {unexplained} failure(s) no finding explains"
    return line


def exit_code(results: Sequence[Result], *, expect: Sequence[str] | None = None) -> int:
    """0 when every obligation is proved; anything else fails the run.  With
    ``expect`` (the documented findings): 0 when every failure is explained
    and every expected finding was found by some obligation."""
    if expect is None:
        return 0 if all(r.passed for r in results) else 1
    return 0 if not any(r.unexplained for r in results) and not missing_findings(results, expect) else 1


def missing_findings(results: Sequence[Result], expect: Sequence[str]) -> list[str]:
    """The expected findings no obligation found."""
    found = {f for r in results for f in r.findings}
    return [f for f in expect if f not in found]
