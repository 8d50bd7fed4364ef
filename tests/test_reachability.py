"""Reachability and call-site preconditions (proofs.z3.reach): a dead branch
is reported as dead, a live one gets a witness whose replay takes it, and
what a caller guarantees its callees is proven or reported."""

from __future__ import annotations

import pytest

from impl import wrong_variants
from impl.kernel import BUG, Page, PageDirect
from impl.rmap_fixed import FixedRmap
from impl.rmap_seed import SeedRmap
from proofs.registry import OBLIGATIONS
from proofs.z3.branches import Arm, arms_of, observe
from proofs.z3.reach import CALL_SITES, CALLERS, REACH, call_sites, reachability

BUDGET = 30.0
DEAD = "test-dead-branch"


class DirectWithoutPte(FixedRmap):
    """A check the representation invariant makes impossible (rep_direct_flag:
    PG_direct exactly when the union holds a pte)."""

    name = DEAD

    def page_referenced(self, page: Page) -> int:
        if PageDirect(page) and not page.pte.direct:
            BUG("a direct page with no pte")
        return super().page_referenced(page)


@pytest.fixture
def dead_variant(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(wrong_variants.WRONG_VARIANTS, DEAD, DirectWithoutPte)
    return DEAD


def _arm(func: object, label: str, nth: int = 0) -> Arm:
    return [a for a in arms_of(func) if a.label == label][nth]  # type: ignore[arg-type]


def test_arms_of_reads_every_kind_of_branch_point() -> None:
    labels = {a.shown or a.label for a in arms_of(SeedRmap.try_to_unmap)}  # type: ignore[arg-type]
    assert {"then", "else", "loop body", "loop exit", "case kernel.SWAP_AGAIN", "no case matches"} <= labels
    early = [a for a in arms_of(SeedRmap.page_remove_rmap) if a.label == "return"]  # type: ignore[arg-type]
    assert early and all(a.shown == "early return" for a in early)


def test_an_arm_is_taken_by_the_line_that_follows_its_test() -> None:
    then = Arm("f.py", 10, "then", "f", (10, 10), 11)
    otherwise = Arm("f.py", 10, "else", "f", (10, 10), None, 11)
    assert then.taken_in([9, 10, 11]) and not otherwise.taken_in([9, 10, 11])
    assert otherwise.taken_in([9, 10, 13]) and otherwise.taken_in([9, 10])
    assert not then.taken_in([9, 10, 13])


def test_a_branch_the_invariant_excludes_is_reported_dead(dead_variant: str) -> None:
    status, detail = reachability("page_referenced", DirectWithoutPte, dead_variant, BUDGET)
    impossible = str(_arm(DirectWithoutPte.page_referenced, "then"))
    assert status == "proved", detail.get("why")
    assert impossible in [d["branch"] for d in detail["dead"]]
    assert "unsat" in next(d["why"] for d in detail["dead"] if d["branch"] == impossible)
    assert impossible not in detail["reached"]


def test_a_reachable_branch_has_a_witness_that_replays(dead_variant: str) -> None:
    _, detail = reachability("page_referenced", DirectWithoutPte, dead_variant, BUDGET)
    live = _arm(DirectWithoutPte.page_referenced, "else")
    witness = detail["witnesses"][detail["reached"][str(live)]]
    seen = observe(witness["trace"], dead_variant, frozenset({live.file, "impl/rmap_seed.py"}))
    assert seen is not None and seen.takes(live)
    assert not seen.takes(_arm(DirectWithoutPte.page_referenced, "then"))


def test_a_branch_inside_a_loop_is_witnessed_by_a_whole_run() -> None:
    status, detail = reachability("page_referenced", SeedRmap, "seed", BUDGET)
    assert status == "proved" and not detail["dead"], detail
    young = [a for a in arms_of(SeedRmap.page_referenced) if a.label == "then"][-1]  # type: ignore[arg-type]
    witness = detail["witnesses"][detail["reached"][str(young)]]
    assert witness["chain"] >= 2 and witness["trace"][0]["op"] == "world"
    seen = observe(witness["trace"], "seed", frozenset({"impl/rmap_seed.py"}))
    assert seen is not None and seen.takes(young)


def test_seed_dead_code_is_listed() -> None:
    status, detail = reachability("try_to_unmap", SeedRmap, "seed", BUDGET)
    dead = [d["branch"] for d in detail["dead"]]
    assert status == "proved", detail.get("why")
    assert any("case kernel.SWAP_ERROR" in d for d in dead)  # try_to_unmap_one never answers it
    assert any("_pageout_checks" in d for d in dead)  # its BUGs: the precondition excludes them


def test_call_sites_of_map_on_seed() -> None:
    status, detail = call_sites("map", SeedRmap, "seed", BUDGET)
    assert status == "proved", detail.get("why")
    assert [c["call"].split(" at ")[0] for c in detail["calls"]] == ["page_add_rmap"]
    nulls = [r for r in detail["helper answers"] if r["answer"].startswith("kmem_cache_alloc answers NULL")]
    assert nulls and all(r["status"] == "possible" for r in nulls)  # F3: the seed ignores it
    for r in nulls:
        assert r["answer"] in detail["witnesses"][r["witness"]]["covers"]


def test_the_obligations_are_registered_for_every_variant() -> None:
    idents = {ob.ident for ob in OBLIGATIONS if ob.prop in (REACH, CALL_SITES)}
    assert "try_to_unmap reachability [seed]" in idents
    assert all(f"{c} call-site preconditions [fixed]" in idents for c in CALLERS)


def test_a_pinned_world_counts_every_swap_holder() -> None:
    """The pinned worlds' swap slot counts at least the ptes holding an entry
    (search.world_pins): two ptes holding the entry beside a slot counting 1
    is no world (it does not validate), and z3 once gave exactly that model,
    so a witness never replayed and the reachability obligation answered
    unknown, depending on which model came first.  With two holders, every
    model decodes to a world that validates."""
    import z3

    from impl.world import as_world
    from proofs.z3.decode import decode
    from proofs.z3.pins import SWAP_ENTRY
    from proofs.z3.properties import ENTRIES
    from proofs.z3.reach import pinned_run

    run = pinned_run(ENTRIES["page_remove_rmap"], FixedRmap, 2)
    h, t = run.h, run.args.t
    two_holders = [t == 2, h.select("pte.swap", 2) == SWAP_ENTRY, h.select("pte.swap", 3) == SWAP_ENTRY]
    solver = z3.Solver()
    solver.add(*run.hyps, *two_holders, h.select("swap.count", SWAP_ENTRY) == 1)
    assert solver.check() == z3.unsat
    solver = z3.Solver()
    solver.add(*run.hyps, *two_holders)
    assert solver.check() == z3.sat
    world = decode(solver.model(), h, 2, "page_remove_rmap", run.args)["trace"][0]
    assert sum("swap" in pte for pte in world["ptes"]) == 2
    as_world(world)  # raises WorldError when the slot counts fewer than its holders
