"""The worlds the contracts of impl/contracts.py run in, and their generator.

A contract's arguments are the choices of one world, which CrossHair makes
(each within the contract's preconditions); ``scenario`` turns them into a
trace: the ``world`` operation, the ``map`` caller for each mapping, the
environment (another CPU's locks, young bits), then the call under
contract.  The choices are strings and booleans, not integers: CrossHair
enumerates a string over a small alphabet with about one path per value,
where a bounded integer costs it several.

**Mappings** are one letter each, in the order try_to_unmap's walk visits
them (the chain lists the newest first, so the world maps them last to
first): the letter says where the pte sits and what reclaim finds there
(``PLACES``); upper case is a dirty pte.  ``p<i>`` is the i-th letter's pte.
Each pte has an address space of its own, one ``SEGMENT`` a pte, with the
vmas its letter asks for; a ``shared`` world puts mapping i in mm i // 2
(two mms each holding two mappings of the page, or one mm holding two), and
its ptes keep their segments, ordered so that ``b`` stays below the mm's
first vma and ``a`` above its last.

The bounds (``MAX_CHAIN`` and the walks' ``MAX_WALK``, the alphabets, the swap states, which
allocation fails) are stated here once; ``WORLD_BOUNDS`` is what the
contract report and docs/contracts.md print.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from impl.kernel import SWAP_MAP_MAX

# The longest chain a contract builds, by the worlds a run checks
# (``rmap-verify contracts --worlds push|nightly``; docs_src/contracts.md
# says what each costs).  The two walks, try_to_unmap and reclaim, pick a
# letter of CHAIN for every mapping, so each mapping more multiplies their
# worlds by eight (a chain of three is about 3500 paths, a minute of CPU
# each): on every push they stop at MAX_WALK = 2, which still holds every
# finding and every wrong change tests/test_contracts.py names, and their
# chains of three and four run nightly.  Every other contract grows by a
# few worlds a mapping and builds chains up to MAX_CHAIN on every push.
WORLDS = {"push": {"MAX_CHAIN": 3, "MAX_WALK": 2}, "nightly": {"MAX_CHAIN": 4, "MAX_WALK": 4}}

PFN = 1
PAGE_SIZE = 0x1000
SEGMENT = 8 * PAGE_SIZE
SWAP_ENTRY = 7

# Where a mapping's pte sits, by its letter (lower case: clean, upper: dirty).
PLACES = {
    "s": "at vm_start of its vma (unmaps)",
    "e": "at vm_end - PAGE_SIZE of its vma (unmaps)",
    "l": "at vm_start, its mm's page_table_lock held by another CPU (SWAP_AGAIN)",
    "m": "at vm_start of a VM_LOCKED vma (SWAP_FAIL)",
    "h": "in a hole: one vma ends at the pte, the next starts a page above (SWAP_FAIL)",
    "b": "below its mm's first vma (SWAP_FAIL; find_vma answers that vma)",
    "a": "above its mm's last vma (SWAP_FAIL; find_vma answers NULL)",
}
# page_referenced's letters: at vm_start, o old or y young (upper case: dirty).
BITS = "oOyY"
# Every place, clean and dirty: try_to_unmap_one's single mapping.
ANY_PLACE = "".join(c + c.upper() for c in PLACES)
# The chains try_to_unmap walks: every place; at vm_start clean or dirty (a
# dirty bit must reach the page), at vm_end - PAGE_SIZE clean (that edge's
# dirty case is try_to_unmap_one's: the walk never reads an address), and
# every mapping that stays dirty (its bit must stay in the pte).
CHAIN = "sSeLMHBA"

# The page's swap-cache state: not in it; in it, its slot counted once (by
# the swap cache, or the one pte that holds it); in it at SWAP_MAP_MAX,
# where swap_duplicate and swap_free no longer change the count.
SWAP_STATES = ("none", "one", "max")
# A slot a pte holds: counted by that pte alone, or saturated.
SLOTS = ("one", "max")
# Which of the call's GFP_ATOMIC allocations fails: page_add_rmap takes two
# nodes for a page mapped directly (the direct pte's, then the new one), one
# for a chain; a failure past the last it takes is never reached.
ALLOCS = ("none", "1st", "2nd")
# What makes reclaim find the page referenced: nothing, PG_referenced, or
# the young bit of the last mapping the walk visits (every other one old).
REFERENCED = ("none", "page", "pte")

WORLD_BOUNDS: dict[str, Any] = {
    "chain bounds by worlds": WORLDS,
    "places": PLACES,
    "letters": {"CHAIN": CHAIN, "ANY_PLACE": ANY_PLACE, "BITS": BITS},
    "swap states": SWAP_STATES,
    "slots": SLOTS,
    "failing allocation": ALLOCS,
    "referenced": REFERENCED,
    "shared": "mapping i in mm i // 2 instead of mm i",
    "segment": SEGMENT,
}


def pte(i: int) -> str:
    return f"p{i}"


def mm_of(i: int, shared: bool) -> str:
    return f"m{i // 2 if shared else i}"


def _place(letter: str) -> str:
    return "s" if letter.lower() in "oy" else letter.lower()


def _layout(places: Sequence[str]) -> tuple[list[int], list[dict[str, Any]]]:
    """The addresses of one mm's ptes and the vmas that put each where its
    place says: one segment a pte, those below the first vma first and
    those above the last vma last."""
    order = sorted(range(len(places)), key=lambda i: {"b": 0, "a": 2}.get(places[i], 1))
    addresses = [0] * len(places)
    vmas: list[dict[str, Any]] = []
    for slot, i in enumerate(order):
        at = (slot + 1) * SEGMENT + 2 * PAGE_SIZE
        addresses[i] = at
        match places[i]:
            case "s" | "l" | "m" as place:
                vmas.append({"start": at, "end": at + 2 * PAGE_SIZE, "locked": place == "m"})
            case "e":
                vmas.append({"start": at - PAGE_SIZE, "end": at + PAGE_SIZE})
            case "h":
                vmas.append({"start": at - 2 * PAGE_SIZE, "end": at})
                vmas.append({"start": at + PAGE_SIZE, "end": at + 3 * PAGE_SIZE})
            case "b" if slot == len(order) - 1:  # the first vma is a later pte's, if there is one
                vmas.append({"start": at + PAGE_SIZE, "end": at + 3 * PAGE_SIZE})
            case "a" if not vmas:  # the last vma is an earlier pte's, if there is one
                vmas.append({"start": at - 2 * PAGE_SIZE, "end": at})
    return addresses, vmas


def scenario(
    letters: str,
    *,
    mapped: int | None = None,
    shared: bool = False,
    swap: str = "none",
    held_swap: Sequence[int] = (),
    slot: str = "one",
    page: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The trace that sets up a world: ptes p0.. placed by ``letters``, the
    first ``mapped`` of them (all by default) mapped onto page PFN with the
    dirty bit their case gives, another CPU holding the lock of each ``l``
    mapping's mm, the young bit cleared where a letter says old.

    ``swap``: the page's swap-cache state (SWAP_STATES); ``held_swap``: ptes
    that hold its slot instead of a mapping, the slot counted as ``slot``
    says (SLOTS) when the page is not in the swap cache; ``page``: more
    fields of the page (reserved, dirty, referenced).
    """
    mapped = len(letters) if mapped is None else mapped
    places = [_place(c) for c in letters]
    mms: dict[str, list[int]] = {}
    for i in range(len(letters)):
        mms.setdefault(mm_of(i, shared), []).append(i)
    address: dict[int, int] = {}
    mm_entries = []
    for name, members in mms.items():
        addresses, vmas = _layout([places[i] for i in members])
        address |= dict(zip(members, addresses, strict=True))
        mm_entries.append({"name": name, "vmas": vmas})
    holders = len(held_swap) + (swap != "none")
    saturated = "max" in (swap, slot)
    world_page: dict[str, Any] = {"pfn": PFN, **(page or {})}
    if swap != "none":
        world_page |= {"swapcache": True, "index": SWAP_ENTRY}
    ops: list[dict[str, Any]] = [
        {
            "op": "world",
            "pages": [world_page],
            "mms": mm_entries,
            "ptes": [
                {"name": pte(i), "mm": mm_of(i, shared), "address": address[i]}
                | ({"swap": SWAP_ENTRY} if i in held_swap else {})
                for i in range(len(letters))
            ],
            "swap": {str(SWAP_ENTRY): SWAP_MAP_MAX if saturated else holders} if holders else {},
        }
    ]
    # The walk visits the newest mapping first: map p0 last.
    for i in reversed(range(mapped)):
        ops.append({"op": "map", "pte": pte(i), "pfn": PFN, "dirty": letters[i].isupper()})
    ops += [{"op": "set_pte", "pte": pte(i), "young": False} for i in range(mapped) if letters[i] in "oO"]
    busy = {mm_of(i, shared) for i in range(mapped) if places[i] == "l"}
    ops += [{"op": "lock", "mm": name} for name in sorted(busy)]
    return ops


def all_old(mapped: int) -> list[dict[str, Any]]:
    """Clear the young bit of p0..p<mapped-1> (the fault set it)."""
    return [{"op": "set_pte", "pte": pte(i), "young": False} for i in range(mapped)]


def failing(alloc: str) -> list[dict[str, Any]]:
    """Make the call's allocation that ``alloc`` names fail (ALLOCS)."""
    k = ALLOCS.index(alloc)
    return [{"op": "fail_alloc", "n": 1, "after": k - 1}] if k else []
