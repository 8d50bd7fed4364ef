"""The C oracle in docs/: docs/c-oracle.md and each finding page show what its
results files hold (proofs/results/c-oracle.json, bench_c_oracle.json), and
the port's side of those files is the port's record today.  None of these
tests needs a compiler or the seed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from impl.trace import replay
from proofs.findings import FINDINGS, Finding
from proofs.tool.docgen import c_oracle, figures, findings_page, sources
from proofs.tool.oracle.results import PROVE_SEED, RESULTS_FILE
from proofs.tool.paths import DOCS_SRC, RESULTS

DOCS = sources.ROOT / "docs"


def _results(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def test_the_page_takes_its_figures_from_the_results_files() -> None:
    src = (DOCS_SRC / "c-oracle.md").read_text(encoding="utf-8")
    assert "{{ figure:c_oracle_findings }}" in src and "{{ figure:c_oracle_bench }}" in src
    page = (DOCS / "c-oracle.md").read_text(encoding="utf-8")
    assert c_oracle.findings_table(_results("c-oracle.json")).strip() in page
    assert c_oracle.bench_table(_results("bench_c_oracle.json")).strip() in page
    assert figures.hand_typed("c-oracle.md", src) == []


def test_the_results_say_what_issue_12_asks() -> None:
    results = _results("c-oracle.json")
    assert sorted(results["findings"]) == [f.id for f in FINDINGS]
    assert all(r["same_violation"] and not r["differences"] for r in results["findings"].values())
    bench = _results("bench_c_oracle.json")
    assert bench["ops"] >= 10_000 and bench["divergences"] == 0


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_the_port_side_of_the_results_is_the_ports_record(f: Finding) -> None:
    """A change to the port or to a finding's trace makes c-oracle.json stale:
    run ``python -m proofs.tool.oracle``."""
    r = _results("c-oracle.json")["findings"][f.id]
    last = list(replay(f.trace.read_text(encoding="utf-8").splitlines(), r["trace"], "seed"))[-1]
    assert r["port_last"] == last, "proofs/results/c-oracle.json is stale: run python -m proofs.tool.oracle"


def test_the_results_cover_every_committed_counterexample() -> None:
    report = json.loads(PROVE_SEED.read_text(encoding="utf-8"))
    committed = [
        ob for ob in report["obligations"] if ob["status"] == "counterexample" and ob["detail"].get("trace")
    ]
    cex = json.loads(RESULTS_FILE.read_text(encoding="utf-8"))["counterexamples"]
    # a concurrent schedule is counted apart: the C runs one path at a time
    assert cex["counterexamples"] + len(cex["schedules"]) == len(committed)


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_each_finding_page_shows_the_c_beside_the_port(f: Finding) -> None:
    results = _results("c-oracle.json")
    section = findings_page.c_section(f.id, results)
    page = (DOCS / "findings" / f"{f.id}.md").read_text(encoding="utf-8")
    assert section.strip() in page and page.rstrip().endswith(section.strip())
    assert section.startswith("## On the C\n")
    assert f"rmap-verify replay proofs/findings/{f.id}.jsonl --c" in section
    r = results["findings"][f.id]
    assert "| last record | port (seed) | C |" in section
    shows = ", ".join(f"`{name}`" for name in r["c_shows"])
    assert f"its last record shows the same violation as the port: {shows}" in section
    verdict = r["sanitizers"]["verdict"]
    assert f"(`--sanitize`: ASan, UBSan, LeakSanitizer): {verdict}." in section.replace("\\|", "|")


def test_f1s_page_names_the_leak_and_where_it_was_allocated() -> None:
    section = findings_page.c_section("F1", _results("c-oracle.json"))
    assert "LeakSanitizer: 16 byte(s) leaked in 1 object(s)" in section
    assert "allocated at `kmem_cache_alloc shim.c:" in section and "`page_add_rmap rmap.c:" in section
    assert "| live pte_chain objects | 1 | 1 |" in section


def test_a_finding_page_without_results_says_so() -> None:
    assert "Not run: proofs/results/c-oracle.json has no record of it" in findings_page.c_section("F1", None)
    assert "Not run" in findings_page.c_section("F9", {"findings": {}})
