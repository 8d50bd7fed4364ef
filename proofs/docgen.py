"""``rmap-verify docs``: generate docs/ (and mkdocs.yml) from the code.

Everything under docs/ is written here from the one source: the
invariants (spec/, impl/), the obligations (proofs.registry), the
findings and their traces, the seed and its port, the trace operation
table, the committed results (proofs/results/*.json) and the hand-written
pages in docs_src/.  Generation is deterministic (sorted, no clock), so
``--check`` can tell a stale docs/ by comparing text.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import importlib
import inspect
import io
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FunctionType
from typing import Any

from impl.fixes import FIXES
from impl.invariants import ALL_INVARIANTS, REP_INVARIANTS
from impl.rmap_seed import SeedRmap
from impl.trace import OPS, replay
from impl.variants import VARIANTS
from proofs.cli import EXIT_FAILED, EXIT_OK, build_parser
from proofs.findings import FINDINGS, Finding
from proofs.obligation import Obligation
from proofs.report import is_bounded
from spec.invariants import Invariant

ROOT = Path(__file__).resolve().parents[1]
DOCS = "docs"
SRC = ROOT / "docs_src"
RESULTS = ROOT / "proofs" / "results"
MKDOCS_YML = "mkdocs.yml"
# The seed is the project's input; CI lays shared/ beside the clone.
SEED_PATHS = (ROOT / "seed" / "rmap.c", ROOT.parent / "shared" / "seed" / "rmap.c")
SEED_REF = re.compile(r"\[rmap\.c:(\d+)((?:,\s*\d+)*)\]")

# Invariants no obligation proves, and why (the catalogue shows the reason;
# tests/test_docs.py fails when an invariant has neither).
NOT_COVERED: dict[str, str] = {}

# The hand-written pages, in nav order; any other docs_src page follows, sorted.
NAV_SRC_ORDER = (
    "index.md",
    "getting-started.md",
    "model.md",
    "stateful.md",
    "proofs.md",
    "runner.md",
    "contracts.md",
    "locking.md",
    "mutation.md",
    "benchmarks.md",
)


class DocsError(Exception):
    """The code and its documentation tables disagree; one line says where."""


# ---------------------------------------------------------------- sources


def _rel(path: str | Path) -> str:
    """A path as the pages show it: relative to the repository when inside it."""
    full = Path(path).resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(full)


def _load_json(path: Path) -> Any:
    """A committed results file, or None when there is none."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as why:
        raise DocsError(f"{_rel(path)} is not JSON ({why.msg} at line {why.lineno})") from None


def load_obligations() -> tuple[Obligation, ...] | None:
    """proofs.registry.OBLIGATIONS, or None while it does not exist."""
    try:
        registry = importlib.import_module("proofs.registry")
    except ModuleNotFoundError as why:
        if why.name == "proofs.registry":
            return None
        raise DocsError(f"proofs.registry cannot be imported: {why}") from None
    except ImportError as why:
        raise DocsError(f"proofs.registry cannot be imported: {why}") from None
    return tuple(registry.OBLIGATIONS)


@dataclass(frozen=True)
class ProofResult:
    status: str
    seconds: float | None
    conjunct: str  # the failing part of the property, as the report names it
    shows: tuple[str, ...]  # what the counterexample's replay shows
    trace: tuple[dict[str, Any], ...]  # the counterexample as trace operations

    def breaks(self, invariant: str) -> bool:
        """A counterexample on this invariant's conjunct (an unknown or a
        timeout on it leaves the invariant unproved, not broken)."""
        named = invariant in self.shows or invariant in re.split(r"[,:()\s]+", self.conjunct)
        return self.status == "counterexample" and named

    @property
    def passed(self) -> bool:
        return self.status == "proved"


def prove_reports() -> dict[str, dict[str, Any]]:
    """variant -> its committed ``rmap-verify prove --json`` report."""
    found = {}
    for variant in VARIANTS:
        report = _load_json(RESULTS / f"prove-{variant}.json")
        if isinstance(report, dict):
            found[variant] = report
    return found


def _proof_results(reports: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], ProofResult] | None:
    """(obligation name, variant) -> its result in the reports, None when there are none."""
    if not reports:
        return None
    found: dict[tuple[str, str], ProofResult] = {}
    for report in reports.values():
        for row in report.get("obligations", []):
            seconds = row.get("seconds")
            detail = row.get("detail") or {}
            replay = detail.get("replay") or {}
            found[(row["name"], row["variant"])] = ProofResult(
                str(row["status"]),
                None if seconds is None else float(seconds),
                str(row.get("conjunct") or ""),
                tuple(replay.get("shows") or ()),
                tuple(detail.get("trace") or ()),
            )
    return found


def _z3_formulas() -> dict[str, str]:
    """invariant name -> its z3 conjunct as text: proofs.z3.invariants.full
    applied to a fresh symbolic state, printed with z3's own pretty printer
    (private instances, so no z3.set_option elsewhere changes the text)."""
    try:
        z3_invariants = importlib.import_module("proofs.z3.invariants")
        z3_state = importlib.import_module("proofs.z3.state")
    except ModuleNotFoundError:
        return {}
    from z3 import z3printer

    grouped: dict[str, list[str]] = {}
    for name, formula in z3_invariants.full(z3_state.fresh("s")):
        out = io.StringIO()
        z3printer.PP()(out, z3printer.Formatter()(formula))
        grouped.setdefault(name, []).append(out.getvalue())
    return {name: "\n".join(texts) for name, texts in grouped.items()}


def _seed_path() -> Path | None:
    return next((p for p in SEED_PATHS if p.is_file()), None)


@dataclass(frozen=True)
class SeedFunction:
    name: str
    first: int  # the signature's line
    last: int  # the closing brace
    summary: str  # the kernel-doc line "name - what it does", or ""
    lines: tuple[str, ...]  # the source, first..last


def seed_functions(text: str) -> tuple[SeedFunction, ...]:
    """Every function defined in the seed, with its lines (1-based)."""
    lines = text.splitlines()
    head = re.compile(r"^(?:static\s+)?(?:inline\s+)?(?:void|int|struct\s+\w+\s*\*)\s*(?:__init\s+)?(\w+)\(")
    found = []
    for i, line in enumerate(lines):
        m = head.match(line)
        if not m:
            continue
        j = i
        while not lines[j].rstrip().endswith(";") and lines[j + 1].strip() != "{":
            j += 1
        if lines[j].rstrip().endswith(";"):
            continue  # a declaration
        end = next(k for k in range(j, len(lines)) if lines[k] == "}")
        summary = ""
        doc = re.compile(rf"^ \* {m.group(1)} - (.*)$")
        for k in range(i - 1, max(i - 25, 0), -1):
            if lines[k].startswith("/**"):
                break
            if d := doc.match(lines[k]):
                summary = d.group(1)
        found.append(SeedFunction(m.group(1), i + 1, end + 1, summary, tuple(lines[i : end + 1])))
    return tuple(found)


