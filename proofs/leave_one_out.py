"""Leave-one-out: each finding's fix is necessary, and the fixes are enough.

For each finding Fi, the obligation ``leave-one-out Fi [fixed-Fi]`` takes
the z3 obligations that exposed Fi on seed in the committed results
(proofs/results/prove-seed.json, where findings are attributed by replay),
cheapest first, runs them on ``fixed`` without Fi's fix, and holds when
one fails with a counterexample whose every violation Fi's fix alone
removes, and that obligation then proves on ``fixed``.  ``rmap-verify prove --variant
fixed-F3`` runs F3's.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from proofs.attribution import attribute
from proofs.findings import FINDINGS
from proofs.obligation import Obligation, Outcome
from proofs.tool.paths import RESULTS
from proofs.z3 import obligations as z3_obligations

TRIES = 3  # exposing obligations tried, cheapest first
METHOD = "leave-one-out: the z3 obligation that exposed the finding on seed, on fixed without its fix"


def exposing(finding_id: str) -> list[str]:
    """The z3 obligations whose committed seed counterexamples Fi's fix removes, cheapest first."""
    try:
        rows = json.loads((RESULTS / "prove-seed.json").read_text(encoding="utf-8"))["obligations"]
    except (OSError, ValueError, KeyError):
        return []
    z3_names = {ob.name for ob in z3_obligations(("fixed",))}
    found = [r for r in rows if r["name"] in z3_names and finding_id in _findings(r)]
    return [r["name"] for r in sorted(found, key=lambda r: r["seconds"])]


def _findings(row: dict[str, Any]) -> set[str]:
    rounds = (row.get("detail") or {}).get("findings") or ()
    return {f for r in rounds for f in r["findings"]}


def prove(ob: Obligation, timeout: float) -> Outcome:
    """Try the exposing obligations in turn (at most ``TRIES``): the first that fails on
    fixed-Fi must fail by Fi alone and prove on fixed."""
    start = time.perf_counter()
    finding_id = ob.function
    names = exposing(finding_id)[:TRIES]
    if not names:
        why = f"no z3 obligation on seed exposes {finding_id} in proofs/results/prove-seed.json"
        return Outcome("error", 0.0, {"error": why})
    tried: dict[str, str] = {}
    for name in names:
        target = next(o for o in z3_obligations(("fixed",)) if o.name == name)
        without = replace(target, variant=ob.variant).run(timeout)
        tried[name] = without.status
        if without.status != "counterexample":
            continue
        blame = attribute(without.detail["trace"], ob.variant)
        detail: dict[str, Any] = {"obligation": name, "tried": tried, "attribution": blame.as_dict()}
        if blame.fixes != (finding_id,) or not blame.explained:
            detail["reason"] = f"the counterexample of {name} on {ob.variant} is not {finding_id}'s alone"
            return Outcome("unknown", time.perf_counter() - start, detail)
        with_fix = target.run(timeout)
        detail["with"] = with_fix.status
        return Outcome("proved" if with_fix.passed else with_fix.status, time.perf_counter() - start, detail)
    reason = f"none of {', '.join(names)} fails on {ob.variant}: the fix is not shown necessary"
    return Outcome("unknown", time.perf_counter() - start, {"tried": tried, "reason": reason})


OBLIGATIONS: list[Obligation] = [
    Obligation(
        name=f"leave-one-out {f.id}",
        function=f.id,
        prop="fix necessary",
        variant=f"fixed-{f.id}",
        statement=f"Without {f.id}'s fix, fixed fails the z3 obligation that exposed {f.id} on seed, "
        f"with a counterexample that {f.id}'s fix alone removes; with it, the obligation proves.",
        invariants=(),
        method=METHOD,
        runner="proofs.leave_one_out:prove",
    )
    for f in FINDINGS
]
