"""α and the spec's operations (spec/ops.py) over the symbolic state.

``abstract(h)`` is α of a state, restricted to the focus page: its reverse
map as the set {p : g.ppos[p] >= 0} (which the representation invariant
ties to the chain), what every pte holds (spec.state.PteAbs, from the pte's
value), rss, swap counts, the page's fields and nr_reverse_maps, each an
array or a term, so that refinement is one equality per abstract field.
Each ``spec_*`` gives the abstract state (and answer) spec/ops.py allows
from α of the state before.  This is the spec in z3, written beside
spec/ops.py: part of the trusted base, like the spec itself, and checked
against it on concrete states by tests/test_z3_spec.py.  For every entry
of proofs.z3.properties, models of the bounded search's pinned worlds
(chains of 0 to 3 entries, in environments from a busy page_table_lock or
a VM_LOCKED vma to a saturated swap count or a failing allocation) are
decoded into traces and replayed on impl/; α of the replayed state must be
``abstract`` of the model, and the step spec.ops takes from it must be
the entry's z3 spec evaluated in the model, field by field and answer by
answer.  For try_to_unmap and reclaim, at every stopping point ``walked``
the walk may stop at, each (answer, state) the z3 spec allows must be one
spec.ops allows, and the full walk must be spec.ops' full-walk step.

Counts along a chain ("one rss per unmapped pte of the mm") are sums by
position with recursive axioms (``Sums``): z3 has no set cardinality.
"""

from __future__ import annotations

from typing import Any

import z3

from impl.kernel import ENOMEM, SWAP_MAP_MAX, VM_LOCKED, PG_dirty, PG_referenced, PG_swapcache
from proofs.z3.heap import Heap, intern
from proofs.z3.invariants import direct, flag, normal, recorded

SUCCESS, AGAIN, FAIL, ERROR = 0, 1, 2, 3
NONE, PAGE, SWAP = 0, 1, 2
Abstract = dict[str, Any]
INT = z3.IntSort()


def spec_outcome(h: Heap, p: Any) -> Any:
    """env_unmap_outcome: AGAIN when another CPU holds the mm's page_table_lock,
    FAIL when no vma contains the address or it is VM_LOCKED, else SUCCESS."""
    m, a = h.select("pte.mm", p), h.select("pte.address", p)
    contains = z3.And(
        h.select("vma.found", m, a), h.select("vma.start", m, a) <= a, a < h.select("vma.end", m, a)
    )
    locked = h.select("vma.flags", m, a) & VM_LOCKED != 0
    return z3.If(h.select("mm.lock", m) != 0, AGAIN, z3.If(z3.And(contains, z3.Not(locked)), SUCCESS, FAIL))


def abstract(h: Heap) -> Abstract:
    """α of the state, one entry per abstract field (impl.abstraction.abstraction)."""
    p = z3.Int("p")
    present, swap = h["pte.present"], h["pte.swap"]
    return {
        "rmap": z3.Lambda([p], recorded(h, p)),
        "pte kinds": z3.Lambda([p], z3.If(present[p], PAGE, z3.If(swap[p] >= 0, SWAP, NONE))),
        "pte targets": z3.Lambda([p], z3.If(present[p], h["pte.pfn"][p], z3.If(swap[p] >= 0, swap[p], 0))),
        "pte young": z3.Lambda([p], z3.And(present[p], h["pte.young"][p])),
        "pte dirty": z3.Lambda([p], z3.And(present[p], h["pte.dirty"][p])),
        "pte mm": h["pte.mm"],
        "rss": h["mm.rss"],
        "swap": h["swap.count"],
        "page count": h["page.count"],
        "page base": h["g.base"],
        "page referenced": flag(h, PG_referenced),
        "page dirty": flag(h, PG_dirty),
        "page swap entry": z3.If(flag(h, PG_swapcache), h["page.index"], -1),
        "page normal": normal(h),
        "nr_reverse_maps": h["state.nr"],
    }


def alpha_goals(h: Heap, want: Abstract) -> list[tuple[str, Any]]:
    """α(h) equals ``want``, one named conjunct per abstract field."""
    got = abstract(h)
    return [(f"refines: {key}", _equal(got[key], value)) for key, value in want.items()]


