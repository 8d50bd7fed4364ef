"""The abstraction function α: concrete kernel state -> ``spec.AbsState``.

α forgets how the reverse map is stored (direct pointer or chain, chain
order, the pte_chain nodes, the locks, the slab) and keeps what it means:
the set of ptes each page's reverse map records, what each pte holds, and
the counters.  It is defined only where the chains can be walked; a state
whose chain is cyclic or holds a wrong pointer has no abstraction and
``Unabstractable`` says why.
"""

from __future__ import annotations

from impl.kernel import (
    SWAP_AGAIN,
    SWAP_FAIL,
    SWAP_SUCCESS,
    VM_LOCKED,
    Kernel,
    Page,
    PageDirect,
    PageDirty,
    PageReserved,
    PageSwapCache,
    PG_referenced,
    Pte,
    PteChain,
    test_flag,
)
from impl.world import allocations_let_through
from spec.state import AbsState, FMap, PageAbs, PteAbs


class Unabstractable(Exception):
    """The concrete state has no abstraction (its chain cannot be walked)."""


def chain_nodes(k: Kernel, page: Page) -> list[PteChain]:
    """The pte_chain nodes of a non-direct page, head first."""
    nodes: list[PteChain] = []
    pc: object = page.pte.word
    while pc:
        if not isinstance(pc, PteChain):
            raise Unabstractable(f"page {page.pfn}: chain holds {pc!r}, not a pte_chain node")
        if any(n is pc for n in nodes):
            raise Unabstractable(f"page {page.pfn}: chain is cyclic")
        if len(nodes) > len(k.ptes) + (len(k.pte_chain_cache.live) if k.pte_chain_cache else 0):
            raise Unabstractable(f"page {page.pfn}: chain longer than the world")
        nodes.append(pc)
        pc = pc.next
    return nodes


def rmap_entries(k: Kernel, page: Page) -> list[Pte]:
    """The ptes page's reverse map records, in chain order."""
    if PageDirect(page):
        direct = page.pte.word
        if not isinstance(direct, Pte):
            raise Unabstractable(f"page {page.pfn}: PG_direct set but pte.direct is {direct!r}")
        return [direct]
    entries = []
    for node in chain_nodes(k, page):
        if not isinstance(node.ptep, Pte):
            raise Unabstractable(f"page {page.pfn}: a chain node holds {node.ptep!r}")
        entries.append(node.ptep)
    return entries


def is_normal(k: Kernel, page: Page) -> bool:
    """Reverse-mapped: a valid pfn and not PG_reserved."""
    return k.pfn_valid(page.pfn) and not PageReserved(page)


def _pte_abs(pte: Pte) -> PteAbs:
    val = pte.val
    if val.present:
        return PteAbs("page", val.pfn, val.young, val.dirty)
    if val.swap is not None:
        return PteAbs("swap", val.swap)
    return PteAbs()


def abstraction(k: Kernel) -> AbsState:
    """α(k): the abstract state the concrete kernel state ``k`` represents."""
    pages = {
        pfn: PageAbs(
            normal=is_normal(k, page),
            count=page.count,
            base=k.base_count.get(pfn, 0),
            referenced=test_flag(page, PG_referenced),
            dirty=PageDirty(page),
            swap_entry=page.index if PageSwapCache(page) else None,
        )
        for pfn, page in k.mem_map.items()
    }
    rmap = {pfn: frozenset(p.name for p in rmap_entries(k, page)) for pfn, page in k.mem_map.items()}
    return AbsState(
        ptes=FMap.of({name: _pte_abs(p) for name, p in k.ptes.items()}),
        pte_mm=FMap.of({name: p.mm.name for name, p in k.ptes.items()}),
        pages=FMap.of(pages),
        rmap=FMap.of(rmap),
        rss=FMap.of({name: mm.rss for name, mm in k.mms.items()}),
        swap=FMap.of(dict(k.swap_map)),
        swap_base=FMap.of(dict(k.swap_base)),
        nr_reverse_maps=k.page_state.nr_reverse_maps,
    )


# The environment's choices, read off the concrete state in the terms the
# spec's operations take them.


def env_unmap_outcome(k: Kernel, pte: Pte) -> int:
    """What unmapping ``pte`` should answer: SWAP_AGAIN when another CPU
    holds its mm's page_table_lock, SWAP_FAIL when no vma contains its
    address or that vma is VM_LOCKED, SWAP_SUCCESS otherwise."""
    if pte.mm.page_table_lock.holder is not None:
        return SWAP_AGAIN
    vma = next((v for v in pte.mm.vmas if v.vm_start <= pte.address < v.vm_end), None)
    if vma is None or vma.vm_flags & VM_LOCKED:
        return SWAP_FAIL
    return SWAP_SUCCESS


def env_unmap_outcomes(k: Kernel) -> dict[str, int]:
    """env_unmap_outcome of every pte of the world, by name."""
    return {name: env_unmap_outcome(k, pte) for name, pte in k.ptes.items()}


def env_alloc_fails(k: Kernel, page: Page | None = None) -> bool:
    """Whether GFP_ATOMIC fails one of the allocations that recording one more
    mapping of ``page`` makes: two when the page is mapped directly (its
    direct pte becomes a chain node first), else one; with no page, whether
    the next allocation fails."""
    cache = k.pte_chain_cache
    if cache is None or cache.fail_next <= 0:
        return False
    needed = 2 if page is not None and PageDirect(page) else 1
    return allocations_let_through(cache) < needed
