"""rmap-verify mutants: what it mutates, that it kills, and the committed report.

The full mutation run takes minutes (``rmap-verify mutants``); these tests
check its parts and its last report in seconds.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from proofs.crosshair import check as crosshair_check
from proofs.crosshair.command import reaching_contracts
from proofs.tool.mutants import generate
from proofs.tool.mutants import judge as judging
from proofs.tool.mutants.command import stale_equivalents, summarize
from proofs.tool.mutants.generate import Mutant, enumerate_mutants
from proofs.tool.mutants.judge import Judge, Verdict, make_copy
from proofs.tool.mutants.scope import (
    BLIND,
    DEFAULT_REPORT,
    EQUIVALENT,
    MIN_SCORE,
    SCOPE,
    Stage,
    stage_report,
    stages,
)
from proofs.tool.paths import ROOT


@pytest.fixture(scope="module")
def all_mutants(tmp_path_factory: pytest.TempPathFactory) -> list[Mutant]:
    return enumerate_mutants(make_copy(tmp_path_factory.mktemp("scan") / "copy"))


def test_mutants_are_valid_in_scope_and_uniquely_named(all_mutants: list[Mutant]) -> None:
    assert len(all_mutants) > 100
    assert len({m.ident for m in all_mutants}) == len(all_mutants)
    assert {m.file for m in all_mutants} == set(SCOPE)
    inherited = SCOPE["impl/rmap_seed.py"]
    assert inherited and "page_referenced" in inherited and "try_to_unmap" not in inherited
    for m in all_mutants:
        names = SCOPE[m.file]
        assert names is None or m.function in names, m.ident
        assert m.diff.startswith("-") and "\n+" in m.diff, m.ident


def _signature(line: str) -> ast.arguments:
    node = ast.parse(line.strip() + "\n    pass").body[0]
    assert isinstance(node, ast.FunctionDef)
    return node.args


def _dump(value: ast.AST | list[ast.arg] | None) -> str:
    items = value if isinstance(value, list) else [value]
    return "".join(ast.dump(item) if item else "-" for item in items)


def test_no_mutant_touches_an_annotation_or_a_keyword_only_marker(all_mutants: list[Mutant]) -> None:
    """On a def line only default values may change."""
    source = (ROOT / "impl/callers.py").read_text()
    spans, stars = generate._unevaluated(source)
    assert stars and spans, "map_pte's bare * marker and the annotations are found"
    signatures = [m for m in all_mutants if m.mutated_line.startswith("def ")]
    assert signatures, "the default-value mutants are made"
    for m in signatures:
        before = _signature(m.diff.splitlines()[0][1:])
        after = _signature(m.mutated_line)
        for field in ("posonlyargs", "args", "vararg", "kwonlyargs", "kwarg"):
            assert _dump(getattr(before, field)) == _dump(getattr(after, field)), m.ident
        assert ast.dump(before) != ast.dump(after), m.ident


def test_equivalent_entries_name_current_mutants_with_a_reason(all_mutants: list[Mutant]) -> None:
    assert stale_equivalents(all_mutants) == []
    for ident, eq in EQUIVALENT.items():
        assert len(eq.reason) > 40, f"{ident}: say why no test can tell it apart"


def test_committed_report_has_no_unexplained_survivor() -> None:
    report = json.loads(DEFAULT_REPORT.read_text())
    assert not report["quick"]
    statuses = {m["status"] for m in report["mutants"]}
    assert statuses <= {"killed", "equivalent"}, "every survivor is killed or explained"
    for m in report["mutants"]:
        if m["status"] == "equivalent":
            assert m["ident"] in EQUIVALENT and m["reason"] == EQUIVALENT[m["ident"]].reason
        else:
            assert m["killed_by"]
    assert report["totals"]["score"] >= MIN_SCORE
    assert report["totals"] == summarize(Verdict(**m) for m in report["mutants"])


@pytest.mark.parametrize("stage", ["contracts", "prove"])
def test_committed_stage_alone_names_every_survivor(stage: str, all_mutants: list[Mutant]) -> None:
    """A stage's own kill rate: every mutant through that stage alone, every
    survivor named in BLIND with why the stage cannot see it."""
    if not stage_report(stage).exists():
        pytest.skip(f"no committed run of `rmap-verify mutants --stage {stage}` yet")
    report = json.loads(stage_report(stage).read_text())
    assert report["stage_alone"] == stage and not report["quick"]
    assert [s["name"] for s in report["stages"]] == [stage]
    assert {m["ident"] for m in report["mutants"]} == {m.ident for m in all_mutants}
    blind = BLIND[stage]
    assert stale_equivalents(all_mutants, blind) == []
    for m in report["mutants"]:
        assert m["status"] != "survived", f"{m['ident']}: say in BLIND why the {stage} stage cannot see it"
        if m["status"] == "blind":
            assert m["reason"] == blind[m["ident"]].reason and len(m["reason"]) > 40
    assert report["totals"] == summarize((Verdict(**m) for m in report["mutants"]), alone=True)


def test_the_contracts_stage_checks_the_contracts_that_reach_the_mutant(tmp_path: Path) -> None:
    (contracts,) = stages(ROOT, only="contracts")
    recorded = str(contracts.calls)
    assert contracts.baseline() == (*contracts.argv, "--record", recorded)
    on = contracts.on("impl/fixes.py", "try_to_unmap")
    assert on == (*contracts.argv, "--recorded", recorded, "--reaching", "impl/fixes.py:try_to_unmap")
    (tests,) = stages(ROOT, quick=True)
    assert tests.on("impl/fixes.py", "try_to_unmap") == tests.baseline() == tests.argv
    # what the baseline records selects: a function no contract calls is checked by none
    record = tmp_path / "recorded.json"
    world = {"ptes": "Ms", "swap": "none", "shared": False}
    walk = {"calls": ["impl/fixes.py:try_to_unmap"], "worlds": [world]}
    record.write_text(json.dumps({"reclaim": None, "try_to_unmap": walk}))
    assert reaching_contracts(str(record), "impl/fixes.py:try_to_unmap")[0] == ["try_to_unmap", "reclaim"]
    assert reaching_contracts(str(record), "impl/callers.py:zap_pte")[0] == ["reclaim"]
    # not a function (a class's body, module code): the records do not trace it, every contract runs
    assert reaching_contracts(str(record), "impl/fixes.py:FixF1")[0] == ["reclaim", "try_to_unmap"]
    # a recorded world replays: it holds on fixed, and F1's walk fails it
    assert crosshair_check.replay_worlds("try_to_unmap", [world], "fixed") is None
    assert crosshair_check.replay_worlds("try_to_unmap", [world], "fixed-F1") == ("refines(_)", world)


def test_a_mutant_is_killed_and_the_unmutated_code_passes(
    all_mutants: list[Mutant], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The F5 fix weakened back to the seed's test: the branch tests see it."""
    tests = (
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_rmap_branches.py",
    )
    monkeypatch.setattr(
        judging, "stages", lambda copy, quick, only: [Stage("tests", tests, "tests/conftest.py")]
    )
    seed_test = "return vma is not None or vma.vm_start <= address"
    weakened = next(m for m in all_mutants if m.function == "_vma_holds" and m.mutated_line == seed_test)
    judge = Judge(tmp_path, 1)
    copied = tmp_path / "w0" / weakened.file
    original = copied.read_text()
    verdict = judge.judge(weakened)
    assert verdict.status == "killed" and verdict.killed_by and verdict.killed_by.startswith("tests: ")
    assert copied.read_text() == original  # the mutant was taken out again


def test_again_starts_only_from_a_run_of_that_stage_alone(tmp_path: Path, all_mutants: list[Mutant]) -> None:
    """--again re-judges one stage's survivors: it refuses what is not a run
    of that stage alone over today's mutants, in one line (exit 2)."""
    from proofs.tool.cli import UsageError
    from proofs.tool.mutants.command import _earlier

    contracts = stage_report("contracts")
    if not contracts.exists():
        pytest.skip("no committed contracts stage run")
    assert _earlier(str(contracts), "contracts", all_mutants)["stage_alone"] == "contracts"
    for path, stage in ((contracts, "prove"), (contracts, None), (tmp_path / "none.json", "contracts")):
        with pytest.raises(UsageError):
            _earlier(str(path), stage, all_mutants)