def _equal(got: Any, want: Any) -> Any:
    """got == want; for a field that is an array (a map over ptes or mms),
    stated point by point: its negation then names one point where the two
    differ and reads both there (selects of the lambdas, beta-reduced),
    where z3's extensionality for ``==`` of two lambdas can take minutes."""
    if got.sort().kind() != z3.Z3_ARRAY_SORT:  # (a lambda is a QuantifierRef, not an ArrayRef)
        return got == want
    x = z3.Const("x", got.sort().domain())
    return z3.ForAll([x], got[x] == want[x])


def swap_after(count: Any, added: Any) -> Any:
    """spec.ops._swap_add applied ``added`` times: a saturated slot keeps its count."""
    return z3.If(
        count >= SWAP_MAP_MAX, count, z3.If(count + added >= SWAP_MAP_MAX, SWAP_MAP_MAX, count + added)
    )


# ------------------------------------------------------------ sums along the chain


OUTCOME_FIELDS = (
    "g.n",
    "g.pe",
    "pte.mm",
    "pte.address",
    "mm.lock",
    "vma.found",
    "vma.start",
    "vma.end",
    "vma.flags",
)
SUM_FIELDS = {
    "succ": OUTCOME_FIELDS,
    "succm": OUTCOME_FIELDS,
    "again": OUTCOME_FIELDS,
    "fail": OUTCOME_FIELDS,
    "dirt": (*OUTCOME_FIELDS, "pte.present", "pte.dirty"),
    "young": ("g.n", "g.pe", "pte.present", "pte.young"),
}


class Sum:
    """One count over the first j entries of a state's reverse map, by
    position: an uninterpreted array with recursive axioms (z3 has no set
    cardinality).  ``kind`` says what it counts (see ``Sums``)."""

    def __init__(self, kind: str, h: Heap, tag: str) -> None:
        self.kind, self.h = kind, h
        sort = z3.BoolSort() if kind == "dirt" else INT
        self.array = (
            z3.Array(f"{tag}.{kind}", INT, INT, sort)
            if kind == "succm"
            else z3.Array(f"{tag}.{kind}", INT, sort)
        )
        self.j, self.m = z3.Int(f"{tag}.j"), z3.Int(f"{tag}.m")

    def pte(self, j: Any) -> Any:
        return self.h.select("g.pe", j)

    def out(self, j: Any) -> Any:
        return spec_outcome(self.h, self.pte(j))

    def at(self, j: Any, m: Any = None) -> Any:
        return self.array[m, j] if self.kind == "succm" else self.array[j]

    def step(self, j: Any, m: Any) -> Any:
        """What the entry at position j adds (for succm: to mm m's count)."""
        h, p = self.h, self.pte(j)
        gone = self.out(j) == SUCCESS
        match self.kind:
            case "succ":
                return gone
            case "succm":
                return z3.And(gone, h.select("pte.mm", p) == m)
            case "again":
                return self.out(j) == AGAIN
            case "fail":
                return self.out(j) == FAIL
            case "dirt":
                return z3.And(gone, h.select("pte.present", p), h.select("pte.dirty", p))
        return z3.And(h.select("pte.present", p), h.select("pte.young", p))

    def axioms(self) -> list[Any]:
        j, m = self.j, self.m
        step = z3.And(j >= 0, j < self.h["g.n"])
        if self.kind == "dirt":
            nxt = z3.Or(self.at(j), self.step(j, m))
            return [
                z3.Not(self.at(0)),
                z3.ForAll([j], z3.Implies(step, self.at(j + 1) == nxt), patterns=[self.at(j + 1)]),
            ]
        nxt = self.at(j, m) + z3.If(self.step(j, m), 1, 0)
        if self.kind == "succm":
            return [
                z3.ForAll([m], self.at(0, m) == 0, patterns=[self.at(0, m)]),
                z3.ForAll([m, j], z3.Implies(step, self.at(j + 1, m) == nxt), patterns=[self.at(j + 1, m)]),
            ]
        return [
            self.at(0) == 0,
            z3.ForAll([j], z3.Implies(step, self.at(j + 1) == nxt), patterns=[self.at(j + 1)]),
        ]

    def pin(self, n: int) -> Any:
        """The sum spelled out for a chain of exactly n entries (a pinned small
        case): what the axioms define, as a finite term z3 checks at once."""
        j, m = self.j, self.m
        start: Any = z3.BoolVal(False) if self.kind == "dirt" else z3.IntVal(0)
        values, acc = [start], start
        for k in range(n):
            acc = z3.Or(acc, self.step(k, m)) if self.kind == "dirt" else acc + z3.If(self.step(k, m), 1, 0)
            values.append(acc)
        body = values[-1]
        for k in range(n - 1, -1, -1):
            body = z3.If(j <= k, values[k], body)
        return self.array == (z3.Lambda([m, j], body) if self.kind == "succm" else z3.Lambda([j], body))


