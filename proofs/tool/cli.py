"""``rmap-verify``: check a Python port of Linux 2.5.31's mm/rmap.c against its spec.

Every subcommand exits 0 when all it checked holds, 1 when something does
not (a proof fails, a contract has a counterexample, docs/ is stale), 2 on
bad usage or bad input (one line on stderr, no traceback, checked before
anything runs, output paths included), and 130 when interrupted (one line
on stderr; prove and contracts first write their reports, marked
incomplete).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import NoReturn

from impl.variants import VARIANTS, UnknownVariant, variant_class
from proofs.tool.mutants.scope import STAGE_NAMES

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_TIMEOUT = 60.0  # seconds per solver query


class UsageError(Exception):
    """Bad input to a subcommand: reported in one line, exit 2."""


class Interrupted(Exception):
    """Ctrl-C after a command has saved what it could; the message is the one line said."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# subcommand -> the module whose ``run(args) -> int`` carries it out
COMMANDS = {
    "replay": "proofs.tool.replay_cmd",
    "diff": "proofs.tool.diff_cmd",
    "prove": "proofs.tool.runner",
    "contracts": "proofs.crosshair.command",
    "docs": "proofs.tool.docgen.site",
    "mutants": "proofs.tool.mutants.command",
}
EXIT_CODES = """exit codes:
  0    {ok}
  1    {failed}
  2    bad usage or input: one line on stderr, nothing run
  130  interrupted (Ctrl-C){partial}"""


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    return (
        f"rmap-verify {_version('rmap-verify')} (z3-solver {_version('z3-solver')}, "
        f"crosshair-tool {_version('crosshair-tool')}, Python {sys.version.split()[0]})"
    )


def _epilog(ok: str, failed: str, examples: str, *, partial: bool = False) -> str:
    note = "; the reports written so far say complete: false" if partial else ""
    codes = EXIT_CODES.format(ok=ok, failed=failed, partial=note)
    return f"{codes}\n\nexamples:\n{examples}"


def _command(
    sub: argparse._SubParsersAction[_Parser], name: str, summary: str, description: str, epilog: str
) -> _Parser:
    parser: _Parser = sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    return parser


def _variant(parser: argparse.ArgumentParser, *, allow_all: bool = False, default: str = "fixed") -> None:
    def variant(name: str) -> str:
        if allow_all and name == "all":
            return name
        try:
            variant_class(name)
        except UnknownVariant as why:
            raise argparse.ArgumentTypeError(str(why)) from None
        return name

    listed = ", ".join([*VARIANTS, *(["all"] if allow_all else [])])
    parser.add_argument(
        "--variant",
        type=variant,
        default=default,
        metavar="NAME",
        help=f"implementation: {listed}, seed+Fn..., fixed-Fn..., or a wrong variant of "
        f"impl/wrong_variants.py (default {default})",
    )


SEED_DEFAULT = "$RMAP_SEED, else seed/rmap.c in the clone, else ../shared/seed/rmap.c beside it"


def _c_oracle(parser: argparse.ArgumentParser, *, optional: bool) -> None:
    """--c [PATH] and --sanitize: the seed compiled and run as C (impl/c/)."""
    if optional:  # replay: the port unless --c is given, with or without a path
        parser.add_argument(
            "--c",
            nargs="?",
            const="",
            default=None,
            metavar="PATH",
            help="replay on the seed compiled as C, not on the port (so --variant does not apply); "
            f"PATH is an rmap.c (default {SEED_DEFAULT})",
        )
    else:
        parser.add_argument(
            "--c", default="", metavar="PATH", help=f"the C side, an rmap.c (default {SEED_DEFAULT})"
        )
    parser.add_argument(
        "--sanitize",
        action="store_true",
        help="with the C: build it with ASan, UBSan and LeakSanitizer, run one process per replay, and "
        "print their verdict on stderr",
    )


