"""docs_src/c-oracle.md shows what the C oracle's results files hold, and
nothing typed by hand: its generated sections are the renderings of
proofs/results/c-oracle.json and bench_c_oracle.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proofs import oracle
from proofs.findings import FINDINGS, Finding

RESULTS = oracle.RESULTS.parent


def section(begin: str, end: str) -> str:
    text = oracle.PAGE.read_text(encoding="utf-8")
    return text.partition(begin)[2].partition(end)[0].strip("\n")


def test_the_findings_table_is_the_results_file() -> None:
    results = json.loads(oracle.RESULTS.read_text(encoding="utf-8"))
    assert section(oracle.BEGIN, oracle.END) == oracle.findings_table(results).strip("\n")
    assert sorted(results["findings"]) == [f.id for f in FINDINGS]
    assert all(r["same_violation"] and not r["differences"] for r in results["findings"].values())


def test_the_benchmark_figures_are_the_results_file() -> None:
    results = json.loads((RESULTS / "bench_c_oracle.json").read_text(encoding="utf-8"))
    assert section(oracle.BENCH_BEGIN, oracle.BENCH_END) == oracle.render_bench(results).strip("\n")
    assert results["ops"] >= 10_000 and results["divergences"] == 0


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_a_finding_page_section_reads_the_results_file(f: Finding) -> None:
    ident = f.id
    text = oracle.finding_c_section(ident)
    assert text.startswith("## On the C\n") and f"{ident}.jsonl --c" in text
    if ident == "F1":
        assert "LeakSanitizer: 16 byte(s) leaked in 1 object(s)" in text and "page_add_rmap rmap.c" in text


def test_write_section_replaces_only_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("head\n<!-- B -->\nold\n<!-- E -->\ntail\n", encoding="utf-8")
    oracle.write_section(page, "<!-- B -->", "<!-- E -->", "new\n")
    assert page.read_text(encoding="utf-8") == "head\n<!-- B -->\n\nnew\n\n<!-- E -->\ntail\n"
