"""The CrossHair contracts of impl/contracts.py and ``rmap-verify contracts``.

The default run checks the contracts with CrossHair at MAX_CHAIN = 2 (the
full bound, 3, takes minutes: set RMAP_FULL_CONTRACTS=1), checks that the
committed reports in proofs/results/ still say what the issue asks, and
shows that broken implementations are caught.  The property tests run the
same contracts on Hypothesis inputs; ``pytest --hypothesis-profile=crosshair
tests/test_contracts.py -k property`` runs them on the CrossHair backend.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import impl.rmap_seed
from impl import contracts
from impl.contracts import CONTRACTS, OUTCOMES, checking
from impl.fixes import FIXES
from impl.kernel import SWAP_SUCCESS, ptep_to_mm
from impl.rmap_fixed import FixedRmap
from impl.trace import replay
from impl.variants import VARIANTS
from proofs.crosshair import check as crosshair_check
from proofs.crosshair import command
from proofs.findings import FINDINGS
from proofs.tool.cli import main

RESULTS = Path(__file__).parent.parent / "proofs" / "results"
# The contracts state the invariants and the spec, not the flush rules of
# impl.flush_rules, so F7 (the flush order) is not theirs to show.
ALL_FINDINGS = sorted(f.id for f in FINDINGS if f.id != "F7")
FULL = os.environ.get("RMAP_FULL_CONTRACTS") == "1"
BOUND = contracts.MAX_CHAIN  # before any test lowers it


@pytest.fixture(scope="module")
def small_bound() -> Iterator[int]:
    """MAX_CHAIN = 2 unless the full run is asked for: chains of two still
    show every finding (F1 needs a failed entry and one behind it)."""
    with pytest.MonkeyPatch.context() as patch:
        if not FULL:
            patch.setattr(contracts, "MAX_CHAIN", 2)
        yield contracts.MAX_CHAIN


def _quiet(line: str) -> None:
    pass


# Where the findings live; the full run (RMAP_FULL_CONTRACTS=1) checks all.
FINDING_FUNCTIONS = None if FULL else ["page_add_rmap", "page_remove_rmap", "try_to_unmap"]


@pytest.fixture(scope="module")
def seed_report(small_bound: int) -> dict[str, Any]:
    return command.check("seed", names=FINDING_FUNCTIONS, out=_quiet, jobs=2)


# ------------------------------------------------------------ the two facts


def test_fixed_is_clean(small_bound: int) -> None:
    # The other functions' fixed verdicts: the full run in CI, the committed
    # report and the property test below.
    report = command.check("fixed", names=FINDING_FUNCTIONS, out=_quiet, jobs=2)
    assert report["ok"]
    assert {c["status"] for c in report["conditions"]} == {crosshair_check.VERIFIED}


def test_seed_shows_every_finding_and_nothing_else(seed_report: dict[str, Any]) -> None:
    assert not seed_report["ok"]
    assert seed_report["findings_shown"] == ALL_FINDINGS
    counterexamples = [c for v in seed_report["conditions"] for c in v["counterexamples"]]
    assert counterexamples and all(c["explained_by"] for c in counterexamples)
    # each condition ends verified once the seed carries the fixes it needed
    assert all("Confirmed" in v["detail"] for v in seed_report["conditions"])


def test_each_counterexample_replays_on_seed_and_holds_on_fixed(seed_report: dict[str, Any]) -> None:
    checked = 0
    for verdict in seed_report["conditions"]:
        fn = getattr(contracts, verdict["function"])
        post = next(p for p in crosshair_check.conditions_of(fn)[1] if p.expr_source == verdict["condition"])
        for cex in verdict["counterexamples"]:
            if cex["variant"] != "seed":
                continue
            last = list(replay([json.dumps(op) for op in cex["trace"]], "cex", "seed"))[-1]
            assert last["violations"] or last["spec_mismatch"] or last["fault"]
            assert not crosshair_check._holds_on(fn, post, cex["args"], "seed")
            assert crosshair_check._holds_on(fn, post, cex["args"], "fixed")
            checked += 1
    assert checked


def test_diffbehavior_differences_are_findings(seed_report: dict[str, Any]) -> None:
    diffs = seed_report["diffbehavior"]
    assert {d["function"] for d in diffs} == set(FINDING_FUNCTIONS or [fn.__name__ for fn in CONTRACTS]) - {
        "pte_chain_init"
    }
    differences = [c for d in diffs for c in d["counterexamples"]]
    assert differences and all(c["explained_by"] for c in differences)
    shown = {i for c in differences for s in c["explained_by"] for i in s}
    # every fix makes a difference somewhere
    assert shown == set(FIXES)
    # with every fix it needed grafted on, the seed behaves exactly as fixed
    assert all("Confirmed" in d["detail"] for d in diffs)


# ------------------------------------------------------------ committed reports


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_committed_report_is_current(variant: str) -> None:
    report = json.loads((RESULTS / f"contracts-{variant}.json").read_text())
    assert report["bounds"]["MAX_CHAIN"] == BOUND
    listed = [(c["function"], c["condition"]) for c in report["conditions"]]
    assert listed == [
        (t[1], crosshair_check.conditions_of(getattr(contracts, t[1]))[1][t[2]].expr_source)
        for t in command.tasks(variant, 1.0)
    ]
    if variant == "fixed":
        assert report["ok"] and {c["status"] for c in report["conditions"]} == {crosshair_check.VERIFIED}
    else:
        assert report["findings_shown"] == ALL_FINDINGS
        assert all(c["explained_by"] for v in report["conditions"] for c in v["counterexamples"])
        assert all(d["explained_by"] for r in report["diffbehavior"] for d in r["counterexamples"])


# ------------------------------------------------------------ broken on purpose


class RssOffByOne(FixedRmap):
    """Unmapping lowers the mm's rss by two."""

    name = "rss-off-by-one"

    def try_to_unmap_one(self, page: Any, ptep: Any) -> int:
        ret = super().try_to_unmap_one(page, ptep)
        if ret == SWAP_SUCCESS:
            ptep_to_mm(ptep).rss -= 1
        return ret


