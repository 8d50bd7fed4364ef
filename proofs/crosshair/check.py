"""One condition of a contract, explored by CrossHair path by path within a CPU budget."""

from __future__ import annotations

import ast
import inspect
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from impl import contracts
from impl.contracts import Run, checking
from proofs.crosshair.fixes import explain, seed_with

DEFAULT_BUDGET = 120.0  # CPU seconds per condition; every fixed one exhausts in under 25

VERIFIED = "verified"
BUDGET = "no counterexample within budget"
COUNTEREXAMPLE = "counterexample"
ERROR = "error"

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
    detail: str  # CrossHair's last word on it
    paths: int
    cpu_seconds: float
    counterexamples: list[Counterexample] = field(default_factory=list)
    final_variant: str = ""  # the variant the last exploration ran on
    exhausted: bool = False  # the last exploration covered every path (CrossHair confirmed it)


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


def _checkable(fn: Callable[..., Any], index: int | None, budget: float) -> Any:
    """CrossHair's check of postcondition ``index`` of ``fn`` (None: same_as_fixed)."""
    from crosshair.core_and_libs import analyze_function
    from crosshair.options import AnalysisKind, AnalysisOptionSet

    options = AnalysisOptionSet(
        analysis_kind=[AnalysisKind.PEP316],
        per_condition_timeout=budget,
        max_uninteresting_iterations=0,  # stop on exhaustion or budget only
    )
    checkables = analyze_function(fn, options)
    if index is not None:
        return checkables[index]
    base: Any = checkables[0]
    return replace(base, conditions=replace(base.conditions, post=[same_as_fixed(fn)]))


def conditions_of(fn: Callable[..., Any]) -> list[Any]:
    """The parsed PEP 316 conditions of an entry point (pre, post)."""
    from crosshair.condition_parser import Pep316Parser
    from crosshair.fnutil import FunctionInfo

    parsed = Pep316Parser().get_fn_conditions(FunctionInfo.from_fn(fn))
    assert parsed is not None
    return [parsed.pre, parsed.post]


def _holds_on(fn: Callable[..., Any], post: Any, args: dict[str, Any], variant: str) -> bool:
    try:
        with checking(variant):
            value = fn(**args)
        return bool(post.evaluate({**args, "_": value, "__return__": value}))
    except Exception:
        return False


def check_condition(task: tuple[str, str, int | None, float]) -> Verdict:
    """Explore one condition on a variant (postcondition ``index``, or
    None for same_as_fixed); on seed, go on with each counterexample's
    fixes applied until the condition holds."""
    from crosshair.statespace import MessageType

    variant, name, index, budget = task
    fn = getattr(contracts, name)
    post = conditions_of(fn)[1][index] if index is not None else same_as_fixed(fn)
    applied: list[str] = []
    verdict = Verdict(name, post.expr_source, post.line, VERIFIED, "", 0, 0.0)
    while True:
        on = seed_with(applied) if variant == "seed" else variant
        checkable = _checkable(fn, index, budget)
        checkable.options.stats = stats = Counter[str]()
        start = time.process_time()
        with checking(on):
            messages = list(checkable.analyze())
        verdict.cpu_seconds += time.process_time() - start
        verdict.paths += stats["num_paths"]
        verdict.final_variant = on
        message = messages[-1] if messages else None
        kind = message.state if message else MessageType.CANNOT_CONFIRM
        verdict.detail = message.message if message else "no answer"
        if kind == MessageType.CONFIRMED:
            verdict.exhausted = True
            verdict.status = VERIFIED if not verdict.counterexamples else COUNTEREXAMPLE
            return verdict
        if kind == MessageType.CANNOT_CONFIRM:
            verdict.status = BUDGET if not verdict.counterexamples else COUNTEREXAMPLE
            return verdict
        args = (
            _call_args(fn, verdict.detail) if kind in (MessageType.POST_FAIL, MessageType.EXEC_ERR) else None
        )
        if args is None:  # a syntax error, an unmeetable precondition, ...
            verdict.status = ERROR
            return verdict
        verdict.status = COUNTEREXAMPLE
        cex = _counterexample(fn, post, args, on, applied if variant == "seed" else None, verdict.detail)
        verdict.counterexamples.append(cex)
        if not cex.explained_by:
            return verdict
        applied += cex.explained_by[0]


def _counterexample(
    fn: Callable[..., Any],
    post: Any,
    args: dict[str, Any],
    variant: str,
    applied: list[str] | None,
    message: str,
) -> Counterexample:
    try:
        with checking(variant):
            value = fn(**args)
        answer = answer_text(value)
        trace = list(value.trace) if isinstance(value, Run) else None
    except Exception:  # the scenario itself broke: show CrossHair's report
        answer, trace = message, None
    explained = explain(applied, lambda v: _holds_on(fn, post, args, v)) if applied is not None else []
    return Counterexample(variant, _show_call(fn, args), args, answer, trace, explained)


# ------------------------------------------------------------ diffbehavior

SAME_AS_FIXED = "behaves_as_fixed(_)"


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
    from crosshair.core import deep_realize

    names = list(inspect.signature(fn).parameters)
    filename = inspect.getsourcefile(fn) or ""

    def evaluate(lcls: Any) -> bool:
        args = deep_realize({name: lcls[name] for name in names})
        with contracts.untraced(), checking("fixed"):
            want = observation(fn(**args))
        return bool(observation(lcls["_"]) == want)

    return ConditionExpr(POSTCONDITION, evaluate, filename, inspect.getsourcelines(fn)[1], SAME_AS_FIXED)
