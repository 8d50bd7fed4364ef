"""``rmap-verify replay``: run a trace, print one JSON record a line."""

from __future__ import annotations

import argparse
import json
import sys

from impl.trace import TraceError, replay
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError


def run(args: argparse.Namespace) -> int:
    try:
        stream = sys.stdin if args.trace == "-" else open(args.trace, encoding="utf-8")
    except OSError as why:
        raise UsageError(f"cannot read {args.trace}: {why.strerror}") from None
    source = "<stdin>" if args.trace == "-" else args.trace
    dirty = False
    with stream:
        try:
            for record in replay(stream, source, args.variant, debug_rmap=args.debug_rmap):
                print(json.dumps(record, sort_keys=True))
                dirty = dirty or bool(record["fault"] or record["violations"] or record["spec_mismatch"])
        except TraceError as why:
            raise UsageError(str(why)) from None
    return EXIT_FAILED if args.strict and dirty else EXIT_OK
