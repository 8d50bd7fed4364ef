"""The invariants of the abstract state, each written once with its name.

An ``Invariant`` carries its English statement, where the kernel relies on
it, and a check that lists every violation it finds (empty: it holds).  The
same objects serve the tests, the proofs, the contracts and docs/; the
concrete (representation) invariants in ``impl.invariants`` use the class
too.  The count equalities are stated here exactly:

- rss:  rss[mm] = #{pte of mm : pte maps a normal page}
- refs: count[page] = base[page] + #{pte : pte maps page}, normal pages
- swap: swap[e] = swap_base[e] + #{pte : pte holds e}, unless saturated
- nr_reverse_maps = sum over pages of |rmap[page]|

A page is *normal* when its pfn is valid and it is not PG_reserved;
reserved and invalid pages are exempt from rss, refs and the rmap (their
callers take no reference and page_add_rmap ignores them).  A swap slot at
SWAP_MAP_MAX is exempt: 2.5 never lowers a saturated count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from spec.ops import SWAP_MAP_MAX
from spec.state import AbsState

S = TypeVar("S")
Kind = Literal["structure", "coupling", "count"]


@dataclass(frozen=True)
class Invariant(Generic[S]):
    """One named invariant: statement, kernel reliance, executable check."""

    name: str
    text: str
    kind: Kind
    relies: str  # where the kernel depends on it (seed lines, callers)
    check: Callable[[S], list[str]]

    def holds(self, state: S) -> bool:
        return not self.check(state)


def _maps(s: AbsState) -> list[tuple[str, int]]:
    """(pte, pfn) for every pte holding a present mapping of a normal page."""
    return [
        (pte, val.target)
        for pte, val in s.ptes.items()
        if val.kind == "page" and val.target in s.pages and s.pages[val.target].normal
    ]


def _rmap_sound(s: AbsState) -> list[str]:
    bad = []
    for pfn, ptes in s.rmap.items():
        for pte in sorted(ptes):
            if not s.pages[pfn].normal:
                bad.append(f"page {pfn} is not reverse-mapped but records {pte}")
            elif s.mapped_pfn(pte) != pfn:
                bad.append(f"page {pfn} records {pte}, which maps {s.ptes[pte]}")
    return bad


def _rmap_complete(s: AbsState) -> list[str]:
    return [
        f"{pte} maps page {pfn} but page {pfn}'s reverse map lacks it"
        for pte, pfn in _maps(s)
        if pte not in s.rmap[pfn]
    ]


def _count_rss(s: AbsState) -> list[str]:
    bad = []
    for mm, rss in s.rss.items():
        want = sum(1 for pte, _ in _maps(s) if s.pte_mm[pte] == mm)
        if rss != want:
            bad.append(f"mm {mm}: rss {rss}, but it maps {want} pages")
    return bad


def _count_page_refs(s: AbsState) -> list[str]:
    bad = []
    maps = _maps(s)
    for pfn, page in s.pages.items():
        if not page.normal:
            continue
        want = page.base + sum(1 for _, p in maps if p == pfn)
        if page.count != want:
            bad.append(f"page {pfn}: count {page.count}, expected {want} ({page.base} base)")
    return bad


def _count_swap(s: AbsState) -> list[str]:
    bad = []
    for entry, count in s.swap.items():
        held = sum(1 for _, v in s.ptes.items() if v.kind == "swap" and v.target == entry)
        want = s.swap_base[entry] + held
        if count != want and count < SWAP_MAP_MAX:
            bad.append(f"swap entry {entry}: count {count}, expected {want}")
    return bad


def _count_nr_reverse_maps(s: AbsState) -> list[str]:
    total = sum(len(ptes) for _, ptes in s.rmap.items())
    if s.nr_reverse_maps != total:
        return [f"nr_reverse_maps is {s.nr_reverse_maps}, but the reverse maps hold {total}"]
    return []


SPEC_INVARIANTS: tuple[Invariant[AbsState], ...] = (
    Invariant(
        "spec_rmap_sound",
        "Every pte a page's reverse map records holds a present mapping of "
        "that page, and only normal pages record any.",
        "coupling",
        "try_to_unmap_one [rmap.c:211] clears what the chain names; "
        "page_referenced [rmap.c:60] tests its young bits",
        _rmap_sound,
    ),
    Invariant(
        "spec_rmap_complete",
        "Every pte holding a present mapping of a normal page is recorded in that page's reverse map.",
        "coupling",
        "shrink_cache frees a page whose pte.chain is NULL; try_to_unmap "
        "[rmap.c:271] must reach every mapping",
        _rmap_complete,
    ),
    Invariant(
        "count_rss",
        "Each mm's rss equals the number of its ptes that map a normal page.",
        "count",
        "map (rss++), zap (rss lowered in bulk), try_to_unmap_one mm->rss-- [rmap.c:251]",
        _count_rss,
    ),
    Invariant(
        "count_page_refs",
        "Each normal page's count equals its base references plus one per pte that maps it.",
        "count",
        "map (get_page), zap and try_to_unmap_one page_cache_release [rmap.c:252]",
        _count_page_refs,
    ),
    Invariant(
        "count_swap",
        "Each swap slot's count equals its base references plus one per pte "
        "holding it, unless the count is saturated at SWAP_MAP_MAX.",
        "count",
        "try_to_unmap_one swap_duplicate [rmap.c:245]; do_swap_page and zap swap_free",
        _count_swap,
    ),
    Invariant(
        "count_nr_reverse_maps",
        "page_state.nr_reverse_maps equals the number of entries in all reverse maps.",
        "count",
        "page_add_rmap inc [rmap.c:136], page_remove_rmap dec [rmap.c:192]",
        _count_nr_reverse_maps,
    ),
)
