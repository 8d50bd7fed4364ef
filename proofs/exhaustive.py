"""A bounded, exhaustive check on impl/ itself: try_to_unmap's chain surgery.

The z3 obligations of try_to_unmap state the whole representation invariant
and every counter at once, so on ``seed`` their first counterexample is the
cheapest finding (F2, the counter) and hides the other one in the same loop
(F1, the chain surgery).  This obligation isolates the surgery: for every
chain of 1 to ``MAX_CHAIN`` mappings and every outcome of each (unmapped,
page_table_lock busy, no vma, VM_LOCKED), the reverse map keeps the entries
whose unmap did not succeed and, only once one of them can never succeed,
any it left untried (spec.ops.unmap_may_leave), the chain stays well
formed, and no pte_chain node leaks.  It runs the real callers and try_to_unmap through
``impl.trace.Session``, so it checks the code that runs; it is bounded and
says so in its method.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

from impl.abstraction import abstraction
from impl.invariants import REP_INVARIANTS, violations
from impl.kernel import SWAP_AGAIN, SWAP_FAIL, SWAP_SUCCESS
from impl.refinement import Step
from impl.trace import Session
from impl.variants import VARIANTS
from proofs.obligation import Obligation, Outcome
from spec.ops import unmap_may_leave
from spec.state import AbsState

MAX_CHAIN = 4
# Each case's outcome, and the answer try_to_unmap_one gives for it.
OUTCOMES = {"unmapped": SWAP_SUCCESS, "lock busy": SWAP_AGAIN, "no vma": SWAP_FAIL, "VM_LOCKED": SWAP_FAIL}
CHECKED = (*(inv.name for inv in REP_INVARIANTS), "spec_rmap_sound", "spec_rmap_complete")


def case_trace(outcomes: tuple[str, ...]) -> list[dict[str, Any]]:
    """One page mapped by ptes p0..pN-1, each in its own mm (so each gets
    its own outcome), then try_to_unmap as shrink_cache calls it.  The
    chain is pN-1 first: page_add_rmap pushes at the head."""
    n = len(outcomes)
    ops: list[dict[str, Any]] = [
        {
            "op": "world",
            "pages": [{"pfn": 1, "count": 1, "mapping": "file"}],
            "mms": [{"name": f"m{i}", "vmas": [{"start": 0, "end": 16384}]} for i in range(n)],
            "ptes": [{"name": f"p{i}", "mm": f"m{i}", "address": 4096} for i in range(n)],
        },
        *({"op": "map", "pte": f"p{i}", "pfn": 1} for i in range(n)),
    ]
    for i, outcome in enumerate(outcomes):
        mm = f"m{i}"
        if outcome == "lock busy":
            ops.append({"op": "lock", "mm": mm})
        elif outcome == "no vma":
            ops.append({"op": "vmas", "mm": mm, "vmas": []})
        elif outcome == "VM_LOCKED":
            ops.append({"op": "mlock", "mm": mm, "address": 4096})
    ops += [{"op": "set_page", "pfn": 1, "locked": True}, {"op": "try_to_unmap", "pfn": 1}]
    return ops


def cases() -> Iterator[tuple[str, ...]]:
    """Every outcome assignment, shortest chains first (so the first
    counterexample is a smallest one)."""
    for n in range(1, MAX_CHAIN + 1):
        yield from itertools.product(OUTCOMES, repeat=n)


def _broken(session: Session, before: AbsState, outcomes: tuple[str, ...]) -> str | None:
    """What is wrong after the case ran, or None."""
    bad = {name: msgs for name, msgs in violations(session.k).items() if name in CHECKED}
    if bad:
        name, msgs = next(iter(bad.items()))
        return f"{name}: {msgs[0]}"
    answers = {f"p{i}": OUTCOMES[o] for i, o in enumerate(outcomes)}
    kept = abstraction(session.k).rmap[1]
    if not unmap_may_leave(before, 1, answers, before.rmap[1] - kept):
        stay = sorted(p for p, a in answers.items() if a != SWAP_SUCCESS)
        return f"the reverse map keeps {sorted(kept)}, but the entries that may stay are {stay}"
    return None


def check_chain_surgery(ob: Obligation, timeout: float) -> Outcome:
    start = time.perf_counter()
    checked = 0
    for outcomes in cases():
        if time.perf_counter() - start > timeout:
            return Outcome("timeout", detail={"cases checked": checked})
        trace = case_trace(outcomes)
        session = Session(ob.variant)
        for op in trace[:-1]:
            session.apply(op)
        step = Step.before(session.k, "try_to_unmap", trace[-1])
        if step is None or not step.precondition():
            return Outcome("vacuous", detail={"reason": f"the spec's precondition fails for {outcomes}"})
        before = abstraction(session.k)
        record = session.apply(trace[-1])
        checked += 1
        why = (record["fault"] and record["fault"]["why"]) or _broken(session, before, outcomes)
        if why:
            return Outcome(
                "counterexample",
                detail={"conjunct": why, "outcomes (p0..)": list(outcomes), "trace": trace},
            )
    return Outcome("proved", detail={"cases checked": checked})


OBLIGATIONS: list[Obligation] = [
    Obligation(
        name="try_to_unmap chain surgery",
        function="try_to_unmap",
        prop="invariant preservation",
        variant=variant,
        statement="For every chain of 1 to 4 mappings and every outcome of each (unmapped, "
        "page_table_lock busy, no vma, VM_LOCKED), try_to_unmap leaves a well-formed reverse map "
        "holding the entries whose unmap did not succeed (and, once one can never succeed, any it "
        "left untried: spec.ops.unmap_may_leave), and no pte_chain node leaks.",
        invariants=CHECKED,
        method=f"exhaustive on impl/ (bounded: chains <= {MAX_CHAIN}, {len(OUTCOMES)} outcomes each)",
        runner="proofs.exhaustive:check_chain_surgery",
    )
    for variant in VARIANTS
]
