"""Realizability: every step the spec allows, some concrete state and environment makes impl take.

"Spec refines impl" in full (issue 13): the z3 obligations show that impl
does not fault where the spec is enabled and that every step it takes is
allowed; this shows the converse on a bound (``proofs.realize_space``).
For every abstract state of the bound, every argument the spec's
precondition admits, and every environment choice the spec reads (whether
an allocation fails, each mapping's unmap outcome, as ``impl.abstraction``
reads them off a concrete state), each step the spec allows from there
(``impl.refinement.Step.allowed``: every answer and after-state) is taken
exactly by the variant's code on some preimage in some environment of the
bound.  Where the spec leaves the choice to the implementation
(``spec.ops.implementation_chooses``) one step of that choice suffices,
and the others it does not take are counted, not failed.  The outcomes of
``spec.ops`` that no environment induces are reported: the spec is looser
there than any implementation can be.  A step not realized fails, with
the abstract state, the step, and what impl did on each preimage tried.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from impl.abstraction import Unabstractable, abstraction, env_unmap_outcomes
from impl.callers import CallerPrecondition
from impl.kernel import SWAP_NAMES, KernelFault, PageLocked
from impl.refinement import Step, diff_states, result_matches
from impl.trace import Session
from impl.trace_schema import World, convert
from impl.variants import VARIANTS
from proofs.obligation import Obligation, Outcome
from proofs.realize_space import (
    PAGE,
    PAGE_FLAGS,
    RESERVED,
    Env,
    Shape,
    bounds,
    build,
    env_ops,
    environments,
    orders,
    shapes,
    world,
)
from spec import ops
from spec.state import AbsState

SPEC_OUTCOMES = (ops.SWAP_SUCCESS, ops.SWAP_AGAIN, ops.SWAP_FAIL, ops.SWAP_ERROR)  # what spec.ops takes
SWAP_VALUES = {name: value for value, name in SWAP_NAMES.items()}
SHOWN_RUNS = 6  # runs of impl a failure report lists


@dataclass(frozen=True)
class Case:
    """One operation call on a shape: its arguments, the state its preimages must be
    (the shape's, or the fault path's midway state for page_add_rmap), the trace
    operations between preimage and call, and the environments to try."""

    args: dict[str, Any]
    state: AbsState
    setup: tuple[dict[str, Any], ...]
    envs: list[Env]


def _locked(shape: Shape) -> tuple[dict[str, Any], ...]:
    return ({"op": "set_page", "pfn": PAGE, "locked": True},)  # try_to_unmap's caller holds the page lock


def _map(shape: Shape) -> Iterator[Case]:
    s = shape.abstract
    for pte in shape.names:
        for pfn in (PAGE, RESERVED):
            for dirty in (False, True):
                yield Case({"pte": pte, "pfn": pfn, "dirty": dirty}, s, (), environments(shape, (), True))


def _add(shape: Shape) -> Iterator[Case]:
    """The fault path's midway state: the pte maps the page, its count and rss are taken,
    its reverse-map entry not yet made (built by taking a made entry away again)."""
    s = shape.abstract
    for pte in shape.mapping:
        midway = s.with_(rmap=s.rmap.set(PAGE, s.rmap[PAGE] - {pte}), nr_reverse_maps=s.nr_reverse_maps - 1)
        undo = ({"op": "page_remove_rmap", "pfn": PAGE, "pte": pte},)
        yield Case({"pfn": PAGE, "pte": pte}, midway, undo, environments(shape, (), True))
    for pte in shape.holding("reserved"):
        yield Case({"pfn": RESERVED, "pte": pte}, s, (), environments(shape, (), True))


def _per_pte(shape: Shape) -> Iterator[Case]:
    for pte in shape.names:
        for pfn in (PAGE, RESERVED):
            yield Case({"pfn": pfn, "pte": pte}, shape.abstract, (), [Env()])


def _per_page(shape: Shape) -> Iterator[Case]:
    for pfn in (PAGE, RESERVED):
        yield Case({"pfn": pfn}, shape.abstract, (), [Env()])


def _unmap(locked: bool) -> Callable[[Shape], Iterator[Case]]:
    def cases(shape: Shape) -> Iterator[Case]:
        setup = _locked(shape) if locked else ()
        yield Case({"pfn": PAGE}, shape.abstract, setup, environments(shape, shape.mapping, False))

    return cases


def _unmap_one(shape: Shape) -> Iterator[Case]:
    for pte in shape.mapping:
        yield Case(
            {"pfn": PAGE, "pte": pte}, shape.abstract, _locked(shape), environments(shape, [pte], False)
        )


def _zap(shape: Shape) -> Iterator[Case]:
    for pte in shape.names:
        yield Case({"pte": pte}, shape.abstract, (), [Env()])


@dataclass(frozen=True)
class Operation:
    """An operation as realizability calls it: its trace operation, its calls on a shape, and
    the page flags its spec reads (the others stay off, to keep the bound small)."""

    trace_op: str
    cases: Callable[[Shape], Iterator[Case]]
    flags: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "page_add_rmap": Operation("page_add_rmap", _add),
    "page_remove_rmap": Operation("page_remove_rmap", _per_pte),
    "try_to_unmap_one": Operation("try_to_unmap_one", _unmap_one, ("dirty", "swapcache")),
    "try_to_unmap": Operation("try_to_unmap", _unmap(locked=True), ("dirty", "swapcache")),
    "page_referenced": Operation("referenced", _per_page, ("referenced",)),
    "map": Operation("map", _map),
    "zap": Operation("zap", _zap, ("dirty",)),
    "reclaim": Operation("reclaim", _unmap(locked=False), PAGE_FLAGS),
}


@dataclass(frozen=True)
class View:
    """The spec's view of one call, taken before it runs: α, the environment it reads, whether
    its precondition holds, and (computed once per reading) the steps it allows."""

    pre: AbsState
    env: tuple[Any, ...]
    enabled: bool
    allowed: Callable[[], list[tuple[Any, AbsState]]]


def view(session: Session, op: str, args: dict[str, Any]) -> View:
    k = session.k
    if op == "try_to_unmap_one":  # no trace-level spec: spec.ops.unmap_one, under try_to_unmap's precondition
        pre, outcomes = abstraction(k), env_unmap_outcomes(k)
        page = k.mem_map[args["pfn"]]
        enabled = ops.pre_unmap(pre, args["pfn"]) and args["pte"] in pre.rmap[args["pfn"]]
        enabled = enabled and PageLocked(page) and page.mapping is not None

        def one() -> list[tuple[Any, AbsState]]:
            r, after = ops.unmap_one(pre, args["pfn"], args["pte"], outcomes[args["pte"]])
            return [(SWAP_NAMES[r], after)]

        return View(pre, _env(pre, False, outcomes), enabled, one)
    step = Step.before(k, op, args)
    assert step is not None
    if step.pre is None:
        raise Unabstractable(f"the state before {op} has no abstraction")
    return View(step.pre, _env(step.pre, step.alloc_fails, step.outcomes), step.precondition(), step.allowed)


def _env(pre: AbsState, alloc_fails: bool, outcomes: dict[str, int] | Any) -> tuple[Any, ...]:
    """The environment as the spec reads it: the allocation, and each mapping's unmap outcome."""
    return (alloc_fails, tuple((p, outcomes[p]) for p in sorted(pre.rmap[PAGE])))


