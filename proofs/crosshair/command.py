"""``rmap-verify contracts``: every condition of every contract, checked and reported."""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import math
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from impl import contracts
from impl.contract_worlds import WORLD_BOUNDS, WORLDS
from impl.contracts import CONTRACTS
from proofs.attribution import missing_fixes
from proofs.crosshair.check import (
    BUDGET,
    COUNTEREXAMPLE,
    DEFAULT_BUDGET,
    ERROR,
    SAME_AS_FIXED,
    VERIFIED,
    Task,
    Verdict,
    check_contract,
    conditions_of,
    replay_worlds,
)
from proofs.tool import cli
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError
from proofs.tool.paths import ROOT
from proofs.tool.select import compile_expression
from proofs.tool.workers import InOrder, Stopped, run_tasks

# ------------------------------------------------------------ the command

Condition = tuple[str, int | None]  # entry point, postcondition index (None: diffbehavior)


def conditions(names: Sequence[str] | None = None, *, diff: bool = False) -> list[Condition]:
    """Every postcondition of each chosen entry point, in order; with
    ``diff``, then one same_as_fixed condition per entry point that takes
    arguments."""
    chosen = [fn for fn in CONTRACTS if names is None or fn.__name__ in names]
    posts: list[Condition] = [(fn.__name__, i) for fn in chosen for i in range(len(conditions_of(fn)[1]))]
    if diff:
        posts += [(fn.__name__, None) for fn in chosen if inspect.signature(fn).parameters]
    return posts


def keywords(c: Condition) -> tuple[str, ...]:
    """What a ``-k`` word may match: the entry point, the condition's text, diffbehavior's name."""
    name, index = c
    fn = getattr(contracts, name)
    text = conditions_of(fn)[1][index].expr_source if index is not None else SAME_AS_FIXED
    return name, text, "diffbehavior" if index is None else "post"


def select(chosen: list[Condition], pattern: str | None) -> list[Condition]:
    if pattern is None:
        return chosen
    matches = compile_expression(pattern)
    picked = [c for c in chosen if matches(keywords(c))]
    if not picked:
        raise UsageError(f"-k {pattern!r} selects none of the {len(chosen)} conditions")
    return picked


def tasks(
    variant: str,
    budget: float,
    chosen: list[Condition],
    bounds: dict[str, int],
    fail_fast: bool = False,
    record: bool = False,
) -> list[Task]:
    """Up to two tasks per contract: its chosen postconditions, explored
    together, and its diffbehavior condition apart (each follows its own
    chain of fixes; apart, the two run side by side on two workers)."""
    by_task: dict[tuple[str, bool], list[int | None]] = {}
    for name, index in chosen:
        by_task.setdefault((name, index is None), []).append(index)
    return [
        (variant, name, tuple(ix), budget, bounds, fail_fast, record) for (name, _), ix in by_task.items()
    ]


def _verdicts(chosen: list[Task], jobs: int) -> Iterator[list[Verdict]]:
    """Each task's verdicts in task order as they become available; Stopped on Ctrl-C."""
    if jobs <= 1:
        done: list[tuple[int, list[Verdict]]] = []
        try:
            for i, task in enumerate(chosen):
                done.append((i, check_contract(task)))
                yield done[-1][1]
        except KeyboardInterrupt:
            raise Stopped(done) from None
        return
    order: InOrder[list[Verdict]] = InOrder()
    results = run_tasks(check_contract, chosen, jobs, failed=_worker_failed)
    try:
        for i, verdicts in results:
            for _, ready in order.add(i, verdicts):
                yield ready
    finally:
        results.close()  # stopped early (--fail-fast): end the tasks still running


