"""Proof obligations as data, and what discharging one answers.

An ``Obligation`` is a name, the function or caller path it is about, the
property it states, the variant, the invariants it uses, the method that
discharges it, and a reference to the function that does (``runner``, a
"module:function" so that obligations run in other processes).  The runner,
pytest and docs/ all read the same list, ``proofs.registry.OBLIGATIONS``.

Only ``proved`` passes.  ``unknown`` and ``timeout`` fail like a
counterexample does; ``vacuous`` (the hypotheses are unsatisfiable, so the
proof says nothing) fails too.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["proved", "counterexample", "unknown", "timeout", "vacuous", "error"]
PROPERTIES = (
    "invariant preservation",
    "impl refines spec",
    "spec refines impl",
    "balanced counts",
    "return value",
    "flush order",
    "reachability",
    "call-site preconditions",
    "fix necessary",
    "deadlock freedom",
    "deadlock reachable",
    "again is transient",
)
# Properties whose obligations are long searches rather than proofs (a
# witness found and replayed for every arm of every branch): ``prove``
# runs them with --deep, as CI and the README's main job do.
SEARCHES = ("reachability",)


@dataclass(frozen=True)
class Outcome:
    status: Status
    seconds: float = 0.0
    # For a counterexample: the failing conjunct, spec state beside α(impl),
    # the concrete chain before and after, the environment's choices and
    # the replay trace (a list of trace operations) with its replay verdict.
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "proved"


@dataclass(frozen=True)
class Obligation:
    name: str  # e.g. "try_to_unmap refinement", unique within a variant
    function: str  # seed function or caller path: "try_to_unmap", "map", ...
    prop: str  # one of PROPERTIES
    variant: str  # "seed" or "fixed"
    statement: str  # the property in English
    invariants: tuple[str, ...]  # names from impl.invariants.ALL_INVARIANTS
    method: str  # "z3 unbounded (inductive)", "z3 bounded (N<=8)", "exhaustive", ...
    runner: str  # "module:function", called as function(obligation, timeout) -> Outcome

    @property
    def ident(self) -> str:
        return f"{self.name} [{self.variant}]"

    def _hook(self, name: str) -> Any:
        """The runner's module's optional ``name(obligation, ...)``, or None."""
        return getattr(importlib.import_module(self.runner.partition(":")[0]), name, None)

    def shares(self) -> tuple[str, ...]:
        """What the obligation shares with others (the runner runs such
        obligations in one worker): its module's ``share_key(obligation)``,
        if it has one, else its function and variant."""
        key: Callable[[Obligation], tuple[str, ...]] | None = self._hook("share_key")
        return key(self) if key is not None else (self.function, self.variant)

    def prepare(self, timeout: float) -> None:
        """What the runner's module can do before the obligation's own process
        starts (its ``prepare(obligation, timeout)``, if it has one), to share
        among the obligations one worker runs; it takes no longer than the
        obligation itself may."""
        prepare: Callable[[Obligation, float], None] | None = self._hook("prepare")
        if prepare is not None:
            prepare(self, timeout)

    def learn(self, outcome: Outcome) -> None:
        """What the runner's module keeps of the obligation's answer, in the
        worker that forked it (its ``learn(obligation, outcome)``, if any),
        for the obligations the worker runs next."""
        learn: Callable[[Obligation, Outcome], None] | None = self._hook("learn")
        if learn is not None:
            learn(self, outcome)

    def run(self, timeout: float) -> Outcome:
        module, _, name = self.runner.partition(":")
        fn: Callable[[Obligation, float], Outcome] = getattr(importlib.import_module(module), name)
        start = time.perf_counter()
        try:
            outcome = fn(self, timeout)
        except Exception as why:  # a crash of the prover is a failure, never a pass
            return Outcome("error", time.perf_counter() - start, {"error": f"{type(why).__name__}: {why}"})
        if not outcome.seconds:
            outcome = Outcome(outcome.status, time.perf_counter() - start, outcome.detail)
        return outcome
