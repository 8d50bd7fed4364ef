"""``rmap-verify prove``: discharge the proof obligations in parallel and report.

The selected obligations run in a pool of worker processes (one per core by
default).  Inside its worker each obligation runs in a child process of its
own, so that a solver which ignores its timeout (stuck in native code) or
takes its process down is contained: after ``wall_limit(timeout)`` seconds
the child is killed and the obligation reported as ``timeout``; a child that
vanishes is an ``error``.  Counterexamples are replayed on impl/
(``proofs.tool.cexreplay``) before they count.  Only ``proved`` passes: exit 0
when every selected obligation is proved, 1 otherwise, 2 on bad usage (every
option and output path is checked before anything runs), 130 on Ctrl-C
after the reports of what finished are written, marked incomplete.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TextIO

from rich.table import Table
from rich.text import Text

from impl.fixes import FIXES
from impl.rmap_seed import SeedRmap
from impl.variants import VARIANTS, fixes_of, variant_class
from proofs.findings import FINDINGS
from proofs.obligation import SEARCHES, Obligation, Outcome
from proofs.tool import cli
from proofs.tool.cexreplay import CEX_DIR, checked
from proofs.tool.cli import UsageError
from proofs.tool.console import Progress, console, facts, failure
from proofs.tool.derived import with_findings
from proofs.tool.paths import RESULTS
from proofs.tool.report import to_json, to_junit
from proofs.tool.result import Result, exit_code, is_bounded, missing_findings, summary_line
from proofs.tool.select import compile_expression
from proofs.tool.workers import FORK, Stopped, release, run_groups, start_adopted, unblock_stop

# A query may take ``timeout``; an obligation asks a few (its cases and the
# satisfiability of its hypotheses), so the hard guard leaves room for them.
GUARD_FACTOR, GUARD_GRACE = 3, 5.0
ENGINES = {
    "proofs.z3": "z3",
    "proofs.interleave": "interleavings",
    "proofs.exhaustive": "exhaustive",
    "proofs.leave_one_out": "leave-one-out",
}


def wall_limit(timeout: float) -> float:
    """Seconds of wall time after which an obligation's process is killed."""
    return GUARD_FACTOR * timeout + GUARD_GRACE


def rounds(ob: Obligation) -> int:
    """How many runs the obligation may take: one, and on a variant made of fixes one more per
    missing fix (attribution runs it again with each finding found fixed)."""
    fixes = fixes_of(ob.variant)
    return 1 if fixes is None else 1 + len(FIXES) - len(fixes)


def keywords(ob: Obligation) -> tuple[str, ...]:
    """What a ``-k`` word may match: the ident, the function (or caller path) and the property."""
    return ob.ident, ob.function, ob.prop


def engine(ob: Obligation) -> str:
    module = ob.runner.partition(":")[0]
    return next((name for prefix, name in ENGINES.items() if module.startswith(prefix)), module)


def select(
    obligations: Sequence[Obligation], variant: str, pattern: str | None, deep: bool = True
) -> list[Obligation]:
    """The obligations of the variant (or of all) that the ``-k`` expression
    selects; without ``deep``, not the long searches (obligation.SEARCHES)."""
    variants = tuple(VARIANTS) if variant == "all" else (variant,)
    of_variant = [ob for ob in obligations if ob.variant in variants and (deep or ob.prop not in SEARCHES)]
    matches = compile_expression(pattern) if pattern is not None else None
    chosen = [ob for ob in of_variant if matches is None or matches(keywords(ob))]
    if not chosen:
        if pattern is None:
            raise UsageError(f"there are no obligations for variant {variant}")
        hint = "" if deep else "; the long searches (reachability) run only with --deep"
        count = len(of_variant)
        raise UsageError(f"-k {pattern!r} selects none of the {count} obligations ({variant}){hint}")
    return chosen


