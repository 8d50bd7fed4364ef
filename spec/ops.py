"""The abstract operations: what each rmap function and caller path means.

Each operation is a pure function of an ``AbsState`` (and the environment's
choices: whether an allocation fails, each pte's unmap outcome) with its
precondition as a named predicate ``pre_*``.  Where the concrete result may
depend on chain order, an operation returns every allowed answer; where the
kernel is free to stop early, the spec is a predicate (``unmap_allows``)
with the allowed steps enumerable (``unmap_steps``).

Each answer a caller branches on means what that caller does with it needs:
try_to_unmap's in shrink_cache (``unmap_allows``), page_referenced's count
in the activate decision (``referenced``), page_add_rmap's failure in the
fault path (``rmap_add``, ``map_pte``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from itertools import combinations

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

    The caller, the fault path (``map_pte``), branches on the failure: on
    ``nomem`` it undoes its own part (the pte, the rss, the page
    reference) and the fault answers out of memory, which is sound only
    because nothing of the reverse map changed; on ``ok`` it relies on the
    entry being recorded (try_to_unmap must find it).  The spec says both,
    and allows the failure only when a node is really needed, so it says
    enough: 2.5.31's page_add_rmap cannot fail and oopses instead (finding
    F3); ``fixed`` and 2.5.32 answer -ENOMEM as specified.
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
    page, clearing each as it is counted.

    shrink_cache uses the count only as a boolean: non-zero activates the
    page, zero goes on to unmap it.  What it relies on is that the count is
    non-zero exactly when the page or some mapping was referenced, and that
    every bit it counted is cleared (else the next pass would count it
    again and the page would never age).  The spec states the exact count,
    which implies both and is what every variant computes (the function is
    the seed's in all of them), so it says enough; an implementation that
    answered another positive number would be refuted here without harm to
    the caller, which is the only place the spec is stronger than needed.
    """
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


# What each answer of try_to_unmap makes shrink_cache do, and so what it must
# mean (CONTEXT.md; mm/vmscan.c of 2.5.31):
#
# - SWAP_SUCCESS: the page is freed.  It must hold only when no mapping stays:
#   a page freed while a pte still maps it is memory corruption.
# - SWAP_AGAIN: the page stays on the inactive list and is tried again.  It is
#   a promise that retrying can succeed: every mapping that stayed, stayed for
#   a reason that passes (page_table_lock busy).
# - SWAP_FAIL, SWAP_ERROR: the page is activated and not tried again soon.
#   They must mean that some mapping can never be unmapped as things stand
#   (outside every vma, VM_LOCKED): answering AGAIN then sends shrink_cache
#   round the inactive list with a page it can never free (finding F6);
#   answering FAIL when only AGAIN stayed activates a page reclaim could have
#   freed on the next pass.
#
# What shrink_cache does NOT look at once the answer is FAIL or ERROR: which
# of the other mappings went.  It activates the page either way, and the
# mappings that stayed are still in the reverse map (the state invariants say
# so), so the kernel may stop at the first such mapping and leave the rest
# untried: 2.5.32 does, in chain order; the spec allows every order, so then
# any subset of the SWAP_SUCCESS mappings may stay mapped.
CANNOT_SUCCEED = frozenset({SWAP_FAIL, SWAP_ERROR})


def implementation_chooses(answer: int) -> bool:
    """Whether, once try_to_unmap answers ``answer``, which SWAP_SUCCESS
    mappings went is the implementation's choice and not the environment's:
    exactly when the answer is FAIL or ERROR (above: shrink_cache does not
    look).  A correct implementation need take only one of those steps
    (``fixed`` the full walk, 2.5.32 the chain-order prefix); every other
    step the spec allows it must be able to take (proofs.realizability)."""
    return answer in CANNOT_SUCCEED


def unmapped(s: AbsState, pfn: int, gone: frozenset[str]) -> AbsState:
    """The state after try_to_unmap unmapped exactly the mappings ``gone``.

    Each goes as try_to_unmap_one unmaps it: its pte is cleared (or holds
    the swap-cache entry, one more swap reference), its dirty bit moves to
    the page, its mm loses one rss, the page one reference, and the reverse
    map the entry.
    """
    page = s.pages[pfn]
    ptes, rss, swap, rmap = s.ptes, s.rss, s.swap, s.rmap[pfn]
    dirty, count, nr = page.dirty, page.count, s.nr_reverse_maps
    for pte in sorted(gone):
        dirty = dirty or ptes[pte].dirty
        if page.swap_entry is not None:
            ptes = ptes.set(pte, PteAbs("swap", page.swap_entry))
            swap = _swap_add(s.with_(swap=swap), page.swap_entry, +1)
        else:
            ptes = ptes.set(pte, PTE_EMPTY)
        mm = s.pte_mm[pte]
        rss = rss.set(mm, rss[mm] - 1)
        count, nr, rmap = count - 1, nr - 1, rmap - {pte}
    return s.with_(
        ptes=ptes,
        rss=rss,
        swap=swap,
        rmap=s.rmap.set(pfn, rmap),
        nr_reverse_maps=nr,
        pages=s.pages.set(pfn, replace(page, dirty=dirty, count=count)),
    )


