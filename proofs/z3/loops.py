"""The annotations the VC generator needs and cannot compute: loop invariants
and ghost postconditions, each named, in English and in z3, written once.

A ``LoopInvariant`` belongs to a loop by function name and position (the
k-th ``while`` in the function's source), so an override of try_to_unmap
with the same walk is proven with the same invariant, and a walk that
differs must keep it or fail; an invariant keyed ``Class.function`` belongs
to that one implementation's loop (the walk of Linux2532Rmap, which gives
up at the first SWAP_FAIL, knows more than the full walk's).  It speaks through a ``View``: the state and
locals at the loop's entry (``e``, ``eloc``), now (``h``, ``loc``) and its
ghost variables (``g``); ``step`` says how the ghosts move in one round,
in terms of the spec (which entry should stay), never of the code.

A ``GhostPost`` says how a function changes the ghost chain (proofs.z3.heap:
the positions of the reverse map's entries): the reference design's chain
after the call, as a function of the chain before, the loop ghosts and the
spec.  It is applied when the function returns; if the code built a
different chain, the representation invariant, which ties the ghosts to the
real chain, fails on it.  Both are specification: neither copies the code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import z3

from impl.kernel import PG_dirty, PG_swapcache
from proofs.z3.invariants import direct, flag, forall, recorded
from proofs.z3.spec import AGAIN, FAIL, SUCCESS, Sums, spec_outcome, swap_after
from proofs.z3.values import term

if TYPE_CHECKING:
    from proofs.z3.heap import Heap
    from proofs.z3.lift import Frame
    from proofs.z3.paths import Path

INT = z3.IntSort()
Goals = list[tuple[str, Any]]


@dataclass(frozen=True)
class View:
    """A loop's state as its invariant sees it."""

    entry: Path
    now: Path
    g: Mapping[str, Any]
    sums: Callable[[Heap], Sums]

    @property
    def e(self) -> Heap:
        return self.entry.heap

    @property
    def h(self) -> Heap:
        return self.now.heap

    def loc(self, name: str) -> Any:
        return term(self.now.locals[name])

    def eloc(self, name: str) -> Any:
        return term(self.entry.locals[name])


@dataclass(frozen=True)
class LoopInvariant:
    function: str
    loop: int
    name: str
    text: str
    ghosts: tuple[tuple[str, Any], ...]
    init: Callable[[View], dict[str, Any]]
    step: Callable[[View, View], dict[str, Any]]
    body: Callable[[View], Goals]

    # the executor's side (proofs.z3.lift.Executor.inductive)
    def initial(self, frame: Frame, entry: Path, sums: Any) -> dict[str, Any]:
        return self.init(View(entry, entry, {}, sums))

    def conjuncts(self, frame: Frame, entry: Path, now: Path, ghosts: Mapping[str, Any], sums: Any) -> Goals:
        return [(f"{self.name}: {name}", t) for name, t in self.body(View(entry, now, ghosts, sums))]

    def advance(
        self, frame: Frame, entry: Path, before: Path, after: Path, ghosts: Mapping[str, Any], sums: Any
    ) -> dict[str, Any]:
        return self.step(View(entry, before, ghosts, sums), View(entry, after, ghosts, sums))


def _in_range(v: View, i: Any) -> Any:
    return z3.And(i >= 0, i <= v.e["g.n"])


def _node_at(v: View, i: Any) -> Any:
    return z3.If(i < v.e["g.n"], v.e.select("g.nd", i), 0)


# ------------------------------------------------------------ page_referenced


def _referenced_body(v: View) -> Goals:
    i, p = v.g["i"], z3.Int("p")
    e, s = v.e, v.sums(v.e)
    return [
        ("position in range", _in_range(v, i)),
        ("pc is the node at i", v.loc("pc") == _node_at(v, i)),
        (
            "young bits cleared before i",
            v.h["pte.young"]
            == z3.Lambda(
                [p],
                z3.And(e.select("pte.young", p), z3.Not(z3.And(recorded(e, p), e.select("g.ppos", p) < i))),
            ),
        ),
        ("the count so far", v.loc("referenced") == v.eloc("referenced") + s.young(i)),
    ]


REFERENCED_WALK = LoopInvariant(
    "page_referenced",
    0,
    "page_referenced walk",
    "Before the entry at position i: pc is that entry's node, the young bits of the entries before "
    "it are cleared (no other pte changes), and referenced counts PG_referenced and the young ones "
    "among them.",
    (("i", INT),),
    lambda v: {"i": z3.IntVal(0)},
    lambda before, after: {"i": before.g["i"] + 1},
    _referenced_body,
)

# ------------------------------------------------------------ page_remove_rmap