def affected_by(obligations: Sequence[Obligation], function: str) -> list[Obligation]:
    """The obligations a change to ``FILE:NAME`` (a function of impl/) can affect: every one of the
    engines that run impl/'s Python, and each z3 obligation whose entry point may reach that
    function by proofs.z3.callmap (the others generate the same VCs whatever its body says).

    The Python ones come first: they are quick to fail (a run that breaks shows at once), where a
    z3 obligation that fails spends its budget looking for a trace that replays."""
    from proofs.z3.callmap import function_node, reachable

    file, _, name = function.rpartition(":")
    chosen = []
    classes: list[type] = [SeedRmap, *{variant_class(ob.variant) for ob in obligations if engine(ob) == "z3"}]
    for cls in classes:
        if function_node(file, name, cls) is None:
            raise UsageError(f"--affected-by {function}: FILE:NAME names no function of impl/ or spec/")
    for ob in obligations:
        variant: type = variant_class(ob.variant)
        if engine(ob) != "z3" or function_node(file, name, variant) in reachable(ob.function, variant):
            chosen.append(ob)
    return sorted(chosen, key=lambda ob: engine(ob) == "z3")


def _answer(obligation: Obligation, timeout: float, cex_dir: Path, conn: Connection) -> None:
    """In the obligation's own process: run it, replay its counterexample, send the outcome."""
    unblock_stop()
    os.dup2(2, 1)  # whatever the prover prints (z3 warnings too) goes to stderr: stdout is the report
    try:
        outcome = with_findings(
            obligation, checked(obligation, obligation.run(timeout), cex_dir), timeout, cex_dir
        )
    except Exception as why:  # the replay broke: an error, never a pass
        outcome = Outcome("error", 0.0, {"error": f"{type(why).__name__}: {why}"})
    try:
        conn.send(outcome)
    except Exception as why:  # the prover put something unpicklable in its answer
        error = f"the prover's answer cannot be sent back: {type(why).__name__}: {why}"
        conn.send(Outcome("error", outcome.seconds, {"error": error}))
    conn.close()


def discharge(obligation: Obligation, timeout: float, limit: float, cex_dir: Path) -> Outcome:
    """Run one obligation in a child process, killed after ``limit`` seconds;
    what it shares with the worker's other obligations is made first, here,
    and its time is counted in this obligation's."""
    prepared = time.perf_counter()
    obligation.prepare(timeout)
    prepared = time.perf_counter() - prepared
    receiver, sender = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_answer, args=(obligation, timeout, cex_dir, sender), daemon=True)
    start = time.perf_counter()
    start_adopted(child)
    sender.close()
    try:
        if not receiver.poll(limit):
            child.kill()
            error = f"no answer within the wall-clock guard of {limit:g} s; the prover was killed"
            return Outcome("timeout", time.perf_counter() - start, {"error": error})
        try:
            outcome: Outcome = receiver.recv()
        except EOFError:
            child.join()
            error = f"the prover's process died (exit code {child.exitcode})"
            return Outcome("error", time.perf_counter() - start, {"error": error})
        obligation.learn(outcome)
        return dataclasses.replace(outcome, seconds=outcome.seconds + prepared)
    finally:
        child.join()
        release(child)
        receiver.close()


def _discharge_task(task: tuple[Obligation, float, float, Path]) -> Outcome:
    return discharge(*task)


def _shares(task: tuple[Obligation, float, float, Path]) -> tuple[str, ...]:
    return task[0].shares()


def committed_rows() -> dict[str, dict[str, Any]]:
    """Each obligation's row in the committed reports (proofs/results/prove-*.json), by ident."""
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("prove-*.json")):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            rows.update({row["ident"]: row for row in report["obligations"]})
        except (ValueError, KeyError, TypeError):
            continue  # a report of another shape gives no rows
    return rows


# An obligation with no committed time is taken to cost this much.
UNKNOWN_SECONDS = 1.0


def _worker_failed(why: BaseException) -> Outcome:
    return Outcome("error", 0.0, {"error": f"worker failed: {type(why).__name__}: {why}"})