def _worker_failed(why: BaseException) -> list[Verdict]:
    return [Verdict("?", "?", 0, ERROR, f"worker failed: {type(why).__name__}: {why}", 0, 0.0)]


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
    worlds: str = "push",
    max_chain: int | None = None,
    fail_fast: bool = False,
    record: bool = False,
) -> dict[str, Any]:
    """Run the contract check (and, on a variant that lacks some fixes,
    diffbehavior against fixed), printing each verdict in contract order;
    answers the JSON report, which a Ctrl-C (or ``fail_fast``'s first
    failure) leaves with ``complete: false`` and the conditions not run.
    ``max_chain`` caps every chain bound of the worlds; with ``record``,
    the report's ``recorded`` holds each contract's worlds and what they
    call (``check.calls_of``), for ``--recorded``."""
    start = time.perf_counter()
    diff = bool(missing_fixes(variant)) if diff is None else diff
    bounds = {name: min(n, max_chain or n) for name, n in WORLDS[worlds].items()}
    chosen = select(conditions(names, diff=diff), pattern)
    work = tasks(variant, budget, chosen, bounds, fail_fast, record)
    verdicts: list[Verdict] = []
    interrupted = False
    try:
        for done in _verdicts(work, jobs):
            for verdict in done:
                if verdict.condition != SAME_AS_FIXED:
                    out(_show_verdict(verdict))
            verdicts += done
            if fail_fast and any(v.status in (COUNTEREXAMPLE, ERROR) for v in done):
                break
    except Stopped:
        interrupted = True
    diffs = [v for v in verdicts if v.condition == SAME_AS_FIXED]
    if diffs:
        out("diffbehavior: does the variant behave as fixed on every input the contract allows?")
        for verdict in diffs:
            out(_show_verdict(verdict))
    finished = {(v.function, v.condition == SAME_AS_FIXED) for v in verdicts}
    not_run = [f"{name} {keywords((name, i))[1]}" for name, i in chosen if (name, i is None) not in finished]
    posts = [v for v in verdicts if v.condition != SAME_AS_FIXED]
    unexplained = [c for v in posts for c in v.counterexamples if not c.explained_by]
    unexplained_diffs = [c for v in diffs for c in v.counterexamples if not c.explained_by]
    failed = [v for v in posts if v.status in (COUNTEREXAMPLE, ERROR)] + [
        v for v in diffs if v.status == ERROR
    ]
    unverified = [v for v in verdicts if not v.exhausted] if require_verified else []
    counts = Counter(v.status for v in posts)
    cpu = _cpu_seconds(verdicts)
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
        + (f"; INCOMPLETE: {len(not_run)} not run ({'interrupted' if interrupted else '--fail-fast'})")
        * bool(not_run)
        + f" ({cpu:.0f} CPU s, {time.perf_counter() - start:.0f} s)"
    )
    return {
        "variant": variant,
        "crosshair": _crosshair_version(),
        "per_condition_timeout_cpu_s": budget,
        "bounds": {**bounds, "worlds": worlds},
        "worlds": world_statement(names),
        "selection": pattern,
        "conditions": [_row(v) for v in posts],
        "diffbehavior": [_row(v) for v in diffs],
        "findings_shown": sorted(
            {i for v in posts for c in v.counterexamples for s in c.explained_by for i in s}
        ),
        "ok": not failed and not unexplained_diffs and not unverified and not not_run,
        "complete": not not_run,
        "interrupted": interrupted,
        "not_run": not_run,
        "cpu_seconds": round(cpu, 1),
        "wall_seconds": round(time.perf_counter() - start, 1),
    } | ({"recorded": _recorded(verdicts)} if record else {})


def _recorded(verdicts: list[Verdict]) -> dict[str, Any]:
    """Each contract's recorded worlds: its postconditions' exploration's,
    which come first (its diffbehavior condition, a task of its own, explores
    once more and may go through other worlds)."""
    out: dict[str, Any] = {}
    for v in verdicts:
        out.setdefault(v.function, v.record)
    return out


def _row(verdict: Verdict) -> dict[str, Any]:
    """A verdict as the report lists it (its worlds, if recorded, are the report's ``recorded``)."""
    row = asdict(verdict)
    del row["record"]
    return row


def _cpu_seconds(verdicts: list[Verdict]) -> float:
    """CPU time of the explorations, each counted once: a contract's
    conditions share theirs, so its most expensive verdict holds them all."""
    per_contract: dict[str, float] = {}
    for v in verdicts:
        per_contract[v.function] = max(per_contract.get(v.function, 0.0), v.cpu_seconds)
    return sum(per_contract.values())


def world_statement(names: Sequence[str] | None = None) -> dict[str, Any]:
    """The generator of each contract's worlds, stated once: the bounds and
    letters of impl.contract_worlds, and each contract's choices (its
    parameters) with the preconditions that bound them."""
    rows = {}
    for fn in CONTRACTS:
        if names is None or fn.__name__ in names:
            pre = [c.expr_source for c in conditions_of(fn)[0]]
            rows[fn.__name__] = {"choices": list(inspect.signature(fn).parameters), "pre": pre}
    return {"bounds": WORLD_BOUNDS, "contracts": rows}


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
        state = "verified" if v.exhausted else "no counterexample within budget"
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
    why = "the run was interrupted before this condition" if report["interrupted"] else "--fail-fast"
    for name in report["not_run"]:
        case = ET.SubElement(suite, "testcase", classname="not_run", name=name, time="0")
        ET.SubElement(case, "skipped", message=why)
    suite.set("failures", str(failures))
    suite.set("skipped", str(len(report["not_run"])))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _print_list(chosen: list[Condition], json_out: str | None) -> None:
    rows = [{"function": c[0], "condition": keywords(c)[1], "kind": keywords(c)[2]} for c in chosen]
    if json_out is not None:
        cli.write_output(json_out, json.dumps(rows, indent=1) + "\n", "--json")
    if json_out != "-":
        for row in rows:
            print(f"{row['function']:17} {row['kind']:12} {row['condition']}")
        print(f"{len(rows)} conditions")


