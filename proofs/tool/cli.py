"""``rmap-verify``: the command line of the project.

Every subcommand exits 0 when all it checked holds, 1 when something does
not (a proof fails, a contract has a counterexample, docs/ is stale), and 2
on bad usage or bad input, with one line on stderr and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from impl.variants import VARIANTS

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input to a subcommand: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# subcommand -> the module whose ``run(args) -> int`` carries it out
COMMANDS = {
    "replay": "proofs.tool.replay_cmd",
    "prove": "proofs.tool.runner",
    "contracts": "proofs.crosshair.command",
    "docs": "proofs.tool.docgen.site",
    "mutants": "proofs.tool.mutants.command",
}


def _variant(parser: argparse.ArgumentParser, *, allow_all: bool = False, default: str = "fixed") -> None:
    choices = [*VARIANTS, "all"] if allow_all else list(VARIANTS)
    parser.add_argument(
        "--variant", choices=choices, default=default, help=f"implementation (default {default})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rmap-verify", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("replay", help="replay a JSON-lines trace and print one state record a line")
    p.add_argument("trace", help="trace file (JSON lines), or - for standard input")
    _variant(p)
    p.add_argument("--debug-rmap", action="store_true", help="compile in the seed's DEBUG_RMAP checks")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if any record has a fault, a violation or a spec mismatch",
    )

    p = sub.add_parser("prove", help="discharge the proof obligations with z3")
    _variant(p, allow_all=True)
    p.add_argument("-k", dest="pattern", default=None, help="only obligations whose name matches (substring)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per solver query (default 60)")
    p.add_argument("--jobs", type=int, default=0, help="parallel processes (default: one per core)")
    p.add_argument("--json", dest="json_out", default=None, help="write a machine-readable report here")
    p.add_argument("--junit", dest="junit_out", default=None, help="write a JUnit XML report here")
    p.add_argument("--list", action="store_true", help="list the selected obligations and exit")

    p = sub.add_parser("contracts", help="check the CrossHair contracts of impl/")
    _variant(p)
    p.add_argument("--per-condition-timeout", type=float, default=None, help="CPU seconds per condition")
    p.add_argument("--json", dest="json_out", default=None, help="write a machine-readable report here")

    p = sub.add_parser("docs", help="regenerate docs/ from the code (or check it is current)")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if docs/ differs from what would be generated"
    )

    p = sub.add_parser("mutants", help="mutation testing of impl/")
    p.add_argument("--quick", action="store_true", help="only the quick subset CI runs")
    p.add_argument("--report", default=None, help="write the report here")
    p.add_argument("--jobs", type=int, default=0, help="parallel mutants (default: one per core)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module = importlib.import_module(COMMANDS[args.command])
    try:
        code: int = module.run(args)
    except UsageError as why:
        print(f"rmap-verify {args.command}: error: {why}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
