"""The pte-change rules of cachetlb.txt (impl/flush_rules.py) on the event log.

The rules are checked on hand-made logs (each catches what it states, and
only that), with z3 terms for the mm and address (the same functions, the
connectives passed in), and on every function of seed, fixed and 2.5.32
and every caller path, on concrete runs: only the seed's try_to_unmap_one
breaks one (finding F7), and the callers keep all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest
import z3
from conftest import PFN, make_world

from impl.flush_rules import FLUSH_RULES, flush_violations
from impl.kernel import Event
from impl.trace import Session
from proofs.exhaustive import OUTCOMES, case_trace

LOCK, UNLOCK = Event("lock", "A"), Event("unlock", "A")
CACHE, TLB = Event("flush_cache_page", "A", 0x1000), Event("flush_tlb_page", "A", 0x1000)
CLEAR = Event("ptep_get_and_clear", "A", 0x1000, True)
SWAP_IN = Event("set_pte", "A", 0x1000, False)  # the swap entry stored in the cleared pte


def _broken(events: list[Event]) -> set[str]:
    return set(flush_violations(events))


def test_the_kernel_order_keeps_every_rule() -> None:
    assert _broken([LOCK, CACHE, CLEAR, TLB, SWAP_IN, UNLOCK]) == set()
    assert _broken([LOCK, Event("set_pte", "A", 0x1000, False), UNLOCK]) == set()  # a fault: no flush


def test_each_rule_catches_its_own_violation() -> None:
    assert _broken([LOCK, CLEAR, TLB, CACHE, UNLOCK]) == {"flush_cache_before_pte_change"}  # the seed
    assert _broken([LOCK, CACHE, CLEAR, UNLOCK, LOCK, TLB, UNLOCK]) == {"flush_tlb_after_pte_change"}
    assert _broken([CACHE, CLEAR, TLB]) == {"pte_change_under_lock"}
    assert _broken([LOCK, CACHE, UNLOCK, LOCK, CLEAR, TLB, UNLOCK]) == {"flush_cache_before_pte_change"}
    other = Event("flush_cache_page", "A", 0x2000)
    assert _broken([LOCK, other, CLEAR, TLB, UNLOCK]) == {"flush_cache_before_pte_change"}
    assert _broken([Event("lock", "B"), CACHE, CLEAR, TLB]) == {"pte_change_under_lock"}


def test_messages_name_the_event() -> None:
    (msg,) = flush_violations([LOCK, CLEAR, TLB, CACHE, UNLOCK])["flush_cache_before_pte_change"]
    assert msg.startswith("event 1: ptep_get_and_clear of A @ 0x1000")
    assert all(rule.text and rule.relies for rule in FLUSH_RULES)


def _or(xs: Iterable[Any]) -> Any:
    return z3.Or(list(xs)) if list(xs) else z3.BoolVal(False)


def _and(xs: Iterable[Any]) -> Any:
    return z3.And(list(xs)) if list(xs) else z3.BoolVal(True)


def _violable(events: list[Event]) -> dict[str, bool]:
    """Whether some choice of the symbolic mm/address/present breaks each rule."""
    out = {}
    for rule in FLUSH_RULES:
        verdicts = rule.rule(events, eq=lambda a, b: a == b, any_=_or, all_=_and, not_=z3.Not)
        solver = z3.Solver()
        solver.add(_or([bad for _, bad in verdicts]))
        out[rule.name] = solver.check() == z3.sat
    return out


def test_the_same_rules_on_symbolic_addresses() -> None:
    """The rules read mm and address only through ``eq``: with z3 terms the
    kernel's order is proved for every address, the seed's refuted."""
    mm, addr, present = z3.Int("mm"), z3.Int("addr"), z3.Bool("present")
    lock, unlock = Event("lock", mm), Event("unlock", mm)  # type: ignore[arg-type]
    cache = Event("flush_cache_page", mm, addr)  # type: ignore[arg-type]
    tlb = Event("flush_tlb_page", mm, addr)  # type: ignore[arg-type]
    clear = Event("ptep_get_and_clear", mm, addr, present)  # type: ignore[arg-type]
    assert not any(_violable([lock, cache, clear, tlb, unlock]).values())
    assert _violable([lock, clear, tlb, cache, unlock]) == {
        "pte_change_under_lock": False,
        "flush_cache_before_pte_change": True,
        "flush_tlb_after_pte_change": False,
    }


# ------------------------------------------------------------ every function, every path

VARIANTS = ("seed", "fixed", "2.5.32")


def _run(variant: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    session = Session(variant)
    return [session.apply(op) for op in ops]


def _flush_broken(record: dict[str, Any]) -> set[str]:
    return {name for name in record["violations"] if name in {r.name for r in FLUSH_RULES}}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("swapcache", [False, True])
def test_try_to_unmap_every_outcome_mix(variant: str, swapcache: bool) -> None:
    for outcomes in (c for n in range(1, 4) for c in itertools.product(OUTCOMES, repeat=n)):
        ops = case_trace(outcomes)
        if swapcache:
            ops[0] = {**ops[0], "swap": {"7": 1}}
            ops.insert(-2, {"op": "set_page", "pfn": 1, "swapcache": True, "index": 7})
        last = _run(variant, ops)[-1]
        unmaps = "unmapped" in outcomes and (variant != "2.5.32" or _before_any_fail(outcomes))
        want = {"flush_cache_before_pte_change"} if variant == "seed" and unmaps else set()
        assert _flush_broken(last) == want, (outcomes, last["violations"])


def _before_any_fail(outcomes: tuple[str, ...]) -> bool:
    """2.5.32 walks the chain (last mapped first) and stops at a SWAP_FAIL."""
    for o in reversed(outcomes):
        if o == "unmapped":
            return True
        if o in ("no vma", "VM_LOCKED"):
            return False
    return False


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_other_function_and_caller_path_keeps_the_rules(variant: str) -> None:
    w = make_world(variant, 2, n_ptes=3, swap={"5": 1})
    for op in (
        {"op": "reclaim", "pfn": PFN},  # referenced: activate, no unmap
        {"op": "referenced", "pfn": PFN},  # ptep_test_and_clear_young: exempt, not logged
        {"op": "page_remove_rmap", "pfn": PFN, "pte": "p2"},
        {"op": "zap", "pte": "p0"},  # a present pte
        {"op": "fail_alloc", "n": 2},
        {"op": "map", "pte": "p0", "pfn": PFN},  # fixed: -ENOMEM, the fault backs out
        {"op": "map", "pte": "p2", "pfn": PFN},
    ):
        record = w.apply(**op)
        assert _flush_broken(record) == set(), (op, record["violations"])
    w.k.ptes["p2"].val = type(w.k.ptes["p2"].val)(swap=5)  # a swap pte, as unmapping leaves one
    assert _flush_broken(w.apply(op="zap", pte="p2")) == set()
    kinds = [e.kind for e in w.k.events]
    assert "ptep_get_and_clear" in kinds
    # The seed oopses in page_add_rmap with the page_table_lock held (F3).
    assert (kinds.count("lock") == kinds.count("unlock")) == (variant != "seed")


def test_the_callers_flush_around_their_pte_changes() -> None:
    w = make_world("fixed", 1)
    w.apply(op="zap", pte="p0")
    assert [e.kind for e in w.k.events[-5:]] == [
        "lock",
        "flush_cache_page",
        "ptep_get_and_clear",
        "flush_tlb_page",
        "unlock",
    ]
    w.apply(op="vmas", mm="A", vmas=[])  # no vma holds p0 now: the flushes still name it
    w.apply(op="map", pte="p0", pfn=PFN)
    record = w.apply(op="zap", pte="p0")
    assert record["flushes"] == [["flush_cache_page", "A", 0x1000], ["flush_tlb_page", "A", 0x1000]]
    assert _flush_broken(record) == set()