def _remove_body(v: View) -> Goals:
    i = v.g["i"]
    t = v.loc("ptep")
    return [
        ("position in range", _in_range(v, i)),
        ("pc is the node at i", v.loc("pc") == _node_at(v, i)),
        ("prev_pc is the node before i", v.loc("prev_pc") == z3.If(i > 0, v.e.select("g.nd", i - 1), 0)),
        ("ptep is not before i", z3.Not(z3.And(recorded(v.e, t), v.e.select("g.ppos", t) < i))),
    ]


REMOVE_WALK = LoopInvariant(
    "page_remove_rmap",
    0,
    "page_remove_rmap walk",
    "Before the entry at position i: pc is its node, prev_pc the node before it (NULL at the head), "
    "and ptep is not among the entries before it; nothing has changed yet.",
    (("i", INT),),
    lambda v: {"i": z3.IntVal(0)},
    lambda before, after: {"i": before.g["i"] + 1},
    _remove_body,
)

# ------------------------------------------------------------ DEBUG_RMAP


def _not_mapped_body(v: View) -> Goals:
    i = v.g["i"]
    return [
        ("position in range", _in_range(v, i)),
        ("pc is the node at i", v.loc("pc") == _node_at(v, i)),
    ]


NOT_MAPPED_WALK = LoopInvariant(
    "_debug_check_not_mapped",
    0,
    "DEBUG_RMAP not-mapped walk",
    "Before the entry at position i: pc is its node (the walk only reads).",
    (("i", INT),),
    lambda v: {"i": z3.IntVal(0)},
    lambda before, after: {"i": before.g["i"] + 1},
    _not_mapped_body,
)

# ------------------------------------------------------------ try_to_unmap


def _unmap_body(v: View) -> Goals:
    """The chain so far is the kept nodes kn[0..m) (m = i - succ(i), in
    order) followed by the untouched tail nd[i..n); a kept entry at
    position j is at j - succ(j).  Kept or gone is the spec's outcome."""
    e, h, s = v.e, v.h, v.sums(v.e)
    i, kn = v.g["i"], v.g["kn"]
    m = i - s.succ(i)
    k, x, p, mm = z3.Int("k"), z3.Int("x"), z3.Int("p"), z3.Int("mm")
    npos0 = e["g.npos"]
    done = lambda j: z3.And(j >= 0, j < i)  # noqa: E731
    gone_at = lambda j: z3.And(done(j), s.out(j) == SUCCESS)  # noqa: E731
    kept_at = lambda j: z3.And(done(j), s.out(j) != SUCCESS)  # noqa: E731
    gone = lambda q: z3.And(recorded(e, q), e.select("g.ppos", q) < i, spec_outcome(e, q) == SUCCESS)  # noqa: E731
    pc, prev, ret = v.loc("pc"), v.loc("prev_pc"), v.loc("ret")
    swapped, entry = flag(e, PG_swapcache), e["page.index"]
    dirty_bit = z3.BitVecVal(1 << PG_dirty, 32)
    return [
        (
            "position in range",
            z3.And(_in_range(v, i), s.succ(i) >= 0, s.succ(i) <= i, s.again(i) >= 0, s.fail(i) >= 0),
        ),
        ("pc is the node at i", pc == _node_at(v, i)),
        ("prev_pc is the last kept node", prev == z3.If(m > 0, kn[m - 1], 0)),
        ("the head is the first kept node, or pc", h["page.word"] == z3.If(m > 0, kn[0], pc)),
        ("the page stays a chain", z3.Not(direct(h))),
        ("the last kept node links to pc", z3.Implies(m > 0, h.select("node.next", kn[m - 1]) == pc)),
        (
            "kept nodes are linked in order",
            forall(
                k, z3.Implies(z3.And(k >= 0, k + 1 < m), h.select("node.next", kn[k]) == kn[k + 1]), kn, k
            ),
        ),
        (
            "kn holds the kept nodes",
            forall(
                k,
                z3.Implies(
                    z3.And(k >= 0, k < m),
                    z3.And(kept_at(npos0[kn[k]]), npos0[kn[k]] - s.succ(npos0[kn[k]]) == k),
                ),
                kn,
                k,
            ),
        ),
        (
            "every kept node is in kn",
            forall(
                x,
                z3.Implies(
                    kept_at(npos0[x]),
                    z3.And(
                        kn[npos0[x] - s.succ(npos0[x])] == x,
                        npos0[x] - s.succ(npos0[x]) >= 0,
                        npos0[x] - s.succ(npos0[x]) < m,
                    ),
                ),
                npos0,
                x,
            ),
        ),
        (
            "the tail is untouched",
            forall(
                x, z3.Implies(npos0[x] >= i, h.select("node.next", x) == e.select("node.next", x)), npos0, x
            ),
        ),
        (
            "exactly the unmapped entries' nodes are freed",
            h["slab.live"] == z3.Lambda([x], z3.And(e.select("slab.live", x), z3.Not(gone_at(npos0[x])))),
        ),
        (
            "unmapped ptes are not present",
            h["pte.present"] == z3.Lambda([p], z3.And(z3.Not(gone(p)), e.select("pte.present", p))),
        ),
        ("unmapped ptes' pfns", h["pte.pfn"] == z3.Lambda([p], z3.If(gone(p), 0, e.select("pte.pfn", p)))),
        (
            "unmapped ptes are not young",
            h["pte.young"] == z3.Lambda([p], z3.And(z3.Not(gone(p)), e.select("pte.young", p))),
        ),
        (
            "unmapped ptes are not dirty",
            h["pte.dirty"] == z3.Lambda([p], z3.And(z3.Not(gone(p)), e.select("pte.dirty", p))),
        ),
        (
            "unmapped ptes hold the swap entry (or nothing)",
            h["pte.swap"]
            == z3.Lambda([p], z3.If(gone(p), z3.If(swapped, entry, -1), e.select("pte.swap", p))),
        ),
        (
            "rss lowered per unmapped pte",
            h["mm.rss"] == z3.Lambda([mm], e.select("mm.rss", mm) - s.succm(mm, i)),
        ),
        ("page count lowered per unmapped pte", h["page.count"] == e["page.count"] - s.succ(i)),
        (
            "swap count raised per unmapped pte",
            h["swap.count"]
            == z3.If(
                swapped,
                z3.Store(e["swap.count"], entry, swap_after(e.select("swap.count", entry), s.succ(i))),
                e["swap.count"],
            ),
        ),
        (
            "dirty bits moved to the page",
            h["page.flags"] == z3.If(s.dirt(i), e["page.flags"] | dirty_bit, e["page.flags"]),
        ),
        ("nr_reverse_maps lowered per unmapped entry", h["state.nr"] == e["state.nr"] - s.succ(i)),
        ("every page_table_lock released", h["mm.lock"] == e["mm.lock"]),
        ("ret is SWAP_SUCCESS while all unmapped", (ret == SUCCESS) == (s.succ(i) == i)),
        (
            "ret is SWAP_FAIL once an entry that stayed answered SWAP_FAIL",
            z3.Implies(s.fail(i) > 0, ret == FAIL),
        ),
        (
            "ret is SWAP_AGAIN when entries stayed, none for SWAP_FAIL",
            z3.Implies(z3.And(s.fail(i) == 0, s.succ(i) < i), ret == AGAIN),
        ),
    ]


