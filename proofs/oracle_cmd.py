"""``rmap-verify replay TRACE --c [PATH]`` and ``rmap-verify diff TRACE``.

replay --c prints the C's records in the port's format (with --sanitize,
from the sanitizer build, then the sanitizers' verdict on stderr).  diff
replays the trace on the port and on the C side by side and prints the
first record where they differ, field by field: exit 0 when none does, 1
when one does, 2 on bad input (a trace, or a seed that is not a C file,
does not compile, or finds no compiler).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from impl.c.build import BuildError
from impl.c.compare import normalise
from impl.c.native import Oracle, OracleDied, OracleError
from impl.c.session import replay_c
from impl.trace import TraceError
from proofs.cli import EXIT_FAILED, EXIT_OK, UsageError
from proofs.oracle import in_process, sanitized, side_by_side


@contextmanager
def _trace(path: str) -> Iterator[tuple[TextIO, str]]:
    try:
        stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as why:
        raise UsageError(f"cannot read {path}: {why.strerror}") from None
    with stream:
        yield stream, "<stdin>" if path == "-" else path


@contextmanager
def _bad_input() -> Iterator[None]:
    """Bad input of any kind, as one line and exit 2."""
    try:
        yield
    except (BuildError, TraceError) as why:
        raise UsageError(str(why)) from None
    except OracleDied:
        raise
    except OracleError as why:
        raise UsageError(f"the C oracle: {why}") from None


def _dirty(record: dict[str, object]) -> bool:
    return bool(record["fault"] or record["violations"] or record["spec_mismatch"])


def _oracle(args: argparse.Namespace) -> Oracle:
    seed = args.c or None  # "" is --c without a path: the default seed
    if args.sanitize:
        return sanitized(seed, debug_rmap=args.debug_rmap)
    return in_process(seed, debug_rmap=args.debug_rmap)


def replay_on_c(args: argparse.Namespace) -> int:
    dirty = False
    with _bad_input(), _trace(args.trace) as (stream, source):
        oracle = _oracle(args)
        try:
            for record in replay_c(stream, source, oracle):
                print(json.dumps(record, sort_keys=True))
                dirty = dirty or _dirty(record)
        except OracleDied:
            dirty = True
        finally:
            report = oracle.close()
    if report is not None:
        print(f"sanitizers: {report.verdict()}", file=sys.stderr)
        dirty = dirty or not report.clean()
    return EXIT_FAILED if args.strict and dirty else EXIT_OK


def run(args: argparse.Namespace) -> int:
    """rmap-verify diff."""
    count = 0
    with _bad_input(), _trace(args.trace) as (stream, source):
        oracle = _oracle(args)
        try:
            for pair in side_by_side(stream, source, oracle, args.variant, debug_rmap=args.debug_rmap):
                count += 1
                if pair.differences:
                    where = f"{source}:{pair.line}: {pair.port['op']}"
                    print(f"{where}: the C differs from the port ({args.variant}):")
                    for line in pair.differences:
                        print(f"  {line}")
                    print(f"  port: {json.dumps(normalise(pair.port), sort_keys=True)}")
                    print(f"  C:    {json.dumps(normalise(pair.c), sort_keys=True)}")
                    return EXIT_FAILED
        finally:
            oracle.close()
    print(f"{source}: {count} records, the C and the port ({args.variant}) agree on every one")
    return EXIT_OK
