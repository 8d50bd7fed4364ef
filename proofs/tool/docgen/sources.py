"""What the pages are made from: the registry, the committed results, the seed, the contracts."""

from __future__ import annotations

import importlib
import inspect
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.fixes import FIXES
from impl.trace import replay
from impl.variants import VARIANTS
from proofs.obligation import Obligation
from proofs.tool.docgen.seed_facts import SeedFunction
from proofs.tool.paths import RESULTS, ROOT

SEED_REF = re.compile(r"\[rmap\.c:(\d+)((?:,\s*\d+)*)\]")


class DocsError(Exception):
    """The code and its documentation tables disagree; one line says where."""


# ---------------------------------------------------------------- sources


def repo_path(path: str | Path) -> str:
    """A path as the pages show it: relative to the repository when inside it."""
    full = Path(path).resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(full)


def load_json(path: Path) -> Any:
    """A committed results file, or None when there is none."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as why:
        raise DocsError(f"{repo_path(path)} is not JSON ({why.msg} at line {why.lineno})") from None


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
    findings: tuple[str, ...] = ()  # the findings its counterexamples were attributed to, by replay
    rounds: tuple[dict[str, Any], ...] = ()  # each counterexample on the way: variant, findings, command

    def breaks(self, invariant: str) -> bool:
        """A counterexample on this invariant's conjunct (an unknown or a
        timeout on it leaves the invariant unproved, not broken)."""
        named = invariant in self.shows or invariant in re.split(r"[,:()\s]+", self.conjunct)
        return self.status == "counterexample" and named

    @property
    def passed(self) -> bool:
        return self.status == "proved"


def _explained_findings(detail: Mapping[str, Any]) -> tuple[str, ...]:
    """The findings of a committed result whose every counterexample a finding explains."""
    rows = detail.get("findings") or ()
    if not rows or any(r["unexplained"] for r in rows):
        return ()
    return tuple(dict.fromkeys(f for r in rows for f in r["findings"]))


def prove_reports() -> dict[str, dict[str, Any]]:
    """variant -> its committed ``rmap-verify prove --json`` report (and ``reach``: the
    reachability and call-site obligations of every variant, run on their own)."""
    found = {}
    for variant in (*VARIANTS, *(f"fixed-{f}" for f in FIXES), "reach"):  # fixed-Fn: the leave-one-out runs
        report = load_json(RESULTS / f"prove-{variant}.json")
        if isinstance(report, dict):
            found[variant] = report
    return found


def proof_results(reports: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], ProofResult] | None:
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
                _explained_findings(detail),
                tuple(detail.get("findings") or ()),
            )
    return found


def z3_formulas() -> dict[str, str]:
    """invariant name -> its z3 conjunct as text: proofs.z3.invariants.full
    applied to a fresh symbolic heap, printed with z3's own pretty printer
    (private instances, so no z3.set_option elsewhere changes the text)."""
    try:
        z3_invariants = importlib.import_module("proofs.z3.invariants")
        z3_heap = importlib.import_module("proofs.z3.heap")
    except ModuleNotFoundError:
        return {}
    from z3 import z3printer

    grouped: dict[str, list[str]] = {}
    for name, formula in z3_invariants.full(z3_heap.fresh_heap("s")):
        out = io.StringIO()
        z3printer.PP()(out, z3printer.Formatter()(formula))
        grouped.setdefault(name, []).append(out.getvalue())
    return {name: "\n".join(texts) for name, texts in grouped.items()}


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
        report = load_json(RESULTS / f"contracts-{variant}.json")
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
        where = f"{repo_path(inspect.getsourcefile(fn) or '')}:{line}"
        found[fn.__name__] = Contract(fn.__name__, where, summary, conditions, kinds)
    return found


@dataclass(frozen=True)
class Context:
    obligations: tuple[Obligation, ...] | None
    results: dict[tuple[str, str], ProofResult] | None
    runs: dict[str, dict[str, Any]]  # variant -> its prove --json report
    formulas: dict[str, str]
    seed: tuple[SeedFunction, ...]
    seed_sha256: str  # of the seed file the facts were read from
    contracts: dict[str, Contract]
    contract_results: dict[str, list[ContractResult]]
    c_oracle: dict[str, Any] | None = None  # proofs/results/c-oracle.json: the findings on the C


def replay_file(path: Path, variant: str) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return list(replay(lines, repo_path(path), variant))
