"""``rmap-verify replay``: run a trace, print one JSON record a line.

The whole input is read and checked (``impl.trace.parse_trace``) before the
first operation runs, so a bad line anywhere is a usage error and prints
no record.
"""

from __future__ import annotations

import argparse
import json
import sys

from impl.trace import TraceError, replay
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


def run(args: argparse.Namespace) -> int:
    data, source = read_input(args.trace)
    dirty = False
    try:
        for record in replay(data.split(b"\n"), source, args.variant, debug_rmap=args.debug_rmap):
            print(json.dumps(record, sort_keys=True))
            dirty = dirty or bool(record["fault"] or record["violations"] or record["spec_mismatch"])
    except TraceError as why:
        raise UsageError(str(why)) from None
    return EXIT_FAILED if args.strict and dirty else EXIT_OK
