"""Soundness of the verifier itself (issue 7, item 2).

- A vacuous proof (unsatisfiable hypotheses) fails, and no registered
  obligation is vacuous: tests/test_prove_suite.py runs every obligation
  once and requires each to be proved or a replaying counterexample.
- An unknown or timed-out answer fails the run with exit 1, and so does a
  solver that hangs past its timeout (it is killed, not waited for).
- Results repeat: a subset of the registry, run three times, answers the
  same statuses, failing conjuncts and counterexample traces.
- A counterexample that does not replay on impl/ fails the run.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import z3

from proofs.obligation import Obligation
from proofs.registry import OBLIGATIONS
from proofs.tool import selfcheck
from proofs.tool.cexreplay import NO_REPLAY
from proofs.tool.cli import EXIT_FAILED, EXIT_OK
from proofs.tool.result import Result, exit_code, summary_line
from proofs.tool.runner import prove

GUARD = 3.0  # wall-clock guard for the self-check runs (the hanging one waits this long)


def run(tmp_path: Path, *obligations: Obligation) -> tuple[int, list[Result], str]:
    """The exit code, each obligation's result and the summary line of a run over the obligations."""
    start = time.perf_counter()
    results = prove(obligations, timeout=1.0, jobs=2, cex_dir=tmp_path / "cex", limit=GUARD)
    return exit_code(results), results, summary_line(results, time.perf_counter() - start)


@pytest.mark.parametrize(
    "runner, status",
    [
        ("is_vacuous", "vacuous"),
        ("answers_unknown", "unknown"),
        ("answers_timeout", "timeout"),
        ("crashes", "error"),
        ("dies", "error"),
        ("answers_unpicklable", "error"),
    ],
)
def test_only_proved_passes(tmp_path: Path, runner: str, status: str) -> None:
    proves, other = selfcheck.obligation("proves"), selfcheck.obligation(runner)
    code, [proved, failed], summary = run(tmp_path, proves, other)
    assert (code, proved.outcome.status, failed.outcome.status) == (EXIT_FAILED, "proved", status)
    assert f"1 proved, 0 counterexample, {int(status == 'unknown')} unknown" in summary


def test_a_hung_solver_is_killed_and_reported_as_timeout(tmp_path: Path) -> None:
    start = time.perf_counter()
    code, [result], _ = run(tmp_path, selfcheck.obligation("hangs"))
    assert time.perf_counter() - start < 2 * GUARD  # killed at the guard, not waited for
    assert code == EXIT_FAILED and result.outcome.status == "timeout"
    assert "wall-clock guard of 3 s" in result.outcome.detail["error"]


@pytest.mark.parametrize(
    "obligation, why",
    [
        (selfcheck.obligation("finds_nothing"), "shows no violation, mismatch or fault on seed"),
        (selfcheck.obligation("finds_f1", "fixed"), "shows no violation, mismatch or fault on fixed"),
        (selfcheck.obligation("finds_without_trace"), "carries no trace"),
    ],
    ids=["shows nothing", "F1 on fixed", "no trace"],
)
def test_a_counterexample_that_does_not_replay_fails_the_run(
    tmp_path: Path, obligation: Obligation, why: str
) -> None:
    code, [result], _ = run(tmp_path, obligation)
    assert code == EXIT_FAILED and result.outcome.status == "error"
    assert result.outcome.detail["error"].startswith(NO_REPLAY) and why in result.outcome.detail["error"]


def test_a_replaying_counterexample_is_a_counterexample(tmp_path: Path) -> None:
    code, [result], _ = run(tmp_path, selfcheck.obligation("finds_f1", "seed"))
    assert code == EXIT_FAILED and result.outcome.status == "counterexample"
    assert result.outcome.detail["replay"]["replays"]


def test_all_proved_exits_0(tmp_path: Path) -> None:
    code, results, _ = run(tmp_path, *(selfcheck.obligation("proves", v) for v in ("seed", "fixed")))
    assert code == EXIT_OK and all(r.passed for r in results)