def _unmap_step(before: View, after: View) -> dict[str, Any]:
    s = before.sums(before.e)
    i, kn = before.g["i"], before.g["kn"]
    kept = s.out(i) != SUCCESS
    return {"i": i + 1, "kn": z3.If(kept, z3.Store(kn, i - s.succ(i), before.loc("pc")), kn)}


UNMAP_WALK = LoopInvariant(
    "try_to_unmap",
    0,
    "try_to_unmap walk",
    "Before the entry at position i: the entries before it whose outcome (env_unmap_outcome) is "
    "SWAP_SUCCESS are unmapped (pte cleared or holding the swap entry, dirty bit moved to the page, "
    "one rss, one page reference and one nr_reverse_maps each, node freed); the others stay, linked "
    "in order and followed by the untouched rest of the chain, the last of them prev_pc; ret is "
    "SWAP_SUCCESS while nothing stayed, else SWAP_FAIL if one that stayed answered SWAP_FAIL, else "
    "SWAP_AGAIN.",
    (("i", INT), ("kn", z3.ArraySort(INT, INT))),
    lambda v: {"i": z3.IntVal(0), "kn": z3.K(INT, 0)},
    _unmap_step,
    _unmap_body,
)


def _give_up_body(v: View) -> Goals:
    return [
        *_unmap_body(v),
        ("no entry before i answered SWAP_FAIL (the walk gives up there)", v.sums(v.e).fail(v.g["i"]) == 0),
    ]


UNMAP_GIVE_UP_WALK = LoopInvariant(
    "Linux2532Rmap.try_to_unmap",
    0,
    "try_to_unmap walk that gives up",
    f"{UNMAP_WALK.text} And no entry before i answered SWAP_FAIL: the walk stops at the first.",
    UNMAP_WALK.ghosts,
    UNMAP_WALK.init,
    UNMAP_WALK.step,
    _give_up_body,
)

LOOPS: dict[tuple[str, int], LoopInvariant] = {
    (inv.function, inv.loop): inv
    for inv in (REFERENCED_WALK, REMOVE_WALK, NOT_MAPPED_WALK, UNMAP_WALK, UNMAP_GIVE_UP_WALK)
}
