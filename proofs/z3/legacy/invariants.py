"""The representation invariant in z3, conjunct by conjunct, by name.

Each conjunct carries the name of the invariant it encodes
(impl.invariants.REP_INVARIANTS, spec.invariants.SPEC_INVARIANTS), so a
failing proof names the conjunct it breaks.  They speak of one page (the
one the operation is about) and its chain; nodes and reverse-map entries
of other pages are the frame (ghosts ``other``, ``nr_other``).
tests/test_z3_encoding.py evaluates these conjuncts on concrete states and
compares them with impl.invariants.violations.

The count equalities of spec.invariants are stated per page: the page's
count is its base plus one per pte that maps it, which under the coupling
conjuncts (the reverse map is exactly the ptes that map the page, and has
no duplicates) is ``count == base + n``; nr_reverse_maps is the other
pages' entries plus ``n``.  rss and the swap counts involve every page's
ptes; the proofs state them as balance equations (a counter moves by
exactly the change in what it counts), see proofs.z3.properties.
"""

from __future__ import annotations

from typing import Any

import z3

from proofs.z3.legacy.state import HOLE_LOCKED, LOCKED, NULL, OK, PAGE, State, maps_page, normal

Conjuncts = list[tuple[str, Any]]


def _x(name: str) -> Any:
    return z3.Int(name)


def forall(var: Any, body: Any, array: Any, index: Any) -> Any:
    """∀var. body, triggered on array[index] when the array is a plain
    constant (z3 rejects a select from a store or lambda as a pattern)."""
    plain = z3.is_const(array) and array.decl().kind() == z3.Z3_OP_UNINTERPRETED
    return z3.ForAll([var], body, patterns=[array[index]] if plain else [])


def world_facts(s: State) -> Any:
    """What every modelled kernel state satisfies, invariant or not."""
    return z3.And(
        s.fresh1 != NULL,
        s.fresh2 != NULL,
        s.fresh1 != s.fresh2,
        z3.Not(s.live[s.fresh1]),
        z3.Not(s.live[s.fresh2]),
        z3.Not(s.other[s.fresh1]),
        z3.Not(s.other[s.fresh2]),
        s.live[NULL] == False,  # noqa: E712 (a z3 term)
        s.fail_next >= 0,
        s.nr_other >= 0,
        s.base >= 0,
        s.n >= 0,
        s.swap[s.index] >= 0,
        s.fault == 0,
    )


def structure(s: State) -> Conjuncts:
    """The structural conjuncts of REP_INVARIANTS (the locks aside)."""
    k, x, p = _x("k"), _x("x"), _x("p")
    chain = z3.Not(s.direct)
    in_chain = z3.And(k >= 0, k < s.n)
    return [
        ("rep_direct_flag", z3.And(s.direct == s.wpte, z3.Implies(s.direct, s.word != NULL))),
        (
            "rep_chain_well_formed",
            z3.And(
                s.npos[NULL] == -1,
                z3.Implies(s.direct, s.n == 1),
                z3.Implies(
                    chain, z3.And(z3.Or(s.n == 0, s.n >= 2), s.word == z3.If(s.n == 0, NULL, s.nd[0]))
                ),
                forall(
                    k,
                    z3.Implies(
                        z3.And(chain, in_chain),
                        z3.And(
                            s.nd[k] != NULL,
                            s.npos[s.nd[k]] == k,
                            s.nxt[s.nd[k]] == z3.If(k + 1 < s.n, s.nd[k + 1], NULL),
                            s.ptep[s.nd[k]] != NULL,
                        ),
                    ),
                    s.nd,
                    k,
                ),
                forall(
                    x,
                    z3.Implies(s.npos[x] >= 0, z3.And(chain, s.npos[x] < s.n, s.nd[s.npos[x]] == x)),
                    s.npos,
                    x,
                ),
            ),
        ),
        (
            "rep_no_duplicate_pte",
            z3.And(
                s.ppos[NULL] == -1,
                z3.Implies(s.direct, s.ppos[s.word] == 0),
                forall(k, z3.Implies(z3.And(chain, in_chain), s.ppos[s.ptep[s.nd[k]]] == k), s.nd, k),
                forall(
                    p,
                    z3.Implies(
                        s.ppos[p] >= 0,
                        z3.And(
                            s.ppos[p] < s.n,
                            z3.If(s.direct, p == s.word, s.ptep[s.nd[s.ppos[p]]] == p),
                        ),
                    ),
                    s.ppos,
                    p,
                ),
            ),
        ),
        (
            "rep_chains_disjoint",
            forall(x, z3.Not(z3.And(s.other[x], s.npos[x] >= 0)), s.other, x),
        ),
        (
            "count_pte_chain_objects",
            forall(x, s.live[x] == z3.Or(s.npos[x] >= 0, s.other[x]), s.live, x),
        ),
    ]


def locks(s: State, held: bool = False) -> Conjuncts:
    """rep_locks_released; ``held``: inside reclaim, which holds the page's
    pte_chain_lock around page_referenced and try_to_unmap."""
    if held:
        return [("rep_locks_released (but reclaim's pte_chain_lock)", s.chainlock)]
    return [("rep_locks_released", z3.Not(s.chainlock))]


def sound(s: State, but: Any = None) -> Conjuncts:
    """spec_rmap_sound (for every pte but ``but``, when given)."""
    p = _x("p")
    claim = z3.Implies(s.ppos[p] >= 0, z3.And(normal(s), maps_page(s, p)))
    if but is not None:
        claim = z3.Implies(p != but, claim)
    only_normal = z3.Implies(s.n > 0, normal(s))  # only normal pages record any
    return [("spec_rmap_sound", z3.And(only_normal, forall(p, claim, s.ppos, p)))]