def _fast_subset() -> list[Obligation]:
    """Fast obligations of both variants: on seed they fail by F3 and F4, on fixed they are proved."""
    names = ("page_add_rmap refinement", "page_remove_rmap balanced counts")
    return [ob for ob in OBLIGATIONS if ob.name in names and ob.variant in ("seed", "fixed")]


def test_results_repeat_across_three_runs(tmp_path: Path) -> None:
    subset = _fast_subset()
    assert len(subset) == 4

    def answers() -> list[tuple[str, str | None, object]]:
        results = prove(subset, timeout=60.0, jobs=2, cex_dir=tmp_path)
        return [(r.outcome.status, r.conjunct, r.outcome.detail.get("trace")) for r in results]

    first = answers()
    assert answers() == first
    assert answers() == first


def test_a_goal_the_shared_solver_leaves_is_only_proved_when_true() -> None:
    """The quick tries after the shared solver (prover._settled_alone) answer
    a proof only for unsat: a false goal is never settled, a true one is, and
    check_incremental still names the failing conjunct of a false one."""
    from proofs.z3 import prover

    n = z3.Int("n")
    a = z3.Array("a", z3.IntSort(), z3.IntSort())
    k = z3.Int("k")
    hyps = [n > 0, z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n), a[k] > 0), patterns=[a[k]])]
    shifted = z3.Lambda([k], a[k + 1])
    true_goal = z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n - 1), shifted[k] > 0))
    false_goal = z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n + 1), a[k] > 0))
    vc = prover.VC("shift", hyps, [("true", true_goal), ("false", false_goal)], incremental=True)
    assert prover._settled_alone(vc, true_goal) >= 1
    assert prover._settled_alone(vc, false_goal) == 0
    verdict = prover.check_incremental(vc, 2.0)
    assert verdict.status == "counterexample" and verdict.conjuncts == ["false"]


def test_a_small_case_refutes_only_a_false_goal() -> None:
    """The look at a VC's small cases before the quick tries
    (prover._refuted_small) answers a model only where the negated goal
    holds with the hypotheses: the false goal is refuted in a pinned case,
    the true one in none of them, and a VC with no small case is not looked at."""
    from proofs.z3 import prover

    n = z3.Int("n")
    a = z3.Array("a", z3.IntSort(), z3.IntSort())
    k = z3.Int("k")
    hyps = [n > 0, z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n), a[k] > 0), patterns=[a[k]])]
    true_goal = z3.ForAll([k], z3.Implies(z3.And(k >= 1, k < n), a[k] > 0))
    false_goal = z3.ForAll([k], z3.Implies(z3.And(k >= 0, k <= n), a[k] > 0))
    cases = [[n == 1], [n == 2]]
    vc = prover.VC("small", hyps, [("true", true_goal), ("false", false_goal)], alternatives=cases)
    model, looked = prover._refuted_small(vc, false_goal)
    assert model is not None and looked == 1
    # the model breaks the false goal where it reaches past the hypotheses: at k == n
    assert z3.is_true(model.eval((a[n] <= 0).translate(model.ctx), model_completion=True))
    assert prover._refuted_small(vc, true_goal) == (None, 2)
    assert prover._refuted_small(prover.VC("none", hyps, []), false_goal) == (None, 0)


