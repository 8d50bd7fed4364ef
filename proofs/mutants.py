"""``rmap-verify mutants``: mutation testing of the corrected variant.

cosmic-ray (its operators, its mutant enumeration and its on-disk mutation)
makes every mutant of the code the ``fixed`` variant runs: impl/fixes.py,
the methods of impl/rmap_seed.py that FixedRmap inherits, and impl/callers.py.
Mutants inside type annotations are not made: ``from __future__ import
annotations`` keeps Python from ever evaluating them.

Each mutant is written into a private copy of the committed project (git
HEAD; never the working tree) and judged by ``stages()``: the tests, the
proof obligations and the contracts, in order, stopping at the first that
fails.  A mutant is **killed** when a stage exits non-zero or runs past
its timeout (``TIMEOUT_FACTOR`` times the stage's time on the unmutated code,
at least ``TIMEOUT_MIN`` seconds); it **survives** when every stage passes.
A survivor listed in ``EQUIVALENT`` (with the reason no test can tell it
apart) is **equivalent**; any other survivor fails the run.  The mutation
score is killed / (mutants - equivalent).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tokenize
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cosmic_ray.commands import init as cosmic_ray_init
from cosmic_ray.mutating import mutate_code, use_mutation
from cosmic_ray.plugins import get_operator
from cosmic_ray.work_db import use_db
from cosmic_ray.work_item import MutationSpec

from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from proofs.cli import EXIT_FAILED, EXIT_OK, UsageError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = ROOT / "proofs" / "results" / "mutants.json"
PAGE = ROOT / "docs_src" / "mutation.md"
BEGIN, END = "<!-- BEGIN rmap-verify mutants results -->", "<!-- END rmap-verify mutants results -->"
# What a private copy of the project leaves out: the environment, history,
# caches and build outputs.  Tests may read anything else (docs_src/, docs/).
NOT_COPIED = (
    ".venv",
    ".git",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    ".coverage",
    "site",
    "build",
    "reports",
)
TIMEOUT_FACTOR, TIMEOUT_MIN = 4.0, 20.0
QUICK_SIZE = 12


def _inherited_seed_methods() -> frozenset[str]:
    """SeedRmap's functions that FixedRmap runs as they are (no fix overrides them)."""
    return frozenset(
        name
        for name, member in vars(SeedRmap).items()
        if inspect.isfunction(member) and getattr(FixedRmap, name) is member
    )


# module -> which definitions to mutate (None: all of them)
SCOPE: dict[str, frozenset[str] | None] = {
    "impl/fixes.py": None,
    "impl/rmap_seed.py": _inherited_seed_methods(),
    "impl/callers.py": None,
}

# Test files the per-mutant pytest stage leaves out, and why.  Every other
# tests/test_*.py runs, FIRST ones first (fast and close to the code, so a
# mutant dies early), with -x so that the first failure ends the stage.
SKIPPED_TESTS: dict[str, str] = {
    "test_mutants_quick.py": "runs mutants itself",
    "test_prove_suite.py": "the prove stage runs the obligations directly",
    "test_soundness.py": "checks the verifier (satisfiable hypotheses, stable answers), not impl/",
    "test_runner.py": "checks the prove runner on self-check obligations, not impl/",
    "test_contracts.py": "the contracts stage runs the contracts directly",
    "test_docs.py": "checks docs/ against the generator; no mutant changes a docstring",
}
FIRST = (
    "test_rmap_branches.py",
    "test_callers.py",
    "test_mutation_kills.py",
    "test_kernel.py",
    "test_smoke.py",
    "test_spec.py",
)

_MAIN = "import sys; from proofs.cli import main; sys.exit(main())"


@dataclass(frozen=True)
class Stage:
    """One check a mutant must pass to survive: a command in the copy."""

    name: str
    argv: tuple[str, ...]
    needs: str  # a file of the copy that must exist for the stage to run


