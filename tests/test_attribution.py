"""Findings are derived by replay, and a defect no finding explains is reported as such.

A counterexample's violations are each attributed to the fixes that remove
them (proofs.attribution); here a defect injected into the seed itself
(page_referenced forgets to clear PG_referenced, so every seed+Fn variant
inherits it) must come out unexplained, failing the run also with
--expect-findings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from impl import kernel
from impl.kernel import Page, PageDirect, ptep_test_and_clear_young
from impl.rmap_seed import SeedRmap
from proofs.attribution import attribute
from proofs.findings import FINDINGS, Finding
from proofs.registry import OBLIGATIONS
from proofs.tool.result import exit_code
from proofs.tool.runner import prove


def _trace(f: Finding) -> list[dict[str, object]]:
    return [json.loads(line) for line in f.trace.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_each_finding_trace_is_removed_by_its_own_fix(f: Finding) -> None:
    blame = attribute(_trace(f), "seed")
    assert blame.explained and f.id in blame.fixes, blame.as_dict()
    assert attribute(_trace(f), "fixed").shows == ()  # nothing left to attribute on fixed


def page_referenced(self: SeedRmap, page: Page) -> int:
    """page_referenced with PG_referenced read but not cleared (the loop keeps its name: its
    invariant is keyed by function)."""
    referenced = 1 if kernel.test_flag(page, kernel.PG_referenced) else 0  # the defect: not cleared
    if PageDirect(page):
        if ptep_test_and_clear_young(page.pte.direct):
            referenced += 1
    else:
        pc = page.pte.chain
        while pc:
            if ptep_test_and_clear_young(pc.ptep):
                referenced += 1
            pc = pc.next
    return referenced


def test_a_defect_no_finding_explains_is_unexplained(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(SeedRmap, "page_referenced", page_referenced)
    ob = next(o for o in OBLIGATIONS if o.ident == "page_referenced refinement [seed]")
    [result] = prove([ob], timeout=30.0, jobs=1, cex_dir=tmp_path)
    assert result.outcome.status == "counterexample", result.outcome.detail.get("why")
    assert result.unexplained and not result.findings
    [row] = result.outcome.detail["findings"]
    assert row["unexplained"], row
    assert exit_code([result]) == 1
    assert exit_code([result], expect=[]) == 1  # --expect-findings: an unexplained failure fails the run