def prove(
    obligations: Sequence[Obligation],
    *,
    timeout: float,
    jobs: int,
    cex_dir: Path = CEX_DIR,
    limit: float | None = None,
    progress: Progress | None = None,
    fail_fast: bool = False,
) -> list[Result]:
    """Discharge the obligations on ``jobs`` processes; results in the given order.  With
    ``fail_fast``, the first that is not proved stops the run: only those that finished are returned.

    On Ctrl-C: Stopped, holding (index, Result) of each obligation that finished."""
    # An explicit limit is the limit; else the guard grows with attribution's rounds.
    tasks = [
        (ob, timeout, wall_limit(timeout) * rounds(ob) if limit is None else limit, cex_dir)
        for ob in obligations
    ]
    results: dict[int, Result] = {}
    tick = progress.tick if progress else None
    # The obligations that share what their engine prepares (the lifted code
    # of one function and variant, a variant's explorations) run in one worker.
    # The costliest groups (by the committed reports' times) start first.
    known = {ident: float(row.get("seconds") or 0.0) for ident, row in committed_rows().items()}
    running = run_groups(
        _discharge_task,
        tasks,
        jobs,
        _shares,
        failed=_worker_failed,
        tick=tick,
        cost=lambda task: known.get(task[0].ident, UNKNOWN_SECONDS),
    )
    try:
        for i, outcome in running:
            results[i] = Result(obligations[i], outcome)
            if progress:
                progress.finished(i, results[i])
            if fail_fast and not results[i].passed:
                break
    except Stopped:
        raise Stopped(sorted(results.items())) from None
    finally:
        running.close()  # after a fail-fast stop: the obligations still running are killed
    return [results[i] for i in sorted(results)]


# ------------------------------------------------------------ the command


INTERRUPTED, FAIL_FAST = "interrupted", "-x: stopped at the first obligation not proved"
MAX_TIMEOUT = 86_400.0  # a day per query: beyond it the wall-clock guard stops meaning anything


def _timeout(timeout: float) -> float:
    if not math.isfinite(timeout) or not 0 < timeout <= MAX_TIMEOUT:
        raise UsageError(
            f"--timeout must be a positive number of seconds up to {MAX_TIMEOUT:g}, not {timeout:g}"
        )
    return timeout


def prepare_cex_dir(path: str) -> Path:
    """The counterexample directory, writable, before the run: a bad one is a usage error, not N errors."""
    if not path:
        raise UsageError("--cex-dir needs a directory name, not an empty string")
    target = Path(path)
    if not target.parent.is_dir() and target != CEX_DIR:  # the default's reports/ is ours to make
        raise UsageError(f"--cex-dir {path}: directory {target.parent} does not exist")
    try:
        target.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=target).close()
    except OSError as why:
        raise UsageError(f"--cex-dir {path}: cannot write there: {why.strerror}") from None
    return target


def listing(obligations: Sequence[Obligation]) -> list[dict[str, object]]:
    return [
        {
            "ident": ob.ident,
            "name": ob.name,
            "function": ob.function,
            "property": ob.prop,
            "variant": ob.variant,
            "engine": engine(ob),
            "method": ob.method,
            "bounded": is_bounded(ob.method),
            "invariants": list(ob.invariants),
            "statement": ob.statement,
        }
        for ob in obligations
    ]


def _print_list(obligations: Sequence[Obligation], out: TextIO) -> None:
    table = Table("obligation", "property", "engine", "bounded", box=None, pad_edge=False)
    for ob in obligations:
        bounded = "bounded" if is_bounded(ob.method) else "unbounded"
        table.add_row(*(Text(c) for c in (ob.ident, ob.prop, engine(ob), bounded)))
    show = console(out)
    show.print(table)
    show.print(Text(f"{len(obligations)} obligations"))


