"""The locking argument: exhaustive interleavings of fault, zap and reclaim.

The obligations of proofs.interleave.obligations run here as `rmap-verify prove` runs
them; the deadlock witness is checked lock by lock; the state dedup is
checked against the whole tree of schedules; the counterexamples' and the
witness's schedules replay through `rmap-verify replay`, and a schedule
with a step that cannot happen is bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from impl.invariants import ALL_INVARIANTS
from impl.kernel import SpinLock
from impl.trace import TraceError, parse_trace
from proofs.interleave import obligations as concurrency
from proofs.interleave.explore import explore, interleaving, is_sequential
from proofs.interleave.locks import ConcurrentKernel
from proofs.interleave.obligations import (
    DEADLOCK_WORLD,
    OBLIGATIONS,
    WORLDS,
    deadlock_interleaving,
    deadlock_sequence_diagram,
    exploration,
)
from proofs.interleave.schedule import AGAIN_TRANSIENT
from proofs.interleave.world import make_world
from proofs.obligation import PROPERTIES, Obligation, Outcome
from proofs.tool.cexreplay import checked
from proofs.tool.cli import main
from proofs.tool.derived import with_findings

BUDGET = 60.0
LOCKING_MD = Path(__file__).resolve().parents[1] / "docs_src" / "locking.md"


def _obligation(prop: str, variant: str) -> Obligation:
    return next(ob for ob in OBLIGATIONS if ob.prop == prop and ob.variant == variant)


def test_obligations_are_well_formed() -> None:
    idents = [ob.ident for ob in OBLIGATIONS]
    assert len(idents) == len(set(idents))
    names = {inv.name for inv in ALL_INVARIANTS}
    for ob in OBLIGATIONS:
        assert ob.prop in PROPERTIES
        assert ob.runner.startswith("proofs.interleave.obligations:")
        assert set(ob.invariants) <= names
    props = {ob.prop for ob in OBLIGATIONS}
    assert {"deadlock freedom", "deadlock reachable", "again is transient"} <= props


def test_worlds_meet_the_acceptance_sizes() -> None:
    sizes = WORLDS[0].sizes()
    assert sizes["paths"] >= 3 and sizes["mms"] >= 2 and sizes["ptes"] >= 3
    assert {p.kind for p in WORLDS[0].paths} == {"fault", "zap", "reclaim"}


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_trylock_model_never_deadlocks(variant: str) -> None:
    outcome = _obligation("deadlock freedom", variant).run(BUDGET)
    assert outcome.status == "proved", outcome.detail
    explored = outcome.detail["explored"]
    assert all(e["complete"] and e["deadlock_states"] == 0 for e in explored)
    # Not vacuous: in every world a trylock failed while its holder waited
    # for the pte_chain_lock reclaim held (a deadlock the trylock averted).
    assert all(e["trylock_failures"] > 0 and e["averted_deadlocks"] > 0 for e in explored)


def test_trylock_model_keeps_the_invariant_on_fixed() -> None:
    outcome = _obligation("invariant preservation", "fixed").run(BUDGET)
    assert outcome.status == "proved", outcome.detail
    assert all(e["quiescent_states_checked"] > 1 and e["retries"] > 0 for e in outcome.detail["explored"])


def _seed_violation() -> Outcome:
    return _obligation("invariant preservation", "seed").run(BUDGET)


def test_seed_consistency_fails_only_as_F2_explains(tmp_path: Path) -> None:
    ob = _obligation("invariant preservation", "seed")
    outcome = ob.run(BUDGET)
    assert outcome.status == "counterexample"
    assert outcome.detail["interleaving"]  # the schedule replayed on impl/
    # The witness really interleaves two CPUs, and the report says that
    # reclaim alone shows the same violation (no interleaving is needed).
    assert outcome.detail["interleaved"]
    steps = [op for op in outcome.detail["trace"] if op["op"] == "step"]
    cpus = [op["cpu"] for op in steps]
    assert len(set(cpus)) >= 2 and not is_sequential(tuple(int(c.removeprefix("cpu")) for c in cpus))
    assert "reclaim page 1 alone" in outcome.detail["without_interleaving"]["count_nr_reverse_maps"]
    # The runner replays its schedule trace step by step on impl/ and sees the violation.
    replayed = checked(ob, outcome, tmp_path)
    assert replayed.status == "counterexample", replayed.detail.get("error")
    assert "count_nr_reverse_maps" in replayed.detail["replay"]["shows"]
    assert "unsupported" in replayed.detail["replay"]["c"]  # the C runs no schedule, and says so
    # Its trace is attributed by replay: F2's fix removes it, and with F2 fixed the obligation holds.
    derived = with_findings(ob, replayed, BUDGET, tmp_path)
    assert [row["findings"] for row in derived.detail["findings"]] == [["F2", "F7"]]
    assert derived.detail["explained"], derived.detail["last"]


def _write(tmp_path: Path, trace: list[dict[str, Any]]) -> Path:
    path = tmp_path / "schedule.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in trace), encoding="utf-8")
    return path


def _records(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_seed_interleaving_replays_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, _seed_violation().detail["trace"])
    assert main(["replay", str(path), "--variant", "seed", "--strict"]) == 1
    records = _records(capsys.readouterr().out)
    steps = [r for r in records if r["op"] == "step"]
    assert len({r["result"]["cpu"] for r in steps}) >= 2
    assert "count_nr_reverse_maps" in records[-1]["violations"]
    # Not on fixed: the same schedule runs there, step for step, and breaks nothing.
    assert main(["replay", str(path), "--variant", "fixed", "--strict"]) == 0
    records = _records(capsys.readouterr().out)
    assert [r["op"] for r in records].count("step") == len(steps)
    assert not records[-1]["violations"] and not records[-1]["fault"]


def test_deadlock_witness_replays_to_the_deadlock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = _obligation("deadlock reachable", "seed").run(BUDGET)
    path = _write(tmp_path, outcome.detail["trace"])
    assert main(["replay", str(path), "--variant", "seed", "--strict"]) == 1
    last = _records(capsys.readouterr().out)[-1]
    assert last["fault"]["kind"] == "deadlock"
    assert "try_to_unmap_one(p0)" in last["fault"]["where"] and "page_add_rmap(p2)" in last["fault"]["where"]
    # The runner files the witness with its replay too.
    replayed = checked(_obligation("deadlock reachable", "seed"), outcome, tmp_path)
    assert replayed.status == "proved" and replayed.detail["replay"]["shows"] == ["deadlock"]


def _reordered(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first two steps swapped: reclaim's pte_chain_lock before its pagemap_lru_lock."""
    first = next(n for n, op in enumerate(trace) if op["op"] == "step")
    out = list(trace)
    out[first], out[first + 1] = out[first + 1], out[first]
    return out