class Sums:
    """The counts along a state's chain: ``succ`` entries whose outcome
    (env_unmap_outcome) is SWAP_SUCCESS, ``succm[m]`` those of mm m,
    ``again``/``fail`` by outcome, ``dirt`` whether a SUCCESS one is dirty,
    ``young`` the young ones.  Each is shared by every state that agrees on
    the fields it reads (SUM_FIELDS), so the loop of try_to_unmap and the
    spec of reclaim, a few steps apart, count with the same arrays."""

    def __init__(self, h: Heap, registry: SumsRegistry) -> None:
        self.h, self._registry = h, registry

    def of(self, h: Heap) -> Sums:
        """The sums of another state (sharing what it agrees on with this one)."""
        return Sums(h, self._registry)

    def _sum(self, kind: str) -> Sum:
        return self._registry.sum(kind, self.h)  # made when first used: an unused sum adds no axioms

    def pte(self, j: Any) -> Any:
        return self.h.select("g.pe", j)

    def out(self, j: Any) -> Any:
        return spec_outcome(self.h, self.pte(j))

    def succ(self, j: Any) -> Any:
        return self._sum("succ").at(j)

    def succm(self, m: Any, j: Any) -> Any:
        return self._sum("succm").at(j, m)

    def again(self, j: Any) -> Any:
        return self._sum("again").at(j)

    def fail(self, j: Any) -> Any:
        return self._sum("fail").at(j)

    def dirt(self, j: Any) -> Any:
        return self._sum("dirt").at(j)

    def young(self, j: Any) -> Any:
        return self._sum("young").at(j)


class SumsRegistry:
    """One ``Sum`` per kind and distinct state of what it reads, shared by
    every VC of an obligation that speaks of it (the loop and the property)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[Any, ...], Sum] = {}

    def sum(self, kind: str, h: Heap) -> Sum:
        key = (kind, *(h[f].get_id() for f in SUM_FIELDS[kind]))
        if key not in self._by_key:
            self._by_key[key] = Sum(kind, h, f"sums{len(self._by_key)}")
        return self._by_key[key]

    def of(self, h: Heap) -> Sums:
        return Sums(h, self)

    def copy(self) -> SumsRegistry:
        """A registry that starts with these sums: an obligation's property
        adds its own without touching a shared lifted run's."""
        other = SumsRegistry()
        other._by_key = dict(self._by_key)
        return other

    @property
    def axioms(self) -> list[Any]:
        return [a for s in self._by_key.values() for a in s.axioms()]

    def pins(self, n: int) -> list[Any]:
        return [s.pin(n) for s in self._by_key.values()]


# ------------------------------------------------------------ the operations


def alloc_fails(h: Heap) -> Any:
    """impl.abstraction.env_alloc_fails: one of the allocations recording one
    more mapping makes fails (two when the page is mapped directly, else one
    when it is mapped at all)."""
    needed = z3.If(direct(h), 2, 1)
    return z3.And(normal(h), h["g.n"] > 0, h["slab.fail_next"] > 0, h["slab.succeed"] < needed)


def spec_rmap_add(h: Heap, t: Any) -> tuple[Any, Abstract]:
    """spec.ops.rmap_add with the environment's alloc_fails."""
    a = abstract(h)
    p = z3.Int("p")
    nomem = alloc_fails(h)
    ok = z3.And(normal(h), z3.Not(nomem))
    rmap = a["rmap"]
    a["rmap"] = z3.Lambda([p], z3.Or(rmap[p], z3.And(ok, p == t)))
    a["nr_reverse_maps"] = h["state.nr"] + z3.If(ok, 1, 0)
    return z3.If(nomem, -ENOMEM, 0), a


