"""Tests that kill mutants of impl/ the rest of the suite let survive.

Each pins a behaviour the kernel has and the other tests happened not to
look at; the docstring names the mutant (proofs/tool/mutants ids) it kills.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import PAGE_SIZE, PFN, VMA_END, World

from impl.callers import CallerPrecondition, map_pte, zap_pte
from impl.kernel import SWAP_SUCCESS, VM_LOCKED, Kernel, PteVal
from impl.variants import VARIANTS

Build = Callable[..., World]
VM_READ, VM_WRITE = 0x1, 0x2


def test_map_maps_clean_unless_told_dirty(world: Build) -> None:
    """callers.py:map_pte:ReplaceFalseWithTrue#0 (the dirty default)."""
    w = world(0)
    assert map_pte(w.rmap, w.pte(0), w.page) == "mapped"
    assert not w.pte(0).val.dirty


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_debug_rmap_is_off_unless_asked(name: str) -> None:
    """rmap_seed.py:__init__:ReplaceFalseWithTrue#0: DEBUG_RMAP is not
    defined in a normal build."""
    assert VARIANTS[name](Kernel()).debug_rmap is False


def test_unmap_a_pte_at_the_first_address_of_its_vma(world: Build) -> None:
    """rmap_fixed.py:_vma_holds: vm_start <= address, not <: a vma holds
    its first page."""
    w = world(1)
    w.apply(op="vmas", mm="A", vmas=[{"start": PAGE_SIZE, "end": VMA_END}])  # p0 is at PAGE_SIZE
    assert w.apply(op="try_to_unmap_one", pfn=PFN, pte="p0")["result"] == "SWAP_SUCCESS"


@pytest.mark.parametrize("flags", [VM_READ, VM_READ | VM_WRITE, VM_READ | VM_WRITE | 0x4000])
def test_only_vm_locked_keeps_a_mapping(world: Build, flags: int) -> None:
    """rmap_seed.py:try_to_unmap_one: ``vm_flags & VM_LOCKED``; real vmas
    carry other flags (VM_READ, VM_WRITE, ...) that must not make
    try_to_unmap_one fail (kills &'s replacement by /, //, *, ** and <<)."""
    w = world(1)
    w.k.mms["A"].vmas[0].vm_flags = flags
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) == SWAP_SUCCESS
    w = world(1)
    w.k.mms["A"].vmas[0].vm_flags = flags | VM_LOCKED
    assert w.rmap.try_to_unmap_one(w.page, w.pte(0)) != SWAP_SUCCESS


def test_zap_refuses_a_pte_whose_value_is_none(world: Build) -> None:
    """callers.py:zap_pte: the none test compares the value (pte_none), not
    the identity of one PteVal object."""
    w = world(0)
    w.pte(0).val = PteVal()
    with pytest.raises(CallerPrecondition, match="holds nothing"):
        zap_pte(w.rmap, w.pte(0))


def test_zap_a_swap_entry_when_page_zero_exists(world: Build) -> None:
    """callers.py:zap_pte: only a *present* pte names a page; a swap pte's
    pfn field means nothing, even when page 0 is a valid page."""
    w = world(0, swap={"5": 2}, extra_pages=[{"pfn": 0, "count": 1, "mapping": "file"}])
    w.pte(0).val = PteVal(swap=5)
    w.k.swap_base[5] = 1
    zap_pte(w.rmap, w.pte(0))
    assert w.k.swap_map[5] == 1 and w.k.mem_map[0].count == 1
