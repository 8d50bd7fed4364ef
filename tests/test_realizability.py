"""Realizability (proofs.realizability) can fail, and holds where it should.

A variant whose try_to_unmap never answers SWAP_AGAIN (impl.wrong_variants'
``wrong-busy-lock-gives-up``) can never take the spec's step "keep the page
inactive and retry": its obligation fails, naming that step, with a trace
that replays on impl/.  ``fixed`` realizes every step or one of each choice
the spec leaves to the implementation; 2.5.32, whose walk stops at the first
SWAP_FAIL, realizes every step exactly, each stopping point on some chain order.
"""

from __future__ import annotations

from pathlib import Path

from proofs.obligation import Obligation
from proofs.realizability import obligations
from proofs.tool.cexreplay import checked


def _unmap(variant: str) -> Obligation:
    return next(ob for ob in obligations((variant,)) if ob.function == "try_to_unmap")


def test_a_variant_that_never_answers_again_fails(tmp_path: Path) -> None:
    ob = _unmap("wrong-busy-lock-gives-up")
    outcome = checked(ob, ob.run(timeout=30.0), tmp_path)
    assert outcome.status == "counterexample", outcome.detail
    assert "SWAP_AGAIN" in outcome.detail["conjunct"]
    assert "SWAP_AGAIN" in outcome.detail["environment"]
    assert any("SWAP_FAIL" in did for did in outcome.detail["impl did"])
    assert outcome.detail["replay"]["replays"]


def test_fixed_realizes_every_step_it_must() -> None:
    outcome = _unmap("fixed").run(timeout=60.0)
    assert outcome.passed, outcome.detail
    assert outcome.detail["spec outcomes no environment induces"] == ["SWAP_ERROR"]


def test_2532_takes_every_stopping_point_on_some_chain_order() -> None:
    outcome = _unmap("2.5.32").run(timeout=60.0)
    assert outcome.passed, outcome.detail
    exact, _, total = outcome.detail["steps realized exactly"].partition(" (")[0].partition(" of ")
    assert exact == total