@cache
def predicted(ptes: tuple[tuple[str, str], ...], state: AbsState, env: Env) -> tuple[Any, ...] | None:
    """The environment env makes the spec read, from the world and the locks alone (no
    mapping changes a vma or a lock; page flags play no part), so that each one is tried
    only while its reading still needs a run; None for an allocation failure, which
    depends on the chain."""
    if env.alloc[0]:
        return None
    shape = Shape(ptes, referenced=False, dirty=False, swapcache=False)
    session = Session("seed")
    session.start(_world(world(shape, env)))
    for op in env_ops(env):
        session.perform(convert(op))
    return _env(state, False, env_unmap_outcomes(session.k))


@dataclass
class Run:
    """impl on one preimage in one environment."""

    trace: list[dict[str, Any]]
    order: tuple[str, ...]
    env: Env
    view: View | None = None
    why: str = ""  # why the preimage is not one (empty: it is)
    result: Any = None
    fault: str | None = None
    post: AbsState | None = None

    def takes(self, want: Any, after: AbsState) -> bool:
        return self.fault is None and self.post == after and result_matches(want, self.result)

    def allowed(self, steps: list[tuple[Any, AbsState]]) -> bool:
        return any(self.takes(r, a) for r, a in steps)

    def describe(self, want: AbsState) -> str:
        where = f"chain order {' '.join(reversed(self.order)) or '-'}, {self.env.describe()}"
        if self.fault is not None:
            return f"{where}: {self.fault}"
        if self.post is None:
            return f"{where}: answered {self.result!r}, state has no abstraction"
        differs = "; ".join(diff_states(want, self.post)) or "the same state"
        return f"{where}: answered {self.result!r}; against the step: {differs}"