def spec_rmap_remove(h: Heap, t: Any) -> Abstract:
    """spec.ops.rmap_remove: ptep is forgotten, counted only when a normal page recorded it."""
    a = abstract(h)
    p = z3.Int("p")
    hit = z3.And(normal(h), recorded(h, t))
    a["rmap"] = z3.Lambda([p], z3.And(recorded(h, p), p != t))
    a["nr_reverse_maps"] = h["state.nr"] - z3.If(hit, 1, 0)
    return a


def walk_may_stop(h: Heap, sums: Sums, walked: Any) -> Any:
    """spec.ops.unmap_may_leave for a walk that reached the first ``walked``
    entries of the chain: it reached them all, or it met a mapping that can
    never be unmapped (SWAP_FAIL) and may leave the rest untried."""
    n = h["g.n"]
    return z3.Or(walked == n, z3.And(walked >= 0, walked < n, sums.fail(walked + 1) > 0))


def spec_unmap(h: Heap, sums: Sums, walked: Any) -> Abstract:
    """spec.ops.unmapped of the mappings that go when the walk reached the
    first ``walked`` entries: those of them whose outcome is SWAP_SUCCESS."""
    a = abstract(h)
    p, m = z3.Int("p"), z3.Int("m")
    reached = z3.Lambda([p], z3.And(recorded(h, p), h.select("g.ppos", p) < walked))
    gone = z3.Lambda([p], z3.And(reached[p], spec_outcome(h, p) == SUCCESS))
    swapped = flag(h, PG_swapcache)
    a["rmap"] = z3.Lambda([p], z3.And(recorded(h, p), z3.Not(gone[p])))
    a["pte kinds"] = z3.Lambda([p], z3.If(gone[p], z3.If(swapped, SWAP, NONE), a["pte kinds"][p]))
    a["pte targets"] = z3.Lambda([p], z3.If(gone[p], z3.If(swapped, h["page.index"], 0), a["pte targets"][p]))
    a["pte young"] = z3.Lambda([p], z3.And(z3.Not(gone[p]), a["pte young"][p]))
    a["pte dirty"] = z3.Lambda([p], z3.And(z3.Not(gone[p]), a["pte dirty"][p]))
    a["rss"] = z3.Lambda([m], h.select("mm.rss", m) - sums.succm(m, walked))
    entry = h["page.index"]
    a["swap"] = z3.If(
        swapped,
        z3.Store(h["swap.count"], entry, swap_after(h.select("swap.count", entry), sums.succ(walked))),
        h["swap.count"],
    )
    a["page count"] = h["page.count"] - sums.succ(walked)
    a["page dirty"] = z3.Or(flag(h, PG_dirty), sums.dirt(walked))
    a["nr_reverse_maps"] = h["state.nr"] - sums.succ(walked)
    return a


def unmap_answers(h: Heap, sums: Sums, r: Any, walked: Any) -> Any:
    """spec.ops.unmap_answers: SWAP_SUCCESS exactly when nothing stays;
    SWAP_FAIL when some mapping's outcome can never succeed (the environment
    has no SWAP_ERROR), so that shrink_cache activates the page; SWAP_AGAIN
    only when every mapping that stayed stayed for AGAIN.  A walk that
    stopped early stopped at a SWAP_FAIL (``walk_may_stop``)."""
    n = h["g.n"]
    fails = z3.Or(walked < n, sums.fail(n) > 0)
    return z3.If(sums.succ(walked) == n, r == SUCCESS, z3.If(fails, r == FAIL, r == AGAIN))


def after_referenced(h: Heap) -> Heap:
    """The state page_referenced leaves (as spec.ops.referenced does): the
    recorded ptes' young bits and PG_referenced cleared."""
    p = z3.Int("p")
    young = z3.Lambda([p], z3.And(z3.Not(recorded(h, p)), h.select("pte.young", p)))
    return h.update({"pte.young": young, "page.flags": h["page.flags"] & ~(1 << PG_referenced)})