def complete(s: State, but: Any = None) -> Conjuncts:
    """spec_rmap_complete (for every pte but ``but``, when given)."""
    p = _x("p")
    claim = z3.Implies(z3.And(normal(s), maps_page(s, p)), s.ppos[p] >= 0)
    if but is not None:
        claim = z3.Implies(p != but, claim)
    return [("spec_rmap_complete", forall(p, claim, s.pk, p))]


def page_counts(s: State) -> Conjuncts:
    """count_page_refs and count_nr_reverse_maps, for this page."""
    return [
        ("count_page_refs", z3.Implies(normal(s), s.count == s.base + s.n)),
        ("count_nr_reverse_maps", s.nr == s.nr_other + s.n),
    ]


def nr_count(s: State) -> Conjuncts:
    return [("count_nr_reverse_maps", s.nr == s.nr_other + s.n)]


def full(s: State, held: bool = False) -> Conjuncts:
    """The whole representation invariant of this page."""
    return [*structure(s), *locks(s, held), *sound(s), *complete(s), *page_counts(s)]


def pin_chain(
    s: State,
    n: int,
    env: int | list[int] | None = None,
    pfn: int = 1,
    unrecorded: bool = False,
    cleared: int | None = None,
    kinds: dict[int, int] | None = None,
    reserved: bool = False,
) -> list[Any]:
    """A small concrete case: the page maps ptes 1..n, the chain's nodes
    are 11..10+n (direct when n == 1).  Without ``env`` the environment,
    the pte bits and the counters stay free, so that a counterexample
    search still chooses them; with ``env`` (the SWAP_* answer of each
    mapping, or of all) they are pinned too, which is what lets z3 find a
    model of quantified hypotheses quickly (the consistency checks).  With
    ``unrecorded``, pte n+1 maps the page too, unrecorded (page_add_rmap's
    argument); pte ``cleared`` is recorded but holds nothing (zap cleared
    it before page_remove_rmap); ``kinds`` overrides find_vma's answer for
    some ptes; ``reserved`` makes the page PG_reserved."""
    nodes = [10 + k for k in range(1, n + 1)] if n != 1 else []
    ptes = list(range(1, n + 1))
    nd, npos, ppos, nxt, ptep, live = (
        z3.K(z3.IntSort(), 0),
        z3.K(z3.IntSort(), -1),
        z3.K(z3.IntSort(), -1),
        z3.K(z3.IntSort(), 0),
        z3.K(z3.IntSort(), 0),
        z3.K(z3.IntSort(), False),
    )
    for k, p in enumerate(ptes):
        ppos = z3.Store(ppos, p, k)
    for k, x in enumerate(nodes):
        nd, npos, live = z3.Store(nd, k, x), z3.Store(npos, x, k), z3.Store(live, x, True)
        nxt = z3.Store(nxt, x, nodes[k + 1] if k + 1 < n else 0)
        ptep = z3.Store(ptep, x, ptes[k])
    word = ptes[0] if n == 1 else nodes[0] if nodes else 0
    mapped = [p for p in [*ptes, *([n + 1] if unrecorded else [])] if p != cleared]
    outcomes = env if isinstance(env, list) else [env] * (n + 1)
    return [
        s.pfn == pfn,
        s.n == n,
        s.direct == (n == 1),
        s.wpte == (n == 1),
        s.word == word,
        s.nd == nd,
        s.npos == npos,
        s.ppos == ppos,
        s.nxt == nxt,
        s.ptep == ptep,
        s.live == live,
        s.other == z3.K(z3.IntSort(), False),
        s.fresh1 == 91,
        s.fresh2 == 92,
        z3.Implies(normal(s), s.count == s.base + n),  # a world's count: base plus the mappings
        # find_vma's answer is one of the five kinds for the ptes a trace names
        *[z3.And(s.vk[p] >= OK, s.vk[p] <= HOLE_LOCKED) for p in range(1, max(n + 2, 10))],
        *([] if env is None else _pin_env(s, mapped, outcomes, pfn, kinds or {}, reserved)),
    ]


def _pin_env(
    s: State, mapped: list[int], outcomes: list[int | None], pfn: int, kinds: dict[int, int], reserved: bool
) -> list[Any]:
    """Each pte p in its own mm p; its outcome from busy and vk."""
    i = z3.IntSort()
    pk, pt, busy, vk = z3.K(i, 0), z3.K(i, 0), z3.K(i, False), z3.K(i, OK)
    for p in mapped:
        pk, pt = z3.Store(pk, p, PAGE), z3.Store(pt, p, pfn)
    for p, outcome in enumerate(outcomes, 1):
        busy = z3.Store(busy, p, outcome == 1)
        vk = z3.Store(vk, p, kinds.get(p, LOCKED if outcome == 2 else OK))
    return [
        s.busy == busy,
        s.vk == vk,
        s.pmm == z3.Lambda([z3.Int("p")], z3.Int("p")),
        s.pk == pk,
        s.pt == pt,
        s.py == z3.K(i, False),
        s.pd == z3.K(i, False),
        s.valid,
        s.reserved == reserved,
        z3.Not(s.swapcache),
        s.index == 0,
        s.rss == z3.K(i, 1),
        s.swap == z3.K(i, 1),
    ]
