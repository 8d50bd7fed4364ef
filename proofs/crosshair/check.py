"""The conditions of one contract, explored by CrossHair path by path within a CPU budget.

Every input of a contract's world is made concrete on entry
(``impl.contracts.concrete``), so CrossHair's paths are its worlds, one
each, and the conditions (the postconditions, and diffbehavior's
``behaves_as_fixed``) are concrete checks of the same run.  So one
exploration of a contract on a variant checks all of its conditions at
once: CrossHair is handed a single postcondition that evaluates each of
them and notes the first input each fails on, and holds (so that the
search goes on) unless the run is to stop at the first failure.  A
condition is verified when that exploration exhausted its paths and the
condition held on each.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from impl import contracts
from impl.contracts import Run, checking
from impl.variants import fixes_of, variant_name
from proofs.crosshair.fixes import explain

DEFAULT_BUDGET = 120.0  # CPU seconds per exploration; every fixed one exhausts well within it

VERIFIED = "verified"
BUDGET = "no counterexample within budget"
COUNTEREXAMPLE = "counterexample"
ERROR = "error"

SAME_AS_FIXED = "behaves_as_fixed(_)"

# ------------------------------------------------------------ conditions


@dataclass
class Counterexample:
    variant: str  # where CrossHair found it
    call: str
    args: dict[str, Any]
    answer: str  # what the implementation did
    trace: list[dict[str, Any]] | None  # rmap-verify replay input
    explained_by: list[list[str]]  # alternative finding sets; empty: none explains it


@dataclass
class Verdict:
    function: str
    condition: str
    line: int
    status: str
    detail: str  # CrossHair's last word on the exploration that decided it
    paths: int  # of the explorations it took (shared with the contract's other conditions)
    cpu_seconds: float
    counterexamples: list[Counterexample] = field(default_factory=list)
    final_variant: str = ""  # the variant the last exploration ran on
    exhausted: bool = False  # the last exploration covered every path (CrossHair confirmed it)
    # asked for (``record``): the contract's worlds and what they call, when exhausted
    record: dict[str, Any] | None = None


@dataclass
class Exploration:
    """One CrossHair search of a contract's worlds on one variant."""

    variant: str
    failures: dict[int, dict[str, Any]]  # condition -> the first input it fails on
    paths: int
    cpu_seconds: float
    exhausted: bool
    detail: str
    error: bool = False  # CrossHair could not check the contract at all
    worlds: list[dict[str, Any]] = field(default_factory=list)  # each path's arguments


def _call_args(fn: Callable[..., Any], message: str) -> dict[str, Any] | None:
    """The arguments of the call CrossHair's message reports."""
    start = message.find(f"when calling {fn.__name__}(")
    if start < 0:
        return None
    text = message[start + len("when calling ") :]
    for end in (i for i, ch in enumerate(text) if ch == ")"):
        try:
            call = ast.parse(text[: end + 1], mode="eval").body
        except SyntaxError:
            continue
        if isinstance(call, ast.Call):
            values = [ast.literal_eval(a) for a in call.args]
            kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg}
            return dict(inspect.signature(fn).bind(*values, **kwargs).arguments)
    return None


def _show_call(fn: Callable[..., Any], args: dict[str, Any]) -> str:
    return f"{fn.__name__}({', '.join(f'{k}={v!r}' for k, v in args.items())})"


def answer_text(value: object) -> str:
    """What the implementation did on a counterexample's input, in words (never a repr)."""
    if not isinstance(value, Run):
        return json.dumps(value, default=str)
    r = value.record
    parts = [f"result {json.dumps(r['result'])}"]
    if r["fault"]:
        parts.append(f"{r['fault']['kind']} in {r['fault']['where']}: {r['fault']['why']}")
    if r["violations"]:
        parts.append("violates " + ", ".join(sorted(r["violations"])))
    if r["spec_mismatch"]:
        parts.append(f"differs from the spec: {r['spec_mismatch'][0]}")
    return "; ".join(parts)


def conditions_of(fn: Callable[..., Any]) -> list[Any]:
    """The parsed PEP 316 conditions of an entry point (pre, post)."""
    from crosshair.condition_parser import Pep316Parser
    from crosshair.fnutil import FunctionInfo

    parsed = Pep316Parser().get_fn_conditions(FunctionInfo.from_fn(fn))
    assert parsed is not None
    return [parsed.pre, parsed.post]


def condition(fn: Callable[..., Any], index: int | None) -> Any:
    """Postcondition ``index`` of ``fn``, or (None) its diffbehavior condition."""
    return conditions_of(fn)[1][index] if index is not None else same_as_fixed(fn)


