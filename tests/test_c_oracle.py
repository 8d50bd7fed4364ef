"""The C oracle: the seed compiled as C replays like the port, op for op.

The oracle needs a C compiler and the seed; where either is missing these
tests skip with the reason, except under CI (``$CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import random
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from impl.c.build import BuildError
from impl.c.compare import differences, normalise
from impl.c.native import InProcess, OracleError
from impl.kernel import (
    SWAP_MAP_MAX,
    VM_LOCKED,
    PG_chainlock,
    PG_direct,
    PG_dirty,
    PG_locked,
    PG_referenced,
    PG_reserved,
    PG_swapcache,
)
from impl.trace import replay
from proofs.findings import FINDINGS, Finding
from proofs.tool import cexreplay, selfcheck
from proofs.tool.cexreplay import shown
from proofs.tool.cli import main
from proofs.tool.oracle import run
from proofs.tool.oracle.results import counterexample_results
from proofs.tool.oracle.run import in_process, on_c, sanitized_replay, side_by_side
from proofs.tool.oracle.traces import random_trace


def need_oracle(**options: Any) -> InProcess:
    try:
        return in_process(**options)
    except BuildError as why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the C oracle: {why}")
        pytest.skip(f"no C oracle: {why}")


@pytest.fixture(scope="module")
def oracle() -> InProcess:
    return need_oracle()


def _agree(oracle: InProcess, trace: list[dict[str, Any]], **options: Any) -> None:
    lines = [json.dumps(op) for op in trace]
    for pair in side_by_side(lines, "<generated>", oracle, **options):
        assert not pair.differences, (
            f"line {pair.line} ({pair.port['op']}) differs: {pair.differences}\n"
            "trace (replay with rmap-verify diff):\n" + "\n".join(lines[: pair.line])
        )


def _choose(data: st.DataObject) -> Any:
    return lambda n: data.draw(st.integers(0, n - 1))


@settings(max_examples=60)
@given(data=st.data())
def test_port_and_c_agree_on_caller_traces(oracle: InProcess, data: st.DataObject) -> None:
    _agree(oracle, random_trace(_choose(data), 25))


@settings(max_examples=25)
@given(data=st.data())
def test_port_and_c_agree_when_the_seed_is_called_raw(oracle: InProcess, data: st.DataObject) -> None:
    _agree(oracle, random_trace(_choose(data), 25, raw=True))


@pytest.mark.parametrize("after", [0, 1, 2])
def test_a_calls_kth_allocation_fails_alike(oracle: InProcess, after: int) -> None:
    # fail_alloc's after: the direct page's first (conversion) or second (push)
    # node fails, or neither; the seed writes through the NULL either way.
    world = {
        "op": "world",
        "pages": [{"pfn": 1}],
        "mms": [{"name": m, "vmas": [{"start": 0, "end": 0x10000}]} for m in ("A", "B", "C")],
        "ptes": [{"name": f"p{i}", "mm": m, "address": 0x1000} for i, m in enumerate("ABC")],
    }
    maps = [{"op": "map", "pte": f"p{i}", "pfn": 1} for i in range(3)]
    _agree(oracle, [world, maps[0], {"op": "fail_alloc", "n": 1, "after": after}, *maps[1:]])


def test_debug_rmap_builds_agree() -> None:
    debug = need_oracle(debug_rmap=True)
    for seed in range(8):
        rng = random.Random(seed)
        _agree(debug, random_trace(rng.randrange, 30, raw=True), debug_rmap=True)


@pytest.mark.parametrize("f", FINDINGS, ids=lambda f: f.id)
def test_every_finding_shows_on_the_c(oracle: InProcess, f: Finding) -> None:
    lines = f.trace.read_text().splitlines()
    pairs = list(side_by_side(lines, str(f.trace), oracle))
    assert [p.differences for p in pairs if p.differences] == []
    assert set(f.shows) <= set(shown(pairs[-1].c))


def test_a_counterexample_replays_on_the_c(oracle: InProcess) -> None:
    lines = FINDINGS[0].trace.read_text().splitlines()
    port = shown(list(replay(lines, "F1", "seed"))[-1])
    verdict = on_c([json.loads(line) for line in lines])
    assert verdict == {"shows": port, "same_as_port": True, "first_difference": None}
    assert set(FINDINGS[0].shows) <= set(port)


def test_a_counterexample_on_the_fixed_port_differs_from_the_c(oracle: InProcess) -> None:
    """The C is the seed as shipped whatever the variant: F1's trace on it
    beside the fixed port shows the first record where the fix matters."""
    lines = FINDINGS[0].trace.read_text().splitlines()
    verdict = on_c([json.loads(line) for line in lines], "fixed")
    assert verdict["same_as_port"] is False and verdict["first_difference"]["line"] == len(lines)
    assert set(FINDINGS[0].shows) <= set(verdict["shows"])


def test_without_the_oracle_a_counterexample_says_so_in_one_field(tmp_path: Path) -> None:
    trace = [json.loads(line) for line in FINDINGS[0].trace.read_text().splitlines()]
    verdict = on_c(trace, seed=str(tmp_path / "no-such-rmap.c"))
    assert list(verdict) == ["unavailable"] and "not a C file (no such file)" in verdict["unavailable"]


def test_every_committed_counterexample_replays_on_the_c(oracle: InProcess) -> None:
    verdict = counterexample_results()
    assert verdict["counterexamples"] > 0 and verdict["not_identical"] == []
    assert verdict["replay"] == verdict["identical"] == verdict["counterexamples"]


def test_a_second_replay_on_one_library_is_an_error_not_a_mixup(oracle: InProcess) -> None:
    lines = FINDINGS[1].trace.read_text().splitlines()
    first = side_by_side(lines, "first", oracle)
    next(first)
    list(side_by_side(lines, "second", oracle))  # resets the C's world
    with pytest.raises(OracleError, match="one replay at a time"):
        next(first)


def test_the_c_uses_the_models_constants(oracle: InProcess) -> None:
    (line,) = oracle.call("consts")
    assert [int(x) for x in line.split()[1:]] == [
        PG_locked,
        PG_referenced,
        PG_dirty,
        PG_reserved,
        PG_chainlock,
        PG_direct,
        PG_swapcache,
        VM_LOCKED,
        SWAP_MAP_MAX,
    ]


def test_a_fault_compares_by_kind_and_function() -> None:
    port = {"fault": {"kind": "Oops", "where": "page_add_rmap:94", "why": "NULL ->ptep"}, "spec_mismatch": []}
    port["spec_mismatch"] = [
        "impl stopped with Oops in page_add_rmap:94: NULL ->ptep where the spec takes a step"
    ]
    c = {
        "fault": {"kind": "Oops", "where": "page_add_rmap:rmap.c:121", "why": "SIGSEGV"},
        "spec_mismatch": [
            "impl stopped with Oops in page_add_rmap:rmap.c:121: SIGSEGV where the spec takes a step"
        ],
    }
    assert differences(port, c) == []
    assert normalise(c)["fault"] == {"kind": "Oops", "function": "page_add_rmap"}
    helper = {**port, "fault": {**port["fault"], "where": "_debug_check_args:120"}, "spec_mismatch": []}
    assert normalise(helper)["fault"]["function"] == "page_add_rmap"  # a port helper of page_add_rmap
    deadlock = {**c, "fault": {**c["fault"], "kind": "deadlock"}}
    assert differences(port, deadlock)[0].startswith("fault: port")


# ---------------------------------------------------------------- sanitizers


def _sanitized(f: Finding) -> Any:
    need_oracle()
    return sanitized_replay(f.trace.read_text().splitlines(), str(f.trace))


def test_leak_sanitizer_finds_the_pte_chain_f1_leaks() -> None:
    records, report = _sanitized(FINDINGS[0])
    assert records[-1]["pte_chain_objects"] == 1 and report.leaked_objects() == 1
    assert [frame.split(":")[0] for frame in report.leaks[0].stack[:2]] == [
        "kmem_cache_alloc shim.c",
        "page_add_rmap rmap.c",
    ]
    assert not report.errors and not report.undefined


def test_ubsan_sees_f3_write_through_null_and_the_rest_is_clean() -> None:
    records, report = _sanitized(FINDINGS[2])
    assert records[-1]["fault"]["kind"] == "Oops"
    assert report.undefined == ["rmap.c:120:19: member access within null pointer of type 'struct pte_chain'"]
    for f in (FINDINGS[1], FINDINGS[3], FINDINGS[4]):
        assert _sanitized(f)[1].clean(), f.id


# ---------------------------------------------------------------- the runner's counterexamples


def test_prove_replays_each_counterexample_on_the_c(
    oracle: InProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In the obligation's own process, beside the port: the JSON report's
    detail.replay.c and the console's "on the C" row."""
    registry = [selfcheck.obligation("finds_f1", "seed", finding="F1")]
    monkeypatch.setitem(sys.modules, "proofs.registry", types.SimpleNamespace(OBLIGATIONS=registry))
    monkeypatch.chdir(tmp_path)
    assert main(["prove", "--variant", "seed", "--jobs", "1", "--json", "r.json"]) == 1
    out = capsys.readouterr().out
    replay = json.loads(Path("r.json").read_text())["obligations"][0]["detail"]["replay"]
    assert replay["c"] == {"shows": replay["shows"], "same_as_port": True, "first_difference": None}
    assert f"on the C  shows {', '.join(replay['shows'])}; every record the port's" in out


def test_without_the_oracle_the_obligation_is_what_the_port_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_oracle(seed: str | None = None) -> InProcess:
        raise BuildError("no seed: give --c PATH or set RMAP_SEED")

    monkeypatch.setattr(run, "in_process", no_oracle)
    ob = selfcheck.obligation("finds_f1", "seed", finding="F1")
    outcome = cexreplay.checked(ob, ob.run(1.0), tmp_path)
    assert outcome.status == "counterexample"
    assert outcome.detail["replay"]["c"] == {"unavailable": "no seed: give --c PATH or set RMAP_SEED"}
