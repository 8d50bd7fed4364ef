"""Every in-scope mutant cosmic-ray's core operators make, and the quick subset."""

from __future__ import annotations

import ast
import difflib
import io
import json
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.commands import init as cosmic_ray_init
from cosmic_ray.mutating import mutate_code
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import use_db
from cosmic_ray.work_item import MutationSpec

from proofs.tool.mutants.scope import DEFAULT_REPORT, EQUIVALENT, FIRST, QUICK_SIZE, SCOPE


@dataclass(frozen=True)
class Mutant:
    ident: str  # file:function:operator#k, k counting within (file, function, operator)
    file: str
    line: int
    function: str
    operator: str
    occurrence: int  # cosmic-ray's occurrence of the operator in the module
    diff: str
    mutated_line: str


# ------------------------------------------------------------------ mutants


def _unevaluated(source: str) -> tuple[list[tuple[tuple[int, int], tuple[int, int]]], set[tuple[int, int]]]:
    """Spans of type annotations, and positions of bare ``*`` keyword-only
    markers (cosmic-ray reads them as multiplication): mutating either
    changes nothing that runs."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.arg | ast.AnnAssign):
            notes.append(node.annotation)
        for note in notes:
            if note is not None and note.end_lineno is not None and note.end_col_offset is not None:
                spans.append(((note.lineno, note.col_offset), (note.end_lineno, note.end_col_offset)))
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)
    ]
    stars = {
        cur.start
        for before, cur, after in zip(tokens, tokens[1:], tokens[2:], strict=False)
        if cur.string == "*" and before.string in "(," and after.string in ",)"
    }
    return spans, stars


def enumerate_mutants(copy: Path) -> list[Mutant]:
    """Every in-scope mutant cosmic-ray's core operators make, in a fixed order."""
    specs: list[MutationSpec] = []
    with tempfile.TemporaryDirectory() as tmp, use_db(Path(tmp) / "session.sqlite") as db:
        cosmic_ray_init([copy / module for module in SCOPE], db, {})
        specs = [item.mutations[0] for item in db.work_items]
    wanted = []
    sources = {module: (copy / module).read_text() for module in SCOPE}
    unevaluated = {module: _unevaluated(source) for module, source in sources.items()}
    for spec in specs:
        module = str(Path(spec.module_path).relative_to(copy))
        names = SCOPE[module]
        if spec.definition_name is None or (names is not None and spec.definition_name not in names):
            continue
        spans, stars = unevaluated[module]
        if tuple(spec.start_pos) in stars or any(lo <= tuple(spec.start_pos) < hi for lo, hi in spans):
            continue
        wanted.append((module, spec))
    wanted.sort(key=lambda m: (m[0], m[1].definition_name or "", m[1].operator_name, m[1].occurrence))
    mutants, seen = [], dict[tuple[str, str, str], int]()
    for module, spec in wanted:
        key = (module, spec.definition_name or "", spec.operator_name)
        k = seen[key] = seen.get(key, -1) + 1
        mutated = mutate_code(sources[module], get_operator(spec.operator_name)(), spec.occurrence)
        if mutated is None or not _parses(mutated):
            continue  # e.g. `*args` made `/args`
        diff, line = _mutation_diff(sources[module], mutated)
        mutants.append(
            Mutant(
                f"{module}:{key[1]}:{spec.operator_name.removeprefix('core/')}#{k}",
                module,
                spec.start_pos[0],
                key[1],
                spec.operator_name,
                spec.occurrence,
                diff,
                line,
            )
        )
    return sorted(mutants, key=lambda m: (m.file, m.line, m.ident))


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except SyntaxError:
        return False
    return True


def _mutation_diff(source: str, mutated: str) -> tuple[str, str]:
    """The changed lines, as -/+ lines, and the mutated line stripped."""
    lines = [
        line
        for line in difflib.unified_diff(source.splitlines(), mutated.splitlines(), n=0, lineterm="")
        if line[:1] in "+-" and line[:3] not in ("---", "+++")
    ]
    added = [line[1:].strip() for line in lines if line.startswith("+")]
    return "\n".join(lines), added[0] if added else ""


def quick_subset(mutants: list[Mutant], report: Path = DEFAULT_REPORT) -> list[Mutant]:
    """A small, fixed sample that the FIRST test files alone must kill: per
    function, the first mutant (by line) that the last full report shows
    killed by one of them (any non-equivalent mutant when there is no
    report), then evenly spread others, up to QUICK_SIZE."""
    killed_by_tests = None
    if report.exists():
        entries = json.loads(report.read_text())["mutants"]
        first = tuple(f"tests: tests/{name}::" for name in FIRST)
        killed_by_tests = {e["ident"] for e in entries if (e["killed_by"] or "").startswith(first)}
    pool = [
        m
        for m in mutants
        if m.ident not in EQUIVALENT and (killed_by_tests is None or m.ident in killed_by_tests)
    ]
    firsts: dict[tuple[str, str], Mutant] = {}
    for m in pool:
        firsts.setdefault((m.file, m.function), m)
    chosen = list(firsts.values())[:QUICK_SIZE]
    rest = [m for m in pool if m not in chosen]
    step = max(1, len(rest) // max(1, QUICK_SIZE - len(chosen)))
    chosen += rest[::step][: QUICK_SIZE - len(chosen)]
    return sorted(chosen, key=lambda m: (m.file, m.line, m.ident))