def _holds_on(fn: Callable[..., Any], post: Any, args: dict[str, Any], variant: str) -> bool:
    try:
        with checking(variant):
            value = fn(**args)
        return bool(post.evaluate({**args, "_": value, "__return__": value}))
    except Exception:
        return False


def explore(
    fn: Callable[..., Any], posts: list[Any], variant: str, budget: float, *, fail_fast: bool = False
) -> Exploration:
    """Search every world of ``fn`` on ``variant``, checking each of ``posts``."""
    from crosshair.condition_parser import POSTCONDITION, ConditionExpr
    from crosshair.core_and_libs import analyze_function
    from crosshair.options import AnalysisKind, AnalysisOptionSet
    from crosshair.statespace import MessageType

    names = list(inspect.signature(fn).parameters)
    failures: dict[int, dict[str, Any]] = {}
    worlds: list[dict[str, Any]] = []

    def evaluate(lcls: Any) -> bool:
        with contracts.untraced():  # a plain dict of plain values (a record writes it as JSON)
            chosen = contracts.last_choices()  # this path's, realized once by the body
            args = dict(zip(names, chosen, strict=True)) if len(chosen) == len(names) else {}
            worlds.append(args)
            value = lcls["_"]
            for i, post in enumerate(posts):
                if i not in failures and not post.evaluate({**args, "_": value, "__return__": value}):
                    failures[i] = args
        return not (fail_fast and failures)

    options = AnalysisOptionSet(
        analysis_kind=[AnalysisKind.PEP316],
        per_condition_timeout=budget,
        max_uninteresting_iterations=0,  # stop on exhaustion or budget only
    )
    base: Any = analyze_function(fn, options)[0]
    every = ConditionExpr(POSTCONDITION, evaluate, posts[0].filename, posts[0].line, "every condition")
    checkable = replace(base, conditions=replace(base.conditions, post=[every]))
    checkable.options.stats = stats = Counter[str]()
    start = time.process_time()
    with checking(variant):
        messages = list(checkable.analyze())
    cpu = time.process_time() - start
    message = messages[-1] if messages else None
    kind = message.state if message else MessageType.CANNOT_CONFIRM
    detail = message.message if message else "no answer"
    exhausted = kind == MessageType.CONFIRMED
    exploration = Exploration(variant, failures, stats["num_paths"], cpu, exhausted, detail, worlds=worlds)
    if kind == MessageType.EXEC_ERR:  # the contract's body raised: every condition fails there
        args = _call_args(fn, detail)
        exploration.failures = dict.fromkeys(range(len(posts)), args) if args is not None else {}
        exploration.error = args is None
    elif kind not in (MessageType.CONFIRMED, MessageType.CANNOT_CONFIRM, MessageType.POST_FAIL):
        exploration.error = True  # an unmeetable precondition, a syntax error, ...
    return exploration


# variant, contract, its conditions (postcondition indices; None: same_as_fixed),
# CPU budget, chain bounds (impl.contract_worlds.WORLDS), fail fast, record
Task = tuple[str, str, tuple[int | None, ...], float, dict[str, int], bool, bool]


def check_contract(task: Task) -> list[Verdict]:
    """Explore a contract's chosen conditions (postcondition indices; None:
    same_as_fixed) on a variant, in worlds of chains up to ``bounds``;
    on a variant made of fixes that lacks some (``seed``, ``seed+F2``,
    ``fixed-F3``), go on with each counterexample's missing fixes applied
    until each condition holds, one exploration per variant serving every
    condition.  A variant not made of fixes has nothing to attribute to.
    With ``record``, each verdict also holds the worlds the exploration on
    the variant went through and the functions of impl/ they call there
    (``calls_of``), when it exhausted them (None otherwise: not known)."""
    variant, name, indices, budget, bounds, fail_fast, record = task
    base = fixes_of(variant)  # None: not made of fixes
    fn = getattr(contracts, name)
    posts = [condition(fn, i) for i in indices]
    explorations: dict[str, Exploration] = {}

    def explored(on: str) -> Exploration:
        if on not in explorations:
            with checking(on, bounds):
                explorations[on] = explore(fn, posts, on, budget, fail_fast=fail_fast)
        return explorations[on]

    verdicts = []
    for i, post in enumerate(posts):
        verdict = Verdict(name, post.expr_source, post.line, VERIFIED, "", 0, 0.0)
        applied: list[str] = []
        while True:
            on = variant_name(base | set(applied)) if base is not None and applied else variant
            ex = explored(on)
            verdict.paths += ex.paths
            verdict.cpu_seconds += ex.cpu_seconds
            verdict.final_variant, verdict.detail, verdict.exhausted = on, ex.detail, ex.exhausted
            args = ex.failures.get(i)
            if ex.error:
                verdict.status = ERROR
                break
            if args is None:
                if not verdict.counterexamples:
                    verdict.status = VERIFIED if ex.exhausted else BUDGET
                break
            verdict.status = COUNTEREXAMPLE
            present = None if base is None else base | set(applied)
            cex = _counterexample(fn, post, args, on, present, ex.detail)
            verdict.counterexamples.append(cex)
            if not cex.explained_by:
                break
            applied += cex.explained_by[0]
        verdicts.append(verdict)
    first = explorations.get(variant)
    if record and first is not None and first.exhausted and not first.error:
        with checking(variant, bounds):
            recorded = {"calls": calls_of(fn, first.worlds), "worlds": first.worlds}
        for verdict in verdicts:
            verdict.record = recorded
    return verdicts


