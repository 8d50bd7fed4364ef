"""The worlds the interleavings start from: a kernel and the paths that run in it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# ---------------------------------------------------------------- worlds


PathKind = Literal["fault", "zap", "reclaim"]


@dataclass(frozen=True)
class PathSpec:
    """One concurrent kernel path: map ``pte`` to page ``pfn`` (fault),
    zap ``pte`` (munmap/exit) or reclaim page ``pfn`` (shrink_cache, retried
    once after the others finish when it answers SWAP_AGAIN)."""

    kind: PathKind
    pte: str = ""
    pfn: int = 0

    def label(self) -> str:
        if self.kind == "fault":
            return f"fault {self.pte}->page {self.pfn}"
        if self.kind == "zap":
            return f"zap {self.pte}"
        return f"reclaim page {self.pfn}"


@dataclass(frozen=True)
class World:
    """The starting kernel (a trace ``world`` description, then sequential
    maps of ``premapped`` with their young bits cleared so that reclaim
    finds them unreferenced) and the paths that then run concurrently."""

    name: str
    desc: Mapping[str, Any] = field(hash=False, compare=False)
    premapped: tuple[tuple[str, int], ...]
    paths: tuple[PathSpec, ...]

    def sizes(self) -> dict[str, int]:
        return {
            "paths": len(self.paths),
            "mms": len(self.desc["mms"]),
            "ptes": len(self.desc["ptes"]),
            "pages": len(self.desc["pages"]),
        }


PAGE_PFN = 1
SWAP_ENTRY = 7
MM_NAMES = "ABCDEFGH"


def make_world(n_mms: int, n_ptes: int, n_faults: int, n_zaps: int, n_reclaims: int = 1) -> World:
    """One page (in the swap cache, so unmapping leaves swap ptes), ``n_mms``
    mms with one vma each, ptes p0.. spread over the mms in turn.  The last
    ``n_faults`` ptes are mapped by fault paths, the others are mapped
    before the paths start and the last ``n_zaps`` of those are zapped."""
    if n_faults + n_zaps > n_ptes:
        raise ValueError("every fault and zap needs a pte of its own")
    ptes = [f"p{i}" for i in range(n_ptes)]
    premapped = ptes[: n_ptes - n_faults]
    desc = {
        "pages": [{"pfn": PAGE_PFN, "count": 1, "mapping": "file", "swapcache": True, "index": SWAP_ENTRY}],
        "mms": [{"name": MM_NAMES[m], "vmas": [{"start": 0, "end": 0x10000}]} for m in range(n_mms)],
        "ptes": [
            {"name": p, "mm": MM_NAMES[i % n_mms], "address": (i + 1) * 0x1000} for i, p in enumerate(ptes)
        ],
        "swap": {str(SWAP_ENTRY): 1},
    }
    paths = [PathSpec("fault", p, PAGE_PFN) for p in ptes[n_ptes - n_faults :]]
    paths += [PathSpec("zap", p) for p in premapped[len(premapped) - n_zaps :]]
    paths += [PathSpec("reclaim", pfn=PAGE_PFN)] * n_reclaims
    kinds = f"{n_faults} fault, {n_zaps} zap, {n_reclaims} reclaim"
    name = f"{len(paths)} paths ({kinds}), {n_mms} mms, {n_ptes} ptes"
    return World(name, desc, tuple((p, PAGE_PFN) for p in premapped), tuple(paths))


def sequential_trace(world: World, schedule: tuple[int, ...]) -> list[dict[str, Any]]:
    """The trace operations (impl.trace.OPS) that replay a sequential
    ``schedule``: the world, its premapped ptes made old, then each path
    whole, in the order the schedule runs them."""
    ops: list[dict[str, Any]] = [{"op": "world", **world.desc}]
    for pte, pfn in world.premapped:
        ops += [{"op": "map", "pte": pte, "pfn": pfn}, {"op": "set_pte", "pte": pte, "young": False}]
    for n, index in enumerate(schedule):
        if n and schedule[n - 1] == index:
            continue
        spec = world.paths[index]
        if spec.kind == "fault":
            ops.append({"op": "map", "pte": spec.pte, "pfn": spec.pfn})
        elif spec.kind == "zap":
            ops.append({"op": "zap", "pte": spec.pte})
        else:
            ops.append({"op": "reclaim", "pfn": spec.pfn})
    return ops