def _print_report(
    results: Sequence[Result], seconds: float, out: TextIO, *, verbose: bool, not_run: int, why: str
) -> None:
    show = console(out)
    line = summary_line(results, seconds) + (f"; INCOMPLETE: {not_run} not run ({why})" if not_run else "")
    failed = [r for r in results if not r.passed]
    show.print(Text(f"\nSummary: {line}"))
    explained: dict[str, list[Result]] = {}
    for r in failed:
        for key in r.findings if r.explained else ("no finding",):
            explained.setdefault(key, []).append(r)
    if failed:
        show.print(
            facts(
                (key, f"{len(rs)} failing: " + ", ".join(r.obligation.ident for r in rs))
                for key, rs in sorted(explained.items())
            )
        )
        more = "" if verbose else " (-v adds each prover's own details)"
        show.print(Text(f"{len(failed)} failures follow, in registry order{more}."))
    for r in failed:
        show.print()
        for part in failure(r, verbose=verbose):
            show.print(part)
    show.print(Text(f"\n{line}"))


def execute(args: argparse.Namespace, obligations: Sequence[Obligation], *, out: TextIO | None = None) -> int:
    """``prove`` with its command-line arguments, over the given obligations."""
    out = out or sys.stdout
    jobs, timeout = cli.jobs(args.jobs), _timeout(args.timeout)
    selected = select(obligations, args.variant, args.pattern, args.deep)
    if args.affected_by is not None:
        selected = affected_by(selected, args.affected_by)
    if args.fail_fast and args.expect_findings:
        raise UsageError("-x stops at the first failure; --expect-findings needs every finding's failure")
    for path, option in ((args.json_out, "--json"), (args.junit_out, "--junit")):
        if path is not None:
            cli.writable_file(path, option)
    if args.list:
        if args.json_out is not None:
            cli.write_output(args.json_out, json.dumps(listing(selected), indent=1) + "\n", "--json")
        if args.json_out != "-":
            _print_list(selected, out)
        return cli.EXIT_OK
    if "-" in (args.json_out, args.junit_out):
        raise UsageError("a report goes to standard output only with --list: the run's own text is there")
    cex_dir = prepare_cex_dir(args.cex_dir)
    progress = Progress(out, len(selected))
    start = time.perf_counter()
    try:
        results = prove(
            selected, timeout=timeout, jobs=jobs, cex_dir=cex_dir, progress=progress, fail_fast=args.fail_fast
        )
        why = FAIL_FAST
    except Stopped as stop:
        results, why = [result for _, result in stop.done], INTERRUPTED
    seconds = time.perf_counter() - start
    progress.close()
    finished = {r.obligation.ident for r in results}
    not_run = [ob.ident for ob in selected if ob.ident not in finished]
    _print_report(results, seconds, out, verbose=args.verbose, not_run=len(not_run), why=why)
    if args.json_out:
        settings = {
            "pattern": args.pattern,
            "deep": args.deep,
            "affected_by": args.affected_by,
            "fail_fast": args.fail_fast,
            "timeout": timeout,
            "jobs": jobs,
            "wall_limit": wall_limit(timeout),
        }
        report = to_json(results, variant=args.variant, seconds=seconds, settings=settings, not_run=not_run)
        cli.write_output(args.json_out, report, "--json")
    if args.junit_out:
        junit = to_junit(results, seconds=seconds, not_run=not_run, why=why)
        cli.write_output(args.junit_out, junit, "--junit")
    if not_run and why == FAIL_FAST:
        return cli.EXIT_FAILED  # a failure stopped the run: the reports say complete: false
    if not_run:
        raise cli.Interrupted(
            f"{len(results)} of {len(selected)} obligations finished; the reports written say complete: false"
        )
    if not args.expect_findings:
        return exit_code(results)
    expect = [f.id for f in FINDINGS]
    missing = missing_findings(results, expect)
    if missing:
        console(out).print(Text(f"--expect-findings: no obligation found {', '.join(missing)}"))
    return exit_code(results, expect=expect)


def run(args: argparse.Namespace) -> int:
    from proofs.registry import OBLIGATIONS  # only the command needs every obligation built

    return execute(args, OBLIGATIONS)
