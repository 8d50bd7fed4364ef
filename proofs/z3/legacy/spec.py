"""α and the spec's operations (spec/ops.py) in z3, on one page.

``abstract(s)`` is α of a state restricted to its page: the reverse map as
a predicate on ptes (``ppos[p] >= 0``, which the representation invariant
ties to the chain), what every pte holds, rss, swap counts, the page's
fields and nr_reverse_maps.  Each ``spec_*`` returns the abstract state
spec/ops.py allows, in the same form, so that refinement is a field by
field comparison (``alpha_goals``) whose failing field names the conjunct.
Cardinalities ("one rss per unmapped pte of the mm") are sums along the
chain, an enumeration of the reverse map without repeats (the invariant's
inverse map ``ppos`` makes it a bijection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3

from impl.kernel import ENOMEM, SWAP_MAP_MAX
from proofs.z3.legacy.state import SWAP, State, normal

Abstract = dict[str, Any]


def abstract(s: State) -> Abstract:
    return {
        "rmap": lambda p: s.ppos[p] >= 0,
        "pte kinds": s.pk,
        "pte targets": s.pt,
        "pte young": s.py,
        "pte dirty": s.pd,
        "rss": s.rss,
        "swap": s.swap,
        "page count": s.count,
        "page referenced": s.referenced,
        "page dirty": s.dirty,
        "page swap entry": z3.If(s.swapcache, s.index, -1),
        "page normal": normal(s),
        "nr_reverse_maps": s.nr,
    }


def alpha_goals(s: State, want: Abstract) -> list[tuple[str, Any]]:
    """α(s) equals ``want``, one named conjunct per abstract field."""
    got = abstract(s)
    goals = []
    p = z3.Int("p")
    for key, value in want.items():
        if callable(value):
            mine: Callable[[Any], Any] = got[key]
            goals.append((f"refines: {key}", z3.ForAll([p], mine(p) == value(p))))
        else:
            goals.append((f"refines: {key}", got[key] == value))
    return goals


def spec_rmap_add(s: State, t: Any) -> tuple[Any, Abstract]:
    """spec.ops.rmap_add with alloc_fails = the next allocation fails."""
    a = abstract(s)
    nomem = z3.And(normal(s), s.fail_next > 0, s.n > 0)
    ok = z3.And(normal(s), z3.Not(nomem))
    rmap = a["rmap"]
    a["rmap"] = lambda p: z3.Or(rmap(p), z3.And(ok, p == t))
    a["nr_reverse_maps"] = s.nr + z3.If(ok, 1, 0)
    return z3.If(nomem, -ENOMEM, 0), a


def spec_rmap_remove(s: State, t: Any) -> Abstract:
    a = abstract(s)
    hit = z3.And(normal(s), s.ppos[t] >= 0)
    a["rmap"] = lambda p: z3.And(s.ppos[p] >= 0, p != t)
    a["nr_reverse_maps"] = s.nr - z3.If(hit, 1, 0)
    return a


def swap_after(count: Any, added: Any) -> Any:
    """_swap_add applied ``added`` times: a saturated slot keeps its count."""
    return z3.If(
        count >= SWAP_MAP_MAX, count, z3.If(count + added >= SWAP_MAP_MAX, SWAP_MAP_MAX, count + added)
    )


def spec_unmap(
    s: State,
    gone: Callable[[Any], Any],
    removed: Any,
    removed_of: Callable[[Any], Any],
    dirtied: Any,
) -> Abstract:
    """spec.ops.unmap: the mappings ``gone(p)`` (SWAP_SUCCESS) go.

    ``removed`` is how many go, ``removed_of(mm)`` how many of mm's go, and
    ``dirtied`` whether any of them was dirty (or the page already was):
    sums along the chain, given by the caller.
    """
    a = abstract(s)
    p, m = z3.Int("p"), z3.Int("m")
    swapped = z3.And(s.swapcache)
    a["rmap"] = lambda q: z3.And(s.ppos[q] >= 0, z3.Not(gone(q)))
    a["pte kinds"] = z3.Lambda([p], z3.If(gone(p), z3.If(swapped, SWAP, 0), s.pk[p]))
    a["pte targets"] = z3.Lambda([p], z3.If(gone(p), z3.If(swapped, s.index, 0), s.pt[p]))
    a["pte young"] = z3.Lambda([p], z3.And(z3.Not(gone(p)), s.py[p]))
    a["pte dirty"] = z3.Lambda([p], z3.And(z3.Not(gone(p)), s.pd[p]))
    a["rss"] = z3.Lambda([m], s.rss[m] - removed_of(m))
    a["swap"] = z3.If(swapped, z3.Store(s.swap, s.index, swap_after(s.swap[s.index], removed)), s.swap)
    a["page count"] = s.count - removed
    a["page dirty"] = dirtied
    a["nr_reverse_maps"] = s.nr - removed
    return a


def spec_referenced(s: State, young_count: Any) -> tuple[Any, Abstract]:
    """spec.ops.referenced: ``young_count`` young mappings, counted along the chain."""
    a = abstract(s)
    p = z3.Int("p")
    a["pte young"] = z3.Lambda([p], z3.And(s.ppos[p] < 0, s.py[p]))
    a["page referenced"] = z3.BoolVal(False)
    return z3.If(s.referenced, 1, 0) + young_count, a
