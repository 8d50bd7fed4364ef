"""``rmap-verify contracts``: every condition of every contract, checked and reported."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

from impl import contracts
from impl.contracts import CONTRACTS
from proofs.crosshair.check import (
    BUDGET,
    COUNTEREXAMPLE,
    DEFAULT_BUDGET,
    ERROR,
    SAME_AS_FIXED,
    VERIFIED,
    Verdict,
    check_condition,
    conditions_of,
)
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError

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
