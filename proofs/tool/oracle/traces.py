"""Random traces for comparing the port with the C oracle.

One generator for the differential test (Hypothesis draws each choice, so
it shrinks) and for the benchmark (``random.Random``): ``choose(n)`` answers
a number in ``range(n)``.  A world has up to three pages (swap cache,
referenced, dirty, sometimes reserved, one sometimes without backing
store), an I/O page, two mms whose vmas may leave gaps or be mlocked, and
ptes spread over them, some holding swap entries, one swap slot sometimes
one short of SWAP_MAP_MAX.  The operations are the callers (map, zap,
referenced, reclaim) and the environment (another CPU's lock, mlock, vma
changes, page flags, pte young and dirty bits, failing GFP_ATOMIC
allocations); with ``raw`` also the seed's functions called directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from impl.kernel import SWAP_MAP_MAX

Choose = Callable[[int], int]
PAGE = 0x1000
MMS = ("A", "B")
PFNS = (1, 2, 3)
IO_PFN = 50
ENTRIES = (7, 8)
VMA_SHAPES: tuple[list[dict[str, Any]], ...] = (
    [{"start": 0, "end": 16 * PAGE}],
    [{"start": 3 * PAGE, "end": 16 * PAGE}],  # a gap below: find_vma answers a vma above
    [{"start": 0, "end": 2 * PAGE}, {"start": 4 * PAGE, "end": 16 * PAGE}],  # a hole
    [{"start": 0, "end": 16 * PAGE, "locked": True}],
    [],
)


def _pick(choose: Choose, items: tuple[Any, ...] | list[Any]) -> Any:
    return items[choose(len(items))]


def _flag(choose: Choose, one_in: int = 2) -> bool:
    return choose(one_in) == 0


def random_world(choose: Choose, n_ptes: int = 5) -> dict[str, Any]:
    pages: list[dict[str, Any]] = []
    for pfn in PFNS[: 2 + choose(2)]:
        page: dict[str, Any] = {
            "pfn": pfn,
            "count": 1 + choose(2),
            "mapping": None if _flag(choose, 8) else "file",
            "index": _pick(choose, ENTRIES),
            "swapcache": _flag(choose),
            "referenced": _flag(choose, 3),
            "dirty": _flag(choose, 3),
            "reserved": _flag(choose, 10),
        }
        pages.append(page)
    pages.append({"pfn": IO_PFN, "valid": False, "count": 1, "index": ENTRIES[0]})  # a declared slot
    mms = [
        {"name": m, "vmas": VMA_SHAPES[choose(3) if _flag(choose) else choose(len(VMA_SHAPES))]} for m in MMS
    ]
    ptes: list[dict[str, Any]] = []
    held = dict.fromkeys(ENTRIES, 0)
    for i in range(n_ptes):
        pte: dict[str, Any] = {"name": f"p{i}", "mm": MMS[i % 2], "address": (i // 2 + 1) * PAGE}
        if _flag(choose, 4):
            pte["swap"] = entry = _pick(choose, ENTRIES)
            held[entry] += 1
        ptes.append(pte)
    swap = {str(e): (SWAP_MAP_MAX - 1 if _flag(choose, 6) else held[e] + 1 + choose(2)) for e in ENTRIES}
    return {"op": "world", "pages": pages, "mms": mms, "ptes": ptes, "swap": swap}


def random_op(choose: Choose, world: dict[str, Any], *, raw: bool = False) -> dict[str, Any]:
    ptes = [p["name"] for p in world["ptes"]]
    pfns = [p["pfn"] for p in world["pages"]]

    def pte() -> str:
        return str(_pick(choose, ptes))

    def pfn() -> int:
        return int(_pick(choose, pfns))

    makers: list[tuple[int, Callable[[], dict[str, Any]]]] = [
        (8, lambda: {"op": "map", "pte": pte(), "pfn": pfn(), "dirty": _flag(choose, 3)}),
        (4, lambda: {"op": "zap", "pte": pte()}),
        (2, lambda: {"op": "referenced", "pfn": pfn()}),
        (6, lambda: {"op": "reclaim", "pfn": pfn()}),
        # mostly young=False, so that reclaim gets past page_referenced
        (3, lambda: {"op": "set_pte", "pte": pte(), "young": _flag(choose, 4), "dirty": _flag(choose)}),
        (1, lambda: {"op": "lock", "mm": _pick(choose, MMS)}),
        (1, lambda: {"op": "unlock", "mm": _pick(choose, MMS)}),
        (
            1,
            lambda: {
                "op": "mlock",
                "mm": _pick(choose, MMS),
                "address": PAGE * (1 + choose(3)),
                "on": _flag(choose),
            },
        ),
        (1, lambda: {"op": "vmas", "mm": _pick(choose, MMS), "vmas": _pick(choose, VMA_SHAPES)}),
        (2, lambda: _set_page(choose, pfn())),
        (1, lambda: {"op": "fail_alloc", "n": choose(3)}),
    ]
    if raw:
        makers += [
            (1, lambda: {"op": "page_add_rmap", "pfn": pfn(), "pte": pte()}),
            (1, lambda: {"op": "page_remove_rmap", "pfn": pfn(), "pte": pte()}),
            (1, lambda: {"op": "try_to_unmap", "pfn": pfn()}),
            (1, lambda: {"op": "try_to_unmap_one", "pfn": pfn(), "pte": pte()}),
        ]
    total = sum(weight for weight, _ in makers)
    n = choose(total)
    for weight, make in makers:
        if n < weight:
            return make()
        n -= weight
    raise AssertionError("unreachable")


def _set_page(choose: Choose, pfn: int) -> dict[str, Any]:
    op: dict[str, Any] = {"op": "set_page", "pfn": pfn}
    key = _pick(choose, ("swapcache", "referenced", "dirty", "locked", "index", "mapping"))
    if key == "index":
        # Only slots of the swap map: an index outside it crashes the spec
        # check itself (spec.ops.pre_map reads s.swap[entry]) on port and C.
        op["index"] = _pick(choose, ENTRIES)
    elif key == "mapping":
        op["mapping"] = _pick(choose, ("", "file", "anon"))
    else:
        op[key] = _flag(choose)
    return op


def random_trace(choose: Choose, n_ops: int, *, raw: bool = False) -> list[dict[str, Any]]:
    world = random_world(choose)
    return [world, *(random_op(choose, world, raw=raw) for _ in range(n_ops))]
