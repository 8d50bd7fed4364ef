"""``rmap-verify diff``: a trace on the port and on the C side by side; the first record that differs.

The trace is read and checked whole first (``impl.trace.parse_trace``),
then each operation runs on the port (``--variant``, default seed) and on
the seed compiled as C (``--c PATH``), and the two records are compared
field by field (``impl.c.compare``).  Exit 0 when every record agrees, 1
at the first that does not (printed field by field, then both records) or
when a sanitizer stops the C (``--sanitize``; its verdict goes to stderr
in any case), 2 on bad input: a trace, or a seed that is not a C file,
does not compile or finds no compiler.
"""

from __future__ import annotations

import argparse
import json
import sys

from impl.c.compare import normalise
from impl.c.native import OracleDied, OracleError
from impl.trace import TraceError
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, UsageError
from proofs.tool.oracle.run import side_by_side
from proofs.tool.replay_cmd import c_oracle, for_the_c, read_input


def run(args: argparse.Namespace) -> int:
    data, source = read_input(args.trace)
    lines = data.split(b"\n")
    count = len(for_the_c(lines, source))
    oracle = c_oracle(args)
    try:
        for pair in side_by_side(lines, source, oracle, args.variant, debug_rmap=args.debug_rmap):
            if pair.differences:
                where = f"{source}:{pair.line}: {pair.port['op']}"
                print(f"{where}: the C differs from the port ({args.variant}):")
                for line in pair.differences:
                    print(f"  {line}")
                print(f"  port: {json.dumps(normalise(pair.port), sort_keys=True)}")
                print(f"  C:    {json.dumps(normalise(pair.c), sort_keys=True)}")
                return EXIT_FAILED
    except OracleDied:  # a sanitizer stopped the C: its verdict below says why
        print(f"{source}: the sanitizers stopped the C before the end of the trace")
        return EXIT_FAILED
    except TraceError as why:
        raise UsageError(str(why)) from None
    except OracleError as why:
        raise UsageError(f"the C oracle: {why}") from None
    finally:
        report = oracle.close()
        if report is not None:
            print(f"sanitizers: {report.verdict()}", file=sys.stderr)
    print(f"{source}: {count} records, the C and the port ({args.variant}) agree on every one")
    return EXIT_OK
