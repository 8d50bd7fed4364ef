"""The CrossHair contracts of impl/contracts.py and ``rmap-verify contracts``.

The default run checks the contracts with CrossHair in worlds of chains up
to 2 (the push worlds, chains up to 3, take a minute and more: set
RMAP_FULL_CONTRACTS=1), checks that the committed reports in proofs/results/
still say what the issue asks, and shows that broken implementations, the
plausible wrong changes of impl/wrong_variants.py among them, are caught by
the contracts alone.  The property tests run the same contracts on
Hypothesis inputs; ``pytest --hypothesis-profile=crosshair
tests/test_contracts.py -k property`` runs them on the CrossHair backend.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import impl.rmap_seed
from impl import contracts
from impl.contract_worlds import WORLD_BOUNDS, WORLDS
from impl.contracts import CONTRACTS, checking
from impl.fixes import FIXES
from impl.kernel import SWAP_SUCCESS, ptep_to_mm
from impl.rmap_fixed import FixedRmap
from impl.trace import replay
from impl.variants import VARIANTS
from impl.wrong_variants import AgainAfterFail, DirtyNotMoved, LeaksFirstNode, VmStartExclusive
from proofs.crosshair import check as crosshair_check
from proofs.crosshair import command
from proofs.findings import FINDINGS
from proofs.tool.cli import main

RESULTS = Path(__file__).parent.parent / "proofs" / "results"
# The contracts state the invariants and the spec, not the flush rules of
# impl.flush_rules, so F7 (the flush order) is not theirs to show.
ALL_FINDINGS = sorted(f.id for f in FINDINGS if f.id != "F7")
FULL = os.environ.get("RMAP_FULL_CONTRACTS") == "1"
# The longest chain of the worlds the tests check: chains of two still show
# every finding (F1 needs a failed entry and one behind it) and every wrong
# change.
SMALL = WORLDS["push"]["MAX_CHAIN"] if FULL else 2


def _quiet(line: str) -> None:
    pass


# Where the findings live; the full run (RMAP_FULL_CONTRACTS=1) checks all.
FINDING_FUNCTIONS = None if FULL else ["page_add_rmap", "page_remove_rmap", "try_to_unmap"]


@pytest.fixture(scope="module")
def seed_report() -> dict[str, Any]:
    return command.check("seed", names=FINDING_FUNCTIONS, out=_quiet, jobs=2, max_chain=SMALL)


# ------------------------------------------------------------ the two facts


def test_fixed_is_clean() -> None:
    # The other functions' fixed verdicts: the full run in CI, the committed
    # report and the property test below.
    report = command.check("fixed", names=FINDING_FUNCTIONS, out=_quiet, jobs=2, max_chain=SMALL)
    assert report["ok"]
    assert {c["status"] for c in report["conditions"]} == {crosshair_check.VERIFIED}


def test_seed_shows_every_finding_and_nothing_else(seed_report: dict[str, Any]) -> None:
    assert not seed_report["ok"]
    assert seed_report["findings_shown"] == ALL_FINDINGS
    counterexamples = [c for v in seed_report["conditions"] for c in v["counterexamples"]]
    assert counterexamples and all(c["explained_by"] for c in counterexamples)
    # each condition ends verified once the seed carries the fixes it needed
    assert all(v["exhausted"] for v in seed_report["conditions"])


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
    assert all(d["exhausted"] for d in diffs)


def test_a_variant_lacking_a_fix_is_attributed_to_it() -> None:
    # Attribution follows the fixes a variant lacks, not the name "seed".
    report = command.check("fixed-F3", names=["page_add_rmap"], out=_quiet, jobs=1, max_chain=SMALL)
    assert not report["ok"] and report["findings_shown"] == ["F3"]
    counterexamples = [c for v in report["conditions"] for c in v["counterexamples"]]
    assert counterexamples and all(c["explained_by"] == [["F3"]] for c in counterexamples)
    # each condition ends verified, those F3 broke on fixed (fixed-F3 with F3 added)
    assert all(v["exhausted"] for v in report["conditions"])
    assert all(v["final_variant"] == "fixed" for v in report["conditions"] if v["counterexamples"])
    differences = [c for d in report["diffbehavior"] for c in d["counterexamples"]]
    assert differences and all(c["explained_by"] == [["F3"]] for c in differences)


# ------------------------------------------------------------ committed reports


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_committed_report_is_current(variant: str) -> None:
    report = json.loads((RESULTS / f"contracts-{variant}.json").read_text())
    assert report["bounds"] == {**WORLDS["push"], "worlds": "push"}
    assert report["worlds"] == json.loads(json.dumps(command.world_statement(), default=str))
    listed = [(c["function"], c["condition"]) for c in report["conditions"]]
    assert listed == [(name, command.keywords((name, i))[1]) for name, i in command.conditions()]
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


def test_rss_off_by_one_is_caught(mutant: Callable[[type], str]) -> None:
    name = mutant(RssOffByOne)
    report = command.check(
        name, names=["try_to_unmap_one", "try_to_unmap"], out=_quiet, jobs=2, max_chain=SMALL
    )
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


def test_missing_clear_page_direct_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixed variant inherits the seed's page_remove_rmap: without its
    # ClearPageDirect a page whose direct pte goes keeps PG_direct.
    monkeypatch.setattr(impl.rmap_seed, "ClearPageDirect", lambda page: None)
    report = command.check(
        "fixed", names=["page_remove_rmap", "zap_pte"], out=_quiet, jobs=1, max_chain=SMALL
    )
    failed = {
        (v["function"], v["condition"])
        for v in report["conditions"]
        if v["status"] == crosshair_check.COUNTEREXAMPLE
    }
    assert ("page_remove_rmap", "holds(_, STRUCTURE)") in failed
    assert ("zap_pte", "holds(_, STRUCTURE)") in failed


# The contracts that see each wrong change of impl/wrong_variants.py: one of
# the function changed, and one of a caller path whose trace alone (its
# record's spec mismatch or violated conjunct) shows the mistake.
WRONG_CHANGE_CONTRACTS = {
    DirtyNotMoved: ["try_to_unmap_one", "try_to_unmap"],
    VmStartExclusive: ["try_to_unmap_one", "reclaim"],
    LeaksFirstNode: ["page_add_rmap", "map_pte"],
    AgainAfterFail: ["try_to_unmap", "reclaim"],
}


@pytest.mark.parametrize(
    "wrong",
    [
        DirtyNotMoved,
        VmStartExclusive,
        LeaksFirstNode,
        AgainAfterFail,
    ],
    ids=lambda cls: cls.name,
)
def test_wrong_change_is_caught_by_the_contracts_alone(
    wrong: type[FixedRmap], mutant: Callable[[type], str]
) -> None:
    name = mutant(wrong)
    report = command.check(name, names=WRONG_CHANGE_CONTRACTS[wrong], out=_quiet, jobs=2, max_chain=SMALL)
    assert not report["ok"]
    caught = {v["function"] for v in report["conditions"] if v["counterexamples"]}
    assert caught == set(WRONG_CHANGE_CONTRACTS[wrong])
    for verdict in report["conditions"]:
        fn = getattr(contracts, verdict["function"])
        post = next(p for p in crosshair_check.conditions_of(fn)[1] if p.expr_source == verdict["condition"])
        for cex in verdict["counterexamples"]:
            # the trace replays to the state the contract saw, on which the
            # condition fails; fixed meets it on the same world
            records = list(replay([json.dumps(op) for op in cex["trace"]], "cex", name))
            with checking(name):
                run = fn(**cex["args"])
            assert records[-1]["pages"] == run.record["pages"] and records[-1]["ptes"] == run.record["ptes"]
            assert not crosshair_check._holds_on(fn, post, cex["args"], name)
            assert crosshair_check._holds_on(fn, post, cex["args"], "fixed")
            assert not cex["explained_by"]  # no finding explains a change outside seed
    # a caller path's trace shows the mistake by itself
    caller = WRONG_CHANGE_CONTRACTS[wrong][1]
    shown = [c for v in report["conditions"] if v["function"] == caller for c in v["counterexamples"]]
    last = list(replay([json.dumps(op) for op in shown[0]["trace"]], "cex", name))[-1]
    assert last["spec_mismatch"] or last["violations"]


def test_the_world_bounds_are_printed_in_the_report() -> None:
    statement = command.world_statement(["try_to_unmap"])
    assert statement["bounds"] is WORLD_BOUNDS
    assert statement["contracts"]["try_to_unmap"]["choices"] == ["ptes", "swap", "shared"]
    assert "all(c in CHAIN for c in ptes)" in statement["contracts"]["try_to_unmap"]["pre"]


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
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    junit = tmp_path / "c.xml"
    argv = ["contracts", "-k", "zap_pte and COUNT", "--jobs", "1", "--junit", str(junit)]
    assert main([*argv, "--per-condition-timeout", "0.05", "--require-verified"]) == 1
    out = capsys.readouterr().out
    assert "no counterexample within budget" in out and "1 not verified (--require-verified)" in out
    assert 'failures="1"' in junit.read_text()
    assert main([*argv, "--per-condition-timeout", "60", "--require-verified"]) == 0
    assert 'failures="0"' in junit.read_text()


# ------------------------------------------------------------ properties


def _choices(fn: Callable[..., Any]) -> dict[str, st.SearchStrategy[Any]]:
    """A strategy for each parameter of a contract, read off its
    preconditions: ``x in NAME`` draws a word of NAME, ``all(c in NAME for
    c in x)`` a string of its letters up to MAX_CHAIN long; an int is small,
    anything else a bool.  The preconditions filter the rest."""
    pre = " ".join(p.expr_source for p in crosshair_check.conditions_of(fn)[0])
    strategies: dict[str, st.SearchStrategy[Any]] = {}
    for name, hint in fn.__annotations__.items():
        if name == "return":
            continue
        letters = re.search(rf"all\(c in (\w+) for c in {name}\)", pre)
        word = re.search(rf"\b{name} in (\w+)", pre)
        if letters:
            alphabet = getattr(contracts, letters[1])
            strategies[name] = st.text(st.sampled_from(alphabet), max_size=contracts.MAX_CHAIN)
        elif word:
            strategies[name] = st.sampled_from(getattr(contracts, word[1]))
        elif hint == "int":
            strategies[name] = st.integers(0, contracts.MAX_CHAIN)
        else:
            strategies[name] = st.booleans()
    return strategies


@pytest.mark.parametrize("fn", CONTRACTS, ids=lambda fn: fn.__name__)
@given(data=st.data())
def test_property_fixed_meets_every_contract(fn: Callable[..., Any], data: st.DataObject) -> None:
    args = {name: data.draw(strategy, label=name) for name, strategy in _choices(fn).items()}
    pre, post = crosshair_check.conditions_of(fn)
    assume(all(p.evaluate(args) for p in pre))
    with checking("fixed"):
        value = fn(**args)
    for condition in post:
        assert condition.evaluate({**args, "_": value}), (condition.expr_source, value)
