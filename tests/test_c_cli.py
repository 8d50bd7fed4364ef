"""``rmap-verify replay --c`` and ``rmap-verify diff``: records, exit codes,
and bad input (a seed that is not a C file, does not compile, or finds no
compiler) as exit 2 with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_bad_inputs import ROOT, assert_one_line_usage_error, rmap_verify
from test_c_oracle import need_oracle

from impl.c.build import find_seed
from impl.c.compare import normalise
from impl.trace_schema import ADDRESS_LIMIT, MAX_COUNT, MAX_PFN, MAX_SWAP_ENTRY, PAGE_SIZE
from proofs.findings import FINDINGS
from proofs.tool.cli import main

F1, F2 = FINDINGS[0].trace, FINDINGS[1].trace


@pytest.fixture(autouse=True)
def _oracle_here() -> None:
    need_oracle()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_replay_on_the_c_prints_the_ports_records(capsys: pytest.CaptureFixture[str]) -> None:
    for f in FINDINGS:
        _, port, _ = run(capsys, "replay", str(f.trace), "--variant", "seed")
        code, c, err = run(capsys, "replay", str(f.trace), "--c")
        assert code == 0 and err == ""
        assert [normalise(json.loads(line)) for line in c.splitlines()] == [
            normalise(json.loads(line)) for line in port.splitlines()
        ]


def test_replay_strict_on_the_c_fails_on_a_finding(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "replay", str(F2), "--c", str(find_seed()), "--strict")[0] == 1


def test_sanitized_replay_reports_the_leak(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "replay", str(F1), "--c", "--sanitize", "--strict")
    assert code == 1 and len(out.splitlines()) == 6
    assert err == "sanitizers: LeakSanitizer: 16 byte(s) leaked in 1 object(s)\n"


def test_diff_agrees_on_every_finding(capsys: pytest.CaptureFixture[str]) -> None:
    for f in FINDINGS:
        code, out, _ = run(capsys, "diff", str(f.trace))
        assert code == 0 and "agree on every one" in out, out


def test_diff_shows_the_first_record_that_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A seed that counts every new entry twice: diff names the first record
    and the field (the seed is changed in a temporary copy, not here)."""
    text = find_seed().read_text()
    assert text.count("inc_page_state(nr_reverse_maps);") == 1
    changed = tmp_path / "rmap.c"
    changed.write_text(
        text.replace("inc_page_state(nr_reverse_maps);", "inc_page_state(nr_reverse_maps);" * 2)
    )
    code, out, _ = run(capsys, "diff", str(F2), "--c", str(changed))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{F2}:2: map: the C differs from the port (seed):"
    assert "  nr_reverse_maps: port 1, C 2" in lines


@pytest.mark.parametrize(
    ("name", "text", "why"),
    [
        ("missing.c", None, "not a C file (no such file)"),
        ("trace.jsonl", "{}", "not a C file (the name does not end in .c)"),
        ("broken.c", "int page_add_rmap(void) { return ; }\nint x = ;\n", "does not compile"),
        ("dir.c", "/", "not a C file (not a regular file)"),
        ("binary.c", "\0ELF", "not a C file (binary data)"),
        ("empty.c", "", "does not link: "),  # and says which symbol, not collect2's summary
    ],
)
def test_a_bad_seed_is_exit_2_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, why: str
) -> None:
    seed = tmp_path / name
    if text == "/":
        seed.mkdir()
    elif text is not None:
        seed.write_text(text)
    for argv in (["replay", str(F1), "--c", str(seed)], ["diff", str(F1), "--c", str(seed)]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and err.count("\n") == 1 and why in err, err
        assert "collect2" not in err, err


def test_no_compiler_is_exit_2_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = tmp_path / "rmap.c"
    seed.write_text("int x;\n")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    code, _, err = run(capsys, "replay", str(F1), "--c", str(seed))
    assert code == 2 and err.count("\n") == 1 and "no C compiler" in err, err


def test_a_malformed_trace_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text('{"op": "map", "pte": "a", "pfn": 1}\n')
    for argv in (["replay", str(trace), "--c"], ["diff", str(trace)]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "the first operation must be 'world'" in err and err.count("\n") == 1


def test_sanitize_without_the_c_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "replay", str(F1), "--sanitize")
    assert (
        code == 2
        and out == ""
        and err == "rmap-verify replay: error: --sanitize is for the C: give --c [PATH] too\n"
    )


def test_diff_on_the_sanitizer_build_gives_the_verdict_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "diff", str(F1), "--sanitize")
    assert code == 0 and "agree on every one" in out
    assert err == "sanitizers: LeakSanitizer: 16 byte(s) leaked in 1 object(s)\n"


def test_a_bad_trace_is_named_before_the_seed_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole trace is checked first, as for the port: a bad line, not the
    (here missing) seed, is what the one line names."""
    trace = tmp_path / "t.jsonl"
    trace.write_text(F2.read_text() + '{"op": "zap", "pte": "nobody"}\n')
    lines = len(F2.read_text().splitlines()) + 1
    for argv in (["replay", str(trace), "--c", str(tmp_path / "no.c")], ["diff", str(trace), "--c", "no.c"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and f"t.jsonl:{lines}: zap: pte: unknown pte 'nobody'" in err, err


def test_every_number_the_schema_admits_fits_the_c(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The largest pfn, count, swap entry and address, and a page->index
    below zero or at the top of a long: the C gives the port's records."""
    world = {
        "op": "world",
        "pages": [
            {"pfn": MAX_PFN, "count": MAX_COUNT - 4, "index": -1},
            {"pfn": 1, "index": 2**63 - 1, "swapcache": False},
            {"pfn": 2, "index": MAX_SWAP_ENTRY, "swapcache": True},
        ],
        "mms": [{"name": "A", "vmas": [{"start": 0, "end": ADDRESS_LIMIT - PAGE_SIZE}]}],
        "ptes": [
            {"name": "a", "mm": "A", "address": ADDRESS_LIMIT - 2 * PAGE_SIZE},
            {"name": "b", "mm": "A", "address": PAGE_SIZE},
            {"name": "c", "mm": "A", "address": 2 * PAGE_SIZE, "swap": MAX_SWAP_ENTRY},
        ],
        "swap": {str(MAX_SWAP_ENTRY): 2},
    }
    ops = [
        world,
        {"op": "map", "pte": "a", "pfn": MAX_PFN},
        {"op": "map", "pte": "b", "pfn": 2},
        {"op": "reclaim", "pfn": 2},
        {"op": "set_page", "pfn": 1, "index": -(2**63)},
        {"op": "reclaim", "pfn": MAX_PFN},
    ]
    trace = tmp_path / "big.jsonl"
    trace.write_text("".join(json.dumps(op) + "\n" for op in ops))
    code, out, _ = run(capsys, "diff", str(trace))
    assert code == 0 and "6 records, the C and the port (seed) agree on every one" in out, out


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "proofs/findings/F1.jsonl", "--c", "README.md"],
        ["diff", "proofs/findings/F1.jsonl", "--c", "pyproject.toml"],
        ["diff", "proofs/findings/F1.jsonl", "--c", "no/such/rmap.c"],
    ],
)
def test_a_bad_seed_through_the_real_command_line(argv: list[str]) -> None:
    done = rmap_verify(*argv, cwd=ROOT)
    err = assert_one_line_usage_error(done)
    assert "not a C file" in err and done.stdout == b""
