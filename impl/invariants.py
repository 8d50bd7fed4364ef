"""The representation invariant of the concrete state, conjunct by conjunct.

``REP_INVARIANTS`` hold of the data structure itself (the pte union, the
chains, the slab, the locks); together with ``spec.invariants`` applied to
α(k) they make the full representation invariant that ``violations``
checks.  Each conjunct is written once here, with its name and English
statement, and used by the tests, the proofs, the contracts and docs/.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from impl.abstraction import Unabstractable, abstraction, chain_nodes, rmap_entries
from impl.kernel import Kernel, Page, PageDirect, PG_chainlock, Pte, PteChain, test_flag
from spec.invariants import SPEC_INVARIANTS, Invariant


def _per_page(k: Kernel, check: Callable[[Kernel, Page], list[str]]) -> list[str]:
    """Run a per-page check over mem_map; an unwalkable chain is a violation."""
    bad: list[str] = []
    for page in k.mem_map.values():
        try:
            bad += check(k, page)
        except Unabstractable as why:
            bad.append(str(why))
    return bad


def _direct_flag(k: Kernel, page: Page) -> list[str]:
    word = page.pte.word
    if PageDirect(page) != isinstance(word, Pte):
        flag = "set" if PageDirect(page) else "clear"
        return [f"page {page.pfn}: PG_direct {flag} but the union holds {word!r}"]
    return []


def _chain_well_formed(k: Kernel, page: Page) -> list[str]:
    if PageDirect(page):
        return []
    rmap_entries(k, page)  # raises when a node does not name a pte
    if len(chain_nodes(k, page)) == 1:
        return [f"page {page.pfn}: a chain of one entry (should be direct)"]
    return []


def _no_duplicate_pte(k: Kernel, page: Page) -> list[str]:
    try:
        names = [p.name for p in rmap_entries(k, page)]
    except Unabstractable:
        return []  # an unwalkable rmap is rep_chain_well_formed's to report
    return [
        f"page {page.pfn}: {name} is recorded {names.count(name)} times"
        for name in sorted({n for n in names if names.count(n) > 1})
    ]


def _reachable(k: Kernel) -> list[tuple[int, PteChain]]:
    found = []
    for page in k.mem_map.values():
        if not PageDirect(page) and isinstance(page.pte.word, PteChain):
            try:
                found += [(page.pfn, n) for n in chain_nodes(k, page)]
            except Unabstractable:
                continue
    return found


def _chains_disjoint(k: Kernel) -> list[str]:
    seen: dict[int, int] = {}
    bad = []
    for pfn, node in _reachable(k):
        if id(node) in seen:
            bad.append(f"a pte_chain node is on page {seen[id(node)]} and on page {pfn}")
        seen[id(node)] = pfn
    return bad


def _slab_accounted(k: Kernel) -> list[str]:
    live = k.pte_chain_cache.live if k.pte_chain_cache else []
    reachable = [n for _, n in _reachable(k)]
    leaked = sum(1 for o in live if not any(o is n for n in reachable))
    freed = sum(1 for n in reachable if not any(o is n for o in live))
    bad = []
    if leaked:
        bad.append(f"{leaked} live pte_chain object(s) on no page's chain (leaked)")
    if freed:
        bad.append(f"{freed} chain node(s) already freed to the slab (use after free)")
    return bad


def _unlocked(k: Kernel) -> list[str]:
    bad = [f"page {p.pfn}: PG_chainlock held" for p in k.mem_map.values() if test_flag(p, PG_chainlock)]
    bad += [
        f"mm {mm.name}: page_table_lock held by {mm.page_table_lock.holder}"
        for mm in k.mms.values()
        if mm.page_table_lock.holder == k.cpu
    ]
    if k.pagemap_lru_lock.holder == k.cpu:
        bad.append(f"pagemap_lru_lock held by {k.cpu}")
    return bad


REP_INVARIANTS: tuple[Invariant[Kernel], ...] = (
    Invariant(
        "rep_direct_flag",
        "PG_direct is set exactly when the pte union holds a direct pte pointer; "
        "otherwise it holds NULL or the head of a pte_chain.",
        "structure",
        "every reader of page->pte tests PageDirect first [rmap.c:64,115,157,283]",
        lambda k: _per_page(k, _direct_flag),
    ),
    Invariant(
        "rep_chain_well_formed",
        "A chain is finite, made of pte_chain nodes that each name a pte, and has at "
        "least two entries (one entry is stored direct).",
        "structure",
        "page_remove_rmap reads pc->next of the chain's head after a removal [rmap.c:169]",
        lambda k: _per_page(k, _chain_well_formed),
    ),
    Invariant(
        "rep_no_duplicate_pte",
        "No pte is recorded twice in one page's reverse map.",
        "structure",
        "DEBUG_RMAP in page_add_rmap [rmap.c:100]; page_remove_rmap removes one entry",
        lambda k: _per_page(k, _no_duplicate_pte),
    ),
    Invariant(
        "rep_chains_disjoint",
        "No pte_chain node is on two pages' chains.",
        "structure",
        "pte_chain_free [rmap.c:335] unlinks from one chain only",
        _chains_disjoint,
    ),
    Invariant(
        "count_pte_chain_objects",
        "The live objects of pte_chain_cache are exactly the nodes on the pages' chains: "
        "none leaked, none freed while still linked.",
        "count",
        "pte_chain_alloc [rmap.c:352] and pte_chain_free [rmap.c:335]",
        _slab_accounted,
    ),
    Invariant(
        "rep_locks_released",
        "Between kernel paths no pte_chain_lock is held, and this CPU holds no "
        "page_table_lock and not the pagemap_lru_lock.",
        "structure",
        "pte_chain_lock nests inside page_table_lock on the fault path and outside it on "
        "reclaim (the seed's locking comment)",
        _unlocked,
    ),
)


def violations(k: Kernel) -> dict[str, list[str]]:
    """Every conjunct of the representation invariant that fails, by name.

    The structural conjuncts are checked on ``k``; the spec invariants on
    α(k).  When α is undefined every spec conjunct reports why.
    """
    out = {inv.name: msgs for inv in REP_INVARIANTS if (msgs := inv.check(k))}
    try:
        s = abstraction(k)
    except Unabstractable as why:
        out.update({inv.name: [f"no abstraction: {why}"] for inv in SPEC_INVARIANTS})
        return out
    out.update({inv.name: msgs for inv in SPEC_INVARIANTS if (msgs := inv.check(s))})
    return out


ALL_INVARIANTS: tuple[Invariant[Any], ...] = (
    *REP_INVARIANTS,
    *SPEC_INVARIANTS,
)