def stages(copy: Path, *, quick: bool = False) -> list[Stage]:
    """The stages that exist in this copy of the project, cheapest first;
    for --quick only the tests stage over the FIRST test files."""
    found = {p.name for p in (copy / "tests").glob("test_*.py")} - set(SKIPPED_TESTS)
    tests = [t for t in FIRST if t in found] + ([] if quick else sorted(found - set(FIRST)))
    py = sys.executable
    candidates = [
        Stage(
            "tests",
            (py, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *(f"tests/{t}" for t in tests)),
            "tests/conftest.py",
        ),
        # A generous solver timeout: a mutant must not die of a loaded machine.
        Stage(
            "prove",
            (py, "-c", _MAIN, "prove", "--variant", "fixed", "--jobs", "1", "--timeout", "120"),
            "proofs/runner.py",
        ),
        Stage("contracts", (py, "-c", _MAIN, "contracts", "--variant", "fixed"), "proofs/contracts.py"),
    ]
    return [s for s in candidates[: 1 if quick else None] if (copy / s.needs).exists()]


@dataclass(frozen=True)
class Equivalent:
    """A survivor no test can kill: the mutated line it expects, and why."""

    line: str  # the mutated source line, stripped: a moved mutant id is caught
    reason: str


_SMALL_INT_IS = (
    "try_to_unmap_one answers one of the constants SWAP_SUCCESS..SWAP_FAIL (the ints 0..2), and CPython "
    "keeps a single object for each small int, so `is SWAP_SUCCESS` answers exactly as `== SWAP_SUCCESS`"
)
_NOTHING_BELOW_SUCCESS = (
    "try_to_unmap_one answers SWAP_SUCCESS (0), SWAP_AGAIN (1) or SWAP_FAIL (2), never less than "
    "SWAP_SUCCESS, so `<= SWAP_SUCCESS` holds exactly when `== SWAP_SUCCESS` does"
)
_PTE_EQ_IS_IDENTITY = (
    "Pte is a dataclass(eq=False), and NULL and a misread union word define no __eq__ either, so `==` "
    "falls back to identity and answers exactly as `is` for every value compared here"
)

# Stable mutant id -> why that mutant behaves exactly like the original.
EQUIVALENT: dict[str, Equivalent] = {
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:", _SMALL_INT_IS
    ),
    "impl/fixes.py:try_to_unmap:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:", _NOTHING_BELOW_SUCCESS
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_Is#0": Equivalent(
        "if ret is SWAP_SUCCESS:", _SMALL_INT_IS
    ),
    "impl/fixes.py:try_to_unmap_one:ReplaceComparisonOperator_Eq_LtE#0": Equivalent(
        "if ret <= SWAP_SUCCESS:", _NOTHING_BELOW_SUCCESS
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:_debug_check_not_mapped:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#0": Equivalent(
        "if page.pte.direct == ptep:", _PTE_EQ_IS_IDENTITY
    ),
    "impl/rmap_seed.py:page_remove_rmap:ReplaceComparisonOperator_Is_Eq#1": Equivalent(
        "if pc.ptep == ptep:", _PTE_EQ_IS_IDENTITY
    ),
}


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


@dataclass
class Verdict:
    ident: str
    file: str
    line: int
    function: str
    operator: str
    diff: str
    status: str  # "killed", "survived" or "equivalent"
    killed_by: str | None
    seconds: float
    reason: str | None = None


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


# ------------------------------------------------------------------ running


def head_commit() -> str | None:
    """The commit the copies are made from, or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except OSError:  # no git at all
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def make_copy(dest: Path) -> Path:
    """A private copy of the committed project (git HEAD), so that work in
    progress in the working tree neither breaks nor colours the run; a tree
    that is not a git checkout is copied as it is."""
    if head_commit() is None:
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_COPIED))
        return dest
    dest.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", "HEAD"], cwd=ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_stage(stage: Stage, copy: Path, timeout: float | None) -> tuple[bool | None, float, str]:
    """(passed, seconds, output); passed is None on a timeout."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        stage.argv,
        cwd=copy,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a timeout ends the stage's whole process group
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, time.perf_counter() - start, out
    return proc.returncode == 0, time.perf_counter() - start, out


