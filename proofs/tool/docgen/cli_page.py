"""docs/cli.md: the command line, from the parser itself."""

from __future__ import annotations

import argparse

from proofs.tool.cli import build_parser
from proofs.tool.docgen.markdown import fence

# ---------------------------------------------------------------- CLI reference


def cli_page() -> str:
    parser = build_parser()
    out = [
        "# Command line\n",
        "Generated from `proofs/tool/cli.py`. Every subcommand exits 0 when all it checked holds, 1 when "
        "something does not, 2 on bad usage or bad input (one line on stderr, no traceback; every option, "
        "input and output path is checked before anything runs), and 130 when interrupted (one line; "
        "`prove` and `contracts` first write their reports, marked incomplete). Each command's help "
        "below says what its codes mean and gives examples.\n",
        fence("text", _help(parser)),
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out.append(f"## rmap-verify {name}\n")
        out.append(fence("text", _help(p)))
    return "\n".join(out)


def _help(parser: argparse.ArgumentParser) -> str:
    # A fixed width, so the help does not depend on the terminal.
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    return parser.format_help()
