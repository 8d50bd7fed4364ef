"""The abstract operations: what each rmap function and caller path means.

Each operation is a pure function of an ``AbsState`` (and the environment's
choices: whether an allocation fails, each pte's unmap outcome) with its
precondition as a named predicate ``pre_*``.  Where the concrete result may
depend on chain order, an operation returns every allowed answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from spec.state import PTE_EMPTY, AbsState, FMap, PageAbs, PteAbs

# Values of include/linux/swap.h; impl/ must agree (a test checks it).
SWAP_SUCCESS, SWAP_AGAIN, SWAP_FAIL, SWAP_ERROR = 0, 1, 2, 3
SWAP_MAP_MAX = 0x7FFF

# What shrink_cache does with the page after asking the rmap.
ACTIVATE, KEEP, FREE = "activate", "keep_inactive", "free"
DISPOSITION = {SWAP_SUCCESS: FREE, SWAP_AGAIN: KEEP, SWAP_FAIL: ACTIVATE, SWAP_ERROR: ACTIVATE}


def _page(s: AbsState, pfn: int) -> PageAbs | None:
    return s.pages[pfn] if pfn in s.pages else None


def _is_normal(s: AbsState, pfn: int) -> bool:
    page = _page(s, pfn)
    return page is not None and page.normal


def _swap_add(s: AbsState, entry: int, delta: int) -> FMap[int, int]:
    """swap_duplicate / swap_free: a saturated slot keeps its count."""
    count = s.swap[entry]
    if count >= SWAP_MAP_MAX:
        return s.swap
    return s.swap.set(entry, min(count + delta, SWAP_MAP_MAX))


# ------------------------------------------------------------ rmap functions


def pre_rmap_add(s: AbsState, pfn: int, pte: str) -> bool:
    """page_add_rmap: the pte already holds a present mapping of the page,
    and no reverse map records it yet."""
    return s.mapped_pfn(pte) == pfn and all(pte not in ptes for _, ptes in s.rmap.items())


def rmap_add(s: AbsState, pfn: int, pte: str, alloc_fails: bool) -> tuple[str, AbsState]:
    """Record ``pte`` in page ``pfn``'s reverse map.

    Reserved and invalid pages are not reverse-mapped.  A page that already
    has a mapping needs a pte_chain node; when GFP_ATOMIC fails to give one
    the operation answers ``nomem`` and changes nothing.
    """
    if not _is_normal(s, pfn):
        return "ignored", s
    if alloc_fails and s.rmap[pfn]:
        return "nomem", s
    return "ok", s.with_(rmap=s.rmap.set(pfn, s.rmap[pfn] | {pte}), nr_reverse_maps=s.nr_reverse_maps + 1)


def rmap_remove(s: AbsState, pfn: int, pte: str) -> AbsState:
    """Forget ``pte`` in page ``pfn``'s reverse map; no change if absent.

    The kernel calls this after the pte may already be cleared (zap), so it
    does not look at what the pte holds.  An absent entry is a caller's
    mistake the seed itself anticipates ("driver cleared PG_reserved?"):
    the reverse map and its counter must stay as they are.
    """
    if not _is_normal(s, pfn) or pte not in s.rmap[pfn]:
        return s
    return s.with_(rmap=s.rmap.set(pfn, s.rmap[pfn] - {pte}), nr_reverse_maps=s.nr_reverse_maps - 1)


def referenced(s: AbsState, pfn: int) -> tuple[int, AbsState]:
    """page_referenced: count PG_referenced and every young mapping of the
    page, clearing each as it is counted."""
    page = s.pages[pfn]
    mapped = s.rmap[pfn] if page.normal else frozenset()
    young = sorted(p for p in mapped if s.ptes[p].young)
    ptes = s.ptes
    for p in young:
        ptes = ptes.set(p, replace(ptes[p], young=False))
    count = int(page.referenced) + len(young)
    return count, s.with_(ptes=ptes, pages=s.pages.set(pfn, replace(page, referenced=False)))


def pre_unmap(s: AbsState, pfn: int) -> bool:
    """try_to_unmap: a reverse-mapped page whose swap-cache entry, if any,
    is in use."""
    page = _page(s, pfn)
    if page is None or not page.normal:
        return False
    entry = page.swap_entry
    return entry is None or (entry in s.swap and s.swap[entry] > 0)


def unmap(s: AbsState, pfn: int, outcomes: Mapping[str, int]) -> tuple[frozenset[int], AbsState]:
    """try_to_unmap with the environment's outcome for each mapping.

    Every mapping whose outcome is SWAP_SUCCESS goes: its pte is cleared
    (or holds the swap-cache entry, one more swap reference), its dirty bit
    moves to the page, its mm loses one rss, the page one reference, and the
    reverse map the entry.  Mappings that answer SWAP_AGAIN (page_table_lock
    busy) or SWAP_FAIL (in no vma, or in a VM_LOCKED one) stay.  The answer
    is SWAP_SUCCESS when nothing stays; otherwise any outcome of a mapping
    that stayed (the kernel keeps the last in chain order, and the spec
    allows every order).
    """
    page = s.pages[pfn]
    ptes, rss, swap, rmap = s.ptes, s.rss, s.swap, s.rmap[pfn]
    dirty, count, nr = page.dirty, page.count, s.nr_reverse_maps
    stayed: set[int] = set()
    for pte in sorted(s.rmap[pfn]):
        outcome = outcomes[pte]
        if outcome != SWAP_SUCCESS:
            stayed.add(outcome)
            continue
        dirty = dirty or ptes[pte].dirty
        if page.swap_entry is not None:
            ptes = ptes.set(pte, PteAbs("swap", page.swap_entry))
            swap = _swap_add(s.with_(swap=swap), page.swap_entry, +1)
        else:
            ptes = ptes.set(pte, PTE_EMPTY)
        mm = s.pte_mm[pte]
        rss = rss.set(mm, rss[mm] - 1)
        count, nr, rmap = count - 1, nr - 1, rmap - {pte}
    after = s.with_(
        ptes=ptes,
        rss=rss,
        swap=swap,
        rmap=s.rmap.set(pfn, rmap),
        nr_reverse_maps=nr,
        pages=s.pages.set(pfn, replace(page, dirty=dirty, count=count)),
    )
    return frozenset(stayed or {SWAP_SUCCESS}), after


# ------------------------------------------------------------ caller paths


def pre_map(s: AbsState, pte: str, pfn: int) -> bool:
    """map (fault, fork): the pte holds no present mapping, and a swap
    entry it holds is in use."""
    val = s.ptes[pte]
    if val.kind == "page":
        return False
    return val.kind != "swap" or s.swap[val.target] > 0


def map_pte(s: AbsState, pte: str, pfn: int, alloc_fails: bool, dirty: bool = False) -> tuple[str, AbsState]:
    """Map page ``pfn`` at ``pte``: one page reference, one rss, one rmap
    entry (a reserved page gets only the pte).  A pte that held a swap entry
    gives up its swap reference.  When the rmap cannot get a pte_chain node
    the fault fails with ``oom`` and nothing changes."""
    page = _page(s, pfn)
    if page is not None and page.normal and alloc_fails and s.rmap[pfn]:
        return "oom", s
    old = s.ptes[pte]
    s = s.with_(ptes=s.ptes.set(pte, PteAbs("page", pfn, young=True, dirty=dirty)))
    if old.kind == "swap":
        s = s.with_(swap=_swap_add(s, old.target, -1))
    if page is None or not page.normal:
        return "mapped", s
    mm = s.pte_mm[pte]
    s = s.with_(
        rss=s.rss.set(mm, s.rss[mm] + 1),
        pages=s.pages.set(pfn, replace(page, count=page.count + 1)),
    )
    return "mapped", rmap_add(s, pfn, pte, alloc_fails=False)[1]


def pre_zap(s: AbsState, pte: str) -> bool:
    """zap (munmap, exit): the pte holds a mapping or a swap entry."""
    return s.ptes[pte].kind != "none"


def zap_pte(s: AbsState, pte: str) -> AbsState:
    """Unmap ``pte``: a present page loses its rmap entry, one reference and
    one rss (and gains the pte's dirty bit); a swap entry loses one swap
    reference.  The pte ends empty."""
    old = s.ptes[pte]
    s = s.with_(ptes=s.ptes.set(pte, PTE_EMPTY))
    if old.kind == "swap":
        return s.with_(swap=_swap_add(s, old.target, -1))
    if not _is_normal(s, old.target):
        return s
    pfn, mm = old.target, s.pte_mm[pte]
    s = rmap_remove(s, pfn, pte)
    page = s.pages[pfn]
    return s.with_(
        rss=s.rss.set(mm, s.rss[mm] - 1),
        pages=s.pages.set(pfn, replace(page, count=page.count - 1, dirty=page.dirty or old.dirty)),
    )


def reclaim(
    s: AbsState, pfn: int, outcomes: Mapping[str, int]
) -> frozenset[tuple[str, int | None, AbsState]]:
    """shrink_cache on one page: a referenced page goes back to the active
    list; a mapped one is unmapped and placed by try_to_unmap's answer
    (SUCCESS: free it; AGAIN: keep it inactive; FAIL, ERROR: activate it);
    an unmapped one is freed.  Answers (disposition, swap result, state)."""
    count, s1 = referenced(s, pfn)
    if count:
        return frozenset({(ACTIVATE, None, s1)})
    if not s1.rmap[pfn]:
        return frozenset({(FREE, None, s1)})
    results, s2 = unmap(s1, pfn, outcomes)
    return frozenset((DISPOSITION[r], r, s2) for r in results)