def _seed_function_at(funcs: Sequence[SeedFunction], line: int) -> SeedFunction | None:
    return next((f for f in funcs if f.first <= line <= f.last), None)


# ---------------------------------------------------------------- markdown helpers


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def _fence(lang: str, body: str, attrs: str = "") -> str:
    ticks = "````" if "```" in body else "```"
    return f"{ticks}{lang}{(' ' + attrs) if attrs else ''}\n{body.rstrip()}\n{ticks}\n"


def _seed_links(text: str, funcs: Sequence[SeedFunction], page: str = "seed.md") -> str:
    """Turn [rmap.c:N] references into links to the seed function holding line N."""

    def one(line: str) -> str:
        f = _seed_function_at(funcs, int(line))
        return line if f is None else f"[{line}]({page}#{f.name})"

    def link(m: re.Match[str]) -> str:
        lines = re.findall(r"\d+", m.group(0)[len("[rmap.c:") :])
        return "rmap.c:" + ", ".join(one(n) for n in lines)

    return SEED_REF.sub(link, text)


def _status_mark(status: str) -> str:
    """A result, failures in bold (plain text: no emoji font needed)."""
    return status if status in ("proved", "verified") else f"**{status}**"


# ---------------------------------------------------------------- invariant sources


def _code_names(code: CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names += _code_names(const)
    return names


def _lambda_text(fn: FunctionType) -> str:
    src = inspect.getsource(fn).strip().rstrip(",")
    return src[src.index("lambda") :] if "lambda" in src else src


def predicate_source(check: Callable[..., Any]) -> tuple[str, list[str]]:
    """The check's source with every helper of its module it reaches, and
    the qualified names of the functions it uses from other modules."""
    assert isinstance(check, FunctionType)
    module = check.__module__
    parts: list[str] = []
    seen: set[str] = set()
    uses: set[str] = set()

    def visit(fn: FunctionType) -> None:
        if fn.__name__ == "<lambda>":
            parts.append(_lambda_text(fn))
        else:
            parts.append(textwrap.dedent(inspect.getsource(fn)).rstrip())
        for name in _code_names(fn.__code__):
            obj = fn.__globals__.get(name)
            if not isinstance(obj, FunctionType) or name in seen:
                continue
            seen.add(name)
            if obj.__module__ == module:
                visit(obj)
            elif obj.__module__.split(".")[0] in ("spec", "impl"):
                uses.add(f"{obj.__module__}.{obj.__name__}")

    visit(check)
    return "\n\n".join(parts), sorted(uses)


def _invariant_location(inv: Invariant[Any]) -> str:
    module = "impl/invariants.py" if inv in REP_INVARIANTS else "spec/invariants.py"
    lines = (ROOT / module).read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == f'"{inv.name}",')
    return f"{module}:{number}"