def replay_worlds(name: str, worlds: list[dict[str, Any]], variant: str) -> tuple[str, dict[str, Any]] | None:
    """The first condition of contract ``name`` that fails, and the world it
    fails in, when each of ``worlds`` (a ``record``'s) is run concretely on
    ``variant``; None when every postcondition holds in every one.  On
    worlds an exhausted exploration recorded this is the exploration's own
    verdict: CrossHair's paths are those worlds, each run concretely."""
    fn = getattr(contracts, name)
    posts = conditions_of(fn)[1]
    with checking(variant):
        for args in worlds:
            try:
                value = fn(**args)
            except Exception as why:
                return f"raised {type(why).__name__}: {why}", args
            for post in posts:
                if not post.evaluate({**args, "_": value, "__return__": value}):
                    return post.expr_source, args
    return None


def calls_of(fn: Callable[..., Any], worlds: list[dict[str, Any]]) -> list[str]:
    """``file:function`` of every function of impl/ that a run of ``fn`` in
    one of ``worlds`` calls, its set-up included, each run replayed
    concretely (no CrossHair) under a profile hook.  A contract's worlds are
    its preconditions' alone (its body makes every choice concrete first),
    so a change to a function none of its worlds call cannot change any of
    its verdicts."""
    impl_dir = Path(contracts.__file__).parent
    seen: set[tuple[str, str]] = set()

    def hook(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add((frame.f_code.co_filename, frame.f_code.co_name))

    sys.setprofile(hook)
    try:
        for args in worlds:
            with contextlib.suppress(Exception):  # a failure is the verdicts' to report
                fn(**args)
    finally:
        sys.setprofile(None)
    root = impl_dir.parent
    return sorted(
        f"{Path(file).relative_to(root)}:{name}" for file, name in seen if Path(file).parent == impl_dir
    )


def _counterexample(
    fn: Callable[..., Any],
    post: Any,
    args: dict[str, Any],
    variant: str,
    present: frozenset[str] | None,
    message: str,
) -> Counterexample:
    try:
        with checking(variant):
            value = fn(**args)
        answer = answer_text(value)
        trace = list(value.trace) if isinstance(value, Run) else None
    except Exception:  # the scenario itself broke: show CrossHair's report
        answer, trace = message, None
    explained = explain(present, lambda v: _holds_on(fn, post, args, v)) if present is not None else []
    return Counterexample(variant, _show_call(fn, args), args, answer, trace, explained)


# ------------------------------------------------------------ diffbehavior


def observation(value: object) -> object:
    """What a comparison of two variants sees of a run: the result, the
    fault's kind, the concrete state after the call, the TLB flushes and
    which conjuncts fail (not the messages, which name source lines)."""
    if not isinstance(value, Run):
        return value
    r = value.record
    state = {key: r[key] for key in ("pages", "mms", "ptes", "swap", "nr_reverse_maps", "pte_chain_objects")}
    return (
        repr(r["result"]),
        r["fault"] and r["fault"]["kind"],
        json.dumps(state, sort_keys=True),
        json.dumps(r["flushes"]),
        tuple(sorted(r["violations"])),
        bool(r["spec_mismatch"]),
    )


def same_as_fixed(fn: Callable[..., Any]) -> Any:
    """The diffbehavior condition on ``fn``: on the same input, the variant
    under check and ``fixed`` are observed alike.  It is checked like a
    postcondition (under the contract's preconditions, path by path, with
    exhaustion reported), which CrossHair's own diffbehavior does not do:
    it ignores preconditions and reports no exhaustion."""
    from crosshair.condition_parser import POSTCONDITION, ConditionExpr

    names = list(inspect.signature(fn).parameters)
    filename = inspect.getsourcefile(fn) or ""

    def evaluate(lcls: Any) -> bool:
        args = {name: lcls[name] for name in names}
        with contracts.untraced(), checking("fixed"):
            want = observation(fn(**args))
        return bool(observation(lcls["_"]) == want)

    return ConditionExpr(POSTCONDITION, evaluate, filename, inspect.getsourcelines(fn)[1], SAME_AS_FIXED)
