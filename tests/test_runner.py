"""``rmap-verify prove`` as a tool: selection, output, reports, exit codes.

The runner is driven through ``proofs.tool.cli.main`` over self-check
obligations (``proofs.tool.selfcheck``) put in place of the registry, so these
tests do not depend on the z3 obligations.
"""

from __future__ import annotations

import io
import json
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from impl.trace import replay
from proofs.obligation import Obligation
from proofs.tool import selfcheck
from proofs.tool.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, build_parser, main
from proofs.tool.result import is_bounded
from proofs.tool.runner import execute, select
from proofs.tool.workers import run_groups

PROVED = [selfcheck.obligation("proves", variant) for variant in ("seed", "fixed")]
F1_SEED = selfcheck.obligation("finds_f1", "seed")


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Obligation]:
    """An editable stand-in for proofs.registry.OBLIGATIONS; runs in tmp_path (reports/cex/ lands there)."""
    obligations: list[Obligation] = [*PROVED]
    monkeypatch.setitem(sys.modules, "proofs.registry", types.SimpleNamespace(OBLIGATIONS=obligations))
    monkeypatch.chdir(tmp_path)
    return obligations


def prove(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["prove", "--jobs", "2", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_select_by_variant_and_a_k_expression_over_ident_function_and_property() -> None:
    obligations = [*PROVED, F1_SEED]
    assert select(obligations, "fixed", None) == [PROVED[1]]
    assert select(obligations, "all", None) == obligations
    assert select(obligations, "all", "FINDS") == [F1_SEED]
    assert select(obligations, "all", "proves and [seed]") == [PROVED[0]]
    assert select(obligations, "all", "not finds") == PROVED
    assert select(obligations, "all", "finds or [fixed]") == [PROVED[1], F1_SEED]
    assert select(obligations, "all", "(proves or finds) and not ([fixed])") == [PROVED[0], F1_SEED]
    assert select(obligations, "all", "selfcheck and preservation") == obligations  # function, property
    assert select(obligations, "all", "finds_f1 [seed]") == [F1_SEED]  # words side by side: one phrase
    with pytest.raises(UsageError, match="selects none"):
        select(obligations, "fixed", "finds")


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("a and", "ends too early"),
        ("(a", "a '(' is not closed"),
        ("a )", "unexpected ')'"),
        ("or a", "'or' where a word or '(' was expected"),
        ("", "needs an expression"),
        ("(" * 40 + "a" + ")" * 40, "nests deeper than 32"),
        ("a " * 600, "longer than 1000"),
    ],
)
def test_a_malformed_k_expression_is_a_usage_error(expression: str, why: str) -> None:
    with pytest.raises(UsageError, match=re.escape(why)):
        select(PROVED, "all", expression)


