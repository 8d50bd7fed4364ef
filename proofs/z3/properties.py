"""What each obligation states: the entry points and their properties.

An ``Entry`` is a seed function or caller path as an obligation calls it:
its arguments, its precondition (the part of the representation invariant
it is given, and what its callers guarantee), the invariant it must leave,
and the spec operation it refines (proofs.z3.spec).  The properties are the
same for every entry:

- invariant preservation: no path faults; every path ends in the invariant;
- impl refines spec: every path's answer is one the spec allows and α of
  its end state is the spec's;
- spec refines impl: wherever the precondition holds, no path faults;
- balanced counts: on the paths that do not fault, each counter (rss, the
  page's count, the swap count, nr_reverse_maps) is the spec's and the
  live pte_chain objects are exactly the chains' nodes;
- return value: what the caller branches on means what it should.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import z3

import impl.callers as callers
from impl.flush_rules import FLUSH_RULES
from impl.kernel import Event, Page, PG_locked, PG_swapcache
from proofs.z3 import invariants as inv
from proofs.z3.heap import Heap, intern
from proofs.z3.invariants import flag, maps_page, normal, recorded
from proofs.z3.paths import Unsupported
from proofs.z3.spec import (
    SUCCESS,
    Abstract,
    Sums,
    abstract,
    after_referenced,
    alpha_goals,
    disposition_of,
    spec_map,
    spec_outcome,
    spec_referenced,
    spec_rmap_add,
    spec_rmap_remove,
    spec_unmap,
    spec_zap,
    swap_after,
    unmap_answers,
    walk_may_stop,
)
from proofs.z3.values import Opt, Ptr, Record, Ref, conj, disj, term

PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN, FLUSH = (
    "invariant preservation",
    "impl refines spec",
    "spec refines impl",
    "balanced counts",
    "return value",
    "flush order",
)
Goals = list[tuple[str, Any]]
COUNTERS = (("rss", "count_rss"), ("swap", "count_swap"), ("page count", "count_page_refs"))


@dataclass(frozen=True)
class Args:
    """The symbolic arguments of an entry: ``t`` the pte (when it takes one)."""

    t: Any = None
    dirty: Any = None


@dataclass(frozen=True)
class Entry:
    name: str
    method: str | None  # a method of the variant, or None: a caller path (``caller``)
    caller: Callable[..., Any] | None
    args: Callable[[type, Args], tuple[Any, ...]]
    pre: Callable[[Heap, Args], Goals]
    post: Callable[[Heap, Heap, Args, Any], Goals]  # the invariant it leaves
    # (answer allowed, state) from the state before and where try_to_unmap's walk stopped
    spec: Callable[[Heap, Args, Sums, Any], tuple[Callable[[Any], Any], Abstract]]
    properties: tuple[str, ...] = (PRESERVE, REFINE, SPEC_REFINES, COUNTS)
    returns: Callable[[Heap, Heap, Any, Sums, Any], Goals] | None = None
    takes_pte: bool = True


def _t(args: Args) -> Any:
    return args.t


def _plain_answer(want: Any) -> Callable[[Any], Any]:
    return lambda value: term(0 if value is None else value) == want


# ------------------------------------------------------------ the entries


def _add_pre(h: Heap, a: Args) -> Goals:
    t = a.t
    return [
        ("ptep is a pte", t > 0),
        ("ptep maps the page", maps_page(h, t)),
        ("ptep is not recorded yet", h.select("g.ppos", t) == -1),
        *inv.structure(h),
        *inv.locks(h),
        *inv.sound(h),
        *inv.complete(h, but=t),
        *inv.nr_count(h),
    ]


def _add_post(h0: Heap, h: Heap, a: Args, value: Any) -> Goals:
    added = z3.And(normal(h0), term(0 if value is None else value) == 0)
    return [
        *inv.structure(h),
        *inv.locks(h),
        *inv.sound(h),
        *inv.complete(h, but=a.t),
        ("spec_rmap_complete", z3.Implies(added, recorded(h, a.t))),
        *inv.nr_count(h),
    ]


def _add_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    want, state = spec_rmap_add(h, a.t)
    return _plain_answer(want), state


def _remove_pre(h: Heap, a: Args) -> Goals:
    t = a.t
    return [
        ("ptep is a pte", t > 0),
        ("ptep no longer maps the page (zap cleared it first)", z3.Not(maps_page(h, t))),
        *inv.structure(h),
        *inv.locks(h),
        *inv.sound(h, but=t),
        *inv.complete(h),
        *inv.nr_count(h),
    ]


def _remove_post(h0: Heap, h: Heap, a: Args, value: Any) -> Goals:
    return [*inv.structure(h), *inv.locks(h), *inv.sound(h), *inv.complete(h), *inv.nr_count(h)]


def _unmap_pre(h: Heap, a: Args) -> Goals:
    return [
        *inv.full(h),
        ("the page is reverse-mapped", normal(h)),
        (
            "its swap-cache entry is in use",
            z3.Implies(flag(h, PG_swapcache), h.select("swap.count", h["page.index"]) > 0),
        ),
        ("the caller holds the page lock", flag(h, PG_locked)),
        ("the page has backing store", h["page.mapping"] != 0),
    ]


def _unmap_one_pre(h: Heap, a: Args) -> Goals:
    # Its one caller, try_to_unmap, holds the page lock of a page with backing store.
    return [*_unmap_pre(h, a), ("ptep is recorded", recorded(h, a.t))]


def _unmap_one_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    """spec.ops.unmap of the one mapping ptep, the entry left for try_to_unmap
    to unlink, but uncounted (where the mapping ends)."""
    t = a.t
    outcome = spec_outcome(h, t)
    gone = outcome == SUCCESS
    want = abstract(h)
    mm, entry = h.select("pte.mm", t), h["page.index"]
    swapped = flag(h, PG_swapcache)
    want["pte kinds"] = z3.If(gone, z3.Store(want["pte kinds"], t, z3.If(swapped, 2, 0)), want["pte kinds"])
    want["pte targets"] = z3.If(
        gone, z3.Store(want["pte targets"], t, z3.If(swapped, entry, 0)), want["pte targets"]
    )
    for key in ("pte young", "pte dirty"):
        want[key] = z3.If(gone, z3.Store(want[key], t, False), want[key])
    want["rss"] = z3.If(gone, z3.Store(h["mm.rss"], mm, h.select("mm.rss", mm) - 1), h["mm.rss"])
    want["page count"] = h["page.count"] - z3.If(gone, 1, 0)
    raised = swap_after(h.select("swap.count", entry), 1)
    want["swap"] = z3.If(z3.And(gone, swapped), z3.Store(h["swap.count"], entry, raised), h["swap.count"])
    want["page dirty"] = z3.Or(want["page dirty"], z3.And(gone, h.select("pte.dirty", t)))
    want["nr_reverse_maps"] = h["state.nr"] - z3.If(gone, 1, 0)
    return (lambda value: term(value) == outcome), want


def _unmap_one_post(h0: Heap, h: Heap, a: Args, value: Any) -> Goals:
    gone = z3.If(term(value) == SUCCESS, 1, 0)
    return [
        *inv.structure(h),
        *inv.locks(h),
        *inv.sound(h, but=a.t),
        *inv.complete(h),
        ("count_page_refs", z3.Implies(normal(h), h["page.count"] == h["g.base"] + h["g.n"] - gone)),
        ("count_nr_reverse_maps", h["state.nr"] == h["g.nr_other"] + h["g.n"] - gone),
    ]


def _full_post(h0: Heap, h: Heap, a: Args, value: Any) -> Goals:
    return inv.full(h)


def _unmap_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    def allowed(value: Any) -> Any:
        return z3.And(walk_may_stop(h, s, walked), unmap_answers(h, s, term(value), walked))

    return allowed, spec_unmap(h, s, walked)


def _unmapped(h: Heap) -> Any:
    """The reverse map is empty: with the coupling invariant (which
    invariant preservation proves of the same state), no pte maps the page."""
    return h["g.n"] == 0


def _unmap_returns(h0: Heap, h: Heap, value: Any, s: Sums, walked: Any) -> Goals:
    r = term(value)
    return [
        ("SWAP_SUCCESS exactly when no pte maps the page", (r == SUCCESS) == _unmapped(h)),
        ("the walk stops only at a mapping that can never be unmapped", walk_may_stop(h0, s, walked)),
        (
            "otherwise SWAP_FAIL if a mapping can never be unmapped, else SWAP_AGAIN",
            unmap_answers(h0, s, r, walked),
        ),
    ]


def _referenced_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    count, want = spec_referenced(h, s)
    return (lambda value: term(value) == count), want


def _map_pre(h: Heap, a: Args) -> Goals:
    t = a.t
    return [
        *inv.full(h),
        ("ptep is a pte", t > 0),
        ("a swap entry ptep holds is in use", z3.Implies(
            z3.And(z3.Not(h.select("pte.present", t)), h.select("pte.swap", t) >= 0),
            h.select("swap.count", h.select("pte.swap", t)) > 0,
        )),
    ]  # fmt: skip


def _map_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    want, state = spec_map(h, a.t, a.dirty)
    return (lambda value: term(value) == want), state


def _zap_pre(h: Heap, a: Args) -> Goals:
    t = a.t
    present, entry = h.select("pte.present", t), h.select("pte.swap", t)
    return [
        *inv.full(h),
        ("ptep is a pte", t > 0),
        ("a page ptep maps is this one", z3.Implies(present, h.select("pte.pfn", t) == h["page.pfn"])),
        (
            "a swap entry ptep holds is in use",
            z3.Implies(z3.And(z3.Not(present), entry >= 0), h.select("swap.count", entry) > 0),
        ),
    ]


def _zap_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    return (lambda value: z3.BoolVal(value is None)), spec_zap(h, a.t)


def _reclaim_pre(h: Heap, a: Args) -> Goals:
    return [
        *inv.full(h),
        ("the page is reverse-mapped", normal(h)),
        (
            "its swap-cache entry is in use",
            z3.Implies(flag(h, PG_swapcache), h.select("swap.count", h["page.index"]) > 0),
        ),
    ]


def _reclaim_spec(h: Heap, a: Args, s: Sums, walked: Any) -> tuple[Callable[[Any], Any], Abstract]:
    """spec.ops.reclaim: page_referenced, then (unreferenced, mapped) unmap."""
    count, after_ref = spec_referenced(h, s)
    cleared = after_referenced(h)
    unmapped = spec_unmap(cleared, s.of(cleared), walked)
    asked = z3.And(count == 0, h["g.n"] > 0)
    want = {k: z3.If(asked, unmapped[k], after_ref[k]) for k in after_ref}

    def allowed(value: Any) -> Any:
        if not isinstance(value, Record):
            return z3.BoolVal(False)
        swap = value.get("swap_result")
        if swap is None:
            r, answered = z3.IntVal(-1), z3.Not(asked)
        else:
            r = term(swap)
            sc = s.of(cleared)
            answered = z3.And(
                asked, walk_may_stop(cleared, sc, walked), unmap_answers(cleared, sc, r, walked)
            )
        disposition = z3.If(
            count > 0, intern("activate"), z3.If(h["g.n"] == 0, intern("free"), disposition_of(r))
        )
        return z3.And(
            term(value.get("referenced")) == count, answered, term(value.get("disposition")) == disposition
        )

    return allowed, want


def _reclaim_returns(h0: Heap, h: Heap, value: Any, s: Sums, walked: Any) -> Goals:
    freed = (
        term(value.get("disposition")) == intern("free") if isinstance(value, Record) else z3.BoolVal(True)
    )
    return [("the page is freed only when no pte maps it", z3.Implies(freed, _unmapped(h)))]


def _rmap_args(cls: type, a: Args, with_pte: bool = True) -> tuple[Any, ...]:
    return (Ref(cls), Ref(Page), Ptr(a.t)) if with_pte else (Ref(cls), Ref(Page))


ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("page_add_rmap", "page_add_rmap", None, _rmap_args, _add_pre, _add_post, _add_spec),
        Entry("page_remove_rmap", "page_remove_rmap", None, _rmap_args, _remove_pre, _remove_post,
              lambda h, a, s, w: (_plain_answer(0), spec_rmap_remove(h, a.t))),
        Entry("try_to_unmap", "try_to_unmap", None, lambda c, a: _rmap_args(c, a, False), _unmap_pre,
              _full_post, _unmap_spec, (PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN),
              _unmap_returns, False),
        Entry("try_to_unmap_one", "try_to_unmap_one", None, _rmap_args, _unmap_one_pre, _unmap_one_post,
              _unmap_one_spec, (PRESERVE, REFINE, SPEC_REFINES, COUNTS, FLUSH)),
        Entry("page_referenced", "page_referenced", None, lambda c, a: _rmap_args(c, a, False),
              lambda h, a: inv.full(h), _full_post, _referenced_spec, takes_pte=False),
        Entry("map", None, callers.map_pte, lambda c, a: (Ref(c), Ptr(a.t), Ref(Page)), _map_pre, _full_post,
              _map_spec, (PRESERVE, REFINE, SPEC_REFINES, COUNTS, FLUSH)),
        Entry("zap", None, callers.zap_pte, lambda c, a: (Ref(c), Ptr(a.t)), _zap_pre, _full_post, _zap_spec,
              (PRESERVE, REFINE, SPEC_REFINES, COUNTS, FLUSH)),
        Entry("reclaim", None, callers.reclaim, lambda c, a: (Ref(c), Ref(Page)), _reclaim_pre, _full_post,
              _reclaim_spec, (PRESERVE, REFINE, SPEC_REFINES, COUNTS, RETURN), _reclaim_returns, False),
    )
}  # fmt: skip


def flush_goals(events: tuple[Any, ...]) -> Goals:
    """Each rule of impl.flush_rules over the path's event log, run on its
    symbolic events: no event breaks it.  A loop's iterations are a marker
    in the log; the rules are stated for entries whose loops log nothing
    (try_to_unmap's walk is try_to_unmap_one's calls, each a lock-to-unlock
    window that try_to_unmap_one's own obligation covers)."""
    if any(isinstance(e, tuple) and e and e[0] == "events" for e in events):
        raise Unsupported("flush order: paths merged with event logs of different shapes")
    log = [
        Event(e.get("kind"), e.get("mm"), term(e.get("address")), term(e.get("present")))
        for e in events
        if isinstance(e, Record)
    ]
    goals = []
    for rule in FLUSH_RULES:
        broken = [c for _, c in rule.rule(log, eq=_eq, any_=disj, all_=conj, not_=z3.Not)]
        goals.append((rule.name, z3.Not(disj(broken))))
    return goals


def _eq(a: Any, b: Any) -> Any:
    return term(a) == term(b)


def counters(h0: Heap, h: Heap, want: Abstract) -> Goals:
    """balanced counts: each counter is the spec's, and the live pte_chain
    objects are the chains' nodes."""
    got = abstract(h)
    goals = [(name, got[key] == want[key]) for key, name in COUNTERS]
    goals.append(("count_nr_reverse_maps", got["nr_reverse_maps"] == want["nr_reverse_maps"]))
    goals += [c for c in inv.structure(h) if c[0] == "count_pte_chain_objects"]
    return goals


def refinement(h: Heap, want: Abstract) -> Goals:
    return [*inv.structure(h), *alpha_goals(h, want)]


__all__ = ["COUNTS", "ENTRIES", "PRESERVE", "REFINE", "RETURN", "SPEC_REFINES", "Args", "Entry", "Opt"]
