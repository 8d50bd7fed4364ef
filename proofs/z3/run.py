"""Running one z3 obligation: its VCs generated from impl/, discharged; on
failure, a counterexample found from the entry and replayed on impl/.

A VC that fails is not yet a counterexample: its state may not be
reachable (a loop's invariant is weaker than the truth).  The bounded
search (proofs.z3.search) then looks for a real one from the function's
entry on small chains; only a trace whose replay on impl/ shows the
violation is reported as ``counterexample``.  A failing VC with no such
trace is reported with its own status (``unknown``, ``timeout``, or
``unknown`` for a VC counterexample that does not replay), never proved.
A construct the generator does not support is an ``error`` naming it.
"""

from __future__ import annotations

import time
from typing import Any

from impl.variants import variant_class
from proofs.obligation import Obligation, Outcome
from proofs.z3.lift import Unsupported
from proofs.z3.prover import discharge
from proofs.z3.search import MAX_CHAIN, counterexample
from proofs.z3.vcs import build

SEARCH_SHARE = 1.0  # the bounded search's budget, in multiples of the timeout


def prove(obligation: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    cls = variant_class(obligation.variant)
    try:
        problem = build(obligation.function, obligation.prop, cls)
    except Unsupported as why:
        return Outcome("error", time.perf_counter() - start, {"error": str(why)})
    failures, log = discharge(problem.vcs, timeout)
    detail: dict[str, Any] = {"vcs": log, "method": obligation.method, "paths": _paths(problem)}
    if not failures:
        return Outcome("proved", time.perf_counter() - start, detail)
    first = failures[0]
    detail.update({"vc": first.vc, "conjunct": ", ".join(first.conjuncts)})
    if first.status == "vacuous":
        return Outcome("vacuous", time.perf_counter() - start, detail)
    found = counterexample(obligation.function, obligation.prop, cls, timeout * SEARCH_SHARE)
    if found is None:
        detail["why"] = (
            f"{first.vc} does not prove ({first.status}), and no trace from the entry on chains of up to "
            f"{MAX_CHAIN} entries replays as a violation"
        )
        status = "timeout" if first.status == "timeout" else "unknown"
        return Outcome(status, time.perf_counter() - start, detail)  # type: ignore[arg-type]
    detail.update(
        {
            "method": f"{obligation.method}; counterexample by bounded search (chain of {found['chain']})",
            "trace": found["trace"],
            "env": found["env"],
            "shows": found["replay"]["shows"],
        }
    )
    return Outcome("counterexample", time.perf_counter() - start, detail)


def _paths(problem: Any) -> dict[str, int]:
    ex = problem.executor
    return {
        "returns": len(problem.vcs),
        "faults": len(ex.faults),
        "dropped": len(ex.dropped),
        "loop checks": len(ex.checks),
    }
