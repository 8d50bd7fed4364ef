"""Ghost postconditions: the chain each rmap function leaves, in positions.

The ghost chain of proofs.z3.heap (``g.n`` entries; ``g.nd``, ``g.npos``
nodes by position and back; ``g.pe``, ``g.ppos`` ptes by position and back)
is not computed from the heap (a chain walk has no closed form in z3).
Each function that changes a chain says here, once, what chain the
reference design leaves: page_add_rmap puts the new entry at the head,
page_remove_rmap closes the gap, try_to_unmap keeps the entries that stay
in order; a chain of one entry is direct.  The representation invariant
then checks that the real chain after the call is that one; a variant that
builds another chain fails there (and its counterexample replays).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import z3

from proofs.z3.heap import Heap
from proofs.z3.invariants import direct
from proofs.z3.spec import SUCCESS, Sums
from proofs.z3.values import term

if TYPE_CHECKING:
    from proofs.z3.lift import Frame
    from proofs.z3.paths import Path

INT = z3.IntSort()
Chain = dict[str, Any]  # g.n, g.nd, g.npos, g.pe, g.ppos


@dataclass(frozen=True)
class GhostPost:
    function: str
    text: str
    chain: Callable[[Heap, Heap, Mapping[str, Any], Mapping[str, Any] | None, Sums], Chain]

    def apply(
        self, frame: Frame, path: Path, arguments: Mapping[str, Any], sums: Callable[[Heap], Sums]
    ) -> Path:
        loop = path.ghosts.get((frame.serial, 0))
        before = frame.entry.heap
        return path.but(heap=path.heap.update(self.chain(before, path.heap, arguments, loop, sums(before))))


def _shift_up(h: Heap, t: Any, w: Any) -> Chain:
    """The chain with pte t (on new node w) pushed at the head."""
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    nd, npos, pe, ppos = h["g.nd"], h["g.npos"], h["g.pe"], h["g.ppos"]
    return {
        "g.n": h["g.n"] + 1,
        "g.nd": z3.Lambda([k], z3.If(k == 0, w, nd[k - 1])),
        "g.npos": z3.Lambda([x], z3.If(x == w, 0, z3.If(npos[x] >= 0, npos[x] + 1, -1))),
        "g.pe": z3.Lambda([k], z3.If(k == 0, t, pe[k - 1])),
        "g.ppos": z3.Lambda([p], z3.If(p == t, 0, z3.If(ppos[p] >= 0, ppos[p] + 1, -1))),
    }


def _added(before: Heap, after: Heap, args: Mapping[str, Any], loop: Any, sums: Sums) -> Chain:
    """page_add_rmap: the new entry at position 0 when the word changed.
    A direct page becomes the chain [new node, its old pte's node]; a page
    without mappings becomes direct (no node)."""
    t, w = term(args["ptep"]), after["page.word"]
    added = before["page.word"] != w
    pushed = _shift_up(before, t, w)
    second = after.select("node.next", w)
    nd, npos = before["g.nd"], before["g.npos"]
    empty = before["page.word"] == 0
    pushed["g.nd"] = z3.If(
        direct(before), z3.Store(z3.Store(nd, 0, w), 1, second), z3.If(empty, nd, pushed["g.nd"])
    )
    pushed["g.npos"] = z3.If(
        direct(before), z3.Store(z3.Store(npos, w, 0), second, 1), z3.If(empty, npos, pushed["g.npos"])
    )
    return {f: z3.If(added, pushed[f], before[f]) for f in pushed}


def _removed(before: Heap, after: Heap, args: Mapping[str, Any], loop: Any, sums: Sums) -> Chain:
    """page_remove_rmap: the entry at the walk's position (position 0 for a
    direct page) goes when the call changed the chain (the word, or that
    entry's node freed); the ones after it move down; two entries collapse
    to a direct one."""
    t = term(args["ptep"])
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    h = before
    at = loop["i"] if loop is not None else z3.IntVal(0)
    n = h["g.n"]
    gap = h.select("g.nd", at)
    freed = z3.And(h.select("slab.live", gap), z3.Not(after.select("slab.live", gap)))
    hit = z3.Or(h["page.word"] != after["page.word"], freed)
    nd, npos, pe, ppos = h["g.nd"], h["g.npos"], h["g.pe"], h["g.ppos"]
    closed = {
        "g.n": n - 1,
        "g.nd": z3.Lambda([k], z3.If(k < at, nd[k], nd[k + 1])),
        "g.npos": z3.If(
            n <= 2,
            z3.K(INT, -1),
            z3.Lambda([x], z3.If(x == gap, -1, z3.If(npos[x] > at, npos[x] - 1, npos[x]))),
        ),
        "g.pe": z3.Lambda([k], z3.If(k < at, pe[k], pe[k + 1])),
        "g.ppos": z3.Lambda([p], z3.If(p == t, -1, z3.If(ppos[p] > at, ppos[p] - 1, ppos[p]))),
    }
    return {f: z3.If(hit, closed[f], h[f]) for f in closed}


def _unmapped(before: Heap, after: Heap, args: Mapping[str, Any], loop: Any, s: Sums) -> Chain:
    """try_to_unmap: of the entries the walk reached (all of them, or those
    before the one it stopped at), the ones that stay, in order, then the
    rest untried; one left is direct.  A direct page loses its one entry
    when it unmaps.  ``g.walked`` records where the walk stopped: the
    witness the spec's stopping point (proofs.z3.spec.walk_may_stop) is
    checked at."""
    h = before
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    if loop is None:  # the direct page: no walk
        gone = s.out(0) == SUCCESS
        empty = {"g.n": z3.IntVal(0), "g.ppos": z3.K(INT, -1)}
        return {
            **{f: z3.If(z3.And(direct(h), gone), v, h[f]) for f, v in empty.items()},
            "g.walked": h["g.n"],
        }
    i, kn = loop["i"], loop["kn"]
    m = i - s.succ(i)
    n = h["g.n"]
    left = m + n - i
    npos, ppos = h["g.npos"], h["g.ppos"]
    kept = lambda j: z3.And(j >= 0, j < i, s.out(j) != SUCCESS)  # noqa: E731
    moved = lambda j: z3.If(j < i, z3.If(kept(j), j - s.succ(j), -1), j - i + m)  # noqa: E731
    return {
        "g.walked": i,
        "g.n": left,
        "g.nd": z3.Lambda([k], z3.If(k < m, kn[k], h.select("g.nd", k - m + i))),
        "g.npos": z3.If(left <= 1, z3.K(INT, -1), z3.Lambda([x], z3.If(npos[x] < 0, -1, moved(npos[x])))),
        "g.pe": z3.Lambda([k], z3.If(k < m, h.select("node.ptep", kn[k]), h.select("g.pe", k - m + i))),
        "g.ppos": z3.Lambda([p], z3.If(ppos[p] < 0, -1, moved(ppos[p]))),
    }


POSTS: dict[str, GhostPost] = {
    post.function: post
    for post in (
        GhostPost(
            "page_add_rmap",
            "The new entry is at position 0 and every other moves up one; a direct page's pte is at 1.",
            _added,
        ),
        GhostPost(
            "page_remove_rmap",
            "The removed entry's position closes up: the entries after it move down one.",
            _removed,
        ),
        GhostPost(
            "try_to_unmap",
            "The entries that stay, in their order, then the ones the walk did not reach.",
            _unmapped,
        ),
    )
}