def _report_options(parser: argparse.ArgumentParser, *, junit: bool = True) -> None:
    parser.add_argument(
        "--json",
        dest="json_out",
        default=None,
        metavar="FILE",
        help="write a machine-readable report (- for stdout)",
    )
    if junit:
        parser.add_argument(
            "--junit", dest="junit_out", default=None, metavar="FILE", help="write a JUnit XML report"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rmap-verify",
        description="Check a Python port of Linux 2.5.31's mm/rmap.c (the pte_chain reverse map) against "
        "its spec: proofs, contracts, trace replays, mutation testing and the docs generated from them.",
        epilog="Run `rmap-verify COMMAND --help` for a command's options, exit codes and examples.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    p = _command(
        sub,
        "replay",
        "replay a JSON-lines trace and print one state record a line",
        "Replay a trace (docs/traces.md) on a variant of the port and print, for each operation, the whole "
        "modelled state after it as one JSON line. The whole trace is checked first: a bad line anywhere "
        "is a usage error and nothing runs. With --c the trace runs on the seed compiled as C instead "
        "(impl/c/, the C oracle; docs/c-oracle.md) and prints the same records.",
        _epilog(
            "every line replayed (with --strict: no record shows a fault, a violation or a spec mismatch)",
            "with --strict, some record shows a fault, a violation or a spec mismatch, or (--sanitize) "
            "the sanitizers report something",
            "  rmap-verify replay proofs/findings/F1.jsonl --variant seed | tail -1\n"
            "  rmap-verify replay reports/cex/try_to_unmap_refinement-seed.jsonl --variant seed --strict\n"
            "  rmap-verify replay proofs/findings/F1.jsonl --c | tail -1\n"
            "  rmap-verify replay proofs/findings/F1.jsonl --c ~/linux-2.5.31/mm/rmap.c --sanitize --strict",
        ),
    )
    p.add_argument("trace", help="trace file (JSON lines), or - for standard input")
    _variant(p)
    p.add_argument("--debug-rmap", action="store_true", help="compile in the seed's DEBUG_RMAP checks")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if any record has a fault, a violation or a spec mismatch "
        "(with --sanitize: or the sanitizers found something)",
    )
    _c_oracle(p, optional=True)

    p = _command(
        sub,
        "diff",
        "replay a trace on the port and on the seed compiled as C; print the first record that differs",
        "Replay a trace on a variant of the port and on the seed compiled as C (impl/c/, the C oracle), "
        "operation by operation, and compare the two records field by field: a fault by its kind and "
        "function, everything else exactly. The whole trace is checked first, and a bad seed (not a C "
        "file, does not compile, no compiler) is bad input too.",
        _epilog(
            "every record of the C is the port's",
            "a record differs (printed field by field, then both records), or a sanitizer stopped the C",
            "  rmap-verify diff proofs/findings/F3.jsonl\n"
            "  rmap-verify diff my-trace.jsonl --c ~/linux-2.5.31/mm/rmap.c\n"
            "  rmap-verify diff proofs/findings/F1.jsonl --sanitize",
        ),
    )
    p.add_argument("trace", help="trace file (JSON lines), or - for standard input")
    _variant(p, default="seed")
    p.add_argument("--debug-rmap", action="store_true", help="compile in the seed's DEBUG_RMAP checks")
    _c_oracle(p, optional=False)

    p = _command(
        sub,
        "prove",
        "discharge the proof obligations (z3, interleavings, exhaustive checks)",
        "Discharge the proof obligations of proofs.registry in parallel, each in a process of its own, and "
        "report them: one line per obligation in registry order, a summary, then every failure with its "
        "counterexample as tables (state before and after, spec beside α(impl), the failing conjunct, the "
        "replay command). Only 'proved' passes.",
        _epilog(
            "every selected obligation is proved (or --list); with --expect-findings: every failure is "
            "explained by findings and every documented finding was found",
            "some obligation is not: counterexample, unknown, timeout, vacuous or error",
            "  rmap-verify prove\n"
            "  rmap-verify prove --variant seed --expect-findings\n"
            "  rmap-verify prove --variant seed -v\n"
            '  rmap-verify prove --list -k "try_to_unmap and not reclaim"\n'
            '  rmap-verify prove -k "(map or zap) and not [seed]" --variant all --json r.json --junit r.xml\n'
            "  rmap-verify prove -x --affected-by impl/fixes.py:try_to_unmap_one",
            partial=True,
        ),
    )
    _variant(p, allow_all=True)
    p.add_argument(
        "-k",
        dest="pattern",
        default=None,
        metavar="EXPRESSION",
        help="select by an expression: words, and, or, not, ( )",
    )
    p.add_argument(
        "--deep",
        action="store_true",
        help="also the long searches: the reachability obligations (a witness per branch arm, "
        "replayed line by line); CI and the README's main job run them",
    )
    p.add_argument(
        "--affected-by",
        default=None,
        metavar="FILE:NAME",
        help="only the obligations a change to that function can affect: every interleaving and "
        "exhaustive one (they run impl/'s Python), first, then the z3 ones whose entry point may "
        "reach it (proofs/z3/callmap.py); e.g. impl/fixes.py:try_to_unmap",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per solver query (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--jobs", type=int, default=0, help="parallel processes (default: one per core)")
    p.add_argument(
        "-x",
        "--fail-fast",
        action="store_true",
        help="stop at the first obligation not proved (exit 1); the reports say complete: false and list "
        "the rest as not run",
    )
    _report_options(p)
    p.add_argument(
        "--cex-dir",
        default="reports/cex",
        metavar="DIR",
        help="where counterexample traces go (default reports/cex; created)",
    )
    p.add_argument(
        "--list", action="store_true", help="list the selected obligations and exit (with --json: as JSON)"
    )
    p.add_argument(
        "--expect-findings",
        action="store_true",
        help="pass when the failures are exactly the documented findings: each explained by replay, "
        "every finding found (for seed's runs in CI)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every detail the provers report (VCs, explorations)",
    )

    p = _command(
        sub,
        "contracts",
        "check the CrossHair contracts of impl/",
        "Check every condition of the PEP 316 contracts of impl/contracts.py with CrossHair, one "
        "exploration of each contract's worlds (within a CPU-second budget) checking all its conditions. "
        "A condition is verified (every path explored), holds within budget (no counterexample, paths "
        "left), or has a counterexample; on seed each counterexample is attributed to the findings whose "
        "fixes remove it.",
        _epilog(
            "no counterexample (--require-verified: every condition verified), no unexplained difference",
            "a counterexample, an unexplained difference, an error, or (with --require-verified) a condition "
            "only held within budget",
            "  rmap-verify contracts --variant fixed\n"
            "  rmap-verify contracts --worlds nightly --jobs 2\n"
            "  rmap-verify contracts --list\n"
            '  rmap-verify contracts -k "try_to_unmap and not one" --require-verified --junit c.xml',
            partial=True,
        ),
    )
    _variant(p)
    p.add_argument(
        "-k",
        dest="pattern",
        default=None,
        metavar="EXPRESSION",
        help="select conditions: words, and, or, not, ( )",
    )
    p.add_argument(
        "--per-condition-timeout",
        type=float,
        default=None,
        metavar="S",
        help="CPU seconds per exploration of a contract (all its conditions)",
    )
    p.add_argument(
        "--worlds",
        choices=("push", "nightly"),
        default="push",
        help="the worlds' bounds (impl/contract_worlds.py WORLDS): push, the CI gate, or nightly",
    )
    p.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first counterexample (the contracts stage of mutants)",
    )
    p.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="write each contract's worlds and what of impl/ they call (the mutants stage's baseline)",
    )
    p.add_argument(
        "--recorded",
        default=None,
        metavar="FILE",
        help="replay a --record file's worlds instead of exploring (with --reaching)",
    )
    p.add_argument(
        "--reaching",
        default=None,
        metavar="FILE:FUNCTION",
        help="only the contracts whose recorded worlds call this function, its own first (a mutant's)",
    )
    p.add_argument("--jobs", type=int, default=0, help="parallel processes (default: one per core)")
    _report_options(p)
    p.add_argument(
        "--list", action="store_true", help="list the selected conditions and exit (with --json: as JSON)"
    )
    p.add_argument(
        "--require-verified", action="store_true", help="exit 1 unless every selected condition is verified"
    )

    p = _command(
        sub,
        "docs",
        "regenerate docs/ from the code and results (or check it is current)",
        "Generate docs/ and mkdocs.yml from the code, the committed results (proofs/results/*.json) and the "
        "prose pages of docs_src/, whose figures are placeholders filled from the results.",
        _epilog(
            "docs/ written (with --check: docs/ is current)",
            "with --check, docs/ differs from what would be generated; or a results file is broken",
            "  rmap-verify docs\n  rmap-verify docs --check",
        ),
    )
    p.add_argument(
        "--check", action="store_true", help="exit 1 if docs/ differs from what would be generated"
    )

    p = _command(
        sub,
        "mutants",
        "mutation testing of the corrected variant",
        "Mutate the code the fixed variant runs (cosmic-ray) and judge each mutant by the tests, the proofs "
        "and the contracts in a private copy of the committed project.",
        _epilog(
            "every mutant is killed or a documented equivalent",
            "a mutant survived, or an EQUIVALENT entry is stale",
            "  rmap-verify mutants --quick\n  rmap-verify mutants --jobs 2 --report mutants.json\n"
            "  rmap-verify mutants --stage contracts",
        ),
    )
    p.add_argument("--quick", action="store_true", help="only the quick subset CI runs")
    p.add_argument(
        "--stage",
        choices=STAGE_NAMES,
        default=None,
        help="judge every mutant by this stage alone, for its kill rate (report: results/mutants-STAGE.json)",
    )
    p.add_argument("--report", default=None, metavar="FILE", help="write the report here")
    p.add_argument(
        "--again",
        default=None,
        metavar="REPORT",
        help="with --stage: judge again only the mutants that REPORT (a run of that stage alone) says "
        "survived or could not be seen, on the code as it is now; keep its other verdicts",
    )
    p.add_argument("--jobs", type=int, default=0, help="parallel mutants (default: one per core)")
    return parser


