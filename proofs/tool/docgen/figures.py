"""Figures in the prose pages: placeholders the generator fills, and a check that none is typed by hand.

A page of docs_src/ never types a count or a time; it writes a placeholder:

- ``{{ prove-fixed:totals.seconds }}``: a value of a results file
  (proofs/results/prove-fixed.json, key path totals.seconds); ``| .1f``
  after the path formats it;
- ``{{ code:proofs.tool.runner.GUARD_GRACE }}``: a constant of the code;
- ``{{ figure:NAME }}``: a figure derived from the results files (``FIGURES``),
  a table or a sample of the console output among them.

``hand_typed`` finds a number with a unit (``15.6 s``, ``34 obligations``,
``[ 8/38]``...) outside placeholders; generation fails on one, so a figure
cannot drift from the results it reports.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from typing import Any

from proofs.tool.docgen import c_oracle
from proofs.tool.docgen.bench_tables import render as bench_tables
from proofs.tool.docgen.contract_worlds import worlds_tables
from proofs.tool.docgen.mutation_tables import mutation_tables, stage_rates, stage_tables
from proofs.tool.docgen.sources import RESULTS, DocsError, load_json
from proofs.tool.mutants.scope import STAGE_NAMES, stage_report

PLACEHOLDER = re.compile(r"\{\{\s*(?P<kind>[\w-]+):(?P<what>[\w.\-]+)\s*(?:\|\s*(?P<format>[^}\s]+)\s*)?\}\}")
_UNIT = (
    r"(?:ms|s|seconds?|minutes?|CPU s|CPU seconds|obligations?|counterexamples?|conditions?|paths|mutants|"
    r"states|transitions|cores|times|%|proved|verified|killed)"
)
HAND_TYPED = re.compile(
    r"(?<![\w.:=<>/\-+*^])\d+(?:\.\d+)?(?:\s?(?:to|or|-)\s?\d+(?:\.\d+)?)?\s?"
    + _UNIT
    + r"(?!\w)|\[\s*\d+/\d+\]"
)


def results(stem: str) -> Any:
    """A committed results file (proofs/results/<stem>.json); DocsError when it is absent."""
    data = load_json(RESULTS / f"{stem}.json")
    if data is None:
        raise DocsError(f"proofs/results/{stem}.json is absent, and a page quotes it")
    return data


def _at(data: Any, path: str, where: str) -> Any:
    for key in path.split("."):
        if isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        elif isinstance(data, dict) and key in data:
            data = data[key]
        else:
            raise DocsError(f"{where}: no {path} there")
    return data


def _shown(value: Any, fmt: str | None) -> str:
    if fmt:
        return format(value, fmt)
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str | int):
        return str(value)
    return json.dumps(value)


# ------------------------------------------------------------ derived figures


def _rows(stem: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = results(stem)["obligations"]
    return rows


def _slowest(stem: str) -> str:
    row = max(_rows(stem), key=lambda r: r["seconds"])
    return f"{row['seconds']:.1f} s (`{row['name']}`)"


def _engine_seconds(stem: str, method_start: str) -> str:
    times = [r["seconds"] for r in _rows(stem) if r["method"].startswith(method_start)]
    if not times:
        raise DocsError(f"proofs/results/{stem}.json has no obligation whose method is {method_start}...")
    low, high = f"{min(times):.1f}", f"{max(times):.1f}"
    return f"{low} s" if low == high else f"{low} to {high} s"


def _explored(ident: str) -> list[dict[str, Any]]:
    row = next((r for r in _rows("prove-fixed") if r["ident"] == ident), None)
    if row is None:
        raise DocsError(f"proofs/results/prove-fixed.json has no {ident}")
    explored = row["detail"]["explored"]
    return explored if isinstance(explored, list) else [explored]


def _averted(ident: str) -> str:
    return "; ".join(f"{e['world']}: {e['averted_deadlocks']} such transitions" for e in _explored(ident))


def _states(ident: str) -> str:
    return "; ".join(f"{e['world']}: {e['states']} states" for e in _explored(ident))


def _contract_cpu(variant: str) -> float:
    return float(sum(c["cpu_seconds"] for c in results(f"contracts-{variant}")["conditions"]))


def _contract_function(function: str) -> str:
    rows = [c for c in results("contracts-fixed")["conditions"] if c["function"] == function]
    cpu, paths = sum(c["cpu_seconds"] for c in rows), max(c["paths"] for c in rows)
    return f"{cpu:.0f} CPU s, {paths} paths per condition"


def _explained(stem: str) -> str:
    counts: dict[str, int] = {}
    for row in _rows(stem):
        rows = (row.get("detail") or {}).get("findings") or ()
        if row["status"] == "counterexample" and rows and not any(r["unexplained"] for r in rows):
            for f in dict.fromkeys(f for r in rows for f in r["findings"]):
                counts[f] = counts.get(f, 0) + 1
    unexplained = sum(
        1
        for row in _rows(stem)
        if row["status"] == "counterexample" and not (row.get("detail") or {}).get("findings")
    )
    text = ", ".join(f"{f} ({n})" for f, n in sorted(counts.items())) or "no finding"
    return text + (f"; {unexplained} failure(s) no finding explains" if unexplained else "")


def _prove_sample() -> str:
    from proofs.tool.docgen.sample_output import prove_sample

    return prove_sample(results("prove-seed"))


INTERLEAVINGS = "exhaustive interleavings, breadth first with"  # the trylock worlds' method
BLOCKING = "exhaustive interleavings, breadth first ("  # the blocking-lock world's method


def _slowest_contract() -> str:
    return f"{max(c['cpu_seconds'] for c in results('contracts-fixed')['conditions']):.0f}"


def _stage_alone(stage: str) -> str:
    body = load_json(stage_report(stage))
    if body is None:
        return f"Not measured: `rmap-verify mutants --stage {stage}` writes its report in proofs/results/.\n"
    return stage_tables(body)


FIGURES: dict[str, Callable[[], str]] = {
    "prove_fixed_slowest": lambda: _slowest("prove-fixed"),
    "prove_seed_slowest": lambda: _slowest("prove-seed"),
    "prove_fixed_z3_unmap_seconds": lambda: _engine_seconds("prove-fixed", "z3 unbounded, VCs generated"),
    "prove_fixed_interleavings_seconds": lambda: _engine_seconds(
        "prove-fixed", "exhaustive interleavings, breadth first with"
    ),
    "prove_fixed_blocking_seconds": lambda: _engine_seconds(
        "prove-fixed", "exhaustive interleavings, breadth first ("
    ),
    "prove_seed_explained": lambda: _explained("prove-seed"),
    "interleaving_states": lambda: _states("concurrent paths never deadlock [fixed]"),
    "averted_deadlocks": lambda: _averted("concurrent paths never deadlock [fixed]"),
    "blocking_states": lambda: _states("blocking page_table_lock in try_to_unmap_one deadlocks [fixed]"),
    "contracts_fixed_cpu": lambda: f"{_contract_cpu('fixed'):.0f}",
    "contracts_fixed_conditions": lambda: str(len(results("contracts-fixed")["conditions"])),
    "contracts_fixed_verified": lambda: str(
        sum(c["status"] == "verified" for c in results("contracts-fixed")["conditions"])
    ),
    "contracts_fixed_slowest_cpu": lambda: (
        f"{max(c['cpu_seconds'] for c in results('contracts-fixed')['conditions']):.0f}"
    ),
    "contracts_fixed_try_to_unmap": lambda: _contract_function("try_to_unmap"),
    "contracts_fixed_reclaim": lambda: _contract_function("reclaim"),
    "bench_tables": lambda: bench_tables(results("bench")),
    "contract_worlds": lambda: worlds_tables(results("contracts-fixed")["worlds"]),
    "mutation_tables": lambda: mutation_tables(results("mutants")),
    "mutation_stage_rates": lambda: stage_rates({s: load_json(stage_report(s)) for s in STAGE_NAMES}),
    "mutation_contracts_alone": lambda: _stage_alone("contracts"),
    "mutation_prove_alone": lambda: _stage_alone("prove"),
    "prove_sample": _prove_sample,
    "c_oracle_findings": lambda: c_oracle.findings_table(results("c-oracle")),
    "c_oracle_bench": lambda: c_oracle.bench_table(results("bench_c_oracle")),
}


def fill(page: str, text: str) -> str:
    """The page with every placeholder replaced; DocsError names an unknown one."""

    def one(m: re.Match[str]) -> str:
        kind, what, fmt = m["kind"], m["what"], m["format"]
        where = f"docs_src/{page}: {m.group(0)}"
        if kind == "figure":
            if what not in FIGURES:
                raise DocsError(f"{where}: no such figure; FIGURES has {', '.join(FIGURES)}")
            return FIGURES[what]()
        if kind == "code":
            module, _, name = what.rpartition(".")
            try:
                value = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                raise DocsError(f"{where}: no such constant") from None
            return _shown(value, fmt or ("g" if isinstance(value, float) else None))
        return _shown(_at(results(kind), what, where), fmt)

    return PLACEHOLDER.sub(one, text)


def hand_typed(page: str, text: str) -> list[str]:
    """``docs_src/page:line: figure`` for each count or time typed by hand."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for m in HAND_TYPED.finditer(PLACEHOLDER.sub("", line)):
            found.append(f"docs_src/{page}:{number}: {m.group(0)!r}")
    return found
