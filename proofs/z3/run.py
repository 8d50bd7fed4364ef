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
from proofs.z3.paths import Unsupported
from proofs.z3.prover import discharge
from proofs.z3.search import MAX_CHAIN, counterexample
from proofs.z3.vcs import build, lifted

SEARCH_SHARE = 1.0  # the bounded search's budget, in multiples of the timeout
FIRST_LOOK = 1.5  # seconds per query (twice, see prover.check_incremental) before the search is tried


def prepare(obligation: Obligation, timeout: float) -> None:
    """Lift the obligation's entry point in this process, before the runner
    forks the process that proves it: the obligations of one function that
    the same worker runs then share one run of the generator (the first
    pays for it: the runner adds the time to its answer).  A failure here is
    left for the proving process to report."""
    try:
        lifted(obligation.function, variant_class(obligation.variant))
    except Exception:  # reported by prove(), in the obligation's own process
        pass


# In a worker: (entry, variant) -> the shared VCs (prover.VC.shared) that an
# obligation it ran proved; the obligations it forks after that reuse them.
PROVED: dict[tuple[str, str], set[str]] = {}


def learn(obligation: Obligation, outcome: Outcome) -> None:
    """In the worker, once the obligation's process has answered: keep the
    shared VCs it proved (logged ``shared`` only when proved before any
    failure of its run; the runner calls this before forking the next)."""
    proved = {row["shared"] for row in outcome.detail.get("vcs", []) if "shared" in row}
    PROVED.setdefault((obligation.function, obligation.variant), set()).update(proved)


def prove(obligation: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    cls = variant_class(obligation.variant)
    known = frozenset(PROVED.get((obligation.function, obligation.variant), ()))
    try:
        problem = build(obligation.function, obligation.prop, cls)
    except Unsupported as why:
        return Outcome("error", time.perf_counter() - start, {"error": str(why)})
    # A first look with a short budget: z3 refutes quickly, but finding a
    # model of a quantified VC can take long, and the bounded search finds
    # a replaying counterexample sooner.  Any VC the first look does not
    # prove goes to the search at once (a wrong change is refuted in
    # seconds); only when the search finds no trace does the VC get the
    # full budget (a slow proof is still a proof).  Measured when this was
    # written (prove --deep, fixed and 2.5.32): no obligation needed more
    # than the first look, so the search cost their proofs nothing.
    failures, log = discharge(problem.vcs, min(timeout, FIRST_LOOK), known, first_look=True)
    found = None
    if failures and failures[0].status != "vacuous":
        named = tuple(c for f in failures for c in f.conjuncts)
        found = counterexample(obligation.function, obligation.prop, cls, timeout * SEARCH_SHARE, named)
        if found is None:
            failures, log = _again(problem.vcs, log, timeout, known)
    detail: dict[str, Any] = {"vcs": log, "method": obligation.method, "paths": _paths(problem)}
    if not failures:
        return Outcome("proved", time.perf_counter() - start, detail)
    first = failures[0]
    detail.update({"vc": first.vc, "conjunct": ", ".join(first.conjuncts)})
    if first.status == "vacuous":
        return Outcome("vacuous", time.perf_counter() - start, detail)
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


def _again(
    vcs: list[Any], log: list[dict[str, Any]], timeout: float, known: frozenset[str]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Discharge again with ``timeout``, from the first VC the last run did
    not prove: those before it are proved already (after a failure,
    discharge only glances at the rest, so nothing after it counts)."""
    proved = [row["status"] == row.get("consistent", "proved") == "proved" for row in log]
    done = proved.index(False) if False in proved else len(log)
    failures, rest = discharge(vcs[done:], timeout, known)
    return failures, [*log[:done], *rest]


def _paths(problem: Any) -> dict[str, int]:
    ex = problem.executor
    return {
        "returns": len(problem.vcs),
        "faults": len(ex.faults),
        "dropped": len(ex.dropped),
        "loop checks": len(ex.checks),
    }
