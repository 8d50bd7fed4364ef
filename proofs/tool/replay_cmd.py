"""``rmap-verify replay``: run a trace, print one JSON record a line.

The whole input is read and checked (``impl.trace.parse_trace``) before the
first operation runs, so a bad line anywhere is a usage error and prints
no record.  A schedule (a ``paths`` operation and its ``step``s) runs on
the interleaving engine (``proofs.interleave.schedule``), step by step; a
step that cannot happen shows only while running, so a schedule's records
are printed once all of it has run.  The C runs one path at a time: a
schedule with ``--c`` is a usage error saying so.

With ``--c [PATH]`` the trace runs on the seed compiled as C (impl/c/,
the C oracle) instead of the port, and prints the same records;
with ``--sanitize`` too, on the sanitizer build, whose verdict (ASan, UBSan,
LeakSanitizer) follows on stderr.  A seed that is not a C file, does not
compile or finds no compiler is bad input, like a bad trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from impl.c.build import BuildError
from impl.c.native import Oracle, OracleDied, OracleError
from impl.c.session import replay_c
from impl.trace import TraceError, apply_line, parse_trace, schedule_line
from impl.trace_schema import Op
from proofs.interleave.schedule import ScheduleSession
from proofs.tool.cexreplay import C_RUNS_NO_SCHEDULE
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError

MAX_TRACE_BYTES = 64 * 2**20  # a trace is a scenario, not a log: more is a mistake (or /dev/zero)


def read_input(path: str) -> tuple[bytes, str]:
    """The bytes of the trace file (or of standard input for ``-``) and the name errors use."""
    source = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            if sys.stdin is None:
                raise UsageError("standard input is closed")
            data = sys.stdin.buffer.read(MAX_TRACE_BYTES + 1)
        else:
            with open(path, "rb") as stream:
                data = stream.read(MAX_TRACE_BYTES + 1)
    except (OSError, ValueError) as why:  # ValueError: a closed standard input
        reason = why.strerror if isinstance(why, OSError) and why.strerror else str(why)
        raise UsageError(f"cannot read {source}: {reason}") from None
    if len(data) > MAX_TRACE_BYTES:
        raise UsageError(f"{source} is longer than {MAX_TRACE_BYTES} bytes; a trace is one scenario")
    return data, source


def c_oracle(args: argparse.Namespace) -> Oracle:
    """The C oracle ``--c`` and ``--sanitize`` ask for, built if it is not cached."""
    from proofs.tool.oracle.run import in_process, sanitized

    seed = args.c or None  # "" is --c without a path: the default seed
    try:
        if args.sanitize:
            return sanitized(seed, debug_rmap=args.debug_rmap)
        return in_process(seed, debug_rmap=args.debug_rmap)
    except BuildError as why:
        raise UsageError(str(why)) from None


def _print_all(records: Iterable[dict[str, Any]]) -> bool:
    """Print each record as it comes; answer whether any has a fault, a violation or a spec mismatch."""
    dirty = False
    for record in records:
        print(json.dumps(record, sort_keys=True))
        dirty = dirty or bool(record["fault"] or record["violations"] or record["spec_mismatch"])
    return dirty


def run(args: argparse.Namespace) -> int:
    if args.sanitize and args.c is None:
        raise UsageError("--sanitize is for the C: give --c [PATH] too")
    data, source = read_input(args.trace)
    lines = data.split(b"\n")
    if args.c is not None:
        return _run_on_c(args, lines, source)
    session = ScheduleSession(args.variant, args.debug_rmap)
    try:
        ops = parse_trace(lines, source)
        records: Iterable[dict[str, Any]] = (apply_line(session, source, n, op) for n, op in ops)
        if schedule_line(ops) is not None:
            records = list(records)
        dirty = _print_all(records)
    except TraceError as why:
        raise UsageError(str(why)) from None
    finally:
        session.close()
    return EXIT_FAILED if args.strict and dirty else EXIT_OK


def for_the_c(lines: list[bytes], source: str) -> list[tuple[int, Op]]:
    """The trace checked whole (before a build: a bad one costs none); a
    UsageError when it is bad or a schedule, which the C cannot run."""
    try:
        ops = parse_trace(lines, source)
    except TraceError as why:
        raise UsageError(str(why)) from None
    line = schedule_line(ops)
    if line is not None:
        raise UsageError(f"{source}:{line}: paths: {C_RUNS_NO_SCHEDULE}")
    return ops


def _run_on_c(args: argparse.Namespace, lines: list[bytes], source: str) -> int:
    for_the_c(lines, source)
    oracle = c_oracle(args)
    try:
        dirty = _print_all(replay_c(lines, source, oracle))
    except OracleDied:  # a sanitizer stopped the driver: its verdict below says why
        dirty = True
    except TraceError as why:
        raise UsageError(str(why)) from None
    except OracleError as why:
        raise UsageError(f"the C oracle: {why}") from None
    finally:
        report = oracle.close()
    if report is not None:
        print(f"sanitizers: {report.verdict()}", file=sys.stderr)
        dirty = dirty or not report.clean()
    return EXIT_FAILED if args.strict and dirty else EXIT_OK