def test_all_proved_exits_0_and_lists_each_with_its_time(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = prove(capsys, "--variant", "all")
    assert (code, err) == (EXIT_OK, "")
    for ob in PROVED:
        assert re.search(rf"proved +\d+\.\d\d s  {re.escape(ob.ident)}", out)
    assert re.search(r"^2 proved, 0 counterexample, 0 unknown in \d+\.\d s$", out, re.M)
    assert "\r" not in out  # not a terminal: plain lines only


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-k", "no such obligation"], "-k 'no such obligation' selects none of the 1 obligations"),
        (["-k", "proves )"], "-k 'proves )': unexpected ')'"),
        (["--jobs", "-1"], "--jobs must be 0"),
        (["--timeout", "0"], "--timeout must be a positive number"),
        (["--timeout", "nan"], "--timeout must be a positive number"),
        (["--timeout", "1e308"], "--timeout must be a positive number of seconds up to 86400"),
        (["--timeout", "soon"], "invalid float value"),
        (["--json", "."], "--json .: is a directory"),
        (["--json", ""], "--json needs a file name, not an empty string"),
        (["--json", "/dev/full"], "--json /dev/full: not a regular file"),
        (["--json", "missing/dir/r.json"], "--json missing/dir/r.json: directory missing/dir does not exist"),
        (["--junit", "/proc/no/such.xml"], "--junit /proc/no/such.xml: directory /proc/no does not exist"),
        (["--json", "-"], "a report goes to standard output only with --list"),
        (["--cex-dir", ""], "--cex-dir needs a directory name"),
        (["--cex-dir", "no/such/dir"], "--cex-dir no/such/dir: directory no/such does not exist"),
        (["--cex-dir", "/proc/cex"], "--cex-dir /proc/cex: cannot write there"),
        (["-x", "--expect-findings"], "-x stops at the first failure"),
        (["--affected-by", "impl/callers.py:no_such"], "FILE:NAME names no function of impl/ or spec/"),
        (["--affected-by", "/etc/passwd:map_pte"], "FILE:NAME names no function of impl/ or spec/"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    try:
        code = main(["prove", *argv])
    except SystemExit as stop:  # argparse's own errors exit, also with 2
        code = int(stop.code or 0)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert message in err and len(err.strip().splitlines()) == 1


def test_list_of_the_real_registry_by_expression(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["prove", "--list", "--variant", "all", "-k", "try_to_unmap and not reclaim", "--json", "-"]
    assert main(argv) == EXIT_OK
    listed = json.loads(capsys.readouterr().out)
    assert {row["function"] for row in listed} == {"try_to_unmap", "try_to_unmap_one"}
    assert all("reclaim" not in row["ident"] for row in listed)


def test_affected_by_keeps_the_z3_obligations_that_reach_the_function_and_every_python_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["prove", "--list", "--json", "-", "--affected-by", "impl/callers.py:map_pte"])
    listed = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    z3 = {row["function"] for row in listed if row["engine"] == "z3"}
    assert z3 == {"map"}  # only the map path calls map_pte
    assert {row["engine"] for row in listed} >= {"z3", "interleavings", "exhaustive"}
    main(["prove", "--list", "--json", "-", "--affected-by", "impl/callers.py:_vma_of"])
    modelled = json.loads(capsys.readouterr().out)
    assert not [row for row in modelled if row["engine"] == "z3"]  # a model stands in for _vma_of


def test_fail_fast_stops_at_the_first_failure_and_says_the_rest_did_not_run(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    later = selfcheck.obligation("proves_slowly", "seed")
    registry += [F1_SEED, later]
    Path("out").mkdir()
    argv = ("--variant", "seed", "--jobs", "1", "-x", "--json", "out/r.json", "--junit", "out/r.xml")
    code, out, _ = prove(capsys, *argv)
    assert code == EXIT_FAILED
    assert "INCOMPLETE: 1 not run (-x: stopped at the first obligation not proved)" in out
    report = json.loads(Path("out/r.json").read_text())
    assert report["totals"]["complete"] is False and report["not_run"] == [later.ident]
    assert [row["ident"] for row in report["obligations"]] == [PROVED[0].ident, F1_SEED.ident]
    skipped = ET.parse("out/r.xml").getroot().findall("testcase/skipped")
    assert [s.get("message") for s in skipped] == [
        "the run stopped (-x: stopped at the first obligation not proved) before this obligation finished"
    ]


def test_list_prints_the_selection_and_runs_nothing(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(F1_SEED)
    code, out, _ = prove(capsys, "--variant", "seed", "--list")
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].split() == ["obligation", "property", "engine", "bounded"]
    assert lines[1].split()[:3] == ["selfcheck", "proves", "[seed]"]
    assert lines[2].split()[:3] == ["selfcheck", "finds_f1", "[seed]"]
    assert lines[3:] == ["2 obligations"]
    code, out, _ = prove(capsys, "--variant", "seed", "--list", "--json", "-")
    listed = json.loads(out)
    assert [row["ident"] for row in listed] == [PROVED[0].ident, F1_SEED.ident]
    assert "finding" not in listed[1] and listed[1]["engine"] == "proofs.tool.selfcheck"
    assert not Path("reports").exists()


def test_a_counterexample_is_shown_replayed_and_explained(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(F1_SEED)
    code, out, _ = prove(capsys, "--variant", "seed")
    assert code == EXIT_FAILED
    assert re.search(r"counterexample +\d+\.\d\d s  selfcheck finds_f1 \[seed\]  \(F1, F2, F7\)", out)
    lines = [" ".join(line.split()) for line in out.splitlines()]
    for line in [
        "COUNTEREXAMPLE selfcheck finds_f1 [seed] (",
        "found on seed: shows count_nr_reverse_maps, count_pte_chain_objects, flush_cache_before_pte_change,",
        "finding F1 try_to_unmap loses a SWAP_FAIL entry when the next one unmaps (its fix removes",
        "finding F2 try_to_unmap never lowers nr_reverse_maps (its fix removes count_nr_reverse_maps,",
        "then seed+F1+F2+F7: proved",
        "failing conjunct spec_rmap_complete",
        "last step reclaim pfn=1 -> referenced 0, try_to_unmap SWAP_FAIL, disposition activate",
        "environment unmap a SWAP_SUCCESS, b SWAP_FAIL; next pte_chain allocation succeeds",
        "state before after",
        "page 1 reverse map chain b -> a (2 nodes) none changed",
        "page 1 count 3 2 changed",
        "spec beside α(impl) after the step:",
        "field spec α(impl)",
        "rmap[1] {b} {}",
        "violated invariant how",
        "spec_rmap_complete b maps page 1 but page 1's reverse map lacks it",
        "replay rmap-verify replay reports/cex/selfcheck_finds_f1-seed.jsonl --variant seed (shows",
    ]:
        assert any(shown.startswith(line) for shown in lines), line
    assert out.index("\nSummary: 1 proved, 1 counterexample") < out.index("COUNTEREXAMPLE")
    summary = r"^1 proved, 1 counterexample, 0 unknown in .* s; explained by F1 \(1\), F2 \(1\), F7 \(1\)$"
    assert re.search(summary, out, re.M)
    assert "{'" not in out and "['" not in out  # no Python repr
    # The written trace is the replayable artefact: replay --strict fails on it.
    trace = Path("reports/cex/selfcheck_finds_f1-seed.jsonl")
    assert main(["replay", str(trace), "--variant", "seed", "--strict"]) == EXIT_FAILED


def test_cex_dir_places_the_counterexamples(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(F1_SEED)
    Path("elsewhere").mkdir()
    code, out, _ = prove(capsys, "--variant", "seed", "--cex-dir", "elsewhere/cex")
    assert code == EXIT_FAILED and Path("elsewhere/cex/selfcheck_finds_f1-seed.jsonl").is_file()
    assert "rmap-verify replay elsewhere/cex/selfcheck_finds_f1-seed.jsonl" in out
    assert not Path("reports").exists()


def test_an_unwritable_cex_dir_stops_before_the_run(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(F1_SEED)
    Path("reports").write_text("a file where the directory would go\n")
    code, out, err = prove(capsys, "--variant", "seed")
    assert code == EXIT_USAGE and out == "" and len(err.splitlines()) == 1
    assert "--cex-dir reports/cex: cannot write there" in err


def test_results_print_in_registry_order_whatever_finishes_first(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.insert(0, selfcheck.obligation("proves_slowly", "seed"))
    code, out, _ = prove(capsys, "--variant", "seed")
    assert code == EXIT_OK
    idents = [line.split("  ")[-1] for line in out.splitlines() if line.startswith("[")]
    assert idents == ["selfcheck proves_slowly [seed]", "selfcheck proves [seed]"]


def _echo(item: str) -> str:
    return item


def test_the_costliest_group_starts_first() -> None:
    """Given expected costs, the groups start costliest first (one worker:
    the order they answer in); without, in the order of their first items."""
    items = ["a1", "a2", "b1", "c1"]
    cost = {"a": 1.0, "b": 5.0, "c": 3.0}  # per item: group a costs 2

    def answered(**costs: object) -> list[str]:
        return [r for _, r in run_groups(_echo, items, 1, lambda s: s[0], failed=str, **costs)]  # type: ignore[arg-type]

    assert answered(cost=lambda s: cost[s[0]]) == ["b1", "c1", "a1", "a2"]
    assert answered() == items


def test_a_failure_on_seed_without_a_finding_is_flagged(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(selfcheck.obligation("finds_f1", "fixed"))
    code, out, _ = prove(capsys, "--variant", "fixed")
    assert code == EXIT_FAILED
    assert "(no finding explains this)" in out
    assert "finding           NONE - no finding explains this failure" in out
    assert out.rstrip().endswith("; 1 failure(s) no finding explains")


def test_json_report(registry: list[Obligation], capsys: pytest.CaptureFixture[str]) -> None:
    registry.append(F1_SEED)
    Path("out").mkdir()
    code, _, _ = prove(capsys, "--variant", "all", "--timeout", "5", "--json", "out/prove.json")
    assert code == EXIT_FAILED
    report = json.loads(Path("out/prove.json").read_text())
    assert report["variant"] == "all"
    assert report["settings"] == {
        "pattern": None,
        "deep": False,
        "affected_by": None,
        "fail_fast": False,
        "timeout": 5.0,
        "jobs": 2,
        "wall_limit": 20.0,
    }
    assert report["z3_version"] and report["machine"]["cores"] >= 1 and report["timestamp"]
    totals = report["totals"]
    assert (totals["obligations"], totals["proved"], totals["counterexample"]) == (3, 2, 1)
    assert totals["passed"] is False and totals["unexplained"] == 0
    assert totals["complete"] is True and report["not_run"] == []
    rows = {row["ident"]: row for row in report["obligations"]}
    assert list(rows) == [ob.ident for ob in [*PROVED, F1_SEED]]
    row = rows[F1_SEED.ident]
    assert row["name"] == F1_SEED.name and row["function"] == "selfcheck" and row["variant"] == "seed"
    assert (row["property"], row["method"]) == ("invariant preservation", "selfcheck")
    assert row["bounded"] == is_bounded("selfcheck")
    assert (row["status"], row["findings"], row["conjunct"]) == (
        "counterexample",
        ["F1", "F2", "F7"],
        "spec_rmap_complete",
    )
    assert row["explained"] and row["detail"]["last"] == {"variant": "seed+F1+F2+F7", "status": "proved"}
    verdict = row["detail"]["replay"]
    assert verdict["replays"] and "spec_mismatch" in verdict["shows"]
    assert verdict["path"] == "reports/cex/selfcheck_finds_f1-seed.jsonl"
    assert str(Path.cwd()) not in json.dumps(report)  # no absolute paths: the report is committed


@pytest.mark.parametrize(
    "method, bounded",
    [("z3 unbounded (inductive)", False), ("z3 bounded (N<=8)", True), ("exhaustive interleavings", True)],
)
def test_a_method_is_bounded_unless_it_says_unbounded(method: str, bounded: bool) -> None:
    assert is_bounded(method) == bounded


def test_junit_report(registry: list[Obligation], capsys: pytest.CaptureFixture[str]) -> None:
    registry.extend([F1_SEED, selfcheck.obligation("crashes", "seed")])
    prove(capsys, "--variant", "seed", "--junit", "junit.xml")
    suite = ET.parse("junit.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == ["selfcheck proves [seed]", F1_SEED.ident, "selfcheck crashes [seed]"]
    failure = cases[F1_SEED.ident].find("failure")
    assert failure is not None and failure.get("message") == "counterexample: spec_rmap_complete"
    error = cases["selfcheck crashes [seed]"].find("error")
    assert error is not None and error.get("message") == "error: RuntimeError: the encoder failed"


def test_live_progress_line_on_a_terminal(registry: list[Obligation], tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    args = build_parser().parse_args(["prove", "--variant", "all", "--jobs", "1"])
    assert execute(args, registry, out=screen) == EXIT_OK
    text = screen.getvalue()
    assert re.search(r"\r\x1b\[K\[1/2\] \d running, \d+\.\d s", text)
    assert "\r\x1b[K[1/2] proved" in text


def test_counterexample_traces_are_written_per_obligation_and_variant(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.extend([F1_SEED, selfcheck.obligation("finds_f1", "fixed")])
    prove(capsys, "--variant", "all")
    written = sorted(p.name for p in Path("reports/cex").iterdir())
    assert written == ["selfcheck_finds_f1-fixed.jsonl", "selfcheck_finds_f1-seed.jsonl"]
    with Path("reports/cex/selfcheck_finds_f1-seed.jsonl").open() as lines:
        assert list(replay(lines, "cex", "seed"))[-1]["spec_mismatch"]


def test_only_a_counterexample_is_explained_by_a_finding(
    registry: list[Obligation], capsys: pytest.CaptureFixture[str]
) -> None:
    registry.append(selfcheck.obligation("answers_unknown", "seed"))
    code, out, _ = prove(capsys, "--variant", "seed")
    assert code == EXIT_FAILED
    assert "selfcheck answers_unknown [seed]  (no finding explains this)" in out
    assert re.search(r"1 unknown in \d+\.\d s; 1 failure\(s\) no finding explains$", out.rstrip())


def test_the_long_searches_run_with_deep_only(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --deep, prove leaves the reachability searches out (and says
    so when -k names only them); with it, every obligation runs."""
    from proofs.registry import OBLIGATIONS
    from proofs.tool.runner import select

    fixed = [ob for ob in OBLIGATIONS if ob.variant == "fixed"]
    quick = select(OBLIGATIONS, "fixed", None, deep=False)
    assert {ob.prop for ob in fixed} - {ob.prop for ob in quick} == {"reachability"}
    assert select(OBLIGATIONS, "fixed", None, deep=True) == fixed
    assert main(["prove", "--list", "-k", "reachability"]) == 2
    assert "--deep" in capsys.readouterr().err
