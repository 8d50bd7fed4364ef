"""The representation invariant over the symbolic state, conjunct by conjunct.

Each conjunct carries the name of the invariant it states
(impl.invariants.REP_INVARIANTS, spec.invariants.SPEC_INVARIANTS), so a
failing proof names what it breaks.  They speak of the focus page and its
chain through the ghosts of proofs.z3.heap (the chain as positions, with
inverse maps); other pages' nodes and entries are the frame (``g.other``,
``g.nr_other``).  Two checks keep them honest against impl.invariants:
every VC that assumes them is checked satisfiable on its pinned small
chains (proofs.z3.pins, the states proofs.z3.decode builds with the real
callers), so they are not stronger than the states impl/ makes; and a VC
they fail becomes a counterexample only when its replay on impl/ breaks
impl.invariants.violations.  A conjunct weaker than impl's is not caught by
either: the prove stage's mutants (proofs/results/mutants-prove.json)
measure what the proofs let through.

The counts of spec.invariants are stated for the page: its count is its
base plus one per entry (which, with the coupling conjuncts, is one per pte
mapping it), nr_reverse_maps the other pages' entries plus ``g.n``.  rss
and the swap counts involve every page's ptes; the obligations state them
as balance equations (proofs.z3.properties).
"""

from __future__ import annotations

from typing import Any

import z3

from impl.kernel import PG_chainlock, PG_direct, PG_dirty, PG_referenced, PG_reserved, PG_swapcache
from proofs.z3.heap import Heap, intern
from proofs.z3.models import FRESH_NODES, fresh_node

Conjuncts = list[tuple[str, Any]]
THIS_CPU = intern("cpu0")


def flag(h: Heap, bit: int) -> Any:
    return z3.Extract(bit, bit, h["page.flags"]) == 1


def direct(h: Heap) -> Any:
    return flag(h, PG_direct)


def normal(h: Heap) -> Any:
    """Reverse-mapped: a valid pfn, not PG_reserved."""
    return z3.And(h["page.valid"], z3.Not(flag(h, PG_reserved)))


def maps_page(h: Heap, p: Any) -> Any:
    return z3.And(h.select("pte.present", p), h.select("pte.pfn", p) == h["page.pfn"])


def recorded(h: Heap, p: Any) -> Any:
    return h.select("g.ppos", p) >= 0


def entry(h: Heap, k: Any) -> Any:
    """The pte at position k of the reverse map."""
    return z3.If(direct(h), h["page.word"], h.select("node.ptep", h.select("g.nd", k)))


def forall(var: Any, body: Any, array: Any, index: Any) -> Any:
    """∀var. body, triggered on array[index] when the array is a plain
    constant (z3 rejects a select from a store or lambda as a pattern)."""
    plain = z3.is_const(array) and array.decl().kind() == z3.Z3_OP_UNINTERPRETED
    return z3.ForAll([var], body, patterns=[array[index]] if plain else [])


def world_facts(h: Heap) -> list[Any]:
    """What every modelled kernel state satisfies, invariant or not."""
    x, p = z3.Int("x"), z3.Int("p")
    fresh = [fresh_node(k) for k in range(FRESH_NODES)]
    live, other, npos = h["slab.live"], h["g.other"], h["g.npos"]
    return [
        *[z3.And(f < 0, z3.Not(live[f]), z3.Not(other[f]), npos[f] == -1) for f in fresh],
        z3.Distinct(*fresh),
        z3.Not(live[0]),
        forall(x, z3.Implies(live[x], x < 0), live, x),
        forall(x, z3.Implies(other[x], x < 0), other, x),
        h["slab.fail_next"] >= 0,
        h["slab.succeed"] >= 0,
        h["g.nr_other"] >= 0,
        h["g.base"] >= 0,
        h["g.n"] >= 0,
        h["page.index"] >= 0,
        h.select("swap.count", h["page.index"]) >= 0,
        forall(p, z3.Implies(p > 0, h.select("pte.mm", p) > 0), h["pte.mm"], p),
        forall(p, h.select("pte.swap", p) >= -1, h["pte.swap"], p),
        # a present pte holds no swap entry (no PteVal is both)
        forall(p, z3.Implies(h.select("pte.present", p), h.select("pte.swap", p) == -1), h["pte.present"], p),
    ]


