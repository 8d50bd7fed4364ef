"""A counterexample's findings, derived by replay (proofs.attribution), in a
form the reports carry: per round the variant, the findings whose fixes
remove it, what it shows and the command that replays it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from proofs.attribution import attributable, derive
from proofs.obligation import Obligation, Outcome
from proofs.tool.cexreplay import checked


def with_findings(obligation: Obligation, outcome: Outcome, timeout: float, cex_dir: Path) -> Outcome:
    """The outcome of a replayed counterexample, with every finding behind it:
    ``detail["findings"]`` (one row per counterexample found on the way),
    ``detail["explained"]`` and ``detail["last"]`` (the last variant tried)."""
    if outcome.status != "counterexample" or not attributable(obligation.variant):
        return outcome
    derivation = derive(obligation, outcome, lambda ob: checked(ob, ob.run(timeout), cex_dir))
    rows = [
        {**blame.as_dict(), "command": (found.detail.get("replay") or {}).get("command")}
        for blame, found in derivation.found
    ]
    last = derivation.last
    detail: dict[str, Any] = {
        **outcome.detail,
        "findings": rows,
        "explained": derivation.explained,
        "complete": derivation.complete,
        "last": {"variant": derivation.last_variant, "status": last.status},
    }
    seconds = outcome.seconds + sum(found.seconds for _, found in derivation.found[1:])
    if last is not derivation.found[-1][1]:
        seconds += last.seconds
    return Outcome(outcome.status, seconds, detail)