def _first_failure(stage: Stage, output: str) -> str:
    """What in a stage's output names the first thing that failed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if stage.name == "tests":
        for line in lines:
            if line.startswith(("FAILED ", "ERROR ")):
                return line.split(" ", 1)[1].split(" - ", 1)[0]
    return lines[-1][:200] if lines else "(no output)"


class BaselineFailed(Exception):
    """A stage fails on the unmutated code: no mutant can be judged by it."""


class Judge:
    """Runs stages on mutants in private copies, timing each stage first on
    an unmutated copy (lazily: a stage no mutant reaches is never timed)."""

    def __init__(self, workdir: Path, workers: int, *, quick: bool = False) -> None:
        self.base = make_copy(workdir / "base")
        self.copies = [make_copy(workdir / f"w{i}") for i in range(workers)]
        self.free = list(self.copies)
        self.stages = stages(self.base, quick=quick)
        self.baseline: dict[str, float] = {}
        self._lock = threading.Lock()
        self._baseline_lock = threading.Lock()

    def timeout(self, stage: Stage) -> float:
        with self._baseline_lock:
            if stage.name not in self.baseline:
                passed, seconds, out = run_stage(stage, self.base, None)
                if not passed:
                    tail = "\n".join(out.splitlines()[-15:])
                    raise BaselineFailed(f"the {stage.name} stage fails on the unmutated code:\n{tail}")
                self.baseline[stage.name] = seconds
            return max(TIMEOUT_MIN, TIMEOUT_FACTOR * self.baseline[stage.name])

    def judge(self, mutant: Mutant) -> Verdict:
        with self._lock:
            copy = self.free.pop()
        start = time.perf_counter()
        try:
            killed_by = self._killer(mutant, copy)
        finally:
            with self._lock:
                self.free.append(copy)
        seconds = time.perf_counter() - start
        status, reason = "killed", None
        if killed_by is None:
            eq = EQUIVALENT.get(mutant.ident)
            status, reason = ("equivalent", eq.reason) if eq else ("survived", None)
        return Verdict(
            mutant.ident,
            mutant.file,
            mutant.line,
            mutant.function,
            mutant.operator,
            mutant.diff,
            status,
            killed_by,
            round(seconds, 2),
            reason,
        )

    def _killer(self, mutant: Mutant, copy: Path) -> str | None:
        operator = get_operator(mutant.operator)()
        with use_mutation(copy / mutant.file, operator, mutant.occurrence) as (_, mutated):
            assert mutated is not None, mutant.ident
            for stage in self.stages:
                passed, _, out = run_stage(stage, copy, self.timeout(stage))
                if passed is None:
                    return f"{stage.name}: timeout"
                if not passed:
                    return f"{stage.name}: {_first_failure(stage, out)}"
        return None


def run_mutants(
    mutants: list[Mutant],
    workers: int,
    progress: Callable[[Verdict], None] | None = None,
    quick: bool = False,
) -> tuple[list[Verdict], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="rmap-mutants-") as tmp:
        judge = Judge(Path(tmp), workers, quick=quick)
        verdicts: list[Verdict] = []
        with ThreadPoolExecutor(workers) as pool:
            for verdict in pool.map(judge.judge, mutants):
                verdicts.append(verdict)
                if progress:
                    progress(verdict)
        info = {
            "stages": [
                {
                    "name": s.name,
                    "command": " ".join(s.argv[1:]).replace(f"-c {_MAIN}", "rmap-verify"),
                    "baseline_seconds": round(judge.baseline[s.name], 2)
                    if s.name in judge.baseline
                    else None,
                }
                for s in judge.stages
            ]
        }
    return verdicts, info


# ------------------------------------------------------------------ report


def summarize(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    verdicts = list(verdicts)
    count = {s: sum(v.status == s for v in verdicts) for s in ("killed", "survived", "equivalent")}
    judged = len(verdicts) - count["equivalent"]
    return {
        "mutants": len(verdicts),
        **count,
        "timeouts": sum(bool(v.killed_by and v.killed_by.endswith(": timeout")) for v in verdicts),
        "score": round(count["killed"] / judged, 4) if judged else None,
    }


def stale_equivalents(mutants: list[Mutant]) -> list[str]:
    """EQUIVALENT entries that name no mutant, or a mutant on another line."""
    by_id = {m.ident: m for m in mutants}
    return [
        f"{ident}: no such mutant"
        if ident not in by_id
        else f"{ident}: now mutates {by_id[ident].mutated_line!r}"
        for ident, eq in EQUIVALENT.items()
        if ident not in by_id or by_id[ident].mutated_line != eq.line
    ]


def results_markdown(body: dict[str, Any]) -> str:
    """The run's numbers and every mutant that was not killed, for docs_src/mutation.md."""
    t = body["totals"]
    score = "n/a" if t["score"] is None else f"{100 * t['score']:.1f}%"
    lines = [
        f"Run of {body['tool']} on commit `{(body['commit'] or 'unknown')[:12]}`, "
        f"{body['seconds']:.0f} s on {os.cpu_count()} cores.",
        "",
        "| mutants | killed | by timeout | equivalent | survived | score |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {t['mutants']} | {t['killed']} | {t['timeouts']} | {t['equivalent']} | {t['survived']} "
        f"| {score} |",
        "",
        "Killed, by the stage that killed them: "
        + ", ".join(
            f"{name} {sum((m['killed_by'] or '').startswith(name + ':') for m in body['mutants'])}"
            for name in (s["name"] for s in body["stages"])
        )
        + ".",
        "",
        "| mutant | line | change | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for m in body["mutants"]:
        if m["status"] != "killed":
            change = m["diff"].splitlines()[-1][1:].strip().replace("|", "\\|")
            lines.append(
                f"| `{m['ident']}` | {m['line']} | `{change}` | {m['status']}: {m['reason'] or '-'} |"
            )
    return "\n".join(lines) + "\n"


def write_page(markdown: str) -> None:
    text = PAGE.read_text() if PAGE.exists() else f"# Mutation testing\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    PAGE.write_text(f"{head}{BEGIN}\n\n{markdown}\n{END}{tail}")


def run(args: argparse.Namespace) -> int:
    if args.jobs < 0:
        raise UsageError(f"--jobs must be 0 (one per core) or a positive number, not {args.jobs}")
    workers = args.jobs or os.cpu_count() or 1
    report = args.report or (None if args.quick else str(DEFAULT_REPORT))
    with tempfile.TemporaryDirectory() as tmp:
        mutants = enumerate_mutants(make_copy(Path(tmp) / "scan"))
    stale = stale_equivalents(mutants)
    chosen = quick_subset(mutants) if args.quick else mutants
    print(f"{len(chosen)} of {len(mutants)} mutants, {workers} workers", flush=True)
    start = time.perf_counter()

    def show(v: Verdict) -> None:
        if v.status != "killed":
            print(f"  {v.status:10} {v.ident} (line {v.line}): {v.diff.splitlines()[-1].strip()}", flush=True)

    try:
        verdicts, info = run_mutants(chosen, workers, show, quick=args.quick)
    except BaselineFailed as why:
        print(f"rmap-verify mutants: {why}", file=sys.stderr)
        return EXIT_FAILED
    seconds = time.perf_counter() - start
    totals = summarize(verdicts)
    if report:
        body = {
            "tool": f"cosmic-ray {version('cosmic-ray')}",
            "commit": head_commit(),
            "quick": args.quick,
            "scope": {module: sorted(names) if names else "all" for module, names in SCOPE.items()},
            "killed_means": "a stage exits non-zero or times out; stages run in order until one fails",
            **info,
            "timeout": {"factor": TIMEOUT_FACTOR, "minimum_seconds": TIMEOUT_MIN},
            "seconds": round(seconds, 1),
            "totals": totals,
            "stale_equivalents": stale,
            "mutants": [asdict(v) for v in verdicts],
        }
        Path(report).parent.mkdir(parents=True, exist_ok=True)
        Path(report).write_text(json.dumps(body, indent=1) + "\n")
        if not args.quick and Path(report).resolve() == DEFAULT_REPORT:
            write_page(results_markdown(body))
    for line in stale:
        print(f"stale EQUIVALENT entry {line}")
    score = "n/a" if totals["score"] is None else f"{100 * totals['score']:.1f}%"
    print(
        f"mutation score {score}: {totals['killed']} killed ({totals['timeouts']} by timeout), "
        f"{totals['survived']} survived, {totals['equivalent']} equivalent, of {totals['mutants']} "
        f"mutants in {seconds:.0f} s"
    )
    return EXIT_FAILED if totals["survived"] or stale else EXIT_OK