def invariant_names_in_source() -> set[str]:
    """Every name given to an ``Invariant(...)`` in spec/ and impl/."""
    names = set()
    for path in sorted([*(ROOT / "spec").glob("*.py"), *(ROOT / "impl").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Invariant"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
    return names


# ---------------------------------------------------------------- status


def _result_text(ob: Obligation, results: Mapping[tuple[str, str], ProofResult] | None) -> str:
    if results is None:
        return "not run"
    r = results.get((ob.name, ob.variant))
    return "not run" if r is None else _status_mark(r.status)


def _result_on(ob: Obligation, results: Mapping[tuple[str, str], ProofResult] | None, name: str) -> str:
    """The obligation's result, and for a failure whether it is on this invariant."""
    text = _result_text(ob, results)
    r = None if results is None else results.get((ob.name, ob.variant))
    if r is None or r.passed:
        return text
    return text + (" on this invariant" if r.breaks(name) else f" on: {r.conjunct or 'no conjunct named'}")


def invariant_status(
    name: str,
    variant: str,
    obligations: Sequence[Obligation] | None,
    results: Mapping[tuple[str, str], ProofResult] | None,
) -> str:
    """proved / counterexample / unproved / not covered / not run, for one variant.

    An invariant has a counterexample when an obligation naming it fails on
    its conjunct; it is unproved when such obligations fail on other parts
    only; proved when every one that ran is proved."""
    if obligations is None:
        return "not run (no registry)"
    mine = [ob for ob in obligations if ob.variant == variant and name in ob.invariants]
    if not mine:
        return "not covered"
    ran = [results[(ob.name, variant)] for ob in mine if results and (ob.name, variant) in results]
    if not ran:
        return "not run"
    missing = f", {len(mine) - len(ran)} not run" if len(ran) < len(mine) else ""
    broken = sum(r.breaks(name) for r in ran)
    failed = sum(not r.passed for r in ran)
    if broken:
        return f"**counterexample** in {broken} of {len(ran)} obligations{missing}"
    if failed:
        return (
            f"**unproved**: {failed} of {len(ran)} obligations fail, none by a counterexample on it{missing}"
        )
    return f"proved by {len(ran)} obligations{missing}"


# ---------------------------------------------------------------- pages


@dataclass(frozen=True)
class Context:
    obligations: tuple[Obligation, ...] | None
    results: dict[tuple[str, str], ProofResult] | None
    runs: dict[str, dict[str, Any]]  # variant -> its prove --json report
    formulas: dict[str, str]
    seed: tuple[SeedFunction, ...]
    seed_file: str  # where the seed was read, for the pages
    contracts: dict[str, Contract]
    contract_results: dict[str, list[ContractResult]]


def invariants_page(ctx: Context) -> str:
    out = [
        "# Invariant catalogue\n",
        "Every invariant of the model, written once in `spec/invariants.py` (`SPEC_INVARIANTS`, "
        "on the abstract state) or `impl/invariants.py` (`REP_INVARIANTS`, on the concrete "
        "kernel), as the tests, proofs and contracts use it. *Status* is read from the committed "
        "`proofs/results/prove-<variant>.json`; *not covered* means no obligation of "
        "`proofs.registry` names the invariant for that variant.\n",
    ]
    variants = list(VARIANTS)
    rows = []
    for inv in ALL_INVARIANTS:
        statuses = [invariant_status(inv.name, v, ctx.obligations, ctx.results) for v in variants]
        rows.append([f"[`{inv.name}`](#{inv.name})", inv.kind, *statuses])
    out.append(_table(["invariant", "kind", *variants], rows))
    for inv in ALL_INVARIANTS:
        out.append(_invariant_section(inv, ctx))
    return "\n".join(out)


def _invariant_section(inv: Invariant[Any], ctx: Context) -> str:
    level = "representation (concrete kernel)" if inv in REP_INVARIANTS else "specification (abstract state)"
    out = [
        f"## {inv.name} {{#{inv.name}}}\n",
        f"*{inv.kind}* invariant of the {level}, `{_invariant_location(inv)}`.\n",
        f"{inv.text}\n",
        f"**Where the kernel relies on it:** {_seed_links(inv.relies, ctx.seed)}\n",
        "**Status**\n",
        _table(
            ["variant", "status"],
            [[v, invariant_status(inv.name, v, ctx.obligations, ctx.results)] for v in list(VARIANTS)],
        ),
    ]
    if ctx.obligations is None:
        out.append("**Proved by:** not known yet (`proofs.registry` does not exist).\n")
    else:
        mine = sorted((ob for ob in ctx.obligations if inv.name in ob.invariants), key=_ob_key)
        if mine:
            out.append("**Obligations that state it**\n")
            out.append(
                _table(
                    ["obligation", "variant", "property", "bounded", "result"],
                    [
                        [
                            f"[{ob.name}](obligations.md#{_ob_anchor(ob)})",
                            ob.variant,
                            ob.prop,
                            _bounded(ob),
                            _result_on(ob, ctx.results, inv.name),
                        ]
                        for ob in mine
                    ],
                )
            )
        else:
            why = NOT_COVERED.get(inv.name, "no reason recorded")
            out.append(f"**Not covered:** {why}\n")
    checking = [c for c in ctx.contracts.values() if inv.kind in c.kinds]
    if checking:
        out.append(
            f"**Checked by the contracts** whose posts check every *{inv.kind}* conjunct: "
            + ", ".join(f"[`{c.name}`](obligations.md#contracts-{c.name})" for c in checking)
            + "\n"
        )
    source, uses = predicate_source(inv.check)
    out.append("**Formal statement (the Python predicate; it lists every violation)**\n")
    out.append(_fence("python", source))
    if uses:
        out.append("Uses " + ", ".join(f"`{u}`" for u in uses) + ".\n")
    formula = ctx.formulas.get(inv.name)
    out.append("**z3 formula**\n")
    if formula:
        out.append(
            "The conjunct `proofs.z3.invariants.full` states for the page an operation is about, on "
            "the symbolic state `s` of `proofs/z3/state.py` (`s.n`, `s.nd`, `s.npos`, `s.ppos` are "
            "the ghost chain; `other` and `nr_other` the other pages' frame):\n"
        )
        out.append(_fence("text", formula))
    else:
        out.append(
            "z3 formula: see obligations. `proofs.z3.invariants.full` has no per-state conjunct for it: "
            "the count involves every page's ptes, so each obligation that states it does so as a "
            "balance equation of its operation (the counter moves by exactly the change in what it "
            "counts).\n"
        )
    return "\n".join(out)


def _obligation_table(obs: Iterable[Obligation], ctx: Context, page: str) -> str:
    return _table(
        ["obligation", "variant", "property", "result"],
        [
            [f"[{ob.name}]({page}#{_ob_anchor(ob)})", ob.variant, ob.prop, _result_text(ob, ctx.results)]
            for ob in sorted(obs, key=_ob_key)
        ],
    )


def _bounded(ob: Obligation) -> str:
    return "bounded" if is_bounded(ob.method) else "unbounded"


def _ob_key(ob: Obligation) -> tuple[str, int]:
    return ob.name, list(VARIANTS).index(ob.variant) if ob.variant in VARIANTS else len(VARIANTS)


def _ob_anchor(ob: Obligation) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{ob.name} {ob.variant}".lower()).strip("-")


@dataclass(frozen=True)
class ContractResult:
    function: str
    condition: str
    status: str
    detail: str
    seconds: float
    findings: tuple[str, ...]  # the findings that explain its counterexamples
    calls: tuple[str, ...]  # the calls CrossHair found as counterexamples


def load_contract_results() -> dict[str, list[ContractResult]]:
    """variant -> the conditions of proofs/results/contracts-<variant>.json
    (``rmap-verify contracts --json``), for the variants committed."""
    found = {}
    for variant in VARIANTS:
        report = _load_json(RESULTS / f"contracts-{variant}.json")
        if not isinstance(report, dict):
            continue
        found[variant] = [
            ContractResult(
                str(row["function"]),
                str(row["condition"]),
                str(row["status"]),
                " ".join(str(row.get("detail") or "").split()),
                float(row.get("cpu_seconds") or 0.0),
                tuple(
                    sorted({i for c in row.get("counterexamples", []) for s in c["explained_by"] for i in s})
                ),
                tuple(str(c["call"]) for c in row.get("counterexamples", [])),
            )
            for row in report.get("conditions", [])
        ]
    return found


def _contract_status(ctx: Context, variant: str, name: str) -> str:
    if variant not in ctx.contract_results:
        return "not run"
    rows = [r for r in ctx.contract_results[variant] if r.function == name]
    if not rows:
        return "not run"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return ", ".join(f"{n} {_status_mark(st)}" for st, n in sorted(counts.items()))


def _contract_table(rows: Iterable[ContractResult], prefix: str = "", *, named: bool = False) -> str:
    return _table(
        ["contract"] * named + ["condition", "result", "CPU s", "explained by", "detail"],
        [
            [f"[`{r.function}`]({prefix}obligations.md#contracts-{r.function})"] * named
            + [
                f"`{r.condition}`",
                _status_mark(r.status),
                f"{r.seconds:.1f}",
                ", ".join(f"[{i}]({prefix}findings/{i}.md)" for i in r.findings),
                _shorten("; ".join(f"`{c}`" for c in r.calls) if r.calls else r.detail),
            ]
            for r in rows
        ],
    )


def _shorten(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def contracts_section(ctx: Context) -> str:
    out = [
        "## Contracts\n",
        "The CrossHair contracts of `impl/contracts.py` (one per seed function and caller path, "
        "PEP 316 `pre:`/`post:` lines) with the last committed `rmap-verify contracts --json` "
        "results, `proofs/results/contracts-<variant>.json`.\n",
    ]
    if not ctx.contracts:
        out.append("No contracts yet: `impl/contracts.py` does not exist.\n")
        return "\n".join(out)
    out.append(
        _table(
            ["contract", "defined at", *VARIANTS],
            [
                [
                    f"[`{c.name}`](#contracts-{c.name})",
                    c.where,
                    *(_contract_status(ctx, v, c.name) for v in VARIANTS),
                ]
                for c in ctx.contracts.values()
            ],
        )
    )
    for c in ctx.contracts.values():
        out.append(f"### {c.name} {{#contracts-{c.name}}}\n")
        out.append(f"{c.summary} (`{c.where}`)\n")
        out.append(_fence("text", "\n".join(c.conditions)))
        for variant in VARIANTS:
            rows = [r for r in ctx.contract_results.get(variant, []) if r.function == c.name]
            if rows:
                out.append(f"On {variant}:\n")
                out.append(_contract_table(rows))
    return "\n".join(out)


def obligations_page(ctx: Context) -> str:
    out = [
        "# Obligations and contracts\n",
        "The proof obligations are data (`proofs.registry.OBLIGATIONS`); the results are the "
        "last committed `rmap-verify prove --json` reports, `proofs/results/prove-<variant>.json`. "
        "Only *proved* passes: unknown, timeout, vacuous and error fail like a counterexample.\n",
    ]
    if ctx.obligations is None:
        out.append("No obligations yet: `proofs.registry` does not exist.\n")
    else:
        if ctx.results is None:
            out.append("Not run yet: no `proofs/results/prove-*.json` is committed.\n")
        else:
            out.append(
                _table(
                    ["variant", "run at", "z3", "obligations", "passed", "seconds"],
                    [
                        [
                            v,
                            r.get("timestamp", "?"),
                            r.get("z3_version", "?"),
                            ", ".join(
                                f"{n} {st}"
                                for st, n in sorted(r.get("totals", {}).items())
                                if st not in ("obligations", "passed", "seconds") and n
                            ),
                            {True: "yes", False: "no"}.get(r.get("totals", {}).get("passed"), "?"),
                            r.get("totals", {}).get("seconds", "?"),
                        ]
                        for v, r in ctx.runs.items()
                    ],
                )
            )
        rows = []
        for ob in sorted(ctx.obligations, key=_ob_key):
            r = None if ctx.results is None else ctx.results.get((ob.name, ob.variant))
            seconds = "" if r is None or r.seconds is None else f"{r.seconds:.2f} s"
            rows.append(
                [
                    f"[{ob.name}](#{_ob_anchor(ob)})",
                    ob.prop,
                    ob.variant,
                    _result_text(ob, ctx.results),
                    seconds,
                    _bounded(ob),
                ]
            )
        out.append(_table(["obligation", "property", "variant", "result", "time", "bounded"], rows))
        for ob in sorted(ctx.obligations, key=_ob_key):
            out.append(f"### {ob.name} [{ob.variant}] {{#{_ob_anchor(ob)}}}\n")
            out.append(f"{ob.statement}\n")
            facts = [
                [
                    "function",
                    f"[`{ob.function}`](seed.md#{ob.function})" if _is_seed_fn(ctx, ob) else ob.function,
                ],
                ["property", ob.prop],
                ["method", ob.method],
                ["invariants", ", ".join(f"[`{n}`](invariants.md#{n})" for n in ob.invariants) or "none"],
                ["runner", f"`{ob.runner}`"],
                ["result", _result_text(ob, ctx.results)],
            ]
            if ob.finding:
                facts.append(["finding", f"[{ob.finding}](findings/{ob.finding}.md)"])
            r = None if ctx.results is None else ctx.results.get((ob.name, ob.variant))
            if r is not None and not r.passed:
                facts.append(["failing conjunct", r.conjunct or "not named"])
                if r.shows:
                    facts.append(["its replay shows", ", ".join(r.shows)])
            out.append(_table(["", ""], facts))
            if r is not None and r.trace:
                out.append(f'??? failure "Counterexample trace (replay with `--variant {ob.variant}`)"\n')
                body = "\n".join(json.dumps(op, sort_keys=True) for op in r.trace)
                out.append(textwrap.indent(_fence("json", body), "    "))
    out.append(contracts_section(ctx))
    return "\n".join(out)


def _is_seed_fn(ctx: Context, ob: Obligation) -> bool:
    return any(f.name == ob.function for f in ctx.seed)


# ---------------------------------------------------------------- seed cross-reference


def _port_refs(fn: Callable[..., Any]) -> list[tuple[int, int, str]]:
    """(seed line, port line, comment) for each [rmap.c:N] in a method's source."""
    lines, start = inspect.getsourcelines(fn)
    refs = []
    for offset, line in enumerate(lines):
        for m in SEED_REF.finditer(line):
            note = line.split("#", 1)[1] if "#" in line else line
            for more in lines[offset + 1 :]:  # the comment's continuation lines
                if not more.strip().startswith("#") or SEED_REF.search(more):
                    break
                note += " " + more.strip().lstrip("#")
            refs.append((int(m.group(1)), start + offset, " ".join(note.strip().strip('"').split())))
    return refs


def _callers_of(name: str) -> list[str]:
    """The functions of impl/ (callers and the port) that call ``name``."""
    found = []
    for module in ("impl/callers.py", "impl/rmap_seed.py", "impl/fixes.py", "impl/rmap_2532.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.name == name:
                continue
            calls = any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr == name
                for c in ast.walk(node)
            )
            if calls:
                found.append(f"`{node.name}` ({module}:{node.lineno})")
    return sorted(set(found))


@dataclass(frozen=True)
class Contract:
    """One PEP 316 contract of impl/contracts.py, named after its function."""

    name: str
    where: str  # file:line
    summary: str  # the docstring's first line
    conditions: tuple[str, ...]  # its pre: and post: lines
    kinds: tuple[str, ...]  # invariant kinds its posts check with holds(_, KIND)


def load_contracts() -> dict[str, Contract]:
    """The contracts of impl/contracts.py (``CONTRACTS``), by function name."""
    try:
        module = importlib.import_module("impl.contracts")
    except ModuleNotFoundError:
        return {}
    found = {}
    for fn in module.CONTRACTS:
        doc = inspect.cleandoc(fn.__doc__ or "").splitlines()
        conditions = tuple(line.strip() for line in doc if line.strip().startswith(("pre:", "post:")))
        kinds = tuple(
            str(getattr(module, word)) for c in conditions for word in re.findall(r"holds\(_, (\w+)\)", c)
        )
        _, line = inspect.getsourcelines(fn)
        summary = " ".join(doc[: doc.index("")] if "" in doc else doc[:1])
        where = f"{_rel(inspect.getsourcefile(fn) or '')}:{line}"
        found[fn.__name__] = Contract(fn.__name__, where, summary, conditions, kinds)
    return found


def seed_page(ctx: Context) -> str:
    out = [
        "# The seed, function by function\n",
        f"Every function of the seed (`mm/rmap.c`, Linux 2.5.31, read from `{ctx.seed_file}`), with "
        "its port in each variant (file and line), the seed lines the port cites as `[rmap.c:N]`, "
        "who calls it in the model, the contracts on it, the obligations about it and the "
        "findings in it.\n",
    ]
    rows = []
    for f in ctx.seed:
        obs = [ob for ob in ctx.obligations or () if ob.function == f.name]
        found = [x.id for x in FINDINGS if x.function == f.name]
        rows.append(
            [
                f"{f.first}-{f.last}",
                f"[`{f.name}`](#{f.name})",
                len(obs),
                ", ".join(f"[{i}](findings/{i}.md)" for i in found) or "",
            ]
        )
    out.append(_table(["rmap.c lines", "function", "obligations", "findings"], rows))
    for f in ctx.seed:
        out.append(_seed_section(f, ctx))
    return "\n".join(out)


def _seed_section(f: SeedFunction, ctx: Context) -> str:
    out = [f"## {f.name} {{#{f.name}}}\n"]
    if f.summary:
        out.append(f"*{f.summary}* (rmap.c:{f.first}-{f.last})\n")
    else:
        out.append(f"rmap.c:{f.first}-{f.last}\n")
    # The seed's text is read for its line numbers, never copied into docs/.
    rows = []
    for variant, cls in VARIANTS.items():
        method = getattr(cls, f.name, None)
        if method is None:
            rows.append([variant, "not ported", ""])
            continue
        _, line = inspect.getsourcelines(method)
        owner = next(c for c in cls.__mro__ if f.name in c.__dict__)
        note = "" if owner is cls else f"inherited from `{owner.__name__}`"
        rows.append(
            [variant, f"`{owner.__name__}.{f.name}` {_rel(inspect.getsourcefile(method) or '')}:{line}", note]
        )
    out.append("**Port**\n")
    out.append(_table(["variant", "function", ""], rows))
    method = getattr(SeedRmap, f.name, None)
    if method is not None:
        refs = _port_refs(method)
        for helper in _seed_helpers(f):
            refs += _port_refs(helper)
        if refs:
            out.append("**Seed lines the port cites**\n")
            out.append(
                _table(
                    ["rmap.c", "impl/rmap_seed.py", "note"],
                    [[seed, port, note] for seed, port, note in sorted(refs)],
                )
            )
    callers = _callers_of(f.name)
    out.append("**Called by (in the model):** " + (", ".join(callers) if callers else "nothing") + "\n")
    contract = ctx.contracts.get(f.name)
    if contract is None:
        out.append("**Contract:** none\n")
    else:
        out.append(f"**Contract** (`{contract.where}`): {contract.summary}\n")
        out.append(_fence("text", "\n".join(contract.conditions)))
        results = "; ".join(f"{v}: {_contract_status(ctx, v, f.name)}" for v in VARIANTS)
        out.append(f"Contract results ([all](obligations.md#contracts-{f.name})): {results}\n")
    obs = [ob for ob in ctx.obligations or () if ob.function == f.name]
    if obs:
        out.append("**Obligations**\n")
        out.append(_obligation_table(obs, ctx, "obligations.md"))
    else:
        out.append("**Obligations:** none yet\n")
    found = [x for x in FINDINGS if x.function == f.name]
    out.append(
        "**Findings:** "
        + (
            ", ".join(f"[{x.id}](findings/{x.id}.md) {x.title} (rmap.c {x.seed_lines[7:]})" for x in found)
            or "none"
        )
        + "\n"
    )
    relying = [inv.name for inv in ALL_INVARIANTS if f.name in inv.relies]
    if relying:
        out.append(
            "**Invariants that name it:** " + ", ".join(f"[`{n}`](invariants.md#{n})" for n in relying) + "\n"
        )
    return "\n".join(out)


def _seed_helpers(f: SeedFunction) -> list[Callable[..., Any]]:
    """Private methods of the port that carry lines of seed function ``f``."""
    helpers = []
    for name, obj in sorted(vars(SeedRmap).items()):
        if name.startswith("_") and not name.startswith("__") and isinstance(obj, FunctionType):
            if any(f.first <= seed <= f.last for seed, _, _ in _port_refs(obj)):
                helpers.append(obj)
    return helpers


# ---------------------------------------------------------------- findings


def _replay(path: Path, variant: str) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return list(replay(lines, _rel(path), variant))


def _node(kind: str, name: object) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{kind}_{name}")


def mermaid_state(record: Mapping[str, Any]) -> str:
    """A Mermaid flowchart of a trace record: pages, their direct pointer or
    chain, the ptes with their mm, the mms with rss; lost and leaked in red."""
    out = ["flowchart TB"]
    recorded: set[tuple[int, str]] = set()
    chained = 0
    for page in record["pages"]:
        pid = _node("page", page["pfn"])
        flags = " ".join(f for f in page["flags"] if f != "direct")
        shape = "direct" if page["direct"] else "chain" if page["chain_nodes"] > 0 else "no rmap"
        label = f"page {page['pfn']}<br/>count {page['count']}, {shape}" + (f"<br/>{flags}" if flags else "")
        out.append(f'  {pid}["{label}"]')
        if isinstance(page["rmap"], str):
            out.append(f'  {pid} --- {pid}_bad["{page["rmap"].replace(chr(34), chr(39))}"]')
            out.append(f"  class {pid}_bad bad")
            continue
        if page["direct"]:
            for pte in page["rmap"]:
                out.append(f"  {pid} -->|pte.direct| {_node('pte', pte)}")
                recorded.add((page["pfn"], pte))
        else:
            prev, edge = pid, "pte.chain"
            for i, pte in enumerate(page["rmap"]):
                node = f"{pid}_pc{i}"
                out.append(f'  {node}(["pte_chain"])')
                out.append(f"  {prev} -->|{edge}| {node}")
                out.append(f"  {node} -->|ptep| {_node('pte', pte)}")
                recorded.add((page["pfn"], pte))
                prev, edge = node, "next"
            chained += len(page["rmap"])
    for pte in record["ptes"]:
        nid = _node("pte", pte["name"])
        if pte["present"]:
            held = f"maps page {pte['pfn']}"
        elif pte["swap"] is not None:
            held = f"swap {pte['swap']}"
        else:
            held = "empty"
        out.append(f'  {nid}[/"pte {pte["name"]} @ {pte["address"]:#x}<br/>{held}"/]')
        out.append(f"  {nid} -.- {_node('mm', pte['mm'])}")
        if pte["present"] and (pte["pfn"], pte["name"]) not in recorded:
            known = any(
                p["pfn"] == pte["pfn"] and p["valid"] and "reserved" not in p["flags"]
                for p in record["pages"]
            )
            if known:
                out.append(f"  {nid} -. maps, not in rmap .-> {_node('page', pte['pfn'])}")
                out.append(f"  class {nid} bad")
    for mm in record["mms"]:
        lock = f"<br/>page_table_lock: {mm['page_table_lock']}" if mm["page_table_lock"] else ""
        out.append(f'  {_node("mm", mm["name"])}[("mm {mm["name"]}<br/>rss {mm["rss"]}{lock}")]')
    leaked = record["pte_chain_objects"] - chained
    if leaked > 0:
        out.append(f'  leaked(["{leaked} pte_chain object(s) on no chain"])')
        out.append("  class leaked bad")
    out.append("  classDef bad stroke:#c62828,stroke-width:3px,color:#c62828")
    return "\n".join(out)


def state_rows(record: Mapping[str, Any]) -> dict[str, str]:
    """The state of a record as (what, value) facts, for a text table."""
    rows: dict[str, str] = {}
    for page in record["pages"]:
        if isinstance(page["rmap"], str):
            rmap = page["rmap"]
        elif not page["rmap"]:
            rmap = "none"
        else:
            rmap = ("direct " if page["direct"] else "chain ") + " → ".join(page["rmap"])
        rows[f"page {page['pfn']} reverse map"] = rmap
        rows[f"page {page['pfn']} count"] = str(page["count"])
        rows[f"page {page['pfn']} flags"] = " ".join(page["flags"]) or "none"
    for pte in record["ptes"]:
        if pte["present"]:
            held = f"maps page {pte['pfn']}"
        elif pte["swap"] is not None:
            held = f"swap entry {pte['swap']}"
        else:
            held = "empty"
        rows[f"pte {pte['name']} ({pte['mm']} @ {pte['address']:#x})"] = held
    for mm in record["mms"]:
        rows[f"mm {mm['name']} rss"] = str(mm["rss"])
        if mm["page_table_lock"]:
            rows[f"mm {mm['name']} page_table_lock"] = mm["page_table_lock"]
    for entry, count in sorted(record["swap"].items()):
        rows[f"swap entry {entry} count"] = str(count)
    rows["nr_reverse_maps"] = str(record["nr_reverse_maps"])
    rows["live pte_chain objects"] = str(record["pte_chain_objects"])
    return rows


def _outcome_lines(record: Mapping[str, Any]) -> list[str]:
    out = [f"- result: `{json.dumps(record['result'], sort_keys=True)}`"]
    if record["fault"]:
        f = record["fault"]
        out.append(f"- fault: **{f['kind']}** in `{f['where']}`: {f['why']}")
    if record["precondition"]:
        out.append(f"- caller precondition failed: {record['precondition']}")
    for name, msgs in sorted(record["violations"].items()):
        for msg in msgs:
            out.append(f"- violates [`{name}`](../invariants.md#{name}): {msg}")
    for msg in record["spec_mismatch"]:
        out.append(f"- differs from the spec: {msg}")
    if len(out) == 1:
        out.append("- nothing violated, no difference from the spec")
    return out


def fix_lines(finding_id: str) -> list[tuple[int, str]]:
    """(line, text) of every FIX(Fn) comment of impl/fixes.py, with the
    comment lines that continue it."""
    lines = (ROOT / "impl" / "fixes.py").read_text(encoding="utf-8").splitlines()
    out = []
    marker = f"FIX({finding_id})"
    for i, line in enumerate(lines):
        if marker not in line:
            continue
        out.append((i + 1, line.strip()))
        j = i + 1
        if line.strip().startswith("#"):
            while j < len(lines) and lines[j].strip().startswith("#") and "FIX(" not in lines[j]:
                out.append((j + 1, lines[j].strip()))
                j += 1
    return out


def fix_diff(finding_id: str) -> str:
    """The unified diff from the seed's port to the finding's fix, method by method."""
    out = []
    for name, fixed in vars(FIXES[finding_id]).items():
        if inspect.isfunction(fixed):
            a = textwrap.dedent(inspect.getsource(getattr(SeedRmap, name))).splitlines()
            b = textwrap.dedent(inspect.getsource(fixed)).splitlines()
            out += difflib.unified_diff(a, b, "impl/rmap_seed.py", "impl/fixes.py", lineterm="", n=2)
    return "\n".join(out)


def finding_page(f: Finding, ctx: Context) -> str:
    trace = f.trace.read_text(encoding="utf-8")
    seed_records = _replay(f.trace, "seed")
    fixed_records = _replay(f.trace, "fixed")
    before, after = seed_records[-2], seed_records[-1]
    ops = [json.loads(line) for line in trace.splitlines() if line.strip()]
    failing = json.dumps(ops[-1], sort_keys=True)
    seed_fn = next((s for s in ctx.seed if s.name == f.function), None)
    where = f"[`{f.function}`](../seed.md#{f.function})" if seed_fn else f"`{f.function}`"
    out = [
        f"# {f.id}: {f.title}\n",
        f"In {where}, {f.seed_lines}. The trace shows: " + ", ".join(f"`{s}`" for s in f.shows) + ".\n",
        "## What fails\n",
        f"{f.fails}\n",
        "## Consequence in the kernel\n",
        f"{f.kernel}\n",
        "## Minimal counterexample\n",
        f"`{_rel(f.trace)}`, one trace operation a line ([format](../traces.md)):\n",
        _fence("json", trace),
        "Replay it on the seed and on the fixed variant:\n",
        _fence(
            "sh",
            f"rmap-verify replay {_rel(f.trace)} --variant seed | tail -1\n"
            f"rmap-verify replay {_rel(f.trace)} --variant fixed | tail -1",
        ),
        f"The failing operation is the last one, `{failing}`. On **seed** its record reports:\n",
        "\n".join(_outcome_lines(after)) + "\n",
        "On **fixed** the same operation reports:\n",
        "\n".join(_outcome_lines(fixed_records[-1])) + "\n",
        "## State before and after the failing operation\n",
        "Red marks a pte that maps the page without being in its reverse map, and pte_chain "
        "objects that are on no chain.\n",
        "### Before (seed)\n",
        _fence("mermaid", mermaid_state(before)),
        "### After (seed)\n",
        _fence("mermaid", mermaid_state(after)),
        "### After (fixed)\n",
        _fence("mermaid", mermaid_state(fixed_records[-1])),
        "### As text\n",
    ]
    b, a = state_rows(before), state_rows(after)
    xb, x = state_rows(fixed_records[-2]), state_rows(fixed_records[-1])

    def changed(now: Mapping[str, str], then: Mapping[str, str], key: str) -> str:
        return f"**{now.get(key, '')}**" if now.get(key) != then.get(key) else now.get(key, "")

    keys = list(dict.fromkeys([*b, *a, *xb, *x]))
    out.append(
        _table(
            ["", "before (seed)", "after (seed)", "after (fixed)"],
            [[key, b.get(key, ""), changed(a, b, key), changed(x, xb, key)] for key in keys],
        )
    )
    out.append("Bold: changed by the failing operation in that variant.\n")
    out.append("## The fix\n")
    out.append(f"{f.fix}\n")
    fixes = fix_lines(f.id)
    if fixes:
        out.append(f"The `FIX({f.id})` lines of `impl/fixes.py`:\n")
        out.append(_fence("python", "\n".join(f"{n:4}  {text}" for n, text in fixes)))
    out.append(f"`{FIXES[f.id].__name__}`, from the seed's port to the fix:\n")
    out.append(_fence("diff", fix_diff(f.id)))
    out.append("## What fails because of it\n")
    failing_obs = [ob for ob in ctx.obligations or () if ob.finding == f.id]
    if failing_obs:
        out.append(_obligation_table(failing_obs, ctx, "../obligations.md"))
    else:
        out.append("No obligation names this finding yet.\n")
    failing = [r for r in ctx.contract_results.get("seed", []) if f.id in r.findings]
    if failing:
        out.append("Contract conditions with a counterexample on seed that this finding explains:\n")
        out.append(_contract_table(failing, "../", named=True))
    return "\n".join(out)


def findings_index(ctx: Context) -> str:
    out = [
        "# Findings\n",
        "Where the seed, as shipped, breaks what the spec states. Each finding has a minimal trace "
        "that shows it when replayed on `seed` and shows nothing on `fixed` (`proofs/findings.py`).\n",
        _table(
            ["finding", "function", "seed lines", "the trace shows", "obligations", "contract conditions"],
            [
                [
                    f"[{f.id}: {f.title}]({f.id}.md)",
                    f"`{f.function}`",
                    f.seed_lines,
                    ", ".join(f.shows),
                    sum(ob.finding == f.id for ob in ctx.obligations or ()),
                    sum(f.id in r.findings for r in ctx.contract_results.get("seed", [])),
                ]
                for f in FINDINGS
            ],
        ),
        "*Obligations*: those on seed whose failure the finding explains (`Obligation.finding`); "
        "*contract conditions*: those with a counterexample on seed the finding explains.\n",
    ]
    return "\n".join(out)


# ---------------------------------------------------------------- traces

# What each key of a replay record means; generation fails when the
# records grow or lose a key this table does not describe.
RECORD_FIELDS: dict[str, str] = {
    "line": "the trace line the operation came from",
    "op": "the operation's name",
    "result": "what the operation returned (a swap result name, a reclaim summary, null, ...)",
    "fault": "null, or the kernel fault the operation hit: {kind, where, why}",
    "precondition": "null, or why the caller-side precondition did not hold (nothing ran)",
    "pages": "every page, valid ones first: see below",
    "mms": "every mm: see below",
    "ptes": "every pte: see below",
    "swap": "swap entry (as a string) -> its swap_map count",
    "nr_reverse_maps": "page_state.nr_reverse_maps",
    "pte_chain_objects": "live objects of pte_chain_cache",
    "flushes": "TLB and cache flushes the operation made: [function, mm, address]",
    "violations": "invariant name -> messages, for each conjunct of the representation invariant that fails",
    "spec_mismatch": "how the step differs from the spec operation (empty: it refines the spec)",
}
PAGE_FIELDS: dict[str, str] = {
    "pfn": "page frame number",
    "valid": "pfn_valid(pfn)",
    "direct": "PG_direct: the pte union holds a direct pointer",
    "rmap": "the ptes the reverse map records, in chain order, or why the chain is unwalkable",
    "chain_nodes": "pte_chain nodes on the chain (0 when direct or empty, -1 when unwalkable)",
    "count": "page->count",
    "flags": "the page flags set, by name",
    "mapping": "page->mapping (the address space's name) or null",
    "index": "page->index (the swap entry when in the swap cache)",
}
MM_FIELDS: dict[str, str] = {
    "name": "the mm's name",
    "rss": "mm->rss",
    "page_table_lock": "who holds mm->page_table_lock, or null",
}
PTE_FIELDS: dict[str, str] = {
    "name": "the pte's name",
    "mm": "the mm it belongs to (ptep_to_mm)",
    "address": "its virtual address (ptep_to_address)",
    "present": "pte_present",
    "pfn": "the page it maps when present, else null",
    "young": "the accessed bit",
    "dirty": "the dirty bit",
    "swap": "the swap entry a non-present pte holds, or null",
}
FAULT_FIELDS: dict[str, str] = {
    "kind": "BUG, Oops or Deadlock",
    "where": "the function that faulted",
    "why": "what went wrong",
}


def _check_fields(what: str, documented: Mapping[str, str], real: Iterable[str]) -> None:
    real = set(real)
    if real != set(documented):
        extra = sorted(real - set(documented))
        gone = sorted(set(documented) - real)
        raise DocsError(
            f"trace {what} keys changed (undocumented: {extra}, gone: {gone}); see proofs/docgen.py"
        )


def traces_page() -> str:
    sample_finding = next(f for f in FINDINGS if f.id == "F3")
    records = _replay(sample_finding.trace, "seed")
    sample = records[-1]
    _check_fields("record", RECORD_FIELDS, sample)
    _check_fields("page", PAGE_FIELDS, sample["pages"][0])
    _check_fields("mm", MM_FIELDS, sample["mms"][0])
    _check_fields("pte", PTE_FIELDS, sample["ptes"][0])
    _check_fields("fault", FAULT_FIELDS, sample["fault"])
    world = sample_finding.trace.read_text(encoding="utf-8").splitlines()[0]
    out = [
        "# Traces\n",
        "A trace is a scenario for `rmap-verify replay`: one JSON object a line, each an operation "
        "named by `op`. Replaying runs each operation on the modelled kernel of the chosen variant "
        "and prints one state record a line. Counterexamples of the proofs are written as traces, "
        "so every one of them replays on `impl/`.\n",
        "## Operations\n",
        "Generated from `impl.trace.OPS`.\n",
        _table(
            ["op", "fields", "optional fields", "meaning"],
            [
                [
                    f"`{name}`",
                    ", ".join(f"`{k}`: {t.__name__}" for k, t in spec.fields.items()),
                    ", ".join(f"`{k}`: {t.__name__}" for k, t in spec.optional.items()),
                    spec.doc,
                ]
                for name, spec in OPS.items()
            ],
        ),
        "A world (from `proofs/findings/F3.jsonl`):\n",
        _fence("json", json.dumps(json.loads(world), indent=2, sort_keys=True)),
        "## Records\n",
        "Each record describes the whole modelled state after the operation. Keys:\n",
        _table(["key", "meaning"], sorted(RECORD_FIELDS.items())),
        "A page (`pages[]`):\n",
        _table(["key", "meaning"], sorted(PAGE_FIELDS.items())),
        "An mm (`mms[]`):\n",
        _table(["key", "meaning"], sorted(MM_FIELDS.items())),
        "A pte (`ptes[]`):\n",
        _table(["key", "meaning"], sorted(PTE_FIELDS.items())),
        "A fault (`fault`):\n",
        _table(["key", "meaning"], sorted(FAULT_FIELDS.items())),
        "The last record of `rmap-verify replay proofs/findings/F3.jsonl --variant seed`:\n",
        _fence("json", json.dumps(sample, indent=2, sort_keys=True)),
    ]
    return "\n".join(out)


# ---------------------------------------------------------------- CLI reference


def cli_page() -> str:
    parser = build_parser()
    out = [
        "# Command line\n",
        "Generated from `proofs/cli.py`. Every subcommand exits 0 when all it checked holds, 1 when "
        "something does not, 2 on bad usage (one line on stderr).\n",
        _fence("text", _help(parser)),
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out.append(f"## rmap-verify {name}\n")
        out.append(_fence("text", _help(p)))
    return "\n".join(out)


def _help(parser: argparse.ArgumentParser) -> str:
    # A fixed width, so the help does not depend on the terminal.
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
    return parser.format_help()


# ---------------------------------------------------------------- site


def _title(markdown: str, fallback: str) -> str:
    m = re.search(r"^# (.+)$", markdown, re.M)
    return m.group(1).strip() if m else fallback


def _src_pages() -> list[tuple[str, str]]:
    found = {p.name: p.read_text(encoding="utf-8") for p in sorted(SRC.glob("*.md"))}
    order = [n for n in NAV_SRC_ORDER if n in found] + sorted(n for n in found if n not in NAV_SRC_ORDER)
    return [(n, found[n]) for n in order]


def mkdocs_config(nav: Sequence[tuple[str, str | Sequence[tuple[str, str]]]]) -> str:
    lines = [
        "# Generated by `rmap-verify docs` (proofs/docgen.py); do not edit.",
        "site_name: rmap-verify",
        "site_description: Linux 2.5 pte_chain reverse mapping, modelled, ported and proved",
        "docs_dir: docs",
        "strict: true",
        "theme:",
        "  name: material",
        "  font: false  # no web fonts fetched",
        "  features:",
        "    - navigation.sections",
        "    - content.code.copy",
        "markdown_extensions:",
        "  - tables",
        "  - attr_list",
        "  - admonition",
        "  - toc:",
        "      permalink: true",
        "  - pymdownx.details",
        "  - pymdownx.highlight",
        "  - pymdownx.superfences:",
        "      custom_fences:",
        "        - name: mermaid",
        "          class: mermaid",
        "          format: !!python/name:pymdownx.superfences.fence_code_format",
        "validation:",
        "  omitted_files: warn",
        "  absolute_links: warn",
        "  unrecognized_links: warn",
        "  anchors: warn",
        "nav:",
    ]
    for title, target in nav:
        if isinstance(target, str):
            lines.append(f"  - {json.dumps(title)}: {target}")
        else:
            lines.append(f"  - {json.dumps(title)}:")
            lines += [f"      - {json.dumps(t)}: {p}" for t, p in target]
    return "\n".join(lines) + "\n"


def generate() -> dict[str, str]:
    """Every generated file: path relative to the repository -> text."""
    seed_path = _seed_path()
    if seed_path is None:
        raise DocsError("the seed is not at " + " or ".join(str(p) for p in SEED_PATHS))
    seed = seed_functions(seed_path.read_text(encoding="utf-8"))
    ctx = Context(
        obligations=load_obligations(),
        results=_proof_results(runs := prove_reports()),
        runs=runs,
        formulas=_z3_formulas(),
        seed=seed,
        seed_file=_rel(seed_path)
        if seed_path.is_relative_to(ROOT)
        else f"../{seed_path.relative_to(ROOT.parent)}",
        contracts=load_contracts(),
        contract_results=load_contract_results(),
    )
    pages: dict[str, str] = {}
    src = _src_pages()
    for name, text in src:
        pages[name] = text
    pages["invariants.md"] = invariants_page(ctx)
    pages["obligations.md"] = obligations_page(ctx)
    pages["seed.md"] = seed_page(ctx)
    pages["findings/index.md"] = findings_index(ctx)
    for f in FINDINGS:
        pages[f"findings/{f.id}.md"] = finding_page(f, ctx)
    pages["traces.md"] = traces_page()
    pages["cli.md"] = cli_page()

    def entry(name: str) -> tuple[str, str]:
        return ("Home" if name == "index.md" else _title(pages[name], name)), name

    first = [n for n in ("index.md", "getting-started.md") if n in pages]
    rest_src = [n for n, _ in src if n not in first]
    nav: list[tuple[str, str | Sequence[tuple[str, str]]]] = [entry(n) for n in first]
    nav += [entry(n) for n in ("invariants.md", "obligations.md", "seed.md")]
    nav.append(("Findings", [entry("findings/index.md"), *(entry(f"findings/{f.id}.md") for f in FINDINGS)]))
    nav += [entry("traces.md"), entry("cli.md")]
    if rest_src:
        nav.append(("Guides", [entry(n) for n in rest_src]))
    files = {f"{DOCS}/{name}": _normalise(text) for name, text in pages.items()}
    files[MKDOCS_YML] = mkdocs_config(nav)
    return dict(sorted(files.items()))


def _normalise(text: str) -> str:
    """One trailing newline, no blank runs: stable text for --check."""
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def stale(root: Path, files: Mapping[str, str]) -> list[str]:
    """Files under ``root`` that differ from ``files``, are missing, or are in
    docs/ without being generated."""
    bad = [rel for rel, text in files.items() if _read(root / rel) != text]
    docs = root / DOCS
    if docs.is_dir():
        bad += [
            str(p.relative_to(root))
            for p in sorted(docs.rglob("*"))
            if p.is_file() and str(p.relative_to(root)) not in files
        ]
    return sorted(bad)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return None


def write(root: Path, files: Mapping[str, str]) -> list[str]:
    """Bring ``root`` up to ``files``; answers the paths written or removed."""
    changed = stale(root, files)
    for rel in changed:
        path = root / rel
        if rel in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[rel], encoding="utf-8")
        else:
            path.unlink()
    return changed


def run(args: argparse.Namespace) -> int:
    try:
        files = generate()
    except DocsError as why:
        print(f"rmap-verify docs: {why}", file=sys.stderr)
        return EXIT_FAILED
    if args.check:
        bad = stale(ROOT, files)
        for rel in bad:
            print(f"stale: {rel}")
        if bad:
            print("docs are stale; run `rmap-verify docs`", file=sys.stderr)
        return EXIT_FAILED if bad else EXIT_OK
    for rel in write(ROOT, files):
        print(f"wrote {rel}" if rel in files else f"removed {rel}")
    return EXIT_OK
