"""Making a modelled kernel from a world (the trace's ``world`` operation).

A world names its pages (by pfn), its mms with their vmas, its ptes (each
in one mm at one address, empty or holding a swap entry) and its swap
slots.  A page's count is a *base* count, held by someone outside the
model (page cache, swap cache); a swap slot's count includes the ptes the
world makes hold it.  Mappings are then made by running the callers, so
every count stays explained.

``impl.trace_schema`` checks each entry on its own (keys, types, ranges);
``check_world`` checks that the entries fit together, so that no kernel is
built from a world the kernel could not be in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from impl.kernel import (
    VM_LOCKED,
    VMA,
    Kernel,
    KmemCache,
    Page,
    PG_dirty,
    PG_referenced,
    PG_reserved,
    PG_swapcache,
    Pte,
    PteChain,
    _Null,
    set_flag,
    swp_entry_to_pte,
)
from impl.trace_schema import SchemaError, VmaEntry, World, convert


class WorldError(ValueError):
    """The world description is malformed; the message says what is wrong."""


def check_vmas(owner: str, vmas: Sequence[VmaEntry]) -> None:
    """An mm's vmas: each non-empty, sorted by start and disjoint."""
    for i, vma in enumerate(vmas):
        if vma.start >= vma.end:
            raise WorldError(f"{owner}.vmas[{i}]: start {vma.start:#x} is not below end {vma.end:#x}")
        if i and vmas[i - 1].end > vma.start:
            raise WorldError(
                f"{owner}.vmas[{i}]: [{vma.start:#x}, {vma.end:#x}) overlaps or precedes "
                f"vmas[{i - 1}] [{vmas[i - 1].start:#x}, {vmas[i - 1].end:#x}); give them sorted and disjoint"
            )


def swap_cache_problem(pfn: int, index: int, slots: Mapping[int, int]) -> str | None:
    """Why a swap-cache page at ``index`` cannot be, or None: its slot must be declared."""
    if index not in slots:
        return f"page {pfn} is in the swap cache at entry {index}, which is not a declared swap slot"
    return None


def check_world(world: World) -> None:
    """The entries of a schema-valid world fit together; WorldError names the first that does not."""
    pfns = Counter(p.pfn for p in world.pages)
    mms = Counter(m.name for m in world.mms)
    ptes = Counter(t.name for t in world.ptes)
    places = Counter((t.mm, t.address) for t in world.ptes)
    for what, counts in (("page", pfns), ("mm", mms), ("pte", ptes)):
        twice = sorted(str(k) for k, n in counts.items() if n > 1)
        if twice:
            raise WorldError(f"{what} {twice[0]} is given twice")
    for m in world.mms:
        check_vmas(f"mm {m.name}", m.vmas)
    for i, p in enumerate(world.pages):
        problem = swap_cache_problem(p.pfn, p.index, world.swap) if p.swapcache else None
        if problem:
            raise WorldError(f"pages[{i}]: {problem}")
    for i, t in enumerate(world.ptes):
        if t.mm not in mms:
            raise WorldError(f"ptes[{i}]: pte {t.name} is in mm {t.mm}, which is not declared")
        if places[(t.mm, t.address)] > 1:
            raise WorldError(f"ptes[{i}]: two ptes of mm {t.mm} are at address {t.address:#x}")
        if t.swap is not None and t.swap not in world.swap:
            raise WorldError(
                f"ptes[{i}]: pte {t.name} holds swap entry {t.swap}, which is not a declared slot"
            )
    holders = Counter(t.swap for t in world.ptes if t.swap is not None)
    for entry, count in sorted(world.swap.items()):
        if holders[entry] > count:
            raise WorldError(f"swap slot {entry} counts {count} references but {holders[entry]} ptes hold it")


def as_world(desc: Mapping[str, Any] | World) -> World:
    """A world from its description (the ``world`` operation, with or without ``op``), validated."""
    if isinstance(desc, World):
        world = desc
    else:
        try:
            valid = convert({**desc, "op": "world"})
        except SchemaError as why:
            raise WorldError(str(why)) from None
        assert isinstance(valid, World)
        world = valid
    check_world(world)
    return world


def make_vmas(vmas: Sequence[VmaEntry]) -> list[VMA]:
    return [VMA(v.start, v.end, VM_LOCKED if v.locked else 0) for v in vmas]


def build_world(desc: Mapping[str, Any] | World) -> Kernel:
    """A fresh kernel holding the pages, mms, ptes and swap slots of ``desc``."""
    world = as_world(desc)
    k = Kernel()
    for p in world.pages:
        page = Page(p.pfn, count=p.count, mapping=p.mapping, index=p.index)
        for on, bit in (
            (p.reserved, PG_reserved),
            (p.referenced, PG_referenced),
            (p.dirty, PG_dirty),
            (p.swapcache, PG_swapcache),
        ):
            set_flag(page, bit, on)
        (k.mem_map if p.valid else k.io_pages)[p.pfn] = page
        k.base_count[p.pfn] = page.count
    for m in world.mms:
        k.add_mm(m.name, make_vmas(m.vmas))
    for entry, count in world.swap.items():
        k.swap_map[entry] = count
        k.swap_base[entry] = count
    for t in world.ptes:
        pte = Pte(t.name, k.mms[t.mm], t.address)
        if t.swap is not None:
            pte.val = swp_entry_to_pte(t.swap)
            k.swap_base[t.swap] -= 1
        k.ptes[t.name] = pte
    return k


@dataclass
class InjectedCache(KmemCache):
    """The pte_chain cache as a trace drives it: ``fail_alloc`` lets the next
    ``succeed`` allocations through and fails the ``fail_next`` after them,
    so that any one allocation of a call can fail, not only its first
    (``impl.kernel.KmemCache`` alone fails the next ones)."""

    succeed: int = 0

    def alloc(self, gfp: str) -> PteChain | _Null:
        if self.succeed <= 0:
            return super().alloc(gfp)
        self.succeed -= 1
        failing, self.fail_next = self.fail_next, 0
        try:
            return super().alloc(gfp)
        finally:
            self.fail_next = failing


def inject_failures(k: Kernel) -> None:
    """Give ``k`` an InjectedCache in place of the plain one pte_chain_init made
    (none when the variant's pte_chain_init made none)."""
    cache = k.pte_chain_cache
    if cache is not None and not isinstance(cache, InjectedCache):
        k.pte_chain_cache = InjectedCache(cache.name, cache.live, cache.fail_next)


def allocations_let_through(cache: KmemCache) -> int:
    """How many of the next allocations succeed whatever ``fail_next`` says."""
    return cache.succeed if isinstance(cache, InjectedCache) else 0