@pytest.fixture
def mutant(monkeypatch: pytest.MonkeyPatch) -> Callable[[type], str]:
    def register(cls: type) -> str:
        monkeypatch.setitem(VARIANTS, cls.name, cls)  # type: ignore[attr-defined]
        return str(cls.name)  # type: ignore[attr-defined]

    return register


def test_rss_off_by_one_is_caught(small_bound: int, mutant: Callable[[type], str]) -> None:
    name = mutant(RssOffByOne)
    report = command.check(name, names=["try_to_unmap_one", "try_to_unmap"], out=_quiet, jobs=2)
    failed = {
        (v["function"], v["condition"])
        for v in report["conditions"]
        if v["status"] == crosshair_check.COUNTEREXAMPLE
    }
    assert ("try_to_unmap_one", 'holds(_, COUNT, but="count_nr_reverse_maps")') in failed
    assert ("try_to_unmap", "refines(_)") in failed and ("try_to_unmap", "holds(_, COUNT)") in failed
    assert not report["ok"]
    # no finding explains a counterexample outside seed
    assert not any(c["explained_by"] for v in report["conditions"] for c in v["counterexamples"])


def test_missing_clear_page_direct_is_caught(small_bound: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixed variant inherits the seed's page_remove_rmap: without its
    # ClearPageDirect a page whose direct pte goes keeps PG_direct.
    monkeypatch.setattr(impl.rmap_seed, "ClearPageDirect", lambda page: None)
    report = command.check("fixed", names=["page_remove_rmap", "zap_pte"], out=_quiet)
    failed = {
        (v["function"], v["condition"])
        for v in report["conditions"]
        if v["status"] == crosshair_check.COUNTEREXAMPLE
    }
    assert ("page_remove_rmap", "holds(_, STRUCTURE)") in failed
    assert ("zap_pte", "holds(_, STRUCTURE)") in failed


# ------------------------------------------------------------ the command


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "--per-condition-timeout", "0"]) == 2
    assert "must be a positive number" in capsys.readouterr().err
    assert main(["contracts", "--json", "/nonexistent/dir/x.json"]) == 2
    assert main(["contracts", "-k", "no_such_function"]) == 2
    assert "selects none of the" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["contracts", "--variant", "nope"])
    assert stop.value.code == 2


def test_list_selects_by_k_expression(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["contracts", "--list", "-k", "try_to_unmap and not one and (COUNT or refines)"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "try_to_unmap      post         refines(_)",
        "try_to_unmap      post         holds(_, COUNT)",
        "2 conditions",
    ]
    assert main(["contracts", "--list", "--variant", "seed", "--json", "-", "-k", "diffbehavior"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {row["kind"] for row in listed} == {"diffbehavior"} and len(listed) == len(CONTRACTS) - 1


def test_require_verified_fails_a_condition_only_held_within_budget(
    small_bound: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "c.xml"
    argv = ["contracts", "-k", "try_to_unmap and COUNT and not one", "--jobs", "1", "--junit", str(junit)]
    assert main([*argv, "--per-condition-timeout", "0.05", "--require-verified"]) == 1
    out = capsys.readouterr().out
    assert "no counterexample within budget" in out and "1 not verified (--require-verified)" in out
    assert 'failures="1"' in junit.read_text()
    assert main([*argv, "--per-condition-timeout", "60", "--require-verified"]) == 0
    assert 'failures="0"' in junit.read_text()


# ------------------------------------------------------------ properties


def _arguments(fn: Callable[..., Any], data: st.DataObject) -> dict[str, Any]:
    """Small values of each parameter's type, every list as long as
    ``mapped``; the preconditions filter the rest."""
    hints = typing.get_type_hints(fn)
    hints.pop("return")
    small_int = st.integers(0, max(contracts.MAX_CHAIN, *OUTCOMES))
    mapped = data.draw(small_int, label="mapped") if "mapped" in hints else 0
    element = {list[int]: st.sampled_from(OUTCOMES), list[bool]: st.booleans()}
    args = {}
    for name, hint in hints.items():
        if name == "mapped":
            args[name] = mapped
        elif hint in element:
            args[name] = data.draw(st.lists(element[hint], min_size=mapped, max_size=mapped), label=name)
        else:
            args[name] = data.draw(small_int if hint is int else st.booleans(), label=name)
    return args


@pytest.mark.parametrize("fn", CONTRACTS, ids=lambda fn: fn.__name__)
@given(data=st.data())
def test_property_fixed_meets_every_contract(fn: Callable[..., Any], data: st.DataObject) -> None:
    args = _arguments(fn, data)
    pre, post = crosshair_check.conditions_of(fn)
    assume(all(p.evaluate(args) for p in pre))
    with checking("fixed"):
        value = fn(**args)
    for condition in post:
        assert condition.evaluate({**args, "_": value}), (condition.expr_source, value)
