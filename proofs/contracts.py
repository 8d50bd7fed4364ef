"""``rmap-verify contracts``: CrossHair checks the contracts of impl/contracts.py.

Each postcondition of each entry point is one *condition*; CrossHair
explores the inputs its preconditions allow, path by path, with a budget
of CPU seconds (``time.process_time``, so the answer does not depend on
how loaded the machine is).  A condition is

- ``verified`` when CrossHair exhausted every path and each one held
  (within the bounds the preconditions set, e.g. MAX_CHAIN);
- ``no counterexample within budget`` when the budget ran out first;
- ``counterexample`` when an input breaks it: printed with the call, the
  implementation's answer and the trace that ``rmap-verify replay`` replays.

On ``seed`` every counterexample is attributed to findings by their fixes
(impl/fixes.py, one class per finding): the smallest sets of fixes that,
applied to the seed, make the condition hold on that input.  The check then goes on with those fixes
applied, so one condition shows every finding it can see, and ends on
``verified`` once the seed carries them all.  The seed run also checks,
function by function, whether the seed behaves as fixed on every input the
contract allows (diffbehavior, as a condition: see ``same_as_fixed``); each
difference is attributed the same way, and the check ends verified on the
seed with every fix grafted, so fixed differs from seed only by its fixes.

Exit 0: no counterexample and no unexplained difference; 1: otherwise.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from impl import contracts
from impl.contracts import CONTRACTS, Run, checking
from impl.fixes import FIXES
from impl.variants import variant_name
from proofs.cli import EXIT_FAILED, EXIT_OK, UsageError

DEFAULT_BUDGET = 120.0  # CPU seconds per condition; every fixed one exhausts in under 25

VERIFIED = "verified"
BUDGET = "no counterexample within budget"
COUNTEREXAMPLE = "counterexample"
ERROR = "error"

# ------------------------------------------------------------ fixes as findings


def seed_with(fixes: Sequence[str]) -> str:
    """The name of the seed variant with the fixes of ``fixes`` (finding ids)."""
    return variant_name(frozenset(fixes))


def explain(applied: Sequence[str], holds_with: Callable[[str], bool]) -> list[list[str]]:
    """Alternative sets of findings that explain a failure found on seed with
    ``applied`` fixes: the smallest sets of further fixes under which it goes
    away (``holds_with(variant name)``).  Empty: unexplained."""
    remaining = [f for f in FIXES if f not in applied]
    minimal: list[tuple[str, ...]] = []
    for size in range(1, len(remaining) + 1):
        for extra in itertools.combinations(remaining, size):
            if any(set(m) <= set(extra) for m in minimal):
                continue
            if holds_with(seed_with([*applied, *extra])):
                minimal.append(extra)
    return [list(m) for m in minimal]


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
        answer = repr(value)
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


# ------------------------------------------------------------ the command


def tasks(
    variant: str, budget: float, names: Sequence[str] | None = None, *, diff: bool = False
) -> list[tuple[str, str, int | None, float]]:
    """One task per postcondition of each chosen entry point; with ``diff``,
    one same_as_fixed task per entry point that takes arguments too."""
    chosen = [fn for fn in CONTRACTS if names is None or fn.__name__ in names]
    posts: list[tuple[str, str, int | None, float]] = [
        (variant, fn.__name__, i, budget) for fn in chosen for i in range(len(conditions_of(fn)[1]))
    ]
    if diff:
        posts += [(variant, fn.__name__, None, budget) for fn in chosen if inspect.signature(fn).parameters]
    return posts


def _map(fn: Callable[[Any], Any], items: list[Any], jobs: int) -> Iterator[Any]:
    """fn over items, in order, in ``jobs`` processes."""
    if jobs <= 1:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(fn, items)


def check(
    variant: str,
    budget: float = DEFAULT_BUDGET,
    *,
    names: Sequence[str] | None = None,
    diff: bool | None = None,
    jobs: int = 1,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the contract check (and, on seed, diffbehavior against fixed),
    printing each verdict; answers the JSON report."""
    start = time.perf_counter()
    diff = variant == "seed" if diff is None else diff
    verdicts: list[Verdict] = []
    for verdict in _map(check_condition, tasks(variant, budget, names, diff=diff), jobs):
        if verdict.condition == SAME_AS_FIXED and not any(v.condition == SAME_AS_FIXED for v in verdicts):
            out("diffbehavior: does the variant behave as fixed on every input the contract allows?")
        out(_show_verdict(verdict))
        verdicts.append(verdict)
    posts = [v for v in verdicts if v.condition != SAME_AS_FIXED]
    diffs = [v for v in verdicts if v.condition == SAME_AS_FIXED]
    unexplained = [c for v in posts for c in v.counterexamples if not c.explained_by]
    unexplained_diffs = [c for v in diffs for c in v.counterexamples if not c.explained_by]
    failed = [v for v in posts if v.status in (COUNTEREXAMPLE, ERROR)] + [
        v for v in diffs if v.status == ERROR
    ]
    counts = Counter(v.status for v in posts)
    out(
        f"{len(posts)} conditions on {variant}: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; {len(unexplained)} counterexample(s) no finding explains" if unexplained else "")
        + (
            f"; diffbehavior: {sum(len(v.counterexamples) for v in diffs)} difference(s) in {len(diffs)} "
            f"functions, {len(unexplained_diffs)} unexplained"
            if diff
            else ""
        )
        + f" ({time.perf_counter() - start:.0f} s)"
    )
    return {
        "variant": variant,
        "crosshair": _crosshair_version(),
        "per_condition_timeout_cpu_s": budget,
        "bounds": {"MAX_CHAIN": contracts.MAX_CHAIN},
        "conditions": [asdict(v) for v in posts],
        "diffbehavior": [asdict(v) for v in diffs],
        "findings_shown": sorted(
            {i for v in posts for c in v.counterexamples for s in c.explained_by for i in s}
        ),
        "ok": not failed and not unexplained_diffs,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def _crosshair_version() -> str:
    from importlib.metadata import version

    return version("crosshair-tool")


def _findings_text(sets: list[list[str]]) -> str:
    if not sets:
        return "NOT EXPLAINED by any finding"
    return " or ".join("+".join(s) for s in sets)


def _show_verdict(v: Verdict) -> str:
    head = f"{v.function:17} post: {v.condition:32}"
    is_diff = v.condition == SAME_AS_FIXED
    lines = []
    for c in v.counterexamples:
        what = "differs from fixed" if is_diff else "counterexample"
        lines.append(f"{head} {what} on {c.variant} [{_findings_text(c.explained_by)}]")
        lines.append(f"    {c.call}")
        if not is_diff:
            lines.append(f"    -> {c.answer}")
            lines += [f"    | {json.dumps(op)}" for op in c.trace or []]
    if v.status == VERIFIED:
        lines.append(f"{head} verified ({v.paths} paths, exhausted, {v.cpu_seconds:.1f} CPU s)")
    elif v.status == BUDGET:
        lines.append(f"{head} no counterexample within budget ({v.paths} paths, {v.cpu_seconds:.1f} CPU s)")
    elif v.status == ERROR:
        lines.append(f"{head} error: {v.detail}")
    elif v.counterexamples and v.final_variant != v.counterexamples[-1].variant:
        state = "verified" if "Confirmed" in v.detail else "no counterexample within budget"
        lines.append(f"{head} then {state} on {v.final_variant} ({v.paths} paths in all)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    budget = DEFAULT_BUDGET if args.per_condition_timeout is None else args.per_condition_timeout
    if not budget > 0:
        raise UsageError(f"--per-condition-timeout must be positive, not {budget}")
    if args.json_out:
        try:
            open(args.json_out, "a").close()
        except OSError as why:
            raise UsageError(f"cannot write {args.json_out}: {why.strerror}") from None
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(
        f"rmap-verify contracts --variant {args.variant}: CrossHair {_crosshair_version()}, PEP 316, "
        f"{budget:g} CPU s per condition, MAX_CHAIN={contracts.MAX_CHAIN}",
        flush=True,
    )
    report = check(args.variant, budget, jobs=jobs, out=lambda line: print(line, flush=True))
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as stream:
            json.dump(report, stream, indent=1, sort_keys=True, default=str)
            stream.write("\n")
    sys.stdout.flush()
    return EXIT_OK if report["ok"] else EXIT_FAILED