def structure(h: Heap) -> Conjuncts:
    """The structural conjuncts of REP_INVARIANTS (the locks aside)."""
    k, x, p = z3.Int("k"), z3.Int("x"), z3.Int("p")
    n, nd, npos, ppos, word = h["g.n"], h["g.nd"], h["g.npos"], h["g.ppos"], h["page.word"]
    pe = h["g.pe"]
    nxt, ptep = h["node.next"], h["node.ptep"]
    chain = z3.Not(direct(h))
    in_chain = z3.And(k >= 0, k < n)
    # A conjunct with several parts is stated part by part, under its one
    # name: z3 proves small goals faster, and a failure still names it.
    return [
        ("rep_direct_flag", direct(h) == (word > 0)),
        (
            "rep_chain_well_formed",
            z3.And(
                npos[0] == -1,
                z3.Implies(direct(h), n == 1),
                z3.Implies(chain, z3.And(z3.Or(n == 0, n >= 2), word == z3.If(n == 0, 0, nd[0]))),
            ),
        ),
        (
            "rep_chain_well_formed",
            forall(
                k,
                z3.Implies(
                    z3.And(chain, in_chain),
                    z3.And(
                        nd[k] < 0,
                        npos[nd[k]] == k,
                        nxt[nd[k]] == z3.If(k + 1 < n, nd[k + 1], 0),
                        ptep[nd[k]] > 0,
                    ),
                ),
                nd,
                k,
            ),
        ),
        (
            "rep_chain_well_formed",
            forall(x, z3.Implies(npos[x] >= 0, z3.And(chain, npos[x] < n, nd[npos[x]] == x)), npos, x),
        ),
        ("rep_no_duplicate_pte", ppos[0] == -1),
        (
            "rep_no_duplicate_pte",
            forall(k, z3.Implies(in_chain, z3.And(pe[k] == entry(h, k), pe[k] > 0)), pe, k),
        ),
        ("rep_no_duplicate_pte", forall(k, z3.Implies(in_chain, ppos[pe[k]] == k), pe, k)),
        (
            "rep_no_duplicate_pte",
            forall(p, z3.Implies(ppos[p] >= 0, z3.And(ppos[p] < n, pe[ppos[p]] == p)), ppos, p),
        ),
        (
            "rep_chains_disjoint",
            forall(x, z3.Not(z3.And(h.select("g.other", x), npos[x] >= 0)), h["g.other"], x),
        ),
        (
            "count_pte_chain_objects",
            forall(
                x, h.select("slab.live", x) == z3.Or(npos[x] >= 0, h.select("g.other", x)), h["slab.live"], x
            ),
        ),
    ]


def locks(h: Heap, held: bool = False) -> Conjuncts:
    """rep_locks_released: no pte_chain_lock held (``held``: but this page's,
    which reclaim holds around its callees), and this CPU holds no
    page_table_lock and not the pagemap_lru_lock."""
    m = z3.Int("m")
    name = "rep_locks_released" + (" (but reclaim's pte_chain_lock)" if held else "")
    chain_lock = flag(h, PG_chainlock) if held else z3.Not(flag(h, PG_chainlock))
    mine = forall(m, h.select("mm.lock", m) != THIS_CPU, h["mm.lock"], m)
    lru = h["lru.lock"] != THIS_CPU if not held else h["lru.lock"] == THIS_CPU
    return [(name, z3.And(chain_lock, mine, lru))]


def sound(h: Heap, but: Any = None) -> Conjuncts:
    """spec_rmap_sound (for every pte but ``but``, when given)."""
    p = z3.Int("p")
    claim = z3.Implies(recorded(h, p), z3.And(normal(h), maps_page(h, p)))
    if but is not None:
        claim = z3.Implies(p != but, claim)
    only_normal = z3.Implies(h["g.n"] > 0, normal(h))  # only normal pages record any
    return [("spec_rmap_sound", z3.And(only_normal, forall(p, claim, h["g.ppos"], p)))]


def complete(h: Heap, but: Any = None) -> Conjuncts:
    """spec_rmap_complete (for every pte but ``but``, when given)."""
    p = z3.Int("p")
    claim = z3.Implies(z3.And(p > 0, normal(h), maps_page(h, p)), recorded(h, p))
    if but is not None:
        claim = z3.Implies(p != but, claim)
    return [("spec_rmap_complete", forall(p, claim, h["pte.present"], p))]


def page_refs(h: Heap) -> Conjuncts:
    return [("count_page_refs", z3.Implies(normal(h), h["page.count"] == h["g.base"] + h["g.n"]))]


def nr_count(h: Heap) -> Conjuncts:
    return [("count_nr_reverse_maps", h["state.nr"] == h["g.nr_other"] + h["g.n"])]


def full(h: Heap, held: bool = False) -> Conjuncts:
    """The whole representation invariant of this page."""
    return [*structure(h), *locks(h, held), *sound(h), *complete(h), *page_refs(h), *nr_count(h)]


FLAGS = {"referenced": PG_referenced, "dirty": PG_dirty, "swapcache": PG_swapcache}