def test_a_goal_a_first_look_leaves_is_proved_by_the_full_procedure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A first look (prover.check_incremental with first_look) answers a
    goal it leaves unknown, never proved or a counterexample, where the
    full procedure proves it; and an obligation whose first look leaves
    goals is still proved (proofs.z3.run: when the bounded search finds no
    trace, the VC gets the full procedure).  No quick try, and a shared
    solver with no resources, so that the goals do reach that point."""
    from proofs.z3 import prover, run

    n = z3.Int("n")
    a = z3.Array("a", z3.IntSort(), z3.IntSort())
    k = z3.Int("k")
    hyps = [n > 0, z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n), a[k] > 0), patterns=[a[k]])]
    goal = z3.ForAll([k], z3.Implies(z3.And(k >= 0, k < n - 1), z3.Lambda([k], a[k + 1])[k] > 0))
    vc = prover.VC("shift", hyps, [("true", goal)], incremental=True)
    monkeypatch.setattr(prover, "FIRST_LOOK_TRIES", 0)
    with monkeypatch.context() as starved:
        starved.setattr(prover, "QUICK_RLIMIT", 1)
        assert prover.check_incremental(vc, 2.0, first_look=True).status == "unknown"
        assert prover.check_incremental(vc, 2.0).status == "proved"
    # seed+F4 has a goal its shared solver leaves (in most process histories);
    # the bounded search, which finds nothing there, is skipped
    monkeypatch.setattr(run, "counterexample", lambda *args: None)
    name = "page_remove_rmap balanced counts"
    seed = next(ob for ob in OBLIGATIONS if ob.name == name and ob.variant == "seed")
    assert run.prove(dataclasses.replace(seed, variant="seed+F4"), 30.0).status == "proved"


def test_an_array_field_is_refined_point_by_point() -> None:
    """α's array fields are stated as ∀x. got[x] == want[x]: the same truth
    as ``==`` of the arrays (extensionality), whose negation z3 reads at one
    point."""
    from proofs.z3.spec import _equal

    a, b = z3.Array("a", z3.IntSort(), z3.BoolSort()), z3.Array("b", z3.IntSort(), z3.BoolSort())
    x = z3.Int("x")
    lam = z3.Lambda([x], a[x])
    for got, want in ((a, b), (lam, b), (a, z3.Store(a, 1, True))):
        solver = z3.Solver()
        solver.add(z3.Not(_equal(got, want) == (got == want)))
        assert solver.check() == z3.unsat
    assert z3.eq(_equal(z3.Int("i"), z3.Int("j")), z3.Int("i") == z3.Int("j"))


def test_a_shared_vc_is_the_same_formula_in_every_obligation_of_its_entry() -> None:
    """What a worker proves once and reuses (prover.VC.shared) must be the
    very formula each obligation of the entry states: same hypotheses, same
    goals, whatever the property."""
    from impl.variants import variant_class
    from proofs.z3 import obligations as z3_obligations
    from proofs.z3.vcs import build

    for function in ("page_add_rmap", "try_to_unmap"):
        seen: dict[str, str] = {}
        for ob in z3_obligations(("fixed",)):
            if ob.function != function or ob.runner != "proofs.z3.run:prove":
                continue
            for vc in build(ob.function, ob.prop, variant_class("fixed")).vcs:
                if vc.shared:
                    text = "\n".join(t.sexpr() for t in [*vc.hyps, *vc.assume, *(g for _, g in vc.goals)])
                    assert seen.setdefault(vc.shared, text) == text, (function, ob.name, vc.name)
        assert any(key.startswith("check") for key in seen) or function == "page_add_rmap"


def test_only_what_an_earlier_obligation_proved_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    from proofs.z3 import obligations as z3_obligations
    from proofs.z3 import run as z3_run

    monkeypatch.setattr(z3_run, "PROVED", {})
    first, second = [
        ob
        for ob in z3_obligations(("fixed",))
        if ob.function == "try_to_unmap" and ob.runner == "proofs.z3.run:prove"
    ][:2]
    outcome = first.run(60.0)
    assert outcome.status == "proved" and not any("reused" in row for row in outcome.detail["vcs"])
    first.learn(outcome)
    shared = z3_run.PROVED[("try_to_unmap", "fixed")]
    assert shared == {row["shared"] for row in outcome.detail["vcs"] if "shared" in row} and shared
    again = second.run(60.0)
    assert again.status == "proved"
    assert {row["reused"] for row in again.detail["vcs"] if "reused" in row} == shared