def execute(variant: str, shape_state: AbsState, op: str, trace: list[dict[str, Any]], run: Run) -> Run:
    session = Session(variant)
    try:
        session.start(_world(trace[0]))
        for step in trace[1:-1]:
            session.perform(convert(step))
        run.view = view(session, op, {key: v for key, v in trace[-1].items() if key != "op"})
    except (KernelFault, CallerPrecondition, Unabstractable) as why:
        run.why = f"building it stopped: {why}"
        return run
    if run.view.pre != shape_state:
        run.why = "α of it is not the state: " + "; ".join(diff_states(shape_state, run.view.pre))
        return run
    if not run.view.enabled:
        return run
    try:
        run.result = session.perform(convert(trace[-1]))
    except (KernelFault, CallerPrecondition) as why:
        run.fault = str(why)
    try:
        run.post = abstraction(session.k)
    except Unabstractable:
        run.post = None
    return run


def _world(op: dict[str, Any]) -> World:
    valid = convert(op)
    assert isinstance(valid, World)
    return valid


def _step_class(op: str, result: Any, after: AbsState) -> Any:
    """Steps the implementation may choose among (spec.ops.implementation_chooses) are one class."""
    answer = (
        result if op == "try_to_unmap" else result.get("try_to_unmap") if isinstance(result, dict) else None
    )
    if isinstance(answer, str) and ops.implementation_chooses(SWAP_VALUES[answer]):
        return repr(result)
    return (repr(result), after)


@dataclass
class Group:
    """The runs of one case whose environments the spec reads alike."""

    allowed: list[tuple[Any, AbsState]]
    runs: list[Run] = field(default_factory=list)
    exact: set[int] = field(default_factory=set)  # indices into allowed taken exactly

    def add(self, run: Run) -> None:
        self.runs.append(run)
        self.exact |= {i for i, (r, a) in enumerate(self.allowed) if run.takes(r, a)}

    def missing(self, op: str) -> list[int]:
        """The allowed steps whose class no run took."""
        taken = {_step_class(op, *self.allowed[i]) for i in self.exact}
        return [i for i, step in enumerate(self.allowed) if _step_class(op, *step) not in taken]


def _case_groups(variant: str, op: str, shape: Shape, case: Case) -> tuple[dict[Any, Group], list[Run]]:
    """Each environment reading of the case on every chain order, as far as it still needs runs."""
    by_reading: dict[Any, list[Env]] = {}
    for env in case.envs:
        reading = predicted(shape.ptes, case.state, env) if len(case.envs) > 1 else None
        by_reading.setdefault(reading or env, []).append(env)
    groups: dict[Any, Group] = {}
    refused: list[Run] = []
    final = {"op": op, **case.args}
    for reading, envs in by_reading.items():
        for env in envs:
            done = False
            for order in orders(shape) or [()]:
                trace = [*build(shape, order, env), *case.setup, final]
                run = execute(variant, case.state, op, trace, Run(trace, order, env))
                if run.view is None or run.why:
                    refused.append(run)
                    continue
                if not run.view.enabled:
                    return {}, []  # the spec's precondition fails: it promises no step
                if isinstance(reading, tuple) and run.view.env != reading:
                    raise RuntimeError(
                        f"{env.describe()}: predicted {reading}, the spec reads {run.view.env}"
                    )
                if run.view.env not in groups:
                    groups[run.view.env] = Group(run.view.allowed())
                group = groups[run.view.env]
                group.add(run)
                done = len(group.exact) == len(group.allowed)
                if done:
                    break
            # every chain order tried in this environment: the others of its reading add nothing
            seen = groups.get(run.view.env) if run.view is not None else None
            if done or (seen is not None and not seen.missing(op)):
                break
    return groups, refused


def _changes(before: AbsState, after: AbsState) -> str:
    """What a step changes, field by field: before -> after."""
    moves = [re.sub(r": spec (.*), impl (.*)$", r": \1 -> \2", d) for d in diff_states(before, after)]
    return "; ".join(moves) or "no change"


def _env_text(env: tuple[Any, ...]) -> str:
    alloc, outcomes = env
    parts = [f"{p} {SWAP_NAMES[o]}" for p, o in outcomes]
    return f"allocation {'fails' if alloc else 'succeeds'}; unmap outcomes: {', '.join(parts) or '-'}"


