"""docs/ is generated from the code, current, complete, and builds strictly."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from impl.trace import replay
from impl.trace_schema import OPS, WORLD_ENTRIES
from proofs.findings import FINDINGS, Finding
from proofs.interleave.schedule import is_schedule, replay_schedule
from proofs.tool.cli import build_parser, main
from proofs.tool.docgen import figures, invariants_page, seed_facts, site, sources, traces_page
from proofs.tool.paths import DOCS_SRC

DOCS = sources.ROOT / "docs"


def test_committed_docs_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["docs", "--check"])
    assert code == 0, f"docs/ is stale, run `rmap-verify docs`:\n{capsys.readouterr().out}"


def test_docs_check_passes_without_the_seed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(seed_facts, "SEED_PATHS", (tmp_path / "no" / "rmap.c",))
    assert main(["docs", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("seed check skipped: the seed is not at ")


def test_committed_seed_facts_are_those_of_the_seed() -> None:
    seed = seed_facts.find_seed()
    if seed is None:
        pytest.skip("the seed is not at ../shared/seed/rmap.c: the committed facts are used unchecked")
    assert seed_facts.facts_of(seed.read_text(encoding="utf-8")) == seed_facts.committed()


def test_a_figure_typed_by_hand_in_docs_src_fails_generation() -> None:
    assert figures.hand_typed("p.md", "the suite took 15.6 s, 34 obligations\n[ 8/38] proved") == [
        "docs_src/p.md:1: '15.6 s'",
        "docs_src/p.md:1: '34 obligations'",
        "docs_src/p.md:2: '[ 8/38]'",
    ]
    assert figures.hand_typed("p.md", "took {{ prove-fixed:totals.seconds }} s; F1, rmap.c:58, n=14 s") == []
    committed = json.loads((sources.RESULTS / "prove-fixed.json").read_text())
    text = "{{ prove-fixed:totals.obligations }} {{ code:proofs.tool.cli.EXIT_USAGE }}"
    assert figures.fill("p.md", text) == f"{committed['totals']['obligations']} 2"
    with pytest.raises(sources.DocsError, match=r"no totals\.nothing there"):
        figures.fill("p.md", "{{ prove-fixed:totals.nothing }}")


def test_check_lists_stale_missing_and_extra_files(tmp_path: Path) -> None:
    files = {"docs/a.md": "a\n", "docs/sub/b.md": "b\n", "mkdocs.yml": "nav: []\n"}
    assert site.write(tmp_path, files) == sorted(files)
    assert site.stale(tmp_path, files) == []
    (tmp_path / "docs/a.md").write_text("edited\n")
    (tmp_path / "docs/sub/b.md").unlink()
    (tmp_path / "docs/extra.md").write_text("x\n")
    assert site.stale(tmp_path, files) == ["docs/a.md", "docs/extra.md", "docs/sub/b.md"]
    site.write(tmp_path, files)
    assert site.stale(tmp_path, files) == []
    assert not (tmp_path / "docs/extra.md").exists()


def test_every_invariant_is_catalogued_with_a_proof_or_a_reason() -> None:
    names = invariants_page.invariant_names_in_source()
    assert names, "no Invariant(...) found in spec/ or impl/"
    catalogue = (DOCS / "invariants.md").read_text()
    obligations = sources.load_obligations()
    if obligations is None:
        pytest.skip("proofs.registry is not there yet")
    proved = {name for ob in obligations for name in ob.invariants}
    for name in sorted(names):
        assert f"## {name} {{#{name}}}" in catalogue, f"{name} is not in docs/invariants.md"
        assert name in proved or name in invariants_page.NOT_COVERED, (
            f"{name}: no obligation names it and invariants_page.NOT_COVERED gives no reason"
        )
    not_covered = set(invariants_page.NOT_COVERED)
    assert not not_covered & proved, "NOT_COVERED lists an invariant an obligation proves"
    assert not_covered <= names, "NOT_COVERED lists an invariant that does not exist"


def _trace_on_page(f: Finding) -> list[str]:
    page = (DOCS / "findings" / f"{f.id}.md").read_text()
    block = re.search(r"```json\n(.*?)\n```", page, re.S)
    assert block, f"no trace on the {f.id} page"
    return block.group(1).splitlines()


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_trace_on_each_findings_page_replays_and_shows_it(f: Finding) -> None:
    last = list(replay(_trace_on_page(f), f"docs/findings/{f.id}.md", "seed"))[-1]
    shown = set(last["violations"]) | ({"spec_mismatch"} if last["spec_mismatch"] else set())
    if last["fault"]:
        shown.add(last["fault"]["kind"])
    assert set(f.shows) <= shown
    page = (DOCS / "findings" / f"{f.id}.md").read_text()
    for shown_name in f.shows:
        assert shown_name in page


def test_every_trace_op_and_record_key_is_documented() -> None:
    traces = (DOCS / "traces.md").read_text()
    record = next(replay(FINDINGS[0].trace.read_text().splitlines()[:1], "world", "seed"))
    for key in record:
        assert f"| {key} |" in traces
    for name, op in OPS.items():
        assert f"### {name} {{#op-{name}}}" in traces
        section = traces.split(f"### {name} {{#op-{name}}}")[1].split("\n### ")[0]
        assert f"Level: *{op.level}*" in section
        for key in op.__struct_fields__:
            assert f"| `{key}` |" in section, f"{name}.{key} is not in docs/traces.md"
    for where, entry in WORLD_ENTRIES.items():
        section = traces.split(f"### {where} ")[1].split("\n### ")[0]
        for key in entry.__struct_fields__:
            assert f"| `{key}` |" in section, f"{where}.{key} is not in docs/traces.md"


def test_getting_started_commands_parse() -> None:
    text = (DOCS_SRC / "getting-started.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", text, re.S)
    commands = [line.split("#")[0].split("|")[0].strip() for b in blocks for line in b.splitlines()]
    commands = [c for c in commands if c.startswith("rmap-verify ")]
    assert len(commands) >= 8
    parser = build_parser()
    for command in commands:
        parser.parse_args(shlex.split(command)[1:])


def test_site_builds_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=sources.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr
    assert (tmp_path / "site" / "findings" / "F1" / "index.html").is_file()


def test_counterexample_traces_in_obligations_page_replay() -> None:
    page = (DOCS / "obligations.md").read_text()
    found = re.findall(r"replay with `--variant (\w+)`\)\"\n\n    ```json\n(.*?)\n    ```", page, re.S)
    for variant, body in found:
        trace = [line.strip() for line in body.splitlines()]
        ops = [json.loads(line) for line in trace]
        records = (
            replay_schedule(ops, variant)
            if is_schedule(ops)
            else replay(trace, "docs/obligations.md", variant)
        )
        last = list(records)[-1]
        assert last["violations"] or last["spec_mismatch"] or last["fault"], trace


def test_a_corrupt_results_file_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "prove-seed.json").write_text("{not json")
    monkeypatch.setattr(sources, "RESULTS", tmp_path)
    assert main(["docs", "--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prove-seed.json is not JSON" in err


def test_an_undocumented_record_key_fails_generation() -> None:
    with pytest.raises(sources.DocsError, match="undocumented: \\['new'\\]"):
        traces_page.check_fields("record", traces_page.RECORD_FIELDS, [*traces_page.RECORD_FIELDS, "new"])
