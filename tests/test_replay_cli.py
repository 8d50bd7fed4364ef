"""``rmap-verify replay`` through proofs.tool.cli.main: records, exit codes, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import world_desc

from proofs.findings import FINDINGS
from proofs.tool.cli import main

WORLD = world_desc(3, 2, extra_pages=[{"pfn": 50, "valid": False}])
STATE = ("pages", "mms", "ptes", "swap", "nr_reverse_maps", "pte_chain_objects")


class Run:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.err = code, err
        self.records: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines()]

    @property
    def last(self) -> dict[str, Any]:
        return self.records[-1]


@pytest.fixture
def replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    def run(ops: list[dict[str, Any]] | str, *args: str) -> Run:
        text = ops if isinstance(ops, str) else "\n".join(json.dumps(op) for op in ops) + "\n"
        trace = tmp_path / "t.jsonl"
        trace.write_text(text)
        code = main(["replay", str(trace), *args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def _ops(*ops: dict[str, Any]) -> list[dict[str, Any]]:
    return [WORLD, *ops]


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f.id)
@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_replay_findings_both_variants_and_strict(replay: Any, finding: Any, variant: str) -> None:
    text = finding.trace.read_text()
    run = replay(text, "--variant", variant)
    assert run.code == 0 and run.err == ""
    assert len(run.records) == len([line for line in text.splitlines() if line.strip()])
    assert [r["line"] for r in run.records] == list(range(1, len(run.records) + 1))
    shown = bool(run.last["violations"] or run.last["spec_mismatch"] or run.last["fault"])
    assert shown == (variant == "seed")
    strict = replay(text, "--variant", variant, "--strict")
    # --strict fails on faults, violations and spec mismatches (every seed trace ends with one).
    dirty = any(r["fault"] or r["violations"] or r["spec_mismatch"] for r in strict.records)
    assert strict.code == (1 if dirty else 0) and dirty == (variant == "seed")


def test_replay_record_fields(replay: Any) -> None:
    run = replay(_ops({"op": "map", "pte": "p0", "pfn": 1}, {"op": "map", "pte": "p1", "pfn": 1}))
    rec = run.last
    assert set(rec) >= {"line", "op", "result", "fault", "precondition", "pages", "mms", "ptes", "swap"}
    assert set(rec) >= {"nr_reverse_maps", "pte_chain_objects", "flushes", "violations", "spec_mismatch"}
    page = rec["pages"][0]
    assert page["rmap"] == ["p1", "p0"] and not page["direct"] and page["chain_nodes"] == 2
    assert page["count"] == 3 and rec["nr_reverse_maps"] == 2 and rec["pte_chain_objects"] == 2
    assert rec["pages"][1] == {
        "pfn": 50,
        "valid": False,
        "direct": False,
        "rmap": [],
        "chain_nodes": 0,
        "count": 1,
        "flags": [],
        "mapping": "file",
        "index": 0,
    }
    assert rec["mms"] == [
        {"name": "A", "rss": 1, "page_table_lock": None},
        {"name": "B", "rss": 1, "page_table_lock": None},
    ]


def test_replay_every_operation_on_the_fixed_variant(replay: Any) -> None:
    run = replay(
        _ops(
            {"op": "map", "pte": "p0", "pfn": 1, "dirty": True},
            {"op": "map", "pte": "p1", "pfn": 1},
            {"op": "referenced", "pfn": 1},
            {"op": "set_pte", "pte": "p0", "young": True},
            {"op": "set_page", "pfn": 1, "referenced": True, "dirty": False, "index": 4, "swapcache": False},
            {"op": "lock", "mm": "B"},
            {"op": "reclaim", "pfn": 1},
            {"op": "reclaim", "pfn": 1},
            {"op": "unlock", "mm": "B"},
            {"op": "mlock", "mm": "B", "address": 0x2000},
            {"op": "mlock", "mm": "B", "address": 0x2000, "on": False},
            {"op": "vmas", "mm": "A", "vmas": [{"start": 0, "end": 0x1000}]},
            {"op": "fail_alloc", "n": 1},
            {"op": "page_add_rmap", "pfn": 1, "pte": "p2"},
            {"op": "set_page", "pfn": 1, "locked": True},
            {"op": "try_to_unmap", "pfn": 1},
            {"op": "try_to_unmap_one", "pfn": 1, "pte": "p1"},
            {"op": "page_remove_rmap", "pfn": 1, "pte": "p1"},
            {"op": "set_page", "pfn": 1, "mapping": "", "reserved": False},
        )
    )
    assert run.code == 0
    assert [r["result"] for r in run.records[1:]] == [
        "mapped",
        "mapped",
        2,
        *[None] * 3,
        {"referenced": 2, "try_to_unmap": None, "disposition": "activate"},
        {"referenced": 0, "try_to_unmap": "SWAP_AGAIN", "disposition": "keep_inactive"},
        *[None] * 7,
        "SWAP_SUCCESS",  # p1 in B is unmapped: the page is empty
        "SWAP_SUCCESS",  # raw try_to_unmap_one of the now empty p1 runs anyway
        None,
        None,
    ]
    assert [r["flushes"] for r in run.records if r["flushes"]] == [  # the cache first (F7)
        [["flush_cache_page", "A", 0x1000], ["flush_tlb_page", "A", 0x1000]],
        [["flush_cache_page", "B", 0x2000], ["flush_tlb_page", "B", 0x2000]],
        [["flush_cache_page", "B", 0x2000], ["flush_tlb_page", "B", 0x2000]],
    ]
    # Up to the raw misuse of try_to_unmap_one every record is clean.
    assert all(not r["violations"] and not r["spec_mismatch"] and not r["fault"] for r in run.records[:17])
    assert "count_rss" in run.records[17]["violations"]
    assert run.last["pages"][0]["mapping"] is None and run.last["pages"][0]["index"] == 4


def test_replay_fixed_answers_enomem_on_raw_add(replay: Any) -> None:
    run = replay(
        [
            world_desc(2),
            {"op": "map", "pte": "p0", "pfn": 1},
            {"op": "fail_alloc", "n": 1},
            {"op": "page_add_rmap", "pfn": 1, "pte": "p0"},
        ]
    )
    assert run.last["result"] == -12  # -ENOMEM; p0 is recorded already, so the spec has no step
    run = replay(
        [
            world_desc(2),
            {"op": "map", "pte": "p0", "pfn": 1},
            {"op": "set_pte", "pte": "p0", "young": False},
            {"op": "fail_alloc", "n": 1},
            {"op": "map", "pte": "p1", "pfn": 1},
        ]
    )
    assert run.last["result"] == "oom" and run.last["spec_mismatch"] == [] and not run.last["violations"]


@pytest.mark.parametrize(
    ("op", "why"),
    [
        ({"op": "map", "pte": "p0", "pfn": 1}, "p0 is already present"),
        ({"op": "zap", "pte": "p1"}, "p1 holds nothing to zap"),
        ({"op": "set_pte", "pte": "p1", "young": True}, "p1 is not present"),
        ({"op": "mlock", "mm": "A", "address": 0x20000}, "no vma of A contains"),
        ({"op": "unlock", "mm": "A"}, "not held by cpu1"),
        ({"op": "reclaim", "pfn": 50}, "has no backing store"),
    ],
)
@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_caller_precondition_is_reported_and_changes_nothing(
    replay: Any, op: dict[str, Any], why: str, variant: str
) -> None:
    if op["op"] == "reclaim":
        ops = _ops({"op": "map", "pte": "p0", "pfn": 1}, {"op": "set_page", "pfn": 50, "mapping": ""}, op)
    else:
        ops = _ops({"op": "map", "pte": "p0", "pfn": 1}, op)
    run = replay(ops, "--variant", variant, "--strict")
    before, after = run.records[-2], run.last
    assert run.code == 0 and why in after["precondition"] and after["result"] is None
    assert {f: after[f] for f in STATE} == {f: before[f] for f in STATE}
    assert after["spec_mismatch"] == [] and after["fault"] is None


def test_lock_twice_is_a_precondition(replay: Any) -> None:
    run = replay(_ops({"op": "lock", "mm": "A"}, {"op": "lock", "mm": "A"}))
    assert "already held by cpu1" in run.last["precondition"]


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_bug_is_reported_and_the_run_continues(replay: Any, variant: str) -> None:
    run = replay(
        _ops(
            {"op": "map", "pte": "p0", "pfn": 1},
            {"op": "try_to_unmap", "pfn": 1},  # the page is not locked: BUG()
            {"op": "zap", "pte": "p0"},
        ),
        "--variant",
        variant,
    )
    assert run.code == 0 and len(run.records) == 4
    fault = run.records[2]["fault"]
    assert fault["kind"] == "BUG" and fault["why"] == "try_to_unmap of a page that is not locked"
    assert run.last["fault"] is None and run.last["ptes"][0]["present"] is False
    assert replay(_ops({"op": "try_to_unmap", "pfn": 1}), "--strict").code == 1


def test_debug_rmap_option(replay: Any) -> None:
    ops = _ops({"op": "map", "pte": "p0", "pfn": 1}, {"op": "page_add_rmap", "pfn": 1, "pte": "p0"})
    assert replay(ops).last["fault"] is None
    fault = replay(ops, "--debug-rmap").last["fault"]
    assert fault["kind"] == "BUG" and "directly already" in fault["why"]


def test_replay_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = io.TextIOWrapper(io.BytesIO((json.dumps(WORLD) + "\n\n").encode()))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["replay", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["line"] == 1


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{not json\n", "t.jsonl:1: not JSON (object keys must be strings"),
        ("[1, 2]\n", "t.jsonl:1: expected object, got array"),
        ('{"op": "frobnicate"}\n', "t.jsonl:1: op: unknown operation 'frobnicate'; known: world, map"),
        ('{"op": "map", "pte": "p0"}\n', "t.jsonl:1: map: missing field 'pfn'"),
        ('{"op": "map", "pte": "p0", "pfn": "1"}\n', "t.jsonl:1: map: pfn: expected int, got str"),
        ('{"op": "map", "pte": "p0", "pfn": true}\n', "t.jsonl:1: map: pfn: expected int, got bool"),
        ('{"op": "zap", "pte": "p0", "x": 1}\n', "t.jsonl:1: zap: unknown field 'x'"),
        ('{"op": "zap", "pte": "p0"}\n', "t.jsonl:1: zap: the first operation must be 'world'"),
        ('{"op": "world", "pages": [{"pfn": 1}, {"pfn": 1}]}\n', "t.jsonl:1: world: page 1 is given twice"),
        ('{"op": "world", "pages": 3}\n', "t.jsonl:1: world: pages: expected array, got int"),
        ("WORLD\n" + '{"op": "zap", "pte": "nope"}\n', "t.jsonl:2: zap: pte: unknown pte 'nope'"),
        ("WORLD\n" + '{"op": "reclaim", "pfn": 77}\n', "t.jsonl:2: reclaim: pfn: unknown page 77"),
        ("WORLD\n" + '{"op": "lock", "mm": "Z"}\n', "t.jsonl:2: lock: mm: unknown mm 'Z'"),
        (
            "WORLD\n" + '{"op": "vmas", "mm": "A", "vmas": [{"start": 0}]}\n',
            "t.jsonl:2: vmas: vmas[0]: missing field 'end'",
        ),
        ("WORLD\n" + '{"op": "vmas", "mm": "Z", "vmas": []}\n', "t.jsonl:2: vmas: mm: unknown mm 'Z'"),
    ],
)
def test_malformed_trace_exits_2_with_one_line(replay: Any, text: str, why: str) -> None:
    run = replay(text.replace("WORLD", json.dumps(WORLD)))
    assert run.code == 2
    assert run.err.count("\n") == 1 and run.err.startswith("rmap-verify replay: error: ")
    assert why in run.err and "Traceback" not in run.err


def test_a_malformed_line_anywhere_stops_the_replay_before_it_runs(replay: Any) -> None:
    run = replay(json.dumps(WORLD) + "\n{oops\n")
    assert run.code == 2 and run.records == [] and "t.jsonl:2:" in run.err


def test_unreadable_trace_and_bad_variant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err
    with pytest.raises(SystemExit) as caught:
        main(["replay", str(tmp_path / "x"), "--variant", "nope"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
