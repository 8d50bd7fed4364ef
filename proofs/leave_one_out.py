"""Leave-one-out: each finding's fix is necessary, and the fixes are enough.

For each finding Fi, the obligation ``leave-one-out Fi [fixed-Fi]`` takes
the z3 obligation that exposed Fi most cheaply on seed in the committed
results (proofs/results/prove-seed.json, where findings are attributed by
replay), runs it on ``fixed`` without Fi's fix, and holds when that fails
with a counterexample whose every violation Fi's fix alone removes, and
the obligation then proves on ``fixed``.  ``rmap-verify prove --variant
fixed-F3`` runs F3's.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

from proofs.attribution import attribute
from proofs.findings import FINDINGS
from proofs.obligation import Obligation, Outcome
from proofs.tool.paths import RESULTS
from proofs.z3 import obligations as z3_obligations

METHOD = "leave-one-out: the z3 obligation that exposed the finding on seed, on fixed without its fix"


def exposing(finding_id: str) -> str | None:
    """The name of the cheapest seed obligation whose committed counterexamples Fi explains."""
    try:
        rows = json.loads((RESULTS / "prove-seed.json").read_text(encoding="utf-8"))["obligations"]
    except (OSError, ValueError, KeyError):
        return None
    found = [r for r in rows if r.get("explained") and finding_id in r.get("findings", ())]
    z3_names = {ob.name for ob in z3_obligations(("fixed",))}
    found = [r for r in found if r["name"] in z3_names]
    return min(found, key=lambda r: r["seconds"])["name"] if found else None


def prove(ob: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    finding_id = ob.function
    name = exposing(finding_id)
    if name is None:
        why = f"no z3 obligation on seed exposes {finding_id} in proofs/results/prove-seed.json"
        return Outcome("error", 0.0, {"error": why})
    target = next(o for o in z3_obligations(("fixed",)) if o.name == name)
    without = replace(target, variant=ob.variant).run(timeout)
    detail = {"obligation": name, "without": without.status}
    if without.status != "counterexample":
        detail["reason"] = (
            f"{name} does not fail on {ob.variant} ({without.status}): the fix is not shown necessary"
        )
        status = "timeout" if without.status == "timeout" else "unknown"
        return Outcome(status, time.perf_counter() - start, detail)  # type: ignore[arg-type]
    blame = attribute(without.detail["trace"], ob.variant)
    detail["attribution"] = blame.as_dict()
    if blame.fixes != (finding_id,) or not blame.explained:
        detail["reason"] = f"the counterexample on {ob.variant} is not {finding_id}'s alone"
        return Outcome("unknown", time.perf_counter() - start, detail)
    with_fix = target.run(timeout)
    detail["with"] = with_fix.status
    status = "proved" if with_fix.passed else with_fix.status
    return Outcome(status, time.perf_counter() - start, detail)


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
