"""``rmap-verify replay``: run a trace, print one JSON record a line.

The whole input is read and checked (``impl.trace.parse_trace``) before the
first operation runs, so a bad line anywhere is a usage error and prints
no record.  With ``--c [PATH]`` the trace runs on the seed compiled as C
(impl/c/, the C oracle) instead of the port, and prints the same records;
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
from impl.trace import TraceError, parse_trace, replay
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
    try:
        dirty = _print_all(replay(lines, source, args.variant, debug_rmap=args.debug_rmap))
    except TraceError as why:
        raise UsageError(str(why)) from None
    return EXIT_FAILED if args.strict and dirty else EXIT_OK


def _run_on_c(args: argparse.Namespace, lines: list[bytes], source: str) -> int:
    try:
        parse_trace(lines, source)  # the trace first: a bad one costs no build
    except TraceError as why:
        raise UsageError(str(why)) from None
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
