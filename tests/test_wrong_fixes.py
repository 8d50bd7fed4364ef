"""The z3 obligations see the code that runs: wrong fixes are refuted.

Each plausible wrong fix in impl/wrong_variants.py is a variant class, not
a z3 edit; the obligation named for it must fail on it with a counterexample
whose trace replays as a violation on that variant and shows nothing on
``fixed``.  A few quick ones run by default; all of them with
RMAP_WRONG_FIXES=1 (.ci/run sets it).
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from impl import wrong_variants as wrong
from proofs.attribution import shows
from proofs.obligation import Obligation
from proofs.z3 import obligations

# wrong variant -> the z3 obligation (of ``proofs.z3``) that must refute it
REFUTED_BY: dict[type, str] = {
    wrong.AgainAfterFail: "try_to_unmap return value",
    wrong.PrevPcAlwaysAdvances: "try_to_unmap invariant preservation",
    wrong.NoCollapse: "try_to_unmap invariant preservation",
    wrong.UnmapsDecrementTwice: "try_to_unmap_one balanced counts",
    wrong.DirtyNotMoved: "try_to_unmap_one refinement",
    wrong.SwapDuplicateSkipped: "try_to_unmap_one balanced counts",
    wrong.RssLoweredOnFail: "try_to_unmap_one balanced counts",
    wrong.YoungOnlyOnHead: "page_referenced refinement",
    wrong.KeepsRemovedEntry: "page_remove_rmap invariant preservation",
    wrong.LeaksFirstNode: "page_add_rmap balanced counts",
    wrong.KeepsLockOnNomem: "page_add_rmap invariant preservation",
    wrong.CountsOnNomem: "page_add_rmap balanced counts",
    wrong.VmStartExclusive: "try_to_unmap_one refinement",
    wrong.ForgetsReferencedFlag: "page_referenced refinement",
    wrong.StopsAtBusyLock: "try_to_unmap return value",
}
QUICK = ("CountsOnNomem", "RssLoweredOnFail", "VmStartExclusive")
ALL = bool(os.environ.get("RMAP_WRONG_FIXES"))
TIMEOUT = 60.0


def _cases() -> list[object]:
    out = []
    for cls, name in REFUTED_BY.items():
        marks = [] if ALL or cls.__name__ in QUICK else [pytest.mark.skip(reason="set RMAP_WRONG_FIXES=1")]
        out.append(pytest.param(cls, name, id=cls.__name__, marks=marks))
    return out


def _obligation(name: str, variant: str) -> Obligation:
    ob = next(o for o in obligations(("fixed",)) if o.name == name)
    return replace(ob, variant=variant)


# Red, but without a replaying trace yet: the VC's counterexample is real, and
# the bounded search does not reach it (the obligation answers unknown).
RED_WITHOUT_TRACE = (wrong.KeepsRemovedEntry,)


@pytest.mark.parametrize(("cls", "name"), _cases())
def test_a_wrong_fix_is_refuted_by_z3(cls: type, name: str) -> None:
    outcome = _obligation(name, cls.name).run(TIMEOUT)
    if cls in RED_WITHOUT_TRACE:
        assert outcome.status == "unknown", outcome.status
        return
    assert outcome.status == "counterexample", (outcome.status, outcome.detail.get("why"))
    trace = outcome.detail["trace"]
    assert shows(trace, cls.name), "the counterexample does not replay on the wrong fix"
    assert not shows(trace, "fixed"), "the counterexample is not the wrong fix's: fixed shows it too"


def test_every_wrong_fix_is_a_registered_variant() -> None:
    from impl.variants import variant_class

    assert len(REFUTED_BY) >= 10
    assert all(variant_class(cls.name) is cls for cls in REFUTED_BY)