# ------------------------------------------------------------ outputs


def writable_file(path: str, option: str) -> None:
    """Refuse an output path before the run rather than after it: no directory is created for it."""
    if path == "-":
        return
    if not path:
        raise UsageError(f"{option} needs a file name, not an empty string")
    target = Path(path)
    parent = target.parent
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a directory")
    if target.exists() and not target.is_file():
        raise UsageError(f"{option} {path}: not a regular file")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def write_output(path: str, text: str, option: str) -> None:
    """Write a report whole or not at all (a temporary file renamed into place); - is stdout."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    target = Path(path)
    try:
        with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent, delete=False) as stream:
            stream.write(text)
        os.replace(stream.name, target)
    except OSError as why:
        Path(stream.name).unlink(missing_ok=True)
        raise UsageError(f"{option} {path}: cannot write: {why.strerror}") from None


def jobs(value: int) -> int:
    """--jobs: 0 means one per core this process may run on."""
    if value < 0:
        raise UsageError(f"--jobs must be 0 (one per core) or a positive number, not {value}")
    if value:
        return value
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = f"rmap-verify {args.command}"
    try:
        code: int = importlib.import_module(COMMANDS[args.command]).run(args)
    except UsageError as why:
        print(f"{command}: error: {why}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as why:
        print(f"{command}: interrupted: {why}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away (| head): nothing more to say to it
        _drop_stdout()
        return EXIT_FAILED
    except OSError as why:  # a file, or standard output (> /dev/full), that cannot be used
        what = f"cannot use {why.filename}" if why.filename else "cannot write the output"
        _drop_stdout()
        print(f"{command}: error: {what}: {why.strerror or why}", file=sys.stderr)
        return EXIT_USAGE
    return code


def _drop_stdout() -> None:
    """Send what is still buffered for stdout nowhere, so that exiting adds no second error."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    # Run as ``python -m proofs.tool.cli``, this file is ``__main__``, a second copy of the module:
    # the commands raise proofs.tool.cli.UsageError, which only proofs.tool.cli.main catches.
    from proofs.tool import cli

    sys.exit(cli.main())
