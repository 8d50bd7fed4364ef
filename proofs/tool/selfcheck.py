"""Obligations that answer each way on purpose, to test the runner itself.

They are not proofs of anything and are not in ``proofs.registry``: the
runner's tests and the soundness tests run them to show that only
``proved`` passes, that a hung solver is killed and reported as a timeout,
that a crash is an error, and that a counterexample which does not replay
on impl/ fails the run.
"""

from __future__ import annotations

import json
import os
import time

from impl.variants import fixes_of
from proofs.findings import finding
from proofs.obligation import Obligation, Outcome


def _f1_trace() -> list[dict[str, object]]:
    with finding("F1").trace.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def proves(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("proved")


def proves_slowly(obligation: Obligation, timeout: float) -> Outcome:
    """Proved after a second: an obligation that finishes after the ones listed behind it."""
    time.sleep(1.0)
    return Outcome("proved")


def finds_f1(obligation: Obligation, timeout: float) -> Outcome:
    """F1's trace: it shows the lost entry on seed and nothing on fixed.  On
    the seed with F1's fix (``seed+F1...``, where attribution runs it again)
    the obligation holds; on ``fixed`` it answers the trace all the same, a
    counterexample that does not replay."""
    if obligation.variant.startswith("seed+") and "F1" in (fixes_of(obligation.variant) or ()):
        return Outcome("proved")
    return Outcome("counterexample", detail={"conjunct": "spec_rmap_complete", "trace": _f1_trace()})


def finds_nothing(obligation: Obligation, timeout: float) -> Outcome:
    """A counterexample whose trace maps a page correctly and stops: it shows nothing."""
    trace = _f1_trace()[:2]
    return Outcome("counterexample", detail={"conjunct": "spec_rmap_complete", "trace": trace})


def finds_without_trace(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("counterexample", detail={"conjunct": "spec_rmap_complete"})


def answers_unknown(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("unknown", detail={"reason": "incomplete quantifiers"})


def answers_timeout(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("timeout", detail={"reason": f"canceled after {timeout} s"})


def hangs(obligation: Obligation, timeout: float) -> Outcome:
    """A solver that ignores its timeout (as if stuck in native code)."""
    while True:
        time.sleep(60)


def is_vacuous(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("vacuous", detail={"reason": "the hypotheses are unsatisfiable"})


def crashes(obligation: Obligation, timeout: float) -> Outcome:
    raise RuntimeError("the encoder failed")


def dies(obligation: Obligation, timeout: float) -> Outcome:
    """The prover process vanishes (as if z3 segfaulted)."""
    os._exit(3)


def answers_unpicklable(obligation: Obligation, timeout: float) -> Outcome:
    return Outcome("proved", detail={"model": lambda: None})


def obligation(runner: str, variant: str = "seed") -> Obligation:
    """A self-check obligation run by ``proofs.tool.selfcheck.<runner>``."""
    return Obligation(
        name=f"selfcheck {runner}",
        function="selfcheck",
        prop="invariant preservation",
        variant=variant,
        statement=f"the runner reports what proofs.tool.selfcheck.{runner} answers",
        invariants=(),
        method="selfcheck",
        runner=f"proofs.tool.selfcheck:{runner}",
    )