def spec_referenced(h: Heap, sums: Sums) -> tuple[Any, Abstract]:
    """spec.ops.referenced: PG_referenced and every young mapping, counted and cleared."""
    a = abstract(h)
    p = z3.Int("p")
    a["pte young"] = z3.Lambda([p], z3.And(z3.Not(recorded(h, p)), a["pte young"][p]))
    a["page referenced"] = z3.BoolVal(False)
    count = z3.If(flag(h, PG_referenced), 1, 0) + z3.If(normal(h), sums.young(h["g.n"]), 0)
    return count, a


def spec_map(h: Heap, t: Any, dirty: Any) -> tuple[Any, Abstract]:
    """spec.ops.map_pte: the answer ("mapped" or "oom") and the state."""
    nomem = alloc_fails(h)
    mapped = z3.Not(nomem)
    gains = z3.And(mapped, normal(h))
    a = spec_rmap_add(h, t)[1]
    old = abstract(h)
    mm = h.select("pte.mm", t)
    old_swap = z3.And(z3.Not(h.select("pte.present", t)), h.select("pte.swap", t) >= 0)
    entry = h.select("pte.swap", t)
    a["pte kinds"] = z3.If(mapped, z3.Store(old["pte kinds"], t, PAGE), old["pte kinds"])
    a["pte targets"] = z3.If(mapped, z3.Store(old["pte targets"], t, h["page.pfn"]), old["pte targets"])
    a["pte young"] = z3.If(mapped, z3.Store(old["pte young"], t, True), old["pte young"])
    a["pte dirty"] = z3.If(mapped, z3.Store(old["pte dirty"], t, dirty), old["pte dirty"])
    a["rss"] = z3.If(gains, z3.Store(h["mm.rss"], mm, h.select("mm.rss", mm) + 1), h["mm.rss"])
    a["page count"] = h["page.count"] + z3.If(gains, 1, 0)
    freed = swap_after(h.select("swap.count", entry), -1)
    a["swap"] = z3.If(z3.And(mapped, old_swap), z3.Store(h["swap.count"], entry, freed), h["swap.count"])
    return z3.If(mapped, intern("mapped"), intern("oom")), a


def spec_zap(h: Heap, t: Any) -> Abstract:
    """spec.ops.zap_pte of a pte that maps this page (or holds a swap entry)."""
    present = h.select("pte.present", t)
    normal_page = z3.And(present, normal(h))
    a = spec_rmap_remove(h, t)
    p = z3.Int("p")
    old = abstract(h)
    a["rmap"] = z3.If(normal_page, a["rmap"], old["rmap"])
    a["nr_reverse_maps"] = z3.If(normal_page, a["nr_reverse_maps"], old["nr_reverse_maps"])
    for key in ("pte kinds", "pte targets"):
        a[key] = z3.Store(old[key], t, 0)
    for key in ("pte young", "pte dirty"):
        a[key] = z3.Lambda([p], z3.And(p != t, old[key][p]))
    mm = h.select("pte.mm", t)
    a["rss"] = z3.If(normal_page, z3.Store(h["mm.rss"], mm, h.select("mm.rss", mm) - 1), h["mm.rss"])
    a["page count"] = h["page.count"] - z3.If(normal_page, 1, 0)
    a["page dirty"] = z3.Or(old["page dirty"], z3.And(normal_page, h.select("pte.dirty", t)))
    entry = h.select("pte.swap", t)
    swapped = z3.And(z3.Not(present), entry >= 0)
    freed = swap_after(h.select("swap.count", entry), -1)
    a["swap"] = z3.If(swapped, z3.Store(h["swap.count"], entry, freed), h["swap.count"])
    return a


DISPOSITIONS = {SUCCESS: "free", AGAIN: "keep_inactive", FAIL: "activate", ERROR: "activate"}


def disposition_of(r: Any) -> Any:
    """What shrink_cache does with the page for try_to_unmap's answer r."""
    out = z3.IntVal(intern("activate"))
    for answer in (AGAIN, SUCCESS):
        out = z3.If(r == answer, intern(DISPOSITIONS[answer]), out)
    return out
