"""``rmap-verify contracts``: every condition of every contract, checked and reported."""

from __future__ import annotations

import argparse
import inspect
import json
import math
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
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
from proofs.tool import cli
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError
from proofs.tool.select import compile_expression
from proofs.tool.workers import InOrder, Stopped, run_tasks

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


Task = tuple[str, str, int | None, float]  # variant, entry point, postcondition index (None: diff), budget


def task_keywords(task: Task) -> tuple[str, ...]:
    """What a ``-k`` word may match: the entry point, the condition's text, diffbehavior's name."""
    _, name, index, _ = task
    condition = (
        conditions_of(getattr(contracts, name))[1][index].expr_source if index is not None else SAME_AS_FIXED
    )
    return name, condition, "diffbehavior" if index is None else "post"


def _verdicts(chosen: list[Task], jobs: int) -> Iterator[tuple[int, Verdict]]:
    """(index, verdict) in task order as each becomes available; Stopped on Ctrl-C."""
    if jobs <= 1:
        done: list[tuple[int, Verdict]] = []
        try:
            for i, task in enumerate(chosen):
                done.append((i, check_condition(task)))
                yield done[-1]
        except KeyboardInterrupt:
            raise Stopped(done) from None
        return
    order: InOrder[Verdict] = InOrder()
    ready: list[tuple[int, Verdict]] = []
    try:
        for i, verdict in run_tasks(check_condition, chosen, jobs, failed=_worker_failed):
            for pair in order.add(i, verdict):
                ready.append(pair)
                yield pair
    except Stopped:
        raise Stopped(ready) from None


def _worker_failed(why: BaseException) -> Verdict:
    return Verdict("?", "?", 0, ERROR, f"worker failed: {type(why).__name__}: {why}", 0, 0.0)


def check(
    variant: str,
    budget: float = DEFAULT_BUDGET,
    *,
    names: Sequence[str] | None = None,
    diff: bool | None = None,
    jobs: int = 1,
    out: Callable[[str], None] = print,
    pattern: str | None = None,
    require_verified: bool = False,
) -> dict[str, Any]:
    """Run the contract check (and, on seed, diffbehavior against fixed),
    printing each verdict in task order; answers the JSON report, which a
    Ctrl-C leaves with ``complete: false`` and the conditions not run."""
    start = time.perf_counter()
    diff = variant == "seed" if diff is None else diff
    chosen = select(tasks(variant, budget, names, diff=diff), pattern)
    verdicts: list[Verdict] = []
    try:
        for _, verdict in _verdicts(chosen, jobs):
            if verdict.condition == SAME_AS_FIXED and not any(v.condition == SAME_AS_FIXED for v in verdicts):
                out("diffbehavior: does the variant behave as fixed on every input the contract allows?")
            out(_show_verdict(verdict))
            verdicts.append(verdict)
    except Stopped:
        pass
    not_run = [f"{t[1]} {task_keywords(t)[1]}" for t in chosen[len(verdicts) :]]
    posts = [v for v in verdicts if v.condition != SAME_AS_FIXED]
    diffs = [v for v in verdicts if v.condition == SAME_AS_FIXED]
    unexplained = [c for v in posts for c in v.counterexamples if not c.explained_by]
    unexplained_diffs = [c for v in diffs for c in v.counterexamples if not c.explained_by]
    failed = [v for v in posts if v.status in (COUNTEREXAMPLE, ERROR)] + [
        v for v in diffs if v.status == ERROR
    ]
    unverified = [v for v in verdicts if not v.exhausted] if require_verified else []
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
        + (f"; {len(unverified)} not verified (--require-verified)" if unverified else "")
        + (f"; INCOMPLETE: {len(not_run)} not run (interrupted)" if not_run else "")
        + f" ({time.perf_counter() - start:.0f} s)"
    )
    return {
        "variant": variant,
        "crosshair": _crosshair_version(),
        "per_condition_timeout_cpu_s": budget,
        "bounds": {"MAX_CHAIN": contracts.MAX_CHAIN},
        "selection": pattern,
        "conditions": [asdict(v) for v in posts],
        "diffbehavior": [asdict(v) for v in diffs],
        "findings_shown": sorted(
            {i for v in posts for c in v.counterexamples for s in c.explained_by for i in s}
        ),
        "ok": not failed and not unexplained_diffs and not unverified and not not_run,
        "complete": not not_run,
        "not_run": not_run,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def select(chosen: list[Task], pattern: str | None) -> list[Task]:
    if pattern is None:
        return chosen
    matches = compile_expression(pattern)
    picked = [t for t in chosen if matches(task_keywords(t))]
    if not picked:
        raise UsageError(f"-k {pattern!r} selects none of the {len(chosen)} conditions")
    return picked


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


def to_junit(report: dict[str, Any]) -> str:
    """One testcase per condition: a counterexample or error is a failure, a budget-only one too
    when the run required verified conditions; conditions an interrupt left out are skipped."""
    rows = [*report["conditions"], *report["diffbehavior"]]
    suite = ET.Element(
        "testsuite", name="rmap-verify contracts", tests=str(len(rows) + len(report["not_run"]))
    )
    failures = 0
    for row in rows:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report['variant']}.{row['function']}",
            name=f"{row['function']} {row['condition']}",
            time=f"{row['cpu_seconds']:.3f}",
        )
        unexplained = [c for c in row["counterexamples"] if not c["explained_by"]]
        is_diff = row["condition"] == SAME_AS_FIXED
        bad = row["status"] == ERROR or unexplained or (row["status"] == COUNTEREXAMPLE and not is_diff)
        if bad or (report.get("required_verified") and not row["exhausted"]):
            failures += 1
            failure = ET.SubElement(
                case, "failure", type=row["status"], message=f"{row['status']}: {row['detail'][:200]}"
            )
            failure.text = (
                "\n".join(f"{c['call']} -> {c['answer']}" for c in row["counterexamples"]) or row["detail"]
            )
    for name in report["not_run"]:
        case = ET.SubElement(suite, "testcase", classname="not_run", name=name, time="0")
        ET.SubElement(case, "skipped", message="the run was interrupted before this condition")
    suite.set("failures", str(failures))
    suite.set("skipped", str(len(report["not_run"])))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _print_list(chosen: list[Task], json_out: str | None) -> None:
    rows = [{"function": t[1], "condition": task_keywords(t)[1], "kind": task_keywords(t)[2]} for t in chosen]
    if json_out is not None:
        cli.write_output(json_out, json.dumps(rows, indent=1) + "\n", "--json")
    if json_out != "-":
        for row in rows:
            print(f"{row['function']:17} {row['kind']:12} {row['condition']}")
        print(f"{len(rows)} conditions")