def unmap_may_leave(s: AbsState, pfn: int, outcomes: Mapping[str, int], gone: frozenset[str]) -> bool:
    """Whether try_to_unmap may unmap exactly the mappings ``gone``.

    Only a mapping whose outcome is SWAP_SUCCESS can go.  Every one of them
    must go, unless some mapping's outcome is one that can never succeed
    (``CANNOT_SUCCEED``): then the walk may have stopped there, and any of
    the SWAP_SUCCESS mappings may be left untried.
    """
    mapped = s.rmap[pfn]
    succeed = frozenset(p for p in mapped if outcomes[p] == SWAP_SUCCESS)
    gives_up = any(outcomes[p] in CANNOT_SUCCEED for p in mapped)
    return gone <= succeed and (gives_up or gone == succeed)


def unmap_answers(s: AbsState, pfn: int, outcomes: Mapping[str, int], gone: frozenset[str]) -> frozenset[int]:
    """The answers try_to_unmap may give when the mappings ``gone`` went.

    SWAP_SUCCESS exactly when no mapping stays.  Otherwise, when some
    mapping's outcome can never succeed, one of those outcomes (FAIL or
    ERROR, whichever the walk met: shrink_cache treats them alike);
    otherwise every mapping that stayed, stayed for SWAP_AGAIN, and the
    answer is SWAP_AGAIN.
    """
    mapped = s.rmap[pfn]
    if gone == mapped:
        return frozenset({SWAP_SUCCESS})
    final = frozenset(outcomes[p] for p in mapped if outcomes[p] in CANNOT_SUCCEED)
    return final or frozenset({SWAP_AGAIN})


def unmap_allows(s: AbsState, pfn: int, outcomes: Mapping[str, int], answer: int, after: AbsState) -> bool:
    """try_to_unmap's specification: from ``s``, with the environment's
    outcome for each mapping, may it answer ``answer`` and leave ``after``?

    Yes exactly when ``after`` is ``unmapped(s, pfn, gone)`` for a set
    ``gone`` of mappings that ``unmap_may_leave`` allows, and ``answer`` is
    one of ``unmap_answers`` for that set.

    Against the spec before issue 13 ("every SWAP_SUCCESS mapping goes; the
    answer is SWAP_SUCCESS when nothing stays, else any outcome of a
    mapping that stayed") this changes two things, neither a weakening of
    what shrink_cache relies on:

    - Stronger answers: SWAP_AGAIN is no longer allowed when a mapping's
      outcome is SWAP_FAIL or SWAP_ERROR (shrink_cache would keep retrying
      a page it can never free: finding F6), and FAIL or ERROR only when
      such a mapping exists.
    - Fewer unmaps demanded, only when the answer is FAIL or ERROR: then
      any SWAP_SUCCESS mapping may stay.  shrink_cache activates the page
      on that answer whatever else went, frees nothing, and every mapping
      that stays is still in the reverse map with its counts (``after``
      is ``unmapped`` of the set that went, so the state invariants hold
      of it as before).  When the answer is SUCCESS or AGAIN, every
      SWAP_SUCCESS mapping must still go, as before.  This admits the
      kernel's own 2.5.32 fix (stop at the first SWAP_FAIL) as well as the
      ``fixed`` variant's full walk.
    """
    gone = s.rmap[pfn] - after.rmap[pfn] if pfn in after.rmap else frozenset[str]()
    if not unmap_may_leave(s, pfn, outcomes, gone):
        return False
    return answer in unmap_answers(s, pfn, outcomes, gone) and after == unmapped(s, pfn, gone)


def unmap_steps(s: AbsState, pfn: int, outcomes: Mapping[str, int]) -> list[tuple[int, AbsState]]:
    """Every (answer, after) ``unmap_allows``, the full walk's first.

    The sets of mappings that may go are enumerated (every subset of the
    SWAP_SUCCESS mappings when the walk may give up, else all of them), so
    this is for the small worlds of traces and tests.
    """
    mapped = sorted(s.rmap[pfn])
    succeed = [p for p in mapped if outcomes[p] == SWAP_SUCCESS]
    subsets = [frozenset(succeed)]
    for size in range(len(succeed) - 1, -1, -1):
        subsets += [frozenset(c) for c in combinations(succeed, size)]
    steps = []
    for gone in subsets:
        if unmap_may_leave(s, pfn, outcomes, gone):
            after = unmapped(s, pfn, gone)
            steps += [(answer, after) for answer in sorted(unmap_answers(s, pfn, outcomes, gone))]
    return steps


def unmap_one(s: AbsState, pfn: int, pte: str, outcome: int) -> tuple[int, AbsState]:
    """try_to_unmap_one of the mapping ``pte``: answer its outcome and, on
    SWAP_SUCCESS, unmap it as ``unmapped`` does, but leave its entry in the
    reverse map for try_to_unmap to unlink (the walk holds its node); the
    entry is uncounted here, where the mapping ends (finding F2)."""
    if outcome != SWAP_SUCCESS:
        return outcome, s
    return outcome, unmapped(s, pfn, frozenset({pte})).with_(rmap=s.rmap)


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
    an unmapped one is freed.  Answers (disposition, swap result, state),
    one for each step ``unmap_allows``."""
    count, s1 = referenced(s, pfn)
    if count:
        return frozenset({(ACTIVATE, None, s1)})
    if not s1.rmap[pfn]:
        return frozenset({(FREE, None, s1)})
    return frozenset((DISPOSITION[r], r, s2) for r, s2 in unmap_steps(s1, pfn, outcomes))