def reaching_contracts(recorded_file: str, target: str) -> tuple[list[str], dict[str, Any]]:
    """--reaching FILE:FUNCTION with --recorded (a --record run's file): the
    contracts whose recorded worlds call that function (or that have no
    record), the one named like it first, and the records.  A name that no
    ``def`` of FILE defines (a class, module code) is not traced by the
    records: every contract."""
    if ":" not in target:
        raise UsageError(f"--reaching takes FILE:FUNCTION (impl/fixes.py:try_to_unmap), not {target!r}")
    try:
        recorded = json.loads(Path(recorded_file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as why:
        raise UsageError(f"--recorded {recorded_file}: cannot read a --record file: {why}") from None
    known = {fn.__name__ for fn in CONTRACTS}
    if not (isinstance(recorded, dict) and set(recorded) <= known):
        raise UsageError(f"--recorded {recorded_file}: not a --record file (contract -> worlds and calls)")
    file, function = target.split(":", 1)
    traced = function in _defined(file)
    names = [
        name for name, record in recorded.items() if not traced or record is None or target in record["calls"]
    ]
    return sorted(names, key=lambda name: name != function), recorded


def replay_recorded(recorded: dict[str, Any], names: list[str], variant: str) -> int:
    """Check ``names`` on ``variant`` by replaying their recorded worlds
    (``check.replay_worlds``), those without a record by CrossHair; stop at
    the first failure."""
    start = time.process_time()
    for name in names:
        record = recorded[name]
        if record is None:
            report = check(variant, names=[name], jobs=1, fail_fast=True)
            if not report["ok"]:
                return EXIT_FAILED
            continue
        failed = replay_worlds(name, record["worlds"], variant)
        if failed is not None:
            condition, args = failed
            print(f"{name:17} post: {condition} fails on {variant} in {name}({args})")
            return EXIT_FAILED
        print(f"{name:17} holds in each of its {len(record['worlds'])} recorded worlds")
    cpu = time.process_time() - start
    print(f"{len(names)} contracts on {variant}: every recorded world holds ({cpu:.0f} CPU s)")
    return EXIT_OK


def _defined(file: str) -> set[str]:
    """The names of the functions a file of the project defines (none when it is no Python file here)."""
    try:
        tree = ast.parse((ROOT / file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return set()
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def run(args: argparse.Namespace) -> int:
    budget = DEFAULT_BUDGET if args.per_condition_timeout is None else args.per_condition_timeout
    if not (budget > 0 and math.isfinite(budget)):
        raise UsageError(f"--per-condition-timeout must be a positive number of CPU seconds, not {budget:g}")
    jobs = cli.jobs(args.jobs)
    for path, option in ((args.json_out, "--json"), (args.junit_out, "--junit")):
        if path is not None:
            cli.writable_file(path, option)
    if args.record is not None:
        cli.writable_file(args.record, "--record")
    if (args.recorded is None) != (args.reaching is None):
        raise UsageError("--recorded FILE and --reaching FILE:FUNCTION go together")
    if args.recorded is not None:
        names, recorded = reaching_contracts(args.recorded, args.reaching)
        if not names:
            print(f"no contract's worlds call {args.reaching}: no contract can see a change to it")
            return EXIT_OK
        return replay_recorded(recorded, names, args.variant)
    if args.list:
        _print_list(select(conditions(diff=bool(missing_fixes(args.variant))), args.pattern), args.json_out)
        return EXIT_OK
    if "-" in (args.json_out, args.junit_out):
        raise UsageError("a report goes to standard output only with --list: the run's own text is there")
    print(
        f"rmap-verify contracts --variant {args.variant}: CrossHair {_crosshair_version()}, PEP 316, "
        f"{budget:g} CPU s per exploration, {args.worlds} worlds "
        f"({', '.join(f'{k}={n}' for k, n in WORLDS[args.worlds].items())})",
        flush=True,
    )
    report = check(
        args.variant,
        budget,
        jobs=jobs,
        out=lambda line: print(line, flush=True),
        pattern=args.pattern,
        require_verified=args.require_verified,
        worlds=args.worlds,
        fail_fast=args.fail_fast,
        record=args.record is not None,
    )
    report["required_verified"] = args.require_verified
    if args.record:
        cli.write_output(args.record, json.dumps(report["recorded"]) + "\n", "--record")
    if args.json_out:
        cli.write_output(
            args.json_out, json.dumps(report, indent=1, sort_keys=True, default=str) + "\n", "--json"
        )
    if args.junit_out:
        cli.write_output(args.junit_out, to_junit(report), "--junit")
    if report["interrupted"]:
        done = len(report["conditions"]) + len(report["diffbehavior"])
        total = done + len(report["not_run"])
        raise cli.Interrupted(
            f"{done} of {total} conditions finished; the reports written say complete: false"
        )
    return EXIT_OK if report["ok"] else EXIT_FAILED
