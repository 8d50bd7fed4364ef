"""The locking argument: exhaustive interleavings of fault, zap and reclaim.

The obligations of proofs.interleave.obligations run here as `rmap-verify prove` runs
them; the deadlock witness is checked lock by lock; the state dedup is
checked against the whole tree of schedules.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from impl.invariants import ALL_INVARIANTS
from proofs.interleave import obligations as concurrency
from proofs.interleave.explore import explore, interleaving, is_sequential
from proofs.interleave.obligations import (
    DEADLOCK_WORLD,
    OBLIGATIONS,
    WORLDS,
    deadlock_interleaving,
    deadlock_sequence_diagram,
    exploration,
)
from proofs.interleave.world import make_world
from proofs.obligation import PROPERTIES, Obligation
from proofs.tool.cexreplay import checked
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


def test_seed_consistency_fails_only_as_F2_explains(tmp_path: Path) -> None:
    ob = _obligation("invariant preservation", "seed")
    outcome = ob.run(BUDGET)
    assert outcome.status == "counterexample"
    assert outcome.detail["interleaving"]  # the schedule replayed on impl/
    # The witness runs whole paths in turn, so the runner's replay of a
    # sequential trace on impl/ shows the same violation.
    replayed = checked(ob, outcome, tmp_path)
    assert replayed.status == "counterexample", replayed.detail.get("error")
    assert "count_nr_reverse_maps" in replayed.detail["replay"]["shows"]
    # Its trace is attributed by replay: F2's fix removes it, and with F2 fixed the obligation holds.
    derived = with_findings(ob, replayed, BUDGET, tmp_path)
    assert [row["findings"] for row in derived.detail["findings"]] == [["F2", "F7"]]
    assert derived.detail["explained"], derived.detail["last"]


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