def run(args: argparse.Namespace) -> int:
    budget = DEFAULT_BUDGET if args.per_condition_timeout is None else args.per_condition_timeout
    if not (budget > 0 and math.isfinite(budget)):
        raise UsageError(f"--per-condition-timeout must be a positive number of CPU seconds, not {budget:g}")
    jobs = cli.jobs(args.jobs)
    for path, option in ((args.json_out, "--json"), (args.junit_out, "--junit")):
        if path is not None:
            cli.writable_file(path, option)
    if args.list:
        _print_list(
            select(tasks(args.variant, budget, diff=args.variant == "seed"), args.pattern), args.json_out
        )
        return EXIT_OK
    if "-" in (args.json_out, args.junit_out):
        raise UsageError("a report goes to standard output only with --list: the run's own text is there")
    print(
        f"rmap-verify contracts --variant {args.variant}: CrossHair {_crosshair_version()}, PEP 316, "
        f"{budget:g} CPU s per condition, MAX_CHAIN={contracts.MAX_CHAIN}",
        flush=True,
    )
    report = check(
        args.variant,
        budget,
        jobs=jobs,
        out=lambda line: print(line, flush=True),
        pattern=args.pattern,
        require_verified=args.require_verified,
    )
    report["required_verified"] = args.require_verified
    if args.json_out:
        cli.write_output(
            args.json_out, json.dumps(report, indent=1, sort_keys=True, default=str) + "\n", "--json"
        )
    if args.junit_out:
        cli.write_output(args.junit_out, to_junit(report), "--junit")
    if not report["complete"]:
        done = len(report["conditions"]) + len(report["diffbehavior"])
        total = done + len(report["not_run"])
        raise cli.Interrupted(
            f"{done} of {total} conditions finished; the reports written say complete: false"
        )
    return EXIT_OK if report["ok"] else EXIT_FAILED