def _one_more_step(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The deadlock with one more step: the fault path taking the pte_chain_lock reclaim holds."""
    return [*trace, {"op": "step", "cpu": "cpu0"}]


@pytest.mark.parametrize(
    ("obligation", "change", "says"),
    [
        ("invariant preservation", _reordered, "its next step is spin_lock(pagemap_lru_lock) in reclaim"),
        ("deadlock reachable", _one_more_step, "page 1 pte_chain_lock is held by cpu2 (reclaim page 1)"),
    ],
)
def test_a_step_that_cannot_happen_is_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], obligation: str, change: Any, says: str
) -> None:
    trace = change(_obligation(obligation, "seed").run(BUDGET).detail["trace"])
    assert main(["replay", str(_write(tmp_path, trace)), "--variant", "seed"]) == 2
    out, err = capsys.readouterr()
    assert not out  # no record: the schedule is run whole before any prints
    assert len(err.splitlines()) == 1 and says in err, err


def test_the_c_oracle_says_it_runs_no_schedule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _seed_violation().detail["trace"])
    for command in (["replay", str(path), "--c"], ["diff", str(path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "cannot replay a concurrent schedule" in err, err


@pytest.mark.parametrize(
    ("ops", "says"),
    [
        ([{"op": "step", "cpu": "cpu0"}], "a step needs a paths operation before it"),
        ([{"op": "paths", "paths": [{"kind": "zap", "pte": "p0"}]}, {"op": "zap", "pte": "p0"}], "only step"),
        (
            [{"op": "paths", "paths": [{"kind": "zap", "pte": "p0"}]}, {"op": "step", "cpu": "cpu1"}],
            "cpu0..cpu0",
        ),
        ([{"op": "paths", "paths": [{"kind": "zap", "pfn": 1}]}], "a zap path has pte, nothing else"),
    ],
)
def test_schedules_are_checked_before_they_run(ops: list[dict[str, Any]], says: str) -> None:
    world = make_world(1, 1, 0, 1).desc
    lines = [json.dumps(op) for op in [{"op": "world", **world}, *ops]]
    with pytest.raises(TraceError, match=says):
        parse_trace(lines, "<test>")


def test_every_kind_of_interleaving_counterexample_replays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """zap forgetting its spin_unlock: a deadlock, a lock still held at the end and a
    SWAP_AGAIN that is not transient, each shown by its schedule replayed on impl/."""
    unlock = ConcurrentKernel.spin_unlock

    def leaky(self: ConcurrentKernel, lock: SpinLock) -> None:
        if sys._getframe(1).f_code.co_name != "zap_pte":
            unlock(self, lock)

    monkeypatch.setattr(ConcurrentKernel, "spin_unlock", leaky)
    monkeypatch.setattr(concurrency, "_cache", {})
    shows = {}
    for prop in ("deadlock freedom", "invariant preservation", "again is transient"):
        ob = _obligation(prop, "fixed")
        replayed = checked(ob, ob.run(BUDGET), tmp_path)
        assert replayed.status == "counterexample", replayed.detail.get("error")
        shows[prop] = replayed.detail["replay"]["shows"]
    assert shows == {
        "deadlock freedom": ["deadlock"],
        "invariant preservation": ["rep_locks_released"],
        "again is transient": [AGAIN_TRANSIENT],
    }


def test_sequential_schedules() -> None:
    assert is_sequential((2, 2, 0, 0, 1))
    assert not is_sequential((0, 2, 0))


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_blocking_lock_deadlock_is_reachable(variant: str) -> None:
    outcome = _obligation("deadlock reachable", variant).run(BUDGET)
    assert outcome.status == "proved", outcome.detail
    assert outcome.detail["interleaving"] and outcome.detail["waits"]


def test_deadlock_trace_is_the_lock_order_inversion() -> None:
    steps, waits = deadlock_interleaving()
    holds = steps[-1].holds
    fault = next(s.label() for s in DEADLOCK_WORLD.paths if s.kind == "fault")
    reclaim = next(s.label() for s in DEADLOCK_WORLD.paths if s.kind == "reclaim")
    assert "A.page_table_lock" in holds[fault]
    assert "page 1 pte_chain_lock" in holds[reclaim]
    by_path = {w.path: w for w in waits}
    assert by_path[reclaim].lock == "A.page_table_lock" and by_path[reclaim].holder == fault
    assert by_path[reclaim].acquire.where.startswith("try_to_unmap_one")
    assert by_path[fault].lock == "page 1 pte_chain_lock" and by_path[fault].holder == reclaim
    assert by_path[fault].acquire.where.startswith("page_add_rmap")
    # Every step is named: path, CPU, the acquisition and what it did.
    assert all(s.path and s.cpu and s.acquire.primitive and s.result for s in steps)


def test_seed_trylock_world_has_no_deadlock_but_blocking_does() -> None:
    trylock = exploration(DEADLOCK_WORLD, "seed", blocking=False, budget=BUDGET)
    blocking = exploration(DEADLOCK_WORLD, "seed", blocking=True, budget=BUDGET)
    assert trylock.complete and blocking.complete
    assert not trylock.deadlocks and blocking.deadlocks
    _, waits = interleaving(DEADLOCK_WORLD, "seed", blocking.deadlocks[0], blocking=True)
    assert waits


@pytest.mark.parametrize("variant", ["seed", "fixed"])
def test_swap_again_is_transient(variant: str) -> None:
    outcome = _obligation("again is transient", variant).run(BUDGET)
    assert outcome.status == "proved", outcome.detail
    assert any(e["retries"] > 0 for e in outcome.detail["explored"])


def test_dedup_loses_nothing() -> None:
    """Merging states by fingerprint reaches the same final states, the
    same violations and the same deadlock verdict as the whole tree."""
    world = WORLDS[0]
    for blocking in (False, True):
        merged = explore(world, "seed", blocking=blocking, budget=BUDGET)
        tree = explore(world, "seed", blocking=blocking, budget=BUDGET, dedup=False)
        assert merged.complete and tree.complete
        assert merged.states < tree.states
        assert merged.finals == tree.finals
        assert merged.violated == tree.violated
        assert bool(merged.deadlocks) == bool(tree.deadlocks)
        assert (merged.retries > 0) == (tree.retries > 0)


def test_budget_overrun_is_a_timeout_not_a_proof(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(concurrency, "_cache", {})
    outcome = _obligation("deadlock freedom", "fixed").run(0.0)
    assert outcome.status == "timeout"
    assert not explore(make_world(2, 3, 1, 1), "fixed", blocking=False, budget=0.0).complete


def test_docs_hold_the_current_deadlock_diagram() -> None:
    diagram = deadlock_sequence_diagram()
    assert diagram.startswith("sequenceDiagram\n")
    assert diagram in LOCKING_MD.read_text(encoding="utf-8")


def test_the_trylock_obligations_share_one_exploration_per_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare() explores the worlds once in the worker; the trylock
    obligations then read them without exploring again."""
    monkeypatch.setattr(concurrency, "_cache", {})
    trylock = [
        ob
        for ob in OBLIGATIONS
        if ob.variant == "fixed"
        and ob.runner.startswith("proofs.interleave.")
        and not ob.runner.endswith(":prove_deadlock_reachable")
    ]
    assert len(trylock) == 3
    trylock[0].prepare(60.0)
    assert len(concurrency._cache) == len(concurrency.WORLDS)

    def no_more(*args: Any, **kw: Any) -> Any:
        raise AssertionError("explored again")

    monkeypatch.setattr(concurrency, "explore", no_more)
    assert all(ob.run(60.0).status == "proved" for ob in trylock)