def _through_caller(op: str, shape: Shape, case: Case, run: Run) -> list[dict[str, Any]]:
    """The run's trace, replayed through the caller where the call's own state is one the
    invariant does not admit (as the z3 counterexamples are): try_to_unmap_one through
    try_to_unmap, page_add_rmap of a pte unrecorded midway through the fault that maps it."""
    if op == "try_to_unmap_one":
        return [*run.trace[:-1], {"op": "try_to_unmap", "pfn": PAGE}]
    if op == "page_add_rmap" and case.setup:
        pte = case.args["pte"]
        unmapped = tuple((mm, "none") if f"p{i}" == pte else (mm, c) for i, (mm, c) in enumerate(shape.ptes))
        before = Shape(unmapped, shape.referenced, shape.dirty, shape.swapcache)
        fault = {"op": "map", "pte": pte, "pfn": PAGE, "dirty": pte in shape.holding("young dirty")}
        return [*build(before, [p for p in run.order if p != pte], run.env), fault]
    return run.trace


def _failure(op: str, shape: Shape, case: Case, groups: dict[Any, Group], refused: list[Run]) -> Outcome:
    where = {"state": shape.describe(), "operation": {"op": op, **case.args}}
    if not groups:
        why = [r.why for r in refused[:SHOWN_RUNS]]
        detail = {**where, "conjunct": "α has no preimage of this state in the bound", "why": why}
        return Outcome("counterexample", detail={**detail, "trace": refused[0].trace})
    env, group = next((e, g) for e, g in groups.items() if g.missing(op))
    steps = [group.allowed[i] for i in group.missing(op)]
    wrong = next((r for r in group.runs if not r.allowed(group.allowed)), group.runs[0])
    trace = _through_caller(op, shape, case, wrong)
    want = steps[0][1]
    return Outcome(
        "counterexample",
        detail={
            **where,
            "conjunct": f"realizability: no preimage takes the spec's step answering {steps[0][0]!r}",
            "environment": _env_text(env),
            "unrealized steps": [f"answer {r!r}: {_changes(case.state, a)}" for r, a in steps],
            "impl did": [r.describe(want) for r in group.runs[:SHOWN_RUNS]],
            "trace": trace,
        },
    )


def check(ob: Obligation, timeout: float) -> Outcome:
    operation = OPERATIONS[ob.function]
    op = operation.trace_op
    start = time.perf_counter()
    states = calls = exact = steps = 0
    induced: set[int] = set()
    for shape in shapes(operation.flags):
        states += 1
        for case in operation.cases(shape):
            if time.perf_counter() - start > timeout:
                return Outcome("timeout", detail={"abstract states checked": states})
            groups, refused = _case_groups(ob.variant, op, shape, case)
            if not groups and not refused:
                continue  # outside the spec's precondition
            if not groups or any(g.missing(op) for g in groups.values()):
                return _failure(op, shape, case, groups, refused)
            calls += 1
            for env, group in groups.items():
                induced |= {o for _, o in env[1]}
                exact += len(group.exact)
                steps += len(group.allowed)
    detail: dict[str, Any] = {
        "abstract states": states,
        "calls in the spec's precondition": calls,
        "steps realized exactly": f"{exact} of {steps} (the rest are choices left to the implementation)",
        "bounds": bounds(operation.flags),
    }
    if op in ("try_to_unmap", "try_to_unmap_one", "reclaim"):
        never = [SWAP_NAMES[o] for o in SPEC_OUTCOMES if o not in induced]
        detail["spec outcomes no environment induces"] = never or "none"
    return Outcome("proved", detail=detail)


STATEMENT = (
    "Realizability (spec refines impl, in full): for every abstract state of the bound, every call the "
    "spec's precondition admits and every environment choice the spec reads that some environment of the "
    "bound induces (allocation failure; each mapping's unmap outcome), every step the spec allows (each "
    "answer and after-state) is taken exactly by {f} on some concrete preimage (α of it is that state; "
    "direct or chain, every chain order) in some environment; where spec.ops.implementation_chooses leaves "
    "the choice to the implementation (which SWAP_SUCCESS mappings go once the answer is FAIL or ERROR), "
    "one step of it suffices. Unmap outcomes no environment induces are reported (SWAP_ERROR: 2.5.31's "
    "try_to_unmap_one never answers it): the spec is looser there than any implementation."
)


def obligations(variants: tuple[str, ...] | None = None) -> list[Obligation]:
    """One realizability obligation per operation, for every registered variant (or those named)."""
    return [
        Obligation(
            name=f"{function} realizability",
            function=function,
            prop="spec refines impl",
            variant=variant,
            statement=STATEMENT.format(f=function),
            invariants=(),  # the shapes satisfy spec.invariants; realizability states none
            method=f"exhaustive on impl/ (bounded: {bounds(operation.flags)})",
            runner="proofs.realizability:check",
        )
        for variant in variants or tuple(VARIANTS)
        for function, operation in OPERATIONS.items()
    ]


OBLIGATIONS: list[Obligation] = obligations()
