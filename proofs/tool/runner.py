"""``rmap-verify prove``: discharge the proof obligations in parallel and report.

The selected obligations run in a pool of worker processes (one per core by
default).  Inside its worker each obligation runs in a child process of its
own, so that a solver which ignores its timeout (stuck in native code) or
takes its process down is contained: after ``wall_limit(timeout)`` seconds
the child is killed and the obligation reported as ``timeout``; a child that
vanishes is an ``error``.  Counterexamples are replayed on impl/
(``proofs.tool.cexreplay``) before they count.  Only ``proved`` passes: exit 0
when every selected obligation is proved, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TextIO

from impl.variants import VARIANTS
from proofs.obligation import Obligation, Outcome
from proofs.tool.cexreplay import CEX_DIR, checked
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError
from proofs.tool.report import Progress, Result, failure_text, summary_line, to_json, to_junit, write

# A query may take ``timeout``; an obligation asks a few (its cases and the
# satisfiability of its hypotheses), so the hard guard leaves room for them.
GUARD_FACTOR, GUARD_GRACE = 3, 5.0
TICK = 0.25  # seconds between refreshes of the live progress line
FORK = multiprocessing.get_context("fork")


def wall_limit(timeout: float) -> float:
    """Seconds of wall time after which an obligation's process is killed."""
    return GUARD_FACTOR * timeout + GUARD_GRACE


def select(obligations: Sequence[Obligation], variant: str, pattern: str | None) -> list[Obligation]:
    """The obligations of the variant (or of all) whose ident contains pattern (any case)."""
    variants = tuple(VARIANTS) if variant == "all" else (variant,)
    of_variant = [ob for ob in obligations if ob.variant in variants]
    if pattern is None:
        chosen = of_variant
    else:
        chosen = [ob for ob in of_variant if pattern.lower() in ob.ident.lower()]
    if not chosen:
        if pattern is None:
            raise UsageError(f"there are no obligations for variant {variant}")
        raise UsageError(f"-k {pattern!r} selects none of the {len(of_variant)} obligations ({variant})")
    return chosen


def _answer(obligation: Obligation, timeout: float, cex_dir: Path, conn: Connection) -> None:
    """In the obligation's own process: run it, replay its counterexample, send the outcome."""
    os.dup2(2, 1)  # whatever the prover prints (z3 warnings too) goes to stderr: stdout is the report
    try:
        outcome = checked(obligation, obligation.run(timeout), cex_dir)
    except Exception as why:  # the replay broke: an error, never a pass
        outcome = Outcome("error", 0.0, {"error": f"{type(why).__name__}: {why}"})
    try:
        conn.send(outcome)
    except Exception as why:  # the prover put something unpicklable in its answer
        error = f"the prover's answer cannot be sent back: {type(why).__name__}: {why}"
        conn.send(Outcome("error", outcome.seconds, {"error": error}))
    conn.close()


def discharge(obligation: Obligation, timeout: float, limit: float, cex_dir: Path) -> Outcome:
    """Run one obligation in a child process, killed after ``limit`` seconds."""
    receiver, sender = FORK.Pipe(duplex=False)
    child = FORK.Process(target=_answer, args=(obligation, timeout, cex_dir, sender), daemon=True)
    start = time.perf_counter()
    child.start()
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
        return outcome
    finally:
        child.join()
        receiver.close()


def _outcome(future: Future[Outcome]) -> Outcome:
    try:
        return future.result()
    except Exception as why:  # a worker of the pool broke; the obligation did not pass
        return Outcome("error", 0.0, {"error": f"worker failed: {type(why).__name__}: {why}"})


def prove(
    obligations: Sequence[Obligation],
    *,
    timeout: float,
    jobs: int,
    cex_dir: Path = CEX_DIR,
    limit: float | None = None,
    progress: Progress | None = None,
) -> list[Result]:
    """Discharge the obligations on ``jobs`` processes; results in the given order."""
    if not obligations:
        return []
    guard = wall_limit(timeout) if limit is None else limit
    outcomes: dict[int, Outcome] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(obligations)), mp_context=FORK) as pool:
        futures = {pool.submit(discharge, ob, timeout, guard, cex_dir): i for i, ob in enumerate(obligations)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=TICK, return_when=FIRST_COMPLETED)
            for future in done:
                i = futures[future]
                outcomes[i] = _outcome(future)
                if progress:
                    progress.finished(Result(obligations[i], outcomes[i]))
            if progress:
                progress.tick(sum(f.running() for f in pending))
    return [Result(ob, outcomes[i]) for i, ob in enumerate(obligations)]


def _jobs(jobs: int) -> int:
    if jobs < 0:
        raise UsageError(f"--jobs must be 0 (one per core) or a positive number, not {jobs}")
    return jobs or os.cpu_count() or 1


def _timeout(timeout: float) -> float:
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    return timeout


def _check_writable(path: str) -> None:
    """Refuse a report path before the run rather than after it."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as why:
        raise UsageError(f"cannot write {path}: {why.strerror}") from None
    if target.is_dir() or not os.access(target.parent, os.W_OK):
        raise UsageError(f"cannot write {path}: not a writable file path")


def _write(path: str, text: str) -> None:
    try:
        write(path, text)
    except OSError as why:
        raise UsageError(f"cannot write {path}: {why.strerror}") from None


def execute(
    args: argparse.Namespace,
    obligations: Sequence[Obligation],
    *,
    cex_dir: Path = CEX_DIR,
    out: TextIO | None = None,
) -> int:
    """``prove`` with its command-line arguments, over the given obligations."""
    out = out or sys.stdout
    jobs, timeout = _jobs(args.jobs), _timeout(args.timeout)
    selected = select(obligations, args.variant, args.pattern)
    for path in (args.json_out, args.junit_out):
        if path:
            _check_writable(path)
    if args.list:
        for ob in selected:
            finding = f"; fails by {ob.finding}" if ob.finding else ""
            out.write(f"{ob.ident}  ({ob.prop}; {ob.method}{finding})\n")
        out.write(f"{len(selected)} obligations\n")
        return EXIT_OK
    progress = Progress(out, len(selected))
    start = time.perf_counter()
    results = prove(selected, timeout=timeout, jobs=jobs, cex_dir=cex_dir, progress=progress)
    seconds = time.perf_counter() - start
    progress.close()
    for result in results:
        if not result.passed:
            out.write("\n" + "\n".join(failure_text(result)) + "\n")
    out.write(f"\n{summary_line(results, seconds)}\n")
    if args.json_out:
        guard = wall_limit(timeout)
        settings = {"pattern": args.pattern, "timeout": timeout, "jobs": jobs, "wall_limit": guard}
        _write(args.json_out, to_json(results, variant=args.variant, seconds=seconds, settings=settings))
    if args.junit_out:
        _write(args.junit_out, to_junit(results, seconds=seconds))
    return exit_code(results)


def exit_code(results: Sequence[Result]) -> int:
    """0 when every obligation is proved; anything else fails the run."""
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from proofs.registry import OBLIGATIONS  # only the command needs every obligation built

    return execute(args, OBLIGATIONS)
