"""Running one z3 obligation: discharge its VCs; for each failing VC, find a
concrete counterexample in its pinned small case, decode it into a trace
and replay it on impl/.

Only a counterexample whose replay shows the violation (a violated
invariant, a spec mismatch or a fault in the last record) is reported as
``counterexample``; a failing inductive step whose small cases all replay
clean is a failure of the proof, reported ``unknown`` with the
counterexample to induction, never as proved.  The search tries the
plainest environment first (every lock free, every pte in an unlocked vma,
clean bits, no swap cache), so the first trace is the most readable.
"""

from __future__ import annotations

import time
from typing import Any

import z3

from proofs.obligation import Obligation, Outcome
from proofs.z3.legacy import bounded, vcs
from proofs.z3.legacy.decode import decode, replay
from proofs.z3.legacy.state import OK, State
from proofs.z3.prover import VC, Verdict, configure, discharge

ATTEMPTS = 8  # small models tried per failing VC and environment before giving up
SHOWN = 3  # failing VCs decoded per obligation


def prove(obligation: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    problem = vcs.BUILDERS[obligation.function](obligation.variant, obligation.prop)
    failures, log = discharge(problem.vcs, timeout)
    detail: dict[str, Any] = {"vcs": log, "method": obligation.method}
    if not failures:
        return Outcome("proved", time.perf_counter() - start, detail)
    first = failures[0]
    detail.update({"vc": first.vc, "conjunct": ", ".join(first.conjuncts)})
    if first.status != "counterexample":
        return Outcome(first.status, time.perf_counter() - start, detail)  # type: ignore[arg-type]
    found = []
    searched = False  # the bounded search does not depend on which walk VC failed: run it once
    for verdict in [f for f in failures if f.status == "counterexample"][:SHOWN]:
        vc = next(v for v in problem.vcs if v.name == verdict.vc)
        if vc.state is not None:  # a callee's VC: decode its pre-state
            problem = vcs.Problem(problem.vcs, vc.state)
        if "walk:" in verdict.vc and obligation.function in BOUNDED:
            if searched:
                continue
            searched = True
            case = bounded_counterexample(obligation, problem, timeout)
        else:
            case = concrete_counterexample(obligation, problem, vc, verdict, timeout)
        if case:
            found.append({"vc": verdict.vc, "conjunct": ", ".join(verdict.conjuncts), **case})
    if not found:
        detail["why"] = "an inductive step fails, but no small case of it replays as a violation"
        return Outcome("unknown", time.perf_counter() - start, detail)
    detail.update(found[0])
    detail["counterexamples"] = found
    return Outcome("counterexample", time.perf_counter() - start, detail)


def concrete_counterexample(
    obligation: Obligation, problem: vcs.Problem, vc: VC, verdict: Verdict, timeout: float
) -> dict[str, Any] | None:
    """Models of the failing VC in its pinned small case, decoded and
    replayed until one shows the violation (None if none does)."""
    configure()
    s, n = problem.state, _pinned_length(vc)
    failing = [term for name, term in vc.goals if name in verdict.conjuncts] or [t for _, t in vc.goals]
    solver = z3.Optimize()
    solver.set("timeout", max(1, int(timeout * 1000)))
    solver.add(*vc.hyps, *vc.assume, *vc.search, z3.Not(z3.And(*failing)))
    for term in _plain(s, n, obligation.function):
        solver.add_soft(term)
    for _ in range(ATTEMPTS):
        if solver.check() != z3.sat:
            break
        model = solver.model()
        case = decode(model, s, n, obligation.function, problem.arg)
        outcome = replay(case["trace"], obligation.variant)
        if outcome["shows"]:
            return _found(case, outcome)
        solver.add(_differs(model, s, n, problem.arg))
    return None


def bounded_counterexample(
    obligation: Obligation, problem: vcs.Problem, timeout: float
) -> dict[str, Any] | None:
    """A reachable counterexample of a walk: chains of 2..BOUND entries,
    the walk unrolled, each kind of difference from the spec in turn."""
    configure()
    s = problem.state
    pre, differences = BOUNDED[obligation.function]
    for n in range(2, bounded.BOUND + 1):
        for kind, differs in differences(s, n, obligation.variant):
            solver = z3.Optimize()
            solver.set("timeout", max(1, int(timeout * 1000)))
            solver.add(*pre(s, n), differs)
            for term in _plain(s, n, obligation.function):
                solver.add_soft(term)
            if solver.check() != z3.sat:
                continue
            case = decode(solver.model(), s, n, obligation.function, problem.arg)
            outcome = replay(case["trace"], obligation.variant)
            if outcome["shows"]:
                method = f"z3 bounded (N<={bounded.BOUND}) counterexample search: {kind}"
                return {"method": method, **_found(case, outcome)}
    return None


def _found(case: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """A decoded case whose replay shows the violation, as Outcome.detail."""
    return {
        "trace": case["trace"],
        "env": case["env"],
        "replay": outcome,
        "chain_before": outcome["chain_before"],
        "chain_after": outcome["chain_after"],
        "spec": outcome.get("spec"),
        "impl": outcome.get("impl"),
    }


BOUNDED = {
    "try_to_unmap": (bounded.unmap_pre, bounded.unmap_differences),
    "reclaim": (bounded.unmap_pre, bounded.unmap_differences),  # its walks are try_to_unmap's
}


def _plain(s: State, n: int, function: str) -> list[Any]:
    """The plainest environment, preferred (soft): locks free, ptes in
    unlocked vmas of one mm, clean bits, no swap cache."""
    out = [z3.Not(s.swapcache), z3.Not(s.referenced), z3.Not(s.dirty)]
    if function not in ("page_add_rmap", "map"):
        out.append(s.fail_next == 0)
    for p in range(1, n + 2):
        out += [s.vk[p] == OK, z3.Not(s.busy[s.pmm[p]]), z3.Not(s.pd[p]), z3.Not(s.py[p]), s.pmm[p] == 1]
    return out


def _pinned_length(vc: VC) -> int:
    for term in vc.search:
        if z3.is_eq(term) and str(term.arg(0)).endswith(".n"):
            return term.arg(1).as_long()
    raise ValueError(f"{vc.name}: no pinned chain length")


def _differs(model: z3.ModelRef, s: State, n: int, arg: Any) -> Any:
    """Some choice of the environment or the pte bits differs from ``model``."""
    terms = [s.swapcache, s.fail_next > 0]
    for p in range(1, n + 2):
        terms += [s.vk[p], s.busy[s.pmm[p]]]
    if arg is not None:
        terms.append(arg)
    return z3.Or(*[t != model.eval(t, model_completion=True) for t in terms])
